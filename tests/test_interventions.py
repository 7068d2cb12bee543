"""Interventions: the clamped trace against an unrolled float64 reference with the same clamps, the
route, the stream, and the checks on every field."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn

from gatescope.engine import Intervention, UnitObjective, trace
from gatescope.engine.interventions import ClampedStepper, check_interventions
from gatescope.engine.spec import spec_from_module, with_gru_variant
from tests.reference import assert_close_relative, reference_intervened, reference_trace

TEXT_LSTM = "random-lstm-iascii-h16-l2-s0-fb1"
GRU = "random-gru-i3-h6-l2-s1"


def module(kind: str, **kw: object) -> nn.Module:
    torch.manual_seed(1)
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
    return cls(3, 6, num_layers=2, **kw)


CLAMPS = {
    "lstm": [(0, "f", [1, 4], (2, 9), 1.0), (0, "cell", [0], (4, 7), -0.8), (1, "hidden", [2], (3, 6), 0.3)],
    "gru": [(0, "z", [0, 5], (1, 8), 0.9), (1, "n", [3], (2, 5), -0.4), (0, "hidden", [1], (6, 10), 0.0)],
    "rnn": [(0, "hidden", [0, 1, 2], (3, 7), 0.5), (1, "hidden", [5], (0, 12), -1.0)],
}


def as_interventions(clamps: list) -> list[Intervention]:  # type: ignore[type-arg]
    return [Intervention(layer, q, tuple(units), steps, value) for layer, q, units, steps, value in clamps]


@pytest.mark.parametrize(
    ("kind", "kw"),
    [("lstm", {}), ("gru", {}), ("rnn", {}), ("rnn", {"nonlinearity": "relu"}), ("lstm", {"proj_size": 4})],
)
def test_clamped_trace_against_the_unrolled_reference(kind: str, kw: dict) -> None:  # type: ignore[type-arg]
    mod = module(kind, **kw)
    x = torch.randn(12, 3, generator=torch.Generator().manual_seed(2))
    clamps = [c for c in CLAMPS[kind] if not (kw.get("proj_size") and c[1] == "hidden" and c[2][0] >= 4)]
    tr = trace(mod, x, interventions=as_interventions(clamps))
    ref = reference_intervened(mod, x, lambda top: 0.5 * top[-1].pow(2).sum(), clamps)
    assert tr.loss == pytest.approx(float(ref[0]["loss"]), rel=1e-5)
    assert_close_relative(tr.grad_input, ref[0]["grad_input"])
    for got, want in zip(tr.layers, ref, strict=True):
        for name, value in got.gates.items():
            assert_close_relative(value, want["gates"][name])
        assert_close_relative(got.hidden, want["hidden"])
        assert_close_relative(got.grad_hidden, want["grad_hidden"])
        if want["cell"] is not None:
            assert got.cell is not None and got.grad_cell is not None
            assert_close_relative(got.cell, want["cell"])
            assert_close_relative(got.grad_cell, want["grad_cell"])
    for layer, quantity, units, (a, b), value in clamps:
        got_values = tr.layers[layer].gates.get(quantity)
        if got_values is None:
            got_values = tr.layers[layer].cell if quantity == "cell" else tr.layers[layer].hidden
        assert torch.all(got_values[a:b, units] == value)


def test_unit_objective_and_cho_gru_match_the_stepper() -> None:
    mod = module("gru")
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(3))
    spec = with_gru_variant(spec_from_module(mod), "cho")
    clamps = check_interventions(spec, as_interventions(CLAMPS["gru"]), 10)
    from gatescope.engine import trace_spec

    tr = trace_spec(spec, x, objective=UnitObjective(0, 2, 7), interventions=clamps)
    stepper = ClampedStepper(spec, clamps)
    stepped = [stepper.step(x_t) for x_t in x]
    for layer in range(2):
        np.testing.assert_allclose(
            torch.stack([r.layers[layer].hidden for r in stepped]).numpy(),
            tr.layers[layer].hidden.numpy(),
            atol=1e-6,
        )
    assert torch.all(tr.grad_input[8:] == 0)  # the unit at step 7 depends on nothing later
    assert tr.loss == pytest.approx(float(tr.layers[0].hidden[7, 2]))


def test_forget_one_input_zero_holds_the_cell_still() -> None:
    torch.manual_seed(0)
    mod = nn.LSTM(4, 8)
    x = torch.randn(40, 4)
    tr = trace(
        mod,
        x,
        interventions=[Intervention(0, "f", (3,), (10, 30), 1.0), Intervention(0, "i", (3,), (10, 30), 0.0)],
    )
    assert tr.layers[0].cell is not None
    cell = tr.layers[0].cell[:, 3]
    assert torch.all(cell[10:30] == cell[9])  # c_t = 1 · c_{t-1} + 0 · g: it stops moving
    assert cell[30] != cell[9]
    plain = trace(mod, x)
    assert torch.allclose(plain.layers[0].hidden[:10], tr.layers[0].hidden[:10], atol=1e-6)  # before: same
    ref = reference_trace(mod, x, lambda hs: 0.5 * hs[-1][-1].pow(2).sum())
    assert_close_relative(plain.layers[0].grad_hidden, ref["layers"][0]["grad_hidden"])


@pytest.mark.parametrize(
    ("clamp", "message"),
    [
        (Intervention(0, "q", (0,), (0, 2), 1.0), "interventions[0].quantity: 'q'"),
        (Intervention(0, "cell", (0,), (0, 2), 1.0), "interventions[0].quantity: 'cell'"),
        (Intervention(2, "z", (0,), (0, 2), 1.0), "interventions[0].layer: 2 is out of range"),
        (Intervention(0, "z", (6,), (0, 2), 1.0), "interventions[0].units: 6 is out of range"),
        (Intervention(0, "z", (), (0, 2), 1.0), "interventions[0].units: give at least one"),
        (Intervention(0, "z", (0,), (3, 3), 1.0), "interventions[0].steps: [3, 3)"),
        (Intervention(0, "z", (0,), (0, 11), 1.0), "<= 10"),
        (Intervention(0, "z", (0,), (0, 2), float("nan")), "interventions[0].value: nan is not a finite"),
    ],
)
def test_bad_interventions_say_which_field(clamp: Intervention, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        trace(module("gru"), torch.randn(10, 3), interventions=[clamp])


def test_bidirectional_is_refused() -> None:
    with pytest.raises(ValueError, match="bidirectional"):
        trace(
            module("lstm", bidirectional=True),
            torch.randn(5, 3),
            interventions=[Intervention(0, "f", (0,), (0, 2), 1.0)],
        )


def test_trace_route_applies_and_reports_interventions(client: TestClient) -> None:
    inputs = torch.randn(9, 3)
    clamp = {"layer": -1, "quantity": "z", "units": [4, 1, 4], "steps": [2, 6], "value": 1.0}
    got = client.post("/api/trace", json={"model": GRU, "inputs": inputs.tolist(), "interventions": [clamp]})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["interventions"] == [
        {"layer": 1, "quantity": "z", "units": [1, 4], "steps": [2, 6], "value": 1.0}
    ]
    mod = client.app.state.registry.get(GRU).module
    ref = reference_intervened(
        mod, inputs, lambda top: 0.5 * top[-1].pow(2).sum(), [(1, "z", [1, 4], (2, 6), 1.0)]
    )
    np.testing.assert_allclose(body["layers"][1]["hidden"], ref[1]["hidden"].numpy(), atol=1e-5)
    np.testing.assert_allclose(body["layers"][0]["grad_hidden"], ref[0]["grad_hidden"].numpy(), atol=1e-5)
    plain = client.post("/api/trace", json={"model": GRU, "inputs": inputs.tolist()}).json()
    assert plain["interventions"] is None and plain["loss"] != body["loss"]


@pytest.mark.parametrize(
    ("clamp", "message"),
    [
        ({"quantity": "x", "units": [0], "steps": [0, 1], "value": 1}, "interventions[0].quantity"),
        ({"quantity": "f", "units": [16], "steps": [0, 1], "value": 1}, "interventions[0].units: 16"),
        ({"quantity": "f", "units": [0], "steps": [0, 9], "value": 1}, "interventions[0].steps"),
        ({"quantity": "f", "units": [0], "steps": [0, 1], "value": "inf"}, "interventions[0].value"),
        ({"quantity": "f", "units": [], "steps": [0, 1], "value": 1}, "interventions.0.units"),
        ({"quantity": "f", "units": [0], "steps": [0, 1], "value": 1, "at": 2}, "unknown field"),
    ],
)
def test_bad_intervention_is_a_422_naming_the_field(client: TestClient, clamp: dict, message: str) -> None:  # type: ignore[type-arg]
    got = client.post("/api/trace", json={"model": TEXT_LSTM, "text": "abc", "interventions": [clamp]})
    assert got.status_code == 422 and message in got.json()["detail"], got.text


def test_stream_steps_the_intervened_run(client: TestClient) -> None:
    clamp = {"layer": 0, "quantity": "cell", "units": [2], "steps": [1, 4], "value": 0.5}
    body = {"model": TEXT_LSTM, "text": "hello there", "interventions": [clamp]}
    whole = client.post("/api/trace", json=body).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start"} | body)
        messages = [ws.receive_json()]
        while messages[-1]["type"] not in ("done", "error"):
            messages.append(ws.receive_json())
    assert messages[0]["interventions"][0]["quantity"] == "cell"
    steps = [m for m in messages if m["type"] == "step"]
    assert [s["layers"][0]["cell"][2] for s in steps[1:4]] == [0.5, 0.5, 0.5]
    np.testing.assert_allclose(
        [s["layers"][1]["hidden"] for s in steps], whole["layers"][1]["hidden"], atol=1e-6
    )
    np.testing.assert_allclose(
        messages[-1]["layers"][0]["grad_cell"], whole["layers"][0]["grad_cell"], atol=1e-6
    )
