"""Page defects a reviewer found, in a real browser: the cell diagram's operator signs readable on
any fill, log tick labels near 1, the error box (wrapped, and cleared when its state is gone),
time labels that never collide at 60 steps, one gradient y range across the compare columns, the
GRU's gradient legend; with screenshots (in /tmp/gatescope-shots) looked at at 1280 and 1920 px."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from urllib.parse import quote

import pytest
import torch
from torch import nn

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect

from tests.browser_support import expect_console_error

SHOTS = Path("/tmp/gatescope-shots")
expect.set_options(timeout=20_000)
RECALL = "E..........?"
ANBN_60 = "a" * 30 + "b" * 30


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_view(page: Page, server: str, hash_: str, width: int = 1280) -> None:
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(f"{server}/#{hash_}")
    expect(page.get_by_test_id("status")).to_contain_text("loss")


# WCAG's contrast ratio of two computed CSS colors "rgb(r, g, b)".
CONTRASTS = """(root) => {
  const lum = (css) => {
    const [r, g, b] = css.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  return [...document.querySelectorAll(`${root} .node-op`)].map((g) => {
    const circle = getComputedStyle(g.querySelector("circle")).fill;
    const sign = getComputedStyle(g.querySelector(".op-sign")).fill;
    const [a, b] = [lum(circle), lum(sign)].sort((x, y) => y - x);
    return { node: g.dataset.node, circle, sign, ratio: (a + 0.05) / (b + 0.05) };
  });
}"""


@pytest.mark.parametrize(
    ("hash_", "steps"),
    [
        (f"model=recall-gru&text={quote(RECALL)}", len(RECALL)),
        ("model=charlm-lstm&text=for%20i%20in%20x%3A&unit=5", 12),
    ],
)
def test_the_diagrams_operator_signs_contrast_with_their_circles(
    page: Page, server: str, hash_: str, steps: int
) -> None:
    open_view(page, server, hash_ + "&t=0")
    dark_seen = False
    for _ in range(steps):
        ops = page.evaluate(CONTRASTS, "#diagram")
        assert ops, "the diagram has operator nodes"
        for op in ops:
            # 3:1 is WCAG's floor for large bold text (the signs are 17 px bold).
            assert op["ratio"] >= 3, op
        dark_seen |= any(op["sign"] == "rgb(255, 255, 255)" for op in ops)
        page.locator("#cursor-slider").focus()
        page.keyboard.press("ArrowRight")
    assert dark_seen, "some circle took a dark fill, so the white sign was exercised"
    shot(page, f"polish-diagram-{hash_.split('&')[0].split('=')[1]}")


def test_log_ticks_near_one_read_as_plain_numbers(page: Page, server: str) -> None:
    open_view(page, server, f"model=recall-gru&text={quote(RECALL)}")
    ticks = page.evaluate(
        "import('/static/js/lab/logaxis.js').then((m) => "
        "[m.logTicks([0.15, 8]), m.logTicks([3, 60]), m.logTicks([3e-6, 4e-5])])"
    )
    below, above, small = ticks
    assert dict(zip(below["tickvals"], below["ticktext"], strict=True)) == {
        0.2: "0.2",
        0.5: "0.5",
        1: "1",
        2: "2",
        5: "5",
    }
    assert dict(zip(above["tickvals"], above["ticktext"], strict=True)) == {
        5: "5",
        10: "10",
        20: "20",
        50: "50",
    }
    assert small["ticktext"] == ["5·10<sup>\u22126</sup>", "10<sup>\u22125</sup>", "2·10<sup>\u22125</sup>"]


def test_compare_gradient_plots_share_one_y_range_and_no_tick_reads_2_1(page: Page, server: str) -> None:
    for width in (1280, 1920):
        open_view(page, server, f"model=recall-gru&compare=recall-lstm&text={quote(RECALL)}", width)
        cols = page.locator("#compare-grid .compare-col")
        expect(cols).to_have_count(2)
        expect(cols.nth(1).locator(".js-plotly-plot")).to_have_count(2)
        axes = page.evaluate(
            """() => [...document.querySelectorAll('#compare-grid .compare-col')].map((col) => {
              const grad = col.querySelectorAll('.js-plotly-plot')[1];
              const ticks = [...grad.querySelectorAll('.ytick text')].map((t) => t.textContent);
              const title = grad.layout.title.text;
              return { range: grad._fullLayout.yaxis.range, title, y: grad.data[0].y, ticks };
            })"""
        )
        assert axes[0]["range"] == pytest.approx(axes[1]["range"])
        ys = [v for a in axes for v in a["y"] if v]
        lo, hi = axes[0]["range"]
        assert lo < float(torch.tensor(min(ys)).log10()) and float(torch.tensor(max(ys)).log10()) < hi
        assert all("same y range in every column" in a["title"] for a in axes)
        main = page.evaluate(
            "[...document.querySelectorAll('#gradients .ytick text')].map((t) => t.textContent)"
        )
        for text in [*main, *(t for a in axes for t in a["ticks"])]:
            assert not text.endswith("·1"), text
        shot(page, f"polish-compare-{width}")


def _boxes_collide(page: Page, root: str) -> list[tuple[str, str]]:
    boxes = page.evaluate(
        """(root) => [...document.querySelectorAll(`${root} .xtick text`)].map((t) => {
          const b = t.getBoundingClientRect();
          return [t.textContent, b.left, b.right, b.top, b.bottom];
        })""",
        root,
    )
    assert len(boxes) >= 2, f"{root}: tick labels drawn"
    boxes.sort(key=lambda b: b[1])
    pairs = itertools.pairwise(boxes)
    return [(a[0], b[0]) for a, b in pairs if a[2] > b[1] - 1 and a[3] < b[4] and b[3] < a[4]]


@pytest.mark.parametrize("width", [1280, 1920])
def test_time_labels_never_collide_at_60_steps(page: Page, server: str, width: int) -> None:
    open_view(page, server, f"model=anbn-lstm&compare=anbn-gru&text={ANBN_60}", width)
    expect(page.locator("#compare-grid .compare-col").nth(1).locator(".js-plotly-plot")).to_have_count(2)
    plots = page.evaluate(
        """() => [...document.querySelectorAll(
            '#heatmaps .js-plotly-plot, #gradients, #compare-grid .js-plotly-plot')].map((d, k) => {
              d.dataset.polish = String(k);
              return d.querySelectorAll('.xtick text').length;
            })"""
    )
    assert len(plots) >= 4
    for k in range(len(plots)):
        assert _boxes_collide(page, f'[data-polish="{k}"]') == [], f"plot {k} at {width} px"
    # Still as many labels as fit: a wide main heatmap labels at least every other character.
    assert max(plots) >= 30
    shot(page, f"polish-anbn60-{width}")


def test_a_grus_gradient_plot_names_its_one_curve(page: Page, server: str) -> None:
    open_view(page, server, f"model=recall-gru&text={quote(RECALL)}")
    expect(page.locator("#gradients .legend .traces")).to_have_count(1)
    expect(page.locator("#gradients .legend .legendtext")).to_have_text("‖dL/dht‖")


def test_token_vocabularies_name_their_axes_token(page: Page, server: str) -> None:
    open_view(page, server, f"model=recall-gru&text={quote(RECALL)}")
    titles = page.evaluate(
        """import('/static/js/plots.js').then((m) => [
          m.timeAxis(100, Array(100).fill('the')).title.text,
          m.timeAxis(100, Array(100).fill('a')).title.text,
          m.timeAxis(4, ['the', 'cat', 'sat', '.']).title.text])"""
    )
    assert titles == ["token (timestep t)", "character (timestep t)", "token (one per timestep)"]


def test_the_error_box_wraps_and_clears_when_its_state_is_gone(
    page: Page, server: str, tmp_path: Path
) -> None:
    open_view(page, server, "model=charlm-lstm&text=for%20i%20in%20range(10)%3A")
    error = page.get_by_test_id("error")
    page.locator("#input-text").fill("for i in range(10): \u00e9\u2603")
    expect(error).to_contain_text("not in this model's vocabulary")
    # The 96-character vocabulary wraps inside the box.
    assert page.evaluate("(e) => e.scrollWidth <= e.clientWidth", error.element_handle())
    box = error.bounding_box()
    assert box and box["x"] + box["width"] <= 1280
    shot(page, "polish-oov-1280")
    page.locator("#input-text").fill("")
    expect(error).to_be_hidden()

    # A junk upload's error goes when the next upload shows the "which module?" picker.
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a model\x00\x01" * 8)
    page.locator("details.new-model > summary").click()
    page.locator("#upload-input").set_input_files(str(junk))
    expect(error).to_contain_text("junk.pt: not a torch checkpoint")
    expect_console_error(page, "422")

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.GRU(3, 4)
            self.decoder = nn.LSTM(4, 5)

    buffer = io.BytesIO()
    torch.save(Two().state_dict(), buffer)
    two = tmp_path / "two.pt"
    two.write_bytes(buffer.getvalue())
    page.locator("#upload-input").set_input_files(str(two))
    expect(page.get_by_test_id("upload-modules")).to_be_visible()
    expect(error).to_be_hidden()
    expect_console_error(page, "422")  # the server's 422 that lists the modules
