"""The classroom in a real browser: the cell diagram's numbers against POST /api/trace, the compare
view's diagrams and gates side by side, the lesson player, presenter mode at 1280x720; with
screenshots (in /tmp/gatescope-shots) looked at by a person at 1280 and 1920 px."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect

from tests.browser_support import shown

SHOTS = Path("/tmp/gatescope-shots")
expect.set_options(timeout=20_000)
TEXT = "E..........?"


def api_trace(server: str, model: str, **payload: object) -> dict:
    response = httpx.post(f"{server}/api/trace", json={"model": model, **payload}, timeout=30)
    response.raise_for_status()
    return response.json()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def node(page: Page, root: str, key: str) -> object:
    return page.locator(f'{root} [data-node="{key}"] .node-value')


def test_the_lstm_diagram_shows_the_apis_numbers_and_moves_with_the_cursor(page: Page, server: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{server}/#model=recall-lstm&text={quote(TEXT)}&t=5&unit=2")
    expect(page.get_by_test_id("status")).to_contain_text("loss")
    ref = api_trace(server, "recall-lstm", text=TEXT)["layers"][0]
    d = "#diagram"
    for t in (5, 6):
        g = ref["gates"]
        for key in "ifgo":
            expect(node(page, d, key)).to_have_text(shown(g[key][t][2]))
        expect(node(page, d, "c")).to_have_text(shown(ref["cell"][t][2]))
        expect(node(page, d, "h")).to_have_text(shown(ref["hidden"][t][2]))
        expect(node(page, d, "tanh_c")).to_have_text(shown(math.tanh(ref["cell"][t][2])))
        expect(page.locator(f'{d} [data-edge="c_prev"] .edge-value')).to_have_text(
            shown(ref["cell"][t - 1][2])
        )
        page.locator("#cursor-slider").focus()
        page.keyboard.press("ArrowRight")
    # The equation is the node's tooltip.
    title = page.locator(f'{d} [data-node="f"] title').text_content()
    assert (
        title and title.startswith("forget gate fₜ = σ(") and title.endswith(shown(ref["gates"]["f"][7][2]))
    )
    # Another unit: ↓ selects unit 3; the same SVG nodes, new numbers (no rebuild).
    svg = page.locator(f"{d} svg").element_handle()
    page.keyboard.press("ArrowDown")
    expect(node(page, d, "f")).to_have_text(shown(ref["gates"]["f"][7][3]))
    assert page.evaluate("(s) => s.isConnected", svg)
    shot(page, "diagram-lstm-1280")


def test_compare_shows_lstm_and_gru_diagrams_and_gates_side_by_side(page: Page, server: str) -> None:
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 1000})
        page.goto(f"{server}/#model=recall-lstm&compare=recall-gru&text={quote(TEXT)}&t=4&unit=2")
        expect(page.get_by_test_id("status")).to_contain_text("loss")
        cols = page.locator(".compare-col")
        expect(cols).to_have_count(2)
        gru = api_trace(server, "recall-gru", text=TEXT, objective="hidden_norm")["layers"][0]
        gru_col = '.compare-col[data-model="recall-gru"]'
        expect(node(page, gru_col, "z")).to_have_text(shown(gru["gates"]["z"][4][2]))
        expect(node(page, gru_col, "r")).to_have_text(shown(gru["gates"]["r"][4][2]))
        expect(node(page, gru_col, "n")).to_have_text(shown(gru["gates"]["n"][4][2]))
        expect(page.locator(f'{gru_col} [data-node="one_minus_z"] .node-value')).to_have_text(
            shown(1 - gru["gates"]["z"][4][2])
        )
        gates = page.get_by_test_id("gate-compare")
        expect(gates.locator(".main-svg").first).to_be_visible()
        gates.scroll_into_view_if_needed()
        shot(page, f"compare-gates-{width}")
    lstm = api_trace(server, "recall-lstm", text=TEXT)["layers"][0]
    plotted = page.evaluate("document.querySelector('#gate-plots .js-plotly-plot').data.map((d) => d.y)")
    assert plotted[0] == pytest.approx([row[2] for row in lstm["gates"]["f"]], abs=1e-6)
    assert plotted[1] == pytest.approx([row[2] for row in gru["gates"]["z"]], abs=1e-6)
    assert plotted[2] == pytest.approx(
        [a[2] - b[2] for a, b in zip(lstm["gates"]["f"], gru["gates"]["z"], strict=True)], abs=1e-6
    )
    page.locator("#role-gru").select_option("1-z")
    page.wait_for_function(
        "document.querySelector('#gate-plots .js-plotly-plot').data[1].name.includes('1 − z')"
    )
    page.locator("#role-view").select_option("heatmaps")
    expect(page.locator("#gate-plots .js-plotly-plot")).to_have_count(3)
    no_overlap(page, "#gate-plots .js-plotly-plot")


def no_overlap(page: Page, selector: str) -> None:
    """No two x tick labels of any plot under ``selector`` overlap, and no legend overlaps an axis title."""
    boxes = page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)].map((plot) => ({
            ticks: [...plot.querySelectorAll('.xtick text')].map((t) => t.getBoundingClientRect().toJSON()),
            legend: plot.querySelector('.legend')?.getBoundingClientRect().toJSON() ?? null,
            titles: [...plot.querySelectorAll('.g-xtitle text, .g-ytitle text')]
              .map((t) => t.getBoundingClientRect().toJSON()),
        }))""",
        selector,
    )

    def hit(a: dict, b: dict) -> bool:
        return (
            a["left"] < b["right"] - 1
            and b["left"] < a["right"] - 1
            and a["top"] < b["bottom"] - 1
            and b["top"] < a["bottom"] - 1
        )

    for plot in boxes:
        ticks = sorted(plot["ticks"], key=lambda r: r["left"])
        for a, b in itertools.pairwise(ticks):
            assert not hit(a, b), (a, b)
        if plot["legend"]:
            for t in plot["titles"]:
                assert not hit(plot["legend"], t), (plot["legend"], t)


def test_tick_labels_and_legends_never_overlap(page: Page, server: str) -> None:
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 1000})
        text = quote("the gates open and close")
        page.goto(f"{server}/#model=charlm-lstm&compare=charlm-gru,charlm-rnn&text={text}")
        expect(page.get_by_test_id("status")).to_contain_text("loss")
        expect(page.locator(".compare-col .js-plotly-plot")).to_have_count(6)
        # The compare columns and the gradient plot (the main heatmaps are heatmaps.js's own).
        no_overlap(page, ".compare .js-plotly-plot, #gradients")
        page.locator(".compare").scroll_into_view_if_needed()
        shot(page, f"compare-ticks-{width}")


def test_a_lesson_link_opens_its_step_and_pagedown_moves_on(page: Page, server: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{server}/#lesson=forget-gate&step=1")
    lesson = page.get_by_test_id("lesson")
    expect(lesson).to_contain_text("The forget gate keeps a memory")
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 2 of 4")
    expect(page.get_by_test_id("lesson-caption")).to_contain_text("Five blanks later")
    expect(page.get_by_test_id("lesson-caption").locator("em").first).to_have_text("f")
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 5 · ‘.’")
    expect(page.locator("#unit-input")).to_have_value("2")
    expect(page.locator("#diagram-figure")).to_have_class("diagram-wrap lesson-highlight")
    shot(page, "lesson-step-1280x720")
    page.keyboard.press("PageDown")
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 3 of 4")
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 10 · ‘.’")
    page.keyboard.press("PageUp")
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 2 of 4")
    # A step in the lab: the lesson goes on there.
    page.goto("about:blank")
    page.goto(f"{server}/#lesson=vanishing&step=0")
    page.wait_for_url("**/lab#*")
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 1 of 4")
    expect(page.locator("#gf-slopes tbody tr")).to_have_count(3)


def test_an_uploaded_lesson_is_rendered_as_text(page: Page, server: str) -> None:
    source = (
        "---\nid: class-own\ntitle: Our own\n---\nstate: model=recall-gru&text=A..?&t=1\n\n"
        "Plain *text* with a & and `code` shown as **text**.\n"
    )
    r = httpx.post(f"{server}/api/lessons", json={"source": source}, timeout=10)
    assert r.status_code == 201, r.text
    page.goto(f"{server}/#lesson=class-own")
    caption = page.get_by_test_id("lesson-caption")
    expect(caption).to_have_text("Plain text with a & and code shown as text.")
    expect(caption.locator("strong")).to_have_text("text")
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 1 · ‘.’")


def test_zoo_verdicts_need_every_seed_to_win(page: Page, server: str) -> None:
    page.goto(f"{server}/#model=recall-lstm&text=A")
    expect(page.get_by_test_id("status")).to_contain_text("loss")
    result = page.evaluate(
        """import('/static/js/zoo.js').then(({ seedVerdict, claimsFor }) => {
          const card = (arch, metrics, ms) => ({ arch, params: arch === 'gru' ? 3 : 4,
            metric: { name: 'MSE', value: metrics[0], higher_is_better: false },
            seeds: { runs: metrics.map((m, k) => ({ seed: k, metric: m, ms_per_step: ms[k] })),
                     metric: { n: 5, mean: 0.0133, std: 0.0004, median: 0.0133, min: 0.0128, max: 0.0139 },
                     ms_per_step: { n: 5, mean: 4.6, std: 0.2, median: 4.5, min: 4.3, max: 4.9 } } });
          const lstm = card('lstm', [0.0132, 0.0128, 0.0136, 0.0131, 0.0139], [4.5, 4.3, 4.9, 4.6, 4.4]);
          const gru = card('gru', [0.0134, 0.0130, 0.0133, 0.0138, 0.0129], [16, 16.5, 15.8, 17, 16.2]);
          const claims = claimsFor([lstm, gru]);
          return { overlap: seedVerdict(lstm, gru, (r) => r.metric, true),
                   apart: seedVerdict(gru, lstm, (r) => r.ms_per_step, true),
                   claims: claims.map((c) => [c.key, c.holds, c.evidence]) };
        })"""
    )
    assert result["overlap"]["winner"] is None
    assert result["apart"]["winner"] == "b" and result["apart"]["p"] == pytest.approx(2 / 252)
    claims = {key: (holds, evidence) for key, holds, evidence in result["claims"]}
    assert claims["metric"][0] == "none"
    assert claims["metric"][1].startswith("MSE: LSTM 0.0133 ± 4.00e\u22124 (5 seeds) vs GRU")
    assert claims["speed"][0] is False
    assert claims["speed"][1].startswith("4.50 ms [4.30 ms, 4.90 ms] vs 4.50 ms")


def test_presenter_mode_fits_a_720p_projector(page: Page, server: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{server}/#model=recall-lstm&text={quote(TEXT)}&t=5&unit=2&teach=1&lesson=forget-gate&step=1")
    expect(page.get_by_test_id("lesson-caption")).to_contain_text("Five blanks later")
    expect(page.locator("#diagram svg")).to_be_visible()
    expect(page.locator("#heatmaps .heatmap .main-svg").first).to_be_visible()
    for hidden in ("#input-text", "#export-json", "#zoo-panel", "#insp-table"):
        expect(page.locator(hidden)).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollHeight") <= 720
    caption = page.get_by_test_id("lesson").bounding_box()
    diagram = page.locator("#diagram svg").bounding_box()
    assert caption and diagram and caption["y"] >= diagram["y"] + diagram["height"] - 1
    shot(page, "presenter-1280x720")


def test_presenter_mode_survives_next_and_back_and_the_lab(page: Page, server: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{server}/#lesson=forget-gate&step=0")
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 1 of 4")
    page.locator("#teacher-toggle").click()
    expect(page.locator("body")).to_have_class(re.compile(r"\bteacher\b"))
    page.keyboard.press("PageDown")
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 2 of 4")
    expect(page.locator("body")).to_have_class(re.compile(r"\bteacher\b"))
    assert "teach=1" in page.url
    page.get_by_role("button", name="Next ▶").click()
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 3 of 4")
    expect(page.locator("#teacher-toggle")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="◀ Back").click()
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 2 of 4")
    expect(page.locator("body")).to_have_class(re.compile(r"\bteacher\b"))
    # Through the lab (which has no presenter mode of its own) and back: the key stays.
    page.goto("about:blank")
    page.goto(f"{server}/#lesson=cost&step=1&teach=1")
    page.wait_for_url("**/lab#*")
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 2 of 3")
    assert "teach=1" in page.url
    page.keyboard.press("PageDown")
    expect(page.get_by_test_id("lesson-count")).to_have_text("step 3 of 3")
    expect(page.locator("body")).to_have_class(re.compile(r"\bteacher\b"))
    # The teacher leaves presenter mode: the next step stays out of it.
    page.locator("#teacher-toggle").click()
    page.keyboard.press("PageUp")
    page.wait_for_url("**/lab#*")
    assert "teach=1" not in page.url


def _boxes(page: Page) -> dict:
    return page.evaluate(
        """() => {
          const rect = (e) => e?.getBoundingClientRect().toJSON() ?? null;
          return { caption: rect(document.querySelector('.lesson-player')),
                   target: rect(document.querySelector('.lesson-highlight')),
                   height: document.documentElement.scrollHeight,
                   // the bars that stick to the top (the timeline, the lab's tabs), where stuck
                   stuck: Math.max(0, ...[...document.querySelectorAll('body > *, body > * > *')]
                     .filter((e) => getComputedStyle(e).position === 'sticky'
                       && e.getBoundingClientRect().width > window.innerWidth / 2
                       && e.getBoundingClientRect().top <= parseFloat(getComputedStyle(e).top) + 1)
                     .map((e) => e.getBoundingClientRect().bottom)),
                   view: [window.innerWidth, window.innerHeight] };
        }"""
    )


def _overlap(a: dict, b: dict) -> float:
    """The area two boxes share (0 when they do not touch)."""
    w = min(a["right"], b["right"]) - max(a["left"], b["left"])
    h = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return max(0.0, w) * max(0.0, h)


@pytest.mark.parametrize("teach", [True, False], ids=["presenter", "page"])
def test_every_lesson_step_shows_its_region_clear_of_the_caption(
    page: Page, server: str, teach: bool
) -> None:
    """Each step of each shipped lesson at 1280x720: its highlighted region is on screen and the
    caption does not cover it; in presenter mode the step fits one screen unless it says why not."""
    page.set_viewport_size({"width": 1280, "height": 720})
    lessons = httpx.get(f"{server}/api/lessons", timeout=10).json()["lessons"]
    shipped = [x for x in lessons if x["source"] == "builtin"]
    assert len(shipped) >= 5
    for lesson in shipped:
        for k, step in enumerate(lesson["steps"]):
            where = f"{lesson['id']} step {k}{' presenter' if teach else ''}"
            page.goto("about:blank")
            page.goto(f"{server}/#lesson={lesson['id']}&step={k}{'&teach=1' if teach else ''}")
            expect(page.get_by_test_id("lesson-count")).to_have_text(
                f"step {k + 1} of {len(lesson['steps'])}"
            )
            if step["highlight"]:
                expect(page.locator(".lesson-highlight")).to_be_visible()
            if step["page"] == "main":
                expect(page.get_by_test_id("status")).to_contain_text("loss")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(400)  # the plots' last resize, then the player's placement
            box = _boxes(page)
            shot(page, f"lesson-{lesson['id']}-{k}{'-present' if teach else ''}-1280x720")
            if teach and step["page"] == "main" and not step["scrolls"]:
                assert box["height"] <= 720, f"{where}: {box['height']} px high, no 'scrolls:' reason"
            if box["target"]:
                t = box["target"]
                assert _overlap(box["caption"], t) == 0, f"{where}: the caption covers {t}"
                assert box["stuck"] - 1 <= t["top"] < 720 - 40, f"{where}: its region is not in view: {t}"
