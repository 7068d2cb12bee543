"""A whole model from a user's state_dict: the recurrent module and the parts around it.

A practitioner's model is an embedding, one or more recurrent modules and an output head, read
by a tokenizer. Given the vocabularies, the parts are found by their shapes (or named):

    embedding  the 2-D tensor of shape (len(vocab), input_size); without one, inputs of width
               len(vocab) are one-hot
    head       the (weight, bias) pair of shapes (V_out, directions * P) and (V_out,), V_out =
               len(output_vocab), P the recurrent module's state size

preferring, when several fit, those under the recurrent module's parent prefix (the ``encoder.``
of ``encoder.rnn.``). An ambiguous or missing match is a ValueError that lists the candidates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gatescope.engine import spec_from_module
from gatescope.zoo.readers import is_recurrent_key, module_from_state_dict, rnn_prefixes


@dataclass
class WholeModel:
    """What a whole checkpoint holds around its recurrent module."""

    module: nn.Module
    prefix: str
    embedding: Tensor | None  # (V, input_size) float32, or None: one-hot over vocab, or numbers
    head: nn.Linear | None
    vocab: list[str] | None
    output_vocab: list[str] | None
    embedding_key: str | None = None
    head_key: str | None = None


def parse_vocab(text: str, what: str = "vocab") -> list[str]:
    """A vocabulary from a JSON list of token strings, or from lines (one token per line)."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            tokens = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what} looks like JSON but is not valid: {exc}") from None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"{what} must be a JSON list of strings (index = embedding row)")
    else:
        tokens = text.split("\n")
        if tokens and tokens[-1] == "":
            tokens = tokens[:-1]  # a final newline ends the last line, it is not a token
        tokens = [t.removesuffix("\r") for t in tokens]
    if not tokens:
        raise ValueError(f"{what} is empty: give one token per embedding row")
    duplicates = sorted({t for t in tokens if tokens.count(t) > 1})
    if duplicates:
        shown = ", ".join(repr(t) for t in duplicates[:8])
        raise ValueError(f"{what} lists tokens more than once ({shown}); each row needs its own token")
    return tokens


def describe_modules(state_dict: Mapping[str, Tensor], nonlinearity: str = "tanh") -> list[dict[str, object]]:
    """Every recurrent module in ``state_dict``: prefix, arch and sizes (for the user to pick)."""
    found: list[dict[str, object]] = []
    for prefix in rnn_prefixes(state_dict):
        try:
            spec = spec_from_module(module_from_state_dict(state_dict, prefix, nonlinearity))
        except ValueError as exc:
            found.append({"prefix": prefix, "error": str(exc)})
            continue
        found.append(
            {
                "prefix": prefix,
                "arch": spec.arch,
                "input_size": spec.input_size,
                "hidden_size": None if spec.mixed else spec.hidden_size,
                "hidden_sizes": list(spec.hidden_sizes),
                "num_layers": spec.num_layers,
                "bidirectional": spec.reverse is not None,
                "proj_size": spec.proj_size,
            }
        )
    return found


def _parent(prefix: str) -> str:
    """``encoder.`` for ``encoder.rnn.``; "" for a top-level module."""
    parts = prefix.rstrip(".").split(".")
    return ".".join(parts[:-1]) + "." if len(parts) > 1 else ""


def _pick(candidates: list[str], prefix: str, what: str, shape: str) -> str | None:
    """The one candidate (preferring the module's parent prefix), None if there is none."""
    if len(candidates) > 1:
        parent = _parent(prefix)
        near = [key for key in candidates if parent and key.startswith(parent)]
        if len(near) == 1:
            return near[0]
        shown = ", ".join(repr(k) for k in candidates)
        raise ValueError(f"several tensors could be the {what} {shape}: {shown}; name one with '{what}'")
    return candidates[0] if candidates else None


def _tensor(state_dict: Mapping[str, Tensor], key: str, what: str) -> Tensor:
    value = state_dict.get(key)
    if value is None:
        others = ", ".join(repr(k) for k in sorted(state_dict) if not is_recurrent_key(k))
        raise ValueError(f"{what} key {key!r} not found; other tensors: {others or 'none'}")
    if not value.is_floating_point() or not torch.isfinite(value).all():
        raise ValueError(f"{key} must hold finite floating-point numbers")
    return value.float()


def find_embedding(
    state_dict: Mapping[str, Tensor], prefix: str, vocab: list[str], input_size: int, key: str | None
) -> tuple[Tensor | None, str | None]:
    """The embedding (len(vocab), input_size) and its key; (None, None) for one-hot input."""
    shape = f"of shape ({len(vocab)}, {input_size})"
    if key is None:
        candidates = sorted(
            k
            for k, v in state_dict.items()
            if not is_recurrent_key(k) and tuple(v.shape) == (len(vocab), input_size)
        )
        key = _pick(candidates, prefix, "embedding", shape)
        if key is None:
            if input_size == len(vocab):
                return None, None  # one-hot rows over the vocabulary
            two_d = ", ".join(f"{k} {tuple(v.shape)}" for k, v in sorted(state_dict.items()) if v.dim() == 2)
            raise ValueError(
                f"no embedding {shape} found for {len(vocab)} tokens and the module's input_size "
                f"{input_size}; 2-D tensors in the file: {two_d}. Name it with 'embedding', or check "
                "that the vocabulary has one token per embedding row"
            )
    weight = _tensor(state_dict, key, "embedding")
    if tuple(weight.shape) != (len(vocab), input_size):
        raise ValueError(f"embedding {key!r} has shape {tuple(weight.shape)}, expected {shape}")
    return weight, key


def find_head(
    state_dict: Mapping[str, Tensor],
    prefix: str,
    outputs: int | None,
    width: int,
    key: str | None,
    taken: str | None = None,
    required: bool = False,
) -> tuple[nn.Linear | None, str | None]:
    """The head Linear(width -> outputs) and its weight key; (None, None) when there is none.

    ``key`` names the weight ('fc.weight') or its module ('fc'); without it the head is found by
    shape, which needs ``outputs`` (the output vocabulary's size); ``taken`` (the embedding's key)
    is never the head, even where the shapes agree.
    """
    if key is not None:
        key = key if key in state_dict else f"{key.removesuffix('.')}.weight"
    elif outputs is not None:
        candidates = sorted(
            k
            for k, v in state_dict.items()
            if k.endswith("weight")
            and k != taken
            and not is_recurrent_key(k)
            and tuple(v.shape) == (outputs, width)
        )
        key = _pick(candidates, prefix, "head", f"of shape ({outputs}, {width})")
    if key is None:
        if required:
            two_d = ", ".join(f"{k} {tuple(v.shape)}" for k, v in sorted(state_dict.items()) if v.dim() == 2)
            raise ValueError(
                f"output_vocab has {outputs} tokens but no head of shape ({outputs}, {width}) was found; "
                f"2-D tensors in the file: {two_d}. Name it with 'head'"
            )
        return None, None
    weight = _tensor(state_dict, key, "head")
    if weight.dim() != 2 or weight.shape[1] != width:
        raise ValueError(
            f"head {key!r} has shape {tuple(weight.shape)}; it must read the module's output of width {width}"
        )
    if outputs is not None and weight.shape[0] != outputs:
        raise ValueError(
            f"head {key!r} has {weight.shape[0]} outputs but the output vocabulary has {outputs}"
        )
    bias_key = key.removesuffix("weight") + "bias"
    head = nn.Linear(weight.shape[1], weight.shape[0], bias=bias_key in state_dict)
    with torch.no_grad():
        head.weight.copy_(weight)
        if head.bias is not None:
            bias = _tensor(state_dict, bias_key, "head bias")
            if tuple(bias.shape) != (weight.shape[0],):
                raise ValueError(f"{bias_key} has shape {tuple(bias.shape)}, expected ({weight.shape[0]},)")
            head.bias.copy_(bias)
    return head.eval(), key


def whole_model(
    state_dict: Mapping[str, Tensor],
    prefix: str | None = None,
    nonlinearity: str = "tanh",
    vocab: list[str] | None = None,
    output_vocab: list[str] | None = None,
    embedding: str | None = None,
    head: str | None = None,
) -> WholeModel:
    """The recurrent module at ``prefix`` and the embedding and head around it. ValueError if any
    part is missing, ambiguous or inconsistent, saying which tensors could fit."""
    module = module_from_state_dict(state_dict, prefix, nonlinearity)
    prefix = prefix if prefix is not None else rnn_prefixes(state_dict)[0]
    spec = spec_from_module(module)
    if embedding is not None and vocab is None:
        raise ValueError("an embedding needs its vocabulary: send 'vocab' (one token per embedding row)")
    embedding_weight, embedding_key = (
        find_embedding(state_dict, prefix, vocab, spec.input_size, embedding)
        if vocab is not None
        else (None, None)
    )
    if output_vocab is None and head is None and vocab is not None:
        output_vocab_size: int | None = len(vocab)
    else:
        output_vocab_size = None if output_vocab is None else len(output_vocab)
    width = spec.output_sizes[-1]  # the top layer's output, which the head reads
    head_module, head_key = find_head(
        state_dict, prefix, output_vocab_size, width, head, embedding_key, required=output_vocab is not None
    )
    if (
        head_module is not None
        and output_vocab is None
        and vocab is not None
        and head_module.out_features == len(vocab)
    ):
        output_vocab = vocab  # the sizes agree: the head predicts the input's tokens
    return WholeModel(
        module, prefix, embedding_weight, head_module, vocab, output_vocab, embedding_key, head_key
    )
