"""Saturation, connectivity, pattern search, GRU variants and equation terms, each held to an
independent computation (float64 autograd, plain loops, Python sets)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gatescope.engine import spec_from_module, trace, with_gru_variant
from gatescope.engine.analysis import (
    connectivity,
    equation_terms,
    forward_gates,
    gru_variant_difference,
    pattern_search,
    saturation,
)
from gatescope.engine.cells import gru_cell, reset_before_gru_cell
from tests.reference import assert_close_relative, reference_trace

MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def make(arch: str, layers: int = 2, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return MODULES[arch](4, 6, num_layers=layers)


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn"])
def test_trace_grad_input_matches_reference(arch: str) -> None:
    module = make(arch, 3)
    x = torch.randn(14, 4)
    ref = reference_trace(module, x, lambda hs: 0.5 * hs[-1][-1].pow(2).sum())
    assert_close_relative(trace(module, x).grad_input, ref["grad_input"])


@pytest.mark.parametrize(
    ("arch", "variant"),
    [("lstm", "torch"), ("gru", "torch"), ("gru", "cho"), ("gru", "chung"), ("rnn", "torch")],
)
def test_connectivity_matches_autograd(arch: str, variant: str) -> None:
    module = make(arch, 2, seed=4)
    spec = spec_from_module(module)
    if arch == "gru":
        spec = with_gru_variant(spec, variant)
    x = torch.randn(20, 4)
    got = connectivity(spec, x, layer=1, unit=3, step=12)
    ref = reference_trace(module, x, lambda hs: hs[1][12][3], gru_variant=variant)
    want = ref["grad_input"].norm(dim=1)
    assert_close_relative(got, want)
    assert torch.all(got[13:] == 0) and float(got[12]) > 0


def test_saturation_counts_steps_per_unit() -> None:
    module = make("lstm", 2)
    spec = spec_from_module(module)
    xs = [3 * torch.randn(30, 4), 3 * torch.randn(17, 4)]
    got = saturation(forward_gates(spec, xs))
    traces = [trace(module, x) for x in xs]
    assert [set(layer) for layer in got] == [{"i", "f", "o"}] * 2
    for layer in range(2):
        for gate in ("i", "f", "o"):
            values = [v for tr in traces for v in tr.layers[layer].gates[gate].tolist()]  # rows
            for unit in range(6):
                column = [row[unit] for row in values]
                left = sum(v < 0.1 for v in column) / len(column)
                right = sum(v > 0.9 for v in column) / len(column)
                assert float(got[layer][gate].left[unit]) == pytest.approx(left)
                assert float(got[layer][gate].right[unit]) == pytest.approx(right)
    gru = saturation([layer.gates for layer in trace(make("gru"), xs[0]).layers])
    assert set(gru[0]) == {"r", "z"}
    assert saturation([layer.gates for layer in trace(make("rnn"), xs[0]).layers]) == [{}, {}]


def brute_force_patterns(hidden: torch.Tensor, start: int, end: int, threshold: float, top: int):  # type: ignore[no-untyped-def]
    steps, size = hidden.shape
    length = end - start

    def on_set(j: int) -> set[int]:
        return {k for k in range(size) if all(hidden[t, k] > threshold for t in range(j, j + length))}

    query = on_set(start)
    candidates = []
    for j in range(steps - length + 1):
        if j < end and start < j + length:
            continue
        s = on_set(j)
        if not s & query:
            continue
        candidates.append((len(s & query) / len(s | query), j, sorted(s & query)))
    candidates.sort(key=lambda c: (-c[0], c[1]))
    chosen: list[tuple[float, int, list[int]]] = []
    for score, j, units in candidates:
        if len(chosen) < top and all(not (j < c[1] + length and c[1] < j + length) for c in chosen):
            chosen.append((score, j, units))
    return sorted(query), chosen


@pytest.mark.parametrize(
    ("start", "end", "threshold"), [(10, 14, 0.1), (0, 3, 0.0), (40, 41, 0.3), (55, 60, -0.2)]
)
def test_pattern_search_matches_brute_force(start: int, end: int, threshold: float) -> None:
    torch.manual_seed(0)
    # A hidden sequence with structure: a slow wave per unit plus noise, so windows repeat.
    t = torch.arange(60, dtype=torch.float32).unsqueeze(1)
    hidden = torch.sin(0.3 * t + torch.arange(12)) + 0.3 * torch.randn(60, 12)
    got = pattern_search(hidden, start, end, threshold, top=5)
    units, chosen = brute_force_patterns(hidden, start, end, threshold, 5)
    assert got.units == units
    assert [(m.start, m.units) for m in got.matches] == [(j, u) for _, j, u in chosen]
    for m, (score, _, _) in zip(got.matches, chosen, strict=True):
        assert m.score == pytest.approx(score) and m.end - m.start == end - start


def test_pattern_search_refuses_bad_spans() -> None:
    hidden = torch.zeros(10, 3)
    for start, end in ((5, 5), (-1, 3), (8, 11)):
        with pytest.raises(ValueError, match="span"):
            pattern_search(hidden, start, end, 0.5)
    assert pattern_search(hidden, 0, 2, 0.5).units == []


def test_gru_variants_match_reference_forward() -> None:
    module = make("gru", 2, seed=2)
    x = torch.randn(16, 4)
    got = gru_variant_difference(spec_from_module(module), x)
    assert set(got.hidden) == {"torch", "cho", "chung"} and set(got.difference) == {"cho", "chung"}
    for variant, hidden in got.hidden.items():
        ref = reference_trace(module, x, lambda hs: hs[-1][-1].sum(), gru_variant=variant)
        for layer in range(2):
            assert_close_relative(hidden[layer], ref["layers"][layer]["hidden"])
    for variant, differences in got.difference.items():
        for layer in range(2):
            want = (got.hidden["torch"][layer] - got.hidden[variant][layer]).double().norm(dim=1)
            torch.testing.assert_close(differences[layer].double(), want)
    with pytest.raises(ValueError, match="GRU models only"):
        gru_variant_difference(spec_from_module(make("lstm")), x)


def test_equation_terms_reproduce_the_trace() -> None:
    x = torch.randn(9, 4)
    module = make("lstm", 2, seed=1)
    tr = trace(module, x)
    terms = equation_terms(spec_from_module(module), x, layer=1, unit=2, step=5)["lstm"]
    for gate in ("i", "f", "o"):
        assert terms[gate] == pytest.approx(1 / (1 + math.exp(-terms[f"a_{gate}"])), rel=1e-5)
    assert terms["c"] == pytest.approx(terms["f"] * terms["c_prev"] + terms["i"] * terms["g"], rel=1e-5)
    assert terms["h"] == pytest.approx(float(tr.layers[1].hidden[5, 2]))
    assert terms["h_prev"] == pytest.approx(float(tr.layers[1].hidden[4, 2]))

    gru = make("gru", 1, seed=1)
    spec = spec_from_module(gru)
    both = equation_terms(spec, x, layer=0, unit=4, step=3)
    h_prev = trace(gru, x).layers[0].hidden[2]
    for variant in ("torch", "cho", "chung"):
        if variant == "torch":
            step = gru_cell(x[3], h_prev, spec.layers[0])
        else:
            step = reset_before_gru_cell(x[3], h_prev, spec.layers[0], variant)
        assert both[variant]["h"] == pytest.approx(float(step.hidden[4]), rel=1e-5, abs=1e-6)
        assert both[variant]["n"] == pytest.approx(float(step.gates["n"][4]), rel=1e-5, abs=1e-6)
    rnn_terms = equation_terms(spec_from_module(make("rnn")), x, 0, 0, 0)["tanh"]
    assert rnn_terms["h"] == pytest.approx(math.tanh(rnn_terms["a"]), rel=1e-5)
    with pytest.raises(ValueError, match="step 9 out of range"):
        equation_terms(spec, x, 0, 0, 9)
