"""The page with a practitioner's own model (issue 9), in a real browser against a real server:
a whole checkpoint (embedding, recurrent module, head) uploaded with its vocabulary, the choice
among several recurrent modules, token input, the head's top-5 predictions and the logit
objective, a run started from another run's last state, a bidirectional model streamed with its
reverse direction (and typed into), and the unit order kept in the URL. Numbers are held to POST
/api/trace's.

The models are made here, tiny, with torch; nothing is downloaded.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import torch
from torch import nn

pytest.importorskip("playwright.sync_api")  # a workstation without it skips; CI fails in conftest
from playwright.sync_api import Page, expect

from tests.browser_support import expect_console_error, shown

expect.set_options(timeout=20_000)
VOCAB = ["<s>", "</s>", "a", "b", "c", "AE"]


class Whole(nn.Module):
    """An embedding, an LSTM and a head over the input vocabulary: a tiny language model."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB), 4)
        self.rnn = nn.LSTM(4, 8)
        self.head = nn.Linear(8, len(VOCAB))


CHARS = list("abc ")


class BiText(nn.Module):
    """An embedding and a two-layer bidirectional GRU: typing into it changes every earlier step."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(CHARS), 4)
        self.rnn = nn.GRU(4, 5, num_layers=2, bidirectional=True)


class EncoderDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.GRU(4, 6)
        self.decoder = nn.LSTM(4, 6, bidirectional=True)


def save(module: nn.Module, path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    torch.save(module.state_dict(), path)
    return path


def api_trace(server: str, model: str, **payload: object) -> dict:
    response = httpx.post(f"{server}/api/trace", json={"model": model, **payload}, timeout=30)
    response.raise_for_status()
    return response.json()


def num(value: float) -> str:
    """A loss as the page's status shows it (static/js/format.js num)."""
    return shown(value, 4)


def open_view(page: Page, server: str, hash_: str) -> None:
    page.goto(f"{server}/#{hash_}")
    expect(page.get_by_test_id("status")).to_contain_text("loss")


def upload_whole(page: Page, server: str, tmp_path: Path) -> str:
    """Upload Whole() with its vocabulary through the page; returns the new model's id."""
    checkpoint = save(Whole(), tmp_path / "lm.pt")
    page.locator("details.new-model > summary").click()
    page.locator("#upload-vocab").fill(json.dumps(VOCAB))
    page.locator("#upload-input").set_input_files(str(checkpoint))
    expect(page.get_by_test_id("model-info")).to_have_text("LSTM · 4 → 8 · 1 layer · 448 parameters")
    model_id = page.locator("#model-select").input_value()
    assert model_id.startswith("upload-")
    page.locator("details.new-model > summary").click()  # fold the form: the inspector comes into view
    return model_id


def test_a_whole_model_with_its_vocabulary_reads_tokens(page: Page, server: str, tmp_path: Path) -> None:
    open_view(page, server, "model=random-lstm-iascii-h8-l1-s0&text=ab")
    model_id = upload_whole(page, server, tmp_path)
    record = httpx.get(f"{server}/api/models/{model_id}").json()
    assert record["vocab"] == VOCAB and record["has_embedding"] and record["has_head"]
    # "</s>" and "AE" are tokens, not characters: the box takes them separated by spaces.
    expect(page.locator("#input-label")).to_have_text("Tokens (separated by spaces, one per timestep)")
    expect(page.locator("#input-hint")).to_contain_text("Separate tokens with spaces")
    page.locator("#input-text").fill("<s> a AE </s>")
    expect(page.get_by_test_id("status")).to_contain_text("4 steps · loss")
    expect(page.locator("#textview span")).to_have_text(["<s>", "a", "AE", "</s>"])
    ref = api_trace(server, model_id, tokens=["<s>", "a", "AE", "</s>"])
    page.keyboard.press("Escape")
    page.locator('#textview span[data-t="2"]').click()
    expect(page.get_by_test_id("cursor-label")).to_have_text("t = 2 · ‘AE’")
    row = page.locator('#insp-table tbody tr[data-unit="3"]')
    expect(row.locator('td[data-q="hidden"]')).to_have_text(shown(ref["layers"][0]["hidden"][2][3]))


def test_top_five_predictions_and_the_logit_objective(page: Page, server: str, tmp_path: Path) -> None:
    open_view(page, server, "model=random-lstm-iascii-h8-l1-s0&text=ab")
    model_id = upload_whole(page, server, tmp_path)
    tokens = ["<s>", "a", "b", "</s>"]
    page.locator("#input-text").fill(" ".join(tokens))
    expect(page.get_by_test_id("status")).to_contain_text("4 steps · loss")
    page.keyboard.press("Escape")
    page.locator('#textview span[data-t="1"]').click()
    expect(page.get_by_test_id("predictions-t")).to_have_text("t = 1, after reading ‘a’")

    ref = api_trace(server, model_id, tokens=tokens)["predictions"]
    names = [VOCAB[i] for i in ref["ids"][1]]
    items = page.locator("#predictions button.prediction")
    expect(items.locator(".token")).to_have_text(names)
    expect(items.locator(".prob")).to_have_text([f"{100 * p:.1f}%" for p in ref["probs"][1]])

    # Clicking the second guess asks why it was output here: L = its logit at t = 1.
    items.nth(1).click()
    want = api_trace(server, model_id, tokens=tokens, objective={"logit": names[1], "step": 1})
    expect(page.get_by_test_id("status")).to_have_text(
        f"4 steps · loss L = the logit of ‘{names[1]}’ at t = 1 = {num(want['loss'])}"
    )
    expect(page.locator("#objective-select")).to_have_value("logit")
    expect(items.nth(1)).to_have_class("prediction chosen")
    page.wait_for_function(
        "s => location.hash.includes(s)", arg=f"obj={quote(f'logit:{names[1]},1', safe='')}"
    )
    # The head is over the input vocabulary: its next-token loss is an objective too.
    page.locator("#objective-select").select_option("prediction")
    want = api_trace(server, model_id, tokens=tokens, objective="prediction")
    expect(page.get_by_test_id("status")).to_have_text(
        f"4 steps · loss L = the next-token loss = {num(want['loss'])}"
    )


def test_a_file_with_two_recurrent_modules_offers_the_choice(page: Page, server: str, tmp_path: Path) -> None:
    checkpoint = save(EncoderDecoder(), tmp_path / "seq2seq.pt")
    open_view(page, server, "model=random-gru-i3-h4-l1-s0&csv=1,2,3")
    page.locator("details.new-model > summary").click()
    page.locator("#upload-input").set_input_files(str(checkpoint))
    choice = page.get_by_test_id("upload-modules")
    expect(choice.locator("p")).to_have_text("seq2seq.pt holds several recurrent modules. Which one?")
    expect(choice.locator("button")).to_have_text(
        [
            "decoder. · LSTM · 4 → 6 · 1 layer · bidirectional",
            "encoder. · GRU · 4 → 6 · 1 layer",
        ]
    )
    expect_console_error(page, "422")  # Chromium logs the answer that listed the modules
    choice.locator('button[data-prefix="encoder."]').click()
    expect(page.get_by_test_id("model-info")).to_have_text("GRU · 4 → 6 · 1 layer · 216 parameters")
    expect(choice).to_be_hidden()
    expect(page.locator("#input-label")).to_have_text("Numbers: one row per timestep, 4 values each (CSV)")


def test_a_run_starts_from_the_last_state_of_another(page: Page, server: str) -> None:
    encoder, decoder = "anbn-gru", "anbn-lstm"  # both 16 units, vocabulary a, b
    name = httpx.get(f"{server}/api/models/{encoder}").json()["name"]
    open_view(page, server, f"model={decoder}&text=ab")
    page.locator("#from-panel > summary").click()
    page.locator("#from-model").select_option(encoder)
    page.locator("#from-input").fill("aabb")
    page.locator("#from-apply").click()
    expect(page.get_by_test_id("from-note")).to_have_text(
        f"Started from the last state of {name} on “aabb” (h0), not from zeros."
    )
    expect(page.get_by_test_id("status")).to_contain_text("2 steps · loss")
    h0 = [api_trace(server, encoder, text="aabb")["layers"][0]["hidden"][-1]]
    ref = api_trace(server, decoder, text="ab", h0=h0)
    expect(page.get_by_test_id("status")).to_contain_text(f"= {num(ref['loss'])}")
    page.keyboard.press("Home")
    for unit in (0, 5):
        row = page.locator(f'#insp-table tbody tr[data-unit="{unit}"]')
        row.scroll_into_view_if_needed()  # the inspector fills the rows on screen (the diagram is above)
        expect(row.locator('td[data-q="hidden"]')).to_have_text(shown(ref["layers"][0]["hidden"][0][unit]))
    # The URL keeps it: a reload starts from the same state.
    page.wait_for_function("location.hash.includes('from=anbn-gru') && location.hash.includes('fromin=aabb')")
    page.reload()
    expect(page.get_by_test_id("from-note")).to_contain_text(f"last state of {name} on “aabb”")
    expect(page.get_by_test_id("status")).to_contain_text(f"= {num(ref['loss'])}")


def watch_trace_traffic(page: Page) -> tuple[list[dict], list[str]]:
    """The trace stream's JSON messages, both ways, as they go (binary step frames left out), and
    every POST /api/trace the page makes."""
    messages: list[dict] = []
    posts: list[str] = []

    def on_socket(ws: Any) -> None:
        if ws.url.endswith("/ws/trace"):
            ws.on("framereceived", lambda p: messages.append(json.loads(p)) if isinstance(p, str) else None)
            ws.on("framesent", lambda p: messages.append({"sent": json.loads(p)}))

    page.on("websocket", on_socket)
    page.on(
        "request", lambda r: posts.append(r.url) if r.method == "POST" and "/api/trace" in r.url else None
    )
    return messages, posts


def heatmap_z(page: Page, quantity: str) -> torch.Tensor:
    return torch.tensor(
        page.evaluate(f"() => document.querySelector('[data-quantity={quantity}] .plot').data[0].z")
    )


def test_a_bidirectional_model_streams_its_reverse_direction(page: Page, server: str, tmp_path: Path) -> None:
    messages, posts = watch_trace_traffic(page)
    buffer = io.BytesIO()
    torch.manual_seed(1)
    torch.save(EncoderDecoder().state_dict(), buffer)
    record = httpx.post(
        f"{server}/api/models", files={"file": ("bi.pt", buffer.getvalue())}, data={"prefix": "decoder."}
    ).json()
    rows = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0.5, -1, 0, 2]]
    csv = "\n".join(",".join(str(v) for v in row) for row in rows)
    open_view(page, server, f"model={record['id']}&csv={quote(csv)}")
    ref = api_trace(server, record["id"], inputs=rows)["layers"][0]
    # It came through the stream, both directions in its steps, not through POST /api/trace.
    assert next(m for m in messages if m.get("type") == "started")["steps"] == 4 and posts == []
    # The model line beside the menu says it runs both ways.
    expect(page.get_by_test_id("model-info")).to_have_text(
        f"LSTM · 4 → 6 · 1 layer · {record['params']:,} parameters · bidirectional"
    )
    want = [[ref["hidden"][t][u] for t in range(4)] for u in range(6)]
    assert torch.allclose(heatmap_z(page, "hidden"), torch.tensor(want), atol=1e-6)
    field = page.locator("#direction-field")
    expect(field).to_be_visible()
    expect(field.locator(".hint")).to_have_text("reverse direction: indexed by input position")
    page.locator("#direction-select").select_option("reverse")
    page.wait_for_function("location.hash.includes('dir=reverse')")
    expect(page.locator("[data-quantity=hidden] .gtitle")).to_have_text("hidden state ht · reverse")
    reverse = ref["reverse"]
    for quantity, values in (
        ("hidden", reverse["hidden"]),
        ("cell", reverse["cell"]),
        ("f", reverse["gates"]["f"]),
    ):
        want = [[values[t][u] for t in range(4)] for u in range(6)]
        assert torch.allclose(heatmap_z(page, quantity), torch.tensor(want), atol=1e-6), quantity
    page.keyboard.press("Home")
    row = page.locator('#insp-table tbody tr[data-unit="2"]')
    expect(row.locator('td[data-q="hidden"]')).to_have_text(shown(ref["reverse"]["hidden"][0][2]))
    # The reverse direction's step 0 starts from its state at step 1.
    expect(row.locator('td[data-q="cell_prev"]')).to_have_text(shown(ref["reverse"]["cell"][1][2]))
    expect(page.locator("#insp-table thead")).to_contain_text("ct+1")
    # The equations and the cell diagram say so too: c_t = f_t ⊙ c_{t+1} + i_t ⊙ g_t.
    expect(page.locator('#equations [data-eq="c"] .eq-sym')).to_have_text("ct = ft ⊙ ct+1 + it ⊙ gt")
    expect(page.locator('#diagram [data-edge="c_prev"] .edge-name')).to_have_text("ct+1")


def test_typing_into_a_bidirectional_model_redraws_every_step(page: Page, server: str) -> None:
    """An append changes the reverse direction at every earlier step: the stream sends the whole
    text again and the page redraws it all, equal to POST /api/trace over the longer text."""
    messages, posts = watch_trace_traffic(page)
    torch.manual_seed(2)
    data = save_safetensors_bytes(BiText())
    record = httpx.post(
        f"{server}/api/models",
        files={"file": ("bitext.safetensors", data)},
        data={"vocab": json.dumps(CHARS)},
    ).json()
    open_view(page, server, f"model={record['id']}&text=ab&dir=reverse")
    status = page.get_by_test_id("status")
    expect(status).to_contain_text("2 steps · loss")
    before = api_trace(server, record["id"], text="ab")["layers"][0]["reverse"]["hidden"]
    box = page.locator("#input-text")
    box.press("End")
    box.press_sequentially("c ab", delay=40)
    ref = api_trace(server, record["id"], text="abc ab")
    expect(status).to_contain_text("6 steps · loss")
    expect(status).to_contain_text(f"= {num(ref['loss'])}")
    sent = [m["sent"] for m in messages if "sent" in m]
    assert sent[0]["type"] == "start" and any(m["type"] == "append" for m in sent[1:]), sent
    started = [m for m in messages if m.get("type") == "started"]
    assert started[-1]["steps"] == 6 and all(m["from"] == 0 for m in started), started
    assert posts == []
    expect(page.locator("#direction-select")).to_have_value("reverse")
    for layer in (0, 1):
        page.locator("#layer-select").select_option(str(layer))
        want = torch.tensor(ref["layers"][layer]["reverse"]["hidden"]).T  # (units, T)
        assert torch.allclose(heatmap_z(page, "hidden"), want, atol=1e-6), layer
    # Step 0 of the reverse direction has read the whole text now: it moved.
    assert not torch.allclose(torch.tensor(before[0]), torch.tensor(ref["layers"][0]["reverse"]["hidden"][0]))


def test_units_ordered_by_variance_and_a_subset_live_in_the_url(page: Page, server: str) -> None:
    model, text = "random-lstm-iascii-h16-l1-s0", "the gates open and close"
    open_view(page, server, f"model={model}&text={quote(text)}")
    hidden = torch.tensor(api_trace(server, model, text=text)["layers"][0]["hidden"])  # (T, H)
    by_variance = torch.argsort(hidden.var(0, unbiased=False), descending=True).tolist()
    page.locator("#order-select").select_option("variance")
    page.wait_for_function("location.hash.includes('order=variance')")
    first = page.locator("#insp-table tbody tr").first
    expect(first).to_have_attribute("data-unit", str(by_variance[0]))
    page.locator("#show-select").select_option("top")
    page.locator("#show-k").fill("4")
    page.locator("#show-k").dispatch_event("change")
    expect(page.get_by_test_id("units-note")).to_have_text("showing 4 of 16 units")
    expect(page.locator("#insp-table tbody tr")).to_have_count(4)
    page.wait_for_function("location.hash.includes('show=top%3A4')")
    labels = page.evaluate("() => document.querySelector('[data-quantity=hidden] .plot').data[0].y")
    assert labels == [str(u) for u in by_variance[:4]]
    page.reload()
    expect(page.get_by_test_id("units-note")).to_have_text("showing 4 of 16 units")
    expect(page.locator("#order-select")).to_have_value("variance")
    units = page.locator("#insp-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.unit)")
    assert units == [str(u) for u in by_variance[:4]]


def test_an_onnx_cho_gru_shows_its_own_equations(page: Page, server: str) -> None:
    """A GRU from ONNX with linear_before_reset=0 runs Cho et al.'s equations, and the inspector
    writes those (reset before W_hn), with ONNX's own notation beside them."""
    from tests.test_foreign import onnx_model

    data = onnx_model("GRU").SerializeToString()
    record = httpx.post(f"{server}/api/models", files={"file": ("cho.onnx", data)}).json()
    assert record["gru_variant"] == "cho" and record["framework"] == "onnx"
    rows = [[0.5, -1, 0.25], [1, 0, -0.5], [0, 2, 1]]
    csv = "\n".join(",".join(str(v) for v in row) for row in rows)
    open_view(page, server, f"model={record['id']}&csv={quote(csv)}&t=2")
    expect(page.locator('#equations [data-eq="n"] .eq-sym')).to_contain_text("(r")
    expect(page.locator('#equations [data-eq="h"] .eq-sym')).to_contain_text("(1 − z")
    ref = api_trace(server, record["id"], inputs=rows)
    expect(page.locator('#equations [data-eq="h"] .eq-res')).to_have_text(
        f"= {shown(ref['layers'][0]['hidden'][2][0])}"
    )
    expect(page.locator("#equations")).to_contain_text("In ONNX's own terms")
    expect(page.locator("#equations")).to_contain_text("Cho et al. (2014)")


def test_a_projected_lstm_shows_p_hidden_rows(page: Page, server: str) -> None:
    """proj_size = P: h_t has P units (the heatmap's rows), the gates and the cell H."""
    torch.manual_seed(3)
    module = nn.LSTM(3, 5, proj_size=2)
    data = save_safetensors_bytes(module)
    record = httpx.post(f"{server}/api/models", files={"file": ("proj.safetensors", data)}).json()
    assert record["proj_size"] == 2
    rows = [[0.5, -1, 0.25], [1, 0, -0.5], [0, 2, 1]]
    csv = "\n".join(",".join(str(v) for v in row) for row in rows)
    open_view(page, server, f"model={record['id']}&csv={quote(csv)}&t=2")
    heights = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#heatmaps .js-plotly-plot')]"
        ".map((d) => [d.data[0].name, d.data[0].z.length]))"
    )
    assert heights["hidden state h_t"] == 2 and heights["cell state c_t"] == 5, heights
    ref = api_trace(server, record["id"], inputs=rows)
    row = page.locator('#insp-table tbody tr[data-unit="1"]')
    row.scroll_into_view_if_needed()
    expect(row.locator('td[data-q="hidden"]')).to_have_text(shown(ref["layers"][0]["hidden"][2][1]))


def save_safetensors_bytes(module: nn.Module) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in module.state_dict().items()})


def test_a_stack_of_different_sizes_shows_each_layers_own_units(page: Page, server: str) -> None:
    """Layers of 6 and 3 units (as a Keras LSTM(6) -> LSTM(3) is read): each layer's heatmaps
    have its own row count, the inspector lists its own units, and the unit selection is clamped
    to the layer on screen. Values are POST /api/trace's."""
    from gatescope import RecurrentStack

    torch.manual_seed(4)
    data = save_safetensors_bytes(RecurrentStack("lstm", 3, [6, 3]))
    record = httpx.post(f"{server}/api/models", files={"file": ("stack.safetensors", data)}).json()
    assert (record["hidden_size"], record["hidden_sizes"], record["num_layers"]) == (None, [6, 3], 2)
    rows = [[0.5, -1, 0.25], [1, 0, -0.5], [0, 2, 1], [-0.3, 0.4, 0.9]]
    csv = "\n".join(",".join(str(v) for v in row) for row in rows)
    ref = api_trace(server, record["id"], inputs=rows)
    open_view(page, server, f"model={record['id']}&csv={quote(csv)}&t=2&unit=5")
    expect(page.get_by_test_id("model-info")).to_contain_text("LSTM · 3 → 6 → 3 · 2 layers")
    heights = (
        "() => [...document.querySelectorAll('#heatmaps .js-plotly-plot')].map((d) => d.data[0].z.length)"
    )
    inspector_units = "rows => rows.map(r => Number(r.dataset.unit))"
    assert set(page.evaluate(heights)) == {6}
    row = page.locator('#insp-table tbody tr[data-unit="5"]')
    row.scroll_into_view_if_needed()
    expect(row).to_have_class("selected")
    expect(row.locator('td[data-q="hidden"]')).to_have_text(shown(ref["layers"][0]["hidden"][2][5]))

    page.locator("#layer-select").select_option("1")
    expect(page.locator("#unit-input")).to_have_value("2")  # unit 5 is not in a 3-unit layer
    expect(page.locator("#unit-input")).to_have_attribute("max", "2")
    assert set(page.evaluate(heights)) == {3}
    units = page.locator("#insp-table tbody tr").evaluate_all(inspector_units)
    assert units == [0, 1, 2]
    row = page.locator('#insp-table tbody tr[data-unit="2"]')
    row.scroll_into_view_if_needed()
    expect(row).to_have_class("selected")
    expect(row.locator('td[data-q="hidden"]')).to_have_text(shown(ref["layers"][1]["hidden"][2][2]))
    expect(row.locator('td[data-q="cell"]')).to_have_text(shown(ref["layers"][1]["cell"][2][2]))
    assert "layer=1" in page.evaluate("() => location.hash") and "unit=2" in page.evaluate(
        "() => location.hash"
    )
