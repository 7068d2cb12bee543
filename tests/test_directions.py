"""Bidirectional stacks and LSTM projections (proj_size) trace exactly: every field held to an
unrolled float64 reference (tests/reference.py) and the hidden states to torch's own module."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gatescope import trace
from gatescope.engine import UnitObjective
from tests.reference import assert_close_relative, reference_directions

CASES = [
    ("lstm", dict(bidirectional=True)),
    ("gru", dict(bidirectional=True)),
    ("rnn", dict(bidirectional=True)),
    ("lstm", dict(proj_size=3)),
    ("lstm", dict(proj_size=3, bidirectional=True)),
    ("gru", dict(bidirectional=True, num_layers=3)),
    ("lstm", dict(proj_size=2, bidirectional=True, num_layers=2)),
    ("rnn", dict(bidirectional=True, num_layers=2, nonlinearity="relu", bias=False)),
]
CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def build(kind: str, options: dict) -> nn.Module:
    torch.manual_seed(7)
    options = {"num_layers": 2, **options}
    module = CLASSES[kind](4, 5, **options)
    with torch.no_grad():
        for p in module.parameters():  # non-zero biases everywhere, so a wrong direction shows
            p.uniform_(-0.6, 0.6)
    return module


def hidden_norm(out: torch.Tensor, width: int, directions: int) -> torch.Tensor:
    loss = 0.5 * out[-1, :width].pow(2).sum()
    if directions == 2:
        loss = loss + 0.5 * out[0, width:].pow(2).sum()
    return loss


@pytest.mark.parametrize(("kind", "options"), CASES)
def test_every_field_matches_the_unrolled_reference(kind: str, options: dict) -> None:
    module = build(kind, options)
    x = torch.randn(9, 4)
    width = getattr(module, "proj_size", 0) or 5
    directions = 2 if module.bidirectional else 1
    want = reference_directions(module, x, lambda out: hidden_norm(out, width, directions))
    tr = trace(module, x)
    assert tr.loss == pytest.approx(want[0][0]["loss"], rel=1e-4)
    out, _ = module(x)
    top = tr.layers[-1]
    got_out = top.hidden if top.reverse is None else torch.cat([top.hidden, top.reverse.hidden], 1)
    torch.testing.assert_close(got_out, out.detach(), rtol=1e-5, atol=1e-6)
    for layer, per_direction in enumerate(want):
        records = [tr.layers[layer]] + ([tr.layers[layer].reverse] if directions == 2 else [])
        assert (tr.layers[layer].reverse is None) == (directions == 1)
        for got, expected in zip(records, per_direction, strict=True):
            assert got is not None
            for field in ("hidden", "grad_hidden", "cell", "grad_cell"):
                if expected[field] is None:
                    assert getattr(got, field) is None
                else:
                    assert_close_relative(getattr(got, field), expected[field])
            for name, value in expected["gates"].items():
                assert_close_relative(got.gates[name], value)
    if kind == "lstm" and options.get("proj_size"):
        assert tr.layers[0].hidden.shape == (9, options["proj_size"]) and tr.layers[0].cell.shape == (9, 5)


def test_unit_and_callable_objectives_index_torchs_output() -> None:
    module = build("gru", {"bidirectional": True})
    x = torch.randn(6, 4)
    # Unit 7 of a 2 x 5 output is the reverse direction's unit 2.
    want = reference_directions(module, x, lambda out: out[1, 7])
    tr = trace(module, x, objective=UnitObjective(layer=1, unit=7, step=1))
    assert tr.loss == pytest.approx(float(module(x)[0][1, 7].detach()), rel=1e-5)
    assert_close_relative(tr.layers[0].reverse.grad_hidden, want[0][1]["grad_hidden"])
    assert_close_relative(tr.layers[0].grad_hidden, want[0][0]["grad_hidden"])
    head = nn.Linear(10, 3)
    targets = torch.randint(0, 3, (6,))
    loss = lambda out: nn.functional.cross_entropy(head(out), targets)  # noqa: E731
    want = reference_directions(
        module, x, lambda out: nn.functional.cross_entropy(head(out.float()).double(), targets)
    )
    tr = trace(module, x, objective=loss)
    assert_close_relative(tr.layers[1].reverse.grad_hidden, want[1][1]["grad_hidden"], rtol=1e-3)


def test_initial_states_per_layer_and_direction() -> None:
    module = build("lstm", {"bidirectional": True, "proj_size": 3})
    x = torch.randn(5, 4)
    h0, c0 = torch.randn(4, 3), torch.randn(4, 5)  # (num_layers * 2, P) and (num_layers * 2, H)
    out, _ = module(x, (h0, c0))
    tr = trace(module, x, h0=h0, c0=c0)
    torch.testing.assert_close(torch.cat([tr.layers[1].hidden, tr.layers[1].reverse.hidden], 1), out.detach())
    with pytest.raises(ValueError, match=r"h0 must have shape \(4, 3\)"):
        trace(module, x, h0=torch.zeros(2, 3))


def test_the_stepper_refuses_to_step_a_bidirectional_model_and_steps_a_projected_one() -> None:
    from gatescope import Stepper

    with pytest.raises(ValueError, match="bidirectional model cannot be stepped one input at a time"):
        Stepper(nn.GRU(3, 4, bidirectional=True)).step(torch.zeros(3))
    module = build("lstm", {"proj_size": 2})
    x = torch.randn(6, 4)
    tr = trace(module, x)
    stepper = Stepper(module)
    for t in range(6):
        record = stepper.step(x[t])
        torch.testing.assert_close(record.layers[1].hidden, tr.layers[1].hidden[t], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("kind", "options"), [c for c in CASES if c[1].get("bidirectional")])
def test_a_bidirectional_stepper_hands_out_whole_sequence_passes(kind: str, options: dict) -> None:
    """`start_from` on passes over the whole sequence: each record carries both directions at
    input position t, as the trace has them, and the state ends as torch's h_n (and c_n)."""
    from gatescope import Stepper
    from gatescope.engine.trace import forward_passes

    module = build(kind, options)
    x = torch.randn(6, 4)
    stepper = Stepper(module)
    records = stepper.start_from(forward_passes(stepper.spec, x, stepper.hidden, stepper.cell))
    tr = trace(module, x)
    assert [r.t for r in records] == list(range(6)) and stepper.t == 6
    for layer, lt in enumerate(tr.layers):
        assert lt.reverse is not None
        forward = [r.layers[layer] for r in records]
        reverse = [r.reverse[layer] for r in records if r.reverse is not None]
        for got, want in ((forward, lt), (reverse, lt.reverse)):
            torch.testing.assert_close(torch.stack([s.hidden for s in got]), want.hidden)
            for name, gate in want.gates.items():
                torch.testing.assert_close(torch.stack([s.gates[name] for s in got]), gate)
    out, state = module(x)
    torch.testing.assert_close(torch.stack([r.output() for r in records]), out.detach(), rtol=1e-5, atol=1e-6)
    h_n = state[0] if isinstance(state, tuple) else state
    torch.testing.assert_close(torch.stack(stepper.hidden), h_n.detach(), rtol=1e-5, atol=1e-6)
    if isinstance(state, tuple):
        torch.testing.assert_close(torch.stack(stepper.cell), state[1].detach(), rtol=1e-5, atol=1e-6)
