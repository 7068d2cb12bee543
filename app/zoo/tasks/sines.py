"""Time series: predict the next value of a sum of three sines plus noise.

x_t = Σ_k a_k sin(2π t / p_k + φ_k) + ε_t, with fixed periods p = (9, 23, 50), amplitudes
a = (1, 0.5, 0.3), a random phase φ_k per sequence and per sine, and Gaussian noise of standard
deviation 0.1. The noise alone puts the best possible MSE at 0.01; predicting the last value
(copying) scores about 0.28.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gatescope.zoo.tasks.base import Preset, Split, Task

PERIODS = (9.0, 23.0, 50.0)
AMPLITUDES = (1.0, 0.5, 0.3)
NOISE = 0.1
#: Steps at the start of each window that the metric skips (the model has not seen enough yet).
WARMUP = 10
OUTPUTS = ["next value"]


def series(batch_size: int, length: int, generator: torch.Generator) -> Tensor:
    """(B, length) samples of the noisy sum of sines."""
    t = torch.arange(length).float()  # (T,)
    phases = torch.rand(batch_size, len(PERIODS), 1, generator=generator) * 2 * math.pi  # (B, K, 1)
    periods = torch.tensor(PERIODS).unsqueeze(1)  # (K, 1)
    amplitudes = torch.tensor(AMPLITUDES).unsqueeze(1)
    clean = (amplitudes * torch.sin(2 * math.pi * t / periods + phases)).sum(dim=1)  # (B, T)
    return clean + NOISE * torch.randn(batch_size, length, generator=generator)


class Sines(Task):
    name = "sines"
    title = "Sum of sines, next value"
    description = (
        "A noisy sum of three sines with periods 9, 23 and 50 steps: predict the next value "
        "(the noise alone makes an MSE of 0.01 the best possible)."
    )
    input_size = 1
    output_size = 1
    output_labels = OUTPUTS
    metric_name = "MSE"
    higher_is_better = False
    length_name = "steps per training window"
    default_length = 100
    min_length = WARMUP + 2
    max_length = 2000

    def batch(
        self, batch_size: int, length: int, generator: torch.Generator, split: Split = "train"
    ) -> tuple[Tensor, Tensor]:
        values = series(batch_size, length + 1, generator)  # (B, T+1)
        return values[:, :-1].unsqueeze(-1), values[:, 1:]  # inputs (B, T, 1), targets (B, T)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        # targets (B, T); NaN marks a step with nothing to predict (the last step of a sequence)
        known = torch.isfinite(targets)
        return nn.functional.mse_loss(outputs[..., 0][known], targets[known])

    def metric(self, outputs: Tensor, targets: Tensor) -> float:
        return float(self.loss(outputs[:, WARMUP:], targets[:, WARMUP:]))

    def targets_for(self, x: Tensor) -> Tensor:
        if x.shape[0] < 2:
            raise ValueError("sines: give at least two values (the loss predicts each next one)")
        targets = torch.full((x.shape[0],), float("nan"))
        targets[:-1] = x[1:, 0]
        return targets.unsqueeze(0)  # (1, T)

    def preset(self) -> Preset:
        values = series(1, 200, torch.Generator().manual_seed(7))[0]
        return {"name": "200 steps of the noisy series", "inputs": [[round(float(v), 3)] for v in values]}
