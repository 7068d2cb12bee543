"""WS /ws/trace: run a model step by step and stream each step as it is computed.

Client -> server (JSON text frames; `gatescope.web.schemas` has their schemas):
    {"type": "start", "model": id, "inputs": [[...]] | "text": "...", "objective"?: ...,
     "gru_variant"?: "torch" | "cho",                      GRU only: torch's or Cho et al.'s equations
     "interventions"?: [{"layer", "quantity", "units", "steps": [a, b], "value"}]}
                                                           clamps, as POST /api/trace takes them
    {"type": "append", "inputs": [[...]] | "text": "..."}   continue the same sequence (live typing):
                                                           only the new steps are computed (but see
                                                           bidirectional models below)
    {"type": "cancel"}                                     stop the steps still to come
Server -> client:
    {"type": "started", "model": id, "steps": T, "from": t0, "arch": a, "gate_names": [...],
     "interventions"?: [...]}                               the clamps as applied, if any
                                                           T = steps the sequence will have, t0 = the
                                                           first step about to be sent: 0 for a start,
                                                           the old length for an append
    {"type": "step", "t": t, "token": ch | null, "predictions": {"ids", "probs"} | null,
     "layers": [{"gates": {name: [H]}, "hidden": [H], "cell": [H] | null, "reverse": {...} | null}]}
                                                           "reverse": the reverse direction's gates,
                                                           hidden and cell at input position t
                                                           (bidirectional models), else null
    {"type": "steps", "t": first t, "count": n, "tokens": [...] | null, ...}
                                                           with "steps_per_message": n > 1 in the
                                                           start: n steps per message, every field
                                                           an n-row list (far fewer messages)
    {"type": "done", "steps": T, "loss": L,
     "layers": [{"grad_hidden": T x H, "grad_cell": T x H | null, "reverse": {...} | null}]}
                                                           (gradients need the whole sequence: they come last)
    {"type": "cancelled", "t": steps computed so far}
    {"type": "error", "detail": "what was wrong"}          the connection stays open
With "format": "f32" in the start, the step, steps and done messages come as binary frames in the
compact wire format (gatescope.web.wire); the others stay JSON text.

A start message is validated whole (model, input, objective, variant) before its first step is
computed. A frame that is not one of the messages above (not JSON, an unknown type or field, a
wrong value) gets an error frame. A new "start" while a sequence is streaming replaces it.
Closing the socket stops all work.

Bidirectional models (and LSTMs with projections, whose hidden is P wide, gates and cell H) stream
too, with the same numbers as POST /api/trace. Their reverse direction reads the sequence from the
end, so no step can be sent before the whole input is read: at the start every layer's both
directions run over the whole sequence, bottom layer first (layer l's forward direction reads both
directions' outputs of layer l-1, so it waits for the whole of layer l-1's reverse), and then the
steps go out as for any model. An append changes the reverse direction at every earlier step, so
it recomputes the whole sequence and sends it again: a new "started" with "from": 0, then every
step (a client typing sees the whole view update; it need not know the model is bidirectional).
After a cancel the sequence is the steps sent, as for any model (their reverse direction was read
from the longer input; the next append recomputes it). Interventions on a bidirectional model are
refused, as POST /api/trace refuses them.

A model that reads right to left (ONNX direction="reverse", Keras go_backwards) streams the same
way: its one direction runs over the whole sequence from the end, its steps go out by input
position t, and an append resends them all from 0. Its interventions are computed by POST
/api/trace only (an error frame says so).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
from fastapi import APIRouter, HTTPException, WebSocket
from torch import Tensor

from gatescope.engine import Intervention, Stepper, StepRecord, UnitObjective, trace_spec
from gatescope.engine.interventions import ClampedStepper, check_interventions
from gatescope.engine.layers import LayerPass
from gatescope.engine.trace import InitialState, backward_trace, forward_passes, initial_state
from gatescope.settings import Settings
from gatescope.web.deps import RegistryDep, SettingsDep, find_model
from gatescope.web.inputs import (
    initial_states,
    interventions_from_request,
    interventions_payload,
    objective_from_request,
    sequence_from_request,
)
from gatescope.web.payloads import dumps, gradients_payload, step_payload, steps_payload
from gatescope.web.schemas import (
    TRACE_MESSAGES,
    AppendMessage,
    CancelMessage,
    ObjectiveBody,
    SequenceInput,
    StartMessage,
)
from gatescope.web.sockets import Disconnected, compute, read_messages, send_frame
from gatescope.web.wire import pack
from gatescope.zoo.registry import LoadedModel, ModelRegistry

router = APIRouter(tags=["trace"])

#: Steps computed per thread hop: small enough that the first arrives at once, large enough that
#: thread hand-offs cost little.
CHUNK = 32

ClientMessage = StartMessage | AppendMessage | CancelMessage


@dataclass
class StreamSession:
    model: LoadedModel
    stepper: Stepper
    objective: ObjectiveBody | None
    h0: InitialState | None = None
    c0: InitialState | None = None
    steps_per_message: int = 1
    binary: bool = False  # messages with arrays go out as binary frames (gatescope.web.wire)
    rows: list[Tensor] = field(default_factory=list)  # the whole sequence so far, one (I,) per step
    tokens: list[str] | None = None
    interventions: list[Intervention] | None = None  # checked against the start's length
    passes: list[list[LayerPass]] | None = None  # the fresh sequence's forward passes, for its gradients
    background: ThreadPoolExecutor | None = None  # where the gradients of those passes are computed
    pending_done: Future[str | bytes] | None = None  # ... and their 'done' frame, while steps go out
    ready: deque[StepRecord] = field(default_factory=deque)  # computed, not yet sent

    @classmethod
    def start(cls, registry: ModelRegistry, settings: Settings, message: StartMessage) -> StreamSession:
        """The session for ``message``, every field checked; ValueError or HTTPException if not."""
        model = find_model(registry, message.model)
        spec = model.spec_for(message.gru_variant)
        h0, c0 = initial_states(message)
        session = cls(
            model,
            Stepper(spec, h0, c0),
            message.objective,
            h0,
            c0,
            message.steps_per_message,
            message.format == "f32",
        )
        session.append(message, settings.max_steps)
        x = torch.stack(session.rows)
        objective = objective_from_request(model, message.objective, x, session.tokens)
        if isinstance(objective, UnitObjective):
            objective.check(spec.hidden_sizes, len(session.rows))
        clamps = interventions_from_request(message)
        if clamps is not None and spec.right_to_left:
            raise ValueError(
                "interventions on a model that reads right to left are computed by POST /api/trace; "
                "the stream applies clamps step by step from the start"
            )
        if clamps is not None:  # spans must lie within the start's sequence; appends run on
            session.interventions = check_interventions(spec, clamps, len(session.rows))
            session.stepper = ClampedStepper(spec, session.interventions, h0, c0)
        return session

    def append(self, message: SequenceInput, max_steps: int) -> None:
        x, tokens = sequence_from_request(self.model, message, max_steps)
        if len(self.rows) + len(x) > max_steps:
            raise ValueError(
                f"the sequence would have {len(self.rows) + len(x)} steps; the limit is {max_steps}"
            )
        if tokens is not None:
            self.tokens = (self.tokens or []) + tokens
        self.rows.extend(x)
        if self.reads_from_end:
            self.restart()

    @property
    def reads_from_end(self) -> bool:
        """A bidirectional model, or one that reads right to left: its steps depend on later input."""
        spec = self.stepper.spec
        return spec.reverse is not None or spec.right_to_left

    def restart(self) -> None:
        """Compute the whole sequence again from its initial state: what a model that reads from the
        end needs after an append, since its (reverse) direction at every earlier step has changed."""
        self.stepper = Stepper(self.stepper.spec, self.h0, self.c0)
        self.ready.clear()
        self.passes = None
        self.pending_done = None

    def started(self) -> dict[str, Any]:
        spec = self.stepper.spec
        started = {
            "type": "started",
            "model": self.model.id,
            "steps": len(self.rows),
            "from": self.sent,
            "arch": spec.arch,
            "gate_names": list(spec.gate_names),
        }
        if self.interventions is not None:
            started["interventions"] = interventions_payload(self.interventions)
        return started

    def frames(self, count: int) -> list[str | bytes]:
        """The next ``count`` steps as encoded frames, ready to send: built on the stream thread,
        so the event loop that serves every connection only forwards bytes."""
        records = self.step_chunk(count)
        size = self.steps_per_message
        frames = []
        for k in range(0, len(records), size):
            group = records[k : k + size]
            tokens = None if self.tokens is None else self.tokens[group[0].t : group[-1].t + 1]
            if size == 1:
                payload = step_payload(self.model, group[0], tokens[0] if tokens else None)
            else:
                payload = steps_payload(self.model, group, tokens)
            frames.append(encode(payload, self.binary))
        return frames

    @property
    def sent(self) -> int:
        """Steps computed and handed out so far (the stepper may have run ahead: `ready`)."""
        return self.stepper.t - len(self.ready)

    def step_chunk(self, count: int) -> list[StepRecord]:
        """The next ``count`` steps. A fresh sequence runs the trace's forward passes over all of it
        at once (fewest kernel calls) and hands its steps out from `ready`; the gradients then reuse
        those passes (`done_frame`), so the forward pass runs once. Appended steps are stepped,
        except for a model that reads from the end: an append restarts it (`restart`), so it
        always runs here.

        `forward_passes` runs layer by layer, both directions of a layer before the layer above:
        layer l's forward direction reads layer l-1's reverse output at every step, which is known
        only once that reverse pass has read the whole sequence."""
        if self.stepper.t == 0 and not self.interventions and not self.ready:
            x = torch.stack(self.rows)
            self.passes = forward_passes(self.stepper.spec, x, self.stepper.hidden, self.stepper.cell)
            self.ready.extend(self.stepper.start_from(self.passes))
            if self.background is not None:
                self.pending_done = self.background.submit(self.done_frame, self.passes)
        if self.ready:
            return [self.ready.popleft() for _ in range(min(count, len(self.ready)))]
        self.passes = None  # the sequence grew: gradients need a new forward pass
        end = min(self.stepper.t + count, len(self.rows))
        return self.stepper.advance(torch.stack(self.rows[self.stepper.t : end]))

    def truncate(self) -> None:
        """Cancel: the sequence is what was sent; the state goes back to where it stopped."""
        sent = self.sent
        if self.reads_from_end:
            # Its steps were computed over the whole sequence; an append recomputes from the start.
            self.stepper.t = sent
        elif self.ready and self.passes is not None:
            for layer, (p,) in enumerate(self.passes):
                if sent > 0:
                    self.stepper.hidden[layer] = p.hidden[sent - 1].clone()
                    if p.cell is not None:
                        self.stepper.cell[layer] = p.cell[sent - 1].clone()
            if sent == 0:
                self.stepper.hidden = initial_state(self.stepper.spec, self.h0, "h0")
                self.stepper.cell = initial_state(self.stepper.spec, self.c0, "c0")
            self.stepper.t = sent
        self.ready.clear()
        self.passes = None
        self.pending_done = None  # computed for the whole sequence, which is no longer the sequence
        del self.rows[sent:]
        if self.tokens is not None:
            del self.tokens[sent:]

    def done_frame(self, passes: list[list[LayerPass]] | None = None) -> str | bytes:
        """The 'done' message with the gradients, encoded off the event loop: of ``passes`` (run
        over the first rows; the background hands them in, as the stream thread may replace
        `passes` meanwhile), else of the sequence as it stands."""
        return encode(self.gradients(passes), self.binary)

    def passes_current(self) -> bool:
        """Whether the forward passes cover the whole sequence as it stands (no append since)."""
        return self.passes is not None and self.passes[0][0].hidden.shape[0] == len(self.rows)

    def finished_frame(self) -> str | bytes:
        """The 'done' frame for the sequence as it stands: the one computed in the background if the
        sequence is still the one it was computed for, else computed now."""
        pending, self.pending_done = self.pending_done, None
        if pending is not None and self.passes_current():
            return pending.result()  # re-raises its ValueError, if the objective refused
        return self.done_frame()

    def gradients(self, passes: list[list[LayerPass]] | None = None) -> dict[str, Any]:
        spec = self.stepper.spec
        if passes is None and self.passes is not None and self.passes_current():
            passes = self.passes
        steps = len(self.rows) if passes is None else passes[0][0].hidden.shape[0]
        x = torch.stack(self.rows[:steps])
        tokens = None if self.tokens is None else self.tokens[:steps]
        objective = objective_from_request(self.model, self.objective, x, tokens)
        if passes is not None:
            return gradients_payload(backward_trace(spec, passes, objective))
        return gradients_payload(trace_spec(spec, x, self.h0, self.c0, objective, self.interventions))


#: What the reader puts in the inbox: a parsed message, the detail of a bad frame, or None (closed).
Inbound = ClientMessage | str | None


MESSAGE_SHAPE = '(a message is a JSON object: {"type": "start" | "append" | "cancel", ...})'


def encode(payload: dict[str, Any], binary: bool = False) -> str | bytes:
    """A message as its frame: the wire format's bytes, or JSON text."""
    return pack(payload) if binary else dumps(payload).decode()


async def _send(websocket: WebSocket, payload: dict[str, Any], binary: bool = False) -> None:
    await send_frame(websocket, encode(payload, binary))


async def _error(websocket: WebSocket, detail: str) -> None:
    await _send(websocket, {"type": "error", "detail": detail})


@router.websocket("/ws/trace")
async def trace_stream(websocket: WebSocket, registry: RegistryDep, settings: SettingsDep) -> None:
    await websocket.accept()
    inbox: asyncio.Queue[Inbound] = asyncio.Queue()
    receiver = asyncio.create_task(read_messages(websocket, inbox, TRACE_MESSAGES, MESSAGE_SHAPE))
    session: StreamSession | None = None
    pending: Inbound = None  # a message that interrupted a run, handled next
    try:
        while True:
            message = pending if pending is not None else await inbox.get()
            pending = None
            if message is None:
                return
            if isinstance(message, str):
                await _error(websocket, message)
                continue
            if isinstance(message, CancelMessage):
                await _send(websocket, {"type": "cancelled", "t": session.sent if session else 0})
                continue
            try:
                if isinstance(message, StartMessage):
                    # Checking a start builds tensors: on the stream thread, so that a class's 50
                    # starts arriving together never hold the event loop that answers everyone.
                    session = await compute(websocket, StreamSession.start, registry, settings, message)
                    session.background = websocket.app.state.gradient_executor
                elif session is None:
                    raise ValueError("nothing to append to: send a 'start' message first")
                else:
                    session.append(message, settings.max_steps)
            except (ValueError, HTTPException) as exc:
                await _error(websocket, exc.detail if isinstance(exc, HTTPException) else str(exc))
                continue
            await _send(websocket, session.started())
            interrupted, pending = await _run(websocket, session, inbox, settings)
            if not interrupted and session.sent == len(session.rows):
                try:
                    done = await compute(websocket, session.finished_frame)
                except ValueError as exc:
                    await _error(websocket, str(exc))
                    continue
                await send_frame(websocket, done)
    except Disconnected:
        return
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver


async def _run(
    websocket: WebSocket,
    session: StreamSession,
    inbox: asyncio.Queue[Inbound],
    settings: Settings,
) -> tuple[bool, Inbound]:
    """Step through the rows not yet computed, sending each step. Returns (interrupted, the
    message to handle next): a cancel interrupts with nothing left to handle, a new start
    interrupts and is handed back."""
    while session.sent < len(session.rows):
        for frame in await compute(websocket, session.frames, CHUNK):
            await send_frame(websocket, frame)
        while not inbox.empty():
            message = inbox.get_nowait()
            if message is None:
                raise Disconnected
            if isinstance(message, str):
                await _error(websocket, message)
            elif isinstance(message, CancelMessage):
                session.truncate()  # the sequence is what was sent
                await _send(websocket, {"type": "cancelled", "t": session.sent})
                return True, None
            elif isinstance(message, AppendMessage):
                try:
                    session.append(message, settings.max_steps)
                except ValueError as exc:
                    await _error(websocket, str(exc))
                else:
                    if session.reads_from_end:  # it restarted: every step is sent again
                        await _send(websocket, session.started())
            else:
                return True, message  # a new start replaces this sequence
    return False, None
