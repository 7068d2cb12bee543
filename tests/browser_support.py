"""What the browser tests share besides their fixtures (those are in conftest.py): how the page
shows numbers, the console errors each page has logged, and the test server's stderr."""

from __future__ import annotations

import os
import shutil
from typing import IO, Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MINUS = "\u2212"

#: The session's server stderr, shown (its tail) in a failing test's report: see conftest.py.
SERVER_LOG: list[IO[bytes]] = []
#: Console errors per open page; a test that provokes one on purpose takes it back.
PAGE_ERRORS: dict[Any, list[str]] = {}


def require_browser() -> None:
    """With CI set, a missing playwright or chromium is an error: CI must run the page's tests.
    On a workstation without them the browser tests are skipped (by the ``browser`` fixture)."""
    if not os.environ.get("CI"):
        return
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"CI is set but playwright is missing ({exc}): pip install -e '.[test]'") from exc
    if CHROMIUM is None:
        raise RuntimeError("CI is set but Debian's chromium is not installed: apt-get install -y chromium")


def shown(value: float, digits: int = 3) -> str:
    """A number as the page shows it (static/js/format.js fmt): fixed digits, a true minus sign."""
    return f"{value:.{digits}f}".replace("-", MINUS)


def expect_console_error(page: Any, text: str) -> None:
    """Assert the page logged a console error containing ``text``, and take it back."""
    errors = PAGE_ERRORS[page]
    assert any(text in e for e in errors), f"expected a console error with {text!r}, got {errors}"
    errors[:] = [e for e in errors if text not in e]


def server_log_tail(chars: int = 4000) -> str:
    if not SERVER_LOG:
        return ""
    log = SERVER_LOG[0]
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-chars:]
