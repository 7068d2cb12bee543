"""Gradient flow through one layer's recurrence against float64 autograd on an unrolled loop."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from gatescope.engine import RecurrentStack, spec_from_module, trace, with_gru_variant
from gatescope.engine.gradflow import (
    gradient_slope,
    hidden_gradient_log10_norms,
    recurrent_jacobian_log10_norms,
    spectral_radius,
    with_forget_bias,
    with_recurrent_radius,
)
from tests.reference import layer_sizes, reference_step, reference_weights

CASES = ["lstm", "gru", "gru_cho", "gru_chung", "rnn", "rnn_relu"]


def make(case: str, layers: int = 1, seed: int = 0) -> tuple[nn.Module, str, str]:
    torch.manual_seed(seed)
    kind = case.split("_")[0]
    kwargs = {"nonlinearity": "relu"} if case == "rnn_relu" else {}
    module = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](4, 5, num_layers=layers, **kwargs)
    with torch.no_grad():  # larger recurrent weights so the norms move by decades
        for name, p in module.named_parameters():
            if "weight_hh" in name:
                p.mul_(2.5)
    return module, kind, case.removeprefix("gru_") if case.startswith("gru_") else "torch"


def spec_of(module: nn.Module, variant: str):  # type: ignore[no-untyped-def]
    spec = spec_from_module(module)
    return with_gru_variant(spec, variant) if spec.arch == "gru" else spec


def reference_states(module: nn.Module, kind: str, variant: str, x: Tensor, layer: int):  # type: ignore[no-untyped-def]
    """float64 (inputs, hs, cs) of ``layer``: hs[t], cs[t] after step t; inputs[t] its input."""
    inputs = list(x.double())
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    for current in range(layer + 1):
        weights = reference_weights(module, current)
        h = c = torch.zeros(layer_sizes(module, current)[0], dtype=torch.float64)
        hs, cs = [], []
        for x_t in inputs:
            h, c, _ = reference_step(kind, weights, x_t, h, c, nonlinearity, variant)
            hs.append(h)
            cs.append(c)
        if current < layer:
            inputs = hs
    return inputs, hs, cs, weights, nonlinearity


def reference_jacobian_log10(module: nn.Module, kind: str, variant: str, x: Tensor, layer: int) -> Tensor:
    inputs, hs, cs, weights, nonlinearity = reference_states(module, kind, variant, x, layer)
    steps = len(inputs)
    out = []
    for t in range(steps):

        def unroll(h: Tensor, t: int = t) -> Tensor:
            c = cs[t]  # held: the derivative at node h_t
            for s in range(t + 1, steps):
                h, c, _ = reference_step(kind, weights, inputs[s], h, c, nonlinearity, variant)
            return h

        jac = torch.autograd.functional.jacobian(unroll, hs[t].clone())
        out.append(math.log10(float(jac.norm())) if float(jac.norm()) > 0 else -math.inf)
    return torch.tensor(out, dtype=torch.float64)


def assert_log10_close(got: Tensor, want: Tensor, rtol: float = 1e-4) -> None:
    """Norms within ``rtol`` relative: |log10 got - log10 want| <= log10(1 + rtol)."""
    assert got.shape == want.shape
    both = torch.isfinite(want)
    assert torch.equal(torch.isfinite(got), both), (got, want)
    worst = float((got[both] - want[both]).abs().max())
    assert worst <= math.log10(1 + rtol), f"worst log10 difference {worst:.3g}"


@pytest.mark.parametrize("case", CASES)
def test_jacobian_norms_match_autograd(case: str) -> None:
    module, kind, variant = make(case)
    x = torch.randn(12, 4)
    got = recurrent_jacobian_log10_norms(spec_of(module, variant), x)
    assert got[-1] == pytest.approx(math.log10(math.sqrt(5)))
    assert_log10_close(got, reference_jacobian_log10(module, kind, variant, x, 0))


def test_jacobian_of_an_upper_layer_holds_its_input() -> None:
    module, kind, variant = make("lstm", layers=2, seed=3)
    x = torch.randn(10, 4)
    got = recurrent_jacobian_log10_norms(spec_of(module, variant), x, layer=1)
    assert_log10_close(got, reference_jacobian_log10(module, kind, variant, x, 1))


@pytest.mark.parametrize("case", ["lstm", "gru_cho", "rnn"])
def test_jacobian_of_each_layer_of_a_mixed_size_stack(case: str) -> None:
    """Layers of 5 and then 3 units (a Keras-style stack): each layer's Jacobian is H_l x H_l."""
    module, kind, variant = make(case, seed=4)
    torch.manual_seed(5)
    upper = type(module)(5, 3)
    stack = RecurrentStack.from_modules([module, upper])
    x = torch.randn(10, 4)
    for layer, size in ((0, 5), (1, 3)):
        got = recurrent_jacobian_log10_norms(spec_of(stack, variant), x, layer=layer)
        assert got[-1] == pytest.approx(math.log10(math.sqrt(size)))  # the identity, H_l x H_l
        assert_log10_close(got, reference_jacobian_log10(stack, kind, variant, x, layer))


def reference_clipped_log10(
    module: nn.Module, kind: str, variant: str, x: Tensor, clip: float | None
) -> Tensor:
    """||dL/dh_t|| for L = 0.5 ||h_T||², each dL/dh_t clipped by a tensor hook before it flows on."""
    weights = reference_weights(module, 0)
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    x64 = x.double().requires_grad_(True)
    h = c = torch.zeros(module.hidden_size, dtype=torch.float64)
    norms: dict[int, float] = {}

    def clipper(t: int):  # type: ignore[no-untyped-def]
        def hook(grad: Tensor) -> Tensor:
            norm = float(grad.norm())
            factor = 1.0 if clip is None or norm <= clip else clip / norm
            norms[t] = norm * factor
            return grad * factor

        return hook

    for t, x_t in enumerate(x64):
        h, c, _ = reference_step(kind, weights, x_t, h, c, nonlinearity, variant)
        h.register_hook(clipper(t))
    (0.5 * h.pow(2).sum()).backward()
    return torch.tensor(
        [math.log10(norms[t]) if norms.get(t, 0) > 0 else -math.inf for t in range(len(x))],
        dtype=torch.float64,
    )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("clip", [None, 0.05])
def test_hidden_gradients_with_and_without_clipping(case: str, clip: float | None) -> None:
    module, kind, variant = make(case, seed=1)
    x = torch.randn(30, 4)
    got = hidden_gradient_log10_norms(spec_of(module, variant), x, clip=clip)
    assert_log10_close(got, reference_clipped_log10(module, kind, variant, x, clip))
    if clip is None:  # and the same as the main view's dL/dh_t
        grad = trace(module, x, gru_variant=variant).layers[0].grad_hidden.norm(dim=1).double()
        assert_log10_close(got, grad.log10(), rtol=1e-3)
    else:
        assert float(got.max()) <= math.log10(clip) + 1e-9


def test_exploding_gradients_stay_exact_beyond_float32() -> None:
    torch.manual_seed(2)
    module = nn.RNN(4, 64).double()
    with torch.no_grad():  # radius 6: the chaotic regime, where gradients explode
        rho = float(torch.linalg.eigvals(module.weight_hh_l0).abs().max())
        module.weight_hh_l0.mul_(6.0 / rho)
    spec = spec_from_module(module)
    x = torch.randn(250, 4, dtype=torch.float64)
    got = hidden_gradient_log10_norms(spec, x)
    clipped = hidden_gradient_log10_norms(spec, x, clip=1.0)
    assert float(got[0]) > 40  # past float32's 3e38, where a plain float32 backward gives inf
    # Chaos amplifies rounding in the forward states as much as the gradients (any two
    # implementations part ways after ~70 steps), so the reference back-propagates, step by step
    # with autograd and no rescaling, through the very states the engine computed.
    hidden = trace(module, x).layers[0].hidden
    w_ih, w_hh, b_ih, b_hh = reference_weights(module, 0)
    for clip, engine in ((None, got), (1.0, clipped)):
        g, want = hidden[-1].clone(), []
        for t in range(len(x) - 1, -1, -1):
            norm = float(g.norm())
            if clip is not None and norm > clip:
                g, norm = g * (clip / norm), clip
            want.append(math.log10(norm))
            if t > 0:
                _, vjp = torch.func.vjp(
                    lambda h, t=t: torch.tanh(w_ih @ x[t] + b_ih + w_hh @ h + b_hh), hidden[t - 1]
                )
                (g,) = vjp(g)
        assert_log10_close(engine, torch.tensor(want[::-1], dtype=torch.float64), rtol=1e-9)
    slope = gradient_slope(got)
    assert slope is not None and slope > 0.2
    assert float(clipped.max()) <= 1e-9


def test_gradient_slope_is_decades_per_step() -> None:
    distance = torch.arange(9, -1, -1, dtype=torch.float64)
    values = 2.0 - 0.3 * distance
    assert gradient_slope(values) == pytest.approx(-0.3)
    values[0] = -math.inf  # an exact zero far back is left out
    assert gradient_slope(values) == pytest.approx(-0.3)
    assert gradient_slope(torch.tensor([1.0, -math.inf])) is None


def test_radius_and_forget_bias_knobs() -> None:
    spec = with_recurrent_radius(spec_from_module(nn.LSTM(3, 6)), 0.7)
    for block in spec.layers[0].w_hh.split(6):
        assert spectral_radius(block) == pytest.approx(0.7, rel=1e-5)
    spec = with_forget_bias(spec, 1.0)
    b = spec.layers[0]
    assert torch.all(b.b_ih[6:12] + b.b_hh[6:12] == 1.0)
    with pytest.raises(ValueError, match="LSTMs only"):
        with_forget_bias(spec_from_module(nn.GRU(3, 6)), 1.0)
    with pytest.raises(ValueError, match="positive"):
        with_recurrent_radius(spec, -1.0)
