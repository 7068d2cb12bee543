"""Request fields -> tensors and objectives for the engine. Nothing here knows about HTTP; errors are
ValueErrors with a message meant for the user (the routes turn them into 422s or error frames)."""

from __future__ import annotations

import torch
from torch import Tensor

from gatescope.engine import Objective, UnitObjective
from gatescope.engine.text import encode_text
from gatescope.engine.trace import as_sequence
from gatescope.web.schemas import ObjectiveBody, TraceRequest, UnitObjectiveBody
from gatescope.zoo.registry import LoadedModel


def sequence_from_request(
    model: LoadedModel, inputs: list[list[float]] | None, text: str | None, max_steps: int
) -> tuple[Tensor, list[str] | None]:
    """The (T, input_size) input and, for text, its characters. ValueError on anything invalid."""
    if (inputs is None) == (text is None):
        raise ValueError("give exactly one of 'inputs' (T x input_size numbers) or 'text'")
    length = len(text) if text is not None else len(inputs) if inputs is not None else 0
    if length > max_steps:
        raise ValueError(f"the sequence has {length} steps; the limit is {max_steps}")
    if text is not None:
        if model.vocab is None:
            raise ValueError(
                f"model {model.id!r} takes numbers, not text: send 'inputs' as rows of "
                f"{model.spec.input_size} numbers"
            )
        x, tokens = encode_text(text, model.vocab)
        if len(tokens) > max_steps:  # tabs expand to four spaces
            raise ValueError(f"the sequence has {len(tokens)} steps; the limit is {max_steps}")
        return x, tokens
    assert inputs is not None
    bad_width = next((t for t, row in enumerate(inputs) if len(row) != model.spec.input_size), None)
    if bad_width is not None:
        raise ValueError(
            f"row {bad_width} has {len(inputs[bad_width])} numbers; this model expects "
            f"input_size={model.spec.input_size} per row"
        )
    return as_sequence(inputs, model.spec.input_size, torch.float32), None


def initial_states(body: TraceRequest) -> tuple[Tensor | None, Tensor | None]:
    """The request's h0 and c0 as tensors (the engine checks their shapes and values)."""

    def tensor(rows: list[list[float]] | None, name: str) -> Tensor | None:
        if rows is None:
            return None
        if len({len(row) for row in rows}) > 1:
            raise ValueError(
                f"{name} must have rows of equal length (one row of hidden_size numbers per layer)"
            )
        return torch.tensor(rows, dtype=torch.float32)

    return tensor(body.h0, "h0"), tensor(body.c0, "c0")


def objective_from_request(model: LoadedModel, objective: ObjectiveBody | None, x: Tensor) -> Objective:
    """'hidden_norm' (or None) | 'task' (the model's own task loss) | a unit objective."""
    if objective is None or objective == "hidden_norm":
        return "hidden_norm"
    if isinstance(objective, UnitObjectiveBody):
        return UnitObjective(objective.layer, objective.unit, objective.step)
    if model.task is None or model.head is None:
        raise ValueError(f"model {model.id!r} has no task head; use 'hidden_norm' or a unit objective")
    from gatescope.zoo.tasks import get_task

    return get_task(model.task).objective(model.head, x)
