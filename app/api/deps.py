"""Shared route dependencies as Annotated aliases (as fastapi/full-stack-fastapi-template does)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from app.registry import LoadedModel, ModelRegistry
from app.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]
_registry_lock = threading.Lock()


def get_registry(connection: HTTPConnection, settings: SettingsDep) -> ModelRegistry:
    """The app's registry, built once from the settings in force (tests override get_settings)."""
    state = connection.app.state
    with _registry_lock:
        registry: ModelRegistry | None = getattr(state, "registry", None)
        if registry is None or registry.settings is not settings:
            registry = state.registry = ModelRegistry(settings)
    return registry


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]


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
