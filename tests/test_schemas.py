"""Typed contracts (gatescope.web.schemas): unknown fields are refused by name, junk WebSocket frames
get error frames on a connection that stays open, a start is validated whole before any work."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from gatescope.engine.text import ASCII_VOCAB, encode_text
from gatescope.settings import Limits
from gatescope.zoo.tasks import get_task

TEXT_LSTM = "random-lstm-iascii-h8-l2-s0"


def start(**fields: Any) -> str:
    return json.dumps({"type": "start", "model": TEXT_LSTM, **fields})


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/trace", {"model": TEXT_LSTM, "text": "ab", "hx": [[0.0] * 8] * 2}, "hx"),
        ("/api/trace", {"model": TEXT_LSTM, "text": "ab", "clamps": []}, "clamps"),  # interventions exist now
        ("/api/trace", {"model": TEXT_LSTM, "txt": "ab", "text": "ab"}, "txt"),
        ("/api/trace", {"model": TEXT_LSTM, "text": "ab", "objective": {"layer": 0, "unit": 1, "t": 0}}, "t"),
        ("/api/models", {"arch": "lstm", "input_size": 3, "hiden_size": 8}, "hiden_size"),
        ("/api/analysis/connectivity", {"model": TEXT_LSTM, "text": "ab", "units": [1]}, "units"),
        ("/api/analysis/vanishing", {"steps": 20, "lr": 0.1}, "lr"),
        ("/api/analysis/cost", {"hidden_size": 8, "dropout": 0.1}, "dropout"),
    ],
)
def test_unknown_fields_are_refused_by_name(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert field in detail and "unknown field" in detail


def test_unknown_upload_fields_are_refused(client: TestClient) -> None:
    response = client.post("/api/models", files={"file": ("x.pt", b"junk")}, data={"prefx": "encoder."})
    assert response.status_code == 422 and "'prefx'" in response.json()["detail"]


def receive_all(ws: Any, until: str) -> list[dict[str, Any]]:
    messages = []
    while True:
        messages.append(ws.receive_json())
        if messages[-1]["type"] in (until, "error"):
            return messages


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (start(text=12), "text"),
        ("not json", "JSON"),
        ('["start"]', '"type"'),
        ('{"type": "rewind"}', "rewind"),
        (start(text="ab", colour=1), "colour"),
        ('{"type": "append", "text": "ab", "extra": true}', "extra"),
        (start(text="ab", gru_variant="cho"), "GRU"),
        (start(text="ab", objective="loss"), "objective"),
    ],
)
def test_junk_trace_frames_get_an_error_frame_and_the_stream_stays_open(
    client: TestClient, frame: str, words: str
) -> None:
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(frame)
        reply = ws.receive_json()
        assert reply["type"] == "error" and words in reply["detail"], reply
        ws.send_bytes(b"\x00\x01")
        assert ws.receive_json()["type"] == "error"
        ws.send_json({"type": "start", "model": TEXT_LSTM, "text": "still open"})
        assert receive_all(ws, "done")[-1]["type"] == "done"


@pytest.mark.parametrize(
    ("objective", "words"),
    [
        ({"layer": 5, "unit": 0}, "layer 5 out of range"),
        ({"layer": 0, "unit": 99, "step": 0}, "unit 99 out of range"),
        ({"layer": 0, "unit": 0, "step": 40}, "step 40 out of range"),
        ("task", "no task head"),
    ],
)
def test_a_bad_objective_is_refused_before_any_step(client: TestClient, objective: Any, words: str) -> None:
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": TEXT_LSTM, "text": "abc", "objective": objective})
        first = ws.receive_json()
        assert first["type"] == "error" and words in first["detail"], first


def test_a_charlm_objective_needs_two_characters_before_any_step(client: TestClient) -> None:
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": "charlm-gru", "text": "x", "objective": "task"})
        first = ws.receive_json()
        assert first["type"] == "error" and "at least two characters" in first["detail"]


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        ("not json", "JSON"),
        ('{"type": "begin"}', "begin"),
        ('{"type": "start", "task": "adding", "hidden": 8}', "hidden"),
        ('{"type": "start", "task": "adding", "archs": "lstm"}', "archs"),
    ],
)
def test_junk_train_frames_get_an_error_frame_and_the_socket_stays_open(
    client: TestClient, frame: str, words: str
) -> None:
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(frame)
        reply = ws.receive_json()
        assert reply["type"] == "error" and words in reply["detail"], reply
        ws.send_json({"type": "start", "task": "poetry"})
        assert "unknown task 'poetry'" in ws.receive_json()["detail"]


def test_limits_are_served_from_the_settings(client: TestClient) -> None:
    served = client.get("/api/limits").json()
    assert served == client.app.state.settings.limits.model_dump()  # type: ignore[attr-defined]
    assert set(served) == set(Limits.model_fields)
    assert served["max_steps"] == 3000  # the test settings' value, not the default


def test_one_text_encoder_for_the_tasks_and_the_server(client: TestClient) -> None:
    """A tab is four spaces for a task and for the server alike (their vocabularies lack '\\t')."""
    assert get_task("charlm").vocab == ASCII_VOCAB
    text = "\tif x:"
    traced = client.post("/api/trace", json={"model": "charlm-lstm", "text": text}).json()
    assert traced["tokens"] == list("    if x:")
    x, tokens = encode_text(text, ASCII_VOCAB)
    assert torch.equal(x, get_task("charlm").encode(text)) and tokens == traced["tokens"]
    random_model = client.get(f"/api/models/{TEXT_LSTM}").json()
    assert random_model["vocab"] == ASCII_VOCAB
