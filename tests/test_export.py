"""GET /export.html (issue 10, "One file to take home") and the bundler behind it: one HTML file
with the trace POST /api/trace computes, Plotly and the page's scripts inline, user text as data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gatescope.web.bundle import bundle, parse_module
from gatescope.web.saved import parse_objective

MODEL = "random-lstm-iascii-h8-l1-s0"


def embedded(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="gatescope-saved">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_the_file_is_self_contained_html(client: TestClient) -> None:
    response = client.get("/export.html", params={"model": MODEL, "text": "hello", "t": 2})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "Plotly" in html and "plotly.js v" in html  # plotly.min.js inline
    assert not re.search(r"<script[^>]*\ssrc=", html)
    assert not re.search(r"<link[^>]*\shref=\"(?!data:)", html)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html)
    assert 'id="export-html"' in html and "<style>" in html
    assert embedded(html)["hash"] == f"model={MODEL}&text=hello&t=2"


def test_the_embedded_trace_is_the_apis(client: TestClient) -> None:
    view = {"model": "recall-gru", "text": "C..?", "obj": "task", "unit": 5}
    saved = embedded(client.get("/export.html", params=view).text)
    ref = client.post("/api/trace", json={"model": "recall-gru", "text": "C..?", "objective": "task"}).json()
    assert saved["trace"] == ref
    assert saved["model"] == client.get("/api/models/recall-gru").json()


def test_a_preset_and_a_start_state_are_computed_as_the_page_does(client: TestClient) -> None:
    other = "random-gru-iascii-h8-l1-s0"
    saved = embedded(client.get("/export.html", params={"model": MODEL, "from": other, "fromin": "ab"}).text)
    first = client.get(f"/api/models/{MODEL}").json()["presets"][0]
    source = client.post("/api/trace", json={"model": other, "text": "ab"}).json()["layers"][0]
    h0 = [source["hidden"][-1]]
    ref = client.post("/api/trace", json={"model": MODEL, "text": first["text"], "h0": h0}).json()
    assert saved["states"] == {"h0": h0, "c0": None}
    assert saved["trace"] == ref


def test_compare_models_traces_are_the_apis_for_the_same_input(client: TestClient) -> None:
    # The page's objective is the task loss and both models have the recall task: compare uses it,
    # so the primary's compare run is the main trace (null: the file holds it once).
    view = {"model": "recall-gru", "compare": "recall-lstm", "text": "E..........?", "obj": "task"}
    saved = embedded(client.get("/export.html", params=view).text)
    body = {"text": "E..........?", "objective": "task"}
    assert saved["compare"]["objective"] == "task"
    [primary, other] = saved["compare"]["runs"]
    assert primary == {"model": client.get("/api/models/recall-gru").json(), "trace": None}
    assert saved["trace"] == client.post("/api/trace", json={"model": "recall-gru", **body}).json()
    assert other["model"] == client.get("/api/models/recall-lstm").json()
    assert other["trace"] == client.post("/api/trace", json={"model": "recall-lstm", **body}).json()


def test_compare_runs_from_zeros_on_half_the_squared_norm_when_the_page_differs(client: TestClient) -> None:
    # A unit objective and a start state on the page: compare still traces every model (the primary
    # too) from zeros on L = 1/2 ||h_T||^2, as compare.js does; two compared models, both kept.
    other, third = "random-gru-iascii-h8-l1-s0", "random-rnn-iascii-h6-l1-s2"
    view = {"model": MODEL, "compare": f"{other},{third}", "text": "hello", "obj": "unit:0,3,2"}
    saved = embedded(client.get("/export.html", params={**view, "from": other, "fromin": "ab"}).text)
    assert saved["compare"]["objective"] == "hidden_norm"
    runs = saved["compare"]["runs"]
    assert [run["model"]["id"] for run in runs] == [MODEL, other, third]
    for run in runs:
        body = {"model": run["model"]["id"], "text": "hello", "objective": "hidden_norm"}
        assert run["trace"] == client.post("/api/trace", json=body).json()
    assert saved["trace"] != runs[0]["trace"]  # the main trace ran from other's state, on h_2[3]


def test_numeric_models_compare_on_the_same_rows(client: TestClient) -> None:
    primary, other = "random-lstm-i3-h4-l1-s0", "random-gru-i3-h5-l1-s1"
    csv = "1, 0, 0\n0, 1, 0\n# a comment\n0, 0, 1"
    saved = embedded(client.get("/export.html", params={"model": primary, "compare": other, "csv": csv}).text)
    rows = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    ref = client.post("/api/trace", json={"model": other, "inputs": rows, "objective": "hidden_norm"}).json()
    assert saved["compare"]["runs"][1]["trace"] == ref
    assert saved["compare"]["runs"][0]["trace"] is None  # hidden_norm from zeros: the main trace


def test_a_view_without_compare_carries_none(client: TestClient) -> None:
    saved = embedded(client.get("/export.html", params={"model": MODEL, "text": "ab"}).text)
    assert saved["compare"] is None and saved["lesson"] is None


def test_a_lesson_step_carries_its_caption_as_the_lessons_api_has_it(client: TestClient) -> None:
    lesson = next(x for x in client.get("/api/lessons").json()["lessons"] if x["id"] == "update-gate")
    step = lesson["steps"][2]
    view = {**step["state"], "lesson": "update-gate", "step": 2}  # the step's link, as the page has it
    saved = embedded(client.get("/export.html", params=view).text)
    assert saved["lesson"] == {
        "id": "update-gate",
        "title": lesson["title"],
        "step": 2,
        "steps": len(lesson["steps"]),
        "text": step["text"],
        "highlight": step["highlight"],
    }
    assert [run["model"]["id"] for run in saved["compare"]["runs"]] == ["recall-gru", "recall-lstm"]
    assert saved["hash"].endswith("&lesson=update-gate&step=2")


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"model": MODEL, "text": "ab", "bogus": "1"}, "query.bogus"),
        ({"model": MODEL, "text": "ab", "t": "soon"}, "query.t"),
        ({"model": MODEL, "text": "ab", "unit": "8"}, "unit: 8 is out of range"),
        ({"model": MODEL, "text": "ab", "obj": "everything"}, "obj:"),
        ({"model": MODEL, "preset": "nope"}, "preset:"),
        ({"model": "random-lstm-i3-h4-l1-s0", "csv": "1,2,x"}, "csv: line 1"),
        ({"text": "ab"}, "query.model"),
        ({"model": MODEL, "text": "ab", "compare": "nope-model"}, "compare: unknown model 'nope-model'"),
        (
            {"model": MODEL, "text": "ab", "compare": MODEL},
            "compare: 'random-lstm-iascii-h8-l1-s0' is the model itself",
        ),
        (
            {"model": MODEL, "text": "ab", "compare": "random-gru-i3-h4-l1-s0"},
            "does not read the same characters",
        ),
        (
            {"model": MODEL, "text": "ab", "compare": "a,b,c"},
            "compare: 3 models; the page compares at most 2",
        ),
        ({"model": MODEL, "text": "ab", "lesson": "no-such"}, "lesson: there is no lesson 'no-such'"),
        ({"model": MODEL, "text": "ab", "lesson": "update-gate", "step": 9}, "step: 9 is out of range"),
    ],
)
def test_bad_keys_are_a_422_naming_them(client: TestClient, params: dict, named: str) -> None:
    response = client.get("/export.html", params=params)
    assert response.status_code == 422
    assert named in response.json()["detail"]


def test_user_text_is_data_never_html(client: TestClient) -> None:
    text = "</script><script>alert(1)</script><b>&"
    html = client.get("/export.html", params={"model": MODEL, "text": text}).text
    assert "<script>alert" not in html and "<b>" not in html  # never as markup ...
    saved = embedded(html)
    assert saved["trace"]["tokens"] == list(text)  # ... only as data
    assert "text=%3C%2Fscript%3E" in saved["hash"]


def test_the_bundler_rewrites_imports_and_exports() -> None:
    module = parse_module(
        "diagram/x.js", 'import { a, b as c } from "../dom.js";\nexport class K {}\nexport const n = 1;'
    )
    assert module.imports == ("dom.js",)
    assert module.exports == ("K", "n")
    assert module.body.splitlines() == [
        'const { a, b: c } = require("dom.js");',
        "class K {}",
        "const n = 1;",
    ]
    for line in (
        "export default 1;",
        "export { a };",
        'import * as m from "./m.js";',
        "const m = import('./m.js');",
    ):
        with pytest.raises(ValueError, match="does not handle"):
            parse_module("x.js", line)


def test_the_bundle_runs_modules_after_their_imports(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text('import { b } from "./b.js";\nexport const a = b + 1;\n')
    (tmp_path / "b.js").write_text("export let b = 1;\n")
    script = bundle(tmp_path, "a.js")
    assert script.index('modules.set("b.js"') < script.index('modules.set("a.js"')
    (tmp_path / "b.js").write_text('import { a } from "./a.js";\nexport const b = 1;\n')
    with pytest.raises(ValueError, match=re.escape("import cycle: a.js -> b.js -> a.js")):
        bundle(tmp_path, "a.js")


def test_objectives_read_as_the_page_writes_them() -> None:
    assert parse_objective("task") == "task"
    logit = parse_objective("logit:a,b,7")  # the token is everything up to the last comma
    assert (logit.logit, logit.step) == ("a,b", 7)  # type: ignore[union-attr]
    unit = parse_objective("unit:0,3,5")
    assert (unit.layer, unit.unit, unit.step) == (0, 3, 5)  # type: ignore[union-attr]


def test_a_stack_of_different_sizes_exports_with_its_own_unit_range(client: TestClient) -> None:
    """Layers of 6 and 3 units: the unit key is checked against the layer shown, and a start
    state from another such run is one row per layer of that layer's width."""
    import torch
    from safetensors.torch import save

    from gatescope import RecurrentStack

    ids = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        stack = RecurrentStack("gru", 3, [6, 3])
        data = save({k: v.contiguous() for k, v in stack.state_dict().items()})
        ids.append(client.post("/api/models", files={"file": (f"s{seed}.safetensors", data)}).json()["id"])
    csv = "1,0,-1\n0.5,0.5,0\n-1,2,0.25"
    inputs = [[1, 0, -1], [0.5, 0.5, 0], [-1, 2, 0.25]]
    view = {"model": ids[0], "csv": csv, "layer": 1, "unit": 2, "from": ids[1], "fromin": csv}
    saved = embedded(client.get("/export.html", params=view).text)
    source = client.post("/api/trace", json={"model": ids[1], "inputs": inputs}).json()["layers"]
    h0 = [layer["hidden"][-1] for layer in source]
    assert [len(row) for row in saved["states"]["h0"]] == [6, 3]
    for got_row, want_row in zip(saved["states"]["h0"], h0, strict=True):
        torch.testing.assert_close(torch.tensor(got_row), torch.tensor(want_row))
    ref = client.post("/api/trace", json={"model": ids[0], "inputs": inputs, "h0": h0}).json()
    for got, want in zip(saved["trace"]["layers"], ref["layers"], strict=True):  # two runs of one trace
        torch.testing.assert_close(torch.tensor(got["hidden"]), torch.tensor(want["hidden"]))
    response = client.get("/export.html", params={**view, "unit": 3})
    assert response.status_code == 422 and "unit: 3 is out of range" in response.json()["detail"]
    assert client.get("/export.html", params={**view, "layer": 0, "unit": 5}).status_code == 200
