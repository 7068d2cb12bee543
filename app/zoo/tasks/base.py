"""What every task is: a batch generator, its own loss and metric, a preset input and an objective.

A model for a task is a plain recurrent module (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``, batch_first)
followed by a linear head on the top hidden state at every step:

    hidden, _ = module(inputs)      # (B, T, H)
    outputs = head(hidden)          # (B, T, output_size)
    loss = task.loss(outputs, targets)

Tasks read ``outputs`` where they need them: every step (charlm, anbn, sines) or the last one
(adding, recall). Text tasks take one-hot vectors over ``vocab`` (index i <-> vocab[i]); numeric
tasks take raw numbers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Literal, TypedDict

import torch
from torch import Tensor, nn

from gatescope.engine.text import decode, encode_text

Split = Literal["train", "held-out"]
#: The seed of the fixed held-out set every task evaluates on (never used for training data).
HELD_OUT_SEED = 1_000_003


class TextPreset(TypedDict):
    name: str
    text: str


class NumericPreset(TypedDict):
    name: str
    inputs: list[list[float]]


Preset = TextPreset | NumericPreset


class Task(ABC):
    """One task. Subclasses set the class attributes and implement the abstract methods."""

    name: str
    title: str  # for the page and the card: "Adding problem"
    description: str  # one sentence for the page
    input_size: int
    output_size: int
    vocab: list[str] | None = None  # text tasks: input index i is vocab[i]
    output_labels: list[str] | None = None  # what each output unit means, where that is a name
    #: How the head's outputs read: "classes" (softmax over output_labels), "sigmoids" (one
    #: independent probability each) or "values" (regression).
    output_kind: Literal["classes", "sigmoids", "values"] = "values"
    metric_name: str
    higher_is_better: bool
    length_name: str  # what the task's length parameter means
    default_length: int
    min_length: int
    max_length: int
    default_nonlinearity: Literal["tanh", "relu"] = "tanh"  # for the plain RNN
    eval_batch_size: int = 512

    @abstractmethod
    def batch(
        self, batch_size: int, length: int, generator: torch.Generator, split: Split = "train"
    ) -> tuple[Tensor, Tensor]:
        """A batch ``(inputs (B, T, input_size), targets)`` drawn with ``generator``."""

    @abstractmethod
    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """The training loss (a scalar tensor) of head outputs (B, T, output_size)."""

    @abstractmethod
    def metric(self, outputs: Tensor, targets: Tensor) -> float:
        """The task's metric (``metric_name``) of head outputs (B, T, output_size)."""

    @abstractmethod
    def targets_for(self, x: Tensor) -> Tensor:
        """Targets, as a batch of one, derived from a single input sequence x (T, input_size)."""

    @abstractmethod
    def preset(self) -> Preset:
        """The task's natural input for the page: ``{"name", "text"}`` or ``{"name", "inputs"}``."""

    def check_length(self, length: int) -> None:
        if not self.min_length <= length <= self.max_length:
            raise ValueError(
                f"{self.name}: {self.length_name} must be between {self.min_length} and "
                f"{self.max_length}, got {length}"
            )

    def objective(self, head: nn.Linear, x: Tensor) -> Callable[[Tensor], Tensor]:
        """The task's own loss on the single sequence x (T, input_size), as a function of the top
        hidden states (T, H): the gradient objective for `gatescope.engine.trace`."""
        targets = self.targets_for(torch.as_tensor(x, dtype=torch.float32))

        def loss(hidden: Tensor) -> Tensor:  # (T, H) -> scalar
            return self.loss(head(hidden).unsqueeze(0), targets)

        return loss

    def held_out(self, length: int) -> tuple[Tensor, Tensor]:
        """The fixed held-out set the card's metric is measured on."""
        generator = torch.Generator().manual_seed(HELD_OUT_SEED)
        return self.batch(self.eval_batch_size, length, generator, split="held-out")

    @torch.no_grad()
    def evaluate(self, module: nn.Module, head: nn.Linear, length: int) -> float:
        """The metric on the held-out set."""
        inputs, targets = self.held_out(length)
        hidden, _ = module(inputs)
        return self.metric(head(hidden), targets)

    # Text tasks ------------------------------------------------------------------------------

    def encode(self, text: str) -> Tensor:
        """One-hot (T, len(vocab)) for a text task (`gatescope.engine.text.encode_text`)."""
        if self.vocab is None:
            raise ValueError(f"{self.name} takes numbers, not text")
        return encode_text(text, self.vocab, whose="the")[0]

    def decode(self, x: Tensor) -> str:
        """The text of a one-hot (T, len(vocab)) sequence (the argmax at each step)."""
        if self.vocab is None:
            raise ValueError(f"{self.name} takes numbers, not text")
        return decode(x, self.vocab)
