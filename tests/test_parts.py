"""Whole checkpoints (gatescope.zoo.parts and POST /api/models): embedding, vocabularies and head
found around a recurrent module, an encoder-decoder traced as a practitioner would, held to the
torch modules' own outputs and to autograd."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import save as save_safetensors
from torch import nn

from gatescope import trace
from gatescope.zoo.parts import parse_vocab, whole_model
from gatescope.zoo.registry import ModelRegistry

GRAPHEMES = ["<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz"]  # 29, as g2p-en's
PHONEMES = ["<pad>", "<unk>", "<s>", "</s>", "AA", "AE", "AH", "B", "D", "EH", "K", "L", "N", "T"]


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(len(GRAPHEMES), 12)
        self.rnn = nn.GRU(12, 16, batch_first=True)


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(len(PHONEMES), 12)
        self.rnn = nn.GRU(12, 16, batch_first=True)
        self.fc = nn.Linear(16, len(PHONEMES))


class Seq2Seq(nn.Module):
    """A grapheme-to-phoneme encoder-decoder shaped like g2p-en's (smaller)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.encoder = Encoder()
        self.decoder = Decoder()
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-0.5, 0.5)


@pytest.fixture
def seq2seq() -> Seq2Seq:
    return Seq2Seq().eval()


def state_file(model: nn.Module) -> bytes:
    return save_safetensors({k: v.contiguous() for k, v in model.state_dict().items()})


def upload(client: TestClient, data: bytes, **fields: str) -> Any:
    return client.post("/api/models", files={"file": ("g2p.safetensors", data)}, data=fields)


def test_several_modules_are_listed_for_the_user_to_pick(client: TestClient, seq2seq: Seq2Seq) -> None:
    response = upload(client, state_file(seq2seq))
    assert response.status_code == 422
    body = response.json()
    assert "choose one with 'prefix'" in body["detail"]
    assert [(m["prefix"], m["arch"], m["input_size"], m["hidden_size"]) for m in body["modules"]] == [
        ("decoder.rnn.", "gru", 12, 16),
        ("encoder.rnn.", "gru", 12, 16),
    ]


def test_encoder_then_decoder_from_its_state_with_predictions(client: TestClient, seq2seq: Seq2Seq) -> None:
    data = state_file(seq2seq)
    # Both embeddings and no head fit the encoder by shape only under its own parent prefix.
    encoder = upload(client, data, prefix="encoder.rnn.", vocab=json.dumps(GRAPHEMES)).json()
    assert encoder["has_embedding"] and not encoder["has_head"] and encoder["vocab"] == GRAPHEMES
    word = [*"cat", "</s>"]
    enc = client.post("/api/trace", json={"model": encoder["id"], "tokens": word}).json()
    ids = torch.tensor([[GRAPHEMES.index(t) for t in word]])
    enc_out, enc_state = seq2seq.encoder.rnn(seq2seq.encoder.embedding(ids))
    np.testing.assert_allclose(
        np.float32(enc["layers"][0]["hidden"]), enc_out[0].detach().numpy(), rtol=1e-5, atol=1e-6
    )
    assert enc["tokens"] == word and enc["predictions"] is None

    # The decoder, as a text file of one token per line, starts from the encoder's last state.
    decoder = upload(client, data, prefix="decoder.rnn.", vocab="\n".join(PHONEMES) + "\n").json()
    assert decoder["has_head"] and decoder["output_vocab"] == PHONEMES
    phones = ["<s>", "K", "AE", "T"]
    h0 = [enc["layers"][0]["hidden"][-1]]
    body = {"model": decoder["id"], "tokens": phones, "h0": h0, "objective": "prediction"}
    dec = client.post("/api/trace", json=body).json()
    dec_ids = torch.tensor([[PHONEMES.index(t) for t in phones]])
    dec_out, _ = seq2seq.decoder.rnn(seq2seq.decoder.embedding(dec_ids), enc_state)
    logits = seq2seq.decoder.fc(dec_out[0])
    np.testing.assert_allclose(
        np.float32(dec["layers"][0]["hidden"]), dec_out[0].detach().numpy(), rtol=1e-5, atol=1e-6
    )
    want_loss = nn.functional.cross_entropy(logits[:-1], dec_ids[0, 1:])
    assert dec["loss"] == pytest.approx(float(want_loss.detach()), rel=1e-5)
    probs, top = torch.softmax(logits, -1).topk(5, -1)
    assert dec["predictions"]["kind"] == "classes" and dec["predictions"]["ids"] == top.tolist()
    np.testing.assert_allclose(
        np.float32(dec["predictions"]["probs"]), probs.detach().numpy(), rtol=1e-5, atol=1e-6
    )

    # "Why did it output T here?": the logit's gradient reaches the embedded input as autograd says.
    asked = client.post("/api/trace", json={**body, "objective": {"logit": "T", "step": 2}}).json()
    x = seq2seq.decoder.embedding(dec_ids)[0].detach().requires_grad_(True)
    out, _ = seq2seq.decoder.rnn(x.unsqueeze(0), enc_state)
    logit = seq2seq.decoder.fc(out[0, 2])[PHONEMES.index("T")]
    assert asked["loss"] == pytest.approx(float(logit.detach()), rel=1e-5)
    module = client.app.state.registry.get(decoder["id"]).module  # type: ignore[attr-defined]
    head = client.app.state.registry.get(decoder["id"]).head  # type: ignore[attr-defined]
    tr = trace(module, x.detach(), h0=enc_state[0], objective=lambda o: head(o[2])[PHONEMES.index("T")])
    (grad_x,) = torch.autograd.grad(logit, x)
    torch.testing.assert_close(tr.grad_input, grad_x, rtol=1e-4, atol=1e-6)

    # The stream gives each step's top-5 as it goes.
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": decoder["id"], "tokens": phones, "h0": h0})
        messages = [ws.receive_json()]
        while messages[-1]["type"] not in ("done", "error"):
            messages.append(ws.receive_json())
    steps = [m for m in messages if m["type"] == "step"]
    assert [m["predictions"]["ids"] for m in steps] == top.tolist()

    # Kept on disk with its parts: a restart traces the same numbers.
    client.app.state.registry = ModelRegistry(client.app.state.settings)  # type: ignore[attr-defined]
    again = client.post("/api/trace", json=body).json()
    assert again["layers"] == dec["layers"] and again["predictions"] == dec["predictions"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"prefix": "encoder.rnn.", "vocab": json.dumps(GRAPHEMES[:-1])}, "no embedding of shape (28, 12)"),
        (
            {"prefix": "decoder.rnn.", "vocab": json.dumps(PHONEMES), "head": "decoder.out"},
            "'decoder.out.weight' not found",
        ),
        ({"prefix": "decoder.rnn.", "vocab": '["a", "a"]'}, "more than once"),
        ({"prefix": "decoder.rnn.", "vocab": "[1, 2]"}, "JSON list of strings"),
        ({"prefix": "decoder.rnn.", "embedding": "decoder.embedding.weight"}, "needs its vocabulary"),
        ({"prefix": "decoder.rnn.", "vocab": json.dumps(PHONEMES), "output_vocab": '["x", "y"]'}, "output"),
        (
            {
                "prefix": "encoder.rnn.",
                "vocab": json.dumps(GRAPHEMES),
                "embedding": "decoder.embedding.weight",
            },
            "shape",
        ),
    ],
)
def test_missing_or_inconsistent_parts_are_refused(
    client: TestClient, seq2seq: Seq2Seq, fields: dict[str, str], words: str
) -> None:
    response = upload(client, state_file(seq2seq), **fields)
    assert response.status_code == 422 and words in response.json()["detail"], response.text


def test_ambiguous_embeddings_list_the_candidates() -> None:
    """Two same-shaped embeddings and a module whose parent prefers neither."""
    state = {
        "rnn.weight_ih_l0": torch.randn(8, 3),
        "rnn.weight_hh_l0": torch.randn(8, 8),
        "emb_a.weight": torch.randn(5, 3),
        "emb_b.weight": torch.randn(5, 3),
    }
    with pytest.raises(
        ValueError, match=r"several tensors could be the embedding .*'emb_a.weight', 'emb_b.weight'"
    ):
        whole_model(state, vocab=list("abcde"))
    picked = whole_model(state, vocab=list("abcde"), embedding="emb_b.weight")
    assert picked.embedding_key == "emb_b.weight" and torch.equal(picked.embedding, state["emb_b.weight"])


def test_one_hot_input_when_the_vocabulary_is_the_input_width(client: TestClient) -> None:
    module = nn.LSTM(4, 6)
    head = nn.Linear(6, 4)
    state = {
        **{f"lstm.{k}": v for k, v in module.state_dict().items()},
        **{f"out.{k}": v for k, v in head.state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    record = client.post(
        "/api/models", files={"file": ("lm.pt", buffer.getvalue())}, data={"vocab": '["x", "y", "</s>", "z"]'}
    ).json()
    assert (
        not record["has_embedding"]
        and record["has_head"]
        and record["output_vocab"] == ["x", "y", "</s>", "z"]
    )
    got = client.post("/api/trace", json={"model": record["id"], "tokens": ["x", "</s>", "z"]}).json()
    x = torch.eye(4)[[0, 2, 3]]
    np.testing.assert_allclose(
        np.float32(got["layers"][0]["hidden"]), module(x)[0].detach().numpy(), rtol=1e-5, atol=1e-6
    )
    bad = client.post("/api/trace", json={"model": record["id"], "tokens": ["x", "<s>"]})
    assert bad.status_code == 422 and "1 token not in this model's vocabulary: '<s>'" in bad.json()["detail"]
    both = client.post("/api/trace", json={"model": record["id"], "tokens": ["x"], "text": "x"})
    assert both.status_code == 422 and "exactly one of" in both.json()["detail"]


def test_vocabulary_files() -> None:
    assert parse_vocab("a\nb\n</s>\n") == ["a", "b", "</s>"]
    assert parse_vocab('["a", "\\n"]') == ["a", "\n"]
    with pytest.raises(ValueError, match="empty"):
        parse_vocab("")
