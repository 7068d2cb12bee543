"""Counting: next-symbol prediction on a^n b^n (Weiss, Goldberg & Yahav 2018; Gers & Schmidhuber 2001).

The input is a string ``a^n b^n``. After each symbol the model says which symbols may come next,
one sigmoid per symbol of ``a b $`` (``$`` ends the string): ``{a, b}`` while reading a's, ``{b}``
while b's are still owed, ``{$}`` after the n-th b. Getting a string right means getting every step
right, which takes a counter: up with each a, down with each b.

The metric is the largest N such that every string with n = 1..N is right, probed up to
``PROBE_MAX_N``. Training uses n from 1 to the length parameter. Weiss et al. report that LSTMs and
ReLU RNNs keep counting well past the n they were trained on while GRUs and tanh RNNs stop, so
this task's plain RNN is a ReLU RNN by default.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gatescope.zoo.tasks.base import Preset, Split, Task

VOCAB = ["a", "b"]
OUTPUTS = ["a", "b", "$"]
#: The held-out set: every n from 1 to this.
PROBE_MAX_N = 500
PROBE_CHUNK = 100


def allowed_next(ids: list[int]) -> Tensor:
    """(T, 3) 0/1: which of a, b, $ may follow each prefix of the string of vocab indices ``ids``.

    A prefix that cannot start any a^n b^n (n >= 1) allows nothing.
    """
    targets = torch.zeros(len(ids), len(OUTPUTS))
    count_a = count_b = 0
    valid = True
    for t, symbol in enumerate(ids):
        if symbol == 0:
            valid = valid and count_b == 0
            count_a += 1
        else:
            count_b += 1
            valid = valid and count_b <= count_a
        if not valid:
            continue
        if count_b == 0:
            targets[t, 0] = targets[t, 1] = 1.0
        elif count_b < count_a:
            targets[t, 1] = 1.0
        else:
            targets[t, 2] = 1.0
    return targets


def strings(ns: Tensor, length: int) -> tuple[Tensor, Tensor]:
    """a^n b^n for each n in ``ns``, padded to ``length`` steps with zero inputs.

    Returns inputs (B, length, 2) and targets (B, length, 3), -1 on padding steps.
    """
    t = torch.arange(length).unsqueeze(0)  # (1, T)
    n = ns.unsqueeze(1)  # (B, 1)
    is_a, is_b = t < n, (t >= n) & (t < 2 * n)
    inputs = torch.stack([is_a, is_b], dim=-1).float()  # (B, T, 2)
    targets = torch.stack([is_a, is_a | (is_b & (t < 2 * n - 1)), t == 2 * n - 1], dim=-1).float()
    targets[t.expand_as(is_a) >= 2 * n] = -1.0
    return inputs, targets


class AnBn(Task):
    name = "anbn"
    title = "Counting, a^n b^n"
    description = (
        "Read a^n b^n and predict which symbols may come next; the end comes exactly after the "
        "n-th b, so the model must count. Trained on small n, probed on larger n."
    )
    input_size = len(VOCAB)
    output_size = len(OUTPUTS)
    vocab = VOCAB
    output_labels = OUTPUTS
    output_kind = "sigmoids"
    metric_name = "largest n right"
    higher_is_better = True
    length_name = "largest n in training"
    default_length = 20
    min_length = 1
    max_length = PROBE_MAX_N
    default_nonlinearity = "relu"

    def batch(
        self, batch_size: int, length: int, generator: torch.Generator, split: Split = "train"
    ) -> tuple[Tensor, Tensor]:
        ns = torch.randint(1, length + 1, (batch_size,), generator=generator)
        return strings(ns, 2 * length)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        mask = targets >= 0
        return nn.functional.binary_cross_entropy_with_logits(outputs[mask], targets[mask])

    def metric(self, outputs: Tensor, targets: Tensor) -> float:
        mask = targets >= 0  # (B, T, 3)
        wrong = ((outputs > 0).float() != targets) & mask
        right = ~wrong.flatten(1).any(dim=1)  # (B,)
        ns = mask[..., 0].sum(dim=1) // 2  # (B,)
        failed = ns[~right]
        return float(failed.min() - 1 if len(failed) else ns.max())

    def targets_for(self, x: Tensor) -> Tensor:
        return allowed_next([int(i) for i in x.argmax(dim=-1)]).unsqueeze(0)  # (1, T, 3)

    def held_out(self, length: int) -> tuple[Tensor, Tensor]:
        return strings(torch.arange(1, PROBE_MAX_N + 1), 2 * PROBE_MAX_N)

    @torch.no_grad()
    def evaluate(self, module: nn.Module, head: nn.Linear, length: int) -> float:
        """Largest N with every n <= N right, probing n = 1..PROBE_MAX_N in chunks."""
        largest = 0
        for start in range(1, PROBE_MAX_N + 1, PROBE_CHUNK):
            ns = torch.arange(start, min(start + PROBE_CHUNK, PROBE_MAX_N + 1))
            inputs, targets = strings(ns, 2 * int(ns[-1]))
            hidden, _ = module(inputs)
            largest = int(self.metric(head(hidden), targets))
            if largest < int(ns[-1]):
                return float(largest)
        return float(largest)

    def preset(self) -> Preset:
        return {"name": "n = 5", "text": "aaaaabbbbb"}
