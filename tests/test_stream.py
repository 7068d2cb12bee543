"""WS /ws/trace: step messages equal the trace, append continues, cancel stops, errors stay open."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi.testclient import TestClient

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
    assert second[0]["steps"] == 11 and second[-1]["steps"] == 11
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
    import asyncio
    import json

    from websockets.asyncio.client import connect

    async def stream() -> tuple[str | None, list[str]]:
        async with connect(server.replace("http", "ws") + "/ws/trace") as ws:
            offered = ws.request.headers.get("Sec-WebSocket-Extensions") if ws.request else None
            assert offered is not None and "permessage-deflate" in offered  # the client did offer it
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
            await ws.send(json.dumps({"type": "start", "model": MODEL, "text": "abc"}))
            kinds = []
            while not kinds or kinds[-1] not in ("done", "error"):
                kinds.append(json.loads(await ws.recv())["type"])
            return negotiated, kinds

    negotiated, kinds = asyncio.run(stream())
    assert negotiated is None
    assert kinds == ["started", "step", "step", "step", "done"]
