"""Train a small RNN, LSTM or GRU on a task, and save or load it as a checkpoint.

    config = TrainConfig(task="adding", arch="lstm", hidden_size=32, steps=2000)
    for event in train_steps(config):            # progress every `log_every` steps, then the result
        ...
    save_checkpoint(event, "models")             # models/adding-lstm.safetensors + .json

The model is the task's input fed to an unmodified ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``
(batch_first) and a linear head on the top hidden state at every step:
outputs = head(module(inputs)[0])  # (B, T, output_size). Training is Adam with gradient-norm
clipping. The same config (seed included) gives the same weights: parameters are initialised and
batches drawn from ``torch.Generator``s seeded by ``config.seed``, never from the global RNG. Use
one thread (``torch.set_num_threads(1)``) for bit-identical runs across machines.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gatescope.engine.build import ARCH_TITLES, MODULE_CLASSES, NONLINEARITIES, build_module, seeded_uniform_
from gatescope.settings import Limits
from gatescope.zoo.cards import HEAD_PREFIX, read_checkpoint, write_checkpoint
from gatescope.zoo.tasks import TASKS, Task, get_task

ARCHS = MODULE_CLASSES  # rnn, lstm, gru: the order of every table
MAX_LR = 1.0


@dataclass
class TrainConfig:
    """Everything that determines a trained model. Stored in the checkpoint card as ``config``."""

    task: str
    arch: str = "lstm"
    hidden_size: int = 32
    num_layers: int = 1
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    length: int | None = None  # the task's length parameter (see Task.length_name); None: its default
    nonlinearity: str | None = None  # plain RNN only, "tanh" or "relu"; None: the task's default
    clip: float = 1.0  # gradient-norm clipping
    log_every: int = 10  # yield a progress event every this many steps

    def validate(self, limits: Limits | None = None) -> None:
        """Raise ValueError, saying what is allowed, for any value outside ``limits`` (the
        settings' defaults when None)."""
        limits = limits or Limits()
        task = get_task(self.task)
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        checks = [
            ("hidden_size", self.hidden_size, 1, limits.max_train_hidden),
            ("num_layers", self.num_layers, 1, limits.max_layers),
            ("steps", self.steps, 1, limits.max_train_steps),
            ("batch_size", self.batch_size, 1, limits.max_train_batch),
            ("seed", self.seed, 0, 2**63 - 1),
            ("log_every", self.log_every, 1, limits.max_train_steps),
        ]
        for name, value, low, high in checks:
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
        if self.length is not None:
            if not isinstance(self.length, int) or isinstance(self.length, bool):
                raise ValueError(f"length must be an integer, got {self.length!r}")
            task.check_length(self.length)
        reals: list[tuple[str, float, float]] = [("lr", self.lr, MAX_LR), ("clip", self.clip, float("inf"))]
        for real_name, number, most in reals:
            if not isinstance(number, int | float) or isinstance(number, bool) or not 0 < number <= most:
                raise ValueError(
                    f"{real_name} must be a number greater than 0 and at most {most}, got {number!r}"
                )
        if self.nonlinearity is not None:
            if self.nonlinearity not in NONLINEARITIES:
                raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {self.nonlinearity!r}")
            if self.arch != "rnn" and self.nonlinearity != "tanh":
                raise ValueError(f"nonlinearity applies to the plain RNN only, not to arch={self.arch!r}")

    def resolved(self, limits: Limits | None = None) -> TrainConfig:
        """A validated copy with the task's defaults filled in (what the card stores)."""
        self.validate(limits)
        task = get_task(self.task)
        nonlinearity = self.nonlinearity or (task.default_nonlinearity if self.arch == "rnn" else "tanh")
        length = task.default_length if self.length is None else self.length
        return replace(self, length=length, nonlinearity=nonlinearity)

    def command(self) -> str:
        """The ``gatescope train`` command that reproduces this config."""
        config = self.resolved()
        parts = [
            f"gatescope train --task {config.task} --arch {config.arch} --hidden {config.hidden_size}",
            f"--layers {config.num_layers} --steps {config.steps} --batch {config.batch_size}",
            f"--lr {config.lr!r} --seed {config.seed} --length {config.length} --clip {config.clip!r}",
        ]
        if config.arch == "rnn":
            parts.append(f"--nonlinearity {config.nonlinearity}")
        return " ".join(parts)


@dataclass
class TrainEvent:
    """Progress: the training loss and task metric on the current batch, averaged timing."""

    step: int
    steps: int
    loss: float
    metric: float
    seconds_per_step: float  # wall time per step since the previous event
    params: int  # recurrent module parameters


@dataclass
class TrainResult:
    """The trained model and its card; the last thing `train_steps` yields."""

    module: nn.RNNBase
    head: nn.Linear
    card: dict[str, Any] = field(default_factory=dict)


def build_model(config: TrainConfig) -> tuple[nn.RNNBase, nn.Linear]:
    """The module and head for ``config``, initialised from ``config.seed`` alone.

    Every parameter is drawn from U(-1/√H, 1/√H): torch's own default for recurrent modules, and
    the same range as its default for a Linear layer whose fan-in is H.
    """
    config = config.resolved()
    task = get_task(config.task)
    generator = torch.Generator().manual_seed(config.seed)
    module = build_module(
        config.arch,
        task.input_size,
        config.hidden_size,
        config.num_layers,
        config.nonlinearity or "tanh",
        generator=generator,
        batch_first=True,
    ).train()
    head = nn.Linear(config.hidden_size, task.output_size)
    seeded_uniform_(head.parameters(), config.hidden_size, generator)  # drawn after the module's
    return module, head


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@dataclass
class Run:
    """One training run's state: the model, its optimizer and its stream of batches."""

    config: TrainConfig  # resolved
    task: Task
    module: nn.RNNBase
    head: nn.Linear
    optimizer: torch.optim.Optimizer
    data: torch.Generator

    def step(self) -> tuple[Tensor, Tensor, Tensor]:
        """One Adam step on a fresh batch; returns (loss, outputs, targets)."""
        assert self.config.length is not None  # resolved
        inputs, targets = self.task.batch(self.config.batch_size, self.config.length, self.data)
        hidden, _ = self.module(inputs)  # (B, T, H)
        outputs = self.head(hidden)  # (B, T, output_size)
        loss = self.task.loss(outputs, targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_([*self.module.parameters(), *self.head.parameters()], self.config.clip)
        self.optimizer.step()
        return loss.detach(), outputs.detach(), targets


def start_run(config: TrainConfig) -> Run:
    """A fresh run for ``config`` (validated here): initial weights and data seeded by config.seed."""
    config = config.resolved()
    module, head = build_model(config)
    optimizer = torch.optim.Adam([*module.parameters(), *head.parameters()], lr=config.lr)
    data = torch.Generator().manual_seed(config.seed)
    return Run(config, get_task(config.task), module, head, optimizer, data)


def trained_card(run: Run, training: dict[str, Any], value: float) -> dict[str, Any]:
    """The card of a finished run: what it is, how it was trained, its held-out metric ``value``."""
    config, task = run.config, run.task
    name = f"{task.title}, {ARCH_TITLES[config.arch]}"
    if config.arch == "rnn":
        name += f" ({config.nonlinearity})"
    return {
        "id": f"{task.name}-{config.arch}",
        "name": name,
        "arch": config.arch,
        "input_size": task.input_size,
        "hidden_size": config.hidden_size,
        "num_layers": config.num_layers,
        "nonlinearity": config.nonlinearity,
        "bias": True,
        "params": count_parameters(run.module),
        "head_params": count_parameters(run.head),
        "output_size": task.output_size,
        "task": task.name,
        "description": task.description,
        "vocab": task.vocab,
        "output_labels": task.output_labels,
        "preset": task.preset(),
        "config": asdict(config),
        "training": training,
        "metric": {
            "name": task.metric_name,
            "value": value,
            "split": "held-out",
            "higher_is_better": task.higher_is_better,
        },
        "command": config.command(),
    }


def train_steps(
    config: TrainConfig, should_stop: Callable[[], bool] | None = None
) -> Iterator[TrainEvent | TrainResult]:
    """Train, yielding a `TrainEvent` every ``log_every`` steps and then one `TrainResult`.

    ``should_stop`` is polled before every step; when it returns True training ends early and the
    result (with ``card["training"]["stopped"] = True``) is still yielded. Raises ValueError on a
    bad config before doing any work.
    """
    run = start_run(config)
    config, task, module, head = run.config, run.task, run.module, run.head
    assert config.length is not None  # resolved() fills it
    params = count_parameters(module)

    train_seconds, since_event, steps_since = 0.0, 0.0, 0
    stopped, step = False, 0
    for step in range(1, config.steps + 1):
        if should_stop is not None and should_stop():
            stopped, step = True, step - 1
            break
        start = time.perf_counter()
        loss, outputs, targets = run.step()
        elapsed = time.perf_counter() - start
        train_seconds += elapsed
        since_event += elapsed
        steps_since += 1
        if step % config.log_every == 0 or step == config.steps:
            metric = task.metric(outputs, targets)
            yield TrainEvent(step, config.steps, loss.item(), metric, since_event / steps_since, params)
            since_event, steps_since = 0.0, 0

    module.eval()
    training = {
        "steps": step,
        "wall_time_s": round(train_seconds, 3),
        "seconds_per_step": train_seconds / max(step, 1),
        "seed": config.seed,
        "stopped": stopped,
        "threads": torch.get_num_threads(),
    }
    card = trained_card(run, training, value=task.evaluate(module, head, config.length))
    yield TrainResult(module, head, card)


def train(config: TrainConfig) -> TrainResult:
    """Run `train_steps` to the end and return the result."""
    for event in train_steps(config):
        if isinstance(event, TrainResult):
            return event
    raise RuntimeError("train_steps ended without a result")  # unreachable


def save_checkpoint(
    result: TrainResult, directory: str | os.PathLike[str], model_id: str | None = None
) -> Path:
    """Write the trained model as ``<id>.safetensors`` and ``<id>.json`` (`gatescope.zoo.cards`)."""
    model_id = model_id or str(result.card["id"])
    tensors = dict(result.module.state_dict())
    tensors |= {f"{HEAD_PREFIX}{name}": p for name, p in result.head.state_dict().items()}
    return write_checkpoint(directory, model_id, tensors, result.card)


def load_checkpoint(json_path: str | os.PathLike[str]) -> tuple[nn.RNNBase, nn.Linear, dict[str, Any]]:
    """The module (eval mode, batch_first), head and card of a checkpoint written by `save_checkpoint`."""
    card, own, head_tensors, _ = read_checkpoint(json_path)
    if card.get("task") not in TASKS or card.get("arch") not in MODULE_CLASSES:
        raise ValueError(f"{json_path}: not a gatescope checkpoint card (task {card.get('task')!r})")
    module, head = build_model(TrainConfig(**card["config"]))
    module.load_state_dict(own)
    head.load_state_dict(head_tensors)
    module.eval()
    return module, head, card


def trained_id(config: TrainConfig) -> str:
    """The id of a model trained in the page: readable, and unique to its (resolved) config."""
    digest = hashlib.sha256(repr(config).encode()).hexdigest()[:8]
    return (
        f"trained-{config.task}-{config.arch}-h{config.hidden_size}-s{config.seed}-n{config.steps}-{digest}"
    )


def initialization(config: TrainConfig) -> tuple[nn.RNNBase, nn.Linear, dict[str, Any]]:
    """The untrained model a training run starts from, and its card, id ``<trained id>-init``.

    `build_model` draws it from the config's seed alone, so it can be rebuilt at any time (after a
    restart, from the trained model's card) and "before vs after training" stays comparable.
    """
    task = get_task(config.task)
    module, head = build_model(config)
    card: dict[str, Any] = {
        "id": trained_id(config) + "-init",
        "name": f"{task.title}, {ARCH_TITLES[config.arch]} before training (seed {config.seed})",
        "task": config.task,
        "vocab": task.vocab,
        "preset": task.preset(),
        "nonlinearity": config.nonlinearity,
    }
    return module.eval(), head.eval(), card
