"""Keras and ONNX uploads (gatescope.zoo.keras_reader, onnx_reader): models built with Keras
itself (on its torch backend, no TensorFlow) and ONNX graphs built with onnx.helper, uploaded
through POST /api/models and traced, held to Keras' predict and to onnxruntime within 1e-4.
Every bias is random and non-zero, so a wrong gate order cannot pass. And refusals: settings
gatescope does not compute, and files that carry code or point outside themselves."""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on torch: TensorFlow is not needed
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras-home-"))  # nothing written to ~
keras = pytest.importorskip("keras")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from gatescope.zoo.registry import ModelRegistry  # noqa: E402
from tests.reference import assert_close_relative, reference_directions, reference_trace  # noqa: E402

TOL = 1e-4
# Keras' torch backend converts through np.array(x) without NumPy 2's copy keyword.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


# ---- Keras ------------------------------------------------------------------------------------------


def randomize(model: Any, seed: int = 0) -> None:
    """Every weight, biases included, drawn at random (Keras initializes biases to zero)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])


def sequential(*layers: Any, shape: tuple[int | None, ...] = (None, 3), dtype: str = "float32") -> Any:
    model = keras.Sequential([keras.Input(shape, dtype=dtype), *layers])
    randomize(model)
    return model


def upload_file(client: TestClient, name: str, data: bytes, **fields: str) -> Any:
    return client.post("/api/models", files={"file": (name, data)}, data=fields)


def upload_keras(client: TestClient, model: Any, tmp_path: Path, suffix: str = ".keras") -> dict[str, Any]:
    path = tmp_path / f"model{suffix}"
    model.save(path)
    response = upload_file(client, path.name, path.read_bytes())
    assert response.status_code == 201, response.text
    return dict(response.json())


def keras_outputs(model: Any, x: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    """Every layer's output for one sequence, by Keras' own predict."""
    probe = keras.Model(model.inputs, [layer.output for layer in model.layers])
    outputs = probe.predict(x[None], verbose=0)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]  # one layer: not a list
    return [np.asarray(out)[0] for out in outputs]


def traced(client: TestClient, model_id: str, x: np.ndarray[Any, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model_id}
    if x.dtype.kind == "i":
        body["tokens"] = [str(int(t)) for t in x]
    else:
        body["inputs"] = x.tolist()
    response = client.post("/api/trace", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def layer_output(layer: dict[str, Any]) -> np.ndarray[Any, Any]:
    """A traced layer's output as Keras returns it: (T, H), or (T, 2H) with the reverse direction."""
    hidden = np.asarray(layer["hidden"])
    return hidden if layer["reverse"] is None else np.concatenate([hidden, layer["reverse"]["hidden"]], 1)


def check_keras(
    client: TestClient, model: Any, x: np.ndarray[Any, Any], tmp_path: Path, suffix: str
) -> dict[str, Any]:
    """Upload ``model``, trace ``x`` and hold every recurrent layer's states and the head to Keras."""
    record = upload_keras(client, model, tmp_path, suffix)
    assert record["framework"] == "keras"
    outputs = keras_outputs(model, x)
    recurrent = [o for layer, o in zip(model.layers, outputs, strict=True) if _is_recurrent(layer)]
    tr = traced(client, record["id"], x)
    assert len(tr["layers"]) == len(recurrent)
    for layer, expected in zip(tr["layers"], recurrent, strict=True):
        got = layer_output(layer)
        if expected.ndim == 1:  # return_sequences=False: Keras keeps the last step
            got = got[-1]
        np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
    if isinstance(model.layers[-1], keras.layers.Dense):
        head = client.app.state.registry.get(record["id"]).head
        top = torch.tensor(layer_output(tr["layers"][-1]), dtype=torch.float32)
        with torch.no_grad():
            logits = head(top)
        activation = model.layers[-1].get_config()["activation"]
        got = {"softmax": torch.softmax(logits, -1), "sigmoid": torch.sigmoid(logits)}.get(activation, logits)
        expected = outputs[-1]
        np.testing.assert_allclose(
            got.numpy()[-1] if expected.ndim == 1 else got.numpy(), expected, atol=TOL, rtol=0
        )
    return record


def _is_recurrent(layer: Any) -> bool:
    return isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional)


def numbers(steps: int = 9, width: int = 3, seed: int = 1) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).normal(size=(steps, width)).astype("float32")


KERAS_CASES = {
    "lstm-stack-embedding-softmax": lambda: sequential(
        keras.layers.Embedding(11, 4),
        keras.layers.LSTM(6, return_sequences=True),
        keras.layers.LSTM(6, return_sequences=True),
        keras.layers.Dense(11, activation="softmax"),
        shape=(None,),
        dtype="int32",
    ),
    "gru-torch-form-linear-head": lambda: sequential(
        keras.layers.GRU(5, return_sequences=True, reset_after=True), keras.layers.Dense(2)
    ),
    "simplernn-relu-last-step": lambda: sequential(
        keras.layers.SimpleRNN(4, activation="relu", return_sequences=True),
        keras.layers.SimpleRNN(4, activation="relu"),
        keras.layers.Dense(3, activation="sigmoid"),
    ),
    "simplernn-tanh": lambda: sequential(keras.layers.SimpleRNN(5, return_sequences=True)),
    "bidirectional-lstm": lambda: sequential(
        keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True)),
        keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True)),
        keras.layers.Dense(3, activation="softmax"),
    ),
    "bidirectional-gru": lambda: sequential(
        keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True)), keras.layers.Dropout(0.5)
    ),
    "lstm-no-bias-unrolled-dropout": lambda: sequential(
        keras.layers.LSTM(
            5, use_bias=False, unroll=True, dropout=0.3, recurrent_dropout=0.2, return_sequences=True
        )
    ),
    "gru-cho-form": lambda: sequential(
        keras.layers.GRU(5, return_sequences=True, reset_after=False), keras.layers.Dense(2)
    ),
    "bidirectional-gru-cho-form": lambda: sequential(
        keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True, reset_after=False))
    ),
    # Stacks whose layers differ in size, traced as one multi-layer model (issue 12).
    "lstm-24-16-sizes": lambda: sequential(
        keras.layers.LSTM(24, return_sequences=True), keras.layers.LSTM(16), keras.layers.Dense(2)
    ),
    "gru-sizes-embedding": lambda: sequential(
        keras.layers.Embedding(11, 4),
        keras.layers.GRU(7, return_sequences=True),
        keras.layers.GRU(3, return_sequences=True),
        keras.layers.GRU(5, return_sequences=True),
        keras.layers.Dense(11, activation="softmax"),
        shape=(None,),
        dtype="int32",
    ),
    "simplernn-sizes-cho-free": lambda: sequential(
        keras.layers.SimpleRNN(6, activation="relu", return_sequences=True),
        keras.layers.SimpleRNN(2, activation="relu", return_sequences=True),
    ),
    "gru-cho-form-sizes": lambda: sequential(
        keras.layers.GRU(6, return_sequences=True, reset_after=False),
        keras.layers.GRU(4, return_sequences=True, reset_after=False),
    ),
    "bidirectional-lstm-sizes": lambda: sequential(
        keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True)),
        keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True)),
        keras.layers.Dense(3, activation="sigmoid"),
    ),
}


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("case", KERAS_CASES)
def test_keras_models_trace_as_keras_predicts(
    client: TestClient, tmp_path: Path, case: str, suffix: str
) -> None:
    model = KERAS_CASES[case]()
    x = np.random.default_rng(2).integers(0, 11, 12).astype("int64") if "embedding" in case else numbers()
    check_keras(client, model, x, tmp_path, suffix)


def test_keras_functional_chain_and_record(client: TestClient, tmp_path: Path) -> None:
    inputs = keras.Input((None, 3))
    hidden = keras.layers.GRU(4, return_sequences=True, name="encoder")(inputs)
    hidden = keras.layers.Dropout(0.2)(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="out")(hidden))
    randomize(model)
    record = check_keras(client, model, numbers(), tmp_path, ".keras")
    assert (record["arch"], record["gru_variant"], record["has_head"]) == ("gru", "torch", True)
    assert "z, r, h" in record["framework_equations"]


def test_keras_gru_reset_after_false_is_stored_as_cho(client: TestClient, tmp_path: Path) -> None:
    """The model's own equations are remembered (also after a restart); a request may ask for
    the other form."""
    record = upload_keras(client, KERAS_CASES["gru-cho-form"](), tmp_path)
    assert record["gru_variant"] == "cho" and "reset_after=False" in record["framework_equations"]
    client.app.state.registry = ModelRegistry(client.app.state.settings)  # as after a restart
    assert client.app.state.registry.get(record["id"]).spec.gru_variant == "cho"
    body = {"model": record["id"], "inputs": numbers().tolist()}
    assert client.post("/api/trace", json=body).json()["gru_variant"] == "cho"
    assert client.post("/api/trace", json={**body, "gru_variant": "torch"}).json()["gru_variant"] == "torch"


@pytest.mark.parametrize("case", ["lstm-24-16-sizes", "gru-cho-form-sizes", "bidirectional-lstm-sizes"])
def test_keras_stack_of_different_sizes_gradients_match_the_unrolled_reference(
    client: TestClient, tmp_path: Path, case: str
) -> None:
    """The stack's traced states are Keras' own (check_keras, layer by layer); its gradients are
    autograd's on the unrolled float64 reference over the weights as read: for L = 0.5 ||h_n||²,
    and (one direction) for a unit that only the wider lower layer has."""
    model = KERAS_CASES[case]()
    x = numbers(seed=3)
    record = check_keras(client, model, x, tmp_path, ".keras")
    recurrent = [layer for layer in model.layers if _is_recurrent(layer)]
    sizes = [getattr(layer, "forward_layer", layer).units for layer in recurrent]
    assert (record["hidden_size"], record["hidden_sizes"], record["num_layers"]) == (None, sizes, 2)
    assert record["state_sizes"] == sizes
    module = client.app.state.registry.get(record["id"]).module
    seq = torch.from_numpy(x)

    def traced_with(objective: Any) -> dict[str, Any]:
        body = {"model": record["id"], "inputs": x.tolist(), "objective": objective}
        response = client.post("/api/trace", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    if record["bidirectional"]:
        top = sizes[-1]
        want = reference_directions(
            module, seq, lambda out: 0.5 * out[-1, :top].pow(2).sum() + 0.5 * out[0, top:].pow(2).sum()
        )
        tr = traced_with("hidden_norm")
        assert tr["loss"] == pytest.approx(want[0][0]["loss"], rel=1e-4)
        for layer, per_direction in enumerate(want):
            parts = [tr["layers"][layer], tr["layers"][layer]["reverse"]]
            for got, expected in zip(parts, per_direction, strict=True):
                assert_close_relative(torch.tensor(got["grad_hidden"]), expected["grad_hidden"])
                assert_close_relative(torch.tensor(got["grad_cell"]), expected["grad_cell"])
        return
    variant = record["gru_variant"] or "torch"
    unit = sizes[0] - 1  # a unit only the wider bottom layer has
    for objective, loss in (
        ("hidden_norm", lambda hs: 0.5 * hs[-1][-1].pow(2).sum()),
        ({"layer": 0, "unit": unit, "step": 4}, lambda hs: hs[0][4][unit]),
    ):
        tr = traced_with(objective)
        ref = reference_trace(module, seq, loss, gru_variant=variant)
        assert tr["loss"] == pytest.approx(ref["loss"], rel=1e-4, abs=1e-7)
        for got, want_layer in zip(tr["layers"], ref["layers"], strict=True):
            assert_close_relative(torch.tensor(got["grad_hidden"]), want_layer["grad_hidden"])
            if want_layer["grad_cell"] is not None:
                assert_close_relative(torch.tensor(got["grad_cell"]), want_layer["grad_cell"])


def test_keras_stack_of_different_sizes_takes_initial_states_per_layer(
    client: TestClient, tmp_path: Path
) -> None:
    """h0 and c0 of a 24 -> 16 stack are one row per layer of that layer's width; Keras, given
    the same initial states, computes the same states. One rectangular tensor is refused."""
    model = KERAS_CASES["lstm-24-16-sizes"]()
    record = upload_keras(client, model, tmp_path)
    x = numbers(steps=6)
    rng = np.random.default_rng(4)
    h0 = [rng.normal(size=24).astype("float32"), rng.normal(size=16).astype("float32")]
    c0 = [rng.normal(size=24).astype("float32"), rng.normal(size=16).astype("float32")]
    body = {
        "model": record["id"],
        "inputs": x.tolist(),
        "h0": [h.tolist() for h in h0],
        "c0": [c.tolist() for c in c0],
    }
    tr = client.post("/api/trace", json=body)
    assert tr.status_code == 200, tr.text
    lower, upper = model.layers[0], model.layers[1]
    want_lower = lower(x[None], initial_state=[h0[0][None], c0[0][None]])
    upper_seq = keras.layers.LSTM(16, return_sequences=True)
    upper_seq.build((None, None, 24))
    upper_seq.set_weights(upper.get_weights())
    want_upper = upper_seq(want_lower, initial_state=[h0[1][None], c0[1][None]])
    for layer, want in enumerate((want_lower, want_upper)):
        expected = keras.ops.convert_to_numpy(want)[0]
        np.testing.assert_allclose(tr.json()["layers"][layer]["hidden"], expected, atol=TOL, rtol=0)
    square = client.post("/api/trace", json={**body, "h0": [[0.0] * 16, [0.0] * 16]})
    assert square.status_code == 422
    assert "h0 row 0 must have 24 numbers (layer 0's width), got 16" in square.json()["detail"]


def test_keras_stack_of_different_sizes_streams_and_is_intervened_on(
    client: TestClient, tmp_path: Path
) -> None:
    """The stream steps a 24 -> 16 stack as the trace computes it, with a unit objective and a
    clamp in the narrower layer; unit ranges are each layer's own."""
    record = upload_keras(client, KERAS_CASES["lstm-24-16-sizes"](), tmp_path)
    x = numbers(steps=7).tolist()
    start = {
        "model": record["id"],
        "inputs": x,
        "objective": {"layer": 0, "unit": 23, "step": 5},
        "interventions": [{"layer": 1, "quantity": "hidden", "units": [15], "steps": [1, 4], "value": 0.5}],
    }
    whole = client.post("/api/trace", json=start).json()
    assert [len(row) for row in whole["layers"][1]["hidden"]] == [16] * 7
    assert [row[15] for row in whole["layers"][1]["hidden"][1:4]] == [0.5] * 3
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", **start})
        messages = []
        while (message := ws.receive_json())["type"] not in ("done", "error"):
            messages.append(message)
    assert message["type"] == "done", message
    steps = [m for m in messages if m["type"] == "step"]
    for layer, width in ((0, 24), (1, 16)):
        streamed = np.float32([m["layers"][layer]["hidden"] for m in steps])
        assert streamed.shape == (7, width)
        np.testing.assert_allclose(
            streamed, np.float32(whole["layers"][layer]["hidden"]), rtol=1e-5, atol=1e-6
        )
        grads = [np.float32(m["layers"][layer]["grad_hidden"]) for m in (message, whole)]
        np.testing.assert_allclose(*grads, rtol=1e-5, atol=1e-9)  # two runs: last-bit differences
    for objective, said in (
        ({"layer": 1, "unit": 16, "step": 0}, "layer 1 has 16"),
        ({"layer": 0, "unit": 24, "step": 0}, "layer 0 has 24"),
    ):
        bad = client.post("/api/trace", json={**start, "interventions": None, "objective": objective})
        assert bad.status_code == 422 and said in bad.json()["detail"], bad.text
    clamp = {"layer": 1, "quantity": "cell", "units": [20], "steps": [0, 2], "value": 0.0}
    bad = client.post("/api/trace", json={**start, "interventions": [clamp]})
    assert bad.status_code == 422 and "cell has units 0..15 in layer 1" in bad.json()["detail"], bad.text


def test_keras_mask_zero_and_return_sequences_are_said(client: TestClient, tmp_path: Path) -> None:
    model = sequential(
        keras.layers.Embedding(7, 3, mask_zero=True), keras.layers.LSTM(4), shape=(None,), dtype="int32"
    )
    record = upload_keras(client, model, tmp_path)
    notes = " ".join(record["framework_notes"])
    assert "mask_zero" in notes and "return_sequences=False" in notes
    assert record["vocab"] == [str(i) for i in range(7)] and record["has_embedding"]


@pytest.mark.parametrize(
    ("layers", "named"),
    [
        ([keras.layers.LSTM(4, recurrent_activation="hard_sigmoid")], "hard_sigmoid"),
        ([keras.layers.GRU(4, activation="relu")], "activation='relu'"),
        (
            [keras.layers.LSTM(4, return_sequences=True), keras.layers.LSTM(4, go_backwards=True)],
            "directions",
        ),
        ([keras.layers.LSTM(4, return_sequences=True), keras.layers.GRU(4)], "differ in kinds"),
        ([keras.layers.LSTM(4), keras.layers.Dense(3, activation="relu")], "activation='relu'"),
        ([keras.layers.Bidirectional(keras.layers.LSTM(4), merge_mode="sum")], "merge_mode='sum'"),
        ([keras.layers.Conv1D(2, 2), keras.layers.LSTM(4)], "is a Conv1D"),
    ],
    ids=["hard_sigmoid", "relu-gru", "go_backwards", "kinds", "dense-relu", "merge", "conv"],
)
def test_keras_settings_gatescope_does_not_compute_are_refused(
    client: TestClient, tmp_path: Path, layers: list[Any], named: str
) -> None:
    path = tmp_path / "model.keras"
    keras.Sequential([keras.Input((None, 3)), *layers]).save(path)
    response = upload_file(client, path.name, path.read_bytes())
    assert response.status_code == 422 and named in response.json()["detail"], response.text


def test_keras_lambda_is_refused_and_never_run(client: TestClient, tmp_path: Path) -> None:
    sentinel = tmp_path / "lambda-ran"

    def touch(x: Any) -> Any:
        sentinel.write_text("ran")
        return x

    model = keras.Sequential([keras.Input((None, 3)), keras.layers.Lambda(touch), keras.layers.LSTM(4)])
    for suffix in (".keras", ".h5"):
        path = tmp_path / f"lambda{suffix}"
        model.save(path)
        sentinel.unlink(missing_ok=True)  # building the model ran it; the upload must not
        response = upload_file(client, path.name, path.read_bytes())
        assert response.status_code == 422 and "Lambda" in response.json()["detail"], response.text
        assert not sentinel.exists()


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def test_keras_archive_with_pickled_npz_is_refused_unopened(client: TestClient, tmp_path: Path) -> None:
    sentinel = tmp_path / "pickle-ran"
    path = tmp_path / "model.keras"
    keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4)]).save(path)
    npz = io.BytesIO()
    np.savez(npz, np.array([_Payload(str(sentinel))], dtype=object))
    with zipfile.ZipFile(path) as original:
        config = original.read("config.json")
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("config.json", config)
        archive.writestr("model.weights.npz", npz.getvalue())
        archive.writestr("payload.pkl", pickle.dumps(_Payload(str(sentinel))))
    response = upload_file(client, "model.keras", evil.getvalue())
    assert response.status_code == 422, response.text
    assert "model.weights.npz" in response.json()["detail"] and "never" in response.json()["detail"]
    assert not sentinel.exists()


def test_keras_zip_bomb_config_is_bounded(client: TestClient) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", " " * (16 * 2**20))  # 16 MiB of spaces: ~16 KB compressed
        archive.writestr("model.weights.h5", b"")
    assert len(bomb.getvalue()) < 100_000
    response = upload_file(client, "bomb.keras", bomb.getvalue())
    assert response.status_code == 422 and "inflates to 16777216 bytes" in response.json()["detail"]


def test_keras_h5_dataset_pointing_outside_the_file_is_refused(client: TestClient, tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "model.h5"
    keras.Sequential([keras.Input((None, 3)), keras.layers.SimpleRNN(2)]).save(path)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(12, dtype="<f4").tobytes())
    with h5py.File(path, "a") as f:
        text = [
            str(n.decode() if isinstance(n, bytes) else n) for n in f["model_weights"].attrs["layer_names"]
        ]
        group = f[f"model_weights/{next(n for n in text if 'simple_rnn' in n)}"]
        names = [str(n.decode() if isinstance(n, bytes) else n) for n in group.attrs["weight_names"]]
        name = next(n for n in names if n.endswith("/kernel"))
        del group[name]
        group.create_dataset(name, shape=(3, 2), dtype="<f4", external=[(str(secret), 0, 24)])
    response = upload_file(client, path.name, path.read_bytes())
    assert response.status_code == 422 and "outside the file" in response.json()["detail"], response.text


def test_keras_weights_only_h5_is_explained(client: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "only.weights.h5"
    sequential(keras.layers.LSTM(3)).save_weights(path)
    response = upload_file(client, path.name, path.read_bytes())
    assert response.status_code == 422 and "weights only" in response.json()["detail"]


# ---- ONNX -------------------------------------------------------------------------------------------

ONNX_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def onnx_model(
    op: str,
    steps: int = 8,
    width: int = 3,
    hidden: int = 5,
    direction: str = "forward",
    seed: int = 0,
    inputs: tuple[str, ...] = ("X", "W", "R", "B"),
    name: str = "rec",
    **attributes: Any,
) -> Any:
    """One LSTM/GRU/RNN node on X (T, 1, I), random W, R and B, output Y (T, D, 1, H)."""
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1
    gates = ONNX_GATES[op] * hidden
    initializers = {
        "W": rng.normal(0, 0.5, (dirs, gates, width)),
        "R": rng.normal(0, 0.5, (dirs, gates, hidden)),
        "B": rng.normal(0, 0.5, (dirs, 2 * gates)),
        "P": rng.normal(0, 0.5, (dirs, 3 * hidden)),
    }
    node = helper.make_node(
        op, list(inputs), ["Y"], name=name, hidden_size=hidden, direction=direction, **attributes
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [steps, 1, width])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v.astype("float32"), k) for k, v in initializers.items() if k in inputs],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8)


def check_onnx(client: TestClient, model: Any, steps: int = 8, width: int = 3) -> dict[str, Any]:
    response = upload_file(client, "model.onnx", model.SerializeToString())
    assert response.status_code == 201, response.text
    record = dict(response.json())
    x = numbers(steps, width)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = session.run(["Y"], {"X": x[:, None, :]})  # (T, D, 1, H)
    layer = traced(client, record["id"], x)["layers"][0]
    np.testing.assert_allclose(layer["hidden"], y[:, 0, 0], atol=TOL, rtol=0)
    if y.shape[1] == 2:
        np.testing.assert_allclose(layer["reverse"]["hidden"], y[:, 1, 0], atol=TOL, rtol=0)
    assert record["framework"] == "onnx"
    return record


ONNX_CASES = {
    "lstm": {"op": "LSTM"},
    "lstm-bidirectional": {"op": "LSTM", "direction": "bidirectional"},
    "lstm-no-bias": {"op": "LSTM", "inputs": ("X", "W", "R")},
    "gru-linear-before-reset": {"op": "GRU", "linear_before_reset": 1},
    "gru-linear-before-reset-bidirectional": {
        "op": "GRU",
        "linear_before_reset": 1,
        "direction": "bidirectional",
    },
    "rnn-tanh": {"op": "RNN"},
    "rnn-relu-bidirectional": {"op": "RNN", "activations": ["Relu", "Relu"], "direction": "bidirectional"},
    "gru-cho": {"op": "GRU", "linear_before_reset": 0},
    "gru-cho-bidirectional": {"op": "GRU", "direction": "bidirectional"},  # 0 is ONNX's default
}


@pytest.mark.parametrize("case", ONNX_CASES)
def test_onnx_nodes_trace_as_onnxruntime_computes(client: TestClient, case: str) -> None:
    check_onnx(client, onnx_model(**ONNX_CASES[case]))


def test_onnx_gru_variant_and_equations_in_the_record(client: TestClient) -> None:
    torch_form = upload_file(
        client, "a.onnx", onnx_model("GRU", linear_before_reset=1).SerializeToString()
    ).json()
    cho_form = upload_file(client, "b.onnx", onnx_model("GRU").SerializeToString()).json()
    assert (torch_form["gru_variant"], cho_form["gru_variant"]) == ("torch", "cho")
    assert "linear_before_reset=0" in cho_form["framework_equations"]
    relu = upload_file(client, "c.onnx", onnx_model("RNN", activations=["Relu"]).SerializeToString()).json()
    assert relu["nonlinearity"] == "relu" and relu["gru_variant"] is None


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ({"op": "LSTM", "clip": 3.0}, "clip"),
        ({"op": "LSTM", "input_forget": 1}, "input_forget"),
        ({"op": "LSTM", "inputs": ("X", "W", "R", "B", "", "", "", "P")}, "peepholes P"),
        ({"op": "GRU", "activations": ["HardSigmoid", "Tanh"]}, "hardsigmoid"),
        ({"op": "LSTM", "direction": "sideways"}, "direction='sideways'"),
    ],
    ids=["clip", "input_forget", "peepholes", "activations", "direction"],
)
def test_onnx_unsupported_attributes_are_refused_by_name(
    client: TestClient, case: dict[str, Any], named: str
) -> None:
    response = upload_file(client, "m.onnx", onnx_model(**case).SerializeToString())
    assert response.status_code == 422 and named in response.json()["detail"], response.text


def two_nodes(first: Any, second: Any) -> bytes:
    """One graph of ``first``'s node, then ``second``'s reading its output (weights renamed d_*)."""
    node = second.graph.node[0]
    node.input[0], node.output[0] = "Y", "Y2"
    for tensor in second.graph.initializer:
        tensor.name = f"d_{tensor.name}"
        first.graph.initializer.append(tensor)
    node.input[1:] = [f"d_{name}" for name in node.input[1:]]
    first.graph.node.append(node)
    return bytes(first.SerializeToString())


def test_onnx_several_nodes_ask_for_a_prefix(client: TestClient) -> None:
    decoder = onnx_model("GRU", name="decoder", linear_before_reset=1)
    data = two_nodes(onnx_model("LSTM", name="encoder"), decoder)
    response = upload_file(client, "two.onnx", data)
    assert response.status_code == 422 and "choose one with 'prefix'" in response.json()["detail"]
    assert [(m["prefix"], m["arch"]) for m in response.json()["modules"]] == [
        ("encoder", "lstm"),
        ("decoder", "gru"),
    ]
    picked = upload_file(client, "two.onnx", data, prefix="decoder")
    assert picked.status_code == 201 and picked.json()["arch"] == "gru"


def test_onnx_external_data_is_never_opened(client: TestClient) -> None:
    model = onnx_model("RNN")
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="/etc/passwd")
    response = upload_file(client, "m.onnx", model.SerializeToString())
    assert response.status_code == 422 and "external data" in response.json()["detail"], response.text


def test_torch_uploads_say_torch(client: TestClient) -> None:
    record = client.post("/api/models", json={"arch": "gru", "input_size": 2}).json()
    assert (record["framework"], record["gru_variant"], record["framework_equations"]) == (
        "torch",
        "torch",
        None,
    )
