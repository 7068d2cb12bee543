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
from dataclasses import replace
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.api.deps import RegistryDep, SettingsDep
from app.registry import ModelRegistry
from app.settings import Settings
from app.tasks import TASKS
from app.training import (
    TrainConfig,
    TrainEvent,
    TrainResult,
    initialization,
    save_checkpoint,
    train_steps,
    trained_id,
)

router = APIRouter(tags=["training"])
_slots_lock = threading.Lock()
_running = 0


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


def configs_from_message(message: dict[str, Any], settings: Settings) -> list[TrainConfig]:
    """One resolved TrainConfig per requested arch. ValueError on anything out of bounds."""
    archs = message.get("archs") or ["rnn", "lstm", "gru"]
    if not isinstance(archs, list) or not archs or len(set(archs)) != len(archs):
        raise ValueError("'archs' must be a list of distinct names from 'rnn', 'lstm', 'gru'")
    try:
        base = TrainConfig(
            task=str(message.get("task", "")),
            hidden_size=int(message.get("hidden_size", 32)),
            num_layers=int(message.get("num_layers", 1)),
            steps=int(message.get("steps", 500)),
            seed=int(message.get("seed", 0)),
            length=None if message.get("length") is None else int(message["length"]),
            lr=float(message.get("lr", 3e-3)),
            batch_size=int(message.get("batch_size", 32)),
            log_every=max(1, int(message.get("steps", 500)) // 100),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"training parameters must be numbers: {exc}") from None
    if not 1 <= base.steps <= settings.max_train_steps:
        raise ValueError(f"steps must be from 1 to {settings.max_train_steps} in the page, got {base.steps}")
    if not 1 <= base.hidden_size <= settings.max_train_hidden:
        raise ValueError(
            f"hidden_size must be from 1 to {settings.max_train_hidden} in the page, got {base.hidden_size}"
        )
    return [replace(base, arch=str(arch)).resolved() for arch in archs]


def _train_all(
    configs: list[TrainConfig],
    registry: ModelRegistry,
    settings: Settings,
    emit: Any,
    stop: threading.Event,
) -> None:
    """Worker thread: interleave the runs, emit events, save each finished model."""
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
        emit({"type": "stopped"})
        return
    for config in configs:
        result = finished[config.arch]
        model_id = trained_id(config)
        save_checkpoint(result, settings.trained_dir, model_id)
        card = {**result.card, "id": model_id, "name": f"{result.card['name']} (trained here)"}
        model = registry.add_trained(result.module, result.head, card, source="trained")
        emit({"type": "trained", "arch": config.arch, "model": model.record})
    emit({"type": "done"})


@router.websocket("/ws/train")
async def train_stream(websocket: WebSocket, registry: RegistryDep, settings: SettingsDep) -> None:
    global _running
    await websocket.accept()
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    stop = threading.Event()
    worker: threading.Thread | None = None

    def emit(event: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(events.put_nowait, event)

    async def send(event: dict[str, Any]) -> None:
        await websocket.send_text(orjson.dumps(event).decode())

    async def relay() -> None:
        while True:
            event = await events.get()
            await send(event)

    relayer = asyncio.create_task(relay())
    try:
        while True:
            message = await websocket.receive_json()
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "cancel":
                stop.set()
                continue
            if kind != "start":
                emit({"type": "error", "detail": "message type must be 'start' or 'cancel'"})
                continue
            if worker is not None and worker.is_alive():
                emit({"type": "error", "detail": "a training is already running on this connection"})
                continue
            try:
                configs = configs_from_message(message, settings)
            except ValueError as exc:
                emit({"type": "error", "detail": str(exc)})
                continue
            with _slots_lock:
                busy = _running >= settings.max_trainings
                if not busy:
                    _running += 1
            if busy:
                emit(
                    {
                        "type": "error",
                        "detail": f"the server is already training {settings.max_trainings} model set(s); "
                        "try again when it finishes",
                    }
                )
                continue
            runs = []
            for config in configs:
                # The initialization, registered so "before training" can be traced and compared.
                init = registry.add_trained(*initialization(config), source="random")
                runs.append(
                    {
                        "arch": config.arch,
                        "params": init.record["params"],
                        "steps": config.steps,
                        "init_model": init.id,
                    }
                )
            emit({"type": "started", "runs": runs})
            stop.clear()

            def work(configs: list[TrainConfig] = configs) -> None:
                global _running
                try:
                    _train_all(configs, registry, settings, emit, stop)
                except Exception as exc:  # reported to the user, never kills the server
                    emit({"type": "error", "detail": f"training failed: {exc}"})
                finally:
                    with _slots_lock:
                        _running -= 1

            worker = threading.Thread(target=work, name="gatescope-train", daemon=True)
            worker.start()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        stop.set()  # a dropped connection stops its training; nothing is saved
        relayer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relayer
