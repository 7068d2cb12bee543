"""Stacks whose layers differ in size (gatescope.engine.stack, and the engine on them): held to a
chain of torch's own modules (nn.LSTM(I, 24) then nn.LSTM(24, 16)) and to the unrolled float64
autograd reference (tests/reference.py), which reads each layer's size from its own weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gatescope.engine import Intervention, RecurrentStack, Stepper, UnitObjective, spec_from_module, trace
from gatescope.engine.analysis import equation_terms
from gatescope.engine.interventions import check_interventions
from gatescope.zoo.readers import module_from_state_dict
from tests.reference import assert_close_relative, reference_directions, reference_intervened, reference_trace

CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def chain(kind: str, sizes: list[int], bidirectional: bool = False, seed: int = 0) -> list[nn.Module]:
    """torch modules of ``sizes`` units, each reading the one before, with non-zero biases."""
    torch.manual_seed(seed)
    modules, width = [], 3
    for size in sizes:
        module = CLASSES[kind](width, size, bidirectional=bidirectional)
        with torch.no_grad():
            for p in module.parameters():
                p.uniform_(-0.6, 0.6)
        modules.append(module)
        width = size * (2 if bidirectional else 1)
    return modules


def run_chain(modules: list[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    """Every module's output (T, directions * H_l), by torch."""
    outputs = []
    for module in modules:
        x = module(x)[0]
        outputs.append(x.detach())
    return outputs


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_trace_of_a_mixed_stack_is_the_chain_of_torch_modules(kind: str, bidirectional: bool) -> None:
    modules = chain(kind, [24, 16], bidirectional)
    stack = RecurrentStack.from_modules(modules)
    x = torch.randn(11, 3)
    tr = trace(stack, x)
    for layer, want in enumerate(run_chain(modules, x)):
        got = tr.layers[layer]
        out = got.hidden if got.reverse is None else torch.cat([got.hidden, got.reverse.hidden], 1)
        torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-6)
    assert [layer.hidden.shape[1] for layer in tr.layers] == [24, 16]
    torch.testing.assert_close(stack(x)[0], run_chain(modules, x)[-1])  # the module's own forward


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_every_field_of_a_mixed_stack_matches_the_unrolled_reference(kind: str) -> None:
    stack = RecurrentStack.from_modules(chain(kind, [6, 9, 4], seed=1))
    x = torch.randn(13, 3)
    ref = reference_trace(stack, x, lambda hs: 0.5 * hs[-1][-1].pow(2).sum())
    tr = trace(stack, x)
    assert tr.loss == pytest.approx(ref["loss"], rel=1e-4)
    assert_close_relative(tr.grad_input, ref["grad_input"])
    for got, want in zip(tr.layers, ref["layers"], strict=True):
        for name in got.gates:
            assert_close_relative(got.gates[name], want["gates"][name])
        for field in ("hidden", "cell", "grad_hidden", "grad_cell"):
            if want[field] is None:
                assert getattr(got, field) is None
            else:
                assert_close_relative(getattr(got, field), want[field])
    # A unit of the wider middle layer (unit 8 exists there, not in the 6- or 4-unit layers).
    ref = reference_trace(stack, x, lambda hs: hs[1][7][8])
    tr = trace(stack, x, objective=UnitObjective(layer=1, unit=8, step=7))
    assert_close_relative(tr.layers[0].grad_hidden, ref["layers"][0]["grad_hidden"])


def test_bidirectional_mixed_stack_gradients_match_the_reference() -> None:
    stack = RecurrentStack.from_modules(chain("gru", [5, 3], bidirectional=True, seed=2))
    x = torch.randn(8, 3)

    def hidden_norm(out: torch.Tensor) -> torch.Tensor:
        return 0.5 * out[-1, :3].pow(2).sum() + 0.5 * out[0, 3:].pow(2).sum()

    want = reference_directions(stack, x, hidden_norm)
    tr = trace(stack, x)
    assert tr.loss == pytest.approx(want[0][0]["loss"], rel=1e-4)
    for layer, per_direction in enumerate(want):
        got_layer = tr.layers[layer]
        assert got_layer.reverse is not None
        for got, expected in zip([got_layer, got_layer.reverse], per_direction, strict=True):
            assert_close_relative(got.hidden, expected["hidden"])
            assert_close_relative(got.grad_hidden, expected["grad_hidden"])


def test_initial_states_are_given_per_layer() -> None:
    modules = chain("lstm", [24, 16])
    stack = RecurrentStack.from_modules(modules)
    x = torch.randn(7, 3)
    h0 = [torch.randn(24), torch.randn(16)]
    c0 = [torch.randn(24), torch.randn(16)]
    tr = trace(stack, x, h0=h0, c0=c0)
    bottom = modules[0](x, (h0[0][None], c0[0][None]))[0]
    top = modules[1](bottom, (h0[1][None], c0[1][None]))[0]
    torch.testing.assert_close(tr.layers[1].hidden, top.detach(), rtol=1e-5, atol=1e-6)
    # The stepper takes them the same way and agrees with the trace.
    stepper = Stepper(stack, h0=[h.tolist() for h in h0], c0=c0)
    last = [stepper.step(x_t) for x_t in x][-1]
    torch.testing.assert_close(last.layers[1].hidden, tr.layers[1].hidden[-1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"h0 row 0 must have 24 numbers \(layer 0's width\), got 16"):
        trace(stack, x, h0=torch.zeros(2, 16))
    with pytest.raises(ValueError, match=r"c0 must have 2 rows \(one per layer\), of widths 24, 16; got 3"):
        trace(stack, x, c0=[torch.zeros(24), torch.zeros(16), torch.zeros(16)])
    with pytest.raises(ValueError, match=r"h0 row 1 must have 16 numbers \(layer 1's width\), got 24"):
        trace(stack, x, h0=[torch.zeros(24), torch.zeros(24)])
    with pytest.raises(ValueError, match="h0 contains NaN or inf"):
        trace(stack, x, h0=[torch.zeros(24), torch.full((16,), float("nan"))])


def test_single_numbers_of_a_mixed_stack_are_per_layer_or_refused() -> None:
    spec = spec_from_module(RecurrentStack("gru", 3, [24, 16]))
    assert (spec.hidden_sizes, spec.state_sizes, spec.output_sizes, spec.mixed) == (
        (24, 16),
        (24, 16),
        (24, 16),
        True,
    )
    with pytest.raises(ValueError, match=r"different hidden_sizes \(24, 16\)"):
        _ = spec.hidden_size
    with pytest.raises(ValueError, match="layer 1 has 16"):
        UnitObjective(layer=1, unit=16).check(spec.output_sizes, 5)
    UnitObjective(layer=0, unit=23).check(spec.output_sizes, 5)  # layer 0 has 24 units
    with pytest.raises(ValueError, match="layer 1 has 16 units"):
        equation_terms(spec, torch.randn(5, 3), layer=1, unit=20, step=2)
    uniform = spec_from_module(nn.GRU(3, 8, num_layers=2))
    assert (uniform.hidden_size, uniform.hidden_sizes, uniform.mixed) == (8, (8, 8), False)


def test_interventions_on_a_mixed_stack_match_the_reference() -> None:
    stack = RecurrentStack.from_modules(chain("lstm", [6, 4], seed=3))
    x = torch.randn(10, 3)
    clamps = [(0, "f", [5], (2, 7), 1.0), (1, "hidden", [3], (1, 4), -0.5)]
    tr = trace(stack, x, interventions=[Intervention(*c[:2], tuple(c[2]), c[3], c[4]) for c in clamps])
    ref = reference_intervened(stack, x, lambda top: 0.5 * top[-1].pow(2).sum(), clamps)
    assert_close_relative(tr.grad_input, ref[0]["grad_input"])
    for got, want in zip(tr.layers, ref, strict=True):
        assert_close_relative(got.hidden, want["hidden"])
        assert_close_relative(got.grad_hidden, want["grad_hidden"])
    with pytest.raises(ValueError, match=r"hidden has units 0..3 in layer 1"):
        check_interventions(spec_from_module(stack), [Intervention(1, "hidden", (5,), (0, 2), 0.0)], 10)


def test_a_state_dict_with_mixed_sizes_reads_as_a_stack() -> None:
    modules = chain("rnn", [5, 2])
    stack = RecurrentStack.from_modules(modules)
    assert list(stack.state_dict()) == [
        f"{name}_l{layer}" for layer in range(2) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    read = module_from_state_dict({f"rnn.{k}": v for k, v in stack.state_dict().items()})
    assert isinstance(read, RecurrentStack) and read.hidden_sizes == (5, 2)
    x = torch.randn(6, 3)
    torch.testing.assert_close(read(x)[0], run_chain(modules, x)[-1])
    uniform = module_from_state_dict(nn.GRU(3, 4, num_layers=2).state_dict())
    assert isinstance(uniform, nn.GRU)  # a uniform stack stays torch's own module
    bad = {**stack.state_dict(), "weight_ih_l1": torch.zeros(2, 4)}
    with pytest.raises(ValueError, match=r"weight_ih_l1 has shape \(2, 4\), expected \(2, 5\)"):
        module_from_state_dict(bad)


def test_from_modules_refuses_what_does_not_chain() -> None:
    with pytest.raises(ValueError, match="reads 5 inputs where the one below gives 4"):
        RecurrentStack.from_modules([nn.LSTM(3, 4), nn.LSTM(5, 2)])
    with pytest.raises(ValueError, match=r"must all be nn\.LSTM, all nn\.GRU or all nn\.RNN, got LSTM, GRU"):
        RecurrentStack.from_modules([nn.LSTM(3, 4), nn.GRU(4, 2)])
    with pytest.raises(ValueError, match="hidden_sizes must be one positive size per layer"):
        RecurrentStack("lstm", 3, [4, 0])
