"""The training pipeline on tiny budgets: every task and architecture, reproducibility, limits, stop,
checkpoints that round-trip, and the `gatescope train` command."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch

from gatescope.cli import main
from gatescope.engine import trace
from gatescope.zoo.tasks import TASKS, get_task
from gatescope.zoo.trainer import (
    TrainConfig,
    TrainEvent,
    TrainResult,
    load_checkpoint,
    save_checkpoint,
    train,
    train_steps,
)

TINY_LENGTH = {"charlm": 12, "adding": 10, "recall": 4, "anbn": 3, "sines": 14}


def tiny(task: str, arch: str = "lstm", **kw: object) -> TrainConfig:
    options: dict[str, object] = {"hidden_size": 5, "steps": 4, "batch_size": 3, "length": TINY_LENGTH[task]}
    options |= kw
    return TrainConfig(task=task, arch=arch, log_every=2, **options)  # type: ignore[arg-type]


def weights(result: TrainResult) -> dict[str, torch.Tensor]:
    return {**result.module.state_dict(), **{f"head.{k}": v for k, v in result.head.state_dict().items()}}


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru"])
def test_every_task_and_arch_trains_on_a_tiny_budget(task: str, arch: str) -> None:
    events = list(train_steps(tiny(task, arch)))
    progress, result = events[:-1], events[-1]
    assert [e.step for e in progress if isinstance(e, TrainEvent)] == [2, 4]
    assert isinstance(result, TrainResult)
    first = progress[0]
    assert isinstance(first, TrainEvent)
    assert first.params == sum(p.numel() for p in result.module.parameters())
    assert first.seconds_per_step > 0 and torch.isfinite(torch.tensor([first.loss, first.metric])).all()
    card = result.card
    assert card["id"] == f"{task}-{arch}" and card["task"] == task and card["arch"] == arch
    assert card["input_size"] == get_task(task).input_size
    assert card["nonlinearity"] == ("relu" if (arch, task) == ("rnn", "anbn") else "tanh")
    assert card["training"]["steps"] == 4 and not card["training"]["stopped"]
    assert card["metric"]["split"] == "held-out" and isinstance(card["metric"]["value"], float)
    assert card["config"]["length"] == TINY_LENGTH[task]
    json.dumps(card)  # the card is plain JSON


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    a, b = train(tiny("adding", "gru")), train(tiny("adding", "gru"))
    c = train(tiny("adding", "gru", seed=1))
    for name, value in weights(a).items():
        assert torch.equal(value, weights(b)[name]), name
    assert not torch.equal(weights(a)["weight_hh_l0"], weights(c)["weight_hh_l0"])
    assert a.card["metric"] == b.card["metric"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task": "parity"}, "known tasks: charlm, adding"),
        ({"arch": "transformer"}, "choose one of rnn, lstm, gru"),
        ({"hidden_size": 0}, "hidden_size must be an integer from 1 to 512"),
        ({"hidden_size": 10_000}, "hidden_size must be an integer from 1 to 512"),
        ({"num_layers": 5}, "num_layers must be an integer from 1 to 4"),
        ({"steps": 10**6}, "steps must be an integer from 1 to 100000"),
        ({"batch_size": 2.5}, "batch_size must be an integer"),
        ({"lr": 0}, "lr must be a number greater than 0 and at most 1.0"),
        ({"length": 1}, "sequence length T must be between 2 and 2000"),
        ({"nonlinearity": "sigmoid"}, "nonlinearity must be 'tanh' or 'relu'"),
        ({"nonlinearity": "relu", "arch": "gru"}, "plain RNN only"),
    ],
)
def test_bad_configs_say_what_is_allowed(change: dict[str, object], message: str) -> None:
    config = tiny("adding", **change) if "task" not in change else TrainConfig(task="parity")
    with pytest.raises(ValueError, match=message):
        config.validate()
    with pytest.raises(ValueError, match=message):
        next(train_steps(config))


def test_recall_with_no_gap_is_a_length_not_the_default() -> None:
    assert tiny("recall", length=0).resolved().length == 0
    assert TrainConfig(task="recall").resolved().length == get_task("recall").default_length
    assert train(tiny("recall", length=0)).card["preset"]["text"].startswith("C")


def test_stop_ends_early_with_a_usable_model() -> None:
    polls = iter(range(100))
    events = list(train_steps(tiny("sines", steps=50), should_stop=lambda: next(polls) >= 3))
    result = events[-1]
    assert isinstance(result, TrainResult)
    assert result.card["training"]["stopped"] and result.card["training"]["steps"] == 3


def test_checkpoint_round_trips_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    result = train(tiny("recall", "lstm", num_layers=2))
    path = save_checkpoint(result, tmp_path)
    assert path == tmp_path / "recall-lstm.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recall-lstm.json", "recall-lstm.safetensors"]
    module, head, card = load_checkpoint(path)
    assert card == json.loads(json.dumps(result.card))
    x = get_task("recall").encode("B....?")
    assert torch.equal(head(module(x)[0]), result.head(result.module(x)[0]))
    assert not module.training
    # the card's sizes are the module's, and the engine traces it with the task's objective
    assert (card["hidden_size"], card["num_layers"], card["params"]) == (
        5,
        2,
        sum(p.numel() for p in module.parameters()),
    )
    tr = trace(module, x, objective=get_task("recall").objective(head, x))
    with torch.no_grad():
        expected = float(get_task("recall").loss(head(module(x)[0]).unsqueeze(0), torch.tensor([1])))
    assert tr.loss == pytest.approx(expected)


def test_saving_over_a_checkpoint_replaces_it(tmp_path: Path) -> None:
    save_checkpoint(train(tiny("anbn", "rnn")), tmp_path)
    second = train(tiny("anbn", "rnn", seed=3))
    path = save_checkpoint(second, tmp_path, model_id="mine")
    assert {p.name for p in tmp_path.iterdir()} == {
        "anbn-rnn.json",
        "anbn-rnn.safetensors",
        "mine.json",
        "mine.safetensors",
    }
    assert load_checkpoint(path)[2]["id"] == "mine"
    with pytest.raises(ValueError, match="bad model id"):
        save_checkpoint(second, tmp_path, model_id="../evil")


def test_the_cards_command_reproduces_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = train(tiny("charlm", "gru"))
    command = shlex.split(result.card["command"])
    assert command[:2] == ["gatescope", "train"]
    assert main([*command[1:], "--out", str(tmp_path)]) == 0
    assert "held-out bits per character" in capsys.readouterr().out
    module, head, _ = load_checkpoint(tmp_path / "charlm-gru.json")
    for name, value in {
        **module.state_dict(),
        **{f"head.{k}": v for k, v in head.state_dict().items()},
    }.items():
        assert torch.equal(value, weights(result)[name]), name


def test_train_command_refuses_bad_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--task", "adding", "--hidden", "0", "--out", str(tmp_path)]) == 2
    assert "hidden_size must be an integer from 1 to 512" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
