"""One file to take home (issue 10), in a real browser: GET /export.html for a shipped model, saved
to disk and opened with file:// while every network request is refused, still plays, scrubs and
inspects with the API's numbers; the page's "Save as HTML" downloads that same document."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

pytest.importorskip("playwright.sync_api")  # a workstation without it skips; CI fails in conftest
from playwright.sync_api import Page, Route, expect

from tests.browser_support import shown

SHOTS = Path("/tmp/gatescope-shots")
MODEL = "recall-lstm"  # shipped (models/), a text LSTM with a head and a task
TEXT = "C.....?"
expect.set_options(timeout=20_000)


def export_html(server: str, **view: object) -> str:
    response = httpx.get(f"{server}/export.html?{urlencode(view)}", timeout=60)
    response.raise_for_status()
    return response.text


def offline_only(page: Page) -> list[str]:
    """Refuse every request that is not for a file; the list of those refused (should stay empty)."""
    refused: list[str] = []

    def handle(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return refused


def test_the_saved_file_plays_scrubs_and_inspects_offline(page: Page, server: str, tmp_path: Path) -> None:
    html = export_html(server, model=MODEL, text=TEXT, t=2, unit=3, obj="task")
    path = tmp_path / "view.html"
    path.write_text(html, encoding="utf-8")
    refused = offline_only(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(path.as_uri())
    expect(page.get_by_test_id("status")).to_contain_text(f"{len(TEXT)} steps · loss")
    expect(page.get_by_test_id("offline-note")).to_contain_text("Saved view")
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 2 · ‘.’")
    expect(page.locator("#unit-input")).to_have_value("3")
    expect(page.locator("#export-html")).to_be_hidden()
    expect(page.locator("#run-button")).to_be_hidden()
    expect(page.locator("#model-select")).to_be_disabled()

    ref = httpx.post(
        f"{server}/api/trace", json={"model": MODEL, "text": TEXT, "objective": "task"}, timeout=30
    ).json()
    layer = ref["layers"][0]
    page.locator("#cursor-slider").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 3 · ‘.’")
    page.keyboard.press("End")
    last = len(TEXT) - 1
    expect(page.get_by_test_id("cursor-label")).to_have_text(f"t = {last} · ‘?’")
    for unit in range(4):
        row = page.locator(f'#insp-table tbody tr[data-unit="{unit}"]')
        row.scroll_into_view_if_needed()  # the inspector fills the rows on screen
        for gate in "ifgo":
            expect(row.locator(f'td[data-q="{gate}"]')).to_have_text(shown(layer["gates"][gate][last][unit]))
        expect(row.locator('td[data-q="cell"]')).to_have_text(shown(layer["cell"][last][unit]))
        expect(row.locator('td[data-q="hidden"]')).to_have_text(shown(layer["hidden"][last][unit]))
    expect(page.get_by_test_id("textview")).to_contain_text("C")
    expect(page.locator("#heatmaps .heatmap .main-svg").first).to_be_visible()
    expect(page.get_by_test_id("diagram").locator("svg")).to_be_visible()
    page.locator("#play").click()  # plays from the end: back to the start, then on
    expect(page.locator("#play")).to_have_text("❚❚ Pause")
    page.locator("#play").click()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "export-offline-1280.png"), full_page=True)
    assert refused == []


def test_save_as_html_downloads_what_export_html_returns(page: Page, server: str) -> None:
    page.goto(f"{server}/#model={MODEL}&text={TEXT}&t=4")
    expect(page.get_by_test_id("status")).to_contain_text("loss")
    with page.expect_download() as download:
        page.locator("#export-html").click()
    assert download.value.suggested_filename == f"gatescope-{MODEL}.html"
    saved = Path(download.value.path()).read_text(encoding="utf-8")
    hash_ = page.evaluate("location.hash").lstrip("#")
    expected = httpx.get(f"{server}/export.html?{hash_}", timeout=60).text
    assert saved == expected
    assert '"hash":"model=recall-lstm' in saved
