"""Analyses on top of a trace: gate saturation, unit connectivity, pattern search, the two GRUs.

Pure tensor code, like the rest of the engine. Gradient flow through time (the vanishing-gradient
lab) is in `gatescope.engine.gradflow`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gatescope.engine.gradflow import forward_layers, resolve_layer
from gatescope.engine.spec import GRU_VARIANTS, LayerWeights, RecurrentSpec, with_gru_variant
from gatescope.engine.trace import UnitObjective, as_sequence, trace_spec

#: The gates that pass through a sigmoid, and so can saturate at 0 or 1.
SIGMOID_GATES = ("i", "f", "o", "r", "z")


# ---- gate saturation (Karpathy, Johnson & Fei-Fei 2015) -------------------------------------------


@dataclass(frozen=True)
class Saturation:
    """Per unit (H,): the fraction of steps the gate was below ``low`` and above ``high``."""

    left: Tensor
    right: Tensor


def saturation(
    layers: Sequence[Mapping[str, Tensor]], low: float = 0.1, high: float = 0.9
) -> list[dict[str, Saturation]]:
    """For each layer and sigmoid gate (LSTM i, f, o; GRU r, z): left/right-saturated fractions.

    ``layers[l]`` maps gate names to (T, H) values, e.g. ``[layer.gates for layer in tr.layers]``;
    several sequences can be concatenated along T. A unit at (0, 0) is never saturated, at (1, 0)
    always nearly closed, at (0, 1) always nearly open; Karpathy et al. found LSTM forget gates
    with many right-saturated units (long-term memory) and almost none that are left-saturated.
    """
    if not 0 <= low < high <= 1:
        raise ValueError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
    out = []
    for gates in layers:
        out.append(
            {
                name: Saturation(
                    (value < low).double().mean(0).to(value.dtype),
                    (value > high).double().mean(0).to(value.dtype),
                )
                for name, value in gates.items()
                if name in SIGMOID_GATES
            }
        )
    return out


def forward_gates(spec: RecurrentSpec, sequences: Sequence[Tensor]) -> list[dict[str, Tensor]]:
    """Every layer's gates over several sequences, concatenated along time (forward pass only)."""
    per_layer: list[dict[str, list[Tensor]]] = [{} for _ in range(spec.num_layers)]
    for seq in sequences:
        passes, _, _ = forward_layers(spec, seq, spec.num_layers - 1)
        for layer, p in enumerate(passes):
            for name, value in p.gates.items():
                per_layer[layer].setdefault(name, []).append(value)
    return [{name: torch.cat(values) for name, values in gates.items()} for gates in per_layer]


# ---- connectivity (Distill, "Visualizing memorization in RNNs") -----------------------------------


def connectivity(
    spec: RecurrentSpec,
    x: object,
    layer: int,
    unit: int,
    step: int,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
) -> Tensor:
    """||d h_step[unit] / d x_s|| for every input step s (T,); exactly 0 for s > step.

    How strongly unit ``unit`` of ``layer`` at ``step`` depends on each earlier input, through
    every path (the recurrence and the layers below). One trace with a unit objective.
    """
    tr = trace_spec(spec, x, h0, c0, UnitObjective(layer, unit, step))
    norms: Tensor = torch.linalg.vector_norm(tr.grad_input, dim=1)
    return norms


# ---- pattern search (LSTMVis, Strobelt et al. 2018) ----------------------------------------------


@dataclass(frozen=True)
class PatternMatch:
    start: int  # the window is [start, end)
    end: int
    score: float  # Jaccard overlap of its on-units with the query's
    units: list[int]  # units on throughout both the query and this window


@dataclass(frozen=True)
class PatternResult:
    units: list[int]  # units on (> threshold) at every step of the query
    matches: list[PatternMatch]


def pattern_search(hidden: Tensor, start: int, end: int, threshold: float, top: int = 10) -> PatternResult:
    """Units on across [start, end), and other windows of the same length where the same are on.

    A unit is *on* in a window if its value is > ``threshold`` at every step of it. Every other
    window of the query's length is scored by the Jaccard overlap |Q ∩ S| / |Q ∪ S| of its on-set
    S with the query's Q. Windows that overlap the query are left out; the best are taken greedily,
    each overlapping none taken before it (otherwise the top ten would be one match shifted by a
    step), ties to the earliest. Windows sharing no unit with the query are not matches.
    Cost: O(T H) with prefix sums and one matrix-vector product, whatever the query's length.
    """
    steps, _ = hidden.shape
    if not 0 <= start < end <= steps:
        raise ValueError(f"the span must satisfy 0 <= start < end <= {steps}, got [{start}, {end})")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    length = end - start
    off = (hidden <= threshold).to(torch.int32)  # (T, H)
    off_before = torch.cat([off.new_zeros(1, off.shape[1]), off.cumsum(0)])  # (T+1, H)
    on = (off_before[length:] - off_before[:-length]) == 0  # (W, H): on throughout window j
    query = on[start]  # (H,)
    on_f = on.to(torch.float64)
    shared = on_f @ query.to(torch.float64)  # (W,) |Q ∩ S_j|
    union = on_f.sum(1) + float(query.sum()) - shared
    score = torch.where(union > 0, shared / union.clamp_min(1), torch.zeros_like(shared))
    starts = torch.arange(score.shape[0])
    allowed = (starts + length <= start) | (starts >= end)
    score = torch.where(allowed & (shared > 0), score, torch.full_like(score, -1.0))
    order = torch.sort(score, descending=True, stable=True).indices.tolist()
    scores = score.tolist()
    matches: list[PatternMatch] = []
    for j in order:
        if scores[j] <= 0 or len(matches) == top:
            break
        if any(j < m.end and m.start < j + length for m in matches):
            continue
        units = (on[j] & query).nonzero().flatten().tolist()
        matches.append(PatternMatch(j, j + length, scores[j], units))
    return PatternResult(query.nonzero().flatten().tolist(), matches)


# ---- torch's GRU against the textbook GRU ---------------------------------------------------------


@dataclass(frozen=True)
class VariantComparison:
    """Every GRU variant on the same weights and input, per layer: its hidden states (T, H), and
    ||h_t(variant) - h_t(torch)|| (T,) for the reset-before variants."""

    hidden: dict[str, list[Tensor]]
    difference: dict[str, list[Tensor]]


def gru_variant_difference(spec: RecurrentSpec, x: object, h0: Tensor | None = None) -> VariantComparison:
    """Run torch.nn.GRU's, Cho et al.'s and Chung et al.'s equations on the same weights, input, h0."""
    if spec.arch != "gru":
        raise ValueError(f"the GRU variants apply to GRU models only; this model is an {spec.arch.upper()}")
    last = spec.num_layers - 1
    hidden: dict[str, list[Tensor]] = {}
    for variant in GRU_VARIANTS:
        passes, _, _ = forward_layers(with_gru_variant(spec, variant), x, last, h0)
        hidden[variant] = [p.hidden for p in passes]
    difference: dict[str, list[Tensor]] = {
        variant: [(a - b).norm(dim=1) for a, b in zip(hidden["torch"], hidden[variant], strict=True)]
        for variant in GRU_VARIANTS
        if variant != "torch"
    }
    return VariantComparison(hidden, difference)


# ---- the equations with one unit's numbers --------------------------------------------------------


def equation_terms(
    spec: RecurrentSpec, x: object, layer: int, unit: int, step: int
) -> dict[str, dict[str, float]]:
    """Every term of the cell's equations for one unit at one step, ready to plug into the text.

    The state h_{t-1} (and c_{t-1}) comes from running ``spec`` (its own GRU variant); for a stack
    that reads right to left it is the state at t + 1. For a GRU, every variant's equations are
    evaluated on that same x_t and h_{t-1}: ``"torch"`` (reset after
    W_hn, z keeps h), ``"cho"`` (reset before W_hn, z keeps h) and ``"chung"`` (reset before W_hn,
    z takes the candidate), so the columns differ only by the equations. Term names: ``Wx_<gate>``
    = (W_i· x_t + b_i·)[unit], ``Uh_<gate>`` = (W_h· h_{t-1} + b_h·)[unit], ``a_<gate>`` =
    pre-activation, then the gates and states; for the reset-before variants ``Uh_n`` =
    (W_hn (r ⊙ h_{t-1}) + b_hn)[unit].
    """
    layer = resolve_layer(spec, layer)
    size = spec.hidden_sizes[layer]  # this layer's H (a stack's layers may differ)
    if not -size <= unit < size:
        which = f"layer {layer} has {size} units" if spec.mixed else f"hidden_size is {size}"
        raise ValueError(f"unit {unit} out of range: {which}")
    passes, h_init, c_init = forward_layers(spec, x, layer)
    steps = passes[layer].hidden.shape[0]
    if not -steps <= step < steps:
        raise ValueError(f"step {step} out of range: the sequence has {steps}")
    unit, step = unit % size, step % steps
    seq = as_sequence(x, spec.input_size, spec.dtype) if layer == 0 else passes[layer - 1].hidden
    p, w = passes[layer], spec.layers[layer]
    x_t = seq[step]
    # The state the step started from: step t - 1's, or t + 1's for a stack reading right to left.
    first, before = (steps - 1, step + 1) if spec.right_to_left else (0, step - 1)
    h_prev = h_init[layer] if step == first else p.hidden[before]
    wx = w.w_ih @ x_t + (0 if w.b_ih is None else w.b_ih)  # (G*H,)
    uh = w.w_hh @ h_prev + (0 if w.b_hh is None else w.b_hh)  # (G*H,)
    rows = {name: k * size + unit for k, name in enumerate(spec.gate_names or ("h",))}

    def at(v: Tensor, row: int) -> float:
        return float(v[row])

    if spec.arch == "rnn":
        terms = {"Wx": at(wx, unit), "Uh": at(uh, unit), "h_prev": float(h_prev[unit])}
        terms["a"] = terms["Wx"] + terms["Uh"]
        terms["h"] = float(p.hidden[step, unit])
        return {spec.nonlinearity: terms}
    if spec.arch == "lstm":
        assert p.cell is not None
        c_prev = c_init[layer] if step == first else p.cell[before]
        terms = {"h_prev": float(h_prev[unit]), "c_prev": float(c_prev[unit])}
        for name, row in rows.items():
            terms[f"Wx_{name}"], terms[f"Uh_{name}"] = at(wx, row), at(uh, row)
            terms[f"a_{name}"] = terms[f"Wx_{name}"] + terms[f"Uh_{name}"]
            terms[name] = float(p.gates[name][step, unit])
        terms["c"] = float(p.cell[step, unit])
        terms["tanh_c"] = float(torch.tanh(p.cell[step, unit]))
        terms["h"] = float(p.hidden[step, unit])
        return {"lstm": terms}
    return _gru_terms(wx, uh, w, h_prev, unit)


def _gru_terms(
    wx: Tensor, uh: Tensor, w: LayerWeights, h_prev: Tensor, unit: int
) -> dict[str, dict[str, float]]:
    """`equation_terms` of a GRU: every variant's equations on the same x_t and h_{t-1}.

    wx = W_ih x_t + b_ih and uh = W_hh h_{t-1} + b_hh, (3H,) each, rows (r|z|n).
    """
    size = h_prev.shape[0]
    rows = {name: k * size + unit for k, name in enumerate(("r", "z", "n"))}
    out: dict[str, dict[str, float]] = {}
    rz = torch.sigmoid(wx[: 2 * size] + uh[: 2 * size])
    r, z = rz[:size], rz[size:]
    b_hn = 0 if w.b_hh is None else w.b_hh[2 * size + unit]
    for variant in GRU_VARIANTS:
        terms = {"h_prev": float(h_prev[unit])}
        for name in ("r", "z"):
            row = rows[name]
            terms[f"Wx_{name}"], terms[f"Uh_{name}"] = float(wx[row]), float(uh[row])
            terms[f"a_{name}"] = terms[f"Wx_{name}"] + terms[f"Uh_{name}"]
        terms["r"], terms["z"] = float(r[unit]), float(z[unit])
        terms["Wx_n"] = float(wx[rows["n"]])
        if variant == "torch":
            terms["Uh_n"] = float(uh[rows["n"]])  # W_hn h + b_hn, then times r
            terms["a_n"] = terms["Wx_n"] + terms["r"] * terms["Uh_n"]
        else:  # W_hn (r ⊙ h) + b_hn
            terms["Uh_n"] = float(w.w_hh[rows["n"]] @ (r * h_prev)) + float(b_hn)
            terms["a_n"] = terms["Wx_n"] + terms["Uh_n"]
        terms["n"] = float(torch.tanh(torch.tensor(terms["a_n"], dtype=torch.float64)))
        zt, n, hp = terms["z"], terms["n"], terms["h_prev"]
        # torch and cho: z keeps the old state; chung: z takes the candidate.
        terms["h"] = (1 - zt) * hp + zt * n if variant == "chung" else (1 - zt) * n + zt * hp
        out[variant] = terms
    return out


def top_predictions(head: nn.Linear, outputs: Tensor, kind: str, k: int = 5) -> tuple[Tensor, Tensor]:
    """Each step's ``k`` most probable classes of a head over ``outputs`` (T, W): (indices (T, k),
    probabilities (T, k)), by softmax for ``kind="classes"`` and by σ, each class on its own, for
    ``"sigmoids"`` (as Karpathy et al. 2015 show a character model's guesses under the text)."""
    with torch.no_grad():
        logits = head(outputs)
        probs = torch.softmax(logits, dim=-1) if kind == "classes" else torch.sigmoid(logits)
        top = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return top.indices, top.values
