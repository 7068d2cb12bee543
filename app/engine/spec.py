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
GruVariant = Literal["torch", "cho", "chung"]
#: torch.nn.GRU's (reset after W_hn); Cho et al. 2014's (reset before, z keeps the old state);
#: Chung et al. 2014's and the seed's (reset before, z takes the candidate). See textbook.py.
GRU_VARIANTS: tuple[GruVariant, ...] = ("torch", "cho", "chung")

#: Gate names per architecture in torch.nn's weight-row order: ``weight_ih_l0`` is
#: ``(W_ii|W_if|W_ig|W_io)`` for the LSTM and ``(W_ir|W_iz|W_in)`` for the GRU.
GATE_NAMES: dict[str, tuple[str, ...]] = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ()}
#: Rows of ``weight_ih`` per hidden unit: 4 for the LSTM, 3 for the GRU, 1 for the plain RNN.
GATE_MULTIPLIER: dict[str, int] = {"lstm": 4, "gru": 3, "rnn": 1}


@dataclass(frozen=True)
class LayerWeights:
    """One layer's parameters in one direction, detached, with torch.nn's shapes.

    w_ih: (G*H, I_l)   w_hh: (G*H, P)   b_ih, b_hh: (G*H,) or None, where G = 4 | 3 | 1;
    w_hr: (P, H), an LSTM's projection h_t = W_hr (o_t ⊙ tanh(c_t)) when proj_size = P > 0, else
    None and P = H.
    """

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None
    b_hh: Tensor | None
    w_hr: Tensor | None = None

    @property
    def hidden_size(self) -> int:
        """H of this layer: the width of its gates (and an LSTM's cell)."""
        return int(self.w_hh.shape[1] if self.w_hr is None else self.w_hr.shape[1])

    @property
    def state_size(self) -> int:
        """The width of this layer's h_t in one direction: P when projected, else H."""
        return int(self.w_hh.shape[1])


@dataclass(frozen=True)
class RecurrentSpec:
    """A recurrent stack as the engine runs it: ``layers`` in the forward direction and, for a
    bidirectional stack, ``reverse``, the same layers' weights for the reverse direction (torch's
    ``*_reverse`` parameters). Layer l > 0 reads both directions' outputs, concatenated.

    ``right_to_left``: a one-direction stack whose every layer reads the sequence from the end
    (ONNX ``direction="reverse"``, Keras ``go_backwards=True``). torch has no such module; the
    engine runs ``layers`` as it runs a bidirectional stack's reverse direction, every tensor
    still indexed by input position t, and its final state is the state at t = 0.

    Layers may differ in size (a Keras LSTM(24) under an LSTM(16)): layer l has its own H_l, read
    from its weights (w_hh is (G*H_l, P_l)), and reads I_l = directions * P_{l-1} inputs.
    `hidden_sizes` and `state_sizes` give them per layer; `hidden_size` and `state_size` are the
    one value of a uniform stack (a torch module's) and a ValueError for a mixed one.
    """

    arch: Arch
    input_size: int
    layers: tuple[LayerWeights, ...]
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # only the plain RNN uses it
    gru_variant: GruVariant = "torch"  # only the GRU uses it; see `with_gru_variant`
    reverse: tuple[LayerWeights, ...] | None = None
    right_to_left: bool = False

    def __post_init__(self) -> None:
        if self.right_to_left and self.reverse is not None:
            raise ValueError(
                "right_to_left is for a one-direction stack; a bidirectional stack already reads "
                "the sequence both ways"
            )

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def directions(self) -> int:
        return 1 if self.reverse is None else 2

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """H_l per layer: the width of layer l's gates and cell."""
        return tuple(w.hidden_size for w in self.layers)

    @property
    def state_sizes(self) -> tuple[int, ...]:
        """The width of layer l's h_t in one direction: P_l when projected, else H_l."""
        return tuple(w.state_size for w in self.layers)

    @property
    def output_sizes(self) -> tuple[int, ...]:
        """The width of layer l's output (what the layer above reads): directions * P_l."""
        return tuple(self.directions * size for size in self.state_sizes)

    @property
    def mixed(self) -> bool:
        """Whether the layers differ in size (no single torch module holds such a stack)."""
        return len(set(self.hidden_sizes)) > 1 or len(set(self.state_sizes)) > 1

    def _one(self, sizes: tuple[int, ...], what: str) -> int:
        if len(set(sizes)) > 1:
            raise ValueError(
                f"this stack's layers have different {what}s ({', '.join(map(str, sizes))}): "
                f"there is no single {what}; use the per-layer {what}s"
            )
        return sizes[0]

    @property
    def hidden_size(self) -> int:
        """H of a uniform stack; ValueError for layers of different sizes (see `hidden_sizes`)."""
        return self._one(self.hidden_sizes, "hidden_size")

    @property
    def proj_size(self) -> int:
        """P of an LSTM with projections (torch's proj_size), else 0."""
        w_hr = self.layers[0].w_hr
        return 0 if w_hr is None else int(w_hr.shape[0])

    @property
    def state_size(self) -> int:
        """The width of h_t in one direction of a uniform stack: proj_size when projected, else
        hidden_size. ValueError for layers of different sizes (see `state_sizes`)."""
        return self._one(self.state_sizes, "state_size")

    def directions_of(self, layer: int) -> list[LayerWeights]:
        """Layer ``layer``'s weights per direction: [forward] or [forward, reverse]."""
        return [self.layers[layer]] + ([] if self.reverse is None else [self.reverse[layer]])

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
    """The same weights run as torch.nn.GRU (``"torch"``), Cho et al. 2014's GRU (``"cho"``) or
    Chung et al. 2014's (``"chung"``; the seed's form).

    Raises ValueError for an unknown variant, or for another variant than ``"torch"`` on a model
    that is not a GRU.
    """
    if variant not in GRU_VARIANTS:
        raise ValueError(f"gru_variant must be 'torch', 'cho' or 'chung', got {variant!r}")
    if variant != "torch" and spec.arch != "gru":
        raise ValueError(
            f"gru_variant {variant!r} applies to GRU models only; this model is an {spec.arch.upper()}"
        )
    return spec if spec.gru_variant == variant else replace(spec, gru_variant=variant)


def with_right_to_left(spec: RecurrentSpec, right_to_left: bool) -> RecurrentSpec:
    """The same weights read left to right (False, torch's way) or from the end (True); ValueError
    for right to left on a bidirectional stack."""
    return spec if spec.right_to_left == right_to_left else replace(spec, right_to_left=right_to_left)


def spec_from_module(module: nn.Module) -> RecurrentSpec:
    """Read an unmodified ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN`` into a `RecurrentSpec`, any
    ``num_layers``, ``bias``, ``bidirectional`` and (LSTM) ``proj_size``, or a `RecurrentStack`
    (layers of different sizes). ValueError for anything else, saying what it got.
    """
    from gatescope.engine.stack import RecurrentStack  # it builds torch modules from this module

    arch: Arch
    if isinstance(module, RecurrentStack):
        arch = module.arch
    elif isinstance(module, nn.LSTM):
        arch = "lstm"
    elif isinstance(module, nn.GRU):
        arch = "gru"
    elif isinstance(module, nn.RNN):
        arch = "rnn"
    else:
        raise ValueError(
            "expected a torch.nn.LSTM, nn.GRU or nn.RNN module (or a gatescope RecurrentStack), "
            f"got {type(module).__name__}"
        )
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    if arch == "rnn":
        if module.nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN nonlinearity must be 'tanh' or 'relu', got {module.nonlinearity!r}")
        nonlinearity = "relu" if module.nonlinearity == "relu" else "tanh"
    params = {name: value.detach() for name, value in module.named_parameters()}

    def direction(suffix: str) -> tuple[LayerWeights, ...]:
        return tuple(
            LayerWeights(
                params[f"weight_ih_l{layer}{suffix}"],
                params[f"weight_hh_l{layer}{suffix}"],
                params.get(f"bias_ih_l{layer}{suffix}"),
                params.get(f"bias_hh_l{layer}{suffix}"),
                params.get(f"weight_hr_l{layer}{suffix}"),
            )
            for layer in range(module.num_layers)
        )

    return RecurrentSpec(
        arch=arch,
        input_size=module.input_size,
        layers=direction(""),
        nonlinearity=nonlinearity,
        reverse=direction("_reverse") if module.bidirectional else None,
    )


def parameter_count(spec: RecurrentSpec) -> int:
    """Number of scalar parameters, equal to ``sum(p.numel() for p in module.parameters())``."""
    return sum(
        t.numel()
        for w in spec.layers + (spec.reverse or ())
        for t in (w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.w_hr)
        if t is not None
    )
