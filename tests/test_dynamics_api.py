"""The dynamics routes (fixed points, projection, attribution, units) against independent numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from gatescope.settings import Settings
from gatescope.web.app import create_app
from tests.reference import reference_trace
from tests.test_dynamics import brute_force

TEXT_LSTM = "random-lstm-iascii-h16-l2-s0-fb1"
GRU = "random-gru-i3-h6-l2-s1"


def loaded(client: TestClient, model_id: str):  # type: ignore[no-untyped-def]
    client.get("/api/models")
    return client.app.state.registry.get(model_id)


def test_fixed_points_route(client: TestClient) -> None:
    body = {"model": GRU, "inputs": [[0.2, -0.1, 0.4]], "layer": 1, "count": 12, "seed": 3}
    body["trajectory"] = {"inputs": torch.randn(30, 3).tolist()}
    got = client.post("/api/analysis/fixed-points", json=body)
    assert got.status_code == 200, got.text
    result = got.json()
    assert result["layer"] == 1 and result["trajectory_steps"] == 30 and result["points"]
    for point in result["points"]:
        assert len(point["hidden"]) == 6 and point["cell"] is None
        assert len(point["eigenvalues"]) == 12 and len(point["time_constants"]) == 12  # layers 0 and 1
        moduli = np.hypot(*np.array(point["eigenvalues"]).T)
        assert point["stable"] == bool(moduli.max() < 1)
    assert result["points"][0]["speed"] < 1e-10
    # The preset is the default trajectory; text models take one character as the input.
    text = client.post("/api/analysis/fixed-points", json={"model": TEXT_LSTM, "text": "a", "count": 4})
    assert text.status_code == 200, text.text
    assert len(text.json()["points"][0]["cell"]) == 16


def test_projection_route(client: TestClient) -> None:
    text, other = "the cat sat on the mat", "a dog ran"
    got = client.post(
        "/api/analysis/projection", json={"model": TEXT_LSTM, "text": text, "layer": 1, "components": 3}
    ).json()
    model = loaded(client, TEXT_LSTM)
    vocab = model.vocab
    ref = reference_trace(
        model.module,
        torch.nn.functional.one_hot(torch.tensor([vocab.index(c) for c in text]), len(vocab)).float(),
        lambda hs: hs[-1][-1].sum(),
    )
    states = ref["layers"][1]["hidden"].numpy()
    _, s, vt = np.linalg.svd(states - states.mean(0), full_matrices=False)
    assert np.array(got["points"]).shape == (len(text), 3)
    np.testing.assert_allclose(got["explained_variance_ratio"], (s**2 / (s**2).sum())[:3], atol=1e-4)
    np.testing.assert_allclose(np.abs(np.sum(np.array(got["components"]) * vt[:3], 1)), 1, atol=1e-3)
    fitted = client.post(
        "/api/analysis/projection", json={"model": TEXT_LSTM, "text": text, "fit": [{"text": other}]}
    ).json()
    assert fitted["fit_steps"] == len(other) and np.array(fitted["points"]).shape == (len(text), 2)


def states_of(client: TestClient, model_id: str, text: str, layer: int) -> np.ndarray:
    """A model's hidden states on ``text`` from the float64 unrolled reference (tests/reference.py)."""
    model = loaded(client, model_id)
    x = torch.nn.functional.one_hot(torch.tensor([model.vocab.index(c) for c in text]), len(model.vocab))
    return reference_trace(model.module, x.float(), lambda hs: hs[-1][-1].sum())["layers"][layer][
        "hidden"
    ].numpy()


def pca_of(stack: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Explicit PCA by numpy's SVD: (mean, components k x H, explained variance ratio)."""
    mean = stack.mean(0)
    _, s, vt = np.linalg.svd(stack - mean, full_matrices=False)
    return mean, vt[:k], (s**2 / (s**2).sum())[:k]


def test_projection_of_other_models_on_shared_and_own_axes(client: TestClient) -> None:
    """A same-size GRU joins the LSTM's PCA (one SVD of both models' states, numpy's); a smaller
    RNN gets a PCA of its own states."""
    text = "the cat sat on the mat, (twice)"
    gru, rnn = "random-gru-iascii-h16-l1-s3", "random-rnn-iascii-h5-l1-s2"
    others = [{"model": gru, "axes": "shared"}, {"model": rnn, "axes": "own", "components": 2}]
    body = {"model": TEXT_LSTM, "text": text, "layer": 1, "components": 3, "others": others}
    got = client.post("/api/analysis/projection", json=body)
    assert got.status_code == 200, got.text
    result = got.json()
    lstm_states, gru_states = states_of(client, TEXT_LSTM, text, 1), states_of(client, gru, text, 0)
    mean, vt, ratio = pca_of(np.concatenate([lstm_states, gru_states]), 3)
    signs = np.sign(np.sum(np.array(result["components"]) * vt, 1))
    assert np.all(np.abs(signs) == 1)
    np.testing.assert_allclose(result["mean"], mean, atol=1e-5)
    np.testing.assert_allclose(result["explained_variance_ratio"], ratio, atol=1e-5)
    np.testing.assert_allclose(result["points"], (lstm_states - mean) @ vt.T * signs, atol=1e-4)
    assert result["fit_steps"] == 2 * len(text)
    shared, own = result["paths"]
    assert (shared["model"], shared["axes"], shared["layer"], shared["hidden_size"]) == (gru, "shared", 0, 16)
    assert shared["components"] == result["components"] and shared["mean"] == result["mean"]
    np.testing.assert_allclose(shared["points"], (gru_states - mean) @ vt.T * signs, atol=1e-4)
    rnn_states = states_of(client, rnn, text, 0)
    mean, vt, ratio = pca_of(rnn_states, 2)
    signs = np.sign(np.sum(np.array(own["components"]) * vt, 1))
    assert (own["axes"], own["hidden_size"], own["fit_steps"], own["steps"]) == (
        "own",
        5,
        len(text),
        len(text),
    )
    np.testing.assert_allclose(own["explained_variance_ratio"], ratio, atol=1e-5)
    np.testing.assert_allclose(own["points"], (rnn_states - mean) @ vt.T * signs, atol=1e-4)
    # Fitted on other inputs: every shared model's states on them, both models projected.
    other = "a dog ran home"
    fitted = client.post(
        "/api/analysis/projection", json=body | {"fit": [{"text": other}], "others": others[:1]}
    ).json()
    mean, vt, _ = pca_of(
        np.concatenate([states_of(client, TEXT_LSTM, other, 1), states_of(client, gru, other, 0)]), 3
    )
    signs = np.sign(np.sum(np.array(fitted["components"]) * vt, 1))
    assert fitted["fit_steps"] == 2 * len(other) == fitted["paths"][0]["fit_steps"]
    np.testing.assert_allclose(fitted["paths"][0]["points"], (gru_states - mean) @ vt.T * signs, atol=1e-4)


@pytest.mark.parametrize(
    ("other", "status", "message"),
    [
        (
            {"model": "random-rnn-iascii-h5-l1-s2", "axes": "shared"},
            422,
            "others[0] ('random-rnn-iascii-h5-l1-s2'): axes 'shared' needs the same hidden size: it has 5",
        ),
        (
            {"model": "random-rnn-iascii-h2-l1-s2"},
            422,
            "others[0] ('random-rnn-iascii-h2-l1-s2'): components",
        ),
        ({"model": "random-gru-i3-h16-l1-s0", "axes": "shared"}, 422, "takes numbers, not text"),
        ({"model": "random-gru-iascii-h16-l1-s0", "layer": 1}, 422, "layer 1 out of range"),
        ({"model": "no-such-model"}, 404, "unknown model 'no-such-model'"),
        ({"model": "random-gru-iascii-h16-l1-s0", "axes": "joint"}, 422, "others.0.axes"),
    ],
)
def test_bad_projection_others_are_named(client: TestClient, other: dict, status: int, message: str) -> None:  # type: ignore[type-arg]
    body = {"model": TEXT_LSTM, "text": "hello there", "components": 3, "others": [other]}
    response = client.post("/api/analysis/projection", json=body)
    assert response.status_code == status, response.text
    assert message in str(response.json()["detail"])


def test_attribution_route(client: TestClient) -> None:
    inputs = torch.randn(8, 3)
    body = {"model": GRU, "inputs": inputs.tolist(), "objective": {"layer": 1, "unit": 2, "step": 5}}
    gxi = client.post("/api/analysis/attribution", json=body | {"method": "gradient_x_input"}).json()
    ref = reference_trace(loaded(client, GRU).module, inputs, lambda hs: hs[1][5][2])
    np.testing.assert_allclose(gxi["attribution"], (inputs.double() * ref["grad_input"]).numpy(), atol=1e-5)
    assert gxi["input"] == "inputs" and gxi["integration_steps"] is None and gxi["steps"] == 8
    ig = client.post(
        "/api/analysis/attribution", json=body | {"steps": 24, "baseline": [[0.1, 0, -0.1]]}
    ).json()
    assert abs(ig["completeness_error"]) < 0.01
    assert sum(ig["per_step"]) == pytest.approx(ig["objective_value"] - ig["baseline_value"], rel=0.01)
    assert ig["per_step"][6:] == [0.0, 0.0]  # the unit at step 5 depends on nothing later
    text = client.post("/api/analysis/attribution", json={"model": TEXT_LSTM, "text": "hello"}).json()
    assert text["input"] == "one-hot" and np.array(text["attribution"]).shape == (5, 96)


def test_units_route_against_numpy(client: TestClient) -> None:
    text = 'x = f("a", [b, (c)])\n    if y:\n        z = "q"\n' * 3
    body = {"model": TEXT_LSTM, "text": text, "feature": "nesting", "quantity": "hidden", "top": 5}
    got = client.post("/api/analysis/units", json=body | {"values": True}).json()
    assert got["feature_values"] == brute_force(text, "nesting") and len(got["units"]) == 5
    model = loaded(client, TEXT_LSTM)
    vocab = model.vocab
    x = torch.nn.functional.one_hot(torch.tensor([vocab.index(c) for c in text]), len(vocab)).float()
    ref = reference_trace(model.module, x, lambda hs: hs[-1][-1].sum())
    feature = np.array(brute_force(text, "nesting"))
    want = sorted(
        (
            (layer, unit, np.corrcoef(ref["layers"][layer]["hidden"][:, unit].numpy(), feature)[0, 1])
            for layer in range(2)
            for unit in range(16)
        ),
        key=lambda r: -abs(r[2]),
    )[:5]
    assert [(u["layer"], u["unit"]) for u in got["units"]] == [(w[0], w[1]) for w in want]
    np.testing.assert_allclose([u["score"] for u in got["units"]], [w[2] for w in want], atol=1e-4)
    regex = client.post("/api/analysis/units", json=body | {"feature": {"regex": "if"}, "quantity": "f"})
    assert regex.status_code == 200 and regex.json()["feature"] == {"regex": "if"}


def test_units_on_held_out_task_text(client: TestClient) -> None:
    body = {"model": "charlm-lstm", "source": "task", "chars": 2000, "feature": "quotes", "top": 3}
    got = client.post("/api/analysis/units", json=body)
    assert got.status_code == 200, got.text
    result = got.json()
    assert result["steps"] == 2000 and len(result["text"]) == 2000 and len(result["units"]) == 3


def test_corpus_limit_is_a_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(upload_dir=tmp_path / "u", trained_dir=tmp_path / "t", max_corpus_chars=100)
    with TestClient(create_app(settings)) as small:
        got = small.post(
            "/api/analysis/units", json={"model": TEXT_LSTM, "text": "a" * 101, "feature": "quotes"}
        )
        assert got.status_code == 422 and "corpus limit is 100 (max_corpus_chars)" in got.json()["detail"]
        assert small.get("/api/limits").json()["max_corpus_chars"] == 100


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("fixed-points", {"model": GRU, "inputs": [[0, 0, 0], [1, 1, 1]]}, "must be one step"),
        ("fixed-points", {"model": TEXT_LSTM, "text": "a", "count": 0}, "count"),
        ("fixed-points", {"model": TEXT_LSTM, "text": "a", "layer": 3}, "layer 3 out of range"),
        ("projection", {"model": TEXT_LSTM, "text": "ab", "components": 3}, "components must be between"),
        ("projection", {"model": TEXT_LSTM, "text": "abc", "components": 4}, "components"),
        ("attribution", {"model": TEXT_LSTM, "text": "ab", "method": "saliency"}, "method"),
        (
            "attribution",
            {"model": GRU, "inputs": [[0, 0, 0]] * 3, "baseline": [[0, 0, 0]] * 2},
            "baseline has 2",
        ),
        (
            "units",
            {"model": TEXT_LSTM, "text": "ab", "feature": {"regex": "(x"}},
            "feature.regex does not compile",
        ),
        ("units", {"model": TEXT_LSTM, "text": "ab", "feature": "colour"}, "feature"),
        ("units", {"model": TEXT_LSTM, "text": "ab", "feature": "quotes", "quantity": "z"}, "quantity 'z'"),
        ("units", {"model": GRU, "text": "ab", "feature": "quotes"}, "takes numbers"),
        ("units", {"model": TEXT_LSTM, "source": "task", "feature": "quotes"}, "has no task"),
    ],
)
def test_bad_dynamics_requests_get_clear_422(client: TestClient, path: str, body: dict, message: str) -> None:  # type: ignore[type-arg]
    response = client.post(f"/api/analysis/{path}", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
