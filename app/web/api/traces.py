"""POST /api/trace: the whole trace of one input."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from gatescope.engine import trace_spec
from gatescope.engine.interventions import check_interventions
from gatescope.settings import Settings
from gatescope.web.deps import RegistryDep, SettingsDep, find_model, user_errors
from gatescope.web.inputs import (
    initial_states,
    interventions_from_request,
    interventions_payload,
    objective_from_request,
    sequence_from_request,
)
from gatescope.web.payloads import dumps, trace_payload
from gatescope.web.schemas import TraceRequest, TraceResponse
from gatescope.web.wire import MEDIA_TYPE, pack
from gatescope.zoo.registry import ModelRegistry

router = APIRouter(prefix="/api", tags=["trace"])


def trace_for(body: TraceRequest, registry: ModelRegistry, settings: Settings) -> dict[str, Any]:
    """The trace ``body`` asks for, as POST /api/trace answers it (HTTPException for bad input);
    the saved view (GET /export.html) embeds the same."""
    model = find_model(registry, body.model)
    with user_errors():
        spec = model.spec_for(body.gru_variant)
        x, tokens = sequence_from_request(model, body, settings.max_steps)
        objective = objective_from_request(model, body.objective, x, tokens)
        clamps = interventions_from_request(body)
        if clamps is not None:
            clamps = check_interventions(spec, clamps, int(x.shape[0]))
        tr = trace_spec(spec, x, *initial_states(body), objective=objective, interventions=clamps)
    return trace_payload(model, tr, tokens) | {"interventions": interventions_payload(clamps)}


@router.post("/trace", response_class=Response, responses={200: {"model": TraceResponse}})
def post_trace(body: TraceRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Gates, states, dL/dh_t and dL/dc_t for every step and layer (a sync route: runs in a thread).

    The response's ``gru_variant`` says which GRU equations ran (null for other models); asking
    for ``"cho"`` on a model that is not a GRU is a 422.

    ``interventions`` clamp gates or states of some units over spans of steps (unidirectional
    models); the response's ``interventions`` echoes them as applied (null without). A bad clamp
    is a 422 naming it: ``interventions[0].units: 99 is out of range ...``.
    """
    payload = trace_for(body, registry, settings)
    if body.format == "f32":
        return Response(pack(payload), media_type=MEDIA_TYPE)
    return Response(dumps(payload), media_type="application/json")
