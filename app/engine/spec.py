"""What the engine needs to know about a recurrent module: its kind, sizes and per-layer weights.

`spec_from_module` is the only place that looks at a `torch.nn` module; everything downstream works
on plain tensors, so uploaded state_dicts and freshly built modules go through the same path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor, nn

Arch = Literal["lstm", "gru", "rnn"]
#: Which GRU equations run: torch.nn.GRU's (reset after W_hn, z keeps h_{t-1}) or Cho et al.
#: (2014)'s textbook cell (reset before W_hn, z weights the candidate), on the same weights.
GruVariant = Literal["torch", "cho"]
GRU_VARIANTS: tuple[GruVariant, ...] = ("torch", "cho")

#: Gate names per architecture in torch.nn's weight-row order: ``weight_ih_l0`` is
#: ``(W_ii|W_if|W_ig|W_io)`` for the LSTM and ``(W_ir|W_iz|W_in)`` for the GRU.
GATE_NAMES: dict[str, tuple[str, ...]] = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ()}
#: Rows of ``weight_ih`` per hidden unit: 4 for the LSTM, 3 for the GRU, 1 for the plain RNN.
GATE_MULTIPLIER: dict[str, int] = {"lstm": 4, "gru": 3, "rnn": 1}


@dataclass(frozen=True)
class LayerWeights:
    """One layer's parameters, detached, with torch.nn's shapes.

    w_ih: (G*H, I_l)   w_hh: (G*H, H)   b_ih, b_hh: (G*H,) or None, where G = 4 | 3 | 1.
    """

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None
    b_hh: Tensor | None


@dataclass(frozen=True)
class RecurrentSpec:
    """A single-direction recurrent stack as the engine runs it."""

    arch: Arch
    input_size: int
    hidden_size: int
    layers: tuple[LayerWeights, ...]
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # only the plain RNN uses it
    gru_variant: GruVariant = "torch"  # only the GRU uses it; see `with_gru_variant`

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def bias(self) -> bool:
        return self.layers[0].b_ih is not None

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].w_ih.dtype

    @property
    def gate_names(self) -> tuple[str, ...]:
        return GATE_NAMES[self.arch]


def with_gru_variant(spec: RecurrentSpec, variant: str) -> RecurrentSpec:
    """The same weights run as torch.nn.GRU (``"torch"``) or as Cho et al.'s GRU (``"cho"``).

    Raises ValueError for an unknown variant, or for ``"cho"`` on a model that is not a GRU.
    """
    if variant not in GRU_VARIANTS:
        raise ValueError(f"gru_variant must be 'torch' or 'cho', got {variant!r}")
    if variant != "torch" and spec.arch != "gru":
        raise ValueError(
            f"gru_variant {variant!r} applies to GRU models only; this model is an {spec.arch.upper()}"
        )
    return spec if spec.gru_variant == variant else replace(spec, gru_variant=variant)


def spec_from_module(module: nn.Module) -> RecurrentSpec:
    """Read an unmodified ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN`` into a `RecurrentSpec`.

    Raises ValueError for anything else, and for the variants the engine does not trace
    (bidirectional stacks and LSTM projections), saying so.
    """
    if isinstance(module, nn.LSTM):
        arch: Arch = "lstm"
        if module.proj_size:
            raise ValueError(
                f"LSTM with proj_size={module.proj_size} is not supported: gatescope traces "
                "LSTMs without projections (proj_size=0)"
            )
    elif isinstance(module, nn.GRU):
        arch = "gru"
    elif isinstance(module, nn.RNN):
        arch = "rnn"
    else:
        raise ValueError(f"expected a torch.nn.LSTM, nn.GRU or nn.RNN module, got {type(module).__name__}")
    if module.bidirectional:
        raise ValueError(
            "bidirectional modules are not supported: trace each direction as its own "
            "unidirectional module (bidirectional=False)"
        )
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    if arch == "rnn":
        if module.nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {module.nonlinearity!r}")
        nonlinearity = "relu" if module.nonlinearity == "relu" else "tanh"
    params = {name: value.detach() for name, value in module.named_parameters()}
    layers = []
    for layer in range(module.num_layers):
        layers.append(
            LayerWeights(
                params[f"weight_ih_l{layer}"],
                params[f"weight_hh_l{layer}"],
                params.get(f"bias_ih_l{layer}"),
                params.get(f"bias_hh_l{layer}"),
            )
        )
    return RecurrentSpec(
        arch=arch,
        input_size=module.input_size,
        hidden_size=module.hidden_size,
        layers=tuple(layers),
        nonlinearity=nonlinearity,
    )


def parameter_count(spec: RecurrentSpec) -> int:
    """Number of scalar parameters, equal to ``sum(p.numel() for p in module.parameters())``."""
    total = 0
    for w in spec.layers:
        total += w.w_ih.numel() + w.w_hh.numel()
        total += sum(b.numel() for b in (w.b_ih, w.b_hh) if b is not None)
    return total
