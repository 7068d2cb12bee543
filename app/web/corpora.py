"""Uploaded corpus files for the units view: read as UTF-8, checked against a model's vocabulary,
kept on disk (so every server process and a restart find them) under an id of their content.

A file is refused, saying why, when it is empty, larger than max_corpus_file_bytes, not UTF-8
(which byte, where), longer than max_corpus_chars once read, or holds characters the model does
not know (how many, which, and where each first occurs).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gatescope.engine.text import normalize


@dataclass(frozen=True)
class StoredCorpus:
    id: str
    name: str
    text: str


def decode_corpus(data: bytes, max_bytes: int) -> str:
    """The file's text. ValueError if it is empty, too large or not UTF-8 (a leading byte-order
    mark is dropped)."""
    if len(data) > max_bytes:
        raise ValueError(
            f"the file is larger than the corpus file limit of {max_bytes:,} bytes (max_corpus_file_bytes)"
        )
    if not data:
        raise ValueError("the file is empty: a corpus needs at least one character")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} (line "
            f"{line}) is not valid UTF-8; save the file as UTF-8"
        ) from None


def _where(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def corpus_chars(text: str, vocab: list[str], max_chars: int, model_id: str) -> str:
    """``text`` as the model reads it (tabs and carriage returns as `normalize` treats them).
    ValueError if it is empty, longer than ``max_chars`` or holds characters outside ``vocab``:
    how many there are, and each distinct one with its count and where it first occurs."""
    text = normalize(text, vocab)
    if not text:
        raise ValueError("the file has no characters the model reads (only carriage returns)")
    if len(text) > max_chars:
        raise ValueError(
            f"the file has {len(text):,} characters; the corpus limit is {max_chars:,} (max_corpus_chars)"
        )
    known = set(vocab)
    unknown = Counter(ch for ch in text if ch not in known)
    if unknown:
        listed = [
            f"{ch!r} ×{count} (first at {_where(text, text.index(ch))})"
            for ch, count in unknown.most_common(8)
        ]
        more = f", and {len(unknown) - 8} more" if len(unknown) > 8 else ""
        total = sum(unknown.values())
        raise ValueError(
            f"the file has {total:,} character{'s' * (total > 1)} outside the vocabulary of model "
            f"{model_id!r}, "
            f"{len(unknown)} distinct: {', '.join(listed)}{more}. It knows {len(vocab)} characters: "
            f"{''.join(vocab)!r}"
        )
    return text


class CorpusStore:
    """Corpus files in ``folder``: ``<id>.txt`` (UTF-8) and ``<id>.json`` ({"name"}); the id is
    the first 16 hex digits of the text's SHA-256. At most ``keep`` are kept, the least recently
    used going first."""

    def __init__(self, folder: Path, keep: int) -> None:
        self.folder = folder
        self.keep = keep

    def add(self, name: str, text: str) -> StoredCorpus:
        corpus_id = hashlib.sha256(text.encode()).hexdigest()[:16]
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{corpus_id}.json").write_text(json.dumps({"name": name}))
        (self.folder / f"{corpus_id}.txt").write_bytes(text.encode("utf-8"))
        self._prune()
        return StoredCorpus(corpus_id, name, text)

    def get(self, corpus_id: str) -> StoredCorpus:
        """The corpus; KeyError when no such file is kept (never uploaded, or pruned)."""
        path = self.folder / f"{corpus_id}.txt"
        try:
            text = path.read_bytes().decode("utf-8")  # as written: no newline translation
            name = json.loads((self.folder / f"{corpus_id}.json").read_text())["name"]
        except (OSError, ValueError, KeyError):
            raise KeyError(corpus_id) from None
        path.touch()
        return StoredCorpus(corpus_id, str(name), text)

    def _prune(self) -> None:
        files = sorted(self.folder.glob("*.txt"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[self.keep :]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
