from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import app
from app.settings import Settings, get_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        upload_dir=tmp_path / "uploads",
        trained_dir=tmp_path / "trained",
        max_steps=3000,
        max_upload_bytes=2 * 2**20,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app) as c:
        yield c
    app.dependency_overrides.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test whose module runs a server (``server_log_tail()``) shows the server's stderr."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    tail = getattr(getattr(item, "module", None), "server_log_tail", None)
    if report.failed and callable(tail):
        text = tail()
        if text:
            report.sections.append(("server stderr (tail)", text))
