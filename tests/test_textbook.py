"""The papers' GRUs (Cho et al. 2014; Chung et al. 2014, the seed's) against the float64 unrolled
reference and the stepper."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gatescope.engine import Stepper, UnitObjective, spec_from_module, trace, trace_spec, with_gru_variant
from tests.reference import assert_close_relative, reference_trace


def make(layers: int = 1, bias: bool = True, seed: int = 0) -> nn.GRU:
    torch.manual_seed(seed)
    return nn.GRU(5, 7, num_layers=layers, bias=bias)


def hidden_norm(hs):  # type: ignore[no-untyped-def]
    return 0.5 * hs[-1][-1].pow(2).sum()


VARIANTS = ["cho", "chung"]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_reset_before_gru_matches_reference(layers: int, bias: bool, variant: str) -> None:
    module = make(layers, bias, seed=layers)
    x = torch.randn(23, 5)
    tr = trace(module, x, gru_variant=variant)
    ref = reference_trace(module, x, hidden_norm, gru_variant=variant)
    assert tr.gru_variant == variant
    assert tr.loss == pytest.approx(ref["loss"], rel=1e-4)
    for got, want in zip(tr.layers, ref["layers"], strict=True):
        for name in ("r", "z", "n"):
            assert_close_relative(got.gates[name], want["gates"][name])
        assert_close_relative(got.hidden, want["hidden"])
        assert_close_relative(got.grad_hidden, want["grad_hidden"])
        assert got.cell is None and got.grad_cell is None
    assert_close_relative(tr.grad_input, ref["grad_input"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_reset_before_gru_unit_objective_and_initial_state(variant: str) -> None:
    module = make(2, seed=5)
    x = torch.randn(15, 5)
    h0 = torch.randn(2, 7)
    tr = trace(module, x, h0=h0, objective=UnitObjective(0, 2, 8), gru_variant=variant)
    ref = reference_trace(module, x, lambda hs: hs[0][8][2], h0=h0, gru_variant=variant)
    for got, want in zip(tr.layers, ref["layers"], strict=True):
        assert_close_relative(got.hidden, want["hidden"])
        assert_close_relative(got.grad_hidden, want["grad_hidden"])
    assert_close_relative(tr.grad_input, ref["grad_input"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_reset_before_gru_stepper_agrees_with_trace(variant: str) -> None:
    module = make(2)
    spec = with_gru_variant(spec_from_module(module), variant)
    x = torch.randn(19, 5)
    tr = trace_spec(spec, x)
    records = list(Stepper(spec).run(x))
    for layer in range(2):
        hidden = torch.stack([r.layers[layer].hidden for r in records])
        torch.testing.assert_close(hidden, tr.layers[layer].hidden, rtol=1e-5, atol=1e-6)
        for name in ("r", "z", "n"):
            stepped = torch.stack([r.layers[layer].gates[name] for r in records])
            torch.testing.assert_close(stepped, tr.layers[layer].gates[name], rtol=1e-5, atol=1e-6)


def test_the_variants_differ_on_the_same_weights() -> None:
    module = make(1)
    x = torch.randn(10, 5)
    runs = {variant: trace(module, x, gru_variant=variant) for variant in ("torch", *VARIANTS)}
    assert runs["torch"].gru_variant == "torch"
    # Same r and z at the first step (h0 = 0 makes the variants agree on r, z there), then apart.
    for variant in VARIANTS:
        torch.testing.assert_close(
            runs["torch"].layers[0].gates["z"][0], runs[variant].layers[0].gates["z"][0]
        )
    for a, b in (("torch", "cho"), ("torch", "chung"), ("cho", "chung")):
        assert float((runs[a].layers[0].hidden - runs[b].layers[0].hidden).abs().max()) > 1e-2


def test_cho_and_chung_swap_the_roles_of_z_and_1_minus_z() -> None:
    """With h0 = 0 the first step is h_1 = (1 - z) n (cho) and z n (chung), on the same r, z, n."""
    module = make(1)
    x = torch.randn(1, 5)
    cho, chung = (
        trace(module, x, gru_variant="cho").layers[0],
        trace(module, x, gru_variant="chung").layers[0],
    )
    z, n = cho.gates["z"][0], cho.gates["n"][0]
    torch.testing.assert_close(cho.hidden[0], (1 - z) * n)
    torch.testing.assert_close(chung.hidden[0], z * n)


def test_variant_is_refused_for_other_archs() -> None:
    with pytest.raises(ValueError, match="GRU models only"):
        trace(nn.LSTM(5, 7), torch.randn(3, 5), gru_variant="cho")
    with pytest.raises(ValueError, match="'torch', 'cho' or 'chung'"):
        trace(make(), torch.randn(3, 5), gru_variant="keras")
