"""Units across a corpus read in chunks (gatescope.engine.corpus), held to independent numbers:
numpy's corrcoef over the whole corpus, torch's own modules run in one go, brute-force windows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from gatescope.engine import spec_from_module
from gatescope.engine.corpus import chunked_values, run_to_end, scan_corpus, telling_windows
from gatescope.engine.units import RunningPearson


def test_running_pearson_over_uneven_chunks_is_numpys_corrcoef() -> None:
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(5000, 4, generator=gen, dtype=torch.float64) * 3 + 100  # far from 0
    feature = torch.arange(5000, dtype=torch.float64) % 37  # graded, as line_position is
    values[:, 1] += 0.5 * feature
    values[:, 3] = 2.5  # never varies: scores 0
    pearson = RunningPearson(4)
    edges = [0, 1, 2, 700, 701, 2048, 4096, 5000]  # chunks of 1, 1, 698, 1, 1347, 2048, 904 steps
    for a, b in itertools.pairwise(edges):
        pearson.add(values[a:b], feature[a:b])
    got = pearson.correlations().numpy()
    for unit in (0, 1, 2):
        want = np.corrcoef(values[:, unit].numpy(), feature.numpy())[0, 1]
        assert got[unit] == pytest.approx(want, abs=1e-12)
    assert got[3] == 0.0
    assert pearson.count == 5000 and float(pearson.mean_f) == pytest.approx(float(feature.mean()), abs=1e-12)


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn"])
def test_chunks_carry_the_state_so_they_read_as_one_run(arch: str) -> None:
    torch.manual_seed(3)
    module = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[arch](5, 7, num_layers=2)
    x = torch.randn(300, 5)
    with torch.no_grad():
        output, _ = module(x)  # torch's own run over all 300 steps: the top layer's h_t
    spec = spec_from_module(module)
    for chunk in (1, 64, 300, 1000):
        top = torch.cat([values[1] for values in chunked_values(spec, x, "hidden", chunk)])
        assert top.shape == (300, 7)
        torch.testing.assert_close(top, output, atol=2e-6, rtol=0)


def torch_cells(module: nn.LSTM, x: torch.Tensor) -> list[torch.Tensor]:
    """Each layer's c_t (T, H), from torch's own one-layer LSTMs holding ``module``'s weights,
    stepped one input at a time (nn.LSTM returns only the last cell state)."""
    cells, inputs = [], x
    for layer in range(module.num_layers):
        one = nn.LSTM(inputs.shape[1], module.hidden_size)
        weights = module.state_dict().items()
        one.load_state_dict({k[: -len(f"{layer}")] + "0": v for k, v in weights if k.endswith(f"_l{layer}")})
        state = (torch.zeros(1, module.hidden_size), torch.zeros(1, module.hidden_size))
        rows, hidden = [], []
        with torch.no_grad():
            for row in inputs:
                _, state = one(row.view(1, -1), state)
                hidden.append(state[0][0])
                rows.append(state[1][0])
        cells.append(torch.stack(rows))
        inputs = torch.stack(hidden)
    return cells


def test_scan_scores_every_unit_as_corrcoef_over_the_whole_corpus() -> None:
    torch.manual_seed(1)
    module = nn.LSTM(6, 5, num_layers=2)
    steps = 300
    x = torch.randn(steps, 6)
    feature = (torch.arange(steps) // 20 % 2).double()  # spans of 20 steps on, 20 off
    spec = spec_from_module(module)
    result = run_to_end(scan_corpus(spec, x, feature, "cell", snippet_units=0, chunk=41))
    cells = torch_cells(module, x)
    want = sorted(
        (
            (layer, unit, np.corrcoef(cells[layer][:, unit].numpy(), feature.numpy())[0, 1])
            for layer in range(2)
            for unit in range(5)
        ),
        key=lambda r: -abs(r[2]),
    )
    assert [(s.layer, s.unit) for s in result.scores] == [(w[0], w[1]) for w in want]
    np.testing.assert_allclose([s.score for s in result.scores], [w[2] for w in want], atol=1e-5)
    assert result.feature_mean == pytest.approx(float(feature.mean()))


def test_a_stack_of_different_sizes_scores_each_layer_at_its_own_width() -> None:
    """A Keras-like LSTM(7) -> LSTM(3) stack: every unit of each layer, as corrcoef on the hidden
    states of the chain of torch modules it was built from."""
    from gatescope import RecurrentStack

    torch.manual_seed(2)
    first, second = nn.LSTM(4, 7), nn.LSTM(7, 3)
    steps = 200
    x = torch.randn(steps, 4)
    feature = (torch.arange(steps) // 15 % 2).double()
    spec = spec_from_module(RecurrentStack.from_modules([first, second]))
    result = run_to_end(scan_corpus(spec, x, feature, "hidden", snippet_units=2, chunk=37))
    with torch.no_grad():
        h0, _ = first(x)
        h1, _ = second(h0)
    want = {
        (layer, unit): np.corrcoef(h[:, unit].numpy(), feature.numpy())[0, 1]
        for layer, h in enumerate((h0, h1))
        for unit in range(h.shape[1])
    }
    assert {(s.layer, s.unit) for s in result.scores} == set(want)
    for s in result.scores:
        assert s.score == pytest.approx(want[(s.layer, s.unit)], abs=1e-5)


def test_the_same_chunks_give_the_same_numbers_and_progress_reaches_the_end() -> None:
    torch.manual_seed(0)
    spec = spec_from_module(nn.GRU(4, 6))
    x = torch.randn(500, 4)
    feature = torch.rand(500, dtype=torch.float64)
    scan = scan_corpus(spec, x, feature, "z", snippet_units=2, snippets=2, window=20, chunk=128)
    reports = []
    while True:
        try:
            reports.append(next(scan))
        except StopIteration as stop:
            result = stop.value
            break
    assert [(p.done, p.phase) for p in reports] == [
        (128, "scores"), (256, "scores"), (384, "scores"), (500, "scores"),
        (628, "snippets"), (756, "snippets"), (884, "snippets"), (1000, "snippets"),
    ]  # fmt: skip
    assert all(p.total == 1000 for p in reports)
    again = run_to_end(scan_corpus(spec, x, feature, "z", snippet_units=2, snippets=2, window=20, chunk=128))
    assert again.scores == result.scores
    assert [[(s.start, s.agreement) for s in u.snippets] for u in again.units] == [
        [(s.start, s.agreement) for s in u.snippets] for u in result.units
    ]
    other = run_to_end(scan_corpus(spec, x, feature, "z", snippet_units=0, chunk=500))
    np.testing.assert_allclose([s.score for s in other.scores], [s.score for s in result.scores], atol=1e-6)


def brute_windows(scores: list[float], width: int, count: int) -> list[tuple[int, float]]:
    """The best window, then the best not overlapping those taken, from scratch each time."""
    taken: list[tuple[int, float]] = []
    for _ in range(count):
        free = [s for s in range(len(scores)) if all(abs(s - t) >= width for t, _ in taken)]
        if not free:
            break
        best = max(free, key=lambda s: (scores[s], -s))
        if scores[best] <= 0:
            break
        taken.append((best, scores[best]))
    return taken


def test_telling_windows_by_brute_force() -> None:
    gen = torch.Generator().manual_seed(4)
    scores = torch.randn(200, generator=gen, dtype=torch.float64)
    for width, count in ((10, 3), (1, 5), (60, 4), (150, 2)):
        got = telling_windows(scores, width, count)
        want = brute_windows(scores.tolist(), width, count)
        assert got == want
    assert telling_windows(-scores.abs(), 10, 3) == []  # no window agrees: none shown


def brute_agreement(v: np.ndarray, f: np.ndarray, width: int) -> np.ndarray:
    """Every window's covariance (numpy's, about the window's means) in the corpus's stds."""
    return np.array(
        [
            np.cov(v[s : s + width], f[s : s + width], bias=True)[0, 1] / (v.std() * f.std())
            for s in range(len(v) - width + 1)
        ]
    )


def test_snippets_are_where_the_unit_moves_with_the_feature() -> None:
    """A unit driven exactly where the feature turns on, in one stretch only: its best snippet is
    that stretch; every snippet's agreement and r here are numpy's."""
    torch.manual_seed(0)
    spec = spec_from_module(nn.RNN(3, 4))
    steps = 400
    x = torch.randn(steps, 3) * 0.1
    feature = torch.zeros(steps, dtype=torch.float64)
    feature[::7] = 1.0
    x[200:260:7, 0] = 30.0  # drive the units hard exactly where the feature is on, in 200..259
    result = run_to_end(scan_corpus(spec, x, feature, "hidden", snippet_units=4, snippets=2, window=60))
    values = torch.cat([v[0] for v in chunked_values(spec, x, "hidden")]).double().numpy()
    f = feature.numpy()
    for unit in result.units:
        v = values[:, unit.unit]
        assert unit.low == pytest.approx(v.min()) and unit.high == pytest.approx(v.max())
        want = brute_agreement(v, f, 60) * np.sign(unit.score)
        starts = [s for s, _ in brute_windows(want.tolist(), 60, 2)]
        assert [s.start for s in unit.snippets] == starts
        for snippet in unit.snippets:
            assert snippet.end - snippet.start == 60
            np.testing.assert_allclose(snippet.values.numpy(), v[snippet.start : snippet.end], atol=1e-12)
            assert snippet.agreement == pytest.approx(want[snippet.start], abs=1e-9)
            here = np.corrcoef(v[snippet.start : snippet.end], f[snippet.start : snippet.end])[0, 1]
            assert snippet.local_r == pytest.approx(here, abs=1e-9)
    best = max(result.units, key=lambda u: abs(u.score))
    assert 190 < best.snippets[0].start <= 207  # 8 or 9 of the 9 driven steps


def test_scan_refuses_before_reading() -> None:
    spec = spec_from_module(nn.GRU(2, 3))
    x, feature = torch.randn(10, 2), torch.zeros(10, dtype=torch.float64)
    with pytest.raises(ValueError, match="quantity 'cell' is not one of this GRU's"):
        scan_corpus(spec, x, feature, "cell")
    with pytest.raises(ValueError, match="the feature has 9 steps but the input 10"):
        scan_corpus(spec, x, feature[:9])
    with pytest.raises(ValueError, match="bidirectional"):
        scan_corpus(spec_from_module(nn.GRU(2, 3, bidirectional=True)), x, feature)
