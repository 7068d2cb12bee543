"""Request fields -> tensors and objectives for the engine. Nothing here knows about HTTP; errors are
ValueErrors with a message meant for the user (the routes turn them into 422s or error frames)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gatescope.engine import Intervention, Objective, UnitObjective
from gatescope.engine.text import check_tokens, one_hot, text_tokens, token_ids
from gatescope.engine.trace import InitialState, as_sequence
from gatescope.web.schemas import (
    LogitObjectiveBody,
    ObjectiveBody,
    SequenceInput,
    TraceRequest,
    UnitObjectiveBody,
)
from gatescope.zoo.registry import LoadedModel


def sequence_from_request(
    model: LoadedModel, body: SequenceInput, max_steps: int
) -> tuple[Tensor, list[str] | None]:
    """The (T, input_size) input and, for text or tokens, the tokens read. ValueError on anything
    invalid, saying what is allowed."""
    given = [name for name in ("inputs", "text", "tokens") if getattr(body, name) is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of 'inputs' (T x input_size numbers), 'text' or 'tokens'")
    sequence = getattr(body, given[0])
    if len(sequence) > max_steps:
        raise ValueError(f"the sequence has {len(sequence)} steps; the limit is {max_steps}")
    if body.inputs is not None:
        bad_width = next((t for t, row in enumerate(body.inputs) if len(row) != model.spec.input_size), None)
        if bad_width is not None:
            raise ValueError(
                f"row {bad_width} has {len(body.inputs[bad_width])} numbers; this model expects "
                f"input_size={model.spec.input_size} per row"
            )
        return as_sequence(body.inputs, model.spec.input_size, torch.float32), None
    if model.vocab is None:
        raise ValueError(
            f"model {model.id!r} takes numbers, not text: send 'inputs' as rows of "
            f"{model.spec.input_size} numbers"
        )
    if body.text is not None:
        tokens = text_tokens(body.text, model.vocab)
        if len(tokens) > max_steps:  # tabs expand to four spaces
            raise ValueError(f"the sequence has {len(tokens)} steps; the limit is {max_steps}")
    else:
        tokens = check_tokens(list(body.tokens or []), model.vocab)
    if model.embedding is None:
        return one_hot(tokens, model.vocab), tokens
    return model.embedding[token_ids(tokens, model.vocab)], tokens


def initial_states(body: TraceRequest) -> tuple[InitialState | None, InitialState | None]:
    """The request's h0 and c0 for the engine (which checks their shapes and values): a tensor
    when the rows have one length, else one row per layer and direction (a stack whose layers
    differ in size takes row l with layer l's width)."""

    def rows_of(rows: list[list[float]] | None) -> InitialState | None:
        if rows is None:
            return None
        if len({len(row) for row in rows}) > 1:
            return [torch.tensor(row, dtype=torch.float32) for row in rows]
        return torch.tensor(rows, dtype=torch.float32)

    return rows_of(body.h0), rows_of(body.c0)


def interventions_from_request(body: TraceRequest) -> list[Intervention] | None:
    """The request's clamps for the engine (which checks them against the model and input)."""
    if not body.interventions:
        return None
    return [
        Intervention(iv.layer, iv.quantity, tuple(iv.units), (iv.steps[0], iv.steps[1]), iv.value)
        for iv in body.interventions
    ]


def interventions_payload(interventions: list[Intervention] | None) -> list[dict[str, object]] | None:
    """Checked interventions as the response reports them."""
    if interventions is None:
        return None
    return [
        {
            "layer": iv.layer,
            "quantity": iv.quantity,
            "units": list(iv.units),
            "steps": list(iv.steps),
            "value": iv.value,
        }
        for iv in interventions
    ]


def objective_from_request(
    model: LoadedModel, objective: ObjectiveBody | None, x: Tensor, tokens: list[str] | None
) -> Objective:
    """'hidden_norm' (or None) | 'task' | 'prediction' | a unit objective | a logit objective."""
    if objective is None or objective == "hidden_norm":
        return "hidden_norm"
    if isinstance(objective, UnitObjectiveBody):
        return UnitObjective(objective.layer, objective.unit, objective.step)
    if objective == "task":
        if model.task is None or model.head is None:
            raise ValueError(f"model {model.id!r} has no task head; use 'hidden_norm' or a unit objective")
        from gatescope.zoo.tasks import get_task

        return get_task(model.task).objective(model.head, x)
    head = model.head
    if head is None:
        raise ValueError(
            f"model {model.id!r} has no head; upload its head (and output_vocab) to ask about outputs"
        )
    if objective == "prediction":
        vocab = model.vocab
        if model.output_kind != "classes" or vocab is None or model.output_vocab != vocab or tokens is None:
            raise ValueError(
                "'prediction' is next-token cross-entropy: it needs text or tokens and a head over the "
                "input vocabulary; ask about one output with {'logit': token, 'step': t} instead"
            )
        if len(tokens) < 2:
            raise ValueError("'prediction' needs at least two tokens (each predicts the next)")
        if model.spec.right_to_left:
            # It reads from the end: the output at t has read tokens t .. T-1, and the token it
            # reads next, the one to predict, is t - 1 (predicting t + 1 would ask what it has seen).
            before = token_ids(tokens[:-1], vocab)
            return lambda out: nn.functional.cross_entropy(head(out[1:]), before)
        targets = token_ids(tokens[1:], vocab)
        return lambda out: nn.functional.cross_entropy(head(out[:-1]), targets)
    assert isinstance(objective, LogitObjectiveBody)
    return logit_objective(model, head, objective, int(x.shape[0]))


def logit_objective(
    model: LoadedModel, head: nn.Linear, objective: LogitObjectiveBody, steps: int
) -> Objective:
    """L = head(output)[step, class], the class a token of the output vocabulary or an index."""
    classes = head.out_features
    if isinstance(objective.logit, int):
        if not 0 <= objective.logit < classes:
            raise ValueError(f"logit class {objective.logit} out of range: the head has {classes} classes")
        index = objective.logit
    else:
        labels = model.output_vocab or []
        if objective.logit not in labels:
            raise ValueError(
                f"{objective.logit!r} is not in the output vocabulary; give one of its tokens or an index"
            )
        index = labels.index(objective.logit)
    if not -steps <= objective.step < steps:
        raise ValueError(f"objective step {objective.step} out of range: sequence has {steps}")
    step = objective.step
    return lambda out: head(out[step])[index]
