"""Units across a corpus (issue 11; Karpathy, Johnson & Fei-Fei 2015; LSTMVis):

    GET  /api/corpora/{id}     {"id", "name", "chars"} of an uploaded file
    POST /api/corpora          multipart 'file' (UTF-8 text) and 'model' -> {"id", "name", "chars", "bytes"}
    POST /api/analysis/units   {"model", "text" | "source": "task" | "source": "file" + "corpus",
                                "feature", "quantity", ...} -> scores and snippets
    WS   /ws/analysis/units    the same run with progress, which can be cancelled

The stream, client -> server (JSON text frames; schemas in gatescope.web.schemas):
    {"type": "start", ...the POST's fields}      a new start replaces a run still going
    {"type": "cancel"}                            stop the run; no result
Server -> client:
    {"type": "started", "model", "steps": T, "total": steps to read (T, or 2T with snippets)}
    {"type": "progress", "done", "total", "phase": "scores" | "snippets"}   after every chunk
    {"type": "done", ...the POST's answer}        the same numbers as the POST
    {"type": "cancelled", "done"}                 steps read when it stopped
    {"type": "error", "detail"}                   a bad frame or start; the connection stays open
The run reads settings.corpus_chunk steps per hop onto the stream threads (as WS /ws/trace does),
looking at the client's messages between chunks: a cancel or a closed connection stops the work
there. The engine is gatescope.engine.corpus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Generator
from typing import Any

import torch
from fastapi import APIRouter, HTTPException, Request, Response, WebSocket
from starlette.datastructures import UploadFile

from gatescope.engine.corpus import CorpusResult, Progress, run_to_end, scan_corpus
from gatescope.engine.text import one_hot, text_tokens, token_ids
from gatescope.engine.units import feature_values
from gatescope.settings import Settings
from gatescope.web.corpora import CorpusStore, corpus_chars, decode_corpus
from gatescope.web.deps import RegistryDep, SettingsDep, find_model, user_errors
from gatescope.web.payloads import array, dumps, json_response
from gatescope.web.schemas import (
    UNITS_MESSAGES,
    UnitsCancelMessage,
    UnitsRequest,
    UnitsStartMessage,
)
from gatescope.web.sockets import Disconnected, compute, read_messages, send_frame, send_json
from gatescope.zoo.registry import LoadedModel, ModelRegistry

router = APIRouter(tags=["analysis"])
log = logging.getLogger(__name__)

Scan = Generator[Progress, None, CorpusResult]


def corpus_store(settings: Settings) -> CorpusStore:
    return CorpusStore(settings.upload_dir / "corpora", settings.kept_corpora)


@router.post(
    "/api/corpora",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "model"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "model": {"type": "string"},
                        },
                    }
                }
            }
        }
    },
)
async def upload_corpus(request: Request, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    """A corpus for the units view: multipart ``file``, UTF-8 text of at most max_corpus_file_bytes
    and max_corpus_chars characters, every one in the vocabulary of ``model``. Returns its ``id``
    (for ``"source": "file", "corpus": id``), its ``name`` and its size in ``chars`` and
    ``bytes``. 413 for a file too large, 422 for one that is empty, not UTF-8 or holds unknown
    characters (how many, which, where)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(422, "send multipart/form-data with a 'file' (UTF-8 text) and a 'model'")
    form = await request.form(max_files=1, max_fields=2)
    unknown = sorted(set(form.keys()) - {"file", "model"})
    if unknown:
        raise HTTPException(
            422, f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: 'file', 'model'"
        )
    upload, model_id = form.get("file"), form.get("model")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, "the upload needs a 'file' field holding the corpus (UTF-8 text)")
    if not isinstance(model_id, str) or not model_id:
        raise HTTPException(422, "the upload needs a 'model' field: the id of the model that reads it")
    model = find_model(registry, model_id)
    data = await upload.read(settings.max_corpus_file_bytes + 1)
    with user_errors(413 if len(data) > settings.max_corpus_file_bytes else 422):
        text = decode_corpus(data, settings.max_corpus_file_bytes)
    with user_errors():
        chars = corpus_chars(text, _vocab(model), settings.max_corpus_chars, model.id)
    stored = corpus_store(settings).add((upload.filename or "corpus.txt")[:200], text)
    return {"id": stored.id, "name": stored.name, "chars": len(chars), "bytes": len(data)}


@router.get("/api/corpora/{corpus_id}")
def get_corpus(corpus_id: str, settings: SettingsDep) -> dict[str, Any]:
    """An uploaded corpus's ``name`` and size in ``chars`` (as read, before any model's
    normalization), so a page reloaded on it can say which file it reads. 404 once it is gone."""
    try:
        stored = corpus_store(settings).get(corpus_id) if re.fullmatch(r"[0-9a-f]{16}", corpus_id) else None
    except KeyError:
        stored = None
    if stored is None:
        raise HTTPException(404, f"no corpus {corpus_id!r} on this server: upload the file again")
    return {"id": stored.id, "name": stored.name, "chars": len(stored.text)}


def _vocab(model: LoadedModel) -> list[str]:
    if model.vocab is None:
        raise ValueError(
            f"model {model.id!r} takes numbers: the units view reads text (models with a vocabulary)"
        )
    return model.vocab


def _corpus(model: LoadedModel, body: UnitsRequest, settings: Settings) -> list[str]:
    """The characters to read: the text, a held-out window of the task's text, or an uploaded file."""
    vocab = _vocab(model)
    limit = settings.max_corpus_chars
    given = {"text": body.text is not None, "corpus": body.corpus is not None}
    wanted = {"text": body.source == "text", "corpus": body.source == "file"}
    for name in given:
        if given[name] and not wanted[name]:
            raise ValueError(
                f"source {body.source!r} reads no {name!r}: send it only with the source it goes with"
            )
    if body.source == "task":
        if model.task is None:
            raise ValueError(f"model {model.id!r} has no task; send 'text'")
        if body.chars > limit:
            raise ValueError(
                f"chars is {body.chars}; the corpus limit is {limit} characters (max_corpus_chars)"
            )
        from gatescope.zoo.tasks import get_task

        task = get_task(model.task)
        if task.vocab != vocab:
            raise ValueError(
                f"the {task.name} task's data is not text in this model's vocabulary; send 'text'"
            )
        inputs, _ = task.batch(1, body.chars, torch.Generator().manual_seed(0), split="held-out")
        return [vocab[int(i)] for i in inputs[0].argmax(-1)]
    if body.source == "file":
        if body.corpus is None:
            raise ValueError("source 'file' needs 'corpus': the id POST /api/corpora gave for the file")
        try:
            stored = corpus_store(settings).get(body.corpus)
        except KeyError:
            raise HTTPException(
                404,
                f"no corpus {body.corpus!r} on this server (it may have been replaced): "
                "upload the file again",
            ) from None
        return list(corpus_chars(stored.text, vocab, limit, model.id))
    if body.text is None:
        raise ValueError("send 'text' (or source 'task' for the model's held-out data, or 'file')")
    if len(body.text) > limit:
        raise ValueError(
            f"the text has {len(body.text)} characters; the corpus limit is {limit} (max_corpus_chars)"
        )
    return text_tokens(body.text, vocab)


def _feature(body: UnitsRequest) -> str | dict[str, str]:
    return body.feature if isinstance(body.feature, str) else {"regex": body.feature.regex}


class UnitsRun:
    """One request's corpus, feature and scan, validated whole before any step is read."""

    def __init__(self, registry: ModelRegistry, settings: Settings, body: UnitsRequest) -> None:
        self.body = body
        self.model = find_model(registry, body.model)
        self.spec = self.model.spec_for(body.gru_variant)
        self.tokens = _corpus(self.model, body, settings)
        self.feature = feature_values("".join(self.tokens), _feature(body))
        vocab = self.model.vocab or []
        embedding = self.model.embedding
        x = one_hot(self.tokens, vocab) if embedding is None else embedding[token_ids(self.tokens, vocab)]
        self.scan: Scan = scan_corpus(
            self.spec,
            x,
            self.feature,
            body.quantity,
            snippet_units=body.snippet_units,
            snippets=body.snippets,
            window=body.window,
            chunk=settings.corpus_chunk,
        )
        self.steps = len(self.tokens)
        self.total = self.steps * (2 if body.snippet_units and body.snippets else 1)

    def step(self) -> Progress | CorpusResult:
        """The next chunk's progress, or the result once the corpus is read."""
        try:
            return next(self.scan)
        except StopIteration as stop:
            result: CorpusResult = stop.value
            return result

    def payload(self, result: CorpusResult) -> dict[str, Any]:
        text = self.tokens
        return {
            "model": self.model.id,
            "arch": self.spec.arch,
            "steps": self.steps,
            "source": self.body.source,
            "corpus": self.body.corpus,
            "feature": _feature(self.body),
            "quantity": self.body.quantity,
            "feature_mean": result.feature_mean,
            "units": [
                {"layer": s.layer, "unit": s.unit, "score": s.score} for s in result.scores[: self.body.top]
            ],
            "snippets": [
                {
                    "layer": u.layer,
                    "unit": u.unit,
                    "score": u.score,
                    "low": u.low,
                    "high": u.high,
                    "windows": [
                        {
                            "start": s.start,
                            "end": s.end,
                            "text": "".join(text[s.start : s.end]),
                            "values": array(s.values),
                            "feature": array(self.feature[s.start : s.end]),
                            "agreement": s.agreement,
                            "local_r": s.local_r,
                        }
                        for s in u.snippets
                    ],
                }
                for u in result.units
            ],
            "feature_values": array(self.feature) if self.body.values else None,
            "text": "".join(text) if self.body.source == "task" else None,
        }


@router.post("/api/analysis/units", response_class=Response)
def post_units(body: UnitsRequest, registry: RegistryDep, settings: SettingsDep) -> Response:
    """Units that track a feature of the text across a corpus (Karpathy et al. 2015): every unit's
    Pearson correlation, over all steps, of its ``quantity`` with the per-character ``feature``
    ('quotes', 'brackets', 'line_position', 'indentation', 'nesting' or {'regex': ...}, 1 inside
    its matches), the ``top`` by |score| over all layers (``units``). A unit whose value does not
    vary scores 0. The corpus is ``text``, (``source: 'task'``) ``chars`` characters of the task's
    held-out data, or (``source: 'file'``) the ``corpus`` uploaded with POST /api/corpora; at
    most max_corpus_chars. ``snippets``: for each of the first ``snippet_units`` units, its
    ``snippets`` most telling ``window``-character windows (where its activation agrees most with
    the feature; gatescope.engine.corpus says how), with the unit's values and the feature there,
    and the unit's ``low`` and ``high`` over the corpus. ``feature_values`` (with ``values: true``)
    per step. WS /ws/analysis/units runs the same with progress."""
    with user_errors():
        run = UnitsRun(registry, settings, body)
        result = run_to_end(run.scan)
    return json_response(run.payload(result))


# ---- WS /ws/analysis/units ---------------------------------------------------------------------

MESSAGE_SHAPE = '(a message is a JSON object: {"type": "start" | "cancel", ...})'
Inbound = UnitsStartMessage | UnitsCancelMessage | str | None


def _done_frame(run: UnitsRun, result: CorpusResult) -> str:
    return dumps({"type": "done", **run.payload(result)}).decode()


@router.websocket("/ws/analysis/units")
async def units_stream(websocket: WebSocket, registry: RegistryDep, settings: SettingsDep) -> None:
    await websocket.accept()
    inbox: asyncio.Queue[Inbound] = asyncio.Queue()
    receiver = asyncio.create_task(read_messages(websocket, inbox, UNITS_MESSAGES, MESSAGE_SHAPE))
    pending: Inbound = None  # a start that interrupted a run, handled next
    try:
        while True:
            message = pending if pending is not None else await inbox.get()
            pending = None
            if message is None:
                return
            if isinstance(message, str):
                await send_json(websocket, {"type": "error", "detail": message})
                continue
            if isinstance(message, UnitsCancelMessage):
                await send_json(websocket, {"type": "cancelled", "done": 0})  # nothing was running
                continue
            try:
                run = await compute(websocket, UnitsRun, registry, settings, message)
            except (ValueError, HTTPException) as exc:
                detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
                await send_json(websocket, {"type": "error", "detail": detail})
                continue
            await send_json(
                websocket, {"type": "started", "model": run.model.id, "steps": run.steps, "total": run.total}
            )
            pending = await _run(websocket, run, inbox)
    except Disconnected:
        return
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver


async def _run(websocket: WebSocket, run: UnitsRun, inbox: asyncio.Queue[Inbound]) -> Inbound:
    """Read the corpus chunk by chunk, sending progress; returns a start that interrupted it (to
    handle next) or None. A cancel or a closed connection stops the work between two chunks (a
    server that cancels the connection's task stops it there too)."""
    done, ending = 0, "dropped: the connection closed"
    try:
        while True:
            try:
                outcome = await compute(websocket, run.step)
            except ValueError as exc:
                ending = "failed"
                await send_json(websocket, {"type": "error", "detail": str(exc)})
                return None
            if isinstance(outcome, CorpusResult):
                done, ending = run.total, "finished"
                await send_frame(websocket, await compute(websocket, _done_frame, run, outcome))
                return None
            done = outcome.done
            await send_json(
                websocket, {"type": "progress", "done": done, "total": outcome.total, "phase": outcome.phase}
            )
            while not inbox.empty():
                message = inbox.get_nowait()
                if message is None:
                    raise Disconnected
                if isinstance(message, str):
                    await send_json(websocket, {"type": "error", "detail": message})
                elif isinstance(message, UnitsCancelMessage):
                    ending = "cancelled"
                    await send_json(websocket, {"type": "cancelled", "done": done})
                    return None
                else:
                    ending = "replaced by a new start"
                    return message
    finally:
        with contextlib.suppress(ValueError):  # a chunk still running in its thread ends on its own
            run.scan.close()
        log.info("units run over %s %s after %d of %d steps", run.model.id, ending, done, run.total)
