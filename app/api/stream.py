"""WS /ws/trace: run a model step by step and stream each step as it is computed.

Client -> server (JSON text frames):
    {"type": "start", "model": id, "inputs": [[...]] | "text": "...", "objective"?: ...,
     "gru_variant"?: "torch" | "cho"}                      GRU only: torch's or Cho et al.'s equations
    {"type": "append", "inputs": [[...]] | "text": "..."}   continue the same sequence (live typing):
                                                           only the new steps are computed
    {"type": "cancel"}                                     stop the steps still to come
Server -> client:
    {"type": "started", "model": id, "steps": T}           T = steps the sequence will have
    {"type": "step", "t": t, "token": ch | null,
     "layers": [{"gates": {name: [H]}, "hidden": [H], "cell": [H] | null}]}
    {"type": "done", "steps": T, "loss": L,
     "layers": [{"grad_hidden": T x H, "grad_cell": T x H | null}]}
                                                           (gradients need the whole sequence: they come last)
    {"type": "cancelled", "t": steps computed so far}
    {"type": "error", "detail": "what was wrong"}          the connection stays open
A new "start" while a sequence is streaming replaces it. Closing the socket stops all work.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import torch
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool
from torch import Tensor

from app.api.deps import RegistryDep, SettingsDep, find_model
from app.engine import Stepper, StepRecord, trace_spec, with_gru_variant
from app.registry import LoadedModel, ModelRegistry
from app.settings import Settings
from app.tracing import dumps, gradients_payload, objective_from_request, sequence_from_request, step_payload

router = APIRouter(tags=["trace"])

#: Steps computed per thread hop: small enough that the first arrives at once, large enough that
#: thread hand-offs cost little.
CHUNK = 32


@dataclass
class StreamSession:
    model: LoadedModel
    stepper: Stepper
    objective: Any
    rows: list[Tensor] = field(default_factory=list)  # the whole sequence so far, one (I,) per step
    tokens: list[str] | None = None

    @classmethod
    def start(cls, registry: ModelRegistry, settings: Settings, message: dict[str, Any]) -> StreamSession:
        model = find_model(registry, str(message.get("model", "")))
        spec = with_gru_variant(model.spec, str(message.get("gru_variant") or "torch"))
        session = cls(model, Stepper(spec), message.get("objective"))
        session.append(message, settings.max_steps)
        return session

    def append(self, message: dict[str, Any], max_steps: int) -> None:
        x, tokens = sequence_from_request(self.model, message.get("inputs"), message.get("text"), max_steps)
        if len(self.rows) + len(x) > max_steps:
            raise ValueError(
                f"the sequence would have {len(self.rows) + len(x)} steps; the limit is {max_steps}"
            )
        if tokens is not None:
            self.tokens = (self.tokens or []) + tokens
        self.rows.extend(x)

    def step_chunk(self, count: int) -> list[StepRecord]:
        end = min(self.stepper.t + count, len(self.rows))
        return [self.stepper.step(self.rows[t]) for t in range(self.stepper.t, end)]

    def gradients(self) -> dict[str, Any]:
        x = torch.stack(self.rows)
        return gradients_payload(
            trace_spec(self.stepper.spec, x, objective=objective_from_request(self.model, self.objective, x))
        )


class _Disconnected(Exception):
    pass


async def _receive(websocket: WebSocket, inbox: asyncio.Queue[dict[str, Any] | None]) -> None:
    """Read client messages into ``inbox`` so cancels are seen while steps are being sent."""
    try:
        while True:
            try:
                message = await websocket.receive_json()
            except (ValueError, KeyError):
                message = {"type": "invalid"}
            await inbox.put(message if isinstance(message, dict) else {"type": "invalid"})
    except (WebSocketDisconnect, RuntimeError):
        await inbox.put(None)


async def _send(websocket: WebSocket, payload: dict[str, Any]) -> None:
    try:
        await websocket.send_text(dumps(payload).decode())
    except (WebSocketDisconnect, RuntimeError) as exc:
        raise _Disconnected from exc


@router.websocket("/ws/trace")
async def trace_stream(websocket: WebSocket, registry: RegistryDep, settings: SettingsDep) -> None:
    await websocket.accept()
    inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    receiver = asyncio.create_task(_receive(websocket, inbox))
    session: StreamSession | None = None
    next_message: dict[str, Any] | None = None
    try:
        while True:
            message = next_message if next_message is not None else await inbox.get()
            next_message = None
            if message is None:
                return
            kind = message.get("type", "start")
            try:
                if kind == "start":
                    session = StreamSession.start(registry, settings, message)
                elif kind == "append":
                    if session is None:
                        raise ValueError("nothing to append to: send a 'start' message first")
                    session.append(message, settings.max_steps)
                elif kind == "cancel":
                    await _send(websocket, {"type": "cancelled", "t": session.stepper.t if session else 0})
                    continue
                else:
                    raise ValueError("message type must be 'start', 'append' or 'cancel', as JSON")
            except (ValueError, HTTPException) as exc:
                detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
                await _send(websocket, {"type": "error", "detail": detail})
                continue
            assert session is not None
            await _send(websocket, {"type": "started", "model": session.model.id, "steps": len(session.rows)})
            next_message = await _run(websocket, session, inbox, settings)
            if next_message is None and session.stepper.t == len(session.rows):
                try:
                    done = await run_in_threadpool(session.gradients)
                except ValueError as exc:
                    await _send(websocket, {"type": "error", "detail": str(exc)})
                    continue
                await _send(websocket, done)
            elif next_message is not None and next_message.get("type") == "cancelled":
                next_message = None
    except _Disconnected:
        return
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver


async def _run(
    websocket: WebSocket,
    session: StreamSession,
    inbox: asyncio.Queue[dict[str, Any] | None],
    settings: Settings,
) -> dict[str, Any] | None:
    """Step through the rows not yet computed, sending each step. Returns a message that
    interrupted the run (a new start, or a disconnect as {"type": "closed"}), else None."""
    while session.stepper.t < len(session.rows):
        records = await run_in_threadpool(session.step_chunk, CHUNK)
        for record in records:
            token = session.tokens[record.t] if session.tokens else None
            await _send(websocket, step_payload(record, token))
        while not inbox.empty():
            message = inbox.get_nowait()
            if message is None:
                raise _Disconnected
            kind = message.get("type")
            if kind == "cancel":
                del session.rows[session.stepper.t :]  # the sequence is what was computed
                if session.tokens is not None:
                    del session.tokens[session.stepper.t :]
                await _send(websocket, {"type": "cancelled", "t": session.stepper.t})
                return {"type": "cancelled"}
            if kind == "append":
                try:
                    session.append(message, settings.max_steps)
                except ValueError as exc:
                    await _send(websocket, {"type": "error", "detail": str(exc)})
            else:
                return message  # a new start (or junk) is handled by the main loop
    return None
