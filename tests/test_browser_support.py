"""CI must run the browser tests: with CI set, a missing browser is an error, never a skip."""

from __future__ import annotations

import pytest

from tests import browser_support


def test_missing_chromium_fails_in_ci_and_is_fine_on_a_workstation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser_support, "CHROMIUM", None)
    monkeypatch.delenv("CI", raising=False)
    browser_support.require_browser()  # a workstation: the browser fixture will skip instead
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="apt-get install -y chromium"):
        browser_support.require_browser()


def test_shown_matches_the_pages_number_format() -> None:
    assert browser_support.shown(-0.77123) == "\u22120.771"
    assert browser_support.shown(2.0, digits=1) == "2.0"
