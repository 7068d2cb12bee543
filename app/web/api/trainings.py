"""GET /api/tasks and WS /ws/train: train RNN, LSTM and GRU side by side and watch them learn.

Client -> server:
    {"type": "start", "task": name, "archs": ["rnn", "lstm", "gru"], "hidden_size": 32,
     "num_layers": 1, "steps": 500, "seed": 0, "length"?: n, "lr"?: x, "batch_size"?: b}
    {"type": "cancel"}                   stop; nothing is saved
Server -> client:
    {"type": "started", "runs": [{"arch", "params", "steps", "init_model": id}]}
    {"type": "progress", "arch", "step", "steps", "loss", "metric", "seconds_per_step", "params"}
    {"type": "trained", "arch", "model": record}  saved and registered: explorable at once
    {"type": "done"} | {"type": "stopped"} | {"type": "error", "detail"}

All archs train in one worker thread, one logging interval each in turn, on the same batches
(the data generator is seeded by the config's seed). The event loop only relays events, so other
users keep tracing. At most `settings.max_trainings` run at once; another start is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from gatescope.settings import Settings
from gatescope.web.deps import RegistryDep, SettingsDep, TrainingSlotsDep
from gatescope.web.schemas import TRAIN_MESSAGES, TrainCancelMessage, TrainStartMessage, parse_frame
from gatescope.zoo.registry import ModelRegistry
from gatescope.zoo.tasks import TASKS
from gatescope.zoo.trainer import (
    TrainConfig,
    TrainEvent,
    TrainResult,
    initialization,
    save_checkpoint,
    train_steps,
    trained_id,
)

router = APIRouter(tags=["training"])


@router.get("/api/tasks")
def list_tasks() -> dict[str, list[dict[str, Any]]]:
    """The tasks a model can be trained on, with their length parameter and metric."""
    return {
        "tasks": [
            {
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "input_size": t.input_size,
                "output_size": t.output_size,
                "vocab": t.vocab,
                "metric_name": t.metric_name,
                "higher_is_better": t.higher_is_better,
                "length_name": t.length_name,
                "default_length": t.default_length,
                "min_length": t.min_length,
                "max_length": t.max_length,
                "preset": t.preset(),
            }
            for t in TASKS.values()
        ]
    }


def configs_from_message(message: TrainStartMessage, settings: Settings) -> list[TrainConfig]:
    """One resolved TrainConfig per requested arch. ValueError on anything out of bounds."""
    base = TrainConfig(
        task=message.task,
        hidden_size=message.hidden_size,
        num_layers=message.num_layers,
        steps=message.steps,
        seed=message.seed,
        length=message.length,
        lr=message.lr,
        batch_size=message.batch_size,
        log_every=max(1, message.steps // 100),
    )
    if not 1 <= base.steps <= settings.max_page_train_steps:
        raise ValueError(
            f"steps must be from 1 to {settings.max_page_train_steps} in the page, got {base.steps}"
        )
    if not 1 <= base.hidden_size <= settings.max_page_train_hidden:
        raise ValueError(
            f"hidden_size must be from 1 to {settings.max_page_train_hidden} in the page, "
            f"got {base.hidden_size}"
        )
    return [replace(base, arch=arch).resolved(settings) for arch in message.archs]


def _train_all(
    configs: list[TrainConfig],
    registry: ModelRegistry,
    settings: Settings,
    emit: Callable[[dict[str, Any]], None],
    stop: threading.Event,
) -> dict[str, str]:
    """Worker thread: interleave the runs, emit events, save each finished model; returns the last
    event ('done' or 'stopped'), which the caller sends once the training slot is free again."""
    runs = {c.arch: train_steps(c, should_stop=stop.is_set) for c in configs}
    finished: dict[str, TrainResult] = {}
    while runs and not stop.is_set():
        for arch, run in list(runs.items()):
            event = next(run, None)
            if isinstance(event, TrainEvent):
                emit({"type": "progress", "arch": arch, **event.__dict__})
            elif isinstance(event, TrainResult):
                finished[arch] = event
                del runs[arch]
            else:
                del runs[arch]
            if stop.is_set():
                break
    if stop.is_set():
        return {"type": "stopped"}
    for config in configs:
        result = finished[config.arch]
        model_id = trained_id(config)
        save_checkpoint(result, settings.trained_dir, model_id)
        card = {**result.card, "id": model_id, "name": f"{result.card['name']} (trained here)"}
        model = registry.add_trained(result.module, result.head, card, source="trained")
        emit({"type": "trained", "arch": config.arch, "model": model.record})
    return {"type": "done"}


MESSAGE_SHAPE = '(a message is a JSON object: {"type": "start" | "cancel", ...})'


@router.websocket("/ws/train")
async def train_stream(
    websocket: WebSocket, registry: RegistryDep, settings: SettingsDep, slots: TrainingSlotsDep
) -> None:
    await websocket.accept()
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    stop = threading.Event()
    worker: threading.Thread | None = None

    def emit(event: dict[str, Any]) -> None:
        # A dropped connection's loop may close before the worker notices its stop flag.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(events.put_nowait, event)

    async def relay() -> None:
        while True:
            event = await events.get()
            await websocket.send_text(orjson.dumps(event).decode())

    relayer = asyncio.create_task(relay())
    try:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            message: TrainStartMessage | TrainCancelMessage | str = parse_frame(
                frame, TRAIN_MESSAGES, MESSAGE_SHAPE
            )
            if isinstance(message, str):
                emit({"type": "error", "detail": message})
                continue
            if isinstance(message, TrainCancelMessage):
                stop.set()
                continue
            if worker is not None and worker.is_alive():
                emit({"type": "error", "detail": "a training is already running on this connection"})
                continue
            try:
                configs = configs_from_message(message, settings)
            except ValueError as exc:
                emit({"type": "error", "detail": str(exc)})
                continue
            slot = slots.acquire()
            if slot is None:
                busy = f"the server is already training {slots.capacity} model set(s)"
                detail = f"{busy}; try again when it finishes"
                emit({"type": "error", "detail": detail})
                continue
            emit({"type": "started", "runs": [_register_initialization(registry, c) for c in configs]})
            stop.clear()
            worker = threading.Thread(
                target=_work,
                args=(configs, registry, settings, emit, stop, partial(slots.release, slot)),
                name="gatescope-train",
                daemon=True,
            )
            worker.start()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        stop.set()  # a dropped connection stops its training; nothing is saved
        relayer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relayer


def _register_initialization(registry: ModelRegistry, config: TrainConfig) -> dict[str, Any]:
    """Register a run's initialization, so "before training" can be traced and compared."""
    init = registry.add_trained(*initialization(config), source="random")
    return {
        "arch": config.arch,
        "params": init.record["params"],
        "steps": config.steps,
        "init_model": init.id,
    }


def _work(
    configs: list[TrainConfig],
    registry: ModelRegistry,
    settings: Settings,
    emit: Callable[[dict[str, Any]], None],
    stop: threading.Event,
    release: Callable[[], None],
) -> None:
    """The worker thread: train, report any failure to the user (it never kills the server), and
    free the training slot."""
    try:
        last = _train_all(configs, registry, settings, emit, stop)
    except Exception as exc:
        last = {"type": "error", "detail": f"training failed: {exc}"}
    release()
    emit(last)  # after the release: a client told 'done' may start the next training at once
