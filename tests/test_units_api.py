"""Units across a corpus over HTTP and the WebSocket (gatescope.web.api.units): an uploaded corpus
file and what is refused, the snippets held to the float64 reference trace, and the stream's
progress, cancel, dropped connection and bad frames; its answer is the POST's, number for number."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from gatescope.settings import Settings
from gatescope.web.app import create_app
from tests.reference import reference_trace
from tests.test_dynamics import brute_force

TEXT_LSTM = "random-lstm-iascii-h16-l2-s0-fb1"
CODE = 'def f(a, b="x"):\n    return [a, (b), {"k": \'v\'}]\n\nclass C:\n    s = "q(r)" + f(1, [2])\n' * 12
LONG = (CODE * 2)[:1500]  # the small app's corpus limit


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    """An app with small corpus limits and chunks, so a few hundred characters make many chunks."""
    settings = Settings(
        upload_dir=tmp_path / "uploads",
        trained_dir=tmp_path / "trained",
        lessons_dir=tmp_path / "lessons",
        max_corpus_file_bytes=2000,
        max_corpus_chars=1500,
        corpus_chunk=50,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def upload(client: TestClient, data: bytes, name: str = "code.py", model: str = TEXT_LSTM) -> Any:
    return client.post("/api/corpora", files={"file": (name, data, "text/plain")}, data={"model": model})


def units_body(**extra: Any) -> dict[str, Any]:
    return {"model": TEXT_LSTM, "feature": "brackets", "quantity": "hidden", "top": 8, **extra}


def test_an_uploaded_file_reads_as_its_text(small: TestClient) -> None:
    got = upload(small, CODE.replace("\n", "\r\n").encode("utf-8-sig"), "<b>code</b>.py")
    assert got.status_code == 201, got.text
    corpus = got.json()
    assert corpus["chars"] == len(CODE) and corpus["name"] == "<b>code</b>.py"  # \r dropped, BOM too
    assert re.fullmatch(r"[0-9a-f]{16}", corpus["id"])
    from_file = small.post("/api/analysis/units", json=units_body(source="file", corpus=corpus["id"]))
    from_text = small.post("/api/analysis/units", json=units_body(text=CODE))
    assert from_file.status_code == 200, from_file.text
    a, b = from_file.json(), from_text.json()
    assert a["units"] == b["units"] and a["snippets"] == b["snippets"] and a["steps"] == len(CODE)
    assert a["source"] == "file" and a["corpus"] == corpus["id"] and a["text"] is None
    assert small.get("/api/limits").json()["max_corpus_file_bytes"] == 2000
    again = small.get(f"/api/corpora/{corpus['id']}").json()  # the file as sent: its \r too
    assert again == {"id": corpus["id"], "name": "<b>code</b>.py", "chars": len(CODE) + CODE.count("\n")}
    for missing in ("0123456789abcdef", "..%2Fsecret"):
        assert small.get(f"/api/corpora/{missing}").status_code == 404


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"", 422, "the file is empty"),
        (b"x" * 2001, 413, "larger than the corpus file limit of 2,000 bytes (max_corpus_file_bytes)"),
        (b"ok\nsecond caf\xe9 line", 422, "not UTF-8 text: byte 0xe9 at offset 13 (line 2)"),
        (b"y" * 1501, 422, "the file has 1,501 characters; the corpus limit is 1,500 (max_corpus_chars)"),
        (
            "a = 'caf\u00e9'\nb = '\u00e9t\u00e9' \u2014 ok\n".encode(),
            422,
            f"the file has 4 characters outside the vocabulary of model {TEXT_LSTM!r}, 2 distinct: "
            "'\u00e9' \u00d73 (first at line 1, column 9), '\u2014' \u00d71 (first at line 2, column 11)",
        ),
    ],
)
def test_a_bad_file_gets_a_clear_refusal(small: TestClient, data: bytes, status: int, message: str) -> None:
    got = upload(small, data)
    assert got.status_code == status, got.text
    assert message in got.json()["detail"]


def test_upload_and_source_mistakes_are_named(small: TestClient) -> None:
    no_model = small.post("/api/corpora", files={"file": ("a.txt", b"abc", "text/plain")})
    assert no_model.status_code == 422 and "'model' field" in no_model.json()["detail"]
    extra = small.post(
        "/api/corpora", files={"file": ("a.txt", b"abc", "text/plain")}, data={"model": TEXT_LSTM, "x": "1"}
    )
    assert extra.status_code == 422 and "unknown field(s) 'x'" in extra.json()["detail"]
    numbers = upload(small, b"abc", model="random-gru-i3-h6-l1-s0")
    assert numbers.status_code == 422 and "takes numbers" in numbers.json()["detail"]
    assert upload(small, b"abc", model="nope").status_code == 404
    json_body = small.post("/api/corpora", json={"model": TEXT_LSTM})
    assert json_body.status_code == 422 and "multipart/form-data" in json_body.json()["detail"]
    gone = small.post("/api/analysis/units", json=units_body(source="file", corpus="0123456789abcdef"))
    assert gone.status_code == 404 and "upload the file again" in gone.json()["detail"]
    for body, message in (
        (units_body(source="file"), "needs 'corpus'"),
        (units_body(text="abc", corpus="0123456789abcdef"), "source 'text' reads no 'corpus'"),
        (units_body(source="task", text="abc"), "source 'task' reads no 'text'"),
        (units_body(text="ab", corpus="../etc"), "corpus: String should match pattern"),
    ):
        got = small.post("/api/analysis/units", json=body)
        assert got.status_code == 422 and message in json.dumps(got.json()["detail"]), got.text


def test_snippets_are_the_reference_values_where_the_unit_agrees_most(small: TestClient) -> None:
    got = small.post(
        "/api/analysis/units", json=units_body(text=CODE, snippet_units=3, snippets=2, window=40)
    ).json()
    model = small.app.state.registry.get(TEXT_LSTM)  # type: ignore[attr-defined]
    vocab = model.vocab
    x = torch.nn.functional.one_hot(torch.tensor([vocab.index(c) for c in CODE]), len(vocab)).float()
    ref = reference_trace(model.module, x, lambda hs: hs[-1][-1].sum())
    feature = np.array(brute_force(CODE, "brackets"))
    assert [(u["layer"], u["unit"], u["score"]) for u in got["snippets"]] == [
        (u["layer"], u["unit"], u["score"]) for u in got["units"][:3]
    ]
    for unit in got["snippets"]:
        v = ref["layers"][unit["layer"]]["hidden"][:, unit["unit"]].numpy()
        assert unit["score"] == pytest.approx(np.corrcoef(v, feature)[0, 1], abs=1e-4)
        assert unit["low"] == pytest.approx(v.min(), abs=1e-5) and unit["high"] == pytest.approx(
            v.max(), abs=1e-5
        )
        agreement = (
            np.sign(unit["score"])
            * np.array(  # each window's covariance, in the corpus's stds
                [np.cov(v[s : s + 40], feature[s : s + 40], bias=True)[0, 1] for s in range(len(v) - 39)]
            )
            / (v.std() * feature.std())
        )
        assert len(unit["windows"]) == 2
        best = unit["windows"][0]
        # CODE repeats itself, so windows a period apart tie: the best is one of the best.
        assert agreement[best["start"]] == pytest.approx(agreement.max(), abs=1e-4)
        assert best["end"] == best["start"] + 40
        for w in unit["windows"]:
            assert w["agreement"] == pytest.approx(agreement[w["start"]], abs=1e-4)
        for w in unit["windows"]:
            assert w["text"] == CODE[w["start"] : w["end"]]
            np.testing.assert_allclose(w["values"], v[w["start"] : w["end"]], atol=1e-5)
            assert w["feature"] == feature[w["start"] : w["end"]].tolist()
            here = np.corrcoef(v[w["start"] : w["end"]], feature[w["start"] : w["end"]])[0, 1]
            assert w["local_r"] == pytest.approx(here, abs=1e-4)
        assert abs(unit["windows"][1]["start"] - best["start"]) >= 40  # no overlap
    none = small.post("/api/analysis/units", json=units_body(text=CODE, snippet_units=0)).json()
    assert none["snippets"] == [] and none["units"] == got["units"]


# ---- WS /ws/analysis/units ---------------------------------------------------------------------


def until(ws: Any, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read frames up to the first of type ``kind``: (that frame, the progress frames before it)."""
    progress = []
    while True:
        frame = ws.receive_json()
        if frame["type"] == kind:
            return frame, progress
        assert frame["type"] == "progress", frame
        progress.append(frame)


def test_the_stream_reports_progress_and_ends_with_the_posts_answer(small: TestClient) -> None:
    body = units_body(text=CODE, snippet_units=2)
    with small.websocket_connect("/ws/analysis/units") as ws:
        ws.send_json({"type": "start", **body})
        started = ws.receive_json()
        assert started == {"type": "started", "model": TEXT_LSTM, "steps": len(CODE), "total": 2 * len(CODE)}
        done, progress = until(ws, "done")
    chunks = -(-len(CODE) // 50)
    assert [p["done"] for p in progress] == [min(50 * k, len(CODE)) for k in range(1, chunks + 1)] + [
        len(CODE) + min(50 * k, len(CODE)) for k in range(1, chunks + 1)
    ]
    assert {p["phase"] for p in progress[:chunks]} == {"scores"} and progress[-1]["phase"] == "snippets"
    assert all(p["total"] == 2 * len(CODE) for p in progress)
    posted = small.post("/api/analysis/units", json=body).json()
    assert {k: v for k, v in done.items() if k != "type"} == posted  # the same numbers, exactly


def test_the_stream_over_the_task_is_numpys_corrcoef_on_the_whole_corpus(tmp_path: Path) -> None:
    settings = Settings(upload_dir=tmp_path / "u", trained_dir=tmp_path / "t", corpus_chunk=700)
    with TestClient(create_app(settings)) as client, client.websocket_connect("/ws/analysis/units") as ws:
        body = {"model": "charlm-gru", "source": "task", "chars": 3000, "feature": "line_position", "top": 64}
        ws.send_json({"type": "start", **body, "snippet_units": 0})
        assert ws.receive_json()["total"] == 3000
        done, progress = until(ws, "done")
        assert [p["done"] for p in progress] == [700, 1400, 2100, 2800, 3000]
        model = client.app.state.registry.get("charlm-gru")  # type: ignore[attr-defined]
    vocab, text = model.vocab, done["text"]
    x = torch.nn.functional.one_hot(torch.tensor([vocab.index(c) for c in text]), len(vocab)).float()
    hidden = reference_trace(model.module, x, lambda hs: hs[-1][-1].sum())["layers"][0]["hidden"].numpy()
    feature = np.array(brute_force(text, "line_position"))
    want = {u: np.corrcoef(hidden[:, u], feature)[0, 1] for u in range(hidden.shape[1])}
    assert len(done["units"]) == 64 and done["feature_mean"] == pytest.approx(feature.mean())
    for u in done["units"]:
        assert u["score"] == pytest.approx(want[u["unit"]], abs=1e-5)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("not json", "JSON"),
        ('{"type": "go"}', "type"),
        ('{"type": "cancel", "now": true}', "now: unknown field"),
        (
            '{"type": "start", "model": "random-lstm-iascii-h16-l2-s0-fb1", "text": "ab", "feature": "x"}',
            "feature",
        ),
        ('{"type": "start", "model": "nope", "text": "ab", "feature": "quotes"}', "unknown model 'nope'"),
        (
            json.dumps({"type": "start", "model": TEXT_LSTM, "text": "a\u00e9", "feature": "quotes"}),
            "1 character not in this model's vocabulary: '\u00e9'",
        ),
        (
            json.dumps(
                {"type": "start", "model": TEXT_LSTM, "text": "ab", "feature": "quotes", "quantity": "z"}
            ),
            "quantity 'z' is not one of this LSTM's",
        ),
    ],
)
def test_bad_frames_get_an_error_and_the_socket_stays_open(
    small: TestClient, frame: str, message: str
) -> None:
    with small.websocket_connect("/ws/analysis/units") as ws:
        ws.send_bytes(b"\x00\x01")
        error = ws.receive_json()
        assert error["type"] == "error" and "JSON text frames, not binary" in error["detail"]
        ws.send_text(frame)
        error = ws.receive_json()
        assert error["type"] == "error" and message in error["detail"], error
        ws.send_json({"type": "start", **units_body(text="(a)", snippet_units=0)})
        assert ws.receive_json()["type"] == "started"
        done, _ = until(ws, "done")
        assert done["steps"] == 3


def test_cancel_stops_the_run_and_a_new_start_replaces_one(small: TestClient) -> None:
    with small.websocket_connect("/ws/analysis/units") as ws:
        ws.send_json({"type": "cancel"})
        assert ws.receive_json() == {"type": "cancelled", "done": 0}  # nothing was running
        ws.send_json({"type": "start", **units_body(text=LONG)})
        assert ws.receive_json()["total"] == 3000
        assert ws.receive_json()["type"] == "progress"
        ws.send_json({"type": "cancel"})
        cancelled, _ = until(ws, "cancelled")
        assert 50 <= cancelled["done"] < 3000
        # The same socket takes the next run; a start while one runs replaces it.
        ws.send_json({"type": "start", **units_body(text=LONG)})
        assert ws.receive_json()["type"] == "started"
        assert ws.receive_json()["type"] == "progress"
        ws.send_json({"type": "start", **units_body(text="(x)", snippet_units=0)})
        started, replaced = until(ws, "started")
        assert started["steps"] == 3 and all(p["total"] == 3000 for p in replaced)
        done, _ = until(ws, "done")
        assert done["steps"] == 3


def test_a_dropped_connection_stops_the_work(small: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gatescope.web.api.units")
    with small.websocket_connect("/ws/analysis/units") as ws:
        ws.send_json({"type": "start", **units_body(text=LONG)})
        assert ws.receive_json()["type"] == "started"
        assert ws.receive_json()["type"] == "progress"
    deadline = time.monotonic() + 20
    while not any("dropped" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.05)
    (dropped,) = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    read, total = map(int, re.findall(r"after (\d+) of (\d+) steps", dropped)[0])
    assert total == 3000 and read < total
    time.sleep(0.3)
    assert [r.getMessage() for r in caplog.records if "units run" in r.getMessage()] == [dropped]
    # The server still answers.
    assert small.post("/api/analysis/units", json=units_body(text="(a)")).status_code == 200
