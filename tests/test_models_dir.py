"""Every shipped checkpoint in models/: it loads, its card is complete and true, and its held-out
metric is reproduced from the weights."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import pytest
import torch

from gatescope.cli import add_train_arguments, train_config
from gatescope.engine import trace
from gatescope.zoo.tasks import TASKS, get_task
from gatescope.zoo.trainer import ARCHS, load_checkpoint

MODELS = Path(__file__).resolve().parent.parent / "models"
CARDS = sorted(MODELS.glob("*.json"))
CARD_KEYS = {
    "id", "name", "arch", "input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "params",
    "head_params", "task", "vocab", "preset", "config", "training", "metric", "command",
}  # fmt: skip


def test_models_dir_is_small_and_complete() -> None:
    assert sum(p.stat().st_size for p in MODELS.iterdir()) < 20 * 2**20
    ids = {p.stem for p in CARDS}
    assert ids == {f"{task}-{arch}" for task in TASKS for arch in ARCHS}
    assert {p.stem for p in MODELS.glob("*.safetensors")} == ids
    assert not [p for p in MODELS.iterdir() if p.name.startswith(".")]  # no temporary files


@pytest.mark.parametrize("path", CARDS, ids=[p.stem for p in CARDS])
def test_checkpoint_loads_and_its_card_is_true(path: Path) -> None:
    module, head, card = load_checkpoint(path)
    assert set(card) >= CARD_KEYS
    task = get_task(card["task"])
    assert card["id"] == path.stem == f"{task.name}-{card['arch']}"
    assert card["params"] == sum(p.numel() for p in module.parameters())
    assert card["head_params"] == sum(p.numel() for p in head.parameters())
    assert (card["input_size"], card["vocab"]) == (task.input_size, task.vocab)
    assert card["nonlinearity"] == getattr(module, "nonlinearity", "tanh")
    assert card["preset"] == task.preset()
    assert card["training"]["steps"] == card["config"]["steps"] and not card["training"]["stopped"]
    # the command on the card asks for exactly the config on the card
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    command = shlex.split(card["command"])
    assert command[:2] == ["gatescope", "train"]
    config = train_config(parser.parse_args(command[2:])).resolved()
    assert {**card["config"], "log_every": 0} == {**json.loads(json.dumps(config.__dict__)), "log_every": 0}


@pytest.mark.parametrize("path", CARDS, ids=[p.stem for p in CARDS])
def test_held_out_metric_is_reproduced(path: Path) -> None:
    module, head, card = load_checkpoint(path)
    task = get_task(card["task"])
    value = task.evaluate(module, head, card["config"]["length"])
    assert value == pytest.approx(card["metric"]["value"], rel=1e-3, abs=1e-5)


@pytest.mark.parametrize("path", CARDS, ids=[p.stem for p in CARDS])
def test_preset_traces_with_the_task_objective(path: Path) -> None:
    module, head, card = load_checkpoint(path)
    task = get_task(card["task"])
    preset = card["preset"]
    x = task.encode(preset["text"]) if "text" in preset else torch.tensor(preset["inputs"])
    tr = trace(module, x, objective=task.objective(head, x))
    assert tr.steps == x.shape[0] and torch.isfinite(tr.layers[-1].grad_hidden).all()
