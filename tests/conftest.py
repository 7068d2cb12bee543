from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gatescope.bench.localserver import CHROMIUM_ARGS, running_server
from gatescope.settings import Settings
from gatescope.web.app import create_app
from tests.browser_support import CHROMIUM, PAGE_ERRORS, SERVER_LOG, require_browser, server_log_tail

require_browser()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        upload_dir=tmp_path / "uploads",
        trained_dir=tmp_path / "trained",
        lessons_dir=tmp_path / "lessons",
        max_steps=3000,
        max_upload_bytes=2 * 2**20,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A fresh app for each test (as datasette's make_app_client does), with its own registry."""
    with TestClient(create_app(settings)) as c:
        yield c


# ---- the browser tests: one real server and one Chromium for the whole session -----------------


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real gatescope server in a subprocess (as simonw/datasette's browser tests do)."""
    env = {
        "GATESCOPE_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
        "GATESCOPE_TRAINED_DIR": str(tmp_path_factory.mktemp("trained")),
        "GATESCOPE_LESSONS_DIR": str(tmp_path_factory.mktemp("lessons")),
    }
    with tempfile.TemporaryFile() as log:
        SERVER_LOG[:] = [log]
        with running_server(env, log) as base:
            yield base
        SERVER_LOG.clear()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (its own browser download cannot work here)."""
    sync_api = pytest.importorskip("playwright.sync_api")  # CI fails earlier (require_browser)
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed: apt-get install -y chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; any console error or uncaught exception fails the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors = PAGE_ERRORS.setdefault(pg, [])
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    PAGE_ERRORS.pop(pg, None)
    assert errors == [], f"console errors: {errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that used the server shows the server's stderr."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and "server" in getattr(item, "fixturenames", ()):
        text = server_log_tail()
        if text:
            report.sections.append(("server stderr (tail)", text))
