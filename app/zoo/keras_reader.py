"""Keras models read as data: a `.keras` file (Keras 3: a zip of ``config.json`` and
``model.weights.h5``) or a Keras 2 full-model `.h5` (a ``model_config`` JSON attribute and
``model_weights/<layer>`` groups). Only JSON and HDF5 float arrays are read, with the standard
library's zipfile and json and with h5py; no Keras object is deserialized and no layer's code
(a Lambda's marshalled function, a custom layer) is ever imported or run.

A model is read if it is a chain of layers (a Sequential, or a Functional model whose layers each
read the one before), in this order:

    [InputLayer] [Embedding] LSTM | GRU | SimpleRNN | Bidirectional(...) ... [Dense]

The recurrent layers are one kind, but their sizes may differ (LSTM(24) -> LSTM(16)): layer l's
weights then have their own H_l, and the stack is traced as one model (`RecurrentStack`).

with Dropout, SpatialDropout1D, GaussianNoise (identities at inference) and Masking anywhere.
Keras keeps its weights transposed from torch's, in its own gate order:

    LSTM  kernel (I, 4H), recurrent_kernel (H, 4H) in i, f, c, o; one bias (4H,)
          -> W_ih = kernelᵀ, W_hh = recurrent_kernelᵀ (i, f, g = c, o: the same order),
             b_ih = bias, b_hh = 0
    GRU   kernel (I, 3H), recurrent_kernel (H, 3H) in z, r, h -> torch's r, z, n; with
          reset_after=True (Keras' default, torch's equations) the bias is (2, 3H), the input and
          the recurrent biases; with reset_after=False (Cho et al. 2014: r acts before U_h) it is
          one input-side bias (3H,) and the model is traced with gru_variant "cho"
    SimpleRNN  kernel (I, H), recurrent_kernel (H, H), bias (H,) -> b_ih = bias, b_hh = 0

Both frameworks' GRUs let z keep the old state: h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from gatescope.zoo.foreign import EMBEDDING, HEAD, ForeignModel, as_tensor, reorder
from gatescope.zoo.keras_files import (
    _H5,
    RECURRENT,
    _json,
    _Keras2Weights,
    _Keras3Weights,
    _name,
    _open_zip,
    _Weights,
)

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
#: Keras' gate blocks -> torch's: LSTM i, f, c, o is already i, f, g, o; GRU z, r, h -> r, z, n.
TO_TORCH = {"lstm": (0, 1, 2, 3), "gru": (1, 0, 2), "rnn": (0,)}
IDENTITIES = {"InputLayer", "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "Masking"}
READ = "InputLayer, Embedding, LSTM, GRU, SimpleRNN, Bidirectional, Dense, Dropout and Masking"
HEAD_KINDS = {"softmax": "classes", "sigmoid": "sigmoids", "linear": "values"}
MASK_NOTE = (
    "{what}: Keras skips masked steps (it carries the state over them); gatescope reads every "
    "step as an ordinary input, so its trace agrees with Keras on inputs without masked steps"
)

EQUATIONS = {
    "lstm": (
        "Keras LSTM (gates i, f, c, o; kernel W (I, 4H), recurrent_kernel U (H, 4H), one bias b):\n"
        "  i = σ(x W_i + h U_i + b_i)    f = σ(x W_f + h U_f + b_f)\n"
        "  c̃ = tanh(x W_c + h U_c + b_c)  o = σ(x W_o + h U_o + b_o)\n"
        "  c_t = f ⊙ c_{t-1} + i ⊙ c̃      h_t = o ⊙ tanh(c_t)\n"
        "torch's names: g = c̃, W_ih = Wᵀ, W_hh = Uᵀ, b_ih = b, b_hh = 0."
    ),
    "gru-torch": (
        "Keras GRU, reset_after=True (gates z, r, h; kernel W (I, 3H), recurrent_kernel U (H, 3H), "
        "bias (2, 3H) = input bias b and recurrent bias b'):\n"
        "  z = σ(x W_z + b_z + h U_z + b'_z)    r = σ(x W_r + b_r + h U_r + b'_r)\n"
        "  h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + b'_h))\n"
        "  h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃\n"
        "torch's names: r, z, n = h̃ (order z, r, h -> r, z, n); the same equations as torch.nn.GRU."
    ),
    "gru-cho": (
        "Keras GRU, reset_after=False (Cho et al. 2014; gates z, r, h; kernel W (I, 3H), "
        "recurrent_kernel U (H, 3H), one bias b):\n"
        "  z = σ(x W_z + h U_z + b_z)    r = σ(x W_r + h U_r + b_r)\n"
        "  h̃ = tanh(x W_h + (r ⊙ h) U_h + b_h)      # r acts before U_h\n"
        "  h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃\n"
        "torch's names: r, z, n = h̃; traced with gru_variant 'cho'."
    ),
    "rnn": (
        "Keras SimpleRNN (kernel W (I, H), recurrent_kernel U (H, H), bias b):\n"
        "  h_t = act(x W + h_{t-1} U + b)\n"
        "torch's names: W_ih = Wᵀ, W_hh = Uᵀ, b_ih = b, b_hh = 0."
    ),
}


GO_BACKWARDS = (
    "go_backwards=True: the layer reads x from t = T-1 down to 0 (h_{t+1} comes before h_t) and "
    "returns its outputs in that reversed order; its final state is the one at t = 0."
)


@dataclass
class _Recurrent:
    """One recurrent layer (both directions of a Bidirectional) as read."""

    name: str
    arch: str
    units: int
    reset_after: bool
    activation: str
    weights: list[list[np.ndarray[Any, Any]]]  # per direction: [kernel, recurrent_kernel(, bias)]
    go_backwards: bool = False  # a one-direction layer that reverses its input (and its output)
    sequences: bool = True  # return_sequences: every step's output, else the last one


def read_keras(data: bytes, filename: str, max_bytes: int, max_config_bytes: int) -> ForeignModel:
    """A `.keras` or Keras 2 `.h5` file as a `ForeignModel`; ValueError naming what is refused."""
    if filename.endswith(".keras"):
        config, weights = _open_zip(data, max_bytes, max_config_bytes)
        store: _Weights = _Keras3Weights(_H5(weights, max_bytes))
    else:
        h5 = _H5(data, max_bytes)
        raw = h5.file.attrs.get("model_config")
        if raw is None:
            raise ValueError(
                "this .h5 holds weights only (no model_config): gatescope needs the model's layers, "
                "saved with model.save('model.keras') (Keras 3) or model.save('model.h5') (Keras 2)"
            )
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if len(text) > max_config_bytes:
            raise ValueError(f"the model_config is larger than {max_config_bytes} bytes")
        config = _json(text)
        store = _Keras2Weights(h5)
    return _read_layers(_chain(config), store)


# ---- the layers ----------------------------------------------------------------------------------


def _snake(class_name: str) -> str:
    """Keras 3's name for a layer's weight group (keras.src.utils.naming.to_snake_case)."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _inbound(layer: dict[str, Any]) -> list[str]:
    """The names of the layers a Functional model's layer reads (Keras 3 and Keras 2 forms)."""
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("keras_history"), list) and node["keras_history"]:
                names.append(str(node["keras_history"][0]))
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            if len(node) >= 3 and isinstance(node[0], str) and isinstance(node[1], int):
                names.append(node[0])  # Keras 2: [layer, node index, tensor index, kwargs]
                return
            for value in node:
                walk(value)

    walk(layer.get("inbound_nodes", []))
    return names


def _chain(config: Any) -> list[dict[str, Any]]:
    """The model's layers in order; ValueError unless it is a chain."""
    if not isinstance(config, dict):
        raise ValueError("the model's config is not a JSON object")
    kind, inner = config.get("class_name"), config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    if kind not in ("Sequential", "Functional", "Model") or not isinstance(layers, list):
        raise ValueError(
            f"the file's model is a {kind!r}: gatescope reads a Sequential or Functional model of layers"
        )
    if not all(isinstance(layer, dict) and isinstance(layer.get("config"), dict) for layer in layers):
        raise ValueError("the model's config lists a layer that is not a JSON object")
    if kind != "Sequential":
        for before, layer in itertools.pairwise(layers):
            inbound = _inbound(layer)
            if inbound != [_name(before)]:
                raise ValueError(
                    f"layer {_name(layer)!r} reads {inbound or 'nothing'}, not just the layer before it "
                    f"({_name(before)!r}): gatescope reads a chain of layers"
                )
    return layers


def _activation(value: Any) -> str:
    if isinstance(value, dict):  # a serialized function: {"class_name": "function", "config": "tanh"}
        value = value.get("config") if isinstance(value.get("config"), str) else value.get("class_name")
    return "linear" if value is None else str(value)


def _check_cell(layer: dict[str, Any], where: str, last: bool, notes: list[str]) -> tuple[str, str]:
    """(arch, activation) of one recurrent layer's config; ValueError naming a refused setting."""
    kind, config = layer["class_name"], layer["config"]
    arch = RECURRENT[kind]
    activation = _activation(config.get("activation", "tanh"))
    allowed = ("tanh", "relu") if arch == "rnn" else ("tanh",)
    if activation not in allowed:
        raise ValueError(
            f"{where} has activation={activation!r}: gatescope computes {' or '.join(allowed)} "
            f"here (torch's {kind if arch == 'rnn' else 'candidate'}), so it is refused"
        )
    if arch != "rnn":
        gate = _activation(config.get("recurrent_activation", "sigmoid"))
        if gate != "sigmoid":
            old = " (old Keras' default, a piecewise-linear sigmoid)" if gate == "hard_sigmoid" else ""
            raise ValueError(
                f"{where} has recurrent_activation={gate!r}{old}: gatescope's gates are torch's "
                "sigmoid, so it is refused"
            )
    if not last and config.get("return_sequences") is False:
        raise ValueError(f"{where} has return_sequences=False but another recurrent layer reads it")
    if config.get("stateful"):
        notes.append(
            f"{where} is stateful: Keras carries its state from batch to batch; a trace starts "
            "from zeros (or the h0 you send), as Keras does after reset_states()"
        )
    return arch, activation


def _recurrent(
    layer: dict[str, Any], arrays: list[np.ndarray[Any, Any]], last: bool, notes: list[str]
) -> _Recurrent:
    name = _name(layer)
    if layer["class_name"] == "Bidirectional":
        config = layer["config"]
        inner = config.get("layer")
        if not isinstance(inner, dict) or inner.get("class_name") not in RECURRENT:
            got = inner.get("class_name") if isinstance(inner, dict) else inner
            raise ValueError(
                f"Bidirectional layer {name!r} wraps a {got!r}; it must wrap LSTM, GRU or SimpleRNN"
            )
        if config.get("merge_mode", "concat") != "concat":
            raise ValueError(
                f"Bidirectional layer {name!r} has merge_mode={config.get('merge_mode')!r}: torch "
                "concatenates the two directions, so only merge_mode='concat' is read"
            )
        backward = config.get("backward_layer")
        if isinstance(backward, dict) and backward.get("class_name") != inner.get("class_name"):
            raise ValueError(f"Bidirectional layer {name!r} has a backward layer of another kind")
        if inner["config"].get("go_backwards"):
            raise ValueError(
                f"Bidirectional layer {name!r} wraps a layer with go_backwards=True: its forward "
                "layer then reads from the end and Keras returns the merged sequence in reversed "
                "order, which gatescope does not map onto torch's directions, so it is refused; "
                "wrap a layer with go_backwards=False (Keras runs its backward copy from the end)"
            )
        arch, activation = _check_cell(inner, f"Bidirectional layer {name!r}", last, notes)
        cell = inner["config"]
        half = len(arrays) // 2
        directions = [arrays[:half], arrays[half:]]
        if last and cell.get("return_sequences") is False:
            notes.append(
                f"{name!r} has return_sequences=False: Keras' Dense reads the forward direction's "
                "last state and the backward direction's state at t = 0; gatescope shows the head "
                "at every step"
            )
    else:
        arch, activation = _check_cell(layer, f"layer {name!r}", last, notes)
        cell = layer["config"]
        directions = [arrays]
    units = int(cell.get("units", 0))
    reset_after = bool(cell.get("reset_after", True))
    if arch == "gru" and cell.get("use_bias", True) and directions[0][2:]:
        reset_after = directions[0][2].ndim == 2  # the bias's shape says it, whatever the config says
    for d, weights in enumerate(directions):
        expected = 3 if cell.get("use_bias", True) else 2
        if len(weights) != expected:
            raise ValueError(
                f"layer {name!r} has {len(weights)} weight arrays per direction, expected {expected}"
            )
        kernel, recurrent_kernel = weights[0], weights[1]
        rows = GATES[arch] * units
        if kernel.ndim != 2 or kernel.shape[1] != rows or recurrent_kernel.shape != (units, rows):
            raise ValueError(
                f"layer {name!r}{' (backward)' * d} has kernel {kernel.shape} and recurrent_kernel "
                f"{recurrent_kernel.shape}; a {arch.upper()} of {units} units needs (I, {rows}) and "
                f"({units}, {rows})"
            )
    go_backwards = layer["class_name"] != "Bidirectional" and bool(cell.get("go_backwards"))
    sequences = cell.get("return_sequences") is not False
    return _Recurrent(name, arch, units, reset_after, activation, directions, go_backwards, sequences)


def _read_layers(layers: list[dict[str, Any]], store: _Weights) -> ForeignModel:
    counts: dict[str, int] = {}
    groups: list[str] = []
    for layer in layers:  # Keras 3 names weight groups by class, numbering repeats: gru, gru_1, ...
        base = _snake(str(layer.get("class_name")))
        groups.append(base if base not in counts else f"{base}_{counts[base] + 1}")
        counts[base] = counts.get(base, -1) + 1
    notes: list[str] = []
    embedding: np.ndarray[Any, Any] | None = None
    head: tuple[list[np.ndarray[Any, Any]], str, str] | None = None
    stack: list[_Recurrent] = []
    kinds = [str(layer.get("class_name")) for layer in layers]
    last_recurrent = max(
        (i for i, k in enumerate(kinds) if k in RECURRENT or k == "Bidirectional"), default=-1
    )
    if last_recurrent < 0:
        raise ValueError(f"no recurrent layer found: the model has {', '.join(kinds) or 'no layers'}")
    for index, (layer, group) in enumerate(zip(layers, groups, strict=True)):
        kind, name, config = kinds[index], _name(layer), layer["config"]
        if kind in IDENTITIES:
            if kind == "Masking":
                notes.append(
                    MASK_NOTE.format(what=f"Masking layer {name!r} (mask_value={config.get('mask_value')})")
                )
            continue
        if kind == "Embedding":
            if stack or embedding is not None:
                raise ValueError(f"Embedding {name!r} comes after another layer; it must come first")
            (embedding,) = _expect(store.arrays(layer, group), 1, name)
            if config.get("mask_zero"):
                notes.append(
                    MASK_NOTE.format(what=f"Embedding {name!r} has mask_zero=True (token 0 is masked)")
                )
        elif kind in RECURRENT or kind == "Bidirectional":
            if head is not None:
                raise ValueError(f"recurrent layer {name!r} comes after the Dense {head[1]!r}")
            stack.append(_recurrent(layer, store.arrays(layer, group), index == last_recurrent, notes))
        elif kind == "Dense":
            if not stack:
                raise ValueError(
                    f"Dense {name!r} comes before the recurrent layers; gatescope reads a head after them"
                )
            if head is not None:
                raise ValueError(
                    f"a second Dense {name!r} after {head[1]!r}: gatescope reads one Dense as the head"
                )
            activation = _activation(config.get("activation"))
            if activation not in HEAD_KINDS:
                raise ValueError(
                    f"Dense {name!r} has activation={activation!r}; the head is read with softmax, "
                    "sigmoid or linear"
                )
            head = (
                _expect(store.arrays(layer, group), 2 if config.get("use_bias", True) else 1, name),
                name,
                activation,
            )
        else:
            why = " (its Python code is never run)" if kind == "Lambda" else ""
            raise ValueError(f"layer {name!r} is a {kind}{why}; gatescope reads only {READ}")
    return _assemble(stack, embedding, head, notes)


def _expect(arrays: list[np.ndarray[Any, Any]], count: int, name: str) -> list[np.ndarray[Any, Any]]:
    if len(arrays) != count:
        raise ValueError(f"layer {name!r} has {len(arrays)} weight arrays, expected {count}")
    return arrays


def _check_stack(stack: list[_Recurrent]) -> None:
    """ValueError unless the engine can trace the stack as one model (one kind, direction count,
    activation and GRU form for every layer; sizes may differ, as a `RecurrentStack`'s)."""
    first = stack[0]
    for what, values in (
        ("kinds", [r.arch.upper() for r in stack]),
        ("directions", [len(r.weights) for r in stack]),
        ("activations", [r.activation for r in stack]),
        ("GRU forms (reset_after)", [r.reset_after for r in stack] if first.arch == "gru" else []),
    ):
        if len(set(values)) > 1:
            raise ValueError(
                f"the recurrent layers differ in {what} ({', '.join(map(str, values))}): gatescope "
                "traces a stack as one model, whose layers share them (their sizes may differ)"
            )
    reads = _reading_directions(stack)
    if len(set(reads)) > 1:
        shown = ", ".join(
            f"{r.name!r} {'right to left' if back else 'left to right'}"
            for r, back in zip(stack, reads, strict=True)
        )
        raise ValueError(
            f"the recurrent layers read the input in different directions ({shown}): Keras reverses "
            "a go_backwards=True layer's input and returns its outputs in that reversed order, so "
            "the layer above reads them from the end again. gatescope traces a stack whose layers "
            "all read one way (go_backwards=True on the first layer only reads it right to left), "
            "so this model is refused"
        )


def _reading_directions(stack: list[_Recurrent]) -> list[bool]:
    """Per layer, whether it reads the model's input right to left. A go_backwards layer flips the
    order of the sequence it reads and returns its outputs in the flipped order (Keras' RNN:
    "process the input sequence backwards and return the reversed sequence"), so a layer reads
    right to left when an odd number of go_backwards layers up to it, itself included, flip."""
    reads, flipped = [], False
    for layer in stack:
        flipped ^= layer.go_backwards
        reads.append(flipped)
    return reads


def _biases(
    weights: list[np.ndarray[Any, Any]], two_biases: bool, order: tuple[int, ...], where: str
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(b_ih, b_hh) in torch's gate order: Keras keeps one input-side bias (b_hh = 0), or with
    GRU reset_after=True a (2, 3H) pair; no bias at all is exact as zeros."""
    rows = weights[1].shape[1]
    zeros = np.zeros(rows, dtype=np.float32)
    if len(weights) < 3:
        return zeros, zeros
    bias = weights[2]
    if two_biases:
        if bias.shape != (2, rows):
            raise ValueError(f"{where}'s bias is {bias.shape}; reset_after=True needs (2, {rows})")
        return reorder(bias[0], order), reorder(bias[1], order)
    if bias.shape != (rows,):
        raise ValueError(f"{where}'s bias is {bias.shape}, expected ({rows},)")
    return reorder(bias, order), zeros


def _assemble(
    stack: list[_Recurrent],
    embedding: np.ndarray[Any, Any] | None,
    head: tuple[list[np.ndarray[Any, Any]], str, str] | None,
    notes: list[str],
) -> ForeignModel:
    """The stack in torch's names, after checking that torch can hold it as one module."""
    first = stack[0]
    _check_stack(stack)
    any_bias = any(len(w) == 3 for r in stack for w in r.weights)
    order = TO_TORCH[first.arch]
    state = {}
    for k, layer in enumerate(stack):
        for d, weights in enumerate(layer.weights):
            suffix = f"_l{k}" + ("_reverse" if d else "")
            where = f"layer {layer.name!r}"
            state[f"weight_ih{suffix}"] = as_tensor(reorder(weights[0].T, order), where)
            state[f"weight_hh{suffix}"] = as_tensor(reorder(weights[1].T, order), where)
            b_ih, b_hh = _biases(weights, first.arch == "gru" and layer.reset_after, order, where)
            if any_bias:  # a layer with use_bias=False is exact with zero biases
                state[f"bias_ih{suffix}"] = as_tensor(b_ih, where)
                state[f"bias_hh{suffix}"] = as_tensor(b_hh, where)
    model = ForeignModel("keras", state, right_to_left=_reading_directions(stack)[0])
    model.notes = notes
    if first.arch == "rnn":
        model.nonlinearity = first.activation
        model.equations = EQUATIONS["rnn"].replace("act(", f"{first.activation}(")
    elif first.arch == "gru":
        model.gru_variant = "torch" if first.reset_after else "cho"
        model.equations = EQUATIONS[f"gru-{model.gru_variant}"]
    else:
        model.equations = EQUATIONS["lstm"]
    top = stack[-1]
    if model.right_to_left:
        model.equations += "\n" + GO_BACKWARDS
    if len(top.weights) == 1 and not top.sequences:
        notes.append(
            f"{top.name!r} has return_sequences=False: Keras' Dense reads the final state only; "
            "gatescope shows the head at every step (the one at "
            + (
                "t = 0, where this stack reading right to left ends,"
                if model.right_to_left
                else "the last step"
            )
            + " is Keras' output)"
        )
    elif model.right_to_left:
        notes.append(
            f"the stack reads right to left (go_backwards=True) and Keras returns {top.name!r}'s "
            "outputs in that order: its output k is input position T-1-k. gatescope indexes every "
            "tensor, and the head's predictions, by input position t"
        )
    if embedding is not None:
        if embedding.ndim != 2 or embedding.shape[1] != state["weight_ih_l0"].shape[1]:
            raise ValueError(
                f"the Embedding is {embedding.shape} but the first recurrent layer reads "
                f"{state['weight_ih_l0'].shape[1]} inputs"
            )
        state[EMBEDDING] = as_tensor(embedding, "the Embedding")
        model.vocab_size = int(embedding.shape[0])
    if head is not None:
        arrays, name, activation = head
        top = stack[-1]
        width = top.units * len(top.weights)  # the head reads the top layer
        if arrays[0].ndim != 2 or arrays[0].shape[0] != width:
            raise ValueError(f"Dense {name!r} has kernel {arrays[0].shape}; it must read {width} inputs")
        state[f"{HEAD}.weight"] = as_tensor(arrays[0].T, f"Dense {name!r}")
        if len(arrays) == 2:
            state[f"{HEAD}.bias"] = as_tensor(arrays[1], f"Dense {name!r}")
        model.output_kind = HEAD_KINDS[activation]
    return model
