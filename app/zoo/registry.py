"""The models the server knows: shipped (models/*.json cards), uploaded (kept on disk), random.

A random model's id spells out how to build it (``random-lstm-i8-h16-l1-s0-fb1``), so it can be
rebuilt after a restart and a shared link keeps working. Uploads are stored as safetensors with a
small JSON card in the upload directory under ids ``upload-<sha>``; they never shadow a builtin.
"""

from __future__ import annotations

import builtins
import copy
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gatescope.engine import (
    RecurrentSpec,
    parameter_count,
    spec_from_module,
    with_gru_variant,
    with_right_to_left,
)
from gatescope.engine.build import build_module, check_arch
from gatescope.engine.text import ASCII_VOCAB
from gatescope.settings import Settings
from gatescope.zoo.cards import EMBEDDING_KEY, HEAD_PREFIX, read_checkpoint, write_card, write_checkpoint
from gatescope.zoo.parts import whole_model
from gatescope.zoo.random_models import RandomModelSpec, random_presets
from gatescope.zoo.readers import module_from_state_dict
from gatescope.zoo.tasks import get_task

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model the server can trace: its engine spec and public record, and the parts around the
    recurrent module: the vocabulary (and an embedding, else one-hot input), a head with its
    output vocabulary, and the task it was trained on."""

    id: str
    spec: RecurrentSpec
    record: dict[str, Any]
    head: nn.Linear | None = None
    vocab: list[str] | None = None
    task: str | None = None
    module: nn.Module | None = field(default=None, repr=False)
    embedding: Tensor | None = field(default=None, repr=False)  # (len(vocab), input_size)
    output_vocab: list[str] | None = None
    output_kind: str | None = None  # the head's: "classes", "sigmoids" or "values"

    def spec_for(self, gru_variant: str | None) -> RecurrentSpec:
        """The spec run with ``gru_variant``, or with the model's own equations when None (a
        Keras reset_after=False GRU is Cho et al.'s). ValueError as `with_gru_variant`."""
        return with_gru_variant(self.spec, gru_variant or self.spec.gru_variant)


def weights_digest(tensors: dict[str, Tensor], *extra: object) -> str:
    """12 hex digits naming these weights (and whatever else decides the model, ``extra``)."""
    digest = hashlib.sha256(repr(extra).encode())
    for key in sorted(tensors):
        tensor = tensors[key].detach().contiguous()
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


def make_record(model_id: str, name: str, module: nn.Module, source: str, **extra: Any) -> dict[str, Any]:
    spec = spec_from_module(module)
    record: dict[str, Any] = {
        "id": model_id,
        "name": name,
        "arch": spec.arch,
        "input_size": spec.input_size,
        # A stack whose layers differ in size (a Keras LSTM(24) -> LSTM(16)) has no one hidden_size:
        # None, and hidden_sizes / state_sizes give each layer's (for every model, one per layer).
        "hidden_size": None if spec.mixed else spec.hidden_size,
        "hidden_sizes": list(spec.hidden_sizes),
        "state_sizes": list(spec.state_sizes),
        "num_layers": spec.num_layers,
        "nonlinearity": spec.nonlinearity,
        "bias": spec.bias,
        "bidirectional": spec.reverse is not None,
        "right_to_left": False,  # a one-direction Keras/ONNX stack that reads its input from the end
        "proj_size": spec.proj_size,
        "params": parameter_count(spec),
        "source": source,
        "framework": "torch",  # where the weights came from: "torch", "keras" or "onnx"
        "framework_equations": None,  # a Keras or ONNX model's own equations and gate names
        "framework_notes": [],  # what a Keras or ONNX model does that a trace does not
        "gru_variant": "torch" if spec.arch == "gru" else None,  # the equations it runs by default
        "vocab": None,
        "output_vocab": None,
        "has_embedding": False,
        "has_head": False,
        "task": None,
        "metric": None,
        "presets": [],
    }
    record.update(extra)
    return record


class ModelRegistry:
    """Thread-safe map of id -> LoadedModel, filled from disk at start and on demand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()
        self._load_builtins()
        self._load_uploads()

    # ---- lookup -------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """Every model's record: shipped, then trained, uploaded, notebook and random ones.

        What other processes serving the same folders added since (``gatescope serve --workers
        N``, or several servers on shared storage) is read from disk first."""
        self._load_uploads()
        with self._lock:
            models = list(self._models.values())
        order = {"builtin": 0, "trained": 1, "upload": 2, "notebook": 3, "random": 4}
        return [m.record for m in sorted(models, key=lambda m: (order[m.record["source"]], m.id))]

    def get(self, model_id: str) -> LoadedModel:
        """The model with this id; KeyError if there is none (random ids are built on demand)."""
        with self._lock:
            found = self._models.get(model_id)
        if found is not None:
            return found
        stored = self._load_stored(model_id)
        if stored is not None:
            return stored
        random_spec = RandomModelSpec.from_id(model_id)
        if random_spec is None:
            raise KeyError(model_id)
        return self.create_random(random_spec)

    def _add(self, model: LoadedModel) -> LoadedModel:
        with self._lock:
            return self._models.setdefault(model.id, model)

    # ---- random -------------------------------------------------------------------------
    def create_random(self, spec: RandomModelSpec, remember: bool = False) -> LoadedModel:
        """A freshly initialized torch module (torch's default init, seeded). ValueError on bad sizes.

        ``remember``: keep its id on disk (``upload_dir/random-....json``, no weights: the id
        rebuilds them), so that every process serving that folder lists it."""
        self._check_sizes(spec.input_size, spec.hidden_size, spec.num_layers)
        check_arch(spec.arch)
        if not 0 <= spec.seed < 2**31:
            raise ValueError(f"seed must be between 0 and {2**31 - 1}, got {spec.seed}")
        if spec.forget_bias is not None and not -20 <= spec.forget_bias <= 20:
            raise ValueError(f"forget_bias must be between -20 and 20, got {spec.forget_bias}")
        if remember and not (self.settings.upload_dir / f"{spec.id}.json").exists():
            write_card(self.settings.upload_dir, spec.id, {"id": spec.id, "name": spec.name})
        with self._lock:
            if spec.id in self._models:
                return self._models[spec.id]
        vocab = ASCII_VOCAB if spec.input_size is None else None
        width = len(ASCII_VOCAB) if spec.input_size is None else spec.input_size
        module = build_module(
            spec.arch,
            width,
            spec.hidden_size,
            spec.num_layers,
            spec.nonlinearity,
            spec.bias,
            torch.Generator().manual_seed(spec.seed),
            spec.forget_bias,
        )
        record = make_record(
            spec.id, spec.name, module, "random", vocab=vocab, presets=random_presets(width, vocab)
        )
        return self._add(LoadedModel(spec.id, spec_from_module(module), record, vocab=vocab, module=module))

    def _check_sizes(self, input_size: int | None, hidden_size: int, num_layers: int) -> None:
        """ValueError for sizes over the settings' limits (``hidden_size``: the largest layer's)."""
        s = self.settings
        if input_size is not None and not 1 <= input_size <= s.max_input_size:
            raise ValueError(f"input_size must be between 1 and {s.max_input_size}, got {input_size}")
        if not 1 <= hidden_size <= s.max_hidden_size:
            raise ValueError(f"hidden_size must be between 1 and {s.max_hidden_size}, got {hidden_size}")
        if not 1 <= num_layers <= s.max_layers:
            raise ValueError(f"num_layers must be between 1 and {s.max_layers}, got {num_layers}")

    # ---- builtin ------------------------------------------------------------------------
    def _load_builtins(self) -> None:
        for card_path in sorted(self.settings.models_dir.glob("*.json")):
            try:
                self._add(load_card(card_path, "builtin"))
            except (OSError, ValueError, KeyError) as exc:
                log.warning("skipping shipped model %s: %s", card_path.name, exc)

    def add_trained(
        self, module: nn.Module, head: nn.Linear | None, card: dict[str, Any], source: str = "trained"
    ) -> LoadedModel:
        """Register a model made in this process (its card as the training pipeline wrote it)."""
        return self._add(model_from_card(module, head, card, source))

    def add_module(
        self, module: nn.Module, name: str, vocab: Sequence[str] | None = None, source: str = "notebook"
    ) -> LoadedModel:
        """Register a copy of an in-memory module (weights as they are now; kept in memory only)
        under ``notebook-<sha>``. ``vocab``: one character per input, making it a text model.
        ValueError for a module the engine does not trace, bad sizes or a bad vocabulary."""
        module = copy.deepcopy(module).cpu()
        vocab = None if vocab is None else list(vocab)
        spec = spec_from_module(module)
        self._check_sizes(spec.input_size, max(spec.hidden_sizes), spec.num_layers)
        if vocab is not None and (
            len(vocab) != spec.input_size
            or len(set(vocab)) != len(vocab)
            or not all(isinstance(ch, str) and len(ch) == 1 for ch in vocab)
        ):
            raise ValueError(
                f"vocab must be {spec.input_size} distinct single characters (one per input of the "
                f"model, in input order), got {len(vocab)} item(s): {vocab[:12]!r}"
            )
        model_id = f"{source}-{weights_digest(dict(module.state_dict()), name, vocab, spec.nonlinearity)}"
        record = make_record(model_id, name, module, source, vocab=vocab)
        return self._add(LoadedModel(model_id, spec, record, vocab=vocab, module=module))

    # ---- uploads ------------------------------------------------------------------------
    def _stored(self) -> Sequence[tuple[Path, str]]:
        """The card files other requests (or processes) stored: (path, source)."""
        found: builtins.list[tuple[Path, str]] = []
        for directory, pattern, source in (
            (self.settings.upload_dir, "upload-*.json", "upload"),
            (self.settings.upload_dir, "random-*.json", "random"),
            (self.settings.trained_dir, "trained-*.json", "trained"),
        ):
            if directory.is_dir():
                found += [(path, source) for path in sorted(directory.glob(pattern))]
        return found

    def _load_uploads(self) -> None:
        """Register every stored card not registered yet (cheap: known ids are skipped by name)."""
        with self._lock:
            known = set(self._models)
        for card_path, source in self._stored():
            if card_path.stem not in known:
                self._load_card_file(card_path, source)

    def _load_stored(self, model_id: str) -> LoadedModel | None:
        """The stored model ``model_id`` (added through another process), or None."""
        for card_path, source in self._stored():
            if card_path.stem == model_id:
                return self._load_card_file(card_path, source)
        return None

    def _load_card_file(self, card_path: Path, source: str) -> LoadedModel | None:
        try:
            if source == "random":
                spec = RandomModelSpec.from_id(card_path.stem)
                return None if spec is None else self.create_random(spec, remember=False)
            model = self._add(load_card(card_path, source))
            if source == "trained" and "config" in model.record:
                self._add_initialization(model.record["config"])
            return model
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("skipping stored model %s: %s", card_path.name, exc)
            return None

    def _add_initialization(self, config: dict[str, Any]) -> None:
        """A trained model's starting point, rebuilt from its config's seed (for before vs after)."""
        from gatescope.zoo.trainer import TrainConfig, initialization

        module, head, card = initialization(TrainConfig(**config))
        self._add(model_from_card(module, head, card, "random"))

    def add_upload(
        self,
        state_dict: dict[str, Tensor],
        filename: str,
        prefix: str | None,
        nonlinearity: str,
        vocab: Sequence[str] | None = None,
        output_vocab: Sequence[str] | None = None,
        embedding: str | None = None,
        head: str | None = None,
        origin: dict[str, Any] | None = None,
    ) -> LoadedModel:
        """Validate an uploaded state_dict (a bare recurrent module, or a whole model with its
        embedding, vocabulary and head: `gatescope.zoo.parts`), store it on disk and register it.
        ``origin``: a Keras or ONNX model's card fields (`ForeignModel.card`). ValueError if invalid."""
        whole = whole_model(
            state_dict,
            prefix,
            nonlinearity,
            None if vocab is None else [*vocab],
            None if output_vocab is None else [*output_vocab],
            embedding,
            head,
        )
        spec = spec_from_module(whole.module)
        self._check_sizes(spec.input_size, max(spec.hidden_sizes), spec.num_layers)
        tensors = {k: v.contiguous() for k, v in whole.module.state_dict().items()}
        if whole.embedding is not None:
            tensors[EMBEDDING_KEY] = whole.embedding.contiguous()
        if whole.head is not None:
            tensors |= {f"{HEAD_PREFIX}{k}": v.contiguous() for k, v in whole.head.state_dict().items()}
        origin = origin or {}
        # A torch upload's id is what it always was; a Keras or ONNX model's also says its equations.
        also: tuple[Any, ...] = (origin["framework"], origin["gru_variant"]) if origin else ()
        also += ("right_to_left",) if origin.get("right_to_left") else ()  # same weights, other reading
        model_id = (
            f"upload-{weights_digest(tensors, spec.nonlinearity, whole.vocab, whole.output_vocab, *also)}"
        )
        with self._lock:
            if model_id in self._models:
                return self._models[model_id]
        # The display name is the user's file name as plain text; it is never rendered as HTML.
        card = {
            "id": model_id,
            "name": os.path.basename(filename)[:120] or "upload",
            "nonlinearity": spec.nonlinearity,
            "vocab": whole.vocab,
            "output_vocab": whole.output_vocab,
            "output_kind": None if whole.head is None else "classes",
            "prefix": whole.prefix,
            "embedding_key": whole.embedding_key,
            "head_key": whole.head_key,
            **origin,
        }
        if whole.head is None:
            card["output_kind"] = None
        write_checkpoint(self.settings.upload_dir, model_id, tensors, card)
        return self._add(model_from_card(whole.module, whole.head, card, "upload", whole.embedding))


def load_card(card_path: Path, source: str) -> LoadedModel:
    """Load ``<id>.json`` and its ``<id>.safetensors`` (recurrent weights, optional head.* and
    embedding.weight)."""
    card, own, head_tensors, embedding = read_checkpoint(card_path)
    module = module_from_state_dict(own, "", card.get("nonlinearity", "tanh"))
    head = None
    if "weight" in head_tensors:
        weight = head_tensors["weight"]
        head = nn.Linear(weight.shape[1], weight.shape[0], bias="bias" in head_tensors)
        head.load_state_dict(head_tensors)
        head.eval()
    return model_from_card(module, head, card, source, embedding)


def model_from_card(
    module: nn.Module,
    head: nn.Linear | None,
    card: dict[str, Any],
    source: str,
    embedding: Tensor | None = None,
) -> LoadedModel:
    """A model from its card (as a checkpoint, the trainer or an upload wrote it) and parts."""
    model_id = str(card["id"])
    presets = card.get("presets") or ([card["preset"]] if card.get("preset") else [])
    task = card.get("task")
    output_vocab = card.get("output_vocab") or card.get("output_labels")
    output_kind = None
    if head is not None:
        output_kind = card.get("output_kind") or (get_task(task).output_kind if task else "classes")
    record = make_record(
        model_id,
        str(card.get("name", model_id)),
        module,
        source,
        vocab=card.get("vocab"),
        output_vocab=output_vocab,
        has_embedding=embedding is not None,
        has_head=head is not None,
        task=task,
        metric=card.get("metric"),
        presets=presets,
    )
    keys = ("training", "seeds", "command", "head_params", "description", "config", "prefix", "framework")
    for key in (*keys, "framework_equations", "framework_notes"):
        if key in card:
            record[key] = card[key]
    spec = spec_from_module(module)
    if spec.arch == "gru":  # a Keras or ONNX GRU may run Cho et al.'s equations by its own nature
        spec = with_gru_variant(spec, card.get("gru_variant") or "torch")
        record["gru_variant"] = spec.gru_variant
    # ONNX direction="reverse" and Keras go_backwards: the weights alone cannot say it.
    spec = with_right_to_left(spec, bool(card.get("right_to_left", False)))
    record["right_to_left"] = spec.right_to_left
    return LoadedModel(
        model_id,
        spec,
        record,
        head=head,
        vocab=card.get("vocab"),
        task=task,
        module=module,
        embedding=embedding,
        output_vocab=output_vocab,
        output_kind=output_kind,
    )
