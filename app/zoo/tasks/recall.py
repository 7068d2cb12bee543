"""Delayed recall: see a symbol, wait N steps, then name it.

A sequence is one of the symbols A..H, then N blanks ``.``, then the cue ``?``; at the cue the
model must output the first symbol. Chance is 1/8. The first symbol is all the model ever needs,
so a model that solves it must open its state to the symbol and hold it through the gap.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gatescope.zoo.tasks.base import Preset, Split, Task

SYMBOLS = list("ABCDEFGH")
BLANK, CUE = ".", "?"
VOCAB = [BLANK, CUE, *SYMBOLS]


class Recall(Task):
    name = "recall"
    title = "Delayed recall"
    description = (
        "A symbol (A-H), a gap of N blanks, then '?': at the '?' name the symbol shown at the "
        "start, which the model must hold through the gap."
    )
    input_size = len(VOCAB)
    output_size = len(SYMBOLS)
    vocab = VOCAB
    output_labels = SYMBOLS
    output_kind = "classes"
    metric_name = "accuracy"
    higher_is_better = True
    length_name = "gap N (blanks between the symbol and the cue)"
    default_length = 10
    min_length = 0
    max_length = 2000
    eval_batch_size = 1000

    def batch(
        self, batch_size: int, length: int, generator: torch.Generator, split: Split = "train"
    ) -> tuple[Tensor, Tensor]:
        symbols = torch.randint(0, len(SYMBOLS), (batch_size,), generator=generator)  # (B,)
        ids = torch.full((batch_size, length + 2), VOCAB.index(BLANK))
        ids[:, 0] = symbols + 2  # vocab index of the symbol
        ids[:, -1] = VOCAB.index(CUE)
        return nn.functional.one_hot(ids, len(VOCAB)).float(), symbols  # (B, N+2, V), (B,)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return nn.functional.cross_entropy(outputs[:, -1], targets)

    def metric(self, outputs: Tensor, targets: Tensor) -> float:
        return float((outputs[:, -1].argmax(dim=-1) == targets).float().mean())

    def targets_for(self, x: Tensor) -> Tensor:
        first = int(x[0].argmax())
        if x[0, first] != 1 or first < 2:
            raise ValueError(f"recall: the sequence must start with one of {''.join(SYMBOLS)}")
        return torch.tensor([first - 2])

    def preset(self) -> Preset:
        gap = self.default_length
        return {"name": f"C, {gap} blanks, then the cue", "text": "C" + BLANK * gap + CUE}
