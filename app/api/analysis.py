"""/api/analysis/*: the analysis views' numbers (gradient flow, saturation, connectivity, patterns,
cost, the two GRUs, the equations with one unit's numbers). Validate, call the engine, serialize.

Curves are arrays indexed by step t = 0..T-1; log10 values that are -inf (an exactly zero norm)
are sent as null.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import torch
from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from app.api.deps import RegistryDep, SettingsDep, find_model, user_errors
from app.cost import measure_cost
from app.engine import RecurrentSpec, parameter_count, spec_from_module, with_gru_variant
from app.engine.analysis import (
    connectivity,
    equation_terms,
    forward_gates,
    gru_variant_difference,
    pattern_search,
    saturation,
)
from app.engine.gradflow import (
    forward_layers,
    gradient_flow,
    gradient_slope,
    resolve_layer,
    spectral_radius,
    with_forget_bias,
    with_recurrent_radius,
)
from app.registry import LoadedModel, ModelRegistry, build_module
from app.settings import Settings
from app.tracing import dumps, sequence_from_request

router = APIRouter(prefix="/api/analysis", tags=["analysis"])

#: Cost caps that keep each answer near a second: the lab's Jacobian costs T·H² per step of work
#: (1000 x 128² at H=128, T=1000), the cost table's training step layers·H²·T·batch.
MAX_LAB_WORK = 2 * 1000 * 128 * 128
MAX_COST_WORK = 2 * 256 * 256 * 32 * 16
SLOPE_UNIT = "decades per step: the least-squares slope of log10 of the norm against distance T-1-t"


def _json(payload: object) -> Response:
    return Response(dumps(payload), media_type="application/json")


def _array(t: torch.Tensor) -> np.ndarray[Any, Any]:
    return np.ascontiguousarray(t.detach().to(torch.float32).numpy())


class ModelInput(BaseModel):
    """A model and one input, as for POST /api/trace."""

    model: str = Field(description="a model id from GET /api/models")
    inputs: list[list[float]] | None = Field(None, description="T rows of input_size numbers")
    text: str | None = Field(None, description="text, for models with a vocabulary")
    gru_variant: Literal["torch", "cho"] = Field(
        "torch", description="GRU only: torch.nn.GRU's equations or Cho et al. (2014)'s textbook GRU"
    )


def _model_input(
    body: ModelInput, registry: ModelRegistry, settings: Settings
) -> tuple[LoadedModel, RecurrentSpec, torch.Tensor, list[str] | None]:
    model = find_model(registry, body.model)
    with user_errors():
        spec = with_gru_variant(model.spec, body.gru_variant)
        x, tokens = sequence_from_request(model, body.inputs, body.text, settings.max_steps)
    return model, spec, x, tokens


def _header(
    model: LoadedModel, spec: RecurrentSpec, x: torch.Tensor, tokens: list[str] | None
) -> dict[str, Any]:
    return {
        "model": model.id,
        "arch": spec.arch,
        "gru_variant": spec.gru_variant if spec.arch == "gru" else None,
        "steps": int(x.shape[0]),
        "tokens": tokens,
    }


# ---- vanishing-gradient lab ------------------------------------------------------------------------


class VanishingRequest(BaseModel):
    archs: list[Literal["rnn", "lstm", "gru", "gru_cho"]] = Field(
        ["rnn", "lstm", "gru"], description="which models to build; gru_cho is the textbook GRU"
    )
    steps: int = Field(100, description="sequence length T")
    input_size: int = 8
    hidden_size: int = 64
    seed: int = Field(0, description="seeds the weights (torch's default init) and the N(0, 1) input")
    scale: float | None = Field(
        None, description="spectral radius of each gate's H x H block of W_hh; null keeps torch's init"
    )
    forget_bias: float | None = Field(
        None, description="LSTM: b_if + b_hf (1.0 per Jozefowicz et al. 2015); null keeps torch's init"
    )
    nonlinearity: Literal["tanh", "relu"] = Field("tanh", description="the plain RNN's")
    clip: float | None = Field(None, description="also return dL/dh_t clipped to this norm at every step")


def _lab_spec(arch: str, body: VanishingRequest) -> RecurrentSpec:
    base = "gru" if arch == "gru_cho" else arch
    generator = torch.Generator().manual_seed(body.seed)
    module = build_module(base, body.input_size, body.hidden_size, 1, body.nonlinearity, True, generator)
    spec = spec_from_module(module)
    if arch == "gru_cho":
        spec = with_gru_variant(spec, "cho")
    if body.scale is not None:
        spec = with_recurrent_radius(spec, body.scale)
    if body.forget_bias is not None and base == "lstm":
        spec = with_forget_bias(spec, body.forget_bias)
    return spec


@router.post("/vanishing", response_class=Response)
def post_vanishing(body: VanishingRequest, settings: SettingsDep) -> Response:
    """The vanishing-gradient lab: RNN, LSTM and GRU built from one seed, run on the same input.

    Each model is one layer (torch's default init from ``seed``, then the knobs), the input is
    N(0, 1) of shape (steps, input_size) from the same seed, and L = 0.5 ||h_{T-1}||². Per arch:

    - ``grad_log10[t]`` = log10 ||dL/dh_t|| and ``jacobian_log10[t]`` = log10 ||dh_{T-1}/dh_t||_F
      (from H batched cotangents), exact in log space even where float32 would over/underflow;
    - ``clipped_log10[t]`` (with ``clip``): dL/dh_t clipped to norm ``clip`` at every step before
      flowing back (capping the curve). Pascanu et al. (2013) instead clip the *parameter*
      gradient after backprop: one factor for all t, which shifts the curve without changing its
      slope;
    - ``grad_slope``, ``jacobian_slope``, ``clipped_slope`` in decades per step (negative:
      vanishing, positive: exploding); ``spectral_radius`` of each gate's block of W_hh.

    Bounds: steps ≤ max_steps, hidden_size ≤ 256 and steps·hidden_size² ≤ 2·1000·128².
    """
    if not 2 <= body.steps <= settings.max_steps:
        raise HTTPException(422, f"steps must be between 2 and {settings.max_steps}, got {body.steps}")
    if not 1 <= body.hidden_size <= 256:
        raise HTTPException(422, f"hidden_size must be between 1 and 256, got {body.hidden_size}")
    if not 1 <= body.input_size <= settings.max_input_size:
        raise HTTPException(
            422, f"input_size must be between 1 and {settings.max_input_size}, got {body.input_size}"
        )
    if body.steps * body.hidden_size**2 > MAX_LAB_WORK:
        raise HTTPException(
            422,
            f"steps x hidden_size² = {body.steps * body.hidden_size**2} is over {MAX_LAB_WORK}: "
            "use fewer steps or a smaller hidden size (for example T=1000 with H=128)",
        )
    if body.scale is not None and not 0 < body.scale <= 20:
        raise HTTPException(422, f"scale (spectral radius) must be in (0, 20], got {body.scale}")
    if not body.archs:
        raise HTTPException(422, "archs is empty: ask for at least one of rnn, lstm, gru, gru_cho")
    if not 0 <= body.seed < 2**31:
        raise HTTPException(422, f"seed must be between 0 and {2**31 - 1}, got {body.seed}")
    x = torch.randn(body.steps, body.input_size, generator=torch.Generator().manual_seed(body.seed))

    def one_arch(arch: str) -> dict[str, Any]:
        spec = _lab_spec(arch, body)
        flow = gradient_flow(spec, x, clip=body.clip)
        size = spec.hidden_size
        return {
            "grad_log10": _array(flow.grad_log10),
            "jacobian_log10": _array(flow.jacobian_log10),
            "clipped_log10": None if flow.clipped_log10 is None else _array(flow.clipped_log10),
            "grad_slope": gradient_slope(flow.grad_log10),
            "jacobian_slope": gradient_slope(flow.jacobian_log10),
            "clipped_slope": None if flow.clipped_log10 is None else gradient_slope(flow.clipped_log10),
            "spectral_radius": [spectral_radius(b) for b in torch.split(spec.layers[0].w_hh, size)],
            "params": parameter_count(spec),
        }

    with user_errors():
        if body.forget_bias is not None and not -20 <= body.forget_bias <= 20:
            raise ValueError(f"forget_bias must be between -20 and 20, got {body.forget_bias}")
        archs = list(dict.fromkeys(body.archs))
        # The models are independent and torch releases the GIL inside its ops: on 2 cores the
        # request takes about as long as its slowest model, not the sum.
        with ThreadPoolExecutor(max_workers=min(len(archs), os.cpu_count() or 1)) as pool:
            out: dict[str, Any] = dict(zip(archs, pool.map(one_arch, archs), strict=True))
    return _json(
        {
            "steps": body.steps,
            "objective": "L = 0.5 ||h_{T-1}||²",
            "slope_unit": SLOPE_UNIT,
            "clip": body.clip,
            "archs": out,
        }
    )


# ---- gate saturation -------------------------------------------------------------------------------


class SaturationRequest(ModelInput):
    source: Literal["input", "task"] = Field(
        "input", description="'input': this input; 'task': held-out sequences of the model's task"
    )
    sequences: int = Field(16, description="how many task sequences ('task' only), 1..64")
    low: float = 0.1
    high: float = 0.9


@router.post("/saturation", response_class=Response)
def post_saturation(body: SaturationRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Gate saturation (Karpathy, Johnson & Fei-Fei 2015): per layer, per sigmoid gate (LSTM i, f,
    o; GRU r, z), each unit's fraction of steps below ``low`` (``left``) and above ``high``
    (``right``), over the input (``source='input'``: send inputs or text as for /api/trace) or
    over ``sequences`` held-out sequences of the model's task (``source='task'``, task models
    only; inputs and text are then ignored). Plain RNNs have no gates: their layers are ``{}``.
    """
    model = find_model(registry, body.model)
    with user_errors():
        spec = with_gru_variant(model.spec, body.gru_variant)
        tokens = None
        if body.source == "task":
            if model.task is None:
                raise ValueError(f"model {model.id!r} has no task; use source 'input'")
            if not 1 <= body.sequences <= 64:
                raise ValueError(f"sequences must be between 1 and 64, got {body.sequences}")
            from app.tasks import get_task

            task = get_task(model.task)
            inputs, _ = task.batch(
                body.sequences, task.default_length, torch.Generator().manual_seed(0), split="held-out"
            )
            sequences = [seq.to(spec.dtype) for seq in inputs]
        else:
            x, tokens = sequence_from_request(model, body.inputs, body.text, settings.max_steps)
            sequences = [x]
        result = saturation(forward_gates(spec, sequences), body.low, body.high)
    return _json(
        {
            "model": model.id,
            "arch": spec.arch,
            "gru_variant": spec.gru_variant if spec.arch == "gru" else None,
            "source": body.source,
            "sequences": len(sequences),
            "steps": sum(int(s.shape[0]) for s in sequences),
            "tokens": tokens,
            "low": body.low,
            "high": body.high,
            "layers": [
                {name: {"left": _array(s.left), "right": _array(s.right)} for name, s in layer.items()}
                for layer in result
            ],
        }
    )


# ---- connectivity ----------------------------------------------------------------------------------


class ConnectivityRequest(ModelInput):
    layer: int = 0
    unit: int = 0
    step: int = Field(-1, description="negative counts from the end")


@router.post("/connectivity", response_class=Response)
def post_connectivity(body: ConnectivityRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """How strongly one unit at one step depends on each earlier input (Distill's connectivity):
    ``norms[s]`` = ||d h_step[unit] / d x_s|| for every input step s (0 after ``step``), through
    every path. ``value`` is h_step[unit]."""
    model, spec, x, tokens = _model_input(body, registry, settings)
    with user_errors():
        norms = connectivity(spec, x, body.layer, body.unit, body.step)
        layer = resolve_layer(spec, body.layer)
    steps = int(x.shape[0])
    return _json(
        {
            **_header(model, spec, x, tokens),
            "layer": layer,
            "unit": body.unit % spec.hidden_size,
            "step": body.step % steps,
            "norms": _array(norms),
        }
    )


# ---- pattern search --------------------------------------------------------------------------------


class PatternRequest(ModelInput):
    layer: int = 0
    start: int = Field(description="first step of the selected span")
    end: int = Field(description="one past its last step")
    threshold: float = Field(0.3, description="a unit is on where h > threshold")
    top: int = Field(10, description="how many matches, 1..50")


@router.post("/patterns", response_class=Response)
def post_patterns(body: PatternRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """LSTMVis-style search: ``units`` are on (h > threshold) at every step of [start, end) in
    ``layer``; ``matches`` are other windows of the same length, not overlapping the selection nor
    each other, ranked by the Jaccard overlap ``score`` of their on-units with ``units``; each
    lists the shared ``units`` and, for text models, its ``text``."""
    model, spec, x, tokens = _model_input(body, registry, settings)
    if not 1 <= body.top <= 50:
        raise HTTPException(422, f"top must be between 1 and 50, got {body.top}")
    with user_errors():
        layer = resolve_layer(spec, body.layer)
        passes, _, _ = forward_layers(spec, x, layer)
        result = pattern_search(passes[layer].hidden, body.start, body.end, body.threshold, body.top)
    return _json(
        {
            **_header(model, spec, x, tokens),
            "layer": layer,
            "start": body.start,
            "end": body.end,
            "threshold": body.threshold,
            "units": result.units,
            "matches": [
                {
                    "start": m.start,
                    "end": m.end,
                    "score": m.score,
                    "units": m.units,
                    "text": None if tokens is None else "".join(tokens[m.start : m.end]),
                }
                for m in result.matches
            ],
        }
    )


# ---- the two GRUs and the equations ----------------------------------------------------------------


@router.post("/gru-variants", response_class=Response)
def post_gru_variants(body: ModelInput, registry: RegistryDep, settings: SettingsDep) -> Response:
    """torch.nn.GRU (reset after W_hn, z keeps h_{t-1}) against Cho et al. (2014)'s GRU (reset
    before W_hn, z weights the candidate) on the same weights and input: per layer both hidden
    sequences (T, H) and ``difference[t]`` = ||h_t(torch) - h_t(cho)||. GRU models only."""
    model, spec, x, tokens = _model_input(body, registry, settings)
    with user_errors():
        result = gru_variant_difference(spec, x)
    header = _header(model, spec, x, tokens)
    header.pop("gru_variant")
    return _json(
        {
            **header,
            "layers": [
                {"torch_hidden": _array(a), "cho_hidden": _array(b), "difference": _array(d)}
                for a, b, d in zip(result.torch_hidden, result.cho_hidden, result.difference, strict=True)
            ],
        }
    )


class EquationsRequest(ModelInput):
    layer: int = 0
    unit: int = 0
    step: int = Field(-1, description="negative counts from the end")


@router.post("/equations", response_class=Response)
def post_equations(body: EquationsRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Every term of the cell equations for one unit at one step, to plug into the text.

    ``terms`` maps a set of equations to named numbers: ``lstm``, ``tanh``/``relu`` (RNN), or for a
    GRU both ``torch`` and ``cho`` evaluated on the same x_t and h_{t-1} (those of the variant
    asked for). Names: ``Wx_<gate>`` = (W_i· x_t + b_i·)[unit], ``Uh_<gate>`` = (W_h· h_{t-1} +
    b_h·)[unit] (Cho's ``Uh_n`` = (W_hn (r ⊙ h_{t-1}) + b_hn)[unit]), ``a_<gate>`` the
    pre-activation, then the gates, ``h_prev``, ``c_prev``, ``c``, ``tanh_c``, ``h``.
    """
    model, spec, x, tokens = _model_input(body, registry, settings)
    with user_errors():
        terms = equation_terms(spec, x, body.layer, body.unit, body.step)
        layer = resolve_layer(spec, body.layer)
    steps = int(x.shape[0])
    return _json(
        {
            **_header(model, spec, x, tokens),
            "layer": layer,
            "unit": body.unit % spec.hidden_size,
            "step": body.step % steps,
            "terms": terms,
        }
    )


# ---- parameters and cost ---------------------------------------------------------------------------


class CostRequest(BaseModel):
    input_size: int = 32
    hidden_size: int = 128
    num_layers: int = 1
    steps: int = Field(32, description="sequence length timed (the results are per step)")
    batch: int = Field(16, description="batch of the training step")


@router.post("/cost", response_class=Response)
def post_cost(body: CostRequest, settings: SettingsDep) -> Response:
    """The seed's table (gates, separate memory cell, parameter count, computational cost) for
    nn.RNN, nn.LSTM and nn.GRU of these sizes, with measured numbers beside the seed's words:
    parameter formula and torch's count, forward and training ms per step (medians of interleaved
    runs), parameter bytes and activation bytes saved for backward; plus ratios (gru/lstm, ...).
    Measured live, so the times vary from call to call; about half a second at default sizes.
    """
    checks = [
        ("input_size", body.input_size, settings.max_input_size),
        ("hidden_size", body.hidden_size, 512),
        ("num_layers", body.num_layers, settings.max_layers),
        ("steps", body.steps, 200),
        ("batch", body.batch, 64),
    ]
    for name, value, limit in checks:
        if not 1 <= value <= limit:
            raise HTTPException(422, f"{name} must be between 1 and {limit}, got {value}")
    work = body.num_layers * (body.hidden_size + body.input_size) * body.hidden_size * body.steps * body.batch
    if work > MAX_COST_WORK:
        raise HTTPException(
            422,
            f"num_layers x (hidden_size + input_size) x hidden_size x steps x batch = {work} is over "
            f"{MAX_COST_WORK}: use fewer steps, a smaller batch or a smaller model",
        )
    result = measure_cost(body.input_size, body.hidden_size, body.num_layers, body.steps, body.batch)
    return _json(result)
