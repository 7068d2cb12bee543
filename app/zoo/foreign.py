"""Models from other frameworks, read as data into torch's names (never run, never unpickled).

A Keras (`.keras`, Keras 2 `.h5`) or ONNX (`.onnx`) file becomes a `ForeignModel`: a flat
state_dict in torch.nn's own layout, which the upload path already reads,

    weight_ih_l{k}[_reverse]  (G*H, I_k)    weight_hh_l{k}[_reverse]  (G*H, H)
    bias_ih_l{k}[_reverse]    (G*H,)        bias_hh_l{k}[_reverse]    (G*H,)
    embedding.weight          (V, I)        head.weight (O, D*H), head.bias (O,)

with torch's gate order (LSTM i, f, g, o; GRU r, z, n), plus what the weights cannot say: the
plain RNN's nonlinearity, the GRU's equations (``gru_variant``: "torch" when the reset gate acts
after the recurrent product, "cho" when before), whether the one direction reads the sequence
from the end (``right_to_left``: ONNX ``direction="reverse"``, Keras ``go_backwards=True``; torch
has no such module, the engine has), the head's output kind, and the framework's own equations for
the equations view. `keras_reader` and `onnx_reader` do the reading; anything they
cannot map exactly is a ValueError that names the setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
ONNX_SUFFIXES = (".onnx",)
EMBEDDING = "embedding.weight"
HEAD = "head"


@dataclass
class ForeignModel:
    """What a Keras or ONNX file holds, in torch's names (see the module docstring)."""

    framework: str  # "keras" | "onnx"
    state_dict: dict[str, Tensor]
    nonlinearity: str = "tanh"
    gru_variant: str = "torch"
    output_kind: str | None = None  # the head's: "classes" (softmax), "sigmoids" or "values"
    equations: str = ""  # the framework's own equations and gate names, as plain text
    notes: list[str] = field(default_factory=list)  # what differs from the framework, if anything
    vocab_size: int | None = None  # rows of the embedding, if there is one
    right_to_left: bool = False  # one direction, reading from the end (ONNX reverse, Keras go_backwards)

    @property
    def has_embedding(self) -> bool:
        return EMBEDDING in self.state_dict

    @property
    def has_head(self) -> bool:
        return f"{HEAD}.weight" in self.state_dict

    def card(self) -> dict[str, Any]:
        """The fields the model's card (and so its record) keeps about where it came from."""
        return {
            "framework": self.framework,
            "framework_equations": self.equations,
            "framework_notes": self.notes,
            "gru_variant": self.gru_variant,
            "output_kind": self.output_kind,
            "right_to_left": self.right_to_left,
        }


class ChooseModule(ValueError):
    """The file holds several recurrent layers and none was chosen; ``modules`` describes them."""

    def __init__(self, message: str, modules: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.modules = modules


def is_foreign(filename: str) -> bool:
    return filename.lower().endswith(KERAS_SUFFIXES + ONNX_SUFFIXES)


def read_foreign(
    data: bytes, filename: str, max_bytes: int, max_config_bytes: int, prefix: str | None = None
) -> ForeignModel:
    """Dispatch on the file name's suffix. ``max_bytes`` bounds the weights once decompressed,
    ``max_config_bytes`` a Keras model's JSON description. ValueError if it cannot be read."""
    if not data:
        raise ValueError("the uploaded file is empty")
    lowered = filename.lower()
    if lowered.endswith(ONNX_SUFFIXES):
        from gatescope.zoo.onnx_reader import read_onnx

        return read_onnx(data, max_bytes, prefix)
    from gatescope.zoo.keras_reader import read_keras

    if prefix is not None:
        raise ValueError("'prefix' picks one node of an ONNX graph; a Keras model is read whole")
    return read_keras(data, lowered, max_bytes, max_config_bytes)


def reorder(array: np.ndarray[Any, Any], order: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """Rows regrouped by gate: ``array`` (G*H, ...) in a framework's gate order -> torch's, block
    ``order[k]`` of the input becoming block k (e.g. Keras' GRU z, r, h -> torch's r, z, n: (1, 0, 2))."""
    blocks = np.split(array, len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def as_tensor(array: np.ndarray[Any, Any], what: str) -> Tensor:
    """A float32 tensor of ``array``; ValueError naming ``what`` for NaN or inf."""
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{what} contains NaN or inf")
    return tensor
