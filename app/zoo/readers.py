"""Read a user's checkpoint into a torch recurrent module, without ever running pickled code.

A `.safetensors` file is plain tensors by construction. A `.pt` file is opened with
``torch.load(weights_only=True)``, whose unpickler only rebuilds tensors and containers and refuses
anything else (a pickle that carries code raises instead of running it).

The architecture and sizes are inferred from the state_dict's shapes (torch.nn's own names):
weight_ih_l{k}: (G*H, I_k), weight_hh_l{k}: (G*H, H), with G = 4 (LSTM), 3 (GRU), 1 (RNN).
Layers whose H differ (a Keras stack such as LSTM(24) -> LSTM(16)) become a `RecurrentStack`.
Keys may sit under a prefix, as in ``encoder.rnn.weight_ih_l0`` from a larger model.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from collections.abc import Mapping

import torch
from safetensors.torch import load as load_safetensors
from torch import Tensor, nn

from gatescope.engine.build import build_module
from gatescope.engine.spec import GATE_MULTIPLIER
from gatescope.engine.stack import RecurrentStack

_RNN_KEY = re.compile(
    r"^(?P<prefix>.*?)(?P<name>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(?P<layer>\d+)(?P<reverse>_reverse)?$"
)
_ARCH_BY_GATES = {multiplier: arch for arch, multiplier in GATE_MULTIPLIER.items()}


def read_state_dict(data: bytes, filename: str) -> dict[str, Tensor]:
    """Parse an uploaded file's bytes into a flat {name: tensor} dict. ValueError if it cannot."""
    if not data:
        raise ValueError("the uploaded file is empty")
    lowered = filename.lower()
    if lowered.endswith(".safetensors"):
        try:
            return dict(load_safetensors(data))
        except Exception as exc:  # safetensors raises its own error types
            raise ValueError(f"not a readable .safetensors file: {exc}") from None
    if lowered.endswith((".pt", ".pth", ".bin")):
        loaded = _load_torch(data)
        if isinstance(loaded, nn.Module):  # cannot happen with weights_only, kept for clarity
            raise ValueError("the file holds a whole module; upload its state_dict() instead")
        if not isinstance(loaded, Mapping):
            raise ValueError(
                f"not a state_dict: the checkpoint holds a {type(loaded).__name__}, where a state_dict "
                f"maps names to tensors; {_HOW_TO_SAVE}"
            )
        flat = {str(k): v for k, v in _flatten(loaded).items()}
        if not flat:
            raise ValueError(
                f"not a state_dict of tensors: the checkpoint's mapping holds no tensors; {_HOW_TO_SAVE}"
            )
        return flat
    raise ValueError(
        f"unsupported file type {filename!r}: upload a .safetensors or a weights-only .pt file, a Keras "
        ".keras or .h5 model, or an .onnx graph"
    )


_HOW_TO_SAVE = "save one with torch.save(module.state_dict(), path)"
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"  # a pickle of protocol 2 or later opens with PROTO; torch's legacy format does
# torch's two phrasings: "Unsupported global: GLOBAL m.C ..." and "unsupported GLOBAL posix.system whose ..."
_UNSUPPORTED_GLOBAL = re.compile(r"unsupported (?:global: )?GLOBAL ([\w.]+)", re.IGNORECASE)


def _load_torch(data: bytes) -> object:
    """``torch.load(weights_only=True)`` of an upload, its failures said in a user's terms.

    torch.save writes a zip archive holding ``<name>/data.pkl`` (older torch: a pickle). Anything
    else (random bytes, text, another zip) is told apart before torch reads it, since torch's own
    errors for those ("pop from empty list", "KeyError: 101") say nothing about the file.
    """
    if data.startswith(_ZIP_MAGIC):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            damaged = "not a readable torch checkpoint: a damaged zip archive"
            raise ValueError(f"{damaged}; {_HOW_TO_SAVE}") from None
        if not any(name.endswith("/data.pkl") for name in names):
            raise ValueError(
                "not a torch checkpoint: a zip archive without the data.pkl that torch.save writes "
                f"(it holds {len(names)} other file{'s' if len(names) != 1 else ''}); {_HOW_TO_SAVE}"
            )
    elif not data.startswith(_PICKLE_PROTO):
        raise ValueError(
            "not a torch checkpoint: neither the zip archive torch.save writes nor its older pickle "
            f"format (is it a text file or another format?); {_HOW_TO_SAVE}"
        )
    try:
        with warnings.catch_warnings():
            # A pickle torch.save did not write warns of its protocol before it is refused below;
            # the user gets the refusal, the log need not get torch's advice to file an issue.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for pickled objects, others for damaged files
        found = _UNSUPPORTED_GLOBAL.search(str(exc))
        if found:
            raise ValueError(
                f"not a state_dict of tensors: the checkpoint holds a Python object ({found.group(1)}), "
                f"which is never unpickled here since unpickling can run code; {_HOW_TO_SAVE}"
            ) from None
        zipped = data.startswith(_ZIP_MAGIC)
        what = "a zip archive torch cannot read" if zipped else "a pickle, not one torch.save wrote"
        raise ValueError(f"not a readable torch checkpoint: {what}; {_HOW_TO_SAVE}") from None


def _flatten(mapping: Mapping[object, object], prefix: str = "") -> dict[str, Tensor]:
    """Nested dicts (e.g. {"model": state_dict}) become dotted keys; non-tensors are dropped."""
    flat: dict[str, Tensor] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Tensor):
            flat[name] = value
        elif isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
    return flat


def is_recurrent_key(key: str) -> bool:
    """Whether ``key`` is a torch recurrent module's parameter (``...weight_ih_l0`` and kin)."""
    return _RNN_KEY.match(key) is not None


def rnn_prefixes(state_dict: Mapping[str, Tensor]) -> list[str]:
    """The distinct prefixes under which recurrent weights appear ("" for a bare module)."""
    found = {m["prefix"] for key in state_dict if (m := _RNN_KEY.match(key)) and m["name"] == "weight_ih"}
    return sorted(found)


def _pick_prefix(state_dict: Mapping[str, Tensor], prefix: str | None) -> str:
    """The prefix of the recurrent module to read; ValueError if none, several and no choice, or
    an unknown one."""
    prefixes = rnn_prefixes(state_dict)
    if not prefixes:
        raise ValueError(
            "no recurrent weights found: expected keys like 'weight_ih_l0' and 'weight_hh_l0' "
            "(optionally under a prefix such as 'encoder.rnn.') from a torch.nn.LSTM, GRU or RNN"
        )
    if prefix is None:
        if len(prefixes) > 1:
            shown = ", ".join(repr(p) for p in prefixes)
            raise ValueError(f"the file holds several recurrent modules ({shown}); choose one with 'prefix'")
        prefix = prefixes[0]
    elif prefix not in prefixes:
        raise ValueError(f"prefix {prefix!r} not found; the file has {', '.join(map(repr, prefixes))}")
    return prefix


def _layer_sizes(own: Mapping[str, Tensor], num_layers: int, gates: int) -> list[int]:
    """H_l of every layer, from weight_hh_l{l}'s rows (G*H_l); the layers of a torch module all
    have one size, a Keras stack's may differ. A missing or malformed weight is left for the
    shape check against the built module to name."""
    sizes: list[int] = []
    for layer in range(num_layers):
        w_hh = own.get(f"weight_hh_l{layer}")
        if w_hh is None or w_hh.dim() != 2 or w_hh.shape[0] % gates or w_hh.shape[0] == 0:
            return [sizes[0] if sizes else 0] * num_layers
        sizes.append(w_hh.shape[0] // gates)
    return sizes


def module_from_state_dict(
    state_dict: Mapping[str, Tensor], prefix: str | None = None, nonlinearity: str = "tanh"
) -> nn.Module:
    """Build the nn.LSTM / nn.GRU / nn.RNN that ``state_dict`` belongs to and load it; when its
    layers differ in size (weight_hh_l{l} is (G*H_l, H_l)), a `RecurrentStack` of those sizes.

    ``prefix`` picks one recurrent module when the state_dict holds several; ``nonlinearity``
    is the plain RNN's (it cannot be read from the weights). Raises ValueError otherwise.
    """
    prefix = _pick_prefix(state_dict, prefix)
    own: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        m = _RNN_KEY.match(key)
        if m and m["prefix"] == prefix:
            own[key[len(prefix) :]] = value
    num_layers = 1 + max(int(_RNN_KEY.match(k)["layer"]) for k in own)  # type: ignore[index]
    w_hh = own.get("weight_hh_l0")
    w_ih = own.get("weight_ih_l0")
    if w_ih is None or w_hh is None or w_hh.dim() != 2 or w_ih.dim() != 2:
        raise ValueError("weight_ih_l0 and weight_hh_l0 must both be present as 2-d tensors")
    # With projections (weight_hr_l0: (P, H)) the recurrent matrix is (4H, P); else (G*H, H).
    w_hr = own.get("weight_hr_l0")
    hidden_size = w_hh.shape[1] if w_hr is None or w_hr.dim() != 2 else w_hr.shape[1]
    proj_size = 0 if w_hr is None or w_hr.dim() != 2 else w_hr.shape[0]
    if hidden_size == 0 or w_hh.shape[0] % hidden_size:
        raise ValueError(f"weight_hh_l0 has shape {tuple(w_hh.shape)}, which is not (G*H, H)")
    gates = w_hh.shape[0] // hidden_size
    if gates not in _ARCH_BY_GATES:
        raise ValueError(f"weight_hh_l0 has {gates}*H rows: expected 4 (LSTM), 3 (GRU) or 1 (RNN)")
    arch = _ARCH_BY_GATES[gates]
    if proj_size and arch != "lstm":
        raise ValueError(
            f"weight_hr (a projection) belongs to LSTMs only; these weights are a {arch.upper()}'s"
        )
    bidirectional = any(key.endswith("_reverse") for key in own)
    sizes = _layer_sizes(own, num_layers, gates)
    module: nn.Module
    if len(set(sizes)) > 1:  # layers of different sizes (a Keras stack): no nn.LSTM holds them
        if proj_size:
            raise ValueError(
                f"the layers have different sizes ({', '.join(map(str, sizes))}) and projections "
                "(weight_hr): gatescope reads one or the other, not both"
            )
        module = RecurrentStack(arch, w_ih.shape[1], sizes, "bias_ih_l0" in own, bidirectional, nonlinearity)
    else:
        module = build_module(
            arch,
            w_ih.shape[1],
            hidden_size,
            num_layers,
            nonlinearity,
            "bias_ih_l0" in own,
            bidirectional=bidirectional,
            proj_size=proj_size,
        )
    expected = {name: p.shape for name, p in module.named_parameters()}
    missing = sorted(set(expected) - set(own))
    extra = sorted(set(own) - set(expected))
    if missing or extra:
        raise ValueError(f"inconsistent {arch.upper()} weights: missing {missing}, unexpected {extra}")
    for name, shape in expected.items():
        if own[name].shape != shape:
            raise ValueError(f"{prefix}{name} has shape {tuple(own[name].shape)}, expected {tuple(shape)}")
        if not own[name].is_floating_point():
            raise ValueError(f"{prefix}{name} is {own[name].dtype}, expected floating point")
        if not torch.isfinite(own[name]).all():
            raise ValueError(f"{prefix}{name} contains NaN or inf")
    module.load_state_dict({k: v.float() for k, v in own.items()})
    module.eval()
    return module
