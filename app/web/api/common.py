"""What the analysis routers share: a model and its input read from a request, and the header
every analysis answer starts with."""

from __future__ import annotations

from typing import Any

import torch

from gatescope.engine import RecurrentSpec
from gatescope.settings import Settings
from gatescope.web.deps import find_model, user_errors
from gatescope.web.inputs import sequence_from_request
from gatescope.web.schemas import ModelInput
from gatescope.zoo.registry import LoadedModel, ModelRegistry


def model_input(
    body: ModelInput, registry: ModelRegistry, settings: Settings
) -> tuple[LoadedModel, RecurrentSpec, torch.Tensor, list[str] | None]:
    """The model (404 if unknown), the spec with the variant asked for, the input and its tokens
    (422 for anything invalid)."""
    model = find_model(registry, body.model)
    with user_errors():
        spec = model.spec_for(body.gru_variant)
        x, tokens = sequence_from_request(model, body, settings.max_steps)
    return model, spec, x, tokens


def header(
    model: LoadedModel, spec: RecurrentSpec, x: torch.Tensor, tokens: list[str] | None
) -> dict[str, Any]:
    """What every analysis answer starts with: which model and equations ran, on how many steps."""
    return {
        "model": model.id,
        "arch": spec.arch,
        "gru_variant": spec.gru_variant if spec.arch == "gru" else None,
        "steps": int(x.shape[0]),
        "tokens": tokens,
    }
