"""WS /ws/trace: step messages equal the trace, append continues, cancel stops, errors stay open;
bidirectional and projected models stream the numbers POST /api/trace gives (issue 9)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import save
from torch import nn

from tests.test_wire import decode

MODEL = "random-lstm-iascii-h12-l2-s1"


def receive_until(ws: Any, kind: str) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = ws.receive_json()
        messages.append(message)
        if message["type"] in (kind, "error"):
            return messages


def test_steps_then_gradients_equal_the_whole_trace(client: TestClient) -> None:
    text = "if (x): return 'y'"
    whole = client.post("/api/trace", json={"model": MODEL, "text": text}).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": MODEL, "text": text})
        messages = receive_until(ws, "done")
    assert messages[0] == {
        "type": "started",
        "model": MODEL,
        "steps": len(text),
        "from": 0,
        "arch": "lstm",
        "gate_names": ["i", "f", "g", "o"],
    }
    steps = [m for m in messages if m["type"] == "step"]
    assert [m["t"] for m in steps] == list(range(len(text)))
    assert "".join(m["token"] for m in steps) == text
    for layer in range(2):
        for name in ("i", "f", "g", "o"):
            streamed = np.float32([m["layers"][layer]["gates"][name] for m in steps])
            np.testing.assert_allclose(
                streamed, np.float32(whole["layers"][layer]["gates"][name]), rtol=1e-5, atol=1e-6
            )
        for field in ("hidden", "cell"):
            streamed = np.float32([m["layers"][layer][field] for m in steps])
            np.testing.assert_allclose(
                streamed, np.float32(whole["layers"][layer][field]), rtol=1e-5, atol=1e-6
            )
    done = messages[-1]
    assert done["steps"] == len(text) and done["loss"] == whole["loss"]
    for layer in range(2):
        assert done["layers"][layer]["grad_hidden"] == whole["layers"][layer]["grad_hidden"]
        assert done["layers"][layer]["grad_cell"] == whole["layers"][layer]["grad_cell"]


def test_append_continues_without_recomputing_the_prefix(client: TestClient) -> None:
    whole = client.post("/api/trace", json={"model": MODEL, "text": "hello world"}).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": MODEL, "text": "hello"})
        first = receive_until(ws, "done")
        ws.send_json({"type": "append", "text": " world"})
        second = receive_until(ws, "done")
    assert [m["t"] for m in second if m["type"] == "step"] == list(range(5, 11))  # only the new steps
    assert second[0]["steps"] == 11 and second[0]["from"] == 5 and second[-1]["steps"] == 11
    steps = [m for m in first + second if m["type"] == "step"]
    hidden = np.float32([m["layers"][1]["hidden"] for m in steps])
    np.testing.assert_allclose(hidden, np.float32(whole["layers"][1]["hidden"]), rtol=1e-5, atol=1e-6)
    assert second[-1]["layers"][0]["grad_hidden"] == whole["layers"][0]["grad_hidden"]


def test_numeric_stream_with_unit_objective(client: TestClient) -> None:
    model = "random-gru-i2-h6-l1-s2"
    inputs = [[0.1 * t, -0.2 * t] for t in range(12)]
    objective = {"layer": 0, "unit": 1, "step": 5}
    whole = client.post("/api/trace", json={"model": model, "inputs": inputs, "objective": objective}).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": model, "inputs": inputs, "objective": objective})
        messages = receive_until(ws, "done")
    assert messages[-1]["layers"][0]["grad_hidden"] == whole["layers"][0]["grad_hidden"]
    assert all(m["token"] is None for m in messages if m["type"] == "step")


def test_cancel_stops_a_long_stream(client: TestClient) -> None:
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": MODEL, "text": "a" * 3000})
        assert ws.receive_json()["type"] == "started"
        assert ws.receive_json()["t"] == 0
        ws.send_json({"type": "cancel"})
        messages = receive_until(ws, "cancelled")
        cancelled = messages[-1]
        assert cancelled["type"] == "cancelled" and 0 < cancelled["t"] < 3000
        assert not any(m["type"] == "done" for m in messages)
        # The session goes on from what was computed: appending gives gradients over t + 1 steps.
        ws.send_json({"type": "append", "text": "b"})
        done = receive_until(ws, "done")[-1]
        assert done["steps"] == cancelled["t"] + 1


def test_errors_are_messages_and_the_socket_stays_open(client: TestClient) -> None:
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": "nope", "text": "x"})
        assert ws.receive_json() == {
            "type": "error",
            "detail": "unknown model 'nope'; GET /api/models lists them",
        }
        ws.send_json({"type": "append", "text": "x"})
        assert "send a 'start' message first" in ws.receive_json()["detail"]
        ws.send_json({"type": "start", "model": MODEL, "text": "ok ☃"})
        assert "not in this model's vocabulary: '☃'" in ws.receive_json()["detail"]
        ws.send_text("not json")
        assert ws.receive_json()["type"] == "error"
        ws.send_json({"type": "start", "model": MODEL, "text": "ok", "objective": {"layer": 5, "unit": 0}})
        messages = receive_until(ws, "done")
        assert messages[-1]["type"] == "error" and "layer 5 out of range" in messages[-1]["detail"]
        ws.send_json({"type": "start", "model": MODEL, "text": "ok"})
        assert receive_until(ws, "done")[-1]["type"] == "done"


def test_disconnect_mid_stream_leaves_the_server_answering(client: TestClient) -> None:
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": MODEL, "text": "z" * 2000})
        ws.receive_json()
        ws.receive_json()
    # The stream's task is gone; the server keeps answering.
    response = client.post("/api/trace", json={"model": MODEL, "text": "still here"})
    assert response.status_code == 200


def test_steps_per_message_groups_the_same_numbers(client: TestClient) -> None:
    """A class of streams sends far fewer messages: n steps per 'steps' message, same numbers."""
    text = "gates open and close"
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": MODEL, "text": text})
        single = receive_until(ws, "done")
        ws.send_json({"type": "start", "model": MODEL, "text": text, "steps_per_message": 8})
        grouped = receive_until(ws, "done")
    steps = [m for m in single if m["type"] == "step"]
    groups = [m for m in grouped if m["type"] == "steps"]
    assert [(g["t"], g["count"]) for g in groups] == [(0, 8), (8, 8), (16, 4)]
    assert "".join("".join(g["tokens"]) for g in groups) == text
    for g in groups:
        for k in range(g["count"]):
            step = steps[g["t"] + k]
            for layer in range(2):
                for name in ("i", "f", "g", "o"):
                    np.testing.assert_allclose(
                        g["layers"][layer]["gates"][name][k], step["layers"][layer]["gates"][name], rtol=1e-6
                    )
                np.testing.assert_allclose(
                    g["layers"][layer]["hidden"][k], step["layers"][layer]["hidden"], rtol=1e-6
                )
    assert grouped[-1]["layers"] == single[-1]["layers"]


def test_the_served_stream_does_not_compress_frames(server: str) -> None:
    """`gatescope serve` turns per-message deflate off (gatescope.web.app.WS_PER_MESSAGE_DEFLATE):
    a client that offers it, as browsers and the websockets library do, gets plain frames, and
    the stream still ends with its gradients."""
    import json

    from websockets.sync.client import connect  # sync: a browser test may hold the event loop

    with connect(server.replace("http", "ws") + "/ws/trace") as ws:
        offered = ws.request.headers.get("Sec-WebSocket-Extensions") if ws.request else None
        assert offered is not None and "permessage-deflate" in offered  # the client did offer it
        negotiated = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
        ws.send(json.dumps({"type": "start", "model": MODEL, "text": "abc"}))
        kinds: list[str] = []
        while not kinds or kinds[-1] not in ("done", "error"):
            kinds.append(json.loads(ws.recv())["type"])
    assert negotiated is None
    assert kinds == ["started", "step", "step", "step", "done"]


# ---- bidirectional and projected models (issue 9) -----------------------------------------------

CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
VOCAB = list("abcde ")


class TextModel(nn.Module):
    """An embedding, a bidirectional LSTM and a head over both directions' outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB), 3)
        self.rnn = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
        self.head = nn.Linear(8, len(VOCAB))


def module_of(kind: str, num_layers: int = 2, **options: Any) -> nn.Module:
    torch.manual_seed(11)
    module = CLASSES[kind](3, 5, num_layers=num_layers, **options)
    with torch.no_grad():
        for p in module.parameters():  # non-zero biases everywhere, so a wrong direction shows
            p.uniform_(-0.6, 0.6)
    return module


def upload(client: TestClient, module: nn.Module, vocab: list[str] | None = None) -> str:
    state = module.state_dict()
    if not isinstance(module, TextModel):
        state = {f"rnn.{k}": v for k, v in state.items()}
    data = save({k: v.contiguous() for k, v in state.items()})
    fields = {} if vocab is None else {"vocab": json.dumps(vocab)}
    response = client.post("/api/models", files={"file": ("m.safetensors", data)}, data=fields)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def receive(ws: Any) -> dict[str, Any]:
    """The next message, JSON text or a binary frame in the wire format (read by test_wire's reader)."""
    frame = ws.receive()
    return decode(frame["bytes"]) if frame.get("bytes") is not None else json.loads(frame["text"])


def until(ws: Any, kind: str) -> list[dict[str, Any]]:
    messages = [receive(ws)]
    while messages[-1]["type"] not in (kind, "error"):
        messages.append(receive(ws))
    return messages


def streamed(messages: list[dict[str, Any]], layer: int, direction: str, field: str) -> dict[int, np.ndarray]:
    """One field of one layer and direction ('gates.i', 'hidden', 'cell') per step t, from the
    'step' and 'steps' messages (later ones win, as on the page)."""
    rows: dict[int, np.ndarray] = {}
    for m in messages:
        if m["type"] not in ("step", "steps"):
            continue
        record = m["layers"][layer] if direction == "forward" else m["layers"][layer]["reverse"]
        value = record["gates"][field[6:]] if field.startswith("gates.") else record[field]
        if m["type"] == "step":
            rows[m["t"]] = np.float32(value)
        else:
            for k in range(m["count"]):
                rows[m["t"] + k] = np.float32(value[k])
    return rows


def fields_of(arch: str, cell: bool) -> list[str]:
    gates = {"lstm": "ifgo", "gru": "rzn", "rnn": ""}[arch]
    return [f"gates.{g}" for g in gates] + ["hidden"] + (["cell"] if cell else [])


def from_post(layer: dict[str, Any], field: str) -> np.ndarray:
    return np.float32(layer["gates"][field[6:]] if field.startswith("gates.") else layer[field])


def assert_steps_equal_post(messages: list[dict[str, Any]], post: dict[str, Any], steps: int) -> None:
    """Every field of every layer and direction, at every step, equal to POST /api/trace's."""
    for layer, want in enumerate(post["layers"]):
        for direction, record in (("forward", want), ("reverse", want["reverse"])):
            for field in fields_of(post["arch"], record["cell"] is not None):
                rows = streamed(messages, layer, direction, field)
                assert sorted(rows) == list(range(steps))
                got = np.stack([rows[t] for t in range(steps)])
                np.testing.assert_array_equal(
                    got, from_post(record, field), err_msg=f"{layer} {direction} {field}"
                )


def assert_done_equals_post(done: dict[str, Any], post: dict[str, Any]) -> None:
    assert done["type"] == "done" and done["steps"] == post["steps"] and done["loss"] == post["loss"]
    for got, want in zip(done["layers"], post["layers"], strict=True):
        for g, w in ((got, want), (got["reverse"], want["reverse"])):
            np.testing.assert_array_equal(np.float32(g["grad_hidden"]), np.float32(w["grad_hidden"]))
            if w["grad_cell"] is None:
                assert g["grad_cell"] is None
            else:
                np.testing.assert_array_equal(np.float32(g["grad_cell"]), np.float32(w["grad_cell"]))


def assert_matches_torch(messages: list[dict[str, Any]], module: nn.Module, x: torch.Tensor) -> None:
    """Against torch's own module: the top layer's output (both directions side by side) and every
    layer's final states h_n (the forward direction's last step, the reverse's step 0)."""
    out, h_n = module(x)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    steps, top = x.shape[0], module.num_layers - 1
    forward = streamed(messages, top, "forward", "hidden")
    reverse = streamed(messages, top, "reverse", "hidden")
    both = np.stack([np.concatenate([forward[t], reverse[t]]) for t in range(steps)])
    np.testing.assert_allclose(both, out.detach().numpy(), rtol=1e-5, atol=1e-5)
    for layer in range(module.num_layers):
        last = streamed(messages, layer, "forward", "hidden")[steps - 1]
        first = streamed(messages, layer, "reverse", "hidden")[0]
        np.testing.assert_allclose(last, h_n[2 * layer].detach().numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(first, h_n[2 * layer + 1].detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("fmt", "per_message"), [("json", 1), ("json", 4), ("f32", 1), ("f32", 4)])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn"])
def test_a_bidirectional_model_streams_the_numbers_post_gives(
    client: TestClient, arch: str, num_layers: int, fmt: str, per_message: int
) -> None:
    module = module_of(arch, num_layers, bidirectional=True)
    model = upload(client, module)
    x = torch.randn(9, 3)
    post = client.post("/api/trace", json={"model": model, "inputs": x.tolist()}).json()
    with client.websocket_connect("/ws/trace") as ws:
        start = {"model": model, "inputs": x.tolist(), "format": fmt, "steps_per_message": per_message}
        ws.send_json({"type": "start", **start})
        messages = until(ws, "done")
    assert messages[0] == {
        "type": "started",
        "model": model,
        "steps": 9,
        "from": 0,
        "arch": arch,
        "gate_names": post["gate_names"],
    }
    kinds = {m["type"] for m in messages[1:-1]}
    assert kinds == {"step" if per_message == 1 else "steps"}
    assert_steps_equal_post(messages, post, 9)
    assert_done_equals_post(messages[-1], post)
    assert_matches_torch(messages, module, x)


def test_a_bidirectional_projected_lstm_streams_p_wide_hidden_states(client: TestClient) -> None:
    module = module_of("lstm", 2, bidirectional=True, proj_size=2)
    model = upload(client, module)
    x = torch.randn(7, 3)
    post = client.post("/api/trace", json={"model": model, "inputs": x.tolist()}).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json(
            {"type": "start", "model": model, "inputs": x.tolist(), "format": "f32", "steps_per_message": 3}
        )
        messages = until(ws, "done")
    first = messages[1]["layers"][1]
    assert first["hidden"].shape == first["reverse"]["hidden"].shape == (3, 2)  # P
    assert first["reverse"]["gates"]["f"].shape == first["reverse"]["cell"].shape == (3, 5)  # H
    assert_steps_equal_post(messages, post, 7)
    assert_done_equals_post(messages[-1], post)
    assert_matches_torch(messages, module, x)


def test_a_projected_lstm_streams_and_appends(client: TestClient) -> None:
    """proj_size P, one direction: hidden (P,), gates and cell (H,); appended steps are stepped on."""
    module = module_of("lstm", 2, proj_size=2)
    model = upload(client, module)
    x = torch.randn(8, 3)
    post = client.post("/api/trace", json={"model": model, "inputs": x.tolist()}).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": model, "inputs": x[:5].tolist()})
        first = until(ws, "done")
        ws.send_json({"type": "append", "inputs": x[5:].tolist()})
        second = until(ws, "done")
    assert second[0]["from"] == 5 and [m["t"] for m in second[1:-1]] == [5, 6, 7]
    step = first[1]["layers"][1]
    assert len(step["hidden"]) == 2 and len(step["cell"]) == len(step["gates"]["o"]) == 5
    assert step["reverse"] is None and second[-1]["layers"][1]["reverse"] is None
    out, _ = module(x)
    for layer, want in enumerate(post["layers"]):
        for field in fields_of("lstm", cell=True):
            rows = streamed(first + second, layer, "forward", field)
            got = np.stack([rows[t] for t in range(8)])
            np.testing.assert_allclose(got, from_post(want, field), rtol=1e-5, atol=1e-6)
    top = streamed(first + second, 1, "forward", "hidden")
    np.testing.assert_allclose(
        np.stack([top[t] for t in range(8)]), out.detach().numpy(), rtol=1e-5, atol=1e-5
    )
    assert second[-1]["layers"] == [{**layer, "reverse": None} for layer in second[-1]["layers"]]
    np.testing.assert_allclose(
        np.float32(second[-1]["layers"][0]["grad_hidden"]),
        np.float32(post["layers"][0]["grad_hidden"]),
        rtol=1e-5,
    )


def test_typing_into_a_bidirectional_text_model_resends_the_whole_sequence(client: TestClient) -> None:
    """An append changes the reverse direction at every earlier step: a new 'started' from 0 and
    every step again, equal to POST over the whole text, predictions (a head over both
    directions) included."""
    torch.manual_seed(5)
    model = upload(client, TextModel(), VOCAB)
    whole = client.post("/api/trace", json={"model": model, "text": "abc de"}).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": model, "text": "abc", "format": "f32"})
        first = until(ws, "done")
        ws.send_json({"type": "append", "text": " de"})
        second = until(ws, "done")
    assert first[0]["from"] == 0 and first[0]["steps"] == 3
    assert second[0]["type"] == "started" and second[0]["from"] == 0 and second[0]["steps"] == 6
    steps = second[1:-1]
    assert [m["t"] for m in steps] == list(range(6)) and "".join(m["token"] for m in steps) == "abc de"
    assert_steps_equal_post(second, whole, 6)
    assert_done_equals_post(second[-1], whole)
    for m in steps:
        np.testing.assert_array_equal(m["predictions"]["ids"], whole["predictions"]["ids"][m["t"]])
        # The head over one step's output rather than all T at once: the same to float32 rounding.
        np.testing.assert_allclose(
            m["predictions"]["probs"], whole["predictions"]["probs"][m["t"]], rtol=1e-6
        )
    # The prefix's reverse direction was another sequence's: it changed.
    before = streamed(first, 0, "reverse", "hidden")[0]
    assert not np.allclose(before, streamed(second, 0, "reverse", "hidden")[0])


def test_an_append_while_a_bidirectional_model_streams_restarts_it(client: TestClient) -> None:
    module = module_of("gru", 1, bidirectional=True)
    model = upload(client, module)
    x = torch.randn(2001, 3)
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": model, "inputs": x[:2000].tolist()})
        assert receive(ws)["steps"] == 2000
        assert receive(ws)["t"] == 0
        ws.send_json({"type": "append", "inputs": x[2000:].tolist()})
        messages = until(ws, "done")
    (restart,) = [k for k, m in enumerate(messages) if m["type"] == "started"]
    assert messages[restart]["from"] == 0 and messages[restart]["steps"] == 2001
    assert not any(m["type"] == "done" for m in messages[:-1])  # the first run's gradients were dropped
    after = messages[restart:]
    post = client.post("/api/trace", json={"model": model, "inputs": x.tolist()}).json()
    assert_steps_equal_post(after, post, 2001)
    assert_done_equals_post(after[-1], post)


def test_cancel_then_append_on_a_bidirectional_model(client: TestClient) -> None:
    """After a cancel the sequence is what was sent; an append recomputes it all, plus the new rows."""
    module = module_of("lstm", 2, bidirectional=True)
    model = upload(client, module)
    x = torch.randn(3000, 3)
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": model, "inputs": x.tolist(), "steps_per_message": 8})
        receive(ws)
        assert receive(ws)["t"] == 0
        ws.send_json({"type": "cancel"})
        sent = until(ws, "cancelled")[-1]["t"]
        assert 0 < sent < 3000
        extra = torch.randn(1, 3)
        ws.send_json({"type": "append", "inputs": extra.tolist()})
        messages = until(ws, "done")
    assert messages[0]["type"] == "started" and messages[0]["from"] == 0 and messages[0]["steps"] == sent + 1
    rows = torch.cat([x[:sent], extra])
    post = client.post("/api/trace", json={"model": model, "inputs": rows.tolist()}).json()
    assert_steps_equal_post(messages, post, sent + 1)
    assert_done_equals_post(messages[-1], post)
    assert_matches_torch(messages, module, rows)


def test_interventions_on_a_bidirectional_model_get_an_error_frame(client: TestClient) -> None:
    model = upload(client, module_of("rnn", 1, bidirectional=True))
    clamp = {"layer": 0, "quantity": "hidden", "units": [0], "steps": [0, 2], "value": 0.0}
    body = {"model": model, "inputs": [[0.0, 1.0, 2.0]] * 3, "interventions": [clamp]}
    refused = client.post("/api/trace", json=body)
    assert refused.status_code == 422
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", **body})
        reply = receive(ws)
        assert reply["type"] == "error" and reply["detail"] == refused.json()["detail"]
        assert "bidirectional model's reverse direction reads the sequence from the end" in reply["detail"]
        ws.send_json({"type": "start", **{k: v for k, v in body.items() if k != "interventions"}})
        assert until(ws, "done")[-1]["type"] == "done"  # the socket stays open
