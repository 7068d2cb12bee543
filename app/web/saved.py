"""A saved view: the page's URL state (its hash keys, as query parameters) -> the trace it shows,
computed as POST /api/trace computes it, and what the one-file page embeds (GET /export.html).

    GET /export.html?model=random-lstm-iascii-h8-l1-s0&text=hello&t=3&unit=2

The keys and their meaning are the page's (static/js/state.js); keys that only move the view (t,
unit, layer, color, ...) are checked and passed on to the file, which reads them as its hash.
``compare`` adds each compared model's trace, as the page's compare view asks POST /api/trace for
it (compare.js); ``lesson`` and ``step`` add that step's caption (GET /api/lessons). Errors are
ValueErrors naming the key, which the route turns into a 422.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic import Field

from gatescope import __version__
from gatescope.settings import Settings
from gatescope.web.api.lessons import all_lessons
from gatescope.web.api.traces import trace_for
from gatescope.web.deps import find_model
from gatescope.web.schemas import (
    LogitObjectiveBody,
    ObjectiveBody,
    Strict,
    TraceRequest,
    UnitObjectiveBody,
)
from gatescope.zoo.registry import LoadedModel, ModelRegistry


class ViewQuery(Strict):
    """The page's URL-state keys (static/js/state.js), as query parameters."""

    model: str = Field(max_length=200, description="a model id from GET /api/models")
    compare: str | None = Field(
        None, max_length=500, description="up to 2 model ids, comma-separated: their traces are saved too"
    )
    preset: str | None = Field(None, max_length=200)
    text: str | None = None
    csv: str | None = None
    tokens: str | None = Field(None, description="tokens separated by spaces (same as text for such models)")
    t: int | None = Field(None, ge=0)
    unit: int = Field(0, ge=0)
    layer: int = Field(0, ge=0)
    obj: str = Field("hidden_norm", max_length=1000)
    color: str = Field("hidden", max_length=40)
    speed: int = Field(5, ge=1, le=1000)
    teach: Literal["1"] | None = None
    open: str | None = Field(None, max_length=100)
    dir: Literal["forward", "reverse"] = "forward"
    from_: str | None = Field(None, alias="from", max_length=200)
    fromin: str | None = None
    order: Literal["index", "variance", "cluster"] = "index"
    show: str = Field("all", max_length=1000)
    lesson: str | None = Field(None, max_length=200, description="a lesson id: the file shows its caption")
    step: int = Field(0, ge=0, description="the lesson's step, from 0")


def parse_objective(text: str) -> ObjectiveBody:
    """The hash's ``obj`` (state.js parseObjective): hidden_norm | task | prediction |
    unit:<layer>,<unit>,<step> | logit:<token>,<step> (the token may hold commas)."""
    if text in ("hidden_norm", "task", "prediction"):
        return text  # type: ignore[return-value]
    if (logit := re.fullmatch(r"logit:(.+),(\d+)", text, re.S)) is not None:
        return LogitObjectiveBody(logit=logit[1], step=int(logit[2]))
    if (unit := re.fullmatch(r"unit:(\d+),(\d+),(\d+)", text)) is not None:
        return UnitObjectiveBody(layer=int(unit[1]), unit=int(unit[2]), step=int(unit[3]))
    raise ValueError(
        f"obj: {text!r} is not hidden_norm, task, prediction, unit:<l>,<u>,<t> or logit:<token>,<t>"
    )


def csv_rows(text: str) -> list[list[float]]:
    """The page's CSV input (input.js parseRows): a row per line; blank lines and # comments skipped."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        try:
            rows.append([float(cell) for cell in re.split(r"[\s,;]+", line.strip()) if cell])
        except ValueError:
            raise ValueError(f"csv: line {number} holds something that is not a number") from None
    if not rows:
        raise ValueError("csv: no rows of numbers")
    return rows


def reads_tokens(model: LoadedModel) -> bool:
    """True when the input is tokens separated by spaces (vocab.js readsTokens)."""
    return model.vocab is not None and any(len(token) != 1 for token in model.vocab)


def sequence_fields(
    model: LoadedModel, preset: str | None, text: str | None, csv: str | None
) -> dict[str, Any]:
    """{text}, {tokens} or {inputs} for the API, as the page sends them (input.js, vocab.js); no
    input at all is the model's first preset, as on the page."""
    presets = model.record.get("presets") or []
    if preset is not None or (text is None and csv is None):
        found = next((p for p in presets if preset is None or p["name"] == preset), None)
        if found is None:
            names = ", ".join(p["name"] for p in presets) or "none"
            raise ValueError(
                f"preset: {model.id!r} has no preset {preset!r} (it has: {names}); or give text or csv"
            )
        if found.get("text") is None:
            return {"inputs": found["inputs"]}
        text = found["text"]
    if text is not None:
        return {"tokens": text.split()} if reads_tokens(model) else {"text": text}
    return {"inputs": csv_rows(csv or "")}


def steps_of(fields: dict[str, Any]) -> int:
    return len(fields.get("tokens") or fields.get("inputs") or list(fields.get("text") or ""))


def final_states(payload: dict[str, Any], arch: str) -> dict[str, Any]:
    """A run's last state as h0 (and c0 between LSTMs) for another model, in torch's (layers x
    directions, H) order, rows as float32 arrays; the reverse direction ends at t = 0 (trace.js
    finalStates)."""
    h0, c0 = [], []
    for layer in payload["layers"]:
        for part, t in ((layer, -1), (layer["reverse"], 0)):
            if part is None:
                continue
            h0.append(part["hidden"][t])
            if part["cell"] is not None:
                c0.append(part["cell"][t])
    return {"h0": h0, "c0": c0 if c0 and arch == "lstm" else None}


def view_request(model: LoadedModel, view: ViewQuery) -> TraceRequest:
    """The POST /api/trace body the page would send for ``view`` (without a start state)."""
    text = view.text if view.text is not None else view.tokens
    fields = sequence_fields(model, view.preset, text, view.csv)
    objective = parse_objective(view.obj)
    if isinstance(objective, UnitObjectiveBody | LogitObjectiveBody):
        objective.step = min(objective.step, max(steps_of(fields) - 1, 0))  # as main.js run() does
    return TraceRequest(model=model.id, objective=objective, **fields)


def start_states(
    registry: ModelRegistry, settings: Settings, view: ViewQuery, arch: str
) -> dict[str, Any] | None:
    """h0 (c0) from the last state of ``from``'s run on ``fromin`` (initial.js), or None: zeros."""
    if view.from_ is None:
        return None
    source = find_model(registry, view.from_)
    fromin = view.fromin or ""
    fields = sequence_fields(source, None, fromin, None) if source.vocab else {"inputs": csv_rows(fromin)}
    return final_states(trace_for(TraceRequest(model=source.id, **fields), registry, settings), arch)


def check_view(model: LoadedModel, view: ViewQuery, steps: int) -> None:
    """The view keys that must fit the model and the trace: ValueError naming the first that does not."""
    spec = model.spec
    units = spec.hidden_sizes[view.layer] if view.layer < spec.num_layers else max(spec.hidden_sizes)
    limits = (("layer", view.layer, spec.num_layers), ("unit", view.unit, units))
    for name, value, size in (*limits, ("t", view.t or 0, steps)):
        if value >= size:
            raise ValueError(f"{name}: {value} is out of range; {model.id!r} has 0 ... {size - 1}")


MAX_COMPARE = 2  # the page's two compare menus (state.js: listKey("compare", {max: 2}))


def reads_like(model: LoadedModel, primary: LoadedModel) -> bool:
    """True when ``model`` reads ``primary``'s input: the same characters, or the same input width
    (compare.js compatible)."""
    if primary.vocab is not None:
        return model.vocab is not None and sorted(model.vocab) == sorted(primary.vocab)
    return model.vocab is None and model.spec.input_size == primary.spec.input_size


def compare_models(registry: ModelRegistry, primary: LoadedModel, text: str | None) -> list[LoadedModel]:
    """The ``compare`` key's models, each once: known, not the primary, reading the same input."""
    ids = list(dict.fromkeys(part for part in (text or "").split(",") if part))
    if len(ids) > MAX_COMPARE:
        raise ValueError(
            f"compare: {len(ids)} models; the page compares at most {MAX_COMPARE} with {primary.id!r}"
        )
    models = []
    for model_id in ids:
        if model_id == primary.id:
            raise ValueError(f"compare: {model_id!r} is the model itself; name other models")
        try:
            model = registry.get(model_id)
        except KeyError:
            raise ValueError(f"compare: unknown model {model_id!r}; GET /api/models lists them") from None
        except ValueError as exc:  # a random-model id whose sizes are out of range
            raise ValueError(f"compare: {exc}") from None
        if not reads_like(model, primary):
            what = "characters" if primary.vocab is not None else f"input width ({primary.spec.input_size})"
            raise ValueError(f"compare: {model_id!r} does not read the same {what} as {primary.id!r}")
        models.append(model)
    return models


def compare_runs(
    registry: ModelRegistry, settings: Settings, view: ViewQuery, primary: LoadedModel, main: TraceRequest
) -> dict[str, Any] | None:
    """The compare view's traces (compare.js show): the primary first, then each compared model,
    on the same input, from zeros, with one objective: the task loss when the page uses it and
    every model has that task, else ½‖h_T‖². The primary's trace is null when it is the main
    trace (the same objective, no start state), so the file holds it once."""
    others = compare_models(registry, primary, view.compare)
    if not others:
        return None
    models = [primary, *others]
    task = primary.record.get("task")
    same_task = task is not None and all(m.record.get("task") == task for m in models)
    objective: ObjectiveBody = "task" if main.objective == "task" and same_task else "hidden_norm"
    fields = main.model_dump(include={"text", "tokens", "inputs"}, exclude_none=True)
    runs = []
    for model in models:
        same = model is primary and main.objective == objective and main.h0 is None
        body = TraceRequest(model=model.id, objective=objective, **fields)
        runs.append({"model": model.record, "trace": None if same else trace_for(body, registry, settings)})
    return {"objective": objective, "runs": runs}


def lesson_step(settings: Settings, view: ViewQuery) -> dict[str, Any] | None:
    """The lesson step the view is (its title, step k of n, caption and highlight), or None."""
    if view.lesson is None:
        return None
    lessons, _ = all_lessons(settings)
    lesson = next((x for x in lessons if x.id == view.lesson), None)
    if lesson is None:
        ids = ", ".join(x.id for x in lessons) or "none"
        raise ValueError(f"lesson: there is no lesson {view.lesson!r} (there are: {ids})")
    n = len(lesson.steps)
    if view.step >= n:
        raise ValueError(f"step: {view.step} is out of range; {lesson.id!r} has steps 0 ... {n - 1}")
    step = lesson.steps[view.step]
    return {
        "id": lesson.id,
        "title": lesson.title,
        "step": view.step,
        "steps": n,
        "text": step.text,
        "highlight": step.highlight,
    }


def saved_view(registry: ModelRegistry, settings: Settings, view: ViewQuery, query: str) -> dict[str, Any]:
    """What a saved file embeds: the model's record, the trace (POST /api/trace's payload), the
    start state it ran from, the compare view's traces, the lesson step's caption, and ``query``
    (the view keys) as the page's hash."""
    model = find_model(registry, view.model)
    body = view_request(model, view)
    states = start_states(registry, settings, view, str(model.record["arch"]))
    if states is not None:
        body = body.model_copy(
            update={k: None if v is None else [row.tolist() for row in v] for k, v in states.items()}
        )
    trace = trace_for(body, registry, settings)
    check_view(model, view, int(trace["steps"]))
    return {
        "version": __version__,
        "hash": query,
        "model": model.record,
        "states": states,
        "trace": trace,
        "compare": compare_runs(registry, settings, view, model, body),
        "lesson": lesson_step(settings, view),
    }


def script_json(data: object) -> str:
    """``data`` as JSON for a ``<script type="application/json">``: ``<``, ``>`` and ``&`` escaped,
    so no text in it (a user's input, a model's name) can end the script or open a tag."""
    text = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
