"""The HTTP API: models, uploads and traces, held to the engine's own numbers."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import save as save_safetensors
from torch import nn

from gatescope.engine import UnitObjective, trace
from gatescope.settings import Settings
from gatescope.web.app import create_app
from gatescope.zoo.registry import ModelRegistry

TEXT_LSTM = "random-lstm-iascii-h16-l2-s0-fb1"


def test_models_lists_records_with_required_fields(client: TestClient) -> None:
    created = client.post("/api/models", json={"arch": "gru", "input_size": 3, "hidden_size": 8, "seed": 4})
    assert created.status_code == 201
    record = created.json()
    assert record["id"] == "random-gru-i3-h8-l1-s4"
    assert record["params"] == sum(p.numel() for p in nn.GRU(3, 8).parameters())
    listed = client.get("/api/models").json()["models"]
    mine = next(m for m in listed if m["id"] == record["id"])
    for key in ("id", "arch", "input_size", "hidden_size", "num_layers", "params", "source", "vocab", "task"):
        assert key in mine
    assert mine["source"] == "random"


def test_get_one_model_rebuilds_random_ids_and_404s_unknown(client: TestClient) -> None:
    record = client.get("/api/models/random-rnn-relu-i3-h5-l2-s7").json()
    assert (record["arch"], record["nonlinearity"], record["num_layers"]) == ("rnn", "relu", 2)
    assert client.get("/api/models/upload-0123456789ab").status_code == 404
    assert client.get("/api/models/random-lstm-i3-h5-l9-s0").status_code == 422  # 9 layers: over the limit


def test_random_models_are_reproducible_from_their_id(client: TestClient, settings: Settings) -> None:
    body = {
        "arch": "lstm",
        "vocab": "ascii",
        "hidden_size": 16,
        "num_layers": 2,
        "seed": 0,
        "forget_bias": 1.0,
    }
    assert client.post("/api/models", json=body).json()["id"] == TEXT_LSTM
    first = client.post("/api/trace", json={"model": TEXT_LSTM, "text": "gates"}).json()
    # A fresh app (as after a restart) rebuilds the same weights from the id alone.
    client.app.state.registry = ModelRegistry(client.app.state.settings)  # as after a restart
    second = client.post("/api/trace", json={"model": TEXT_LSTM, "text": "gates"}).json()
    assert first["layers"] == second["layers"]
    assert first["layers"][0]["gates"]["f"][0] != first["layers"][0]["gates"]["i"][0]


def test_forget_bias_knob_sets_the_forget_gate_bias(client: TestClient) -> None:
    client.get("/api/models")
    model = client.app.state.registry.get(TEXT_LSTM)
    w = model.spec.layers[0]
    size = model.spec.hidden_size
    assert torch.all(w.b_ih[size : 2 * size] + w.b_hh[size : 2 * size] == 1.0)


def test_trace_matches_engine_for_numeric_inputs(client: TestClient) -> None:
    inputs = [[0.5, -1.0, 2.0], [0.0, 0.25, -0.5], [1.0, 1.0, 1.0]]
    model_id = "random-rnn-relu-i3-h5-l2-s7"
    response = client.post("/api/trace", json={"model": model_id, "inputs": inputs})
    assert response.status_code == 200
    got = response.json()
    module = client.app.state.registry.get(model_id).module
    want = trace(module, torch.tensor(inputs))
    assert got["arch"] == "rnn" and got["steps"] == 3 and got["tokens"] is None
    assert got["loss"] == pytest.approx(want.loss)
    for layer, expected in zip(got["layers"], want.layers, strict=True):
        np.testing.assert_array_equal(np.float32(layer["hidden"]), expected.hidden.numpy())
        np.testing.assert_array_equal(np.float32(layer["grad_hidden"]), expected.grad_hidden.numpy())
        assert layer["cell"] is None and layer["gates"] == {}


def test_trace_text_with_unit_objective(client: TestClient) -> None:
    objective = {"layer": 0, "unit": 3, "step": 2}
    got = client.post("/api/trace", json={"model": TEXT_LSTM, "text": "abcd", "objective": objective}).json()
    assert got["tokens"] == list("abcd")
    assert got["gate_names"] == ["i", "f", "g", "o"]
    model = client.app.state.registry.get(TEXT_LSTM)
    x = torch.nn.functional.one_hot(
        torch.tensor([model.vocab.index(c) for c in "abcd"]), len(model.vocab)
    ).float()
    want = trace(model.module, x, objective=UnitObjective(0, 3, 2))
    np.testing.assert_array_equal(
        np.float32(got["layers"][0]["gates"]["f"]), want.layers[0].gates["f"].numpy()
    )
    np.testing.assert_array_equal(np.float32(got["layers"][0]["grad_cell"]), want.layers[0].grad_cell.numpy())
    assert got["loss"] == pytest.approx(want.layers[0].hidden[2, 3].item())


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "nope", "inputs": [[1.0]]}, 404, "unknown model 'nope'"),
        ({"model": "random-gru-i2-h4-l1-s0", "inputs": [[1.0, 2.0], [3.0]]}, 422, "row 1 has 1 numbers"),
        ({"model": "random-gru-i2-h4-l1-s0", "inputs": []}, 422, "empty"),
        ({"model": "random-gru-i2-h4-l1-s0", "text": "hi"}, 422, "takes numbers, not text"),
        ({"model": "random-gru-i2-h4-l1-s0"}, 422, "exactly one of 'inputs'"),
        (
            {"model": TEXT_LSTM, "text": "naïve ☃"},
            422,
            "2 characters not in this model's vocabulary: 'ï', '☃'",
        ),
        ({"model": TEXT_LSTM, "text": ""}, 422, "empty"),
        ({"model": TEXT_LSTM, "text": "x" * 3001}, 422, "limit is 3000"),
        (
            {"model": TEXT_LSTM, "text": "ab", "objective": {"layer": 0, "unit": 99, "step": 0}},
            422,
            "unit 99 out of range",
        ),
        ({"model": TEXT_LSTM, "text": "ab", "objective": "task"}, 422, "no task head"),
        ({"model": "random-gru-i2-h4-l1-s0", "inputs": [[1.0, "x"]]}, 422, "valid number"),
        ({"model": "random-gru-i2-h99999-l1-s0", "inputs": [[1.0, 2.0]]}, 422, "hidden_size must be between"),
    ],
)
def test_bad_trace_requests_get_clear_4xx(client: TestClient, body: dict, status: int, message: str) -> None:
    response = client.post("/api/trace", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_inputs_are_refused(client: TestClient, literal: str) -> None:
    body = f'{{"model": "random-gru-i2-h4-l1-s0", "inputs": [[1.0, 2.0], [{literal}, 0]]}}'
    response = client.post("/api/trace", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "NaN or inf" in response.json()["detail"] or "finite" in response.json()["detail"]


def test_bad_random_model_requests(client: TestClient) -> None:
    for body, message in [
        ({"arch": "transformer", "input_size": 2}, "arch"),
        ({"arch": "lstm"}, "give input_size"),
        ({"arch": "lstm", "input_size": 2, "num_layers": 9}, "num_layers must be between 1 and 4"),
        ({"arch": "lstm", "input_size": 2, "hidden_size": 0}, "hidden_size must be between"),
    ]:
        response = client.post("/api/models", json=body)
        assert response.status_code == 422, body
        assert message in response.json()["detail"]


# ---- uploads ----------------------------------------------------------------------------------


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.rnn = nn.GRU(4, 6, num_layers=2)
        self.out = nn.Linear(6, 3)


def upload(client: TestClient, name: str, data: bytes, **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/api/models", files={"file": (name, data)}, data=fields)


def test_upload_safetensors_with_prefix_infers_the_architecture(
    client: TestClient, settings: Settings
) -> None:
    torch.manual_seed(0)
    model = Encoder()
    data = save_safetensors({k: v.contiguous() for k, v in model.state_dict().items()})
    response = upload(client, "encoder.safetensors", data)
    assert response.status_code == 201, response.text
    record = response.json()
    assert (record["arch"], record["input_size"], record["hidden_size"], record["num_layers"]) == (
        "gru",
        4,
        6,
        2,
    )
    assert record["source"] == "upload" and record["name"] == "encoder.safetensors"
    x = torch.randn(9, 4)
    got = client.post("/api/trace", json={"model": record["id"], "inputs": x.tolist()}).json()
    want = trace(model.rnn, x)
    np.testing.assert_allclose(
        np.float32(got["layers"][1]["hidden"]), want.layers[1].hidden.numpy(), rtol=1e-5, atol=1e-6
    )
    # Kept on disk: a new registry (a restart) still lists it.
    assert (settings.upload_dir / f"{record['id']}.safetensors").exists()
    client.app.state.registry = ModelRegistry(client.app.state.settings)  # as after a restart
    assert record["id"] in [m["id"] for m in client.get("/api/models").json()["models"]]


def test_upload_weights_only_pt_and_relu_rnn(client: TestClient) -> None:
    module = nn.RNN(3, 5, nonlinearity="relu", bias=False)
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    response = upload(client, "rnn.pt", buffer.getvalue(), nonlinearity="relu")
    assert response.status_code == 201, response.text
    assert response.json()["nonlinearity"] == "relu" and response.json()["bias"] is False


class Exploit:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, (f"touch {Exploit.marker}",))

    marker = ""


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes the attacker's protocol
def test_pickle_carrying_code_is_refused_and_never_executed(client: TestClient, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    Exploit.marker = str(marker)
    data = pickle.dumps({"weight_ih_l0": Exploit()})
    response = upload(client, "evil.pt", data)
    assert response.status_code == 422
    assert "not a readable torch checkpoint: a pickle" in response.json()["detail"]
    # The same object inside torch.save's own archive: named, and refused unpickled.
    buffer = io.BytesIO()
    torch.save({"weight_ih_l0": Exploit()}, buffer)
    response = upload(client, "evil.pt", buffer.getvalue())
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "holds a Python object (posix.system)" in detail and "never unpickled" in detail  # os.system
    assert not marker.exists()


def _zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _torch_saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # Random bytes (a seed whose first byte is not 0x80, a pickle's opening), and the bytes
        # that made torch say "pop from empty list".
        (
            bytes(torch.randint(0, 0x80, (256,), generator=torch.Generator().manual_seed(0)).tolist()),
            "neither the zip archive torch.save writes nor its older pickle format",
        ),
        (b"this is not a model\x00\x01" * 8, "neither the zip archive torch.save writes"),
        (b"weight_ih_l0 = [[0.1, 0.2]]\n", "neither the zip archive torch.save writes"),
        (b"", "the uploaded file is empty"),
        (_zip_of({"notes.txt": b"hello"}), "a zip archive without the data.pkl that torch.save writes"),
        (_zip_of({"notes.txt": b"hello"})[:30], "a damaged zip archive"),
        (pickle.dumps([1, 2, 3]), "not a readable torch checkpoint: a pickle, not one torch.save wrote"),
        (_torch_saved([torch.zeros(2)]), "not a state_dict: the checkpoint holds a list"),
        (
            _torch_saved({"epoch": 3, "lr": 0.1}),
            "not a state_dict of tensors: the checkpoint's mapping holds no",
        ),
    ],
)
def test_junk_pt_uploads_say_what_the_file_is_not(client: TestClient, data: bytes, message: str) -> None:
    response = upload(client, "junk.pt", data)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert message in detail
    if data:
        assert "torch.save(module.state_dict(), path)" in detail  # and how to make one
    for leak in ("pop from empty list", "KeyError", "Traceback", "enforce fail", "Invalid magic"):
        assert leak not in detail


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("junk.safetensors", b"\x00\x01 not a safetensors file", "not a readable .safetensors"),
        ("junk.pt", b"garbage bytes", "not a torch checkpoint"),
        ("empty.pt", b"", "empty"),
        ("model.onnx", b"abc", "not a readable .onnx file"),
        ("model.npz", b"abc", "unsupported file type"),
        ("linear.safetensors", save_safetensors({"weight": torch.zeros(2, 2)}), "no recurrent weights"),
        (
            "broken.safetensors",
            save_safetensors({"weight_ih_l0": torch.zeros(10, 2), "weight_hh_l0": torch.zeros(10, 4)}),
            "not (G*H, H)",
        ),
        (
            "nan.safetensors",
            save_safetensors(
                {"weight_ih_l0": torch.full((4, 2), float("nan")), "weight_hh_l0": torch.zeros(4, 4)}
            ),
            "NaN or inf",
        ),
    ],
)
def test_corrupt_or_wrong_uploads_get_422(client: TestClient, name: str, data: bytes, message: str) -> None:
    response = upload(client, name, data)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_oversized_request_body_is_refused_before_parsing(client: TestClient, settings: Settings) -> None:
    settings.max_request_bytes = 1000
    body = {"model": "random-gru-i2-h4-l1-s0", "inputs": [[0.5, 0.5]] * 200}
    response = client.post("/api/trace", json=body)
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


def test_oversized_upload_gets_413(client: TestClient) -> None:
    response = upload(client, "big.safetensors", b"\x00" * (2 * 2**20 + 10))
    assert response.status_code == 413


def test_upload_with_several_rnns_asks_for_a_prefix(client: TestClient) -> None:
    state = {f"enc.{k}": v for k, v in nn.LSTM(2, 3).state_dict().items()}
    state |= {f"dec.{k}": v for k, v in nn.GRU(3, 3).state_dict().items()}
    data = save_safetensors({k: v.contiguous() for k, v in state.items()})
    response = upload(client, "seq2seq.safetensors", data)
    assert response.status_code == 422 and "choose one with 'prefix'" in response.json()["detail"]
    response = upload(client, "seq2seq.safetensors", data, prefix="dec.")
    assert response.status_code == 201 and response.json()["arch"] == "gru"


def test_page_and_plotly_are_served_locally(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "cdn" not in page.text.lower()
    plotly_js = client.get("/vendor/plotly.min.js")
    assert plotly_js.status_code == 200 and len(plotly_js.content) > 1_000_000


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GATESCOPE_UPLOAD_DIR", str(tmp_path))
    monkeypatch.setenv("GATESCOPE_MAX_STEPS", "77")
    settings = Settings()
    assert settings.upload_dir == tmp_path and settings.max_steps == 77
    # The app built from them enforces them and tells the page.
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/limits").json()["max_steps"] == 77
        response = client.post("/api/trace", json={"model": TEXT_LSTM, "text": "x" * 78})
        assert response.status_code == 422 and "limit is 77" in response.json()["detail"]


def test_initial_states_h0_c0_match_torch_and_the_engine(client: TestClient) -> None:
    """An encoder's last state as a decoder's start: h0 and c0 shaped (num_layers, H)."""
    model_id = "random-lstm-i3-h5-l2-s4"
    module = client.get(f"/api/models/{model_id}") and client.app.state.registry.get(model_id).module
    x = torch.randn(7, 3)
    h0, c0 = torch.randn(2, 5), torch.randn(2, 5)
    body = {"model": model_id, "inputs": x.tolist(), "h0": h0.tolist(), "c0": c0.tolist()}
    got = client.post("/api/trace", json=body).json()
    want = trace(module, x, h0=h0, c0=c0)
    torch_out, _ = module(x, (h0, c0))
    np.testing.assert_allclose(
        np.float32(got["layers"][1]["hidden"]), torch_out.detach().numpy(), rtol=1e-5, atol=1e-6
    )
    for layer in range(2):
        for name in ("hidden", "cell", "grad_hidden", "grad_cell"):
            np.testing.assert_allclose(
                np.float32(got["layers"][layer][name]),
                getattr(want.layers[layer], name).numpy(),
                rtol=1e-5,
                atol=1e-6,
            )
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", **body})
        messages = [ws.receive_json()]
        while messages[-1]["type"] not in ("done", "error"):
            messages.append(ws.receive_json())
    steps = [m for m in messages if m["type"] == "step"]
    np.testing.assert_allclose(
        np.float32([m["layers"][1]["hidden"] for m in steps]),
        np.float32(got["layers"][1]["hidden"]),
        rtol=1e-5,
        atol=1e-6,
    )
    assert messages[-1]["layers"][0]["grad_hidden"] == got["layers"][0]["grad_hidden"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"h0": [[0.0] * 5]}, "h0 must have shape (2, 5)"),
        ({"h0": [[0.0] * 5, [0.0] * 4]}, "h0"),
        ({"c0": [[0.0] * 5] * 2, "model": "random-gru-i3-h5-l2-s4"}, "c0 is only for LSTMs"),
    ],
)
def test_bad_initial_states_are_refused(client: TestClient, fields: dict, words: str) -> None:
    body = {"model": "random-lstm-i3-h5-l2-s4", "inputs": [[0.0, 1.0, 2.0]], **fields}
    response = client.post("/api/trace", json=body)
    assert response.status_code == 422 and words in response.json()["detail"], response.text
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", **body})
        reply = ws.receive_json()
        assert reply["type"] == "error" and words in reply["detail"]


@pytest.mark.parametrize(
    "module",
    [nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2), nn.GRU(3, 4, bidirectional=True)],
    ids=["bidirectional-projected-lstm", "bidirectional-gru"],
)
def test_upload_bidirectional_and_projected_modules(client: TestClient, module: nn.Module) -> None:
    """Each layer's 'reverse' holds the reverse direction, indexed by input position."""
    data = save_safetensors({f"encoder.rnn.{k}": v.contiguous() for k, v in module.state_dict().items()})
    record = client.post("/api/models", files={"file": ("enc.safetensors", data)}).json()
    assert record["bidirectional"] and record["proj_size"] == getattr(module, "proj_size", 0)
    x = torch.randn(6, 3)
    got = client.post("/api/trace", json={"model": record["id"], "inputs": x.tolist()}).json()
    want = trace(module, x)
    out, _ = module(x)
    top = got["layers"][-1]
    both = np.concatenate([np.float32(top["hidden"]), np.float32(top["reverse"]["hidden"])], 1)
    np.testing.assert_allclose(both, out.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert got["loss"] == pytest.approx(want.loss, rel=1e-5)
    for layer, expected in zip(got["layers"], want.layers, strict=True):
        assert expected.reverse is not None
        np.testing.assert_allclose(
            np.float32(layer["reverse"]["grad_hidden"]),
            expected.reverse.grad_hidden.numpy(),
            rtol=1e-5,
            atol=1e-6,
        )
    with client.websocket_connect("/ws/trace") as ws:  # the stream too (tests/test_stream.py has it all)
        ws.send_json({"type": "start", "model": record["id"], "inputs": x.tolist()})
        while (reply := ws.receive_json())["type"] != "done":
            assert reply["type"] != "error", reply
        assert reply["layers"][0]["reverse"]["grad_hidden"] == got["layers"][0]["reverse"]["grad_hidden"]
