"""The containers of Keras models, read as data: a `.keras` zip (``config.json`` and
``model.weights.h5``) and HDF5 files, each bounded before it is inflated, with HDF5 links and
external storage refused. `gatescope.zoo.keras_reader` maps what is inside onto torch's names.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import h5py
import numpy as np

RECURRENT = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}  # Keras class -> arch


def _name(layer: dict[str, Any]) -> str:
    config = layer.get("config")
    return str(layer.get("name") or (config.get("name") if isinstance(config, dict) else "") or "?")


def _json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the model's config is not valid JSON: {str(exc)[:200]}") from None


def _open_zip(data: bytes, max_bytes: int, max_config_bytes: int) -> tuple[Any, bytes]:
    """config.json and model.weights.h5 from a .keras zip, each bounded before it is inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            if len(infos) > 256:
                raise ValueError(f"the .keras archive holds {len(infos)} entries; a model has a few")
            unread = sorted(n for n in infos if n.endswith((".npz", ".npy", ".pkl", ".pickle")))
            if unread:
                raise ValueError(
                    f"the .keras archive holds {', '.join(map(repr, unread))}: gatescope reads weights "
                    "from model.weights.h5 only (NumPy and pickle files may carry code and are never "
                    "opened)"
                )
            for name, limit in (("config.json", max_config_bytes), ("model.weights.h5", max_bytes)):
                if name not in infos:
                    raise ValueError(
                        f"not a Keras 3 .keras file: {name} is missing (found {', '.join(sorted(infos))})"
                    )
                if infos[name].file_size > limit:
                    raise ValueError(
                        f"{name} inflates to {infos[name].file_size} bytes; the limit is {limit}"
                    )
            # ZipExtFile stops at the declared size, so these reads are bounded by the checks above.
            return _json(archive.read("config.json")), archive.read("model.weights.h5")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as exc:
        raise ValueError(f"not a readable .keras file (a Keras 3 zip archive): {exc}") from None


class _H5:
    """An HDF5 file opened from bytes, read only through plain links to float datasets."""

    def __init__(self, data: bytes, budget: int) -> None:
        try:
            self.file = h5py.File(io.BytesIO(data), "r")
        except OSError as exc:
            raise ValueError(f"not a readable HDF5 file: {str(exc)[:200]}") from None
        self.budget = budget

    def node(self, path: str) -> Any:
        """The group or dataset at ``path``, following hard links only (never to another file)."""
        node: Any = self.file
        for part in path.strip("/").split("/"):
            link = node.get(part, getlink=True) if isinstance(node, h5py.Group) else None
            if link is None:
                raise KeyError(path)
            if not isinstance(link, h5py.HardLink):
                raise ValueError(f"{path} is a {type(link).__name__}; only plain HDF5 datasets are read")
            node = node[part]
        return node

    def children(self, path: str) -> list[str]:
        try:
            group = self.node(path)
        except KeyError:
            return []
        return list(group.keys()) if isinstance(group, h5py.Group) else []

    def array(self, path: str) -> np.ndarray[Any, Any]:
        dataset = self.node(path)
        if not isinstance(dataset, h5py.Dataset):
            raise ValueError(f"{path} is not a dataset")
        if dataset.dtype.kind != "f":
            raise ValueError(f"{path} holds {dataset.dtype} data; weights must be floating-point numbers")
        if dataset.external or dataset.is_virtual:
            raise ValueError(f"{path} points at data outside the file; only data inside it is read")
        self.budget -= dataset.size * dataset.dtype.itemsize
        if self.budget < 0:
            raise ValueError("the weights inflate past the upload size limit")
        return np.asarray(dataset[()], dtype=np.float32)


class _Weights:
    def arrays(self, layer: dict[str, Any], group: str) -> list[np.ndarray[Any, Any]]:
        raise NotImplementedError


class _Keras3Weights(_Weights):
    """model.weights.h5 of a .keras: ``layers/<snake_case class>[_k]/vars/0..``; a recurrent
    layer's under ``cell/``, a Bidirectional's under ``forward_layer/`` then ``backward_layer/``."""

    def __init__(self, h5: _H5) -> None:
        self.h5 = h5

    def _vars(self, path: str) -> list[np.ndarray[Any, Any]]:
        names = self.h5.children(f"{path}/vars")
        if not all(n.isdigit() for n in names):
            raise ValueError(f"unexpected weights under {path}/vars: {names}")
        return [self.h5.array(f"{path}/vars/{n}") for n in sorted(names, key=int)]

    def arrays(self, layer: dict[str, Any], group: str) -> list[np.ndarray[Any, Any]]:
        path = f"layers/{group}"
        if not self.h5.children(path) and group != "input_layer":
            found = ", ".join(self.h5.children("layers"))
            raise ValueError(f"no weights for layer {_name(layer)!r} at {path} (found {found})")
        if layer["class_name"] == "Bidirectional":
            return self._vars(f"{path}/forward_layer/cell") + self._vars(f"{path}/backward_layer/cell")
        if layer["class_name"] in RECURRENT:
            return self._vars(f"{path}/cell")
        return self._vars(path)


class _Keras2Weights(_Weights):
    """A Keras 2 .h5: ``model_weights/<layer name>`` lists its datasets in ``weight_names``."""

    def __init__(self, h5: _H5) -> None:
        self.h5 = h5

    def arrays(self, layer: dict[str, Any], group: str) -> list[np.ndarray[Any, Any]]:
        name = _name(layer)
        try:
            names = self.h5.node(f"model_weights/{name}").attrs.get("weight_names", [])
        except KeyError:
            raise ValueError(f"no weights for layer {name!r} in model_weights") from None
        decoded = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        return [self.h5.array(f"model_weights/{name}/{n}") for n in decoded]
