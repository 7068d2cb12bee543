"""Random models: a freshly initialized model is fully described by its id
(``random-lstm-iascii-h16-l2-s0-fb1``), so it is rebuilt from a shared link after a restart and
by every process that serves the same folders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from gatescope.engine.build import ARCH_TITLES, check_arch

_RANDOM_ID = re.compile(
    r"^random-(?P<arch>lstm|gru|rnn)(?P<relu>-relu)?-i(?P<input>\d+|ascii)-h(?P<hidden>\d+)"
    r"-l(?P<layers>\d+)-s(?P<seed>\d+)(?:-fb(?P<fb>-?\d+(?:\.\d+)?))?(?P<nobias>-nobias)?$"
)
_SAMPLE_TEXT = "The forget gate decides what to keep; the input gate decides what to write."


def random_presets(width: int, vocab: list[str] | None) -> list[dict[str, Any]]:
    """A random model's preset input: a sentence for text models, sine waves for numeric ones."""
    if vocab is not None:
        return [{"name": "A sentence", "text": _SAMPLE_TEXT}]
    t = torch.arange(60, dtype=torch.float32)
    rows = torch.stack([torch.sin(0.2 * t + k) for k in range(width)], 1)
    return [{"name": "Sine waves", "inputs": [[round(v, 4) for v in row] for row in rows.tolist()]}]


@dataclass(frozen=True)
class RandomModelSpec:
    """A freshly initialized model, fully described by its id (and so rebuilt from a shared link).

    ``input_size=None`` means a text model over `ASCII_VOCAB`.
    """

    arch: str
    input_size: int | None
    hidden_size: int
    num_layers: int
    seed: int
    nonlinearity: str = "tanh"
    forget_bias: float | None = None
    bias: bool = True

    @property
    def id(self) -> str:
        """The canonical id, e.g. ``random-lstm-iascii-h16-l2-s0-fb1``."""
        parts = [f"random-{self.arch}"]
        if self.arch == "rnn" and self.nonlinearity == "relu":
            parts.append("-relu")
        width = "ascii" if self.input_size is None else self.input_size
        parts.append(f"-i{width}-h{self.hidden_size}-l{self.num_layers}-s{self.seed}")
        if self.forget_bias is not None and self.arch == "lstm":
            parts.append(f"-fb{self.forget_bias:g}")
        if not self.bias:
            parts.append("-nobias")
        return "".join(parts)

    @property
    def name(self) -> str:
        """What the page calls it: ``Random LSTM, H=16, 2 layers, seed 0, forget bias 1``."""
        label = ARCH_TITLES[check_arch(self.arch)] + (
            " relu" if self.arch == "rnn" and self.nonlinearity == "relu" else ""
        )
        layers = f"{self.num_layers} layer{'s' * (self.num_layers > 1)}"
        name = f"Random {label}, H={self.hidden_size}, {layers}, seed {self.seed}"
        if self.forget_bias is not None and self.arch == "lstm":
            name += f", forget bias {self.forget_bias:g}"
        return name

    @classmethod
    def from_id(cls, model_id: str) -> RandomModelSpec | None:
        match = _RANDOM_ID.match(model_id)
        if match is None:
            return None
        return cls(
            arch=match["arch"],
            input_size=None if match["input"] == "ascii" else int(match["input"]),
            hidden_size=int(match["hidden"]),
            num_layers=int(match["layers"]),
            seed=int(match["seed"]),
            nonlinearity="relu" if match["relu"] else "tanh",
            forget_bias=None if match["fb"] is None else float(match["fb"]),
            bias=match["nobias"] is None,
        )
