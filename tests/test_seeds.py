"""Seeds (gatescope.bench.seeds): every shipped card keeps five seeds' metrics, seed 0 is the shipped
model itself, and a verdict needs every seed of one architecture to beat every seed of the other."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from gatescope.bench.seeds import p_value, summary, verdict

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.mark.parametrize("card_path", sorted(MODELS.glob("*.json")), ids=lambda p: p.stem)
def test_every_shipped_card_keeps_five_seeds(card_path: Path) -> None:
    card = json.loads(card_path.read_text())
    runs = card["seeds"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1, 2, 3, 4]
    assert runs[0]["metric"] == card["metric"]["value"]  # seed 0 is the shipped checkpoint
    metrics = [r["metric"] for r in runs]
    stats = card["seeds"]["metric"]
    assert stats["mean"] == pytest.approx(statistics.fmean(metrics))
    assert stats["std"] == pytest.approx(statistics.stdev(metrics))
    assert (stats["min"], stats["max"]) == (min(metrics), max(metrics))
    assert card["seeds"]["ms_per_step"]["median"] == pytest.approx(
        statistics.median(r["ms_per_step"] for r in runs)
    )


def test_a_verdict_needs_complete_separation() -> None:
    lower_better = [1.0, 1.1, 1.2, 1.3, 1.4]
    assert verdict(lower_better, [2.0, 2.1, 2.2, 2.3, 2.4], higher_is_better=False) == "a"
    assert verdict([2.0, 2.1, 2.2, 2.3, 2.4], lower_better, higher_is_better=False) == "b"
    assert verdict(lower_better, [1.35, 2.1, 2.2, 2.3, 2.4], higher_is_better=False) == "none"  # one overlap
    assert verdict([1.0] * 4, [2.0] * 4, higher_is_better=False) == "none"  # four seeds cannot reach p < 0.01
    assert verdict([5, 6, 7, 8, 9], [1, 2, 3, 4, 4.5], higher_is_better=True) == "a"


def test_the_p_value_of_complete_separation_is_exact() -> None:
    # Brute force: of the C(10, 5) ways to split ten ranks, 2 separate them completely.
    assert p_value(5, 5) == pytest.approx(2 / math.comb(10, 5)) and p_value(5, 5) < 0.01
    assert summary([1.0, 3.0])["std"] == pytest.approx(math.sqrt(2))
