"""Between the web and the engine: request fields -> tensors and objectives, traces -> JSON.

Nothing here knows about HTTP; errors are ValueError with a message meant for the user.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import torch
from torch import Tensor

from app.engine import Objective, StepRecord, Trace, UnitObjective
from app.engine.trace import as_sequence
from app.registry import LoadedModel


def encode_text(text: str, vocab: list[str]) -> Tensor:
    """One-hot rows (T, len(vocab)); ValueError naming any characters outside the vocabulary."""
    index = {ch: i for i, ch in enumerate(vocab)}
    unknown = sorted({ch for ch in text if ch not in index})
    if unknown:
        shown = ", ".join(repr(ch) for ch in unknown[:12]) + (" ..." if len(unknown) > 12 else "")
        raise ValueError(
            f"{len(unknown)} character{'s' * (len(unknown) > 1)} not in this model's vocabulary: "
            f"{shown}. It knows {len(vocab)} characters: {''.join(vocab)!r}"
        )
    ids = torch.tensor([index[ch] for ch in text], dtype=torch.long)
    return torch.nn.functional.one_hot(ids, len(vocab)).float()


def sequence_from_request(
    model: LoadedModel, inputs: object | None, text: str | None, max_steps: int
) -> tuple[Tensor, list[str] | None]:
    """The (T, input_size) input and, for text, its characters. ValueError on anything invalid."""
    if (inputs is None) == (text is None):
        raise ValueError("give exactly one of 'inputs' (T x input_size numbers) or 'text'")
    length = len(text) if text is not None else len(inputs) if isinstance(inputs, list) else None
    if length is not None and length > max_steps:
        raise ValueError(f"the sequence has {length} steps; the limit is {max_steps}")
    if text is not None:
        if model.vocab is None:
            raise ValueError(
                f"model {model.id!r} takes numbers, not text: send 'inputs' as rows of "
                f"{model.spec.input_size} numbers"
            )
        if not text:
            raise ValueError("the text is empty: type at least one character")
        return encode_text(text, model.vocab), list(text)
    if not isinstance(inputs, list) or not all(isinstance(row, list) for row in inputs):
        raise ValueError(f"'inputs' must be a list of rows, each a list of {model.spec.input_size} numbers")
    bad_width = next((t for t, row in enumerate(inputs) if len(row) != model.spec.input_size), None)
    if bad_width is not None:
        raise ValueError(
            f"row {bad_width} has {len(inputs[bad_width])} numbers; this model expects "
            f"input_size={model.spec.input_size} per row"
        )
    return as_sequence(inputs, model.spec.input_size, torch.float32), None


def objective_from_request(model: LoadedModel, objective: object, x: Tensor) -> Objective:
    """'hidden_norm' | {'layer', 'unit', 'step'} | 'task' (the model's own task loss)."""
    if objective is None or objective == "hidden_norm":
        return "hidden_norm"
    if objective == "task":
        if model.task is None or model.head is None:
            raise ValueError(f"model {model.id!r} has no task head; use 'hidden_norm' or a unit objective")
        from app.tasks import get_task

        return get_task(model.task).objective(model.head, x)
    if isinstance(objective, dict):
        try:
            return UnitObjective(
                int(objective["layer"]), int(objective["unit"]), int(objective.get("step", -1))
            )
        except (KeyError, TypeError, ValueError):
            raise ValueError("a unit objective needs integer 'layer', 'unit' and 'step'") from None
    raise ValueError("objective must be 'hidden_norm', 'task' or {'layer': l, 'unit': k, 'step': t}")


def _array(t: Tensor | None) -> np.ndarray[Any, Any] | None:
    # orjson serializes C-contiguous float32 arrays natively, with the shortest exact repr.
    return None if t is None else np.ascontiguousarray(t.detach().to(torch.float32).numpy())


def trace_payload(model: LoadedModel, tr: Trace, tokens: list[str] | None) -> dict[str, Any]:
    return {
        "model": model.id,
        "arch": tr.arch,
        "gru_variant": tr.gru_variant,
        "steps": tr.steps,
        "loss": tr.loss,
        "tokens": tokens,
        "gate_names": list(model.spec.gate_names),
        "layers": [
            {
                "gates": {name: _array(g) for name, g in layer.gates.items()},
                "hidden": _array(layer.hidden),
                "cell": _array(layer.cell),
                "grad_hidden": _array(layer.grad_hidden),
                "grad_cell": _array(layer.grad_cell),
            }
            for layer in tr.layers
        ],
    }


def gradients_payload(tr: Trace) -> dict[str, Any]:
    return {
        "type": "done",
        "steps": tr.steps,
        "loss": tr.loss,
        "layers": [
            {"grad_hidden": _array(layer.grad_hidden), "grad_cell": _array(layer.grad_cell)}
            for layer in tr.layers
        ],
    }


def step_payload(record: StepRecord, token: str | None) -> dict[str, Any]:
    return {
        "type": "step",
        "t": record.t,
        "token": token,
        "layers": [
            {
                "gates": {name: _array(g) for name, g in layer.gates.items()},
                "hidden": _array(layer.hidden),
                "cell": _array(layer.cell),
            }
            for layer in record.layers
        ],
    }


def dumps(payload: object) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
