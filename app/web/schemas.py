"""Request bodies and WebSocket messages as pydantic models: limits as `Field` constraints, unknown
fields refused (a typo, or a field this version does not know, is a 422 or an error frame that
names it, never silently ignored), so /docs shows every schema.

The WebSocket client messages are discriminated unions on ``type``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from gatescope.engine.build import MODULE_CLASSES

GruVariantName = Literal["torch", "cho", "chung"]
M = TypeVar("M")


class Strict(BaseModel):
    """A message whose unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class UnitObjectiveBody(Strict):
    """L = h_step[unit] of one layer: "what made this unit take this value at this step?"."""

    layer: int
    unit: int
    step: int = Field(-1, description="negative counts from the end")


class LogitObjectiveBody(Strict):
    """L = the head's logit of one class at one step: "why did it output this here?"."""

    logit: str | int = Field(description="a token of the output vocabulary, or a class index")
    step: int = Field(-1, description="negative counts from the end")


ObjectiveBody = Literal["hidden_norm", "task", "prediction"] | UnitObjectiveBody | LogitObjectiveBody
OBJECTIVE_HELP = (
    "'hidden_norm' (default, 0.5 ||h_n||²), 'task' (a shipped model's task loss), 'prediction' (a "
    "model with a head: next-token cross-entropy), {'layer', 'unit', 'step'} or {'logit', 'step'}"
)
GRU_VARIANT_HELP = (
    "GRU only, on the same weights: 'torch' (torch.nn.GRU: reset after W_hn, z keeps h), 'cho' (Cho "
    "et al. 2014: reset before W_hn, z keeps h) or 'chung' (Chung et al. 2014, the seed's form: reset "
    "before W_hn, z takes the candidate)"
)


class SequenceInput(Strict):
    """One input sequence: rows of numbers, or text or tokens for a model with a vocabulary."""

    inputs: list[list[float]] | None = Field(None, description="T rows of input_size numbers")
    text: str | None = Field(None, description="text, one character per step (models with a vocabulary)")
    tokens: list[str] | None = Field(None, description="vocabulary entries, one per step (e.g. '</s>')")


class ModelInput(SequenceInput):
    """A model and one input."""

    model: str = Field(description="a model id from GET /api/models")
    gru_variant: GruVariantName | None = Field(
        None, description=GRU_VARIANT_HELP + "; default: the model's own (see its record's gru_variant)"
    )


class InterventionBody(Strict):
    """Clamp ``units`` of ``quantity`` in ``layer`` to ``value`` over steps a <= t < b; the rest
    is computed as the network would, gradients those of the intervened computation."""

    layer: int = Field(0, description="negative counts from the top")
    quantity: str = Field(description="a gate name of the arch (LSTM i f g o, GRU r z n), 'hidden' or 'cell'")
    units: list[int] = Field(min_length=1, max_length=4096, description="unit indices, 0-based")
    steps: tuple[int, int] = Field(description="[a, b]: clamped over a <= t < b")
    value: float


class TraceRequest(ModelInput):
    interventions: list[InterventionBody] | None = Field(
        None, max_length=64, description="clamps to apply (unidirectional models); see InterventionBody"
    )
    objective: ObjectiveBody | None = Field(None, description=OBJECTIVE_HELP)
    format: Literal["json", "f32"] = Field(
        "json",
        description="'json', or 'f32': the compact wire format (gatescope.web.wire: a JSON header, "
        "then every array's float32 bytes), for real sizes",
    )
    h0: list[list[float]] | None = Field(
        None,
        description="initial hidden state, one row per layer (and direction), row l of layer l's "
        "state size (its hidden_sizes entry, or proj_size); default zeros",
    )
    c0: list[list[float]] | None = Field(
        None,
        description="LSTM only: initial cell state, one row per layer (and direction), row l of "
        "layer l's hidden size",
    )


# ---- POST /api/analysis/{fixed-points,projection,attribution,units} -----------------------------


class FixedPointsRequest(ModelInput):
    """The constant input is ``inputs`` (one row), ``text`` (one character) or ``tokens`` (one)."""

    layer: int = Field(0, description="the stack up to this layer is searched; negative counts from the top")
    count: int = Field(64, ge=1, le=256, description="starts, picked from the trajectory's states")
    seed: int = Field(0, description="which trajectory states start the search")
    trajectory: SequenceInput | None = Field(
        None, description="a sequence whose states seed the search; default: the model's first preset"
    )
    tolerance: float = Field(1e-3, gt=0, le=1, description="points closer than this (relative) are one")


class ProjectedModel(Strict):
    """Another model run on the same input, its path drawn beside (or with) this model's."""

    model: str = Field(description="a model id that reads the same input (same vocabulary or input_size)")
    gru_variant: GruVariantName | None = Field(None, description=GRU_VARIANT_HELP)
    layer: int = Field(0, description="negative counts from the top")
    axes: Literal["shared", "own"] = Field(
        "own",
        description="'shared': its states join this model's in one PCA (same hidden size only), so "
        "both paths are on the same axes; 'own': a PCA of its own states",
    )
    components: Literal[2, 3] | None = Field(None, description="'own' axes only; default: the request's")


class ProjectionRequest(ModelInput):
    layer: int = Field(0, description="negative counts from the top")
    components: Literal[2, 3] = 2
    fit: list[SequenceInput] | None = Field(
        None, max_length=16, description="inputs to fit the components on (default: this input)"
    )
    others: list[ProjectedModel] = Field(
        [], max_length=4, description="more models on the same input, each answered as one of 'paths'"
    )


class AttributionRequest(ModelInput):
    objective: ObjectiveBody | None = Field(None, description=OBJECTIVE_HELP)
    method: Literal["gradient_x_input", "integrated_gradients"] = "integrated_gradients"
    steps: int = Field(
        8,
        ge=1,
        le=256,
        description="integrated gradients' Gauss-Legendre nodes (exact to degree 2·steps - 1)",
    )
    baseline: list[list[float]] | None = Field(
        None, description="one row, or one per step, of input_size numbers (default zeros)"
    )


class RegexFeature(Strict):
    regex: str = Field(max_length=1000, description="1 inside its matches, 0 outside (Python re)")


class UnitsRequest(Strict):
    model: str = Field(description="a model id from GET /api/models (one with a vocabulary)")
    gru_variant: GruVariantName | None = Field(None, description=GRU_VARIANT_HELP)
    text: str | None = Field(None, description="the corpus, one character per step")
    source: Literal["text", "task", "file"] = Field(
        "text", description="'task': the task's held-out text; 'file': an uploaded file ('corpus')"
    )
    chars: int = Field(10_000, ge=2, description="source 'task': how many characters to read")
    corpus: str | None = Field(
        None, pattern=r"^[0-9a-f]{16}$", description="source 'file': the id POST /api/corpora gave"
    )
    feature: Literal["quotes", "brackets", "line_position", "indentation", "nesting"] | RegexFeature
    quantity: str = Field("hidden", description="'hidden', 'cell' (LSTM) or a gate name of the arch")
    top: int = Field(20, ge=1, le=4096, description="how many units to list, strongest |score| first")
    values: bool = Field(False, description="also return the feature's value at every step")
    snippet_units: int = Field(
        5, ge=0, le=20, description="how many of the top units get their most telling snippets (0: none)"
    )
    snippets: int = Field(3, ge=0, le=10, description="snippets per unit")
    window: int = Field(72, ge=8, le=400, description="a snippet's length in characters")


# ---- WS /ws/analysis/units ---------------------------------------------------------------------


class UnitsStartMessage(UnitsRequest):
    """Run the units analysis over a corpus, with progress (a new start replaces a running one)."""

    type: Literal["start"]


class UnitsCancelMessage(Strict):
    """Stop the run: no result is sent."""

    type: Literal["cancel"]


UnitsClientMessage = Annotated[UnitsStartMessage | UnitsCancelMessage, Field(discriminator="type")]
UNITS_MESSAGES: TypeAdapter[UnitsStartMessage | UnitsCancelMessage] = TypeAdapter(UnitsClientMessage)


def validation_detail(errors: Sequence[Mapping[str, Any]], shape: str = "") -> str:
    """Pydantic's error list as one readable sentence, so the page can show it as is. ``shape``
    says what a whole message should look like, for errors about the message as a whole."""
    parts = []
    for error in errors[:5]:
        loc = error.get("loc", ())
        where = ".".join(str(p) for p in loc if p != "body") if isinstance(loc, tuple | list) else ""
        message = str(error.get("msg"))
        if error.get("type") == "extra_forbidden":
            message = "unknown field: this version does not take it (see /docs for the fields)"
        parts.append(f"{where}: {message}" if where else f"{message} {shape}".strip())
    return "; ".join(parts) or "invalid request"


def parse_frame(frame: Mapping[str, Any], messages: TypeAdapter[M], shape: str) -> M | str:
    """A WebSocket frame as one of ``messages``, or the sentence that says what is wrong with it.

    ``shape`` shows what a message looks like, for frames that are not a message at all.
    """
    text = frame.get("text")
    if text is None:
        return f"send JSON text frames, not binary ones {shape}"
    try:
        return messages.validate_json(text)
    except ValidationError as exc:
        return validation_detail(exc.errors(), shape)


# ---- WS /ws/trace ------------------------------------------------------------------------------


class StartMessage(TraceRequest):
    """Start a sequence (replacing one that is streaming)."""

    type: Literal["start"]
    steps_per_message: int = Field(
        1, ge=1, le=256, description="1: a 'step' message per step; n > 1: 'steps' messages of n steps"
    )


class AppendMessage(SequenceInput):
    """Continue the sequence (live typing): only the new steps are computed."""

    type: Literal["append"]


class CancelMessage(Strict):
    """Stop the steps still to come."""

    type: Literal["cancel"]


TraceClientMessage = Annotated[StartMessage | AppendMessage | CancelMessage, Field(discriminator="type")]
TRACE_MESSAGES: TypeAdapter[StartMessage | AppendMessage | CancelMessage] = TypeAdapter(TraceClientMessage)


# ---- WS /ws/train ------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    # Say what is wrong in the page's words, not pydantic's: "steps": "many" is not a number.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"training parameters must be numbers, got {value!r}")
    try:
        float(value)
    except ValueError:
        raise ValueError(f"training parameters must be numbers, got {value!r}") from None
    return value


def _archs(value: Any) -> Any:
    if not isinstance(value, list) or not value or len(set(map(str, value))) != len(value):
        raise ValueError("'archs' must be a list of distinct names from 'rnn', 'lstm', 'gru'")
    for arch in value:
        if arch not in MODULE_CLASSES:
            raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(MODULE_CLASSES)}")
    return value


Int = Annotated[int, BeforeValidator(_number)]
Real = Annotated[float, BeforeValidator(_number)]


class TrainStartMessage(Strict):
    """Train these architectures side by side on a task, with the same batches and seed."""

    type: Literal["start"]
    task: str = Field(description="a task name from GET /api/tasks")
    archs: Annotated[list[str], BeforeValidator(_archs)] = Field(["rnn", "lstm", "gru"])
    hidden_size: Int = 32
    num_layers: Int = 1
    steps: Int = 500
    seed: Int = 0
    length: Int | None = Field(None, description="the task's length parameter; null: its default")
    lr: Real = 3e-3
    batch_size: Int = 32


class TrainCancelMessage(Strict):
    """Stop the training; nothing is saved."""

    type: Literal["cancel"]


TrainClientMessage = Annotated[TrainStartMessage | TrainCancelMessage, Field(discriminator="type")]
TRAIN_MESSAGES: TypeAdapter[TrainStartMessage | TrainCancelMessage] = TypeAdapter(TrainClientMessage)


# ---- responses (documented at /docs; the routes write them with orjson) ------------------------

Matrix = list[list[float]]


class LayerTraceBody(BaseModel):
    """One layer over the sequence; every matrix is T x H."""

    gates: dict[str, Matrix] = Field(description="LSTM i f g o, GRU r z n, RNN none")
    hidden: Matrix
    cell: Matrix | None = Field(description="LSTM only")
    grad_hidden: Matrix = Field(description="total dL/dh_t")
    grad_cell: Matrix | None = Field(description="total dL/dc_t, LSTM only")


class TraceResponse(BaseModel):
    model: str
    arch: Literal["lstm", "gru", "rnn"]
    gru_variant: GruVariantName | None = Field(description="which GRU equations ran; null for others")
    steps: int
    loss: float
    tokens: list[str] | None = Field(description="the characters read, for text input")
    gate_names: list[str]
    layers: list[LayerTraceBody] = Field(description="bottom layer first")
    interventions: list[InterventionBody] | None = Field(
        description="the clamps applied (layers resolved, units sorted); null for the plain run"
    )
