"""Units that mean something across a corpus: each unit's correlation with a feature of the text.

Karpathy, Johnson & Fei-Fei (2015) found LSTM cells that track quotes, line length and indentation
by looking at them. Here a per-character feature f_t of the text is computed (built in, or 1 inside
a regex's matches), the model is run over the text, and every unit's per-step value v_t (its
hidden state or a gate) is scored by the Pearson correlation

    r = Σ (v_t - v̄)(f_t - f̄) / sqrt(Σ (v_t - v̄)² · Σ (f_t - f̄)²)

A unit (or a feature) whose values do not vary (standard deviation below 1e-9) has no correlation
to speak of: it scores 0.

Built-in features, at each character t of the text (the character itself included):
    quotes          1 from an opening ' or " through its closing match, else 0 (no escapes; a
                    triple quote reads as three quote characters, which comes out the same)
    nesting         how many ( [ { are open; an opener and its closer count as inside
    brackets        1 where nesting > 0, else 0
    line_position   the column: characters since the last newline (a newline has its own)
    indentation     the leading spaces of the character's line
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from gatescope.engine.gradflow import forward_layers
from gatescope.engine.spec import RecurrentSpec

FEATURES = ("quotes", "brackets", "line_position", "indentation", "nesting")
OPENERS, CLOSERS = "([{", ")]}"


@dataclass(frozen=True)
class UnitScore:
    layer: int
    unit: int
    score: float


def _quotes(text: str) -> Iterable[float]:
    open_quote: str | None = None
    for ch in text:
        if open_quote is None and ch in "'\"":
            open_quote = ch
            yield 1.0
        elif open_quote is not None and ch == open_quote:
            open_quote = None
            yield 1.0
        else:
            yield 0.0 if open_quote is None else 1.0


def _nesting(text: str) -> Iterable[float]:
    depth = 0
    for ch in text:
        if ch in OPENERS:
            depth += 1
            yield float(depth)
        elif ch in CLOSERS:
            yield float(depth)
            depth = max(0, depth - 1)
        else:
            yield float(depth)


def _line_position(text: str) -> Iterable[float]:
    column = 0
    for ch in text:
        yield float(column)
        column = 0 if ch == "\n" else column + 1


def _indentation(text: str) -> Iterable[float]:
    for line in text.splitlines(keepends=True):
        indent = len(line) - len(line.lstrip(" "))
        yield from [float(indent)] * len(line)


def feature_values(text: str, feature: str | dict[str, str]) -> Tensor:
    """The feature at every character of ``text`` (T,), float64: a built-in name (see the module
    docstring) or ``{"regex": pattern}`` (1 inside its matches, 0 outside). ValueError for an
    unknown feature or a pattern that does not compile, saying why."""
    if isinstance(feature, dict):
        try:
            pattern = re.compile(feature["regex"])
        except (re.error, KeyError) as exc:
            raise ValueError(f"feature.regex does not compile: {exc}") from None
        values = torch.zeros(len(text), dtype=torch.float64)
        for match in pattern.finditer(text):
            values[match.start() : match.end()] = 1.0
        return values
    makers = {
        "quotes": _quotes,
        "nesting": _nesting,
        "brackets": lambda t: (float(d > 0) for d in _nesting(t)),
        "line_position": _line_position,
        "indentation": _indentation,
    }
    if feature not in makers:
        raise ValueError(f"unknown feature {feature!r}: use one of {', '.join(FEATURES)} or {{'regex': ...}}")
    return torch.tensor(list(makers[feature](text)), dtype=torch.float64)


def correlations(values: Tensor, feature: Tensor) -> Tensor:
    """Pearson r of each column of ``values`` (T, U) with ``feature`` (T,), float64 (U,); 0 where
    either does not vary (std < 1e-9)."""
    v = values.double() - values.double().mean(0)
    f = feature.double() - feature.double().mean()
    steps = max(1, v.shape[0])
    v_norm, f_norm = v.pow(2).sum(0).sqrt(), f.pow(2).sum().sqrt()
    varies = (v_norm / steps**0.5 >= 1e-9) & (f_norm / steps**0.5 >= 1e-9)
    r = (v.T @ f) / (v_norm * f_norm).clamp_min(1e-300)
    return torch.where(varies, r, torch.zeros_like(r))


def quantities(spec: RecurrentSpec) -> tuple[str, ...]:
    return ("hidden",) + (("cell",) if spec.arch == "lstm" else ()) + spec.gate_names


def unit_scores(spec: RecurrentSpec, x: Tensor, feature: Tensor, quantity: str = "hidden") -> list[UnitScore]:
    """Every unit of every layer scored against ``feature`` (T,) over the input ``x`` (T, I), by
    |score| descending (ties: lower layer, then lower unit). ValueError for a quantity the model
    lacks, or a feature whose length is not x's."""
    allowed = quantities(spec)
    if quantity not in allowed:
        names = ", ".join(map(repr, allowed))
        raise ValueError(f"quantity {quantity!r} is not one of this {spec.arch.upper()}'s: {names}")
    if feature.shape[0] != x.shape[0]:
        raise ValueError(f"the feature has {feature.shape[0]} steps but the input {x.shape[0]}")
    passes, _, _ = forward_layers(spec, x, spec.num_layers - 1)
    scores = []
    for layer, p in enumerate(passes):
        values = p.hidden if quantity == "hidden" else p.cell if quantity == "cell" else p.gates[quantity]
        assert values is not None
        for unit, r in enumerate(correlations(values, feature).tolist()):
            scores.append(UnitScore(layer, unit, r))
    return sorted(scores, key=lambda s: (-abs(s.score), s.layer, s.unit))
