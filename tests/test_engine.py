"""The engine against an unrolled float64 autograd reference and against torch's own modules."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from gatescope.engine import (
    Stepper,
    UnitObjective,
    iter_steps,
    linear_scan,
    parameter_count,
    spec_from_module,
    trace,
)
from tests.reference import assert_close_relative, reference_trace

ARCHS = {
    "lstm": lambda i, h, **kw: nn.LSTM(i, h, **kw),
    "gru": lambda i, h, **kw: nn.GRU(i, h, **kw),
    "rnn": lambda i, h, **kw: nn.RNN(i, h, **kw),
    "rnn_relu": lambda i, h, **kw: nn.RNN(i, h, nonlinearity="relu", **kw),
}


def make(arch: str, layers: int = 1, bias: bool = True, seed: int = 0, **kw: object) -> nn.Module:
    torch.manual_seed(seed)
    return ARCHS[arch](5, 7, num_layers=layers, bias=bias, **kw)


def compare(tr, ref) -> None:  # type: ignore[no-untyped-def]
    assert tr.loss == pytest.approx(ref["loss"], rel=1e-4, abs=1e-6)
    assert len(tr.layers) == len(ref["layers"])
    for got, want in zip(tr.layers, ref["layers"], strict=False):
        assert set(got.gates) == set(want["gates"])
        for name in got.gates:
            assert_close_relative(got.gates[name], want["gates"][name])
        for field in ("hidden", "cell", "grad_hidden", "grad_cell"):
            value, expected = getattr(got, field), want[field]
            if expected is None:
                assert value is None, field
            else:
                assert_close_relative(value, expected)


def hidden_norm(hs):  # type: ignore[no-untyped-def]
    return 0.5 * hs[-1][-1].pow(2).sum()


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_trace_matches_reference(arch: str, layers: int, bias: bool) -> None:
    module = make(arch, layers, bias, seed=layers)
    x = torch.randn(23, 5)
    compare(trace(module, x), reference_trace(module, x, hidden_norm))


@pytest.mark.parametrize("arch", list(ARCHS))
def test_hidden_equals_torch_module(arch: str) -> None:
    module = make(arch, 3)
    x = torch.randn(40, 5)
    tr = trace(module, x)
    out, h_n = module(x)
    torch.testing.assert_close(tr.layers[-1].hidden, out, rtol=1e-5, atol=1e-6)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    for layer in range(3):
        torch.testing.assert_close(tr.layers[layer].hidden[-1], h_n[layer], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn"])
def test_unit_objective_on_lower_layer(arch: str) -> None:
    module = make(arch, 3)
    x = torch.randn(17, 5)
    objective = UnitObjective(layer=1, unit=3, step=9)
    ref = reference_trace(module, x, lambda hs: hs[1][9][3])
    tr = trace(module, x, objective=objective)
    compare(tr, ref)
    # Nothing after step 9 or above layer 1 influences h_9[3] of layer 1.
    assert torch.all(tr.layers[1].grad_hidden[10:] == 0)
    assert torch.all(tr.layers[2].grad_hidden == 0)


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn"])
def test_callable_objective_next_char_cross_entropy(arch: str) -> None:
    module = make(arch, 2)
    torch.manual_seed(1)
    head = nn.Linear(7, 5)
    tokens = torch.randint(0, 5, (30,))
    x = nn.functional.one_hot(tokens, 5).float()

    def loss_from_hidden(hidden: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(head(hidden[:-1]), tokens[1:])

    def ref_objective(hs):  # type: ignore[no-untyped-def]
        hidden = torch.stack(hs[-1])
        return nn.functional.cross_entropy(head.double()(hidden[:-1]), tokens[1:])

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the loss's float() once warned "requires_grad ... to a scalar"
        tr = trace(module, x, objective=loss_from_hidden)
    ref = reference_trace(module, x, ref_objective)
    head.float()
    compare(tr, ref)


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn"])
def test_initial_state_and_batch_first(arch: str) -> None:
    module = make(arch, 2, batch_first=True)
    x = torch.randn(12, 5)
    h0 = torch.randn(2, 1, 7)
    c0 = torch.randn(2, 1, 7) if arch == "lstm" else None
    tr = trace(module, x.unsqueeze(0), h0=h0, c0=c0)
    ref = reference_trace(module, x, hidden_norm, h0=h0[:, 0], c0=None if c0 is None else c0[:, 0])
    compare(tr, ref)
    state = (h0, c0) if arch == "lstm" else h0
    out, _ = module(x.unsqueeze(0), state)
    torch.testing.assert_close(tr.layers[-1].hidden, out[0], rtol=1e-5, atol=1e-6)


def test_long_sequence_stays_exact() -> None:
    module = make("lstm", 2, seed=3)
    x = torch.randn(600, 5)
    compare(trace(module, x), reference_trace(module, x, hidden_norm))


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn_relu"])
def test_stepper_agrees_with_trace(arch: str) -> None:
    module = make(arch, 2)
    x = torch.randn(31, 5)
    tr = trace(module, x)
    stepper = Stepper(module)
    records = list(stepper.run(x[:20])) + [stepper.step(row) for row in x[20:]]
    assert [r.t for r in records] == list(range(31))
    for layer in range(2):
        hidden = torch.stack([r.layers[layer].hidden for r in records])
        torch.testing.assert_close(hidden, tr.layers[layer].hidden, rtol=1e-5, atol=1e-6)
        for name, value in tr.layers[layer].gates.items():
            stepped = torch.stack([r.layers[layer].gates[name] for r in records])
            torch.testing.assert_close(stepped, value, rtol=1e-5, atol=1e-6)
        if arch == "lstm":
            cell = torch.stack([r.layers[layer].cell for r in records])
            torch.testing.assert_close(cell, tr.layers[layer].cell, rtol=1e-5, atol=1e-6)
    assert len(list(iter_steps(module, x))) == 31


def test_parameter_count_matches_torch() -> None:
    for arch in ARCHS:
        for bias in (True, False):
            module = make(arch, 2, bias)
            assert parameter_count(spec_from_module(module)) == sum(p.numel() for p in module.parameters())


def test_linear_scan_matches_loop_and_survives_zero_gates() -> None:
    torch.manual_seed(0)
    for steps in (1, 2, 7, 100, 1001):
        a = torch.rand(steps, 3)
        a[steps // 2] = 0.0  # a gate fully closed must not produce inf/NaN
        b = torch.randn(steps, 3)
        init = torch.randn(3)
        expected, s = [], init
        for t in range(steps):
            s = a[t] * s + b[t]
            expected.append(s)
        torch.testing.assert_close(linear_scan(a, b, init), torch.stack(expected))
        back, s = [], init
        for t in reversed(range(steps)):
            s = a[t] * s + b[t]
            back.append(s)
        torch.testing.assert_close(linear_scan(a, b, init, reverse=True), torch.stack(back[::-1]))


@pytest.mark.parametrize(
    ("module", "x", "message"),
    [
        (nn.LSTM(5, 7), torch.randn(4, 6), "input width is 6 but the model expects input_size=5"),
        (nn.GRU(5, 7), torch.randn(0, 5), "empty"),
        (nn.RNN(5, 7), torch.tensor([[0.0, 1, 2, float("nan"), 4]]), "NaN or inf"),
        (nn.RNN(5, 7), torch.tensor([[0.0, 1, 2, float("inf"), 4]]), "NaN or inf"),
        (nn.LSTM(5, 7), torch.randn(3, 4, 5), "batch"),
        (nn.LSTM(5, 7), torch.randn(5), "shape"),
        (nn.Linear(5, 7), torch.randn(4, 5), "nn.LSTM, nn.GRU or nn.RNN"),
    ],
)
def test_bad_input_raises_value_error(module: nn.Module, x: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        trace(module, x)


def test_bad_objectives_and_states() -> None:
    module = make("lstm", 2)
    x = torch.randn(5, 5)
    with pytest.raises(ValueError, match="unit 9 out of range"):
        trace(module, x, objective=UnitObjective(0, 9, 0))
    with pytest.raises(ValueError, match="step 5 out of range"):
        trace(module, x, objective=UnitObjective(0, 0, 5))
    with pytest.raises(ValueError, match="unknown objective"):
        trace(module, x, objective="nope")
    with pytest.raises(ValueError, match="scalar"):
        trace(module, x, objective=lambda h: h)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 7\)"):
        trace(module, x, h0=torch.zeros(1, 7))
    with pytest.raises(ValueError, match="c0 is only for LSTMs"):
        trace(make("gru"), x, c0=torch.zeros(1, 7))


@pytest.mark.parametrize(
    ("arch", "variant", "options"),
    [
        ("lstm", "torch", {}),
        ("lstm", "torch", {"proj_size": 3}),
        ("gru", "torch", {}),
        ("gru", "cho", {}),
        ("gru", "chung", {}),
        ("rnn", "torch", {"nonlinearity": "relu"}),
    ],
)
def test_stepper_advance_equals_steps(arch: str, variant: str, options: dict) -> None:
    """A stream's chunk, computed at once, equals the same steps one by one, across chunk borders."""
    from gatescope.engine import Stepper, spec_from_module, with_gru_variant

    torch.manual_seed(2)
    module = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[arch](5, 7, num_layers=2, **options)
    spec = with_gru_variant(spec_from_module(module), variant)
    x = torch.randn(21, 5)
    one, chunked = Stepper(spec), Stepper(spec)
    singles = [one.step(row) for row in x]
    chunks = chunked.advance(x[:8]) + chunked.advance(x[8:9]) + chunked.advance(x[9:])
    assert [r.t for r in chunks] == list(range(21)) and chunked.t == 21
    for a, b in zip(singles, chunks, strict=True):
        for la, lb in zip(a.layers, b.layers, strict=True):
            torch.testing.assert_close(la.hidden, lb.hidden, rtol=1e-5, atol=1e-6)
            for name in la.gates:
                torch.testing.assert_close(la.gates[name], lb.gates[name], rtol=1e-5, atol=1e-6)
            if la.cell is not None:
                torch.testing.assert_close(la.cell, lb.cell, rtol=1e-5, atol=1e-6)
