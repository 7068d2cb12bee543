"""Lessons: parsing (gatescope.lessons), the shipped ones, GET/POST /api/lessons and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gatescope.lessons import load_lessons, parse_lesson, shipped_dir

GOOD = """---
id: my-lesson
title: My lesson
---
state: model=recall-lstm&text=E..........?&t=3&unit=2
highlight: diagram

The **forget** gate keeps *c*: `f` near 1.

---
page: lab
state: tab=gradients&gf=rnn,lstm

Second step.
"""


def test_a_lesson_parses_into_steps() -> None:
    lesson = parse_lesson(GOOD)
    assert (lesson.id, lesson.title, len(lesson.steps)) == ("my-lesson", "My lesson", 2)
    first, second = lesson.steps
    assert first.state == {"model": "recall-lstm", "text": "E..........?", "t": "3", "unit": "2"}
    assert first.highlight == "diagram" and first.page == "main"
    assert first.text == "The **forget** gate keeps *c*: `f` near 1."
    assert second.page == "lab" and second.state == {"tab": "gradients", "gf": "rnn,lstm"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "front matter"),
        ("---\nid: x\ntitle: t\n", "not closed"),
        ("---\nid: Bad Id\ntitle: t\n---\nstate: t=1\n\nhi", "id"),
        ("---\nid: x\ntitle: t\n---\n", "no steps"),
        ("---\nid: x\ntitle: t\n---\nhighlight: diagram\n\nhi", "state"),
        ("---\nid: x\ntitle: t\n---\nstate: model=a&evil=1\n\nhi", "unknown state keys"),
        ("---\nid: x\ntitle: t\n---\nstate: t=1\n\n<script>alert(1)</script>", "HTML"),
        ("---\nid: x\ntitle: <b>t</b>\n---\nstate: t=1\n\nhi", "title"),
        ("---\nid: x\ntitle: t\n---\nstate: t=1\nhighlight: {}}\n\nhi", "highlight"),
        ("---\nid: x\ntitle: t\n---\nstate: t=1\npage: zoo\n\nhi", "page"),
        ("---\nid: x\ntitle: t\n---\nstate: t=1\n\n" + "x" * 70_000, "KiB"),
    ],
)
def test_bad_lessons_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_lesson(text)


def test_the_shipped_lessons_cover_the_seeds_claims() -> None:
    lessons, problems = load_lessons([(shipped_dir(), "builtin")])
    assert problems == []
    ids = {x.id for x in lessons}
    assert {"forget-gate", "update-gate", "vanishing", "counting", "cost"} <= ids
    models = {s.state.get("model") for x in lessons for s in x.steps}
    assert {"recall-lstm", "recall-gru", "anbn-lstm", "anbn-gru"} <= models
    assert any(s.page == "lab" for x in lessons for s in x.steps)


def test_api_lists_shipped_and_dropped_lessons(client: TestClient, settings: object) -> None:
    folder: Path = settings.lessons_dir  # type: ignore[attr-defined]
    folder.mkdir(parents=True)
    (folder / "mine.md").write_text(GOOD)
    (folder / "broken.md").write_text("not a lesson")
    body = client.get("/api/lessons").json()
    by_id = {x["id"]: x for x in body["lessons"]}
    assert by_id["forget-gate"]["source"] == "builtin"
    assert by_id["my-lesson"]["source"] == "teacher"
    assert by_id["my-lesson"]["steps"][0] == {
        "state": {"model": "recall-lstm", "text": "E..........?", "t": "3", "unit": "2"},
        "text": "The **forget** gate keeps *c*: `f` near 1.",
        "highlight": "diagram",
        "page": "main",
        "scrolls": None,
    }
    assert [p["file"] for p in body["problems"]] == ["broken.md"]


def test_upload_saves_a_lesson_and_refuses_bad_ones(client: TestClient, settings: object) -> None:
    r = client.post("/api/lessons", json={"source": GOOD})
    assert r.status_code == 201, r.text
    assert (settings.lessons_dir / "my-lesson.md").read_text() == GOOD  # type: ignore[attr-defined]
    assert "my-lesson" in {x["id"] for x in client.get("/api/lessons").json()["lessons"]}
    bad = GOOD.replace("Second step.", "<img src=x onerror=alert(1)>")
    r = client.post("/api/lessons", json={"source": bad})
    assert r.status_code == 422 and "HTML" in r.json()["detail"]
    r = client.post("/api/lessons", json={"source": GOOD.replace("my-lesson", "forget-gate")})
    assert r.status_code == 409
    r = client.post("/api/lessons", json={"source": "x" * 70_000})
    assert r.status_code == 422
    r = client.post("/api/lessons", json={"source": GOOD, "extra": 1})
    assert r.status_code == 422
