"""Attribution per step and input: how much each input number x_t[i] contributed to the objective.

gradient × input      A = (x - b) ⊙ dL/dx at x                         (b = 0 by default)
integrated gradients  A = (x - b) ⊙ ∫_0^1 dL/dx at b + α (x - b) dα    (Sundararajan et al. 2017)

Integrated gradients satisfy completeness, Σ A = L(x) - L(b), up to the error of the quadrature;
we integrate with ``steps``-point Gauss-Legendre nodes on [0, 1] (exact for polynomials of degree
2·steps - 1 in α, so far fewer steps than a Riemann sum need), and report the remaining error.
Each node is one exact trace (`trace_spec`), so the gradients are the engine's own.

The input is what the recurrent module reads: for a model with an embedding that is the embedded
rows (T, embedding width), not the token ids; for a text model without one, the one-hot rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from gatescope.engine.spec import RecurrentSpec
from gatescope.engine.trace import Objective, as_sequence, trace_spec

Method = Literal["gradient_x_input", "integrated_gradients"]
METHODS: tuple[Method, ...] = ("gradient_x_input", "integrated_gradients")


@dataclass(frozen=True)
class Attribution:
    attribution: Tensor  # (T, I)
    per_step: Tensor  # (T,): the row sums
    objective_value: float  # L(x)
    baseline_value: float  # L(b)
    completeness_error: float  # (Σ A - (L(x) - L(b))) / |L(x) - L(b)|; absolute when they are equal


def gauss_legendre(steps: int) -> tuple[Tensor, Tensor]:
    """Nodes and weights of the ``steps``-point Gauss-Legendre rule on [0, 1], float64."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return torch.from_numpy((nodes + 1) / 2), torch.from_numpy(weights / 2)


def _baseline(baseline: object | None, x: Tensor) -> Tensor:
    """Zeros, one row repeated over every step, or a (T, I) sequence like x."""
    if baseline is None:
        return torch.zeros_like(x)
    b = torch.as_tensor(baseline)
    if b.dim() == 1:
        b = b.unsqueeze(0)
    if b.dim() == 2 and b.shape[0] == 1 and x.shape[0] > 1:
        b = b.expand(x.shape[0], -1)
    if b.dim() == 2 and b.shape[0] != x.shape[0]:
        raise ValueError(f"baseline has {b.shape[0]} rows: give one row or one per step ({x.shape[0]})")
    return as_sequence(b, x.shape[1], x.dtype)


def attribute(
    spec: RecurrentSpec,
    x: object,
    objective: Objective = "hidden_norm",
    method: str = "integrated_gradients",
    steps: int = 8,
    baseline: object | None = None,
) -> Attribution:
    """Attribution of ``objective`` (as `trace` takes it) to every input number of ``x`` (T, I).

    ``baseline``: None (zeros), one row (I,) for every step, or (T, I). ``steps``: quadrature
    nodes of integrated gradients (ignored by gradient × input). ValueError for an unknown method,
    steps < 1, or a baseline of the wrong shape.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    seq = as_sequence(x, spec.input_size, spec.dtype)
    base = _baseline(baseline, seq)
    at_x = trace_spec(spec, seq, objective=objective)
    at_baseline = trace_spec(spec, base, objective=objective)
    delta = (seq - base).double()
    if method == "gradient_x_input":
        average = at_x.grad_input.double()
    else:
        nodes, weights = gauss_legendre(steps)
        average = torch.zeros_like(delta)
        for alpha, weight in zip(nodes.tolist(), weights.tolist(), strict=True):
            point = base + alpha * (seq - base)
            average += weight * trace_spec(spec, point, objective=objective).grad_input.double()
    attribution = delta * average
    change = at_x.loss - at_baseline.loss
    error = float(attribution.sum()) - change
    relative = error / abs(change) if change != 0 else error
    return Attribution(attribution, attribution.sum(1), at_x.loss, at_baseline.loss, relative)
