"""The tasks: batch shapes and determinism, losses and metrics on known answers, presets, objectives."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gatescope.engine import trace
from gatescope.zoo.tasks import TASKS, get_task
from gatescope.zoo.tasks.anbn import allowed_next, strings
from gatescope.zoo.tasks.charlm import corpus


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def preset_input(name: str) -> torch.Tensor:
    task = get_task(name)
    preset = task.preset()
    if "text" in preset:
        return task.encode(preset["text"])
    return torch.tensor(preset["inputs"])


def test_get_task_names_the_known_tasks() -> None:
    assert set(TASKS) == {"charlm", "adding", "recall", "anbn", "sines"}
    with pytest.raises(ValueError, match="known tasks: charlm, adding, recall, anbn, sines"):
        get_task("parity")


@pytest.mark.parametrize("name", list(TASKS))
def test_batches_are_deterministic_and_well_shaped(name: str) -> None:
    task = get_task(name)
    length = task.min_length + 3
    x1, y1 = task.batch(5, length, gen(1))
    x2, y2 = task.batch(5, length, gen(1))
    x3, _ = task.batch(5, length, gen(2))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert x1.dim() == 3 and x1.shape[0] == 5 and x1.shape[2] == task.input_size
    assert x1.dtype == torch.float32
    outputs = torch.zeros(5, x1.shape[1], task.output_size, requires_grad=True)
    loss = task.loss(outputs, y1)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert outputs.grad is not None and outputs.grad.abs().sum() > 0
    assert isinstance(task.metric(outputs.detach(), y1), float)


@pytest.mark.parametrize("name", list(TASKS))
def test_lengths_out_of_range_raise(name: str) -> None:
    task = get_task(name)
    with pytest.raises(ValueError, match=f"between {task.min_length} and {task.max_length}"):
        task.check_length(task.max_length + 1)


@pytest.mark.parametrize("name", list(TASKS))
def test_preset_objective_is_the_task_loss_and_traces(name: str) -> None:
    task = get_task(name)
    x = preset_input(name)
    assert x.shape[1] == task.input_size and x.shape[0] >= 2
    torch.manual_seed(0)
    module, head = nn.GRU(task.input_size, 6), nn.Linear(6, task.output_size)
    objective = task.objective(head, x)
    hidden, _ = module(x)  # (T, H)
    expected = task.loss(head(hidden).unsqueeze(0), task.targets_for(x))
    assert float(objective(hidden).detach()) == pytest.approx(float(expected.detach()))
    tr = trace(module, x, objective=objective)
    assert tr.loss == pytest.approx(float(expected.detach()), rel=1e-5)
    assert tr.layers[0].grad_hidden.abs().sum() > 0


def test_adding_marks_one_value_in_each_half_and_sums_them() -> None:
    task = get_task("adding")
    x, y = task.batch(64, 20, gen())
    markers = x[..., 1]
    assert torch.equal(markers.sum(dim=1), torch.full((64,), 2.0))
    assert torch.equal(markers[:, :10].sum(dim=1), torch.ones(64))
    assert torch.allclose(y, (x[..., 0] * markers).sum(dim=1))
    assert torch.allclose(task.targets_for(x[3]), y[3:4])
    perfect = torch.zeros(64, 20, 1)
    perfect[:, -1, 0] = y
    assert task.metric(perfect, y) == 0.0


def test_recall_targets_the_first_symbol() -> None:
    task = get_task("recall")
    x, y = task.batch(16, 7, gen())
    assert x.shape == (16, 9, len(task.vocab or []))
    texts = [task.decode(seq) for seq in x]
    assert all(t[1:-1] == "......." and t[-1] == "?" for t in texts)
    assert [t[0] for t in texts] == ["ABCDEFGH"[int(i)] for i in y]
    assert int(task.targets_for(task.encode("D...?"))[0]) == 3
    with pytest.raises(ValueError, match="must start with one of ABCDEFGH"):
        task.targets_for(task.encode("...?"))
    right = nn.functional.one_hot(y, 8).float().unsqueeze(1).expand(16, 9, 8)
    assert task.metric(right, y) == 1.0


def test_anbn_allowed_next_symbols() -> None:
    a, b, end = [1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]
    assert allowed_next([0, 0, 0, 1, 1, 1]).tolist() == [a, a, a, b, b, end]
    # not in the language: nothing may follow once the prefix is broken
    assert allowed_next([0, 1, 1]).tolist() == [a, end, [0.0, 0.0, 0.0]]
    assert allowed_next([1, 0]).tolist() == [[0.0, 0.0, 0.0]] * 2


def test_anbn_strings_match_allowed_next_and_pad() -> None:
    task = get_task("anbn")
    inputs, targets = strings(torch.tensor([3, 1]), 8)
    assert task.decode(inputs[0, :6]) == "aaabbb" and inputs[0, 6:].abs().sum() == 0
    assert torch.equal(targets[0, :6], allowed_next([0, 0, 0, 1, 1, 1]))
    assert (targets[0, 6:] == -1).all() and (targets[1, 2:] == -1).all()
    assert torch.equal(task.targets_for(task.encode("aaabbb"))[0], targets[0, :6])


def test_anbn_metric_is_the_largest_n_with_all_smaller_n_right() -> None:
    task = get_task("anbn")
    _, targets = strings(torch.arange(1, 11), 20)
    logits = torch.where(targets > 0, 5.0, -5.0)  # right everywhere (padding is ignored)
    assert task.metric(logits, targets) == 10.0
    logits[6, 12, 2] = 5.0  # n = 7 says "end" one b early
    assert task.metric(logits, targets) == 6.0
    logits[0, 0, 1] = -5.0  # n = 1 wrong
    assert task.metric(logits, targets) == 0.0


def test_charlm_reads_the_stdlib_and_holds_files_out() -> None:
    train, held_out = corpus("train"), corpus("held-out")
    assert len(train) > 1_000_000 and len(held_out) > 100_000
    task = get_task("charlm")
    x, y = task.batch(2, 50, gen(), split="held-out")
    text = task.decode(x[0])
    assert task.decode(nn.functional.one_hot(y[0], 96))[:-1] == text[1:]
    assert torch.equal(task.encode("\tx"), task.encode("    x"))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        task.encode("naïve")
    with pytest.raises(ValueError, match="at least two characters"):
        task.targets_for(task.encode("x"))


def test_sines_targets_are_the_next_value() -> None:
    task = get_task("sines")
    x, y = task.batch(4, 30, gen())
    assert torch.equal(x[:, 1:, 0], y[:, :-1])
    single = task.targets_for(x[0])
    assert torch.equal(single[0, :-1], x[0, 1:, 0]) and single[0, -1].isnan()
    # the best possible predictor (the clean signal) sits near the noise floor of 0.01
    assert 0.2 < task.metric(x, y) < 0.4  # copying the last value
