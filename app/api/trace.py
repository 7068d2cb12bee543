"""POST /api/trace: the whole trace of one input, as nested lists."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from app.api.deps import RegistryDep, SettingsDep, find_model, user_errors
from app.engine import trace_spec, with_gru_variant
from app.tracing import dumps, objective_from_request, sequence_from_request, trace_payload

router = APIRouter(prefix="/api", tags=["trace"])


class TraceRequest(BaseModel):
    model: str = Field(description="a model id from GET /api/models")
    inputs: list[list[float]] | None = Field(None, description="T rows of input_size numbers")
    text: str | None = Field(None, description="text, for models with a vocabulary")
    objective: Any = Field(
        None, description="'hidden_norm' (default, 0.5 ||h_T||²), 'task', or {'layer', 'unit', 'step'}"
    )
    gru_variant: Literal["torch", "cho"] = Field(
        "torch",
        description="GRU only: 'torch' (torch.nn.GRU's equations) or 'cho' (Cho et al. 2014's "
        "textbook GRU on the same weights: reset before W_hn, z weighting the candidate)",
    )


@router.post("/trace", response_class=Response)
def post_trace(body: TraceRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Gates, states, dL/dh_t and dL/dc_t for every step and layer (a sync route: runs in a thread).

    The response's ``gru_variant`` says which GRU equations ran (null for other models); asking
    for ``"cho"`` on a model that is not a GRU is a 422.
    """
    model = find_model(registry, body.model)
    with user_errors():
        spec = with_gru_variant(model.spec, body.gru_variant)
        x, tokens = sequence_from_request(model, body.inputs, body.text, settings.max_steps)
        objective = objective_from_request(model, body.objective, x)
        tr = trace_spec(spec, x, objective=objective)
    return Response(dumps(trace_payload(model, tr, tokens)), media_type="application/json")
