"""/api/analysis/*: the analysis views of one model on one input (saturation, connectivity,
patterns, the two GRUs, the equations with one unit's numbers). Validate, call the engine,
serialize. The lab's own experiments (vanishing gradients, cost) are in `gatescope.web.api.lab`.

Curves are arrays indexed by step t = 0..T-1; log10 values that are -inf (an exactly zero norm)
are sent as null.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from fastapi import APIRouter, HTTPException, Response
from pydantic import Field

from gatescope.engine import RecurrentSpec
from gatescope.engine.analysis import (
    connectivity,
    equation_terms,
    forward_gates,
    gru_variant_difference,
    pattern_search,
    saturation,
)
from gatescope.engine.gradflow import forward_layers, resolve_layer
from gatescope.settings import Settings
from gatescope.web.api.common import header, model_input
from gatescope.web.deps import RegistryDep, SettingsDep, find_model, user_errors
from gatescope.web.inputs import sequence_from_request
from gatescope.web.payloads import array, json_response
from gatescope.web.schemas import ModelInput
from gatescope.zoo.registry import ModelRegistry

router = APIRouter(prefix="/api/analysis", tags=["analysis"])


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
    only; then send neither inputs nor text). Plain RNNs have no gates: their layers are ``{}``.
    """
    model = find_model(registry, body.model)
    with user_errors():
        spec = model.spec_for(body.gru_variant)
        tokens = None
        if body.source == "task":
            if model.task is None:
                raise ValueError(f"model {model.id!r} has no task; use source 'input'")
            if body.inputs is not None or body.text is not None:
                raise ValueError("source 'task' reads the task's held-out data: send neither inputs nor text")
            if not 1 <= body.sequences <= 64:
                raise ValueError(f"sequences must be between 1 and 64, got {body.sequences}")
            from gatescope.zoo.tasks import get_task

            task = get_task(model.task)
            inputs, _ = task.batch(
                body.sequences, task.default_length, torch.Generator().manual_seed(0), split="held-out"
            )
            sequences = [seq.to(spec.dtype) for seq in inputs]
        else:
            x, tokens = sequence_from_request(model, body, settings.max_steps)
            sequences = [x]
        result = saturation(forward_gates(spec, sequences), body.low, body.high)
    return json_response(
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
                {name: {"left": array(s.left), "right": array(s.right)} for name, s in layer.items()}
                for layer in result
            ],
        }
    )


# ---- one unit at one step: connectivity and the equations ------------------------------------------


class UnitRequest(ModelInput):
    layer: int = 0
    unit: int = 0
    step: int = Field(-1, description="negative counts from the end")


def _unit_answer(
    body: UnitRequest,
    registry: ModelRegistry,
    settings: Settings,
    key: str,
    compute: Callable[[RecurrentSpec, torch.Tensor, int, int, int], Any],
) -> Response:
    """``{header, layer, unit, step, key: compute(...)}`` with layer, unit and step resolved."""
    model, spec, x, tokens = model_input(body, registry, settings)
    with user_errors():
        value = compute(spec, x, body.layer, body.unit, body.step)
        layer = resolve_layer(spec, body.layer)
    return json_response(
        {
            **header(model, spec, x, tokens),
            "layer": layer,
            "unit": body.unit % spec.hidden_sizes[layer],
            "step": body.step % int(x.shape[0]),
            key: value,
        }
    )


@router.post("/connectivity", response_class=Response)
def post_connectivity(body: UnitRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """How strongly one unit at one step depends on each earlier input (Distill's connectivity):
    ``norms[s]`` = ||d h_step[unit] / d x_s|| for every input step s (0 after ``step``), through
    every path. ``value`` is h_step[unit]."""
    return _unit_answer(body, registry, settings, "norms", lambda *a: array(connectivity(*a)))


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
    model, spec, x, tokens = model_input(body, registry, settings)
    if not 1 <= body.top <= 50:
        raise HTTPException(422, f"top must be between 1 and 50, got {body.top}")
    with user_errors():
        layer = resolve_layer(spec, body.layer)
        passes, _, _ = forward_layers(spec, x, layer)
        result = pattern_search(passes[layer].hidden, body.start, body.end, body.threshold, body.top)
    return json_response(
        {
            **header(model, spec, x, tokens),
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


# ---- the GRU variants and the equations ----------------------------------------------------------------


@router.post("/gru-variants", response_class=Response)
def post_gru_variants(body: ModelInput, registry: RegistryDep, settings: SettingsDep) -> Response:
    """The three GRU variants on the same weights and input (GRU models only): torch.nn.GRU (reset
    after W_hn, z keeps h_{t-1}), Cho et al. 2014 (reset before W_hn, z keeps h_{t-1}) and Chung
    et al. 2014, the seed's form (reset before W_hn, z takes the candidate). Per layer each one's
    hidden states ``<variant>_hidden`` (T, H), ``difference[t]`` = ||h_t(torch) - h_t(cho)|| and
    ``chung_difference[t]`` = ||h_t(torch) - h_t(chung)||."""
    model, spec, x, tokens = model_input(body, registry, settings)
    with user_errors():
        result = gru_variant_difference(spec, x)
    head = header(model, spec, x, tokens)
    head.pop("gru_variant")
    return json_response(
        {
            **head,
            "layers": [
                {
                    **{
                        f"{variant}_hidden": array(result.hidden[variant][layer]) for variant in result.hidden
                    },
                    "difference": array(result.difference["cho"][layer]),
                    "chung_difference": array(result.difference["chung"][layer]),
                }
                for layer in range(len(result.hidden["torch"]))
            ],
        }
    )


@router.post("/equations", response_class=Response)
def post_equations(body: UnitRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Every term of the cell equations for one unit at one step, to plug into the text.

    ``terms`` maps a set of equations to named numbers: ``lstm``, ``tanh``/``relu`` (RNN), or for a
    GRU ``torch``, ``cho`` and ``chung`` evaluated on the same x_t and h_{t-1} (those of the variant
    asked for). Names: ``Wx_<gate>`` = (W_i· x_t + b_i·)[unit], ``Uh_<gate>`` = (W_h· h_{t-1} +
    b_h·)[unit] (Cho's ``Uh_n`` = (W_hn (r ⊙ h_{t-1}) + b_hn)[unit]), ``a_<gate>`` the
    pre-activation, then the gates, ``h_prev``, ``c_prev``, ``c``, ``tanh_c``, ``h``.
    """
    return _unit_answer(body, registry, settings, "terms", equation_terms)
