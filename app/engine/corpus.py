"""Units across a corpus, read in chunks: scores with progress, then each top unit's most telling snippets.

A corpus (up to hundreds of thousands of characters) is read ``chunk`` steps at a time. Every
layer's state (h, and c for an LSTM) at the end of a chunk is the next chunk's initial state, so
the chunks make one run over the whole text; only the input projections are batched per chunk,
which moves the values by float32 rounding at most (tests/test_corpus.py holds them to the
one-shot `forward_layers`). Every unit's Pearson r with the feature is accumulated exactly over
all steps (`RunningPearson`, float64). `scan_corpus` is a generator: it yields a `Progress` after
every chunk (the caller may stop there: a cancel, a dropped connection) and returns the
`CorpusResult`. The POST route and the WebSocket run the same generator with the same chunk, so
their answers are the same numbers.

Most telling snippets. For a unit with corpus correlation r, a window w of n characters scores

    agreement(w) = sign(r) · Σ_{t in w} (v_t - v̄_w)(f_t - f̄_w) / (n · σ_v · σ_f)

the unit's covariance with the feature inside the window (about the window's own means), in the
corpus's standard deviations σ_v, σ_f. It equals the window's own correlation times how much the
unit and the feature vary there compared to the whole corpus. The snippets are the windows with
the largest agreement, chosen greedily without overlap. Why this measure and not another:
  - a window where the feature does not change (inside one long docstring, or in code with no
    string) scores 0: it cannot show the unit *following* the feature, however extreme the unit
    is there. The windows chosen are those where a span starts or ends and the unit moves with it;
  - the largest |activation| inside the feature's spans only exists for a 0/1 feature, and does
    not care whether the unit is also high outside them (a unit that is always high would win);
  - a window's own correlation alone rewards a unit that barely wiggles in step with the feature
    (r = 1 from a change of 0.001); scaled by σ_v·σ_f, the change must be as large as the unit's
    usual range to count;
  - each window's share of the corpus-wide r (the sum of (v_t - v̄)(f_t - f̄) over it) was tried
    first: on the charlm models it picked windows with no span in them at all, where the unit
    sat far from its mean on the feature's "off" side.
Each snippet also reports its own Pearson r (``local_r``; 0 where either side is constant there).
To show the snippets the corpus is read a second time, recording only the top units' values,
so memory stays (T x top units), not (T x every unit).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from gatescope.engine.gradflow import forward_layers
from gatescope.engine.spec import RecurrentSpec
from gatescope.engine.units import RunningPearson, UnitScore, quantities

#: Steps per chunk: a progress report every few hundred milliseconds on a small model.
CHUNK = 2048


@dataclass(frozen=True)
class Progress:
    done: int  # steps read so far, over both passes
    total: int  # steps to read: T, or 2T when snippets are asked for
    phase: str  # "scores" (every unit) or "snippets" (the top units' values)


@dataclass(frozen=True)
class Snippet:
    start: int  # the window is steps start <= t < end
    end: int
    values: Tensor  # (end - start,) float64, the unit's quantity
    agreement: float  # see the module docstring
    local_r: float  # Pearson r of the unit with the feature inside the window


@dataclass(frozen=True)
class UnitSnippets:
    layer: int
    unit: int
    score: float
    low: float  # the unit's smallest and largest value over the corpus (the colors' range)
    high: float
    snippets: list[Snippet]


@dataclass(frozen=True)
class CorpusResult:
    scores: list[UnitScore]  # every unit of every layer, by |score| descending
    feature_mean: float
    units: list[UnitSnippets]  # the first ``snippet_units`` scores, with their snippets


def chunked_values(
    spec: RecurrentSpec, x: Tensor, quantity: str, chunk: int = CHUNK
) -> Iterator[list[Tensor]]:
    """Each layer's ``quantity`` over the steps of each chunk of ``x`` (T, I): per chunk a list of
    (n, H) tensors, bottom layer first. The state is carried from chunk to chunk."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1 step, got {chunk}")
    top = spec.num_layers - 1
    # One row per layer (of its own width: a stack's layers may differ); zeros at first, as
    # forward_layers starts.
    h0: list[Tensor] | None = None
    c0: list[Tensor] | None = None
    for start in range(0, x.shape[0], chunk):
        passes, _, _ = forward_layers(spec, x[start : start + chunk], top, h0, c0)
        # The kernels record a graph for gradients; detached, no chunk keeps the previous alive.
        h0 = [p.hidden[-1].detach() for p in passes]
        if spec.arch == "lstm":
            c0 = [p.cell[-1].detach() for p in passes if p.cell is not None]
        values = []
        for p in passes:
            picked = p.hidden if quantity == "hidden" else p.cell if quantity == "cell" else p.gates[quantity]
            assert picked is not None  # quantity was checked against the arch
            values.append(picked.detach())
        yield values


def window_agreement(values: Tensor, feature: Tensor, width: int, std_v: float, std_f: float) -> Tensor:
    """agreement(w) (module docstring, without the sign of r) of every window of ``width`` steps:
    (T - width + 1,), the window starting at each step. Prefix sums in float64."""
    v, f = values.double(), feature.double()
    zero = v.new_zeros(1)
    sums = [torch.cat([zero, series.cumsum(0)]) for series in (v, f, v * f)]  # (T + 1,) each
    s_v, s_f, s_vf = (p[width:] - p[:-width] for p in sums)  # (T - width + 1,) each
    covariance = (s_vf - s_v * s_f / width) / width
    return covariance / max(std_v * std_f, 1e-300)


def local_r(values: Tensor, feature: Tensor) -> float:
    """Pearson r of two short series; 0 where either is constant (std below 1e-9)."""
    v, f = values.double() - values.double().mean(), feature.double() - feature.double().mean()
    steps = max(1, v.shape[0])
    norm_v, norm_f = float(v.norm()), float(f.norm())
    if norm_v / steps**0.5 < 1e-9 or norm_f / steps**0.5 < 1e-9:
        return 0.0
    return float(v @ f) / (norm_v * norm_f)


def telling_windows(scores: Tensor, width: int, count: int) -> list[tuple[int, float]]:
    """Up to ``count`` non-overlapping windows of ``width`` steps, by ``scores`` (one per start,
    (T - width + 1,)), positive ones only: [(start, score)], largest first. Greedy: the best
    window, then the best of those that do not overlap it, and so on."""
    free = torch.ones_like(scores, dtype=torch.bool)
    chosen: list[tuple[int, float]] = []
    while len(chosen) < count and scores.numel():
        candidates = torch.where(free, scores, torch.full_like(scores, -torch.inf))
        start = int(candidates.argmax())
        best = float(candidates[start])
        if not best > 0:
            break
        chosen.append((start, best))
        free[max(0, start - width + 1) : start + width] = False
    return chosen


def scan_corpus(
    spec: RecurrentSpec,
    x: Tensor,
    feature: Tensor,
    quantity: str = "hidden",
    *,
    snippet_units: int = 5,
    snippets: int = 3,
    window: int = 72,
    chunk: int = CHUNK,
) -> Generator[Progress, None, CorpusResult]:
    """Score every unit's ``quantity`` over the corpus ``x`` (T, I) against ``feature`` (T,), then
    find the ``snippets`` most telling windows of ``window`` steps for each of the first
    ``snippet_units`` units (see the module docstring). The returned generator yields a Progress
    after every chunk and returns the CorpusResult. ValueError, at once (before any step is read),
    for a quantity the model lacks, a feature whose length is not x's, or a model the analysis
    does not take (bidirectional, projected)."""
    allowed = quantities(spec)
    if quantity not in allowed:
        names = ", ".join(map(repr, allowed))
        raise ValueError(f"quantity {quantity!r} is not one of this {spec.arch.upper()}'s: {names}")
    if feature.shape[0] != x.shape[0]:
        raise ValueError(f"the feature has {feature.shape[0]} steps but the input {x.shape[0]}")
    if window < 1 or chunk < 1:
        raise ValueError(f"window and chunk must be at least 1 step, got {window} and {chunk}")
    if spec.reverse is not None or spec.proj_size:
        forward_layers(spec, x[:1], 0)  # raises the gradient-flow analyses' ValueError, saying why
    if spec.right_to_left:
        raise ValueError(
            "this model reads its input right to left, and a corpus is read in chunks from its "
            "start, carrying the state forward: the units view takes models that read left to right"
        )
    return _scan(spec, x, feature.double(), quantity, snippet_units, snippets, window, chunk)


def _scan(
    spec: RecurrentSpec,
    x: Tensor,
    feature: Tensor,
    quantity: str,
    snippet_units: int,
    snippets: int,
    window: int,
    chunk: int,
) -> Generator[Progress, None, CorpusResult]:
    steps = x.shape[0]
    second_pass = snippet_units > 0 and snippets > 0
    total = steps * (2 if second_pass else 1)

    pearson = [RunningPearson(size) for size in spec.hidden_sizes]  # a stack's layers may differ
    done = 0
    for values in chunked_values(spec, x, quantity, chunk):
        n = values[0].shape[0]
        for layer, v in enumerate(values):
            pearson[layer].add(v, feature[done : done + n])
        done += n
        yield Progress(done, total, "scores")
    scores = [
        UnitScore(layer, unit, r)
        for layer, p in enumerate(pearson)
        for unit, r in enumerate(p.correlations().tolist())
    ]
    scores.sort(key=lambda s: (-abs(s.score), s.layer, s.unit))
    feature_mean = float(pearson[0].mean_f)
    if not second_pass:
        return CorpusResult(scores, feature_mean, [])

    top = scores[:snippet_units]
    series = torch.empty(steps, len(top), dtype=torch.float64)  # (T, top units)
    read = 0
    for values in chunked_values(spec, x, quantity, chunk):
        n = values[0].shape[0]
        for k, s in enumerate(top):
            series[read : read + n, k] = values[s.layer][:, s.unit].double()
        read += n
        yield Progress(steps + read, total, "snippets")

    width = min(window, steps)
    std_f = float((pearson[0].m2_f / steps).sqrt())
    units = []
    for k, s in enumerate(top):
        v = series[:, k]
        chosen: list[tuple[int, float]] = []
        if s.score != 0:
            std_v = float((pearson[s.layer].m2_v[s.unit] / steps).sqrt())
            agreement = window_agreement(v, feature, width, std_v, std_f) * (1.0 if s.score > 0 else -1.0)
            chosen = telling_windows(agreement, width, snippets)
        found = [
            Snippet(
                start,
                start + width,
                v[start : start + width].clone(),
                score,
                local_r(v[start : start + width], feature[start : start + width]),
            )
            for start, score in chosen
        ]
        units.append(UnitSnippets(s.layer, s.unit, s.score, float(v.min()), float(v.max()), found))
    return CorpusResult(scores, feature_mean, units)


def run_to_end(scan: Generator[Progress, None, CorpusResult]) -> CorpusResult:
    """The result of a scan read without stopping (the POST route's way)."""
    while True:
        try:
            next(scan)
        except StopIteration as stop:
            result: CorpusResult = stop.value
            return result
