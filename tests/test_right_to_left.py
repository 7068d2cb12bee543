"""Stacks that read their input right to left (ONNX direction="reverse", Keras go_backwards=True):
the engine runs them exactly, every tensor indexed by input position t.

The reference is the unrolled float64 autograd loop of tests/reference.py (and torch's own module)
run on the flipped input: a right-to-left stack on x is a left-to-right one on x.flip(0), read
back in input order. Nothing here shares code with app/engine.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from gatescope import Stepper
from gatescope.engine import Intervention, RecurrentSpec, UnitObjective, spec_from_module, trace_spec
from gatescope.engine.analysis import equation_terms, forward_gates
from gatescope.engine.gradflow import gradient_flow
from gatescope.engine.spec import with_gru_variant, with_right_to_left
from gatescope.engine.trace import forward_passes
from tests.reference import assert_close_relative, reference_trace

CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
CASES = [
    ("lstm", {}, "torch"),
    ("gru", {}, "torch"),
    ("gru", {}, "cho"),
    ("rnn", {"nonlinearity": "relu"}, "torch"),
    ("rnn", {"bias": False}, "torch"),
]


def build(kind: str, options: dict[str, Any], layers: int = 2) -> nn.Module:
    torch.manual_seed(3)
    module = CLASSES[kind](4, 5, num_layers=layers, **options)
    with torch.no_grad():
        for p in module.parameters():  # non-zero biases everywhere, so a wrong direction shows
            p.uniform_(-0.6, 0.6)
    return module


def backwards_spec(module: nn.Module, gru_variant: str = "torch") -> RecurrentSpec:
    spec = spec_from_module(module)
    if spec.arch == "gru":
        spec = with_gru_variant(spec, gru_variant)
    return with_right_to_left(spec, True)


def flipped(want: dict[str, Any], layer: int, field: str) -> Tensor | None:
    value = want["layers"][layer][field]
    return None if value is None else value.flip(0)


def final_state_norm(hs: list[list[Tensor]]) -> Tensor:
    """0.5 ||h||² of the top layer's last step *in processing order*: input position t = 0."""
    return 0.5 * hs[-1][-1].pow(2).sum()


@pytest.mark.parametrize(("kind", "options", "variant"), CASES)
def test_every_field_matches_the_reference_on_the_flipped_input(
    kind: str, options: dict[str, Any], variant: str
) -> None:
    module = build(kind, options)
    x = torch.randn(9, 4)
    want = reference_trace(module, x.flip(0), final_state_norm, gru_variant=variant)
    tr = trace_spec(backwards_spec(module, variant), x)
    assert tr.loss == pytest.approx(want["loss"], rel=1e-4)
    for layer, got in enumerate(tr.layers):
        assert got.reverse is None
        for field in ("hidden", "grad_hidden", "cell", "grad_cell"):
            expected = flipped(want, layer, field)
            if expected is None:
                assert getattr(got, field) is None
            else:
                assert_close_relative(getattr(got, field), expected)
        for name, value in want["layers"][layer]["gates"].items():
            assert_close_relative(got.gates[name], value.flip(0))
    assert_close_relative(tr.grad_input, want["grad_input"].flip(0))
    if variant == "torch":  # torch's own module, run on the flipped input: its h_n is at t = 0
        out, h_n = module(x.flip(0))
        h_n = h_n[0] if kind == "lstm" else h_n
        torch.testing.assert_close(tr.layers[-1].hidden, out.detach().flip(0), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(tr.layers[-1].hidden[0], h_n[-1].detach(), rtol=1e-5, atol=1e-6)


def test_initial_states_start_the_read_at_the_last_position() -> None:
    module = build("lstm", {})
    x = torch.randn(6, 4)
    h0, c0 = torch.randn(2, 5), torch.randn(2, 5)
    out, _ = module(x.flip(0), (h0, c0))
    tr = trace_spec(backwards_spec(module), x, h0=h0, c0=c0)
    torch.testing.assert_close(tr.layers[-1].hidden, out.detach().flip(0), rtol=1e-5, atol=1e-6)


def test_unit_and_callable_objectives_index_input_positions() -> None:
    module = build("gru", {})
    x = torch.randn(7, 4)
    spec = backwards_spec(module)
    # Unit 3 of layer 0 at input position 2 is processing step 7 - 1 - 2 = 4.
    want = reference_trace(module, x.flip(0), lambda hs: hs[0][4][3])
    tr = trace_spec(spec, x, objective=UnitObjective(layer=0, unit=3, step=2))
    assert tr.loss == pytest.approx(want["loss"], rel=1e-5)
    assert_close_relative(tr.layers[0].grad_hidden, flipped(want, 0, "grad_hidden"))
    weights = torch.randn(7, 5)
    want = reference_trace(
        module, x.flip(0), lambda hs: (torch.stack(hs[-1]) * weights.flip(0).double()).sum()
    )
    tr = trace_spec(spec, x, objective=lambda out: (out * weights).sum())
    assert_close_relative(tr.layers[1].grad_hidden, flipped(want, 1, "grad_hidden"))
    assert_close_relative(tr.layers[0].grad_hidden, flipped(want, 0, "grad_hidden"))


def test_interventions_clamp_input_positions_and_run_from_the_end() -> None:
    """A clamp on a right-to-left stack at input positions [a, b) is the same clamp at processing
    steps [T-b, T-a) of the left-to-right stack on the flipped input; h_n is at t = 0."""
    module = build("lstm", {})
    x = torch.randn(8, 4)
    clamp = Intervention(layer=0, quantity="f", units=(1, 3), steps=(2, 5), value=1.0)
    mirrored = replace(clamp, steps=(8 - 5, 8 - 2))
    got = trace_spec(backwards_spec(module), x, interventions=[clamp])
    want = trace_spec(spec_from_module(module), x.flip(0), interventions=[mirrored])
    assert got.loss == pytest.approx(want.loss, rel=1e-5)
    for g, w in zip(got.layers, want.layers, strict=True):
        torch.testing.assert_close(g.hidden, w.hidden.flip(0), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(g.grad_hidden, w.grad_hidden.flip(0), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(g.gates["f"], w.gates["f"].flip(0))
    assert torch.all(got.layers[0].gates["f"][2:5, [1, 3]] == 1.0)
    torch.testing.assert_close(got.grad_input, want.grad_input.flip(0), rtol=1e-4, atol=1e-6)
    # the intervened loop, unclamped, is the fast passes' trace
    fast = trace_spec(backwards_spec(module), x)
    idle = Intervention(
        layer=0, quantity="f", units=(0,), steps=(0, 1), value=float(fast.layers[0].gates["f"][0, 0])
    )
    slow = trace_spec(backwards_spec(module), x, interventions=[idle])
    torch.testing.assert_close(slow.layers[1].grad_hidden, fast.layers[1].grad_hidden, rtol=1e-4, atol=1e-6)


def test_equation_terms_start_from_the_state_at_t_plus_one() -> None:
    module = build("gru", {}, layers=1)
    x = torch.randn(6, 4)
    spec = backwards_spec(module)
    for step in (0, 3, 5):
        got = equation_terms(spec, x, 0, 2, step)
        want = equation_terms(spec_from_module(module), x.flip(0), 0, 2, 5 - step)
        assert got.keys() == want.keys()
        for form, terms in want.items():
            assert got[form] == pytest.approx(terms, rel=1e-5, abs=1e-7), (step, form)


def test_the_analyses_forward_pass_is_the_traces() -> None:
    """Saturation, unit scores, projections and fixed-point trajectories read `forward_layers`."""
    module = build("lstm", {})
    x = torch.randn(10, 4)
    spec = backwards_spec(module)
    tr = trace_spec(spec, x)
    for got, want in zip(forward_gates(spec, [x]), tr.layers, strict=True):
        for name, value in want.gates.items():
            torch.testing.assert_close(got[name], value)


def test_what_cannot_run_right_to_left_says_so() -> None:
    module = build("lstm", {})
    spec = backwards_spec(module)
    with pytest.raises(ValueError, match=r"right to left.*from the end"):
        Stepper(spec).step(torch.randn(4))
    with pytest.raises(ValueError, match="reads its input right to left"):
        gradient_flow(spec, torch.randn(5, 4))
    with pytest.raises(ValueError, match="bidirectional stack already reads"):
        with_right_to_left(spec_from_module(nn.GRU(3, 4, bidirectional=True)), True)


def test_its_stepper_hands_out_the_whole_passes_and_ends_at_t_0() -> None:
    """What the stream sends: the steps of passes run from the end, by input position t, equal to
    the trace's, and the stepper's state is then the state at t = 0 (where it ends)."""
    module = build("gru", {})
    spec = backwards_spec(module)
    x = torch.randn(6, 4)
    tr = trace_spec(spec, x)
    stepper = Stepper(spec)
    records = stepper.start_from(forward_passes(spec, x, stepper.hidden, stepper.cell))
    assert [r.t for r in records] == list(range(6))
    for name in ("r", "z", "n"):
        got = torch.stack([r.layers[0].gates[name] for r in records])
        torch.testing.assert_close(got, tr.layers[0].gates[name])
    torch.testing.assert_close(torch.stack([r.layers[0].hidden for r in records]), tr.layers[0].hidden)
    torch.testing.assert_close(stepper.hidden[0], tr.layers[0].hidden[0])
