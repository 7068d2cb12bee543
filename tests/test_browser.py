"""The page in a real browser: headless Chromium (Debian's) against a real server in a subprocess,
as simonw/datasette's tests/test_playwright.py does. Assertions are about what a person sees, and
the numbers the page shows are held to POST /api/trace's at the page's display precision.

Models are random ones rebuilt from their ids (deterministic), so no download or shipped file is
needed. Keep the whole file well under a minute: one server and one browser for the module.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import torch
from torch import nn

sync_api = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

ROOT = Path(__file__).resolve().parent.parent
TEXT_LSTM = "random-lstm-iascii-h8-l1-s0"
TEXT_GRU = "random-gru-iascii-h8-l1-s0"
TEXT_RNN = "random-rnn-iascii-h8-l1-s0"
NUM_GRU = "random-gru-i3-h4-l1-s0"
MINUS = "\u2212"
expect.set_options(timeout=15_000)


def shown(value: float) -> str:
    """What the page shows for a number: 3 decimals and a true minus sign (static/js/format.js)."""
    return f"{value:.3f}".replace("-", MINUS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "GATESCOPE_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"the server did not start:\n{err[-3000:]}")
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page; any console error or uncaught exception fails the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert errors == [], f"console errors: {errors}"


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
