"""The lab page (/lab) in a real browser: headless Chromium (Debian's) against a real server in a
subprocess, as tests/test_browser.py does for the main page. Every view's numbers are held to its
/api/analysis/* answer at the page's display precision.

Models are random ones rebuilt from their ids (deterministic), so nothing is downloaded. With CI
set, a missing chromium or playwright is an error, not a skip.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

pytest.importorskip("playwright.sync_api")  # a workstation without it skips; CI fails in conftest
from playwright.sync_api import Page, expect

from tests.browser_support import shown

TEXT_LSTM = "random-lstm-iascii-h8-l1-s0"
TEXT_GRU = "random-gru-iascii-h8-l1-s0"
TEXT_LSTM2 = "random-lstm-iascii-h6-l2-s1"
MINUS = "\u2212"
expect.set_options(timeout=20_000)


def api(server: str, path: str, **body: Any) -> Any:
    response = httpx.post(f"{server}/api/analysis/{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


def open_lab(page: Page, server: str, hash_: str, view: str) -> None:
    """Open /lab at a hash and wait until the view has drawn its answer."""
    page.goto(f"{server}/lab#{hash_}&tab={view}")
    expect(page.locator(f"#view-{view} .view-status")).to_contain_text("computed and drawn")


def test_gradient_flow_shows_the_apis_slopes_and_clips(page: Page, server: str) -> None:
    open_lab(page, server, "T=60&H=16", "gradients")
    body: dict[str, Any] = {"archs": ["rnn", "lstm", "gru"], "steps": 60, "hidden_size": 16, "seed": 0}
    ref = api(server, "vanishing", **body, nonlinearity="tanh")["archs"]
    rows = page.locator("#gf-slopes tbody tr")
    expect(rows).to_have_count(3)
    for arch, r in ref.items():
        row = page.locator(f'#gf-slopes tr[data-arch="{arch}"]')
        expect(row.locator('[data-q="grad_slope"]')).to_have_text(shown(r["grad_slope"]))
        expect(row.locator('[data-q="jacobian_slope"]')).to_have_text(shown(r["jacobian_slope"]))
    assert page.locator("#gf-grad .main-svg").first.is_visible()
    assert page.locator("#gf-jac .main-svg").first.is_visible()

    # The exploding preset: W_hh's radius 3 and clipping at norm 1, dashed clipped curves.
    page.get_by_role("button", name="Exploding: scale 3, clipped").click()
    ref = api(server, "vanishing", **body, nonlinearity="tanh", scale=3.0, clip=1.0)["archs"]
    for arch, r in ref.items():
        row = page.locator(f'#gf-slopes tr[data-arch="{arch}"]')
        expect(row.locator('[data-q="clipped_slope"]')).to_have_text(shown(r["clipped_slope"]))
        expect(row.locator('[data-q="grad_slope"]')).to_have_text(shown(r["grad_slope"]))
    names = page.evaluate("document.getElementById('gf-grad').data.map((t) => t.name)")
    assert "RNN, clipped to 1" in names
    page.wait_for_function("location.hash.includes('scale=3') && location.hash.includes('clip=1')")

    # The seed's GRU (Chung et al. 2014) is one of the cells on offer.
    page.get_by_label("GRU (seed's, Chung 2014)").check()
    expect(page.locator('#gf-slopes tr[data-arch="gru_chung"]')).to_be_visible()
    page.wait_for_function("location.hash.includes('gru_chung')")


def test_saturation_plots_the_api_and_a_click_opens_the_unit(page: Page, server: str) -> None:
    text = "gates open and gates shut"
    open_lab(page, server, f"model={TEXT_LSTM}&text={quote(text)}", "saturation")
    ref = api(server, "saturation", model=TEXT_LSTM, text=text)["layers"][0]
    plots = page.locator("#sat-plots .sat-plot")
    expect(plots).to_have_count(3)
    for gate in "ifo":
        xy = page.evaluate(
            f"(() => {{ const d = document.querySelector('[data-gate={gate}]').data[1];"
            " return [d.x, d.y]; })()"
        )
        assert xy[0] == pytest.approx(ref[gate]["left"], abs=1e-6)
        assert xy[1] == pytest.approx(ref[gate]["right"], abs=1e-6)
    # Click unit 3 of the forget gate's plot: the main page opens with it selected, same input.
    unit = 3
    x, y = page.evaluate(
        f"""(() => {{
          const gd = document.querySelector('[data-gate=f]');
          const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
          const d = gd.data[1];
          return [box.left + xa._offset + xa.l2p(d.x[{unit}]), box.top + ya._offset + ya.l2p(d.y[{unit}])];
        }})()"""
    )
    # Points can overlap: hover first and check which unit Plotly would pick.
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_url("**/#*")
    assert "/lab" not in page.url
    expect(page.locator("#model-select")).to_have_value(TEXT_LSTM)
    expect(page.locator("#input-text")).to_have_value(text)
    clicked = int(page.locator("#unit-input").input_value())
    left, right = ref["f"]["left"], ref["f"]["right"]
    assert (left[clicked], right[clicked]) == (left[unit], right[unit])
    expect(page.locator(f'#insp-table tbody tr[data-unit="{clicked}"]')).to_have_class("selected")


def test_cost_table_puts_the_seed_beside_torchs_counts(page: Page, server: str) -> None:
    open_lab(page, server, "cost=8,16,1,8,4", "cost")
    ref = api(server, "cost", input_size=8, hidden_size=16, num_layers=1, steps=8, batch=4)["archs"]
    table = page.get_by_test_id("cost-table")
    for arch in ("lstm", "gru", "rnn"):
        cell = table.locator(f'[data-q="params-{arch}"]')
        expect(cell).to_contain_text(f"torch: {ref[arch]['params_torch']:,}")
        expect(cell).to_contain_text(f"= {ref[arch]['params_formula']['value']:,}")
    seed = table.locator('tr[data-row="params"] td.seed')
    expect(seed).to_have_text(["Higher", "Lower"])
    expect(table.locator('tr[data-row="gates"] td.seed')).to_have_text(["3", "2"])
    expect(page.get_by_test_id("cost-claim")).to_contain_text("The seed says “GRU trains faster”.")


def test_equations_plug_in_the_apis_numbers_for_the_three_grus(page: Page, server: str) -> None:
    text = "gates move"
    open_lab(page, server, f"model={TEXT_GRU}&text={quote(text)}&t=3&unit=2", "equations")
    expect(page.get_by_test_id("step-label")).to_have_text("t = 3 · ‘e’")
    terms = api(server, "equations", model=TEXT_GRU, text=text, layer=0, unit=2, step=3)["terms"]
    cols = page.get_by_test_id("eq-columns")
    # Three columns: torch's, Cho et al. 2014's, and the seed's (Chung et al. 2014's).
    expect(cols.locator(".eq-col h3")).to_have_text(
        ["torch.nn.GRU computes · this run", "Cho et al. 2014", "The seed writes: Chung et al. 2014"]
    )
    for key in ("z", "r", "n", "h"):
        expect(cols.locator(f'[data-eq="torch-{key}"] .eq-res')).to_have_text(
            f"= {shown(terms['torch'][key])}"
        )
        expect(cols.locator(f'[data-eq="cho-{key}"] .eq-res')).to_have_text(f"= {shown(terms['cho'][key])}")
        seed = terms["chung"][key]
        expect(cols.locator(f'[data-eq="seed-{key}"] .eq-res')).to_have_text(f"= {shown(seed)}")
    expect(cols.locator('[data-eq="seed-n"] .eq-sym')).to_have_text("h̃t = tanh(W xt + U (rt * ht−1))")
    expect(page.locator("#eq-diff .main-svg").first).to_be_visible()
    diff = api(server, "gru-variants", model=TEXT_GRU, text=text)["layers"][0]["difference"]
    plotted = page.evaluate("document.getElementById('eq-diff').data[0].y")
    assert plotted == pytest.approx(diff, abs=1e-6)

    # Cho's variant: h_{t-1} now comes from Cho's run.
    expect(page.locator("#variant-select option")).to_have_count(3)
    page.locator("#variant-select").select_option("cho")
    terms = api(server, "equations", model=TEXT_GRU, text=text, layer=0, unit=2, step=3, gru_variant="cho")
    cho_h = terms["terms"]["cho"]["h"]
    expect(cols.locator('[data-eq="cho-h"] .eq-res')).to_have_text(f"= {shown(cho_h)}")
    expect(cols.locator(".eq-col.cho h3")).to_contain_text("this run")
    page.wait_for_function("location.hash.includes('variant=cho')")
    # The seed's: z takes the candidate.
    page.locator("#variant-select").select_option("chung")
    terms = api(server, "equations", model=TEXT_GRU, text=text, layer=0, unit=2, step=3, gru_variant="chung")
    chung_h = terms["terms"]["chung"]["h"]
    expect(cols.locator('[data-eq="seed-h"] .eq-res')).to_have_text(f"= {shown(chung_h)}")
    expect(cols.locator(".eq-col.seed h3")).to_contain_text("this run")
    page.wait_for_function("location.hash.includes('variant=chung')")

    # An LSTM: the seed's C_t beside torch's c_t, the same numbers.
    open_lab(page, server, f"model={TEXT_LSTM}&text={quote(text)}&t=4&unit=1", "equations")
    t = api(server, "equations", model=TEXT_LSTM, text=text, layer=0, unit=1, step=4)["terms"]["lstm"]
    for key in "ifo":
        expect(cols.locator(f'[data-eq="seed-{key}"] .eq-res')).to_have_text(f"= {shown(t[key])}")
    expect(cols.locator('[data-eq="torch-g"] .eq-res')).to_have_text(f"= {shown(t['g'])}")
    expect(cols.locator('[data-eq="seed-c"] .eq-res')).to_have_text(f"= {shown(t['c'])}")


def test_connectivity_strip_is_the_apis_norms(page: Page, server: str) -> None:
    text = "hello world"
    open_lab(page, server, f"model={TEXT_LSTM2}&text={quote(text)}&t=8&unit=4&layer=1", "connectivity")
    ref = api(server, "connectivity", model=TEXT_LSTM2, text=text, layer=1, unit=4, step=8)
    plotted = page.evaluate("document.getElementById('conn-strip').data[0].customdata[0]")
    assert plotted == pytest.approx(ref["norms"], rel=1e-5, abs=1e-12)
    assert all(v == 0 for v in plotted[9:])
    expect(page.locator("#conn-text span")).to_have_count(len(text))
    expect(page.locator("#conn-text span.cursor")).to_have_attribute("data-t", "8")
    # Clicking a character moves the step and recomputes.
    page.locator('#conn-text span[data-t="5"]').click()
    expect(page.get_by_test_id("step-label")).to_have_text("t = 5 · ‘␣’")
    expect(page.locator("#conn-text span.cursor")).to_have_attribute("data-t", "5")


def test_pattern_search_lists_the_apis_units_and_matches(page: Page, server: str) -> None:
    text = "abcabcxyzabcab"
    open_lab(page, server, f"model={TEXT_LSTM}&text={quote(text)}&th=0", "patterns")
    # Drag over "abc" at the start.
    first = page.locator('#pat-text span[data-t="0"]').bounding_box()
    third = page.locator('#pat-text span[data-t="2"]').bounding_box()
    assert first and third
    page.mouse.move(first["x"] + 3, first["y"] + 5)
    page.mouse.down()
    page.mouse.move(third["x"] + 3, third["y"] + 5, steps=4)
    page.mouse.up()
    expect(page.locator("#pat-form [name=end]")).to_have_value("3")
    ref = api(server, "patterns", model=TEXT_LSTM, text=text, layer=0, start=0, end=3, threshold=0.0, top=10)
    expect(page.locator("#pat-units .chip")).to_have_text([str(u) for u in ref["units"]])
    matches = page.locator("#pat-matches li")
    expect(matches).to_have_count(len(ref["matches"]))
    assert ref["matches"], "the repeated 'abc' should match somewhere"
    for k, m in enumerate(ref["matches"]):
        expect(matches.nth(k).locator(".score")).to_have_text(f"Jaccard {shown(m['score'])}")
        expect(matches.nth(k).locator(".match-text")).to_have_text(m["text"])
    expect(page.locator("#pat-text span.sel")).to_have_count(3)
    matches.nth(0).locator("button").click()
    start = ref["matches"][0]["start"]
    expect(page.locator("#pat-text span.match-active").first).to_have_attribute("data-t", str(start))
    page.wait_for_function(f"location.hash.includes('t={start}') && location.hash.includes('pe=3')")
