"""Fixed points, projection, attribution and unit features, each held to an independent computation:
a cell with a known fixed point, finite differences and numpy's eigvals, numpy's SVD, the float64
autograd reference, brute force on small strings, numpy.corrcoef."""

from __future__ import annotations

import io
import re
import tokenize

import numpy as np
import pytest
import torch
from torch import nn

from gatescope.engine import RecurrentStack, spec_from_module
from gatescope.engine.attribution import attribute
from gatescope.engine.corpus import run_to_end, scan_corpus
from gatescope.engine.fixedpoints import fixed_points
from gatescope.engine.projection import project, project_paths
from gatescope.engine.units import correlations, feature_values
from tests.reference import layer_sizes, reference_step, reference_trace, reference_weights


def test_rnn_without_recurrence_has_one_fixed_point_at_tanh_of_its_input() -> None:
    torch.manual_seed(0)
    mod = nn.RNN(3, 5)
    with torch.no_grad():
        mod.weight_hh_l0.zero_()
    x = torch.tensor([0.3, -1.2, 0.8])
    points = fixed_points(spec_from_module(mod), x, torch.randn(30, 3), count=16)
    assert len(points) == 1
    want = torch.tanh(mod.weight_ih_l0 @ x + mod.bias_ih_l0 + mod.bias_hh_l0).double()
    torch.testing.assert_close(points[0].hidden, want, atol=1e-6, rtol=0)
    assert points[0].speed < 1e-12 and points[0].stable and points[0].cell is None
    assert torch.all(points[0].eigenvalues.abs() < 1e-12)  # dF/dh = diag(1 - h²) W_hh = 0


def offsets(mod: nn.Module, kind: str, layers: int) -> list[int]:
    """Where each layer's share of the state starts: H_l, or 2 H_l for an LSTM."""
    out = [0]
    for layer in range(layers):
        size = layer_sizes(mod, layer)[0]
        out.append(out[-1] + (2 * size if kind == "lstm" else size))
    return out


def reference_map(mod: nn.Module, kind: str, layers: int, x: torch.Tensor) -> object:
    """F on the stack's state [h_0; c_0; ...] with the reference cell, float64, numpy in and out
    (a stack's layers may differ in size: each one's share is read from its own weights)."""
    weights = [reference_weights(mod, layer) for layer in range(layers)]
    starts = offsets(mod, kind, layers)

    def step(s: np.ndarray) -> np.ndarray:
        state, out, inp = torch.from_numpy(s), [], x.double()
        for layer in range(layers):
            size = layer_sizes(mod, layer)[0]
            part = state[starts[layer] : starts[layer + 1]]
            h, c = (
                (part[:size], part[size:])
                if kind == "lstm"
                else (part, torch.zeros(size, dtype=torch.float64))
            )
            h, c, _ = reference_step(kind, weights[layer], inp, h, c)
            out += [h, c] if kind == "lstm" else [h]
            inp = h
        return torch.cat(out).numpy()

    return step


def sorted_eigs(values: np.ndarray) -> np.ndarray:
    return values[np.lexsort((np.round(values.imag, 5), np.round(np.abs(values), 5)))]


@pytest.mark.parametrize(
    ("kind", "sizes"), [("lstm", [4]), ("gru", [4, 4]), ("rnn", [4]), ("lstm", [5, 3]), ("gru", [3, 5])]
)
def test_fixed_points_are_fixed_and_their_eigenvalues_match_finite_differences(
    kind: str, sizes: list[int]
) -> None:
    torch.manual_seed(4)
    layers = len(sizes)
    if len(set(sizes)) == 1:
        mod: nn.Module = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](2, 4, num_layers=layers)
    else:  # layers of different sizes, as a Keras stack has them
        mod = RecurrentStack(kind, 2, sizes)
    with torch.no_grad():
        mod.weight_hh_l0.mul_(3.0)  # stronger recurrence: more than one fixed point, some unstable
    x = torch.tensor([0.5, -0.2])
    points = fixed_points(spec_from_module(mod), x, torch.randn(40, 2) * 2, layer=layers - 1, count=24)
    step = reference_map(mod, kind, layers, x)
    for p in points[:4]:
        s = p.state.numpy()
        residual = step(s) - s
        assert 0.5 * residual @ residual == pytest.approx(p.speed, abs=1e-12)
        eps = 1e-6
        jac = np.stack([(step(s + eps * e) - step(s - eps * e)) / (2 * eps) for e in np.eye(len(s))], 1)
        want = sorted_eigs(np.linalg.eigvals(jac))
        got = sorted_eigs(p.eigenvalues.numpy())
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert p.stable == (np.abs(want).max() < 1)
        moduli = np.abs(p.eigenvalues.numpy())
        assert np.allclose(p.time_constants, -1 / np.log(moduli))
    assert points[0].speed < 1e-10
    own = points[0].state[offsets(mod, kind, layers)[layers - 1] :]
    torch.testing.assert_close(points[0].hidden, own[: sizes[-1]])


def test_projection_against_numpy_svd() -> None:
    states = torch.randn(50, 6, dtype=torch.float64) @ torch.randn(6, 6, dtype=torch.float64)
    other = torch.randn(20, 6, dtype=torch.float64)
    for fit in ([], [other, states[:10]]):
        got = project(states, 3, fit)
        basis = np.concatenate([f.numpy() for f in fit]) if fit else states.numpy()
        mean = basis.mean(0)
        _, s, vt = np.linalg.svd(basis - mean, full_matrices=False)
        signs = np.sign(np.sum(got.components.numpy() * vt[:3], axis=1))  # each ±1
        np.testing.assert_allclose(got.components.numpy(), vt[:3] * signs[:, None], atol=1e-10)
        np.testing.assert_allclose(got.points.numpy(), (states.numpy() - mean) @ vt[:3].T * signs, atol=1e-9)
        np.testing.assert_allclose(
            got.explained_variance_ratio.numpy(), (s**2 / (s**2).sum())[:3], atol=1e-12
        )
        np.testing.assert_allclose(got.mean.numpy(), mean, atol=1e-12)
    with pytest.raises(ValueError, match="components must be between 1 and"):
        project(states[:2], 3)


def test_paths_share_one_pca_fitted_on_all_of_them() -> None:
    """Two models' paths (equal widths) on one PCA of both, held to numpy's SVD of the stack."""
    a = torch.randn(30, 5, dtype=torch.float64) @ torch.randn(5, 5, dtype=torch.float64)
    b = torch.randn(12, 5, dtype=torch.float64) + 2
    got = project_paths([a, b], 2)
    stack = np.concatenate([a.numpy(), b.numpy()])
    mean = stack.mean(0)
    _, s, vt = np.linalg.svd(stack - mean, full_matrices=False)
    signs = np.sign(np.sum(got[0].components.numpy() * vt[:2], axis=1))
    for path, states in zip(got, (a, b), strict=True):
        np.testing.assert_allclose(path.points.numpy(), (states.numpy() - mean) @ vt[:2].T * signs, atol=1e-9)
        np.testing.assert_allclose(
            path.explained_variance_ratio.numpy(), (s**2 / (s**2).sum())[:2], atol=1e-12
        )
    with pytest.raises(ValueError, match=r"one width; these have widths \[4, 5\]"):
        project_paths([a, torch.randn(9, 4)], 2)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_attribution_against_autograd_and_completeness(kind: str) -> None:
    torch.manual_seed(5)
    mod = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](3, 6, num_layers=2)
    spec = spec_from_module(mod)
    x, base = torch.randn(9, 3), torch.randn(3) * 0.1

    def loss(hs: list[list[torch.Tensor]]) -> torch.Tensor:
        return 0.5 * hs[-1][-1].pow(2).sum()

    gxi = attribute(spec, x, method="gradient_x_input")
    ref = reference_trace(mod, x, loss)
    np.testing.assert_allclose(gxi.attribution.numpy(), (x.double() * ref["grad_input"]).numpy(), atol=1e-6)
    np.testing.assert_allclose(gxi.per_step.numpy(), gxi.attribution.sum(1).numpy())
    assert gxi.objective_value == pytest.approx(ref["loss"], rel=1e-5)

    ig = attribute(spec, x, method="integrated_gradients", steps=16, baseline=base)
    change = ig.objective_value - ig.baseline_value
    assert abs(ig.completeness_error) < 0.01
    assert float(ig.attribution.sum()) == pytest.approx(change, rel=0.01)
    # Against a plain midpoint Riemann sum of float64 autograd gradients along the same path.
    alphas = (torch.arange(100, dtype=torch.float64) + 0.5) / 100
    grads = sum(reference_trace(mod, base + a * (x - base), loss)["grad_input"] for a in alphas.tolist())
    riemann = (x - base).double() * grads / 100
    np.testing.assert_allclose(ig.attribution.numpy(), riemann.numpy(), atol=1e-4)


def code_brackets(text: str) -> dict[int, str]:
    """The brackets of the code (OP tokens) by offset, from Python's own tokenizer."""
    starts = [0] + [k + 1 for k, ch in enumerate(text) if ch == "\n"]  # offset of each line
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return {
        starts[tok.start[0] - 1] + tok.start[1]: tok.string
        for tok in tokens
        if tok.type == tokenize.OP and tok.string in "()[]{}"
    }


def brute_force(text: str, feature: str) -> list[float]:
    """Each character's feature recomputed from scratch from the text up to it (and its line);
    brackets are those Python's own tokenizer finds in the code (``text`` must tokenize), and
    quotes (a tokenizer's notion too) are held to it in `string_spans`."""
    out = []
    brackets = code_brackets(text) if feature in ("nesting", "brackets") else {}
    for t in range(len(text)):
        before = text[:t]
        line_start = before.rfind("\n") + 1
        line = text[line_start:].split("\n")[0]
        seen = [b for k, b in brackets.items() if k < t]
        depth = sum(b in "([{" for b in seen) - sum(b in ")]}" for b in seen)
        if feature in ("nesting", "brackets"):
            inside = depth + (brackets.get(t, "") in "([{" and t in brackets)
            out.append(float(inside) if feature == "nesting" else float(inside > 0))
        elif feature == "line_position":
            out.append(float(t - line_start))
        else:
            out.append(float(len(re.match(" *", line).group())))  # type: ignore[union-attr]
    return out


@pytest.mark.parametrize("feature", ["brackets", "nesting", "line_position", "indentation"])
def test_features_by_brute_force(feature: str) -> None:
    text = (
        'def f(a, b="x"):\n    return [a,\n          (b)]\ns = \'q"q\' + "z(" # (c\n'
        "   # an indented comment [\n\nx = {1: (2),\n 3: f(4)}\n"
    )
    assert feature_values(text, feature).tolist() == brute_force(text, feature)


def string_spans(text: str) -> list[float]:
    """1 inside every STRING token Python's own tokenizer finds in ``text``, else 0."""
    starts = [0] + [k + 1 for k, ch in enumerate(text) if ch == "\n"]  # offset of each line
    out = [0.0] * len(text)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.STRING:
            (row_a, col_a), (row_b, col_b) = token.start, token.end
            out[starts[row_a - 1] + col_a : starts[row_b - 1] + col_b] = [1.0] * len(token.string)
    return out


PYTHON_STRINGS = "\n".join(
    [
        r"""def f(a, b="x"):  # don't count "this" """,
        r'''    """A docstring: it's "quoted" and''',
        r'''    spans lines."""''',
        r"""    s = 'q"q' + "z\"y" + '' + "a#b" + 'c\\'""",
        r"""    t = \ """.rstrip(),
        r"""        '''one ' two""",
        r"""''' # (x)""",
        r"""    return [a, (b), s, t]""",
        "",
    ]
)


def test_quotes_are_pythons_string_literals() -> None:
    assert feature_values(PYTHON_STRINGS, "quotes").tolist() == string_spans(PYTHON_STRINGS)
    assert sum(string_spans(PYTHON_STRINGS)) > 60  # the reference did find the strings


def test_a_string_left_open_ends_with_its_line() -> None:
    # A corpus window that starts inside a string: its closing quote opens a string that the line
    # end closes, so the next lines are read right (not inverted for the rest of the corpus).
    text = "allback',\n  'help',\n"
    assert feature_values(text, "quotes").tolist() == [0] * 7 + [1, 1, 0] + [0, 0] + [1] * 6 + [0, 0]


def test_brackets_are_the_codes_and_stray_closers_do_not_go_below_zero() -> None:
    assert feature_values(")a(b)", "nesting").tolist() == [0, 0, 1, 1, 1]
    assert feature_values('"(" x', "brackets").tolist() == [0, 0, 0, 0, 0]  # in a string: not code
    assert feature_values("(# )\n)", "nesting").tolist() == [1, 1, 1, 1, 1, 1]  # nor in a comment


def test_regex_feature_and_bad_regex() -> None:
    values = feature_values("ab12cd345", {"regex": r"\d+"})
    assert values.tolist() == [0, 0, 1, 1, 0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match=r"feature\.regex does not compile"):
        feature_values("abc", {"regex": "(unclosed"})


def test_correlations_against_numpy_and_constant_units_score_zero() -> None:
    values = torch.randn(40, 5, dtype=torch.float64)
    values[:, 2] = 0.7  # never varies
    feature = torch.randn(40, dtype=torch.float64)
    got = correlations(values, feature).numpy()
    for unit in (0, 1, 3, 4):
        assert got[unit] == pytest.approx(
            np.corrcoef(values[:, unit].numpy(), feature.numpy())[0, 1], abs=1e-12
        )
    assert got[2] == 0.0
    assert np.all(correlations(values, torch.ones(40, dtype=torch.float64)).numpy() == 0)


def test_unit_scores_sorted_over_every_layer() -> None:
    torch.manual_seed(2)
    mod = nn.LSTM(4, 5, num_layers=2)
    x = torch.randn(30, 4)
    feature = torch.arange(30, dtype=torch.float64) % 7
    scores = run_to_end(scan_corpus(spec_from_module(mod), x, feature, "f", snippet_units=0)).scores
    assert len(scores) == 10 and [abs(s.score) for s in scores] == sorted(
        (abs(s.score) for s in scores), reverse=True
    )
    ref = reference_trace(mod, x, lambda hs: hs[-1][-1].sum())
    best = scores[0]
    gate = ref["layers"][best.layer]["gates"]["f"][:, best.unit].numpy()
    assert best.score == pytest.approx(np.corrcoef(gate, feature.numpy())[0, 1], abs=1e-5)
    with pytest.raises(ValueError, match="quantity 'z' is not one of this LSTM's"):
        scan_corpus(spec_from_module(mod), x, feature, "z")
