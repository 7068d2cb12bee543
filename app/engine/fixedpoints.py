"""Fixed and slow points of a recurrent layer under a constant input (Sussillo & Barak 2013).

With the input held at x, one step of the stack is a map s_t = F(s_{t-1}). A fixed point has
F(s*) = s*; a slow point has F(s) - s small. We minimize

    q(s) = 0.5 ||F(s) - s||²

from starts taken from a real trajectory, then linearize: near s*, s_t - s* ≈ J^t (s_0 - s*) with
J = dF/ds at s*, so s* is stable when every |λ(J)| < 1, and a mode with eigenvalue λ decays (or
grows) by e every -1/log|λ| steps, its time constant.

The state s is the layer's h, and c too for an LSTM: s = [h; c]. For a layer l > 0 it is the
state of layers 0..l together, [h_0; c_0; ...; h_l; c_l]: layer l reads layer l-1's output, which
is constant only at a fixed point of the layers below, so the stack up to l is one system. The
eigenvalues are then the whole stack's (its Jacobian is block triangular, so they are the union
of each layer's at the fixed point). Everything runs in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from gatescope.engine.gradflow import forward_layers, resolve_layer
from gatescope.engine.interventions import cell_step, input_part
from gatescope.engine.spec import LayerWeights, RecurrentSpec

StepMap = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class FixedPoint:
    state: Tensor  # (S,) the stack's state up to the layer, float64
    hidden: Tensor  # (H,) the layer's h
    cell: Tensor | None  # (H,) the layer's c, LSTM only
    speed: float  # q(s) = 0.5 ||F(s) - s||²
    eigenvalues: Tensor  # (S,) complex128, of dF/ds, largest |λ| first

    @property
    def stable(self) -> bool:
        return bool(self.eigenvalues.abs().max() < 1)

    @property
    def time_constants(self) -> list[float]:
        """-1 / log|λ| per eigenvalue, in steps: positive for decaying modes, negative for growing
        ones (the e-folding time of the growth), inf at |λ| = 1 and 0 at λ = 0."""
        out = []
        for modulus in self.eigenvalues.abs().tolist():
            out.append(0.0 if modulus == 0 else math.inf if modulus == 1 else -1 / math.log(modulus))
        return out


def _double(spec: RecurrentSpec) -> RecurrentSpec:
    def d(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.double()

    def cast(w: LayerWeights) -> LayerWeights:
        return LayerWeights(w.w_ih.double(), w.w_hh.double(), d(w.b_ih), d(w.b_hh), d(w.w_hr))

    return replace(spec, layers=tuple(cast(w) for w in spec.layers))


def state_offsets(spec: RecurrentSpec) -> list[int]:
    """Where each layer's share of s starts, and (last) where the whole stack's ends: a layer's
    share is H_l, or 2 H_l for an LSTM (layers may differ in size)."""
    offsets = [0]
    for size in spec.hidden_sizes:
        offsets.append(offsets[-1] + (2 * size if spec.arch == "lstm" else size))
    return offsets


def step_map(spec: RecurrentSpec, layer: int, x: Tensor) -> StepMap:
    """F: the state of layers 0..layer (..., S) to the state one step later under input x (I,),
    in float64. Any leading dimensions batch."""
    spec = _double(spec)
    offsets = state_offsets(spec)
    x = x.double()

    def step(s: Tensor) -> Tensor:
        out, inp = [], x
        for below in range(layer + 1):
            size = spec.hidden_sizes[below]
            part = s[..., offsets[below] : offsets[below + 1]]
            h, c = (part[..., :size], part[..., size:]) if spec.arch == "lstm" else (part, None)
            w = spec.layers[below]
            _, h, c = cell_step(spec, w, input_part(w, inp), h, c)
            out += [h] if c is None else [h, c]
            inp = h
        return torch.cat(out, -1)

    return step


def trajectory_states(spec: RecurrentSpec, x: object, layer: int) -> Tensor:
    """The stack's states s_t (T, S) up to ``layer`` over a sequence, in float64."""
    passes, _, _ = forward_layers(spec, x, layer)
    parts = [t for p in passes for t in ([p.hidden] if p.cell is None else [p.hidden, p.cell])]
    return torch.cat(parts, 1).double()


def _speeds(step: StepMap, s: Tensor) -> Tensor:
    return 0.5 * (step(s) - s).pow(2).sum(-1)


def minimize_speed(step: StepMap, starts: Tensor, iterations: int = 500) -> Tensor:
    """Minimize q from each start (K, S) at once with L-BFGS on the sum of the q's (each start's
    gradient is its own, so the sum's minimizers are the starts' minimizers). Returns (K, S)."""
    s = starts.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [s],
        lr=1.0,
        max_iter=iterations,
        history_size=20,
        tolerance_grad=1e-12,
        tolerance_change=1e-16,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = _speeds(step, s).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    with torch.enable_grad():
        optimizer.step(closure)  # type: ignore[no-untyped-call]
    return s.detach()


def deduplicate(points: Tensor, speeds: Tensor, tolerance: float) -> list[int]:
    """Indices of distinct points, slowest first: a point is dropped if it lies within
    ``tolerance`` · max(1, ||p||) of a slower one already kept."""
    kept: list[int] = []
    for k in torch.argsort(speeds).tolist():
        p = points[k]
        limit = tolerance * max(1.0, float(p.norm()))
        if all(float((points[j] - p).norm()) > limit for j in kept):
            kept.append(k)
    return kept


def jacobians(step: StepMap, points: Tensor) -> Tensor:
    """dF/ds at each point (K, S) -> (K, S, S), by reverse mode in float64."""
    result: Tensor = torch.func.vmap(torch.func.jacrev(step))(points)
    return result


def fixed_points(
    spec: RecurrentSpec,
    x: Tensor,
    trajectory: object,
    layer: int = 0,
    count: int = 64,
    seed: int = 0,
    tolerance: float = 1e-3,
) -> list[FixedPoint]:
    """Fixed and slow points of the stack up to ``layer`` under the constant input ``x`` (I,),
    searched from ``count`` states of the stack over ``trajectory`` (T, I), picked at random
    with ``seed`` (all of them, repeated, if there are fewer). Deduplicated (see `deduplicate`),
    slowest first. Unidirectional models without projections only (ValueError otherwise)."""
    layer = resolve_layer(spec, layer)
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    states = trajectory_states(spec, trajectory, layer)  # (T, S)
    generator = torch.Generator().manual_seed(seed)
    if count <= states.shape[0]:
        index = torch.randperm(states.shape[0], generator=generator)[:count]
    else:
        index = torch.randint(0, states.shape[0], (count,), generator=generator)
    step = step_map(spec, layer, x)
    found = minimize_speed(step, states[index])
    with torch.no_grad():
        speeds = _speeds(step, found)
    kept = deduplicate(found, speeds, tolerance)
    points = found[kept]
    eigenvalues = torch.linalg.eigvals(jacobians(step, points))  # (K, S)
    order = torch.argsort(eigenvalues.abs(), dim=1, descending=True)
    eigenvalues = torch.gather(eigenvalues, 1, order)
    size, offsets = spec.hidden_sizes[layer], state_offsets(spec)
    out = []
    for k, j in enumerate(kept):
        own = points[k, offsets[layer] : offsets[layer + 1]]
        cell = own[size:] if spec.arch == "lstm" else None
        out.append(FixedPoint(points[k], own[:size], cell, float(speeds[j]), eigenvalues[k]))
    return out
