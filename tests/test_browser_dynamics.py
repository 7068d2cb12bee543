"""The lab's issue-11 tabs (interventions, fixed points, projection, attribution, units) in a real
browser against a real server, as tests/test_browser_lab.py does: what each tab shows is held to
its API answer (POST /api/trace, /api/analysis/*) at the page's display precision.

Models are random ones rebuilt from their ids (deterministic), so nothing is downloaded.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pytest

pytest.importorskip("playwright.sync_api")  # a workstation without it skips; CI fails in conftest
from playwright.sync_api import Page, expect

from tests.browser_support import MINUS, expect_console_error, shown

TEXT_LSTM = "random-lstm-iascii-h8-l1-s0"
TEXT = 'x = f("ab") + [1, (2)]'
expect.set_options(timeout=20_000)


def kind_names(points: list[dict[str, Any]]) -> list[str]:
    """The two legend names: stable and unstable, each "fixed point" when every q(s) < 1e-3,
    "slow point" when none is, else "fixed or slow point" (fixedsearch.js)."""
    names = []
    for stable in (True, False):
        kinds = {
            "fixed point" if p["speed"] < 1e-3 else "slow point" for p in points if p["stable"] == stable
        }
        kind = kinds.pop() if len(kinds) == 1 else "fixed or slow point"
        names.append(f"{'stable' if stable else 'unstable'} {kind}")
    return names


def time_text(point: dict[str, Any]) -> str:
    """The hover's time for the largest |λ|: its decay time, or how fast it grows for |λ| > 1."""
    tau = point["time_constants"][0]
    if tau is None:
        return ""
    return f"grows ×e in {shown(-tau, 1)} steps" if tau < 0 else f"time constants: {shown(tau, 2)}"


def post(server: str, path: str, **body: Any) -> Any:
    response = httpx.post(f"{server}{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


def sci(value: float, digits: int = 2) -> str:
    """static/js/format.js sci: 5.04e−5."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    return f"{mantissa}e{int(exponent)}".replace("-", MINUS)


def num(value: float) -> str:
    """static/js/format.js num: 4 decimals, or scientific below 1e-3."""
    return sci(value) if value != 0 and abs(value) < 1e-3 else shown(value, 4)


def signed(value: float) -> str:
    """static/js/lab/attribution.js signed: a plus for positives."""
    text = shown(value, 4) if abs(value) >= 1e-3 or value == 0 else sci(value, 3)
    return f"+{text}" if value > 0 else text


def open_lab(page: Page, server: str, hash_: str, view: str) -> None:
    page.goto(f"{server}/lab#{hash_}&tab={view}")
    expect(page.locator(f"#view-{view} .view-status")).to_contain_text("computed and drawn")


def plotted(page: Page, div: str, trace: int, key: str) -> Any:
    return page.evaluate(f"document.getElementById('{div}').data[{trace}].{key}")


def test_hold_the_memory_keeps_the_cell_state_still(page: Page, server: str) -> None:
    unit, a, b = 2, 3, 12
    open_lab(page, server, f"model={TEXT_LSTM}&text={quote(TEXT)}&unit={unit}", "interventions")
    base = post(server, "/api/trace", model=TEXT_LSTM, text=TEXT)
    loss = page.get_by_test_id("iv-loss")
    expect(loss.locator('[data-q="loss-original"]')).to_have_text(num(base["loss"]))
    page.get_by_label("from step").fill(str(a))
    page.get_by_label("to step").fill(str(b))
    page.get_by_role("button", name="Hold the memory").click()
    clamps = [
        {"layer": 0, "quantity": "f", "units": [unit], "steps": [a, b], "value": 1},
        {"layer": 0, "quantity": "i", "units": [unit], "steps": [a, b], "value": 0},
    ]
    held = post(server, "/api/trace", model=TEXT_LSTM, text=TEXT, interventions=clamps)
    expect(loss.locator('[data-q="loss-intervened"]')).to_have_text(num(held["loss"]))
    expect(loss.locator('[data-q="loss-change"]')).to_have_text(num(held["loss"] - base["loss"]))
    expect(page.locator("#iv-clamps li")).to_have_count(2)
    expect(page.locator("#iv-show")).to_have_value("cell")
    page.wait_for_function("document.getElementById('iv-plot').data.length === 2")
    cell = np.array(held["layers"][0]["cell"])[:, unit]
    after = np.array(plotted(page, "iv-plot", 1, "y"))
    before = np.array(plotted(page, "iv-plot", 0, "y"))
    assert after == pytest.approx(cell, abs=1e-6)
    assert before == pytest.approx(np.array(base["layers"][0]["cell"])[:, unit], abs=1e-6)
    # The class example: over the span the cell state does not move (from c_{a-1} on).
    assert np.ptp(after[a - 1 : b]) < 1e-6
    assert np.ptp(before[a - 1 : b]) > 1e-3
    diff = np.array(plotted(page, "iv-diff", 0, "y"))
    assert diff == pytest.approx(after - before, abs=1e-6)
    page.wait_for_function("location.hash.includes('iv=') && location.hash.includes('ivs=cell')")

    # Ablate: the hidden state is 0 over the span; a reload shows the same clamp.
    page.get_by_role("button", name="Ablate this unit").click()
    page.wait_for_function("!location.hash.includes('ivs=') && location.hash.includes('hidden')")
    expect(page.locator("#iv-clamps li")).to_have_text(
        [f"layer 0 · hidden of unit {unit} = 0.00 over {a} ≤ t < {b}"]
    )
    page.reload()
    expect(page.locator("#view-interventions .view-status")).to_contain_text("computed and drawn")
    hidden = np.array(plotted(page, "iv-plot", 1, "y"))
    assert np.abs(hidden[a:b]).max() == 0


#: Every tick label's box in a plot, as the page lays it out: [axis, text, left, top, right, bottom].
TICK_BOXES = """(id) => [...document.querySelectorAll(`#${id} .xtick text, #${id} .ytick text`)]
.map((node) => {
  const r = node.getBoundingClientRect();
  return [node.closest('.xtick') ? 'x' : 'y', node.textContent, r.left, r.top, r.right, r.bottom];
})"""


@pytest.mark.parametrize("width", [1280, 1920])
def test_interventions_tick_labels_never_meet_at_the_corner(page: Page, server: str, width: int) -> None:
    # A run longer than 80 steps has numbered time ticks: t = 0 sits on the plot's left edge, and
    # the difference's lowest value label (-0.2 here) on its bottom edge, where they used to touch.
    text = "the quick brown fox jumps over the lazy dog and then some more text to make it long enough "
    page.set_viewport_size({"width": width, "height": 1000})
    clamp = "0,hidden,3,2,60,0"
    open_lab(page, server, f"model={TEXT_LSTM}&text={quote(text)}&unit=3&iv={clamp}", "interventions")
    page.wait_for_function("document.getElementById('iv-diff').data?.length === 1")
    for div in ("iv-plot", "iv-diff"):
        boxes = page.evaluate(TICK_BOXES, div)
        xs = [b for b in boxes if b[0] == "x"]
        ys = [b for b in boxes if b[0] == "y"]
        assert xs and ys
        for x in xs:
            for y in ys:
                apart = x[2] >= y[4] or y[2] >= x[4] or x[3] >= y[5] or y[3] >= x[5]
                assert apart, f"{div}: time label {x[1]!r} overlaps value label {y[1]!r}: {x[2:]} {y[2:]}"


def test_fixed_points_are_drawn_on_the_trajectorys_components(page: Page, server: str) -> None:
    text = "hello world, hello"
    open_lab(page, server, f"model={TEXT_LSTM}&text={quote(text)}&t=4&fpc=12&fpx=e", "fixedpoints")
    proj = post(server, "/api/analysis/projection", model=TEXT_LSTM, text=text, layer=0, components=2)
    found = post(
        server,
        "/api/analysis/fixed-points",
        model=TEXT_LSTM,
        text="e",
        layer=0,
        count=12,
        seed=0,
        trajectory={"text": text},
    )
    points = found["points"]
    rows = page.locator("#fp-table tbody tr")
    expect(rows).to_have_count(len(points))
    expect(rows.locator('[data-q="stable"]')).to_have_text(
        ["stable" if p["stable"] else "unstable" for p in points]
    )
    comps, mean = np.array(proj["components"]), np.array(proj["mean"])
    xy = (np.array([p["hidden"] for p in points]) - mean) @ comps.T
    traces = page.evaluate(
        "document.getElementById('fp-plot').data.map((t) => ({name: t.name, x: t.x, y: t.y, "
        "symbol: t.marker.symbol, text: t.text, customdata: t.customdata}))"
    )
    by_name = {t["name"]: t for t in traces}
    assert np.array(by_name["this input's trajectory"]["x"]) == pytest.approx(
        np.array(proj["points"])[:, 0], abs=1e-6
    )
    expect(rows.locator('[data-q="kind"]')).to_have_text(
        ["fixed" if p["speed"] < 1e-3 else "slow" for p in points]
    )
    names = kind_names(points)
    for name, stable, symbol in ((names[0], True, "circle"), (names[1], False, "circle-open")):
        t = by_name[name]
        assert t["symbol"] == symbol
        idx = [k for k, p in enumerate(points) if p["stable"] == stable]
        assert t["customdata"] == idx
        assert np.array(t["x"]) == pytest.approx(xy[idx, 0], abs=1e-5)
        assert np.array(t["y"]) == pytest.approx(xy[idx, 1], abs=1e-5)
        for k, hover in zip(idx, t["text"], strict=True):
            assert time_text(points[k]) in hover
    cursor = by_name["cursor"]
    assert [cursor["x"][0], cursor["y"][0]] == pytest.approx(proj["points"][4], abs=1e-6)
    expect(page.locator("#fp-form [name=count]")).to_have_value("12")


def test_projection_in_2d_and_3d_with_the_cursor(page: Page, server: str) -> None:
    text = "the cat sat on the mat"
    open_lab(page, server, f"model={TEXT_LSTM}&text={quote(text)}&t=5", "projection")
    ref = post(server, "/api/analysis/projection", model=TEXT_LSTM, text=text, layer=0, components=3)
    pts = np.array(ref["points"])
    assert np.array(plotted(page, "pj-2d", 0, "x")) == pytest.approx(pts[:, 0], abs=1e-6)
    assert np.array(plotted(page, "pj-2d", 0, "y")) == pytest.approx(pts[:, 1], abs=1e-6)
    assert plotted(page, "pj-3d", 0, "type") == "scatter3d"
    assert np.array(plotted(page, "pj-3d", 0, "z")) == pytest.approx(pts[:, 2], abs=1e-6)
    assert plotted(page, "pj-2d", 0, "marker.colorbar.title.text") == "step t"
    ratio = ref["explained_variance_ratio"]
    titles = page.locator("#pj-2d .g-xtitle, #pj-2d .g-ytitle")
    expect(titles).to_have_text(
        [f"PC1 ({100 * ratio[0]:.1f}% of variance)", f"PC2 ({100 * ratio[1]:.1f}% of variance)"]
    )
    assert plotted(page, "pj-3d", 1, "x") == pytest.approx([pts[5, 0]], abs=1e-6)
    # The step slider moves the cursor in both plots (a restyle, not a new request).
    page.locator("#step-slider").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("step-label")).to_have_text("t = 6 · ‘t’")
    page.wait_for_function(f"Math.abs(document.getElementById('pj-2d').data[1].x[0] - {pts[6, 0]}) < 1e-6")
    page.wait_for_function(f"Math.abs(document.getElementById('pj-3d').data[1].z[0] - {pts[6, 2]}) < 1e-6")


PROJECTED = (
    "document.getElementById('{div}').data.map((t) => ({{name: t.name, meta: t.meta ?? null, type: t.type, "
    "x: t.x, y: t.y, z: t.z ?? null, symbol: t.marker.symbol, customdata: t.customdata ?? null, "
    "text: t.text}}))"
)


def test_projection_draws_the_fixed_points_and_the_compare_models_paths(page: Page, server: str) -> None:
    """A same-size GRU shares the LSTM's PCA, a 5-unit RNN gets its own PCs; the fixed points of
    the constant input are on the shared axes; the cursor moves every path's cursor point, by a
    restyle (no new request). Every coordinate is held to the API's numbers, projected here."""
    text = "the cat sat on the mat"
    gru, rnn = "random-gru-iascii-h8-l1-s1", "random-rnn-iascii-h5-l1-s2"
    hash_ = f"model={TEXT_LSTM}&compare={gru},{rnn}&text={quote(text)}&t=5&pjfp=1&fpx=e&fpc=12"
    open_lab(page, server, hash_, "projection")
    others = [
        {"model": gru, "layer": 0, "axes": "shared"},
        {"model": rnn, "layer": 0, "axes": "own", "components": 2},
    ]
    ref = post(
        server, "/api/analysis/projection", model=TEXT_LSTM, text=text, layer=0, components=3, others=others
    )
    found = post(
        server,
        "/api/analysis/fixed-points",
        model=TEXT_LSTM,
        text="e",
        layer=0,
        count=12,
        seed=0,
        trajectory={"text": text},
    )
    shared, own = ref["paths"]
    paths = {f"path:{TEXT_LSTM}": np.array(ref["points"]), f"path:{gru}": np.array(shared["points"])}
    hidden = np.array([p["hidden"] for p in found["points"]])
    fixed = (hidden - np.array(ref["mean"])) @ np.array(ref["components"]).T  # (points, 3)
    stable = [k for k, p in enumerate(found["points"]) if p["stable"]]
    unstable = [k for k, p in enumerate(found["points"]) if not p["stable"]]
    for div, dims in (("pj-2d", 2), ("pj-3d", 3)):
        traces = page.evaluate(PROJECTED.format(div=div))
        # Two paths, the stable and the unstable fixed points, and a cursor on each path.
        assert [t["meta"] or t["name"] for t in traces] == [
            *paths,
            *kind_names(found["points"]),
            f"cursor:{TEXT_LSTM}",
            f"cursor:{gru}",
        ]
        axes = "xyz"[:dims]
        for trace, want in zip(traces[:2], paths.values(), strict=True):
            for i, axis in enumerate(axes):
                assert np.array(trace[axis]) == pytest.approx(want[:, i], abs=1e-6)
        for trace, idx, symbol in ((traces[2], stable, "circle"), (traces[3], unstable, "circle-open")):
            assert trace["customdata"] == idx and trace["symbol"] == symbol
            for k, hover in zip(idx, trace["text"], strict=True):
                assert time_text(found["points"][k]) in hover
            for i, axis in enumerate(axes):
                assert np.array(trace[axis]) == pytest.approx(fixed[idx, i], abs=1e-5)
        for trace, want in zip(traces[4:], paths.values(), strict=True):
            assert [trace[a][0] for a in axes] == pytest.approx(want[5, :dims], abs=1e-6)
    # The RNN (5 units, not 8) on its own PCs, in a small plot of its own.
    small = page.locator(f'#pj-others [data-model="{rnn}"]')
    expect(small).to_have_count(1)
    expect(page.locator("#pj-others .plot")).to_have_count(1)
    mine = page.evaluate(
        f"document.querySelector('#pj-others [data-model=\"{rnn}\"]').data.map((t) => [t.x, t.y])"
    )
    assert len(mine) == 2
    np.testing.assert_allclose(np.transpose(mine[0]), own["points"], atol=1e-6)
    np.testing.assert_allclose(np.transpose(mine[1]), np.array(own["points"])[5:6], atol=1e-6)
    expect(small.locator(".g-xtitle")).to_have_text(f"PC1 ({100 * own['explained_variance_ratio'][0]:.1f}%)")
    caption = page.get_by_test_id("pj-caption")
    expect(caption).to_contain_text("Shared axes: one PCA fitted on the hidden states of")
    expect(caption).to_contain_text("has 5 hidden units, not 8: its units are other axes")
    expect(caption).to_contain_text(f"{len(stable)} stable (filled), {len(unstable)} unstable (open)")
    ratio = ref["explained_variance_ratio"]
    expect(page.locator("#pj-2d .g-xtitle")).to_have_text(f"PC1 ({100 * ratio[0]:.1f}% of variance)")

    # The cursor moves every path's cursor point, in all three plots, without asking again.
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/" in r.url else None)
    page.locator("#step-slider").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("step-label")).to_have_text("t = 6 · ‘t’")
    for div, trace, want in (
        ("pj-2d", 4, paths[f"path:{TEXT_LSTM}"][6]),
        ("pj-2d", 5, paths[f"path:{gru}"][6]),
        ("pj-3d", 5, paths[f"path:{gru}"][6]),
    ):
        page.wait_for_function(
            f"Math.abs(document.getElementById('{div}').data[{trace}].x[0] - {want[0]}) < 1e-6 && "
            f"Math.abs(document.getElementById('{div}').data[{trace}].y[0] - {want[1]}) < 1e-6"
        )
    page.wait_for_function(
        f"Math.abs(document.querySelector('#pj-others .plot').data[1].x[0] - {own['points'][6][0]}) < 1e-6"
    )
    assert asked == []

    # Each model on its own PCs (Axes): the GRU leaves the shared plot for a small one.
    page.get_by_label("compare axes").select_option("own")
    page.wait_for_function("location.hash.includes('pjax=own')")
    expect(page.locator("#pj-others .plot")).to_have_count(2)
    expect(caption).to_contain_text("is drawn on its own PCs below, as asked")
    page.wait_for_function("document.getElementById('pj-2d').data.length === 4")  # 1 path, 2 fixed, 1 cursor


def test_attribution_on_the_text_and_its_completeness(page: Page, server: str) -> None:
    text = "count (the) 'quotes'"
    obj = {"layer": 0, "unit": 3, "step": 15}
    open_lab(page, server, f"model={TEXT_LSTM}&text={quote(text)}&obj=unit:0,3,15", "attribution")
    expect(page.get_by_test_id("at-objective")).to_contain_text("unit 3 of layer 0 at t = 15")
    for method, label in (("integrated_gradients", None), ("gradient_x_input", "gradient × input")):
        if label:
            page.get_by_label("attribution method").select_option(label=label)
            page.wait_for_function("location.hash.includes('atm=gxi')")
        extra = {"steps": 16} if method == "integrated_gradients" else {}
        ref = post(
            server,
            "/api/analysis/attribution",
            model=TEXT_LSTM,
            text=text,
            objective=obj,
            method=method,
            **extra,
        )
        spans = page.locator("#at-text span")
        expect(spans).to_have_count(len(text))
        expect(page.get_by_test_id("at-sums").locator('[data-q="completeness"]')).to_have_text(
            sci(ref["completeness_error"])
        )
        values = page.evaluate("[...document.querySelectorAll('#at-text span')].map((s) => s.dataset.value)")
        assert values == [signed(v) for v in ref["per_step"]]
        assert all(v == "0.0000" for v in values[16:]), "steps after the objective's contribute nothing"
        sums = page.get_by_test_id("at-sums")
        expect(sums.locator('[data-q="objective"]')).to_have_text(signed(ref["objective_value"]))
        expect(sums.locator('[data-q="sum"]')).to_have_text(signed(sum(ref["per_step"])))
    # Diverging colors: a positive and a negative step get a red and a blue background.
    colors = page.evaluate("[...document.querySelectorAll('#at-text span')].map((s) => s.style.background)")
    assert len(set(colors)) > 3


def test_units_lists_the_apis_scores_and_a_click_opens_one(page: Page, server: str) -> None:
    text = 'a = "x" + (b [c]) "yy" (d)\n  e = "f"'
    open_lab(page, server, f"model={TEXT_LSTM}&text={quote(text)}&uf=brackets", "units")
    ref = post(
        server,
        "/api/analysis/units",
        model=TEXT_LSTM,
        text=text,
        feature="brackets",
        quantity="hidden",
        top=20,
    )
    scores = plotted(page, "un-plot", 0, "y")
    assert scores == pytest.approx([u["score"] for u in ref["units"]], abs=1e-9)
    colors = plotted(page, "un-plot", 0, "marker.color")
    assert colors == ["#b2182b" if u["score"] >= 0 else "#2166ac" for u in ref["units"]]
    # A regex feature, typed: the page asks again.
    page.get_by_label("feature", exact=True).select_option("regex")
    page.get_by_label("regex").fill('"[^"]*"')
    page.get_by_label("regex").press("Enter")
    page.get_by_label("regex").blur()
    page.wait_for_function("location.hash.includes('urx=')")
    ref = post(
        server, "/api/analysis/units", model=TEXT_LSTM, text=text, feature={"regex": '"[^"]*"'}, top=20
    )
    page.wait_for_function(
        f"Math.abs(document.getElementById('un-plot').data[0].y[0] - {ref['units'][0]['score']}) < 1e-9"
    )
    # Click the strongest unit's bar: the main view opens on it.
    top = ref["units"][0]
    box = page.locator("#un-plot .bars .point").first.bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url(re.compile(r"/#"))
    assert "/lab" not in page.url
    expect(page.locator("#unit-input")).to_have_value(str(top["unit"]))


UNIT_CODE = 'def f(a, b="x"):\n    return [a, (b), {"k": \'v\'}]  # its\n\nclass C:\n    s = "q(r)" + f(1)\n'


def test_units_over_an_uploaded_file_with_progress_cancel_and_snippets(page: Page, server: str) -> None:
    open_lab(page, server, f"model={TEXT_LSTM}&text={quote(TEXT)}&uf=brackets", "units")
    # Watch the progress line: every text it shows while the file is read.
    page.evaluate(
        "window.progressSeen = []; new MutationObserver(() => window.progressSeen.push("
        "document.getElementById('un-progress-text').textContent)).observe("
        "document.getElementById('un-progress-text'), {childList: true, characterData: true, subtree: true})"
    )
    page.get_by_label("units corpus").select_option("file")
    expect(page.get_by_test_id("un-status")).to_have_text("Choose a UTF-8 text file to read.")
    name = "<img src=x onerror=window.pwned=1>.py"  # a browser sends a name's quotes as %22
    corpus = (UNIT_CODE * 80)[:6300]  # 4 chunks of 2,048 characters per pass
    page.get_by_label("corpus file").set_input_files(
        files=[{"name": name, "mimeType": "text/plain", "buffer": corpus.encode()}]
    )
    expect(page.get_by_test_id("un-status")).to_contain_text("computed and drawn", timeout=60_000)
    expect(page.get_by_test_id("un-file")).to_have_text(f"“{name}”, 6,300 characters")
    assert page.locator("#view-units img").count() == 0 and page.evaluate("window.pwned") is None
    seen = page.evaluate("window.progressSeen")
    assert "2,048 of 6,300 characters: every unit's r" in seen
    assert "6,300 of 6,300 characters: the top units' values, for the snippets" in seen
    corpus_id = re.search(r"uc=([0-9a-f]{16})", page.url)
    assert corpus_id
    ref = post(
        server,
        "/api/analysis/units",
        model=TEXT_LSTM,
        source="file",
        corpus=corpus_id.group(1),
        feature="brackets",
        quantity="hidden",
        top=20,
    )
    assert plotted(page, "un-plot", 0, "y") == pytest.approx([u["score"] for u in ref["units"]], abs=1e-9)
    cards = page.locator(".un-unit")
    expect(cards).to_have_count(len(ref["snippets"]))
    expect(cards.locator("h4")).to_have_text(
        [f"unit {u['unit']} · r = {shown(u['score'])}" for u in ref["snippets"]]
    )
    first = ref["snippets"][0]["windows"][0]
    spans = cards.first.locator(".un-text").first.locator("span")
    expect(spans).to_have_count(len(first["text"]))
    shown_values = spans.evaluate_all("(s) => s.map((x) => x.dataset.value)")
    assert shown_values == [f"{v:.4f}" for v in first["values"]]
    underlined = spans.evaluate_all("(s) => s.map((x) => x.classList.contains('in-feature'))")
    assert underlined == [f > 0 for f in first["feature"]]
    text = spans.evaluate_all("(s) => s.map((x) => x.textContent).join('')")
    assert text == first["text"].replace("\n", "↵\n")
    colors = spans.evaluate_all("(s) => s.map((x) => x.style.background)")
    assert len(set(colors)) > 5  # each character colored by its value
    expect(cards.first.locator(".un-legend")).to_contain_text("hidden:")

    # A long file and a larger model: progress shows, and Cancel stops the run.
    page.goto(f"{server}/lab#model=random-lstm-iascii-h256-l4-s0&text=ab&us=file&tab=units")
    expect(page.get_by_test_id("un-status")).to_have_text("Choose a UTF-8 text file to read.")
    long_corpus = (UNIT_CODE * 2300)[:180_000]
    page.get_by_label("corpus file").set_input_files(
        files=[{"name": "long.py", "mimeType": "text/plain", "buffer": long_corpus.encode()}]
    )
    expect(page.get_by_test_id("un-run")).to_be_visible()
    expect(page.get_by_test_id("un-progress-text")).to_contain_text("of 180,000 characters")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("un-status")).to_contain_text("Cancelled after")
    expect(page.get_by_test_id("un-run")).to_be_hidden()
    stopped = re.search(r"after ([\d,]+) of ([\d,]+) steps", page.get_by_test_id("un-status").inner_text())
    assert stopped and 0 < int(stopped[1].replace(",", "")) < int(stopped[2].replace(",", "")) == 360_000

    # A bad file is refused with the server's reason, as text.
    page.get_by_label("corpus file").set_input_files(
        files=[{"name": "latin1.txt", "mimeType": "text/plain", "buffer": "café".encode("latin-1")}]
    )
    refused = "latin1.txt: the file is not UTF-8 text: byte 0xe9"
    expect(page.get_by_test_id("un-status")).to_contain_text(refused)
    expect_console_error(page, "422")

    # Back to the first file (its id is in the URL): the snippet's link opens the main view on it.
    back = f"model={TEXT_LSTM}&text={quote(TEXT)}&uf=brackets&us=file&uc={corpus_id.group(1)}"
    page.goto(f"{server}/lab#{back}&tab=units")
    expect(page.get_by_test_id("un-status")).to_contain_text("computed and drawn", timeout=60_000)
    unit = ref["snippets"][0]
    page.locator(".un-unit").first.get_by_role("link", name="open in the main view").first.click()
    page.wait_for_url(re.compile(r"/#"))
    assert "/lab" not in page.url
    expect(page.locator("#unit-input")).to_have_value(str(unit["unit"]))
    expect(page.locator("#input-text")).to_have_value(first["text"])


def test_unstable_points_show_how_fast_they_grow_and_slow_points_are_named(page: Page, server: str) -> None:
    # The trained a^n b^n LSTM under 'a': every point found is an unstable slow point (q(s) ~ 5e-2).
    open_lab(page, server, "model=anbn-lstm&text=aaabbb&fpc=8&fpx=a", "fixedpoints")
    found = post(
        server,
        "/api/analysis/fixed-points",
        model="anbn-lstm",
        text="a",
        layer=0,
        count=8,
        seed=0,
        trajectory={"text": "aaabbb"},
    )
    points = found["points"]
    growing = [p for p in points if p["time_constants"][0] is not None and p["time_constants"][0] < 0]
    assert growing and any(p["speed"] >= 1e-3 for p in points)  # what this test is about
    rows = page.locator("#fp-table tbody tr")
    expect(rows).to_have_count(len(points))
    expect(rows.locator('[data-q="kind"]')).to_have_text(
        ["fixed" if p["speed"] < 1e-3 else "slow" for p in points]
    )
    taus = [p["time_constants"][0] for p in points]
    expect(rows.locator('[data-q="tau"]')).to_have_text(
        [
            "∞" if tau is None else f"grows ×e in {shown(-tau, 1)}" if tau < 0 else shown(tau, 2)
            for tau in taus
        ]
    )
    assert not any(MINUS in (text or "") for text in rows.locator('[data-q="tau"]').all_text_contents())
    names = page.evaluate("document.getElementById('fp-plot').data.map((t) => t.name)")
    assert [n for n in names if n.endswith("point")] == kind_names(points)
