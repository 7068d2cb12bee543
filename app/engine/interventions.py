"""Interventions: clamp a gate or a state of some units over a span of steps, then run on.

    >>> clamp = Intervention(layer=0, quantity="f", units=(3,), steps=(10, 20), value=1.0)
    >>> tr = trace(nn.LSTM(4, 8), torch.randn(30, 4), interventions=[clamp])

Over steps ``a <= t < b`` the listed units of ``quantity`` take ``value`` instead of what the cell
computed, and everything downstream (later steps, the layers above, the objective) reads the
clamped value, as the network would. Gradients are those of the intervened computation: a clamped
value is a constant, so nothing flows through it into what it replaced, while dL/dh_t and dL/dc_t
are still the derivatives at the (clamped) state itself.

Where a clamp sits in torch's equations (layers.py has them): a gate is clamped right after its
nonlinearity (LSTM i f g o, GRU r z n), the LSTM cell right after c_t = f ⊙ c_{t-1} + i ⊙ g (so
h_t = o ⊙ tanh(c_t) reads the clamped c_t), and h_t last. Clamping an LSTM unit's f to 1 and i to
0 therefore holds its c_t constant over the span.

The fast layer passes (the fused LSTM kernel, the hand-written GRU/RNN backward) cannot clamp, so
an intervened trace runs a step loop under autograd in the model's dtype. It is only used when
interventions are given. Bidirectional models are refused; LSTM projections are supported
(``hidden`` then has proj_size units, the gates and ``cell`` hidden_size), and so are stacks that
read right to left (`RecurrentSpec.right_to_left`: the loop runs from t = T-1 down, a clamp's
span still counts input positions).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from gatescope.engine.cells import CellStep
from gatescope.engine.layers import LayerPass
from gatescope.engine.spec import LayerWeights, RecurrentSpec
from gatescope.engine.stepper import Stepper, StepRecord
from gatescope.engine.trace import (
    InitialState,
    LayerTrace,
    Objective,
    Trace,
    as_sequence,
    objective_gradients,
)

#: clamp(name, value) -> value with this step's clamps of ``name`` applied
Clamp = Callable[[str, Tensor], Tensor]


@dataclass(frozen=True)
class Intervention:
    """Clamp ``units`` of ``quantity`` (a gate name of the arch, "hidden" or "cell") in ``layer``
    to ``value`` over steps ``steps[0] <= t < steps[1]``."""

    layer: int
    quantity: str
    units: tuple[int, ...]
    steps: tuple[int, int]
    value: float


def no_clamp(name: str, value: Tensor) -> Tensor:
    return value


def check_interventions(
    spec: RecurrentSpec, interventions: Sequence[Intervention], steps: int
) -> list[Intervention]:
    """The interventions with layers resolved (negative counts from the end) and units sorted.

    ValueError naming the field (``interventions[k].quantity`` ...) for an unknown quantity, a
    layer or unit out of range, an empty or out-of-range span of a ``steps``-step sequence, or a
    value that is not finite; also for bidirectional models, which cannot be intervened on.
    """
    if spec.reverse is not None:
        raise ValueError(
            "interventions run the network forward step by step; a bidirectional model's reverse "
            "direction reads the sequence from the end, so it cannot be intervened on"
        )
    allowed = spec.gate_names + ("hidden",) + (("cell",) if spec.arch == "lstm" else ())
    out = []
    for k, iv in enumerate(interventions):
        where = f"interventions[{k}]"
        if not -spec.num_layers <= iv.layer < spec.num_layers:
            raise ValueError(f"{where}.layer: {iv.layer} is out of range; the model has {spec.num_layers}")
        if iv.quantity not in allowed:
            raise ValueError(
                f"{where}.quantity: {iv.quantity!r} is not one of this {spec.arch.upper()}'s "
                f"quantities: {', '.join(map(repr, allowed))}"
            )
        layer = spec.layers[iv.layer]  # layers may differ in size
        size = layer.state_size if iv.quantity == "hidden" else layer.hidden_size
        if not iv.units:
            raise ValueError(f"{where}.units: give at least one unit")
        bad = [u for u in iv.units if not 0 <= u < size]
        if bad:
            raise ValueError(
                f"{where}.units: {bad[0]} is out of range; {iv.quantity} has units 0..{size - 1}"
                + (f" in layer {iv.layer % spec.num_layers}" if spec.mixed else "")
            )
        start, end = iv.steps
        if not 0 <= start < end <= steps:
            raise ValueError(
                f"{where}.steps: [{start}, {end}) must satisfy 0 <= a < b <= {steps} (the sequence's "
                "length), a non-empty span a <= t < b"
            )
        if not math.isfinite(iv.value):
            raise ValueError(f"{where}.value: {iv.value} is not a finite number")
        units = tuple(sorted(set(iv.units)))
        out.append(Intervention(iv.layer % spec.num_layers, iv.quantity, units, (start, end), iv.value))
    return out


class Clamps:
    """Checked interventions, looked up per layer and step (later ones win where they overlap)."""

    def __init__(self, spec: RecurrentSpec, interventions: Sequence[Intervention]) -> None:
        self._by_layer: dict[int, list[tuple[Intervention, Tensor, Tensor]]] = {}
        for iv in interventions:
            layer = spec.layers[iv.layer]
            size = layer.state_size if iv.quantity == "hidden" else layer.hidden_size
            mask = torch.zeros(size, dtype=torch.bool)
            mask[list(iv.units)] = True
            value = torch.tensor(iv.value, dtype=spec.dtype)
            self._by_layer.setdefault(iv.layer, []).append((iv, mask, value))

    def at(self, layer: int, t: int) -> Clamp:
        active = [
            (iv.quantity, m, v)
            for iv, m, v in self._by_layer.get(layer, [])
            if iv.steps[0] <= t < iv.steps[1]
        ]
        if not active:
            return no_clamp

        def clamp(name: str, value: Tensor) -> Tensor:
            for quantity, mask, fixed in active:
                if quantity == name:
                    value = torch.where(mask, fixed, value)
            return value

        return clamp


def cell_step(
    spec: RecurrentSpec, w: LayerWeights, xw: Tensor, h: Tensor, c: Tensor | None, clamp: Clamp = no_clamp
) -> tuple[dict[str, Tensor], Tensor, Tensor | None]:
    """One step of torch's cell (or Cho's GRU) from xw = W_ih x_t + b_ih (..., G*H) and the
    previous h (..., P) and c (..., H), with ``clamp`` applied where the module docstring says.
    Any leading dimensions batch. Returns (gates, h_t, c_t or None)."""
    size = w.hidden_size
    rows = w.w_hh if spec.gru_variant != "cho" or spec.arch != "gru" else w.w_hh[: 2 * size]
    hw = h @ rows.T  # (..., G*H), or (..., 2H) for Cho's GRU
    if w.b_hh is not None:
        hw = hw + w.b_hh[: hw.shape[-1]]
    if spec.arch == "lstm":
        assert c is not None
        a_i, a_f, a_g, a_o = (xw + hw).chunk(4, -1)  # (..., H) each; one backward op, not four
        i, f = clamp("i", torch.sigmoid(a_i)), clamp("f", torch.sigmoid(a_f))
        g, o = clamp("g", torch.tanh(a_g)), clamp("o", torch.sigmoid(a_o))
        c = clamp("cell", f * c + i * g)
        h = o * torch.tanh(c)
        if w.w_hr is not None:
            h = h @ w.w_hr.T  # (..., P)
        return {"i": i, "f": f, "g": g, "o": o}, clamp("hidden", h), c
    if spec.arch == "gru":
        x_r, x_z, x_n = xw.chunk(3, -1)
        h_r, h_z, *h_n = hw.chunk(hw.shape[-1] // size, -1)  # Cho's GRU: no h_n here, W_hn reads r ⊙ h below
        r, z = clamp("r", torch.sigmoid(x_r + h_r)), clamp("z", torch.sigmoid(x_z + h_z))
        if spec.gru_variant == "cho":
            hn = (r * h) @ w.w_hh[2 * size :].T
            if w.b_hh is not None:
                hn = hn + w.b_hh[2 * size :]
            n = clamp("n", torch.tanh(x_n + hn))
            h = (1 - z) * h + z * n
        else:
            n = clamp("n", torch.tanh(x_n + r * h_n[0]))
            h = (1 - z) * n + z * h
        return {"r": r, "z": z, "n": n}, clamp("hidden", h), None
    a = xw + hw
    h = torch.tanh(a) if spec.nonlinearity == "tanh" else torch.relu(a)
    return {}, clamp("hidden", h), None


def input_part(w: LayerWeights, x: Tensor) -> Tensor:
    """W_ih x + b_ih for every row of x (..., I) -> (..., G*H)."""
    xw = x @ w.w_ih.T
    return xw if w.b_ih is None else xw + w.b_ih


@dataclass
class _LayerRun:
    gates: dict[str, Tensor]  # (T, H) each, detached
    output: Tensor  # (T, P), in the graph
    cell: Tensor | None  # (T, H), detached
    probe_h: Tensor  # (T, P) zeros leaf: dL/dprobe_h[t] = dL/dh_t
    probe_c: Tensor | None  # (T, H) zeros leaf, LSTM only


def _probed(clamp: Clamp, dh: Tensor, dc: Sequence[Tensor] | None, t: int) -> Clamp:
    """``clamp``, then the zero probes added to h_t and c_t, so that autograd's derivative at the
    probe is the total dL/dh_t (dL/dc_t) at the clamped state, through every later use."""

    def hook(name: str, value: Tensor) -> Tensor:
        value = clamp(name, value)
        if name == "hidden":
            return value + dh
        if name == "cell" and dc is not None:
            return value + dc[t]
        return value

    return hook


def _run_layer(spec: RecurrentSpec, layer: int, x: Tensor, h: Tensor, c: Tensor, clamps: Clamps) -> _LayerRun:
    """One layer over x (T, I) under autograd, clamped; the probes are added after the clamps."""
    w = spec.layers[layer]
    steps = x.shape[0]
    probe_h = torch.zeros(steps, h.shape[0], dtype=x.dtype, requires_grad=True)
    probe_c = (
        torch.zeros(steps, c.shape[0], dtype=x.dtype, requires_grad=True) if spec.arch == "lstm" else None
    )
    xws, dh = input_part(w, x).unbind(0), probe_h.unbind(0)  # unbind: one backward op for all t
    dc = probe_c.unbind(0) if probe_c is not None else None
    cell: Tensor | None = c if spec.arch == "lstm" else None
    hs, cs, gates = [], [], []
    order = range(steps - 1, -1, -1) if spec.right_to_left else range(steps)  # input positions t
    for t in order:
        step_gates, h, cell = cell_step(spec, w, xws[t], h, cell, _probed(clamps.at(layer, t), dh[t], dc, t))
        hs.append(h)
        if cell is not None:
            cs.append(cell)
        gates.append(step_gates)
    if spec.right_to_left:  # back to input positions, as every trace is indexed
        hs.reverse()
        cs.reverse()
        gates.reverse()
    stacked = {name: torch.stack([g[name].detach() for g in gates]) for name in spec.gate_names}
    cells = torch.stack(cs).detach() if cs else None
    return _LayerRun(stacked, torch.stack(hs), cells, probe_h, probe_c)


def _no_backward(direct: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
    raise NotImplementedError("an intervened layer's gradients come from autograd")


def intervened_trace(
    spec: RecurrentSpec,
    x: object,
    h_init: list[Tensor],
    c_init: list[Tensor],
    objective: Objective,
    interventions: Sequence[Intervention],
) -> Trace:
    """`trace_spec` with ``interventions`` applied (see the module docstring); ``h_init`` and
    ``c_init`` per layer as `initial_state` gives them. ValueError as `check_interventions`."""
    seq = as_sequence(x, spec.input_size, spec.dtype)
    clamps = Clamps(spec, check_interventions(spec, interventions, seq.shape[0]))
    with torch.enable_grad():
        x_leaf = seq.detach().clone().requires_grad_(True)
        runs: list[_LayerRun] = []
        layer_input = x_leaf
        for layer in range(spec.num_layers):
            runs.append(_run_layer(spec, layer, layer_input, h_init[layer], c_init[layer], clamps))
            layer_input = runs[-1].output
        passes = [[LayerPass(r.gates, r.output.detach(), r.cell, _no_backward)] for r in runs]
        loss, direct = objective_gradients(objective, passes, spec.right_to_left)
        probes = [r.probe_h for r in runs] + [r.probe_c for r in runs if r.probe_c is not None]
        found = torch.autograd.grad([r.output for r in runs], [x_leaf, *probes], direct, allow_unused=True)
    grads = [
        torch.zeros_like(leaf) if g is None else g for g, leaf in zip(found, [x_leaf, *probes], strict=True)
    ]
    grad_h, grad_c = grads[1 : 1 + len(runs)], iter(grads[1 + len(runs) :])
    layers = [
        LayerTrace(r.gates, r.output.detach(), r.cell, gh, None if r.probe_c is None else next(grad_c))
        for r, gh in zip(runs, grad_h, strict=True)
    ]
    variant = spec.gru_variant if spec.arch == "gru" else None
    return Trace(arch=spec.arch, loss=loss, layers=layers, grad_input=grads[0], gru_variant=variant)


class ClampedStepper(Stepper):
    """A `Stepper` whose steps apply checked interventions (see `check_interventions`), for the
    live stream: the same numbers as `intervened_trace`, one step at a time."""

    def __init__(
        self,
        model: RecurrentSpec,
        interventions: Sequence[Intervention],
        h0: InitialState | None = None,
        c0: InitialState | None = None,
    ) -> None:
        super().__init__(model, h0, c0)
        self.clamps = Clamps(self.spec, interventions)

    @torch.no_grad()
    def step(self, x_t: object) -> StepRecord:
        self._causal()
        x = as_sequence(torch.as_tensor(x_t).reshape(1, -1), self.spec.input_size, self.spec.dtype)[0]
        records = []
        for layer, w in enumerate(self.spec.layers):
            cell = self.cell[layer] if self.spec.arch == "lstm" else None
            gates, h, cell = cell_step(
                self.spec, w, input_part(w, x), self.hidden[layer], cell, self.clamps.at(layer, self.t)
            )
            self.hidden[layer] = h
            if cell is not None:
                self.cell[layer] = cell
            records.append(CellStep(gates, h, cell))
            x = h
        record = StepRecord(self.t, records)
        self.t += 1
        return record

    def advance(self, xs: object) -> list[StepRecord]:
        """Step by step: the fast layer passes of `Stepper.advance` cannot clamp."""
        return [self.step(x_t) for x_t in as_sequence(xs, self.spec.input_size, self.spec.dtype)]
