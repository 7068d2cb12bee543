"""The page in a real browser: headless Chromium (Debian's) against a real server in a subprocess,
as simonw/datasette's tests/test_playwright.py does. Assertions are about what a person sees, and
the numbers the page shows are held to POST /api/trace's at the page's display precision.

Models are random ones rebuilt from their ids (deterministic), the tiny shipped ones in models/,
or trained here in a few steps, so nothing is downloaded. Keep the whole file well under a
minute: one server and one browser for the module. Without chromium or playwright the file is
skipped on a workstation, but with CI set that is an error: CI must run these tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import torch
from torch import nn

pytest.importorskip("playwright.sync_api")  # a workstation without it skips; CI fails in conftest
from playwright.sync_api import Page, expect

from tests.browser_support import expect_console_error, shown

TEXT_LSTM = "random-lstm-iascii-h8-l1-s0"
TEXT_GRU = "random-gru-iascii-h8-l1-s0"
TEXT_RNN = "random-rnn-iascii-h8-l1-s0"
NUM_GRU = "random-gru-i3-h4-l1-s0"
MINUS = "\u2212"
expect.set_options(timeout=20_000)


def api_trace(server: str, model: str, **payload: object) -> dict:
    response = httpx.post(f"{server}/api/trace", json={"model": model, **payload}, timeout=30)
    response.raise_for_status()
    return response.json()


def open_view(page: Page, server: str, hash_: str) -> None:
    page.goto(f"{server}/#{hash_}")
    expect(page.get_by_test_id("status")).to_contain_text("loss")


def test_page_loads_with_a_ready_example(page: Page, server: str) -> None:
    page.goto(server + "/")
    # Without any URL state the page picks a model and an input, runs it and plays it.
    expect(page.get_by_test_id("status")).to_contain_text("steps · loss")
    expect(page.locator("#model-select")).not_to_have_value("")
    expect(page.locator("#heatmaps .heatmap .main-svg").first).to_be_visible()
    assert page.locator("#heatmaps .heatmap").count() >= 2
    expect(page.locator("#gradients .main-svg").first).to_be_visible()
    expect(page.locator("#insp-table tbody tr").first).to_be_visible()
    expect(page.locator("#play")).to_have_text("❚❚ Pause")
    assert "model=" in page.url


def test_typing_runs_and_keyboard_steps_match_the_api(page: Page, server: str) -> None:
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    open_view(page, server, f"model={TEXT_LSTM}&text=ab")
    box = page.locator("#input-text")
    box.fill("hello")
    expect(page.get_by_test_id("status")).to_contain_text("5 steps · loss")
    # Typing at the end extends the running sequence (the stream's "append").
    box.press("End")
    box.press_sequentially(" gates", delay=40)
    expect(page.get_by_test_id("status")).to_contain_text("11 steps · loss")
    expect(page.get_by_test_id("textview")).to_have_text("hello\u00a0gates")
    assert any('"type":"append"' in frame and '" gates"' in frame for frame in sent), sent
    box.press("Escape")
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 10 · ‘s’")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 7 · ‘a’")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#unit-input")).to_have_value("1")

    ref = api_trace(server, TEXT_LSTM, text="hello gates")["layers"][0]
    t = 7
    rows = page.locator("#insp-table tbody tr")
    expect(rows).to_have_count(8)
    for unit in range(8):
        row = page.locator(f'#insp-table tbody tr[data-unit="{unit}"]')
        for gate in "ifgo":
            expect(row.locator(f'td[data-q="{gate}"]')).to_have_text(shown(ref["gates"][gate][t][unit]))
        expect(row.locator('td[data-q="cell_prev"]')).to_have_text(shown(ref["cell"][t - 1][unit]))
        expect(row.locator('td[data-q="cell"]')).to_have_text(shown(ref["cell"][t][unit]))
        expect(row.locator('td[data-q="hidden"]')).to_have_text(shown(ref["hidden"][t][unit]))
    expect(page.locator('#insp-table tbody tr[data-unit="1"]')).to_have_class("selected")

    # The equations plug in unit 1's numbers: c_t = f c_{t-1} + i g, in torch's form.
    g, u = ref["gates"], 1

    def factor(v: float) -> str:
        return f"({shown(v)})" if v < 0 else shown(v)

    expect(page.locator('#equations [data-eq="c"]')).to_have_text(
        f"ct = ft ⊙ ct−1 + it ⊙ gt = {factor(g['f'][t][u])} × {factor(ref['cell'][t - 1][u])}"
        f" + {factor(g['i'][t][u])} × {factor(g['g'][t][u])} = {shown(ref['cell'][t][u])}"
    )
    expect(page.locator('#equations [data-eq="h"]')).to_contain_text(f"= {shown(ref['hidden'][t][u])}")


def test_view_state_in_the_url_survives_a_reload(page: Page, server: str) -> None:
    open_view(page, server, f"model={TEXT_GRU}&text={quote('gates move')}&t=3&unit=2")
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 3 · ‘e’")
    expect(page.locator("#unit-input")).to_have_value("2")
    page.locator("#cursor-slider").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 4 · ‘s’")
    page.wait_for_function("location.hash.includes('t=4') && location.hash.includes('unit=3')")
    page.reload()
    expect(page.get_by_test_id("status")).to_contain_text("loss")
    expect(page.locator("#model-select")).to_have_value(TEXT_GRU)
    expect(page.locator("#input-text")).to_have_value("gates move")
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 4 · ‘s’")
    expect(page.locator("#unit-input")).to_have_value("3")
    ref = api_trace(server, TEXT_GRU, text="gates move")["layers"][0]
    row = page.locator('#insp-table tbody tr[data-unit="3"]')
    expect(row).to_have_class("selected")
    expect(row.locator('td[data-q="z"]')).to_have_text(shown(ref["gates"]["z"][4][3]))
    expect(row.locator('td[data-q="hidden_prev"]')).to_have_text(shown(ref["hidden"][3][3]))


def test_compare_shows_models_side_by_side_with_parameter_counts(page: Page, server: str) -> None:
    open_view(page, server, f"model={TEXT_LSTM}&text=abc&compare={TEXT_GRU},{TEXT_RNN}")
    columns = page.locator("#compare-grid .compare-col")
    expect(columns).to_have_count(3)
    records = {m["id"]: m for m in httpx.get(f"{server}/api/models").json()["models"]}
    for k, model_id in enumerate([TEXT_LSTM, TEXT_GRU, TEXT_RNN]):
        column = columns.nth(k)
        expect(column.locator(".arch")).to_have_text(model_id.split("-")[1].upper())
        expect(column.locator(".params")).to_have_text(f"{records[model_id]['params']:,} parameters")
        expect(column.locator(".main-svg").first).to_be_visible()
    # The cursor is shared: stepping moves every column's readout.
    page.keyboard.press("Home")
    expect(columns.nth(2).locator(".compare-readout")).to_contain_text("at t = 0:")


def test_a_long_stream_shows_progress_and_stops(page: Page, server: str) -> None:
    steps = 4000
    text = ("the forget gate decides what to keep. " * 110)[:steps]
    # The server streams 4000 steps in well under a second, so a person's click would come too
    # late to test Stop: the page clicks it itself, from the first progress it shows, on a model
    # large enough (2 x 256 units) that the steps take a while to arrive and draw.
    page.add_init_script(
        """document.addEventListener("DOMContentLoaded", () => {
          const p = document.querySelector("#progress");
          const watch = new MutationObserver(() => {
            if (p.value > 0 && p.value < p.max) {
              watch.disconnect();
              document.querySelector("#stop-button").click();
            }
          });
          watch.observe(p, { attributes: true });
        });"""
    )
    page.goto(f"{server}/#model=random-lstm-iascii-h256-l2-s0&text={quote(text)}")
    # Steps arrive and the progress bar moves before the stream is done; then Stop ends it.
    stop = page.locator("#stop-button")
    status = page.get_by_test_id("status")
    expect(status).to_contain_text("stopped after")
    stopped_at = int(status.text_content().split("stopped after ")[1].split(" ")[0])
    assert 0 < stopped_at < steps
    expect(stop).to_be_disabled()
    # What was streamed stays explorable, and the server is free for the next request.
    page.keyboard.press("End")
    expect(page.get_by_test_id("cursor-label")).to_contain_text(f"t = {stopped_at - 1}")
    assert httpx.get(f"{server}/api/models", timeout=5).status_code == 200


def test_bad_input_shows_the_servers_message(page: Page, server: str) -> None:
    open_view(page, server, f"model={NUM_GRU}&csv={quote('1,2,3')}")
    bad = "1, 2, 3\n4, 5"
    response = httpx.post(f"{server}/api/trace", json={"model": NUM_GRU, "inputs": [[1, 2, 3], [4, 5]]})
    assert response.status_code == 422
    box = page.locator("#input-text")
    box.fill(bad)
    box.press("Control+Enter")
    expect(page.get_by_test_id("error")).to_have_text(response.json()["detail"])
    # Text a model cannot read: the server's message, shown as text (never as HTML).
    open_view(page, server, f"model={TEXT_LSTM}&text=ok")
    detail = httpx.post(f"{server}/api/trace", json={"model": TEXT_LSTM, "text": "ok <b>é</b>"}).json()[
        "detail"
    ]
    page.locator("#input-text").fill("ok <b>é</b>")
    expect(page.get_by_test_id("error")).to_have_text(detail)
    expect(page.locator("#error b")).to_have_count(0)


def test_an_uploaded_module_is_traced_and_the_trace_downloads(
    page: Page, server: str, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    gru = nn.GRU(input_size=3, hidden_size=5)
    checkpoint = tmp_path / "my_gru.pt"
    torch.save(gru.state_dict(), checkpoint)
    params = sum(p.numel() for p in gru.parameters())

    open_view(page, server, f"model={NUM_GRU}&csv={quote('1,2,3')}")
    page.locator("#upload-input").set_input_files(str(checkpoint))
    expect(page.get_by_test_id("model-info")).to_have_text(f"GRU · 3 → 5 · 1 layer · {params:,} parameters")
    model_id = page.locator("#model-select").input_value()
    assert model_id.startswith("upload-")
    page.locator("#input-text").fill("1, 0, -1\n0.5, 0.5, 0.5")
    page.locator("#run-button").click()
    expect(page.get_by_test_id("status")).to_contain_text("2 steps · loss")

    ref = api_trace(server, model_id, inputs=[[1, 0, -1], [0.5, 0.5, 0.5]])
    with page.expect_download() as download:
        page.locator("#export-json").click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["steps"] == 2 and exported["gate_names"] == ["r", "z", "n"]
    for key in ("hidden", "grad_hidden"):
        got, want = exported["layers"][0][key], ref["layers"][0][key]
        assert torch.allclose(torch.tensor(got), torch.tensor(want), atol=1e-7), key

    with page.expect_download() as download:
        page.locator("#export-csv").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "layer,t,token,quantity," + ",".join(f"unit_{u}" for u in range(5))
    # One row per (layer, t, quantity): r, z, n, hidden, grad_hidden at each of 2 steps.
    assert len(lines) == 1 + 2 * 5
    row = lines[1 + 3].split(",")  # t = 0, hidden
    assert row[:4] == ["0", "0", "", "hidden"]
    assert [float(v) for v in row[4:]] == pytest.approx(ref["layers"][0]["hidden"][0], abs=1e-6)


def test_training_in_the_page_streams_and_opens_the_trained_models(page: Page, server: str) -> None:
    open_view(page, server, f"model={TEXT_LSTM}&text=ab&open=train")
    form = page.locator("#train-form")
    page.locator("#train-task").select_option("sines")
    expect(page.locator("#train-description")).to_contain_text("sum of three sines")
    form.locator("input[name=arch-rnn]").uncheck()
    form.locator("input[name=hidden_size]").fill("4")
    form.locator("input[name=steps]").fill("10")
    page.locator("#train-start").click()

    # Progress streams in: both runs reach the budget, the loss chart holds one point per step.
    runs = page.get_by_test_id("train-runs")
    expect(page.get_by_test_id("train-status")).to_contain_text("trained 2 models", timeout=60_000)
    for arch in ("lstm", "gru"):
        expect(runs.locator(f'tr[data-arch="{arch}"] td[data-col="step"]')).to_have_text("10 / 10")
    assert page.evaluate("document.getElementById('train-loss').data.map(t => t.x.length)") == [10, 10]
    expect(page.locator("#train-progress")).to_have_attribute("value", "20")

    # The trained models are listed, registered on the server and selectable in the page.
    trained = {
        m["arch"]: m
        for m in httpx.get(f"{server}/api/models").json()["models"]
        if m["source"] == "trained" and m["task"] == "sines" and m["hidden_size"] == 4
    }
    assert set(trained) == {"lstm", "gru"}
    gru = trained["gru"]
    expect(page.locator(f'#model-select option[value="{gru["id"]}"]')).to_have_count(1)
    expect(runs.locator('tr[data-arch="gru"] td[data-col="params"]')).to_have_text(f"{gru['params']:,}")

    # Open: the main view traces the trained GRU on the task's preset with the task loss.
    runs.locator('tr[data-arch="gru"] button.open-model').click()
    expect(page.locator("#model-select")).to_have_value(gru["id"])
    expect(page.get_by_test_id("model-info")).to_contain_text("task: sines")
    expect(page.locator("#objective-select")).to_have_value("task")
    expect(page.get_by_test_id("status")).to_contain_text("200 steps · loss L = the task loss")

    # Before vs after: the trained GRU beside its initialization (same seed) in the compare view.
    runs.locator('tr[data-arch="gru"] button.before-after').click()
    columns = page.locator("#compare-grid .compare-col")
    expect(columns).to_have_count(2)
    expect(columns.nth(0)).to_have_attribute("data-model", gru["id"])
    expect(columns.nth(1)).to_have_attribute("data-model", f"{gru['id']}-init")
    expect(page.locator("#compare-status")).to_have_text("L = each model's sines task loss")


def test_model_zoo_lists_the_shipped_models_and_checks_the_claims(page: Page, server: str) -> None:
    shipped = [m for m in httpx.get(f"{server}/api/models").json()["models"] if m["source"] == "builtin"]
    assert shipped, "models/ holds the shipped checkpoints"
    open_view(page, server, f"model={TEXT_LSTM}&text=ab&open=zoo")
    table = page.get_by_test_id("zoo-table")
    expect(table.locator("tr[data-model]")).to_have_count(len(shipped))
    for m in shipped:
        row = table.locator(f'tr[data-model="{m["id"]}"]')
        expect(row.locator('td[data-col="params"]')).to_have_text(f"{m['params']:,}")
        expect(row.locator('[data-col="command"]')).to_have_text(m["command"])
    # Each task's claims are the records' own numbers.
    for task in {m["task"] for m in shipped}:
        by_arch = {m["arch"]: m for m in shipped if m["task"] == task}
        lstm, gru = by_arch["lstm"], by_arch["gru"]
        claim = table.locator(f'tbody[data-task="{task}"] li[data-claim="params"]')
        mark = "✓" if gru["params"] < lstm["params"] else "✗"
        expect(claim).to_have_text(
            f"{mark} GRU has fewer parameters than LSTM: {gru['params']:,} vs {lstm['params']:,}"
            f" ({'holds here' if mark == '✓' else 'not here'})"
        )
    # A shipped model opens in the main view.
    first = shipped[0]
    table.locator(f'tr[data-model="{first["id"]}"] button.open-model').click()
    expect(page.locator("#model-select")).to_have_value(first["id"])
    page.wait_for_function("location.hash.includes('open=zoo')")


def test_a_model_the_server_does_not_have_is_named_and_another_shown(page: Page, server: str) -> None:
    page.goto(f"{server}/#model=upload-gone-0000&text=ab")
    expect(page.get_by_test_id("error")).to_have_text(
        "The model “upload-gone-0000” is not on this server; showing another one."
    )
    expect(page.locator("#model-select")).not_to_have_value("")
    # Chromium logs every 404 response to the console; this one is the lookup that found nothing.
    expect_console_error(page, "404")
