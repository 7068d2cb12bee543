"""/api/analysis/{fixed-points,projection,attribution}: the dynamics views of one model (issue 11).

Validate, call the engine (`gatescope.engine.fixedpoints`, `projection`, `attribution`),
serialize. Interventions are part of POST /api/trace and the trace stream; units across a corpus
are in `gatescope.web.api.units`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from fastapi import APIRouter, Response

from gatescope.engine import RecurrentSpec
from gatescope.engine.attribution import attribute
from gatescope.engine.fixedpoints import fixed_points
from gatescope.engine.gradflow import forward_layers, resolve_layer
from gatescope.engine.projection import Projection, project, project_paths
from gatescope.web.api.common import header, model_input
from gatescope.web.deps import RegistryDep, SettingsDep, find_model, user_errors
from gatescope.web.inputs import objective_from_request, sequence_from_request
from gatescope.web.payloads import array, json_response
from gatescope.web.schemas import (
    AttributionRequest,
    FixedPointsRequest,
    ProjectedModel,
    ProjectionRequest,
    SequenceInput,
)
from gatescope.zoo.registry import LoadedModel

router = APIRouter(prefix="/api/analysis", tags=["analysis"])


def _trajectory(model: LoadedModel, given: SequenceInput | None, max_steps: int) -> torch.Tensor:
    """The sequence whose states seed the fixed-point search: the given one or the first preset."""
    if given is None:
        presets = model.record.get("presets") or []
        if not presets:
            raise ValueError(f"model {model.id!r} has no preset input: send a 'trajectory'")
        given = SequenceInput(**{k: v for k, v in presets[0].items() if k in ("inputs", "text", "tokens")})
    x, _ = sequence_from_request(model, given, max_steps)
    return x


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@router.post("/fixed-points", response_class=Response)
def post_fixed_points(body: FixedPointsRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Fixed and slow points under a constant input (Sussillo & Barak 2013): q(s) = 0.5 ||F(s) -
    s||² minimized by L-BFGS from ``count`` states of the model over ``trajectory`` (default: its
    first preset), deduplicated, slowest first. F is one step of the stack up to ``layer`` under
    the input (one row, character or token); for an LSTM the state is [h; c], and for a layer
    l > 0 it includes the layers below (see gatescope.engine.fixedpoints). Each point: the layer's
    ``hidden`` and ``cell`` (LSTM; else null), ``speed`` = q, ``eigenvalues`` of dF/ds as [re, im]
    by |λ| descending, ``stable`` (max |λ| < 1) and ``time_constants`` -1/log|λ| in steps (null
    where |λ| = 1). Unidirectional models without projections."""
    model, spec, x, tokens = model_input(body, registry, settings)
    with user_errors():
        if x.shape[0] != 1:
            raise ValueError(
                f"the constant input must be one step (one row, character or token), got {x.shape[0]}"
            )
        layer = resolve_layer(spec, body.layer)
        trajectory = _trajectory(model, body.trajectory, settings.max_steps)
        points = fixed_points(spec, x[0], trajectory, layer, body.count, body.seed, body.tolerance)
    return json_response(
        {
            **header(model, spec, x, tokens),
            "layer": layer,
            "trajectory_steps": int(trajectory.shape[0]),
            "points": [
                {
                    "hidden": array(p.hidden),
                    "cell": None if p.cell is None else array(p.cell),
                    "speed": p.speed,
                    "eigenvalues": torch.view_as_real(p.eigenvalues).tolist(),
                    "stable": p.stable,
                    "time_constants": [_finite(t) for t in p.time_constants],
                }
                for p in points
            ],
        }
    )


@dataclass(frozen=True)
class _Run:
    """One model's states on the input, and the states its PCA is fitted on."""

    layer: int
    states: torch.Tensor  # (T, H)
    fit: list[torch.Tensor]  # each (T_i, H): the fit inputs' states, or [states]


def _run(
    model: LoadedModel,
    spec: RecurrentSpec,
    x: torch.Tensor,
    layer: int,
    fit: list[SequenceInput],
    max_steps: int,
) -> _Run:
    layer = resolve_layer(spec, layer)
    states = forward_layers(spec, x, layer)[0][layer].hidden
    fitted = [
        forward_layers(spec, sequence_from_request(model, f, max_steps)[0], layer)[0][layer].hidden
        for f in fit
    ]
    return _Run(layer, states, fitted or [states])


@contextmanager
def _naming(k: int, other: ProjectedModel) -> Iterator[None]:
    """A ValueError about others[k] says which entry and model it is about."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"others[{k}] ({other.model!r}): {exc}") from None


def _other_run(
    k: int, other: ProjectedModel, model: LoadedModel, body: ProjectionRequest, hidden: int, max_steps: int
) -> _Run:
    """others[k]'s run on the request's input; ``hidden``: the width of the states it must share
    axes with (this model's layer's)."""
    with _naming(k, other):
        spec = model.spec_for(other.gru_variant)
        x, _ = sequence_from_request(model, body, max_steps)
        run = _run(model, spec, x, other.layer, body.fit or [], max_steps)
        width = int(run.states.shape[1])  # its layer's own size: a stack's layers may differ
        if other.axes == "shared" and width != hidden:
            raise ValueError(
                f"axes 'shared' needs the same hidden size: it has {width} units and "
                f"{body.model!r} has {hidden}; ask for axes 'own' (its own principal components)"
            )
        return run


def _projected(result: Projection) -> dict[str, Any]:
    return {
        "points": array(result.points),
        "explained_variance_ratio": array(result.explained_variance_ratio),
        "components": array(result.components),
        "mean": array(result.mean),
    }


@router.post("/projection", response_class=Response)
def post_projection(body: ProjectionRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """The layer's hidden states over the input projected on their first ``components`` principal
    components (fitted on the ``fit`` inputs' states when given, else on this input's):
    ``points`` T x k, ``explained_variance_ratio`` k, ``components`` k x H, ``mean`` H.

    ``others``: more models on the same input, answered in order as ``paths`` (each with its
    model, layer, hidden_size, axes and the four fields above). A model with axes 'shared' (same
    hidden size) joins this one's PCA: the components are fitted on all their states together
    (``fit_steps`` counts them) and every shared path, this model's too, is projected on them. A
    model with axes 'own' gets a PCA of its own states, in coordinates of its own."""
    model, spec, x, tokens = model_input(body, registry, settings)
    models = [find_model(registry, other.model) for other in body.others]
    with user_errors():
        runs = [_run(model, spec, x, body.layer, body.fit or [], settings.max_steps)]
        runs += [
            _other_run(k, other, m, body, int(runs[0].states.shape[1]), settings.max_steps)
            for k, (other, m) in enumerate(zip(body.others, models, strict=True))
        ]
        group = [0] + [k + 1 for k, other in enumerate(body.others) if other.axes == "shared"]
        fit = [f for i in group for f in runs[i].fit]
        shared = dict(
            zip(group, project_paths([runs[i].states for i in group], body.components, fit), strict=True)
        )
        own: dict[int, Projection] = {}
        for k, other in enumerate(body.others):
            if other.axes == "own":
                with _naming(k, other):
                    own[k + 1] = project(
                        runs[k + 1].states, other.components or body.components, runs[k + 1].fit
                    )
    paths = [
        {
            "model": m.id,
            "arch": m.spec.arch,
            "layer": runs[k + 1].layer,
            "hidden_size": int(runs[k + 1].states.shape[1]),  # the layer's
            "axes": other.axes,
            "steps": int(runs[k + 1].states.shape[0]),
            "fit_steps": sum(int(f.shape[0]) for f in (fit if other.axes == "shared" else runs[k + 1].fit)),
            **_projected(shared[k + 1] if other.axes == "shared" else own[k + 1]),
        }
        for k, (other, m) in enumerate(zip(body.others, models, strict=True))
    ]
    return json_response(
        {
            **header(model, spec, x, tokens),
            "layer": runs[0].layer,
            "fit_steps": sum(int(f.shape[0]) for f in fit),
            **_projected(shared[0]),
            "paths": paths,
        }
    )


@router.post("/attribution", response_class=Response)
def post_attribution(body: AttributionRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """How much each input number contributed to the objective (as /api/trace takes it):
    ``gradient_x_input`` (x - b) ⊙ dL/dx, or ``integrated_gradients`` with ``steps`` Gauss-Legendre
    nodes. ``attribution`` T x I, ``per_step`` its row sums, ``objective_value`` L(x),
    ``baseline_value`` L(b) (b: ``baseline``, default zeros), ``completeness_error`` (Σ A -
    (L(x) - L(b))) / |L(x) - L(b)|. The input is what the recurrent module reads: the one-hot rows
    of a text model, the embedded rows of a model with an embedding (``input`` says which)."""
    model, spec, x, tokens = model_input(body, registry, settings)
    with user_errors():
        objective = objective_from_request(model, body.objective, x, tokens)
        result = attribute(spec, x, objective, body.method, body.steps, body.baseline)
    kind = "inputs" if tokens is None else "one-hot" if model.embedding is None else "embedding"
    return json_response(
        {
            **header(model, spec, x, tokens),
            "method": body.method,
            "integration_steps": body.steps if body.method == "integrated_gradients" else None,
            "input": kind,
            "attribution": array(result.attribution),
            "per_step": array(result.per_step),
            "objective_value": result.objective_value,
            "baseline_value": result.baseline_value,
            "completeness_error": result.completeness_error,
        }
    )
