"""Shared route dependencies as Annotated aliases (as fastapi/full-stack-fastapi-template does).

The settings, the model registry and the training slots belong to the app that `create_app` built
(its lifespan makes the registry and the slots), so every test can build a fresh app.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from gatescope.settings import Settings
from gatescope.zoo.registry import LoadedModel, ModelRegistry


class TrainingSlots:
    """At most ``capacity`` trainings at once across every process that serves ``directory``
    (``gatescope serve --workers N``): a slot is an exclusive lock on one of ``capacity`` files,
    which the system releases if the process dies."""

    def __init__(self, capacity: int, directory: Path) -> None:
        self.capacity = capacity
        self.directory = directory

    def acquire(self) -> int | None:
        """A slot (a locked file descriptor) if one is free; None when all are busy."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for k in range(self.capacity):
            fd = os.open(self.directory / f"slot-{k}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                os.close(fd)
        return None

    def release(self, slot: int) -> None:
        fcntl.flock(slot, fcntl.LOCK_UN)
        os.close(slot)


def get_settings(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


def get_registry(connection: HTTPConnection) -> ModelRegistry:
    registry: ModelRegistry = connection.app.state.registry
    return registry


def get_training_slots(connection: HTTPConnection) -> TrainingSlots:
    slots: TrainingSlots = connection.app.state.training_slots
    return slots


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
TrainingSlotsDep = Annotated[TrainingSlots, Depends(get_training_slots)]


def find_model(registry: ModelRegistry, model_id: str) -> LoadedModel:
    try:
        return registry.get(model_id)
    except KeyError:
        raise HTTPException(404, f"unknown model {model_id!r}; GET /api/models lists them") from None
    except ValueError as exc:  # a random-model id whose sizes are out of range
        raise HTTPException(422, str(exc)) from None


@contextmanager
def user_errors(status: int = 422) -> Iterator[None]:
    """Turn the ValueErrors the engine and loaders raise for bad input into HTTP errors."""
    try:
        yield
    except ValueError as exc:
        raise HTTPException(status, str(exc)) from None
