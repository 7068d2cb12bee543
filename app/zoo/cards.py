"""A checkpoint on disk: ``<id>.safetensors`` (the recurrent module's own state_dict keys plus
``head.*``) beside ``<id>.json`` (its card: name, task, sizes, vocabulary, metric, how to rebuild it).

Shipped models, models trained here and uploads all use this one format. Writes are atomic:
weights first, then the card, each through a temporary name and ``os.replace``, so an interrupted
write never leaves a card without its weights or a half-written file the next start would read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import Tensor

HEAD_PREFIX = "head."
EMBEDDING_KEY = "embedding.weight"
EMBEDDING_KEY = "embedding.weight"


def check_id(model_id: str) -> str:
    """``model_id`` if it is a safe file stem; ValueError otherwise."""
    if not model_id or "/" in model_id or "\\" in model_id or model_id.startswith("."):
        raise ValueError(f"bad model id {model_id!r}: use letters, digits and dashes")
    return model_id


def write_checkpoint(
    directory: str | os.PathLike[str],
    model_id: str,
    tensors: dict[str, Tensor],
    card: dict[str, Any],
) -> Path:
    """Write ``<id>.safetensors`` then ``<id>.json`` into ``directory``; return the card's path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    weights, card_path = folder / f"{check_id(model_id)}.safetensors", folder / f"{model_id}.json"
    tmp_weights = weights.with_name(f".{weights.name}.tmp")
    tmp_card = card_path.with_name(f".{card_path.name}.tmp")
    try:
        contiguous = {name: t.detach().contiguous() for name, t in tensors.items()}
        save_file(contiguous, str(tmp_weights), metadata={"id": model_id})
        tmp_card.write_text(json.dumps({**card, "id": model_id}, indent=2) + "\n")
        os.replace(tmp_weights, weights)
        os.replace(tmp_card, card_path)
    finally:
        tmp_weights.unlink(missing_ok=True)
        tmp_card.unlink(missing_ok=True)
    return card_path


def write_card(directory: str | os.PathLike[str], model_id: str, card: dict[str, Any]) -> Path:
    """Write a card alone (a model its id rebuilds, such as a random one), atomically."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{check_id(model_id)}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({**card, "id": model_id}, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_checkpoint(
    card_path: str | os.PathLike[str],
) -> tuple[dict[str, Any], dict[str, Tensor], dict[str, Tensor], Tensor | None]:
    """(card, the recurrent module's tensors, the head's tensors without their ``head.`` prefix,
    the embedding (V, I) or None)."""
    path = Path(card_path)
    card: dict[str, Any] = json.loads(path.read_text())
    tensors = load_file(str(path.with_suffix(".safetensors")))
    head = {k.removeprefix(HEAD_PREFIX): v for k, v in tensors.items() if k.startswith(HEAD_PREFIX)}
    embedding = tensors.get(EMBEDDING_KEY)
    own = {k: v for k, v in tensors.items() if not k.startswith(HEAD_PREFIX) and k != EMBEDDING_KEY}
    return card, own, head, embedding
