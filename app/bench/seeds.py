"""Seeds: is a difference between RNN, LSTM and GRU bigger than what the seed alone changes?

    gatescope seeds [--models models] [--seeds 0,1,2,3,4] [--write]

For every shipped card, the same config (task, size, budget, learning rate) is trained again with
each seed; seed 0 is the shipped model itself. Each seed's held-out metric and its wall time per
training step are kept in the card (``"seeds"``), with their mean, spread and range.

A verdict between two architectures of a task needs more than the means: with five seeds each,
"every seed of A beats every seed of B" (Mann-Whitney U = 0) happens by chance with probability
2/252 ≈ 0.008 when both come from one distribution. `verdict` says "A better" only then, and
"no difference at this budget" otherwise.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from gatescope.zoo.trainer import TrainConfig, load_checkpoint, train

log = logging.getLogger(__name__)


def summary(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation, median, min and max of ``values``."""
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def seed_runs(card_path: Path, seeds: list[int]) -> list[dict[str, Any]]:
    """Per seed: its held-out metric and ms per training step (seed 0: the shipped checkpoint)."""
    _, _, card = load_checkpoint(card_path)
    config = TrainConfig(**card["config"])
    runs = []
    for seed in seeds:
        if seed == config.seed:
            metric, seconds = card["metric"]["value"], card["training"]["seconds_per_step"]
        else:
            log.info("training %s with seed %d", card["id"], seed)
            result = train(replace(config, seed=seed))
            metric, seconds = result.card["metric"]["value"], result.card["training"]["seconds_per_step"]
        runs.append({"seed": seed, "metric": metric, "ms_per_step": 1000 * seconds})
    return runs


def with_seeds(card: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The card with every seed's run and the summaries of their metric and step time."""
    return {
        **card,
        "seeds": {
            "runs": runs,
            "metric": summary([r["metric"] for r in runs]),
            "ms_per_step": summary([r["ms_per_step"] for r in runs]),
            "command": f"gatescope seeds --seeds {','.join(str(r['seed']) for r in runs)}",
        },
    }


def verdict(a: list[float], b: list[float], higher_is_better: bool) -> str:
    """'a', 'b' or 'none': which set is better in every one of its seeds (Mann-Whitney U = 0)."""
    if len(a) < 5 or len(b) < 5:
        return "none"  # fewer seeds cannot reach p < 0.01 this way
    better_a = min(a) > max(b) if higher_is_better else max(a) < min(b)
    better_b = min(b) > max(a) if higher_is_better else max(b) < min(a)
    return "a" if better_a else "b" if better_b else "none"


def p_value(n_a: int, n_b: int) -> float:
    """Two-sided p of U = 0 (complete separation) for samples of these sizes: 2 / C(n_a+n_b, n_a)."""
    return 2 / math.comb(n_a + n_b, n_a)


def run(directory: str | Path, seeds: list[int], write: bool, threads: int = 1) -> str:
    """Train every card's config with ``seeds``; return a markdown table (and write the cards)."""
    torch.set_num_threads(threads)
    lines = [
        "| model | seeds | metric mean ± std [min, max] | ms / step median [min, max] |",
        "|---|---|---|---|",
    ]
    for path in sorted(Path(directory).glob("*.json")):
        card = json.loads(path.read_text())
        runs = seed_runs(path, seeds)
        updated = with_seeds(card, runs)
        m, t = updated["seeds"]["metric"], updated["seeds"]["ms_per_step"]
        lines.append(
            f"| {card['id']} | {m['n']} | {m['mean']:.4g} ± {m['std']:.2g} [{m['min']:.4g}, {m['max']:.4g}] "
            f"| {t['median']:.1f} [{t['min']:.1f}, {t['max']:.1f}] |"
        )
        if write:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(json.dumps(updated, indent=2) + "\n")
            os.replace(tmp, path)
        log.info("%s: %s", card["id"], lines[-1])
    return "\n".join(lines) + "\n"
