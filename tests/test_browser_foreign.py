"""Keras and ONNX files uploaded through the page's own form (issue 12), in a real browser against
a real server: the model says where it came from and that it reads its input right to left
(Keras go_backwards=True, ONNX direction="reverse"), its trace is drawn, and the inspector starts
each step from the state at t + 1. Numbers are held to POST /api/trace's, which
tests/test_foreign_reverse.py holds to Keras' predict and onnxruntime.

The models are made here, tiny, with Keras 3 (on torch) and onnx.helper; nothing is downloaded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on torch: TensorFlow is not needed
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras-home-"))  # nothing written to ~
pytest.importorskip("playwright.sync_api")  # a workstation without it skips; CI fails in conftest
keras = pytest.importorskip("keras")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser_support import shown  # noqa: E402

expect.set_options(timeout=20_000)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
ROWS = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [-0.3, 0.8, 0.1], [0.2, -0.6, 0.9]]
CSV = "\n".join(", ".join(f"{v:g}" for v in row) for row in ROWS)


def keras_file(tmp_path: Path) -> Path:
    """A Keras GRU that reads from the end (go_backwards) under a softmax head, random biases."""
    model = keras.Sequential(
        [
            keras.Input((None, 3)),
            keras.layers.GRU(5, go_backwards=True, return_sequences=True),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(0)
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    path = tmp_path / "backwards_gru.keras"
    model.save(path)
    return path


def onnx_file(tmp_path: Path) -> Path:
    """One ONNX LSTM node with direction="reverse", hidden 6, random W, R and B."""
    rng = np.random.default_rng(1)
    weights = {
        "W": rng.normal(0, 0.5, (1, 24, 3)),
        "R": rng.normal(0, 0.5, (1, 24, 6)),
        "B": rng.normal(0, 0.5, (1, 48)),
    }
    node = helper.make_node(
        "LSTM", ["X", "W", "R", "B"], ["Y"], name="tagger", hidden_size=6, direction="reverse"
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 1, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v.astype("float32"), k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8)
    path = tmp_path / "reverse_lstm.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def api_trace(server: str, model: str) -> dict:
    response = httpx.post(f"{server}/api/trace", json={"model": model, "inputs": ROWS}, timeout=30)
    response.raise_for_status()
    return response.json()


def upload(page: Page, path: Path, info: str) -> str:
    """Upload ``path`` through the page's form, as a person would; returns the new model's id."""
    page.locator("details.new-model > summary").click()
    page.locator("#upload-input").set_input_files(str(path))
    expect(page.get_by_test_id("model-info")).to_have_text(info)
    page.locator("details.new-model > summary").click()  # fold the form again
    model_id = page.locator("#model-select").input_value()
    assert model_id.startswith("upload-")
    return model_id


def run_and_check(page: Page, server: str, model_id: str, prev: str) -> dict:
    """Run ROWS, see the trace drawn, and hold the inspector to the API at t = T-2 and T-1: a
    model that reads right to left starts step t from the state at t + 1 (h0 = 0 at t = T-1)."""
    box = page.locator("#input-text")
    box.fill(CSV)
    page.locator("#run-button").click()
    ref = api_trace(server, model_id)
    expect(page.get_by_test_id("status")).to_have_text(
        f"4 steps · loss L = ½‖h_0‖² = {shown(ref['loss'], 4)}"
    )
    expect(page.locator("#heatmaps .heatmap .main-svg").first).to_be_visible()
    expect(page.locator("#gradients .main-svg").first).to_be_visible()
    expect(page.locator("#insp-table thead")).to_contain_text("t+1")
    layer = ref["layers"][0]
    box.press("Escape")
    page.keyboard.press("End")
    expect(page.get_by_test_id("cursor-label")).to_contain_text("t = 3")
    row = page.locator('#insp-table tbody tr[data-unit="2"]')
    row.scroll_into_view_if_needed()  # the inspector fills the rows on screen
    expect(row.locator(f'td[data-q="{prev}"]')).to_have_text(shown(0.0))
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("cursor-label")).to_contain_text("t = 2")
    key = "cell" if prev == "cell_prev" else "hidden"
    expect(row.locator(f'td[data-q="{prev}"]')).to_have_text(shown(layer[key][3][2]))
    expect(row.locator('td[data-q="hidden"]')).to_have_text(shown(layer["hidden"][2][2]))
    expect(page.locator("#equations")).to_contain_text("reads its input right to left")
    return ref


def test_keras_and_onnx_files_upload_through_the_page_and_read_right_to_left(
    page: Page, server: str, tmp_path: Path
) -> None:
    page.goto(f"{server}/#model=random-gru-i3-h4-l1-s0&csv={quote('1,2,3')}")
    expect(page.get_by_test_id("status")).to_contain_text("loss")

    keras_id = upload(
        page,
        keras_file(tmp_path),
        "GRU · 3 → 5 · 1 layer · 150 parameters · from Keras · reads right to left",
    )
    record = httpx.get(f"{server}/api/models/{keras_id}").json()
    assert (record["framework"], record["right_to_left"], record["has_head"]) == ("keras", True, True)
    run_and_check(page, server, keras_id, "hidden_prev")
    expect(page.locator("#equations")).to_contain_text("In Keras's own terms")

    onnx_id = upload(
        page, onnx_file(tmp_path), "LSTM · 3 → 6 · 1 layer · 264 parameters · from ONNX · reads right to left"
    )
    assert httpx.get(f"{server}/api/models/{onnx_id}").json()["framework"] == "onnx"
    run_and_check(page, server, onnx_id, "cell_prev")
    expect(page.locator("#equations")).to_contain_text("In ONNX's own terms")
