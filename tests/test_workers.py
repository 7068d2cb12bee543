"""Several processes serve as one (gatescope serve --workers N): what one adds, all list and trace.

Two apps built from the same settings stand in for two worker processes: they share nothing but
the data folders, exactly as uvicorn's workers do. One test also runs a real 2-worker server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from safetensors.torch import save as save_safetensors
from torch import nn

from gatescope.bench.localserver import running_server
from gatescope.settings import Settings
from gatescope.web.app import create_app


@pytest.fixture
def two(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        yield a, b


def ids(client: TestClient) -> set[str]:
    return {m["id"] for m in client.get("/api/models").json()["models"]}


def test_an_upload_through_one_is_listed_and_traced_by_the_other(two: tuple[TestClient, TestClient]) -> None:
    a, b = two
    data = save_safetensors({k: v.contiguous() for k, v in nn.GRU(3, 4).state_dict().items()})
    record = a.post("/api/models", files={"file": ("g.safetensors", data)}).json()
    assert b.get(f"/api/models/{record['id']}").json()["id"] == record["id"]  # by id, before any list
    assert record["id"] in ids(b)
    got = [
        c.post("/api/trace", json={"model": record["id"], "inputs": [[1.0, 0.0, -1.0]]}).json() for c in two
    ]
    assert got[0]["layers"] == got[1]["layers"]


def test_a_random_model_created_through_one_is_listed_by_the_other(
    two: tuple[TestClient, TestClient],
) -> None:
    a, b = two
    created = a.post("/api/models", json={"arch": "rnn", "input_size": 2, "hidden_size": 3, "seed": 9}).json()
    assert created["id"] in ids(b)
    # A model only looked at by id (a shared link) is not added to everyone's list.
    a.get("/api/models/random-gru-i2-h3-l1-s11")
    assert "random-gru-i2-h3-l1-s11" not in ids(b)


def test_training_slots_are_shared(two: tuple[TestClient, TestClient]) -> None:
    a, b = two
    start = {"type": "start", "task": "sines", "archs": ["gru"], "hidden_size": 4, "steps": 20000}
    with a.websocket_connect("/ws/train") as first, b.websocket_connect("/ws/train") as second:
        first.send_json(start)
        assert first.receive_json()["type"] == "started"
        second.send_json({**start, "steps": 5})
        refusal = second.receive_json()
        assert refusal["type"] == "error" and "already training 1" in refusal["detail"]
        first.send_json({"type": "cancel"})
        while first.receive_json()["type"] not in ("stopped", "done", "error"):
            pass
        second.send_json({**start, "steps": 5})
        assert second.receive_json()["type"] == "started"  # the slot came back


def test_a_real_two_worker_server_answers_as_one() -> None:
    with running_server(workers=2) as base, httpx.Client() as client:
        created = client.post(
            f"{base}/api/models", json={"arch": "lstm", "input_size": 2, "hidden_size": 3}
        ).json()
        for _ in range(6):  # new connections, spread by the kernel over both workers
            with httpx.Client() as fresh:
                listed = {m["id"] for m in fresh.get(f"{base}/api/models").json()["models"]}
                assert created["id"] in listed


def test_a_lesson_uploaded_through_one_is_listed_by_the_other(two: tuple[TestClient, TestClient]) -> None:
    from tests.test_lessons import GOOD

    a, b = two
    assert a.post("/api/lessons", json={"source": GOOD}).status_code == 201
    assert "my-lesson" in {lesson["id"] for lesson in b.get("/api/lessons").json()["lessons"]}
