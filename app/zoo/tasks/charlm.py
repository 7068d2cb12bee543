"""Character-level language model on the interpreter's own standard library source.

The corpus is every top-level ``*.py`` file in ``sysconfig.get_paths()["stdlib"]``, read when first
needed, tabs expanded to four spaces. Files with characters outside the vocabulary (newline and
printable ASCII) are left out. Every tenth file, in sorted order, is held out.
"""

from __future__ import annotations

import math
import sysconfig
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor, nn

from gatescope.engine.text import ASCII_VOCAB, normalize
from gatescope.zoo.tasks.base import Preset, Split, Task

VOCAB = ASCII_VOCAB  # newline and printable ASCII, 96 characters
HELD_OUT_EVERY = 10


@lru_cache(maxsize=2)
def corpus(split: Split, directory: str | None = None) -> Tensor:
    """The split's characters as vocabulary indices, files joined with a blank line: (N,) uint8."""
    root = Path(directory or sysconfig.get_paths()["stdlib"])
    allowed = set(VOCAB)
    files = sorted(root.glob("*.py"))
    chunks = []
    for number, path in enumerate(files):
        if (number % HELD_OUT_EVERY == 0) != (split == "held-out"):
            continue
        text = normalize(path.read_text(encoding="utf-8", errors="replace"))
        if set(text) <= allowed:
            chunks.append(text + "\n\n")
    if not chunks:
        raise ValueError(f"no usable Python files found in {root}")
    table = bytes.maketrans(bytes(ord(ch) for ch in VOCAB), bytes(range(len(VOCAB))))
    data = "".join(chunks).encode("ascii").translate(table)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


class CharLM(Task):
    name = "charlm"
    title = "Python source, next character"
    description = (
        "Predict the next character of Python source code, trained on this interpreter's own "
        "standard library; look for units that track quotes, brackets and indentation."
    )
    input_size = len(VOCAB)
    output_size = len(VOCAB)
    vocab = VOCAB
    output_labels = VOCAB
    output_kind = "classes"
    metric_name = "bits per character"
    higher_is_better = False
    length_name = "characters per training window"
    default_length = 100
    min_length = 2
    max_length = 2000
    eval_batch_size = 128

    def batch(
        self, batch_size: int, length: int, generator: torch.Generator, split: Split = "train"
    ) -> tuple[Tensor, Tensor]:
        text = corpus(split)
        starts = torch.randint(0, len(text) - length - 1, (batch_size,), generator=generator)
        windows = text[starts.unsqueeze(1) + torch.arange(length + 1)].long()  # (B, T+1)
        inputs = nn.functional.one_hot(windows[:, :-1], len(VOCAB)).float()  # (B, T, V)
        return inputs, windows[:, 1:]  # targets (B, T): the next character

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        # targets (B, T) of indices; -100 marks a step with nothing to predict (the last one)
        return nn.functional.cross_entropy(outputs.flatten(0, 1), targets.flatten(), ignore_index=-100)

    def metric(self, outputs: Tensor, targets: Tensor) -> float:
        return float(self.loss(outputs, targets)) / math.log(2)

    def targets_for(self, x: Tensor) -> Tensor:
        if x.shape[0] < 2:
            raise ValueError("charlm: give at least two characters (the loss predicts each next one)")
        ids = x.argmax(dim=-1)
        targets = torch.full_like(ids, -100)
        targets[:-1] = ids[1:]
        return targets.unsqueeze(0)  # (1, T)

    def preset(self) -> Preset:
        text = (
            "def greet(names, sep=', '):\n"
            '    """Say hello to everyone."""\n'
            "    if not names:\n"
            "        return 'hello, nobody'\n"
            '    return "hello, " + sep.join([n.title() for n in names])\n'
        )
        return {"name": "A Python function", "text": text}
