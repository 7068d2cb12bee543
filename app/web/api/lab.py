"""/api/analysis/vanishing and /api/analysis/cost: the lab's experiments on models it builds itself
(RNN, LSTM and GRU from one seed), not on a model from the registry.

Curves are arrays indexed by step t = 0..T-1; log10 values that are -inf (an exactly zero norm)
are sent as null.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import torch
from fastapi import APIRouter, HTTPException, Response
from pydantic import Field

from gatescope.engine import RecurrentSpec, parameter_count, spec_from_module, with_gru_variant
from gatescope.engine.build import build_module
from gatescope.engine.cost import measure_cost
from gatescope.engine.gradflow import (
    gradient_flow,
    gradient_slope,
    spectral_radius,
    with_forget_bias,
    with_recurrent_radius,
)
from gatescope.settings import Settings
from gatescope.web.deps import SettingsDep, user_errors
from gatescope.web.payloads import array, json_response
from gatescope.web.schemas import Strict

router = APIRouter(prefix="/api/analysis", tags=["analysis"])

SLOPE_UNIT = "decades per step: the least-squares slope of log10 of the norm against distance T-1-t"


# ---- vanishing-gradient lab ------------------------------------------------------------------------


class VanishingRequest(Strict):
    archs: list[Literal["rnn", "lstm", "gru", "gru_cho", "gru_chung"]] = Field(
        ["rnn", "lstm", "gru"],
        description="which models to build; gru_cho and gru_chung are the GRU with Cho et al.'s and "
        "Chung et al.'s (the seed's) equations on the same weights",
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
    base, _, variant = arch.partition("_")
    generator = torch.Generator().manual_seed(body.seed)
    module = build_module(base, body.input_size, body.hidden_size, 1, body.nonlinearity, True, generator)
    spec = spec_from_module(module)
    if variant:
        spec = with_gru_variant(spec, variant)
    if body.scale is not None:
        spec = with_recurrent_radius(spec, body.scale)
    if body.forget_bias is not None and base == "lstm":
        spec = with_forget_bias(spec, body.forget_bias)
    return spec


def _check_lab_request(body: VanishingRequest, settings: Settings) -> None:
    """422 for a lab request outside the limits (GET /api/limits), saying what is allowed."""
    if not 2 <= body.steps <= settings.max_steps:
        raise HTTPException(422, f"steps must be between 2 and {settings.max_steps}, got {body.steps}")
    if not 1 <= body.hidden_size <= settings.max_lab_hidden:
        raise HTTPException(
            422, f"hidden_size must be between 1 and {settings.max_lab_hidden}, got {body.hidden_size}"
        )
    if not 1 <= body.input_size <= settings.max_input_size:
        raise HTTPException(
            422, f"input_size must be between 1 and {settings.max_input_size}, got {body.input_size}"
        )
    if body.steps * body.hidden_size**2 > settings.max_lab_work:
        raise HTTPException(
            422,
            f"steps x hidden_size² = {body.steps * body.hidden_size**2} is over {settings.max_lab_work}: "
            "use fewer steps or a smaller hidden size (for example T=1000 with H=128)",
        )
    if body.scale is not None and not 0 < body.scale <= settings.max_lab_scale:
        raise HTTPException(
            422, f"scale (spectral radius) must be in (0, {settings.max_lab_scale:g}], got {body.scale}"
        )
    if not body.archs:
        raise HTTPException(422, "archs is empty: ask for at least one of rnn, lstm, gru, gru_cho, gru_chung")
    if not 0 <= body.seed < 2**31:
        raise HTTPException(422, f"seed must be between 0 and {2**31 - 1}, got {body.seed}")


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

    Bounds (GET /api/limits): steps ≤ max_steps, hidden_size ≤ max_lab_hidden and
    steps·hidden_size² ≤ max_lab_work.
    """
    _check_lab_request(body, settings)
    x = torch.randn(body.steps, body.input_size, generator=torch.Generator().manual_seed(body.seed))

    def one_arch(arch: str) -> dict[str, Any]:
        spec = _lab_spec(arch, body)
        flow = gradient_flow(spec, x, clip=body.clip)
        size = spec.hidden_size
        return {
            "grad_log10": array(flow.grad_log10),
            "jacobian_log10": array(flow.jacobian_log10),
            "clipped_log10": None if flow.clipped_log10 is None else array(flow.clipped_log10),
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
    return json_response(
        {
            "steps": body.steps,
            "objective": "L = 0.5 ||h_{T-1}||²",
            "slope_unit": SLOPE_UNIT,
            "clip": body.clip,
            "archs": out,
        }
    )


# ---- parameters and cost ---------------------------------------------------------------------------


class CostRequest(Strict):
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
        ("hidden_size", body.hidden_size, settings.max_cost_hidden),
        ("num_layers", body.num_layers, settings.max_layers),
        ("steps", body.steps, settings.max_cost_steps),
        ("batch", body.batch, settings.max_cost_batch),
    ]
    for name, value, limit in checks:
        if not 1 <= value <= limit:
            raise HTTPException(422, f"{name} must be between 1 and {limit}, got {value}")
    work = body.num_layers * (body.hidden_size + body.input_size) * body.hidden_size * body.steps * body.batch
    if work > settings.max_cost_work:
        raise HTTPException(
            422,
            f"num_layers x (hidden_size + input_size) x hidden_size x steps x batch = {work} is over "
            f"{settings.max_cost_work}: use fewer steps, a smaller batch or a smaller model",
        )
    result = measure_cost(body.input_size, body.hidden_size, body.num_layers, body.steps, body.batch)
    return json_response(result)
