"""Evidence for the usual claims about RNN vs LSTM vs GRU, measured on gatescope's own models.

For every task, the shipped RNN, LSTM and GRU were trained with the same budget and seed. This
module re-measures, per model: the held-out metric (re-evaluated from the checkpoint, not copied
from the card), the parameter count, and the wall time of one training step, timed in this process
on fresh models with interleaved rounds (median), so that the three architectures share whatever
else the machine is doing. Optionally it also trains the adding problem at other lengths T with the
shipped adding models' budget, to see which architecture holds up as sequences grow.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from gatescope.zoo.tasks import TASKS, get_task
from gatescope.zoo.trainer import ARCHS, TrainConfig, count_parameters, load_checkpoint, start_run, train

log = logging.getLogger(__name__)


@dataclass
class Row:
    task: str
    arch: str
    nonlinearity: str
    hidden_size: int
    params: int
    steps: int
    length: int
    metric_name: str
    metric: float
    card_metric: float | None  # what the card says (None for models trained here)
    ms_per_step: float


def time_steps(configs: list[TrainConfig], steps: int, rounds: int) -> list[float]:
    """Median milliseconds per training step of each config, timed in interleaved rounds."""
    runs = [start_run(replace(config, steps=max(config.steps, 1))) for config in configs]
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for run, sample in zip(runs, samples, strict=True):
            run.step()  # warm-up, untimed
            start = time.perf_counter()
            for _ in range(steps):
                run.step()
            sample.append(1000 * (time.perf_counter() - start) / steps)
    return [statistics.median(sample) for sample in samples]


def measure_models(directory: str | Path, timing_steps: int, rounds: int) -> list[Row]:
    """A row per checkpoint card in ``directory``, in task order, then rnn, lstm, gru."""
    task_order, arch_order = list(TASKS), list(ARCHS)
    cards = []
    for path in sorted(Path(directory).glob("*.json")):
        module, head, card = load_checkpoint(path)
        config = TrainConfig(**card["config"])
        assert config.length is not None
        metric = get_task(config.task).evaluate(module, head, config.length)
        cards.append((config, card, module, metric))
        log.info(
            "%s: held-out %s = %.4g (card %.4g)",
            card["id"],
            card["metric"]["name"],
            metric,
            card["metric"]["value"],
        )
    cards.sort(key=lambda c: (task_order.index(c[0].task), arch_order.index(c[0].arch), c[1]["id"]))
    timings = time_steps([c[0] for c in cards], timing_steps, rounds)
    return [
        row(config, count_parameters(module), metric, card["metric"]["value"], ms)
        for (config, card, module, metric), ms in zip(cards, timings, strict=True)
    ]


def row(config: TrainConfig, params: int, metric: float, card_metric: float | None, ms: float) -> Row:
    assert config.length is not None and config.nonlinearity is not None
    return Row(
        config.task,
        config.arch,
        config.nonlinearity,
        config.hidden_size,
        params,
        config.steps,
        config.length,
        get_task(config.task).metric_name,
        metric,
        card_metric,
        ms,
    )


def train_lengths(base: list[TrainConfig], lengths: list[int], timing_steps: int, rounds: int) -> list[Row]:
    """Train each config in ``base`` again at every length in ``lengths``; a row per model."""
    rows = []
    for length in lengths:
        configs = [replace(config, length=length) for config in base]
        timings = time_steps(configs, timing_steps, rounds)
        for config, ms in zip(configs, timings, strict=True):
            log.info("training: %s", config.command())
            result = train(config)
            rows.append(
                row(config.resolved(), result.card["params"], result.card["metric"]["value"], None, ms)
            )
    return rows


def markdown(rows: list[Row]) -> str:
    lines = [
        "| task | length | arch | hidden | params | steps | held-out metric | ms / step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        task = get_task(r.task)
        arch = r.arch.upper() + (f" ({r.nonlinearity})" if r.arch == "rnn" else "")
        better = "higher" if task.higher_is_better else "lower"
        metric = f"{r.metric_name} {r.metric:.4g} ({better} is better)"
        lines.append(
            f"| {r.task} | {r.length} | {arch} | {r.hidden_size} | {r.params:,} | {r.steps:,} | "
            f"{metric} | {r.ms_per_step:.2f} |"
        )
    return "\n".join(lines) + "\n"


def report(
    directory: str | Path = "models",
    timing_steps: int = 20,
    rounds: int = 5,
    sweeps: dict[str, list[int]] | None = None,
    threads: int = 1,
) -> str:
    """The evidence table (markdown) for the checkpoints in ``directory``.

    ``sweeps`` maps a task to more lengths at which to train its shipped models' configs again,
    e.g. ``{"adding": [50, 200]}``: the same budget on longer (or shorter) sequences.
    """
    torch.set_num_threads(threads)
    sweeps = sweeps or {}
    for task, lengths in sweeps.items():
        for length in lengths:
            get_task(task).check_length(length)
    rows = measure_models(directory, timing_steps, rounds)
    if not rows:
        raise ValueError(f"no checkpoint cards (*.json) in {directory}")
    for task, lengths in sweeps.items():
        base = [_config_of(directory, r.task, r.arch) for r in rows if r.task == task]
        rows += train_lengths(base, lengths, timing_steps, rounds)
    rows.sort(key=lambda r: (list(TASKS).index(r.task), r.length, list(ARCHS).index(r.arch)))
    return markdown(rows)


def parse_sweep(text: str) -> tuple[str, list[int]]:
    """``"adding=50,200"`` -> ``("adding", [50, 200])``; ValueError if malformed."""
    task, _, lengths = text.partition("=")
    try:
        values = [int(v) for v in lengths.split(",") if v]
    except ValueError:
        values = []
    if not values:
        raise ValueError(f"a sweep is TASK=LENGTH[,LENGTH...], e.g. adding=50,200; got {text!r}")
    get_task(task)
    return task, values


def _config_of(directory: str | Path, task: str, arch: str) -> TrainConfig:
    _, _, card = load_checkpoint(Path(directory) / f"{task}-{arch}.json")
    return TrainConfig(**card["config"])
