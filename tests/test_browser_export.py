"""One file to take home (issue 10), in a real browser: GET /export.html for a shipped model, saved
to disk and opened with file:// while every network request is refused, still plays, scrubs and
inspects with the API's numbers; the page's "Save as HTML" downloads that same document."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np
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


def test_a_saved_lesson_step_with_compare_plays_offline_with_the_apis_numbers(
    page: Page, server: str, tmp_path: Path
) -> None:
    """The update-gate lesson's third step: recall-gru compared with recall-lstm, its caption over
    the page. Saved, opened from disk with the network refused, every compare part holds the
    API's numbers for POST /api/trace on the same input, and the cursor and play move them all."""
    lessons = httpx.get(f"{server}/api/lessons", timeout=10).json()["lessons"]
    lesson = next(x for x in lessons if x["id"] == "update-gate")
    step = lesson["steps"][2]
    assert step["state"]["compare"] == "recall-lstm"  # the step this test is about
    text, unit, t = step["state"]["text"], int(step["state"]["unit"]), int(step["state"]["t"])
    html = export_html(server, **step["state"], lesson="update-gate", step=2)
    path = tmp_path / "lesson.html"
    path.write_text(html, encoding="utf-8")
    refs = {
        m: httpx.post(
            f"{server}/api/trace", json={"model": m, "text": text, "objective": "hidden_norm"}, timeout=30
        ).json()["layers"][0]
        for m in ("recall-gru", "recall-lstm")
    }
    refused = offline_only(page)
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 1000})
        page.goto(path.as_uri())
        expect(page.get_by_test_id("offline-note")).to_contain_text("compared with")

        # The caption, as the live page shows it: title, step k of n, Markdown as DOM nodes.
        box = page.get_by_test_id("lesson")
        expect(box.locator(".lesson-title")).to_have_text(lesson["title"])
        expect(page.get_by_test_id("lesson-count")).to_have_text(f"step 3 of {len(lesson['steps'])}")
        caption = page.get_by_test_id("lesson-caption")
        expect(caption).to_contain_text("Unit 0 of both models on one input")
        expect(caption.locator("em")).to_have_text(["f", "z"])
        expect(box.locator(".lesson-next")).to_be_disabled()  # the other steps need the server
        expect(page.locator("#gate-compare")).to_have_class("gate-compare lesson-highlight")
        page.screenshot(path=str(SHOTS / f"export-lesson-{width}.png"))

        # Compare columns: the primary and recall-lstm, heatmap and gradient norms the API's.
        cols = page.locator("#compare-grid .compare-col")
        expect(cols).to_have_count(2)
        for k, model in enumerate(("recall-gru", "recall-lstm")):
            col = f'.compare-col[data-model="{model}"]'
            expect(cols.nth(k)).to_have_attribute("data-model", model)
            plots = page.evaluate(
                "(sel) => [...document.querySelectorAll(`${sel} .js-plotly-plot`)].map((d) => d.data[0])", col
            )
            hidden = np.array(refs[model]["hidden"])  # (T, H); the heatmap is (H, T)
            assert np.array(plots[0]["z"], dtype=float) == pytest.approx(hidden.T, abs=1e-6)
            norms = np.linalg.norm(np.array(refs[model]["grad_hidden"]), axis=1)  # ||dL/dh_t||
            assert np.array(plots[1]["y"], dtype=float) == pytest.approx(norms, rel=1e-5)
            expect(page.locator(f"{col} .compare-readout")).to_contain_text(f"at t = {t}:")
            expect(page.locator(f"{col} [data-testid=compare-diagram] svg")).to_be_visible()
        gru_col, lstm_col = '.compare-col[data-model="recall-gru"]', '.compare-col[data-model="recall-lstm"]'
        expect(page.locator(f'{gru_col} [data-node="z"] .node-value')).to_have_text(
            shown(refs["recall-gru"]["gates"]["z"][t][unit])
        )
        expect(page.locator(f'{lstm_col} [data-node="f"] .node-value')).to_have_text(
            shown(refs["recall-lstm"]["gates"]["f"][t][unit])
        )

        # Gates side by side: the GRU's z and the LSTM's f for the unit, and their difference.
        lines = page.evaluate("document.querySelector('#gate-plots .js-plotly-plot').data.map((d) => d.y)")
        z = [row[unit] for row in refs["recall-gru"]["gates"]["z"]]
        f = [row[unit] for row in refs["recall-lstm"]["gates"]["f"]]
        assert lines[0] == pytest.approx(z, abs=1e-6)
        assert lines[1] == pytest.approx(f, abs=1e-6)
        assert lines[2] == pytest.approx([a - b for a, b in zip(z, f, strict=True)], abs=1e-6)
        page.locator("#gate-compare").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"export-compare-{width}.png"))

        # The cursor and play move every part: the columns' readouts and diagrams follow.
        page.locator("#cursor-slider").focus()
        page.keyboard.press("ArrowRight")
        expect(page.locator(f"{lstm_col} .compare-readout")).to_contain_text(f"at t = {t + 1}:")
        expect(page.locator(f'{lstm_col} [data-node="f"] .node-value')).to_have_text(
            shown(refs["recall-lstm"]["gates"]["f"][t + 1][unit])
        )
        page.keyboard.press("End")
        page.locator("#play").click()  # from the end: back to the start, then on
        expect(page.locator(f"{gru_col} .compare-readout")).to_contain_text("at t = 1:")
        page.locator("#play").click()
    assert refused == []


def test_a_saved_caption_is_text_never_html(page: Page, server: str, tmp_path: Path) -> None:
    source = (
        "---\nid: export-own\ntitle: Less & more\n---\nstate: model=recall-lstm&text=C..?\n\n"
        "When 1 < 2 && 3 > 2, **this** stays text: a&lt;b is not an entity.\n"
    )
    httpx.post(f"{server}/api/lessons", json={"source": source}, timeout=10).raise_for_status()
    html = export_html(server, model=MODEL, text="C..?", lesson="export-own")
    path = tmp_path / "own.html"
    path.write_text(html, encoding="utf-8")
    refused = offline_only(page)
    page.goto(path.as_uri())
    caption = page.get_by_test_id("lesson-caption")
    expect(caption).to_have_text("When 1 < 2 && 3 > 2, this stays text: a&lt;b is not an entity.")
    expect(caption.locator("strong")).to_have_text("this")
    expect(page.get_by_test_id("lesson").locator(".lesson-title")).to_have_text("Less & more")
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 1 of 1")
    assert refused == []
