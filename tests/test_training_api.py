"""GET /api/tasks and WS /ws/train: side-by-side training streamed, saved, explorable at once."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from gatescope.settings import Settings
from gatescope.zoo.registry import ModelRegistry


def collect(ws: Any, until: tuple[str, ...] = ("done", "stopped", "error")) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = ws.receive_json()
        messages.append(message)
        if message["type"] in until:
            return messages


def test_tasks_are_listed_with_their_parameters(client: TestClient) -> None:
    tasks = {t["name"]: t for t in client.get("/api/tasks").json()["tasks"]}
    assert set(tasks) == {"charlm", "adding", "recall", "anbn", "sines"}
    assert tasks["adding"]["input_size"] == 2 and tasks["adding"]["preset"]["inputs"]


def test_train_side_by_side_then_trace_with_the_task_loss(client: TestClient, settings: Settings) -> None:
    start = {
        "type": "start",
        "task": "adding",
        "archs": ["lstm", "gru"],
        "hidden_size": 4,
        "steps": 6,
        "length": 20,
        "seed": 3,
    }
    with client.websocket_connect("/ws/train") as ws:
        ws.send_json(start)
        messages = collect(ws)
    assert messages[-1]["type"] == "done", messages[-1]
    started = messages[0]
    assert [r["arch"] for r in started["runs"]] == ["lstm", "gru"]
    lstm_params, gru_params = (r["params"] for r in started["runs"])
    assert lstm_params == 4 * (4 * 2 + 4 * 4 + 2 * 4) and gru_params == 3 * (4 * 2 + 4 * 4 + 2 * 4)
    progress = [m for m in messages if m["type"] == "progress"]
    assert {m["arch"] for m in progress} == {"lstm", "gru"}
    assert progress[-1]["step"] == 6 and progress[-1]["seconds_per_step"] > 0
    trained = {m["arch"]: m["model"] for m in messages if m["type"] == "trained"}
    assert set(trained) == {"lstm", "gru"}
    record = trained["lstm"]
    assert record["task"] == "adding" and record["source"] == "trained" and record["metric"]["name"]
    assert (settings.trained_dir / f"{record['id']}.safetensors").exists()
    listed = [m["id"] for m in client.get("/api/models").json()["models"]]
    assert record["id"] in listed and started["runs"][0]["init_model"] in listed
    preset = record["presets"][0]["inputs"]
    for model in (record["id"], started["runs"][0]["init_model"]):
        traced = client.post("/api/trace", json={"model": model, "inputs": preset, "objective": "task"})
        assert traced.status_code == 200, traced.text
        assert traced.json()["loss"] >= 0
    # After a restart the trained model loads from disk and its initialization is rebuilt from the
    # card's config and seed: "before vs after" still works, with the same numbers.
    before = client.post(
        "/api/trace", json={"model": started["runs"][0]["init_model"], "inputs": preset}
    ).json()
    client.app.state.registry = ModelRegistry(client.app.state.settings)  # as after a restart
    listed = [m["id"] for m in client.get("/api/models").json()["models"]]
    assert record["id"] in listed and started["runs"][0]["init_model"] in listed
    again_before = client.post(
        "/api/trace", json={"model": started["runs"][0]["init_model"], "inputs": preset}
    )
    assert again_before.json()["layers"] == before["layers"]
    # Same config and seed: the same weights (the id is derived from the config).
    with client.websocket_connect("/ws/train") as ws:
        ws.send_json(start)
        again = {m["arch"]: m["model"] for m in collect(ws) if m["type"] == "trained"}
    assert again["lstm"]["id"] == record["id"]


def test_cancel_saves_nothing(client: TestClient, settings: Settings) -> None:
    with client.websocket_connect("/ws/train") as ws:
        ws.send_json({"type": "start", "task": "sines", "archs": ["lstm"], "hidden_size": 8, "steps": 20000})
        assert ws.receive_json()["type"] == "started"
        assert ws.receive_json()["type"] == "progress"
        ws.send_json({"type": "cancel"})
        messages = collect(ws)
    assert messages[-1]["type"] == "stopped"
    assert not list(settings.trained_dir.glob("*.safetensors"))


def test_concurrent_trainings_are_refused_clearly(client: TestClient) -> None:
    with client.websocket_connect("/ws/train") as first, client.websocket_connect("/ws/train") as second:
        first.send_json(
            {"type": "start", "task": "sines", "archs": ["gru"], "hidden_size": 8, "steps": 20000}
        )
        assert first.receive_json()["type"] == "started"
        second.send_json({"type": "start", "task": "sines", "archs": ["gru"], "hidden_size": 8, "steps": 5})
        refusal = second.receive_json()
        assert refusal["type"] == "error" and "already training" in refusal["detail"]
        # Tracing is not blocked meanwhile.
        assert (
            client.post("/api/trace", json={"model": "random-gru-i1-h4-l1-s0", "inputs": [[1.0]]}).status_code
            == 200
        )
        first.send_json({"type": "cancel"})
        assert collect(first)[-1]["type"] == "stopped"


def test_bad_training_parameters(client: TestClient) -> None:
    cases = [
        ({"task": "poetry"}, "unknown task 'poetry'"),
        ({"task": "adding", "archs": ["lstm", "transformer"]}, "unknown arch 'transformer'"),
        ({"task": "adding", "steps": 10**7}, "steps must be from 1 to 20000"),
        ({"task": "adding", "hidden_size": 4096}, "hidden_size must be from 1 to 256"),
        ({"task": "adding", "length": 100000}, "must be between"),
        ({"task": "adding", "steps": "many"}, "must be numbers"),
    ]
    with client.websocket_connect("/ws/train") as ws:
        for fields, message in cases:
            ws.send_json({"type": "start", **fields})
            reply = ws.receive_json()
            assert reply["type"] == "error" and message in reply["detail"], (fields, reply)
