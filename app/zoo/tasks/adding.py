"""The adding problem (Hochreiter & Schmidhuber 1997, as set by Le, Jaitly & Hinton 2015).

Each step has two channels: a value drawn uniformly from [0, 1] and a marker. Exactly two steps are
marked, one in each half of the sequence; after the last step the model outputs the sum of the two
marked values. Always answering 1 gives a mean squared error of 1/6 ≈ 0.167; the task is solved
well below that.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gatescope.zoo.tasks.base import Preset, Split, Task

OUTPUTS = ["sum"]


class Adding(Task):
    name = "adding"
    title = "Adding problem"
    description = (
        "Two channels (value, marker): after the last step, output the sum of the two marked "
        "values; the model must hold them over the whole sequence."
    )
    input_size = 2
    output_size = 1
    output_labels = OUTPUTS
    metric_name = "MSE"
    higher_is_better = False
    length_name = "sequence length T"
    default_length = 100
    min_length = 2
    max_length = 2000
    eval_batch_size = 1000

    def batch(
        self, batch_size: int, length: int, generator: torch.Generator, split: Split = "train"
    ) -> tuple[Tensor, Tensor]:
        values = torch.rand(batch_size, length, generator=generator)  # (B, T)
        half = length // 2
        first = torch.randint(0, half, (batch_size,), generator=generator)
        second = torch.randint(half, length, (batch_size,), generator=generator)
        markers = torch.zeros(batch_size, length)
        rows = torch.arange(batch_size)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        inputs = torch.stack([values, markers], dim=-1)  # (B, T, 2)
        return inputs, (values * markers).sum(dim=1)  # targets (B,)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return nn.functional.mse_loss(outputs[:, -1, 0], targets)

    def metric(self, outputs: Tensor, targets: Tensor) -> float:
        return float(self.loss(outputs, targets))

    def targets_for(self, x: Tensor) -> Tensor:
        return (x[:, 0] * x[:, 1]).sum().reshape(1)  # the marked sum, whatever the markers

    def preset(self) -> Preset:
        generator = torch.Generator().manual_seed(7)
        inputs, _ = self.batch(1, 50, generator)
        values = [[round(float(v), 2), float(m)] for v, m in inputs[0]]
        return {"name": "50 steps, two marked values", "inputs": values}
