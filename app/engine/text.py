"""Text as model input: the one character vocabulary of gatescope's text models, and the one encoder.

A text model reads one character per step as a one-hot row over its vocabulary (index i <->
vocab[i]). Tabs become four spaces and carriage returns are dropped when the vocabulary has no
such character, as the charlm corpus was prepared; every other character outside the vocabulary
is refused by name.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Newline and printable ASCII (96 characters): the charlm task's and every random text model's.
ASCII_VOCAB: list[str] = ["\n"] + [chr(c) for c in range(32, 127)]


def normalize(text: str, vocab: list[str] = ASCII_VOCAB) -> str:
    """``text`` with tabs expanded to four spaces and '\\r' dropped, where ``vocab`` lacks them."""
    if "\r" not in vocab:
        text = text.replace("\r", "")
    if "\t" not in vocab:
        text = text.replace("\t", "    ")
    return text


def _refuse_unknown(items: list[str], vocab: list[str], whose: str, noun: str, known_as: str) -> None:
    """ValueError naming the ``items`` outside ``vocab`` (at most 12), and what it holds."""
    known = set(vocab)
    unknown = sorted({item for item in items if item not in known})
    if unknown:
        shown = ", ".join(repr(item) for item in unknown[:12]) + (" ..." if len(unknown) > 12 else "")
        raise ValueError(
            f"{len(unknown)} {noun}{'s' * (len(unknown) > 1)} not in {whose} vocabulary: {shown}. "
            f"It {known_as}"
        )


def text_tokens(text: str, vocab: list[str], whose: str = "this model's") -> list[str]:
    """The characters ``text`` is read as (after `normalize`); ValueError naming any unknown one."""
    chars = list(normalize(text, vocab))
    if not chars:
        raise ValueError("the text is empty: type at least one character")
    _refuse_unknown(chars, vocab, whose, "character", f"knows {len(vocab)} characters: {''.join(vocab)!r}")
    return chars


def check_tokens(tokens: list[str], vocab: list[str], whose: str = "this model's") -> list[str]:
    """``tokens`` if every one is in ``vocab``; ValueError naming the unknown ones otherwise."""
    if not tokens:
        raise ValueError("the token list is empty: give at least one token")
    sample = ", ".join(repr(t) for t in vocab[:20]) + (" ..." if len(vocab) > 20 else "")
    _refuse_unknown(tokens, vocab, whose, "token", f"has {len(vocab)} tokens: {sample}")
    return tokens


def token_ids(tokens: list[str], vocab: list[str]) -> Tensor:
    """(T,) long: each token's index in ``vocab`` (every token must be in it)."""
    index = {token: i for i, token in enumerate(vocab)}
    return torch.tensor([index[token] for token in tokens], dtype=torch.long)


def one_hot(tokens: list[str], vocab: list[str]) -> Tensor:
    """(T, len(vocab)) float32 rows, one per token; every token must be in ``vocab``."""
    return torch.nn.functional.one_hot(token_ids(tokens, vocab), len(vocab)).float()


def encode_text(text: str, vocab: list[str], whose: str = "this model's") -> tuple[Tensor, list[str]]:
    """One-hot rows (T, len(vocab)) and the characters they stand for. ValueError as `text_tokens`."""
    tokens = text_tokens(text, vocab, whose)
    return one_hot(tokens, vocab), tokens


def decode(x: Tensor, vocab: list[str]) -> str:
    """The text of a one-hot (or score) sequence (T, len(vocab)): the argmax at each step."""
    return "".join(vocab[int(i)] for i in x.argmax(dim=-1))
