"""Traces -> JSON: the payloads of POST /api/trace and of the trace stream's messages.

Tensors go out as C-contiguous float32 numpy arrays, which orjson writes natively with the
shortest repr that reads back as the same float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import torch
from fastapi import Response
from torch import Tensor

from gatescope.engine import CellStep, LayerTrace, StepRecord, Trace
from gatescope.engine.analysis import top_predictions
from gatescope.zoo.registry import LoadedModel


def array(t: Tensor) -> np.ndarray[Any, Any]:
    """A tensor as a C-contiguous float32 array, which orjson writes natively."""
    return np.ascontiguousarray(t.detach().to(torch.float32).numpy())


def _array(t: Tensor | None) -> np.ndarray[Any, Any] | None:
    return None if t is None else array(t)


def layer_payload(layer: LayerTrace) -> dict[str, Any]:
    """One layer's record; ``reverse`` is the reverse direction's (same fields) or None."""
    return {
        "gates": {name: _array(g) for name, g in layer.gates.items()},
        "hidden": _array(layer.hidden),
        "cell": _array(layer.cell),
        "grad_hidden": _array(layer.grad_hidden),
        "grad_cell": _array(layer.grad_cell),
        "reverse": None if layer.reverse is None else layer_payload(layer.reverse),
    }


def predictions_payload(model: LoadedModel, outputs: Tensor) -> dict[str, Any] | None:
    """The head's top-5 classes at every step of ``outputs`` (T, W), for heads whose outputs are
    classes or independent probabilities; None for models without one (or with a regression head)."""
    if model.head is None or model.output_kind not in ("classes", "sigmoids"):
        return None
    ids, probs = top_predictions(model.head, outputs, model.output_kind)
    return {"kind": model.output_kind, "ids": ids.to(torch.int32).numpy(), "probs": _array(probs)}


def top_output(layer: LayerTrace) -> Tensor:
    """A layer's output as torch gives it: (T, directions * P)."""
    return layer.hidden if layer.reverse is None else torch.cat([layer.hidden, layer.reverse.hidden], 1)


def trace_payload(model: LoadedModel, tr: Trace, tokens: list[str] | None) -> dict[str, Any]:
    return {
        "model": model.id,
        "arch": tr.arch,
        "gru_variant": tr.gru_variant,
        "steps": tr.steps,
        "loss": tr.loss,
        "tokens": tokens,
        "gate_names": list(model.spec.gate_names),
        "layers": [layer_payload(layer) for layer in tr.layers],
        "predictions": predictions_payload(model, top_output(tr.layers[-1])),
    }


def _gradients(layer: LayerTrace) -> dict[str, Any]:
    return {"grad_hidden": _array(layer.grad_hidden), "grad_cell": _array(layer.grad_cell)}


def gradients_payload(tr: Trace) -> dict[str, Any]:
    """The stream's 'done': every layer's gradients, ``reverse`` the reverse direction's or None."""
    return {
        "type": "done",
        "steps": tr.steps,
        "loss": tr.loss,
        "layers": [
            {**_gradients(layer), "reverse": None if layer.reverse is None else _gradients(layer.reverse)}
            for layer in tr.layers
        ],
    }


def _cell_step(step: CellStep) -> dict[str, Any]:
    return {
        "gates": {name: _array(g) for name, g in step.gates.items()},
        "hidden": _array(step.hidden),
        "cell": _array(step.cell),
    }


def step_payload(model: LoadedModel, record: StepRecord, token: str | None) -> dict[str, Any]:
    """One step: each layer's gates and states at t, ``reverse`` the reverse direction's at the
    same input position t (bidirectional models) or None."""
    predictions = predictions_payload(model, record.output().unsqueeze(0))
    reverse = record.reverse
    return {
        "type": "step",
        "t": record.t,
        "token": token,
        "predictions": None
        if predictions is None
        else {"ids": predictions["ids"][0], "probs": predictions["probs"][0]},
        "layers": [
            {**_cell_step(step), "reverse": None if reverse is None else _cell_step(reverse[layer])}
            for layer, step in enumerate(record.layers)
        ],
    }


def _cell_steps(steps: list[CellStep]) -> dict[str, Any]:
    """Consecutive steps of one layer and direction: each field an (n, H) array (hidden (n, P))."""
    first = steps[0]
    return {
        "gates": {name: array(torch.stack([s.gates[name] for s in steps])) for name in first.gates},
        "hidden": array(torch.stack([s.hidden for s in steps])),
        "cell": None if first.cell is None else array(torch.stack([s.cell for s in steps])),  # type: ignore[misc]
    }


def steps_payload(model: LoadedModel, records: list[StepRecord], tokens: list[str] | None) -> dict[str, Any]:
    """Several consecutive steps in one message: each field an (n, H) array, rows in step order."""
    layers = []
    for layer in range(len(records[0].layers)):
        forward = _cell_steps([r.layers[layer] for r in records])
        reverse = [r.reverse[layer] for r in records if r.reverse is not None]
        layers.append({**forward, "reverse": _cell_steps(reverse) if reverse else None})
    top = torch.stack([r.output() for r in records])  # (n, directions * P)
    return {
        "type": "steps",
        "t": records[0].t,
        "count": len(records),
        "tokens": tokens,
        "predictions": predictions_payload(model, top),
        "layers": layers,
    }


def dumps(payload: object) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(payload: object) -> Response:
    return Response(dumps(payload), media_type="application/json")
