"""Right-to-left layers from other frameworks: ONNX direction="reverse" and Keras go_backwards=True,
uploaded and traced, held to onnxruntime's Y and Y_h, to Keras' predict (within 1e-4, random
non-zero biases), and their gradients to the unrolled float64 autograd loop (tests/reference.py)
run on the flipped input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from tests.reference import assert_close_relative, reference_trace
from tests.test_foreign import (
    TOL,
    keras,
    keras_outputs,
    numbers,
    onnx_model,
    ort,
    sequential,
    traced,
    two_nodes,
    upload_file,
    upload_keras,
)
from tests.test_foreign import pytestmark as foreign_marks

pytestmark = foreign_marks
from onnx import TensorProto, helper  # noqa: E402

from gatescope.zoo.registry import ModelRegistry  # noqa: E402


def final_state_norm(hs: list[list[torch.Tensor]]) -> torch.Tensor:
    """0.5 ||h_n||² of the top layer, h_n its last state in processing order (input position 0)."""
    return 0.5 * hs[-1][-1].pow(2).sum()


def check_gradients(
    client: TestClient, record: dict[str, Any], x: np.ndarray[Any, Any], tr: dict[str, Any]
) -> None:
    """Every layer's dL/dh_t (and dL/dc_t) against autograd on the torch module holding the same
    weights, run over the flipped input (inputs only: the reference is made for numbers)."""
    model = client.app.state.registry.get(record["id"])
    seq = torch.tensor(x) if model.embedding is None else model.embedding[torch.tensor(x)]
    want = reference_trace(model.module, seq.flip(0), final_state_norm, gru_variant=model.spec.gru_variant)
    assert tr["loss"] == pytest.approx(want["loss"], rel=1e-4)
    for got, expected in zip(tr["layers"], want["layers"], strict=True):
        assert_close_relative(torch.tensor(got["grad_hidden"]), expected["grad_hidden"].flip(0))
        if expected["grad_cell"] is not None:
            assert_close_relative(torch.tensor(got["grad_cell"]), expected["grad_cell"].flip(0))


# ---- ONNX direction="reverse" ---------------------------------------------------------------------

ONNX_REVERSE = {
    "lstm": {"op": "LSTM"},
    "gru-linear-before-reset-1": {"op": "GRU", "linear_before_reset": 1},
    "gru-linear-before-reset-0": {"op": "GRU", "linear_before_reset": 0},
    "rnn-tanh": {"op": "RNN"},
    "rnn-relu": {"op": "RNN", "activations": ["Relu"]},
}


def with_final_state(model: Any) -> Any:
    """The node's Y_h too: (D, 1, H), the state each direction ends in."""
    model.graph.node[0].output.append("Y_h")
    model.graph.output.append(helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None))
    return model


@pytest.mark.parametrize("case", ONNX_REVERSE)
def test_onnx_reverse_nodes_trace_as_onnxruntime_computes(client: TestClient, case: str) -> None:
    model = with_final_state(onnx_model(direction="reverse", steps=8, **ONNX_REVERSE[case]))
    response = upload_file(client, "reverse.onnx", model.SerializeToString())
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["right_to_left"] is True and record["bidirectional"] is False
    assert 'direction="reverse"' in record["framework_equations"]
    x = numbers(8, 3)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y, y_h = session.run(["Y", "Y_h"], {"X": x[:, None, :]})  # (T, 1, 1, H), (1, 1, H)
    tr = traced(client, record["id"], x)
    (layer,) = tr["layers"]
    assert layer["reverse"] is None
    np.testing.assert_allclose(layer["hidden"], y[:, 0, 0], atol=TOL, rtol=0)  # indexed by input position
    np.testing.assert_allclose(layer["hidden"][0], y_h[0, 0], atol=TOL, rtol=0)  # it ends at t = 0
    assert tr["loss"] == pytest.approx(0.5 * float(np.sum(y_h.astype(np.float64) ** 2)), rel=1e-4)
    check_gradients(client, record, x, tr)


def test_onnx_reverse_and_forward_of_the_same_weights_are_two_models(client: TestClient) -> None:
    forward = upload_file(client, "f.onnx", onnx_model("GRU").SerializeToString()).json()
    reverse = upload_file(client, "r.onnx", onnx_model("GRU", direction="reverse").SerializeToString()).json()
    assert forward["id"] != reverse["id"]
    assert (forward["right_to_left"], reverse["right_to_left"]) == (False, True)


def test_a_graph_with_several_nodes_lists_which_read_right_to_left(client: TestClient) -> None:
    decoder = onnx_model("GRU", name="decoder", direction="reverse")
    data = two_nodes(onnx_model("LSTM", name="encoder"), decoder)
    response = upload_file(client, "two.onnx", data)
    assert response.status_code == 422
    listed = [(m["prefix"], m["right_to_left"]) for m in response.json()["modules"]]
    assert listed == [("encoder", False), ("decoder", True)]


def receive_until_done(ws: Any) -> list[dict[str, Any]]:
    messages = []
    while not messages or messages[-1]["type"] not in ("done", "error"):
        messages.append(ws.receive_json())
    return messages


@pytest.mark.parametrize("arch", ["LSTM", "GRU", "RNN"])
def test_a_right_to_left_model_streams_what_post_computes(client: TestClient, arch: str) -> None:
    """Its steps, by input position t, and its gradients equal POST /api/trace's; an append sends
    every step again from 0 (each earlier step has read the new input); clamps are refused."""
    record = upload_file(client, "r.onnx", onnx_model(arch, direction="reverse").SerializeToString()).json()
    x = numbers(7, 3)
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": record["id"], "inputs": x[:5].tolist()})
        first = receive_until_done(ws)
        ws.send_json({"type": "append", "inputs": x[5:].tolist()})
        second = receive_until_done(ws)
        clamp = {"layer": 0, "quantity": "hidden", "units": [0], "steps": [0, 2], "value": 0.0}
        ws.send_json({"type": "start", "model": record["id"], "inputs": x.tolist(), "interventions": [clamp]})
        refused = ws.receive_json()
    assert refused["type"] == "error" and "right to left" in refused["detail"]
    for messages, steps in ((first, 5), (second, 7)):
        assert messages[0]["type"] == "started" and messages[0]["from"] == 0 and messages[0]["steps"] == steps
        whole = traced(client, record["id"], x[:steps])
        rows = [m for m in messages if m["type"] == "step"]
        assert [m["t"] for m in rows] == list(range(steps))
        streamed = np.asarray([m["layers"][0]["hidden"] for m in rows])
        np.testing.assert_allclose(streamed, np.asarray(whole["layers"][0]["hidden"]), rtol=1e-6, atol=1e-7)
        for name, values in whole["layers"][0]["gates"].items():
            got = np.asarray([m["layers"][0]["gates"][name] for m in rows])
            np.testing.assert_allclose(got, np.asarray(values), rtol=1e-6, atol=1e-7)
        done = messages[-1]
        assert done["type"] == "done" and done["loss"] == pytest.approx(whole["loss"], rel=1e-6)
        np.testing.assert_allclose(
            np.asarray(done["layers"][0]["grad_hidden"]),
            np.asarray(whole["layers"][0]["grad_hidden"]),
            rtol=1e-5,
            atol=1e-7,
        )


def test_the_equations_of_a_right_to_left_model_start_from_t_plus_1(client: TestClient) -> None:
    record = upload_file(client, "r.onnx", onnx_model("LSTM", direction="reverse").SerializeToString()).json()
    # POST /api/trace answers, and the equations view plugs in the state the step started from: t + 1's
    x = numbers(5, 3)
    hidden = np.asarray(traced(client, record["id"], x)["layers"][0]["hidden"])
    body = {"model": record["id"], "inputs": x.tolist(), "unit": 1}
    for step, before in ((2, hidden[3, 1]), (4, 0.0)):  # t = T-1 starts from h0 = 0
        terms = client.post("/api/analysis/equations", json={**body, "step": step}).json()["terms"]["lstm"]
        assert terms["h_prev"] == pytest.approx(float(before), abs=1e-6)
        assert terms["h"] == pytest.approx(float(hidden[step, 1]), abs=1e-6)


# ---- Keras go_backwards=True ------------------------------------------------------------------------


def softmax_head(classes: int) -> Any:
    return keras.layers.Dense(classes, activation="softmax")


KERAS_BACKWARDS = {
    "lstm-softmax": lambda: sequential(
        keras.layers.LSTM(5, go_backwards=True, return_sequences=True), softmax_head(4)
    ),
    "gru-reset-after-linear-head": lambda: sequential(
        keras.layers.GRU(5, go_backwards=True, return_sequences=True, reset_after=True), keras.layers.Dense(2)
    ),
    "gru-cho-form": lambda: sequential(
        keras.layers.GRU(5, go_backwards=True, return_sequences=True, reset_after=False),
        keras.layers.Dense(2),
    ),
    "simplernn-relu": lambda: sequential(
        keras.layers.SimpleRNN(4, activation="relu", go_backwards=True, return_sequences=True)
    ),
    "simplernn-tanh-last-state": lambda: sequential(
        keras.layers.SimpleRNN(4, go_backwards=True), keras.layers.Dense(3, activation="sigmoid")
    ),
    # the second layer reads the first's reversed outputs as they come: the whole stack reads right to left
    "lstm-stack-embedding-last-state": lambda: sequential(
        keras.layers.Embedding(9, 3),
        keras.layers.LSTM(4, go_backwards=True, return_sequences=True),
        keras.layers.LSTM(4),
        softmax_head(9),
        shape=(None,),
        dtype="int32",
    ),
}


def check_keras_backwards(
    client: TestClient, model: Any, x: np.ndarray[Any, Any], tmp_path: Path, suffix: str
) -> dict[str, Any]:
    """Keras returns a go_backwards stack's outputs in reversed order (output k is input position
    T-1-k) and its last state is the one at t = 0; the head reads what Keras gives it."""
    record = upload_keras(client, model, tmp_path, suffix)
    assert record["framework"] == "keras" and record["right_to_left"] is True
    outputs = keras_outputs(model, x)
    recurrent = [
        o for layer, o in zip(model.layers, outputs, strict=True) if isinstance(layer, keras.layers.RNN)
    ]
    tr = traced(client, record["id"], x)
    assert len(tr["layers"]) == len(recurrent)
    for layer, expected in zip(tr["layers"], recurrent, strict=True):
        hidden = np.asarray(layer["hidden"])
        got = hidden[0] if expected.ndim == 1 else hidden[::-1]
        np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
    if isinstance(model.layers[-1], keras.layers.Dense):
        head = client.app.state.registry.get(record["id"]).head
        with torch.no_grad():
            logits = head(torch.tensor(tr["layers"][-1]["hidden"], dtype=torch.float32)).numpy()
        activation = model.layers[-1].get_config()["activation"]
        if activation == "softmax":
            got = np.exp(logits - logits.max(-1, keepdims=True))
            got /= got.sum(-1, keepdims=True)
        else:
            got = 1 / (1 + np.exp(-logits)) if activation == "sigmoid" else logits
        expected = outputs[-1]
        np.testing.assert_allclose(got[0] if expected.ndim == 1 else got[::-1], expected, atol=TOL, rtol=0)
        if tr["predictions"] is not None and expected.ndim == 2 and activation == "softmax":
            top = np.asarray(tr["predictions"]["probs"])[:, 0]  # the page's top-1, per input position
            np.testing.assert_allclose(top, expected[::-1].max(-1), atol=TOL, rtol=0)
    check_gradients(client, record, x, tr)
    return record


@pytest.mark.parametrize("case", KERAS_BACKWARDS)
def test_keras_go_backwards_traces_as_keras_predicts(client: TestClient, tmp_path: Path, case: str) -> None:
    model = KERAS_BACKWARDS[case]()
    x = np.random.default_rng(2).integers(0, 9, 11).astype("int64") if "embedding" in case else numbers()
    record = check_keras_backwards(client, model, x, tmp_path, ".keras")
    notes = " ".join(record["framework_notes"])
    if "last-state" in case:
        assert "t = 0, where this stack reading right to left ends" in notes
    else:
        assert "output k is input position T-1-k" in notes
    assert "go_backwards=True" in record["framework_equations"]


def test_keras_2_h5_go_backwards_and_the_flag_survive_a_restart(client: TestClient, tmp_path: Path) -> None:
    record = check_keras_backwards(client, KERAS_BACKWARDS["gru-cho-form"](), numbers(), tmp_path, ".h5")
    client.app.state.registry = ModelRegistry(client.app.state.settings)  # as after a restart
    spec = client.app.state.registry.get(record["id"]).spec
    assert (spec.right_to_left, spec.gru_variant) == (True, "cho")
    listed = {m["id"]: m for m in client.get("/api/models").json()["models"]}
    assert listed[record["id"]]["right_to_left"] is True


@pytest.mark.parametrize(
    ("layers", "named"),
    [
        (  # the second flips the first's reversed outputs back: it reads left to right
            [
                keras.layers.LSTM(4, go_backwards=True, return_sequences=True, name="first"),
                keras.layers.LSTM(4, go_backwards=True, name="second"),
            ],
            "'first' right to left, 'second' left to right",
        ),
        (
            [keras.layers.GRU(4, return_sequences=True), keras.layers.GRU(4, go_backwards=True)],
            "read the input in different directions",
        ),
        (
            [
                keras.layers.Bidirectional(
                    keras.layers.LSTM(4, go_backwards=True, return_sequences=True),
                    backward_layer=keras.layers.LSTM(4, return_sequences=True),
                )
            ],
            "wraps a layer with go_backwards=True",
        ),
    ],
    ids=["back-back", "forward-back", "bidirectional-wrapping-go-backwards"],
)
def test_keras_stacks_reading_both_ways_are_refused(
    client: TestClient, tmp_path: Path, layers: list[Any], named: str
) -> None:
    path = tmp_path / "model.keras"
    keras.Sequential([keras.Input((None, 3)), *layers]).save(path)
    response = upload_file(client, path.name, path.read_bytes())
    assert response.status_code == 422 and named in response.json()["detail"], response.text


def test_the_prediction_objective_of_a_right_to_left_model_predicts_the_token_before(
    client: TestClient, tmp_path: Path
) -> None:
    """Its output at t has read tokens t .. T-1, so its own next-token loss asks for token t - 1:
    the mean cross-entropy of the head's softmax at t = 1 .. T-1 against tokens 0 .. T-2."""
    model = KERAS_BACKWARDS["lstm-stack-embedding-last-state"]()
    record = upload_keras(client, model, tmp_path)
    x = np.random.default_rng(5).integers(0, 9, 12).astype("int64")
    tokens = [str(int(t)) for t in x]
    body = {"model": record["id"], "tokens": tokens, "objective": "prediction"}
    response = client.post("/api/trace", json=body)
    assert response.status_code == 200, response.text
    tr = response.json()
    head = client.app.state.registry.get(record["id"]).head
    with torch.no_grad():
        logits = head(torch.tensor(tr["layers"][-1]["hidden"], dtype=torch.float64).float()).double()
    log_probs = torch.log_softmax(logits, -1).numpy()
    vocab = record["vocab"]
    before = [vocab.index(token) for token in tokens[:-1]]
    expected = -np.mean([log_probs[t, before[t - 1]] for t in range(1, len(tokens))])
    assert tr["loss"] == pytest.approx(expected, rel=1e-5)
