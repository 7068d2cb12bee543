"""ONNX recurrent nodes read as data: the graph is a protobuf parsed by the `onnx` package, and
the weights are its initializers (or Constant nodes) as NumPy arrays. Nothing is run, and tensors
stored outside the file (ONNX external data) are refused, never opened.

One `LSTM`, `GRU` or `RNN` node is read (``prefix`` names it when the graph holds several), with
its ``direction`` forward, reverse (one direction reading X from the end: torch has no such module,
so the model is kept with ``right_to_left`` and the engine runs it so) or bidirectional. ONNX
lays out, per direction D,

    W (D, G*H, I)   R (D, G*H, H)   B (D, 2*G*H) = [Wb | Rb]

in its own gate order: LSTM i, o, f, c -> torch's i, f, g, o; GRU z, r, h -> torch's r, z, n. So
W_ih = W[d] and W_hh = R[d] with their row blocks reordered, b_ih = Wb and b_hh = Rb. A GRU with
``linear_before_reset=1`` computes torch's equations; with 0 (ONNX's default) the reset gate acts
before R_h, as in Cho et al. 2014, and the model is traced with gru_variant "cho". Both let z keep
the old state: H_t = (1 - z) ⊙ h̃ + z ⊙ H_{t-1}.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from gatescope.zoo.foreign import ChooseModule, ForeignModel, as_tensor, reorder

OPS = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
TO_TORCH = {"lstm": (0, 2, 3, 1), "gru": (1, 0, 2), "rnn": (0,)}  # ONNX's blocks, in torch's order
DEFAULT_ACTIVATIONS = {"lstm": ["sigmoid", "tanh", "tanh"], "gru": ["sigmoid", "tanh"], "rnn": ["tanh"]}
INPUTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")

EQUATIONS = {
    "lstm": (
        "ONNX LSTM (gates i, o, f, c; W (D, 4H, I), R (D, 4H, H), B = [Wb | Rb]):\n"
        "  i = σ(X Wiᵀ + H Riᵀ + Wbi + Rbi)    f = σ(X Wfᵀ + H Rfᵀ + Wbf + Rbf)\n"
        "  c̃ = tanh(X Wcᵀ + H Rcᵀ + Wbc + Rbc)  o = σ(X Woᵀ + H Roᵀ + Wbo + Rbo)\n"
        "  C_t = f ⊙ C_{t-1} + i ⊙ c̃            H_t = o ⊙ tanh(C_t)\n"
        "torch's names: g = c̃ (order i, o, f, c -> i, f, g, o), W_ih = W, W_hh = R, b_ih = Wb, b_hh = Rb."
    ),
    "gru-torch": (
        "ONNX GRU, linear_before_reset=1 (gates z, r, h; W (D, 3H, I), R (D, 3H, H), B = [Wb | Rb]):\n"
        "  z = σ(X Wzᵀ + H Rzᵀ + Wbz + Rbz)    r = σ(X Wrᵀ + H Rrᵀ + Wbr + Rbr)\n"
        "  h̃ = tanh(X Whᵀ + r ⊙ (H Rhᵀ + Rbh) + Wbh)\n"
        "  H_t = (1 - z) ⊙ h̃ + z ⊙ H_{t-1}\n"
        "torch's names: r, z, n = h̃ (order z, r, h -> r, z, n); the same equations as torch.nn.GRU."
    ),
    "gru-cho": (
        "ONNX GRU, linear_before_reset=0 (Cho et al. 2014; gates z, r, h; W, R, B = [Wb | Rb]):\n"
        "  z = σ(X Wzᵀ + H Rzᵀ + Wbz + Rbz)    r = σ(X Wrᵀ + H Rrᵀ + Wbr + Rbr)\n"
        "  h̃ = tanh(X Whᵀ + (r ⊙ H) Rhᵀ + Rbh + Wbh)      # r acts before Rh\n"
        "  H_t = (1 - z) ⊙ h̃ + z ⊙ H_{t-1}\n"
        "torch's names: r, z, n = h̃; traced with gru_variant 'cho'."
    ),
    "rnn": (
        "ONNX RNN (W (D, H, I), R (D, H, H), B = [Wb | Rb]):\n"
        "  H_t = f(X Wᵀ + H_{t-1} Rᵀ + Wb + Rb)\n"
        "torch's names: W_ih = W, W_hh = R, b_ih = Wb, b_hh = Rb."
    ),
}


REVERSE = (
    'direction="reverse": the node reads X from t = T-1 down to 0; Y[t] is the state at input '
    "position t (so H_{t+1} comes before H_t), and Y_h is the state at t = 0."
)


def _node_name(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


def read_onnx(data: bytes, max_bytes: int, prefix: str | None = None) -> ForeignModel:
    """One recurrent node of an ONNX model as a `ForeignModel`; ValueError naming what is refused,
    `ChooseModule` (listing the nodes) when there are several and ``prefix`` is None."""
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and kin
        raise ValueError(f"not a readable .onnx file: {str(exc)[:200]}") from None
    graph = model.graph
    constants: dict[str, onnx.TensorProto] = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = node.attribute[0].t
    nodes = [
        (_node_name(node, i), node)
        for i, node in enumerate(graph.node)
        if node.op_type in OPS and node.domain in ("", "ai.onnx")
    ]
    if not nodes:
        ops = sorted({n.op_type for n in graph.node})
        raise ValueError(f"no LSTM, GRU or RNN node in the graph (it has {', '.join(ops) or 'no nodes'})")
    if prefix is None and len(nodes) > 1:
        modules = [_describe(name, node, constants, max_bytes) for name, node in nodes]
        shown = ", ".join(repr(name) for name, _ in nodes)
        raise ChooseModule(
            f"the graph holds {len(nodes)} recurrent nodes ({shown}); choose one with 'prefix'", modules
        )
    chosen = [node for name, node in nodes if prefix is None or name == prefix]
    if not chosen:
        shown = ", ".join(repr(name) for name, _ in nodes)
        raise ValueError(f"prefix {prefix!r} is not a recurrent node of the graph; it has {shown}")
    return _read_node(chosen[0], constants, max_bytes)


def _describe(
    name: str, node: onnx.NodeProto, constants: dict[str, onnx.TensorProto], max_bytes: int
) -> dict[str, Any]:
    try:
        model = _read_node(node, constants, max_bytes)
    except ValueError as exc:
        return {"prefix": name, "error": str(exc)}
    w_hh = model.state_dict["weight_hh_l0"]
    return {
        "prefix": name,
        "arch": OPS[node.op_type].lower(),
        "input_size": int(model.state_dict["weight_ih_l0"].shape[1]),
        "hidden_size": int(w_hh.shape[1]),
        "num_layers": 1,
        "bidirectional": "weight_ih_l0_reverse" in model.state_dict,
        "right_to_left": model.right_to_left,
        "proj_size": 0,
    }


def _array(name: str, constants: dict[str, onnx.TensorProto], budget: list[int]) -> np.ndarray[Any, Any]:
    tensor = constants.get(name)
    if tensor is None:
        raise ValueError(
            f"input {name!r} is not an initializer or a Constant: gatescope reads weights stored in the graph"
        )
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        raise ValueError(f"{name!r} is stored outside the .onnx file (external data), which is never opened")
    budget[0] -= int(np.prod(tensor.dims, dtype=np.int64)) * 4
    if budget[0] < 0:
        raise ValueError("the weights are larger than the upload size limit")
    array = numpy_helper.to_array(tensor)
    if array.dtype.kind != "f":
        raise ValueError(f"{name!r} holds {array.dtype} data; weights must be floating-point numbers")
    return array.astype(np.float32)


def _settings(node: onnx.NodeProto, arch: str, where: str) -> tuple[dict[str, Any], dict[str, str], str, str]:
    """The node's attributes and named inputs, its direction and nonlinearity; ValueError naming
    any setting gatescope does not compute."""
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    refused = [name for name in ("clip", "activation_alpha", "activation_beta") if name in attrs]
    if attrs.get("input_forget", 0):
        refused.append("input_forget=1")
    if refused:
        raise ValueError(
            f"{where} sets {', '.join(refused)}, which gatescope does not compute, so it is refused"
        )
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ValueError(
            f"{where} has direction={direction!r}; ONNX defines 'forward', 'reverse' and "
            "'bidirectional', which are read"
        )
    dirs = 2 if direction == "bidirectional" else 1
    inputs = dict(zip(INPUTS, list(node.input), strict=False))
    extra = [name for name in ("sequence_lens", "P") if inputs.get(name)]
    if extra:
        what = {"sequence_lens": "sequence_lens (per-sequence lengths)", "P": "peepholes P"}
        raise ValueError(
            f"{where} uses {', '.join(what[n] for n in extra)}, which gatescope does not compute"
        )
    activations = [
        a.decode().lower() if isinstance(a, bytes) else str(a).lower() for a in attrs.get("activations", [])
    ]
    nonlinearity = "tanh"
    default = DEFAULT_ACTIVATIONS[arch]
    if activations:
        per_direction = [activations[k * len(default) : (k + 1) * len(default)] for k in range(dirs)]
        if (
            arch == "rnn"
            and all(a in (["tanh"], ["relu"]) for a in per_direction)
            and len(set(activations)) == 1
        ):
            nonlinearity = activations[0]
        elif any(a != default for a in per_direction) or len(activations) != dirs * len(default):
            raise ValueError(
                f"{where} has activations {activations}; gatescope computes ONNX's defaults "
                f"{default}{' (or Relu for an RNN)' if arch == 'rnn' else ''}"
            )
    return attrs, inputs, direction, nonlinearity


def _read_node(node: onnx.NodeProto, constants: dict[str, onnx.TensorProto], max_bytes: int) -> ForeignModel:
    arch = OPS[node.op_type]
    where = f"{node.op_type} node {node.name!r}" if node.name else f"the {node.op_type} node"
    attrs, inputs, direction, nonlinearity = _settings(node, arch, where)
    dirs = 2 if direction == "bidirectional" else 1
    budget = [max_bytes]
    w = _array(inputs.get("W", ""), constants, budget)
    r = _array(inputs.get("R", ""), constants, budget)
    b = _array(inputs["B"], constants, budget) if inputs.get("B") else None
    gates = GATES[arch]
    hidden = int(attrs.get("hidden_size", r.shape[-1] if r.ndim == 3 else 0))
    if w.ndim != 3 or w.shape[:2] != (dirs, gates * hidden) or r.shape != (dirs, gates * hidden, hidden):
        raise ValueError(
            f"{where} has W {w.shape} and R {r.shape}; with hidden_size {hidden} and {dirs} direction(s) "
            f"they must be ({dirs}, {gates * hidden}, I) and ({dirs}, {gates * hidden}, {hidden})"
        )
    if b is not None and b.shape != (dirs, 2 * gates * hidden):
        raise ValueError(f"{where} has B {b.shape}, expected ({dirs}, {2 * gates * hidden})")
    for name in ("initial_h", "initial_c"):
        if inputs.get(name) in constants and np.any(_array(inputs[name], constants, budget)):
            raise ValueError(
                f"{where} starts from a non-zero {name} stored in the graph; send it as h0/c0 with "
                "the trace instead"
            )
    order = TO_TORCH[arch]
    state = {}
    for d in range(dirs):
        suffix = "_l0" + ("_reverse" if d else "")
        state[f"weight_ih{suffix}"] = as_tensor(reorder(w[d], order), f"{where}'s W")
        state[f"weight_hh{suffix}"] = as_tensor(reorder(r[d], order), f"{where}'s R")
        if b is not None:
            state[f"bias_ih{suffix}"] = as_tensor(reorder(b[d, : gates * hidden], order), f"{where}'s B")
            state[f"bias_hh{suffix}"] = as_tensor(reorder(b[d, gates * hidden :], order), f"{where}'s B")
    model = ForeignModel("onnx", state, nonlinearity=nonlinearity, right_to_left=direction == "reverse")
    if arch == "gru":
        model.gru_variant = "torch" if attrs.get("linear_before_reset", 0) else "cho"
        model.equations = EQUATIONS[f"gru-{model.gru_variant}"]
    else:
        model.equations = EQUATIONS[arch].replace("f(X", f"{nonlinearity}(X")
    if model.right_to_left:
        model.equations += f"\n{REVERSE}"
    if inputs.get("initial_h") and inputs["initial_h"] not in constants:
        model.notes.append(
            "the graph takes initial_h as an input; a trace starts from zeros unless you send h0"
        )
    return model
