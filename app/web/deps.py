"""Shared route dependencies as Annotated aliases (as fastapi/full-stack-fastapi-template does).

The settings, the model registry and the training slots belong to the app that `create_app` built
(its lifespan makes the registry and the slots), so every test can build a fresh app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from gatescope.settings import Settings
from gatescope.zoo.registry import LoadedModel, ModelRegistry


class TrainingSlots:
    """At most ``capacity`` trainings at once, across every connection of one app."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._running = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """Take a slot if one is free; False when all are busy."""
        with self._lock:
            if self._running >= self.capacity:
                return False
            self._running += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._running -= 1


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
