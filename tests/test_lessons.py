"""Lessons: parsing (gatescope.lessons), the shipped ones, GET/POST /api/lessons and bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
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


# ---- the shipped captions hold the numbers they state (POST /api/trace, the lab's own API) --------


def _lesson_step(lesson_id: str, k: int) -> tuple[dict[str, str], str]:
    lessons, _ = load_lessons([(shipped_dir(), "builtin")])
    step = next(x for x in lessons if x.id == lesson_id).steps[k]
    return step.state, " ".join(step.text.split())


def _trace(client: TestClient, state: dict[str, str], model: str | None = None) -> dict[str, Any]:
    r = client.post("/api/trace", json={"model": model or state["model"], "text": state["text"]})
    assert r.status_code == 200, r.text
    layer: dict[str, Any] = r.json()["layers"][0]
    return layer


def _unit(layer: dict[str, Any], key: str, unit: int) -> np.ndarray:
    rows = layer["gates"][key] if key in layer["gates"] else layer[key]
    return np.array([row[unit] for row in rows])


def test_forget_gate_captions_hold_the_recall_lstms_numbers(client: TestClient) -> None:
    state, text = _lesson_step("forget-gate", 1)
    assert (state["unit"], state["t"]) == ("2", "5")
    layer = _trace(client, state)
    i, f, g, o = (_unit(layer, k, 2) for k in "ifgo")
    c = _unit(layer, "cell", 2)
    # "f is 0.997, so f ⊙ c keeps the whole old cell state"
    assert f"{f[5]:.3f}" == "0.997" and "0.997" in text
    # "i ⊙ g adds about −0.91 at every blank": t = 5..10 (the blanks after this step)
    assert np.all(np.abs(i[5:11] * g[5:11] - (-0.91)) < 0.02)
    # "c goes from −2.91 to −3.81 here and reaches −8.34 by t = 10"
    assert [f"{c[4]:.2f}", f"{c[5]:.2f}", f"{c[10]:.2f}"] == ["-2.91", "-3.81", "-8.34"]
    assert "−2.91 to −3.81" in text and "−8.34 by t = 10" in text
    # Step 2: "unit 2's row stays bright from t = 3 on (f ≥ 0.98)"; with G the cell climbs to +8.18.
    _, text2 = _lesson_step("forget-gate", 2)
    assert "f ≥ 0.98" in text2 and f[3:].min() >= 0.98
    assert "+8.18" in text2 and "−8.34" in text2
    climbed = _unit(_trace(client, {**state, "text": "G" + state["text"][1:]}), "cell", 2)
    assert f"{climbed[10]:.2f}" == "8.18"
    # Step 3: "h = o ⊙ tanh(c) = 0.996 × tanh(−9.23) = −0.996" at the cue, t = 11.
    state3, text3 = _lesson_step("forget-gate", 3)
    assert state3["t"] == "11" and "0.996 × tanh(−9.23) = −0.996" in text3
    h = _unit(layer, "hidden", 2)
    assert [f"{o[11]:.3f}", f"{c[11]:.2f}", f"{h[11]:.3f}"] == ["0.996", "-9.23", "-0.996"]
    assert h[11] == pytest.approx(o[11] * np.tanh(c[11]), abs=1e-5)


def test_update_gate_captions_hold_the_recall_grus_numbers(client: TestClient) -> None:
    units = {_lesson_step("update-gate", k)[0]["unit"] for k in range(4)}
    assert units == {"0"}  # one unit through the whole lesson
    state, text = _lesson_step("update-gate", 1)
    gru = _trace(client, state)
    z, n, h = _unit(gru, "z", 0), _unit(gru, "n", 0), _unit(gru, "hidden", 0)
    # Step 0: "reading the letter, unit 0's z is 0.45"
    assert f"{z[0]:.2f}" == "0.45" and "z is 0.45" in _lesson_step("update-gate", 0)[1]
    # Step 1 (t = 4): "0.995 here, above 0.96 from t = 1 to 10", "−0.115 → −0.112", "n = 0.69"
    assert f"{z[4]:.3f}" == "0.995" and z[1:11].min() > 0.96
    assert [f"{h[3]:.3f}", f"{h[4]:.3f}", f"{n[4]:.2f}"] == ["-0.115", "-0.112", "0.69"]
    assert "(−0.115 → −0.112)" in text and "*n* = 0.69" in text
    # Step 2 (compare): the LSTM's f above 0.90 and the GRU's z above 0.96 through the blanks.
    state2, text2 = _lesson_step("update-gate", 2)
    lstm = _trace(client, state2, model=state2["compare"])
    assert "f stays above 0.90 and z above 0.96" in text2
    assert _unit(lstm, "f", 0)[1:11].min() > 0.90 and z[1:11].min() > 0.96


def test_counting_captions_hold_the_anbn_models_numbers(client: TestClient) -> None:
    state, text = _lesson_step("counting", 0)
    c = _unit(_trace(client, state), "cell", 9)
    assert "(0.88, 1.58, 2.44, 3.36, 4.29" in text
    assert [f"{v:.2f}" for v in c[:5]] == ["0.88", "1.58", "2.44", "3.36", "4.29"]
    assert np.all(np.abs(np.diff(c[:5]) - 0.9) < 0.2)  # "about 0.9 per a"
    state1, text1 = _lesson_step("counting", 1)
    lstm = _trace(client, state1)
    f, c = _unit(lstm, "f", 9), _unit(lstm, "cell", 9)
    assert "f is 0.988" in text1 and f"{f[29]:.3f}" == "0.988"
    assert "reaches 24.6 at the last `a`" in text1 and f"{c[29]:.1f}" == "24.6" and c[29] > c[28]
    state2, text2 = _lesson_step("counting", 2)
    h = _unit(_trace(client, state2), "hidden", int(state2["unit"]))
    assert "saturates at 1.000 from the fourth `a`" in text2
    assert all(f"{v:.3f}" == "1.000" for v in h[3:30])
    models = {m["id"]: m for m in client.get("/api/models").json()["models"]}
    assert models["anbn-lstm"]["metric"]["value"] == 52 and "n = 52" in text1
    assert models["anbn-gru"]["metric"]["value"] == 22 and "n = 22" in text2


def test_vanishing_captions_hold_the_labs_slopes(client: TestClient) -> None:
    def slopes(**knobs: float) -> dict[str, float]:
        body = {"archs": ["rnn", "lstm", "gru"], "steps": 100, "hidden_size": 64, **knobs}
        r = client.post("/api/analysis/vanishing", json=body)
        assert r.status_code == 200, r.text
        return {a: round(v["grad_slope"], 3) for a, v in r.json()["archs"].items()}

    state, text = _lesson_step("vanishing", 1)
    assert (state["T"], state["H"]) == ("100", "64")
    at_init = slopes()
    assert "RNN −0.22, LSTM −0.20, GRU −0.17" in text
    assert [f"{at_init[a]:.2f}" for a in ("rnn", "lstm", "gru")] == ["-0.22", "-0.20", "-0.17"]
    state2, text2 = _lesson_step("vanishing", 2)
    assert state2["fb"] == "1" and "from −0.20 to −0.075" in text2
    assert f"{slopes(forget_bias=1.0)['lstm']:.3f}" == "-0.075"
    state3, text3 = _lesson_step("vanishing", 3)
    exploding = slopes(scale=float(state3["scale"]), clip=float(state3["clip"]))
    assert "(+0.085 decades" in text3 and "LSTM (+0.007) and the GRU (−0.019)" in text3
    assert (exploding["rnn"], exploding["lstm"], exploding["gru"]) == (0.085, 0.007, -0.019)
