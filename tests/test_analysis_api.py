"""The analysis API, its numbers held to independent computations (float64 autograd, numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn

from gatescope.engine.build import build_module
from gatescope.zoo.tasks import get_task
from tests.reference import reference_trace
from tests.test_analysis import brute_force_patterns
from tests.test_gradflow import reference_clipped_log10, reference_jacobian_log10

TEXT_LSTM = "random-lstm-iascii-h16-l2-s0-fb1"
GRU = "random-gru-i3-h6-l2-s1"


def module_of(client: TestClient, model_id: str) -> nn.Module:
    client.get("/api/models")
    module = client.app.state.registry.get(model_id).module
    assert module is not None
    return module


def one_hot(client: TestClient, text: str) -> torch.Tensor:
    vocab = client.app.state.registry.get(TEXT_LSTM).vocab
    return nn.functional.one_hot(torch.tensor([vocab.index(c) for c in text]), len(vocab)).float()


def log10_or_null(values: list[float | None]) -> np.ndarray:
    return np.array([-math.inf if v is None else v for v in values], dtype=np.float64)


def test_vanishing_lab_against_unrolled_autograd(client: TestClient) -> None:
    body = {
        "archs": ["rnn", "lstm", "gru", "gru_cho", "gru_chung"],
        "steps": 25,
        "input_size": 3,
        "hidden_size": 5,
    }
    body |= {"seed": 3, "scale": 1.7, "forget_bias": 1.0, "clip": 0.5}
    response = client.post("/api/analysis/vanishing", json=body)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["objective"] == "L = 0.5 ||h_{T-1}||²" and "decades per step" in got["slope_unit"]
    x = torch.randn(25, 3, generator=torch.Generator().manual_seed(3))
    for arch, result in got["archs"].items():
        kind, _, variant = arch.partition("_")
        variant = variant or "torch"
        # The same model, rebuilt here: torch's init from the seed, then the knobs by hand.
        module = build_module(kind, 3, 5, 1, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            for block in module.weight_hh_l0.split(5):
                block.mul_(1.7 / torch.linalg.eigvals(block.double()).abs().max().float())
            if kind == "lstm":
                module.bias_ih_l0[5:10] = 1.0
                module.bias_hh_l0[5:10] = 0.0
        assert result["spectral_radius"] == pytest.approx([1.7] * (len(result["spectral_radius"])), rel=1e-4)
        want = reference_clipped_log10(module, kind, variant, x, None)
        np.testing.assert_allclose(log10_or_null(result["grad_log10"]), want.numpy(), atol=2e-4)
        clipped = reference_clipped_log10(module, kind, variant, x, 0.5)
        np.testing.assert_allclose(log10_or_null(result["clipped_log10"]), clipped.numpy(), atol=2e-4)
        jac = reference_jacobian_log10(module, kind, variant, x, 0)
        np.testing.assert_allclose(log10_or_null(result["jacobian_log10"]), jac.numpy(), atol=2e-4)
        distance = np.arange(24, -1, -1)
        assert result["grad_slope"] == pytest.approx(np.polyfit(distance, want.numpy(), 1)[0], abs=1e-4)
        assert result["jacobian_slope"] == pytest.approx(np.polyfit(distance, jac.numpy(), 1)[0], abs=1e-4)
        assert result["params"] == sum(p.numel() for p in module.parameters())


def test_vanishing_lab_shows_explosion_and_forget_bias(client: TestClient) -> None:
    base = {"archs": ["rnn", "lstm"], "steps": 200, "input_size": 8, "hidden_size": 64, "seed": 0}
    exploding = client.post("/api/analysis/vanishing", json=base | {"scale": 4.0, "clip": 1.0}).json()
    assert exploding["archs"]["rnn"]["grad_slope"] > 0.05  # grows by decades per step back
    assert max(v for v in exploding["archs"]["rnn"]["clipped_log10"] if v is not None) <= 1e-6
    slopes = {
        fb: client.post("/api/analysis/vanishing", json=base | {"forget_bias": fb}).json()["archs"]["lstm"]
        for fb in (0.0, 1.0)
    }
    assert slopes[1.0]["grad_slope"] > slopes[0.0]["grad_slope"]  # Jozefowicz et al.: vanishes slower


def test_saturation_of_an_input_and_of_task_data(client: TestClient) -> None:
    text = "the forget gate decides what to keep"
    got = client.post("/api/analysis/saturation", json={"model": TEXT_LSTM, "text": text}).json()
    module = module_of(client, TEXT_LSTM)
    ref = reference_trace(module, one_hot(client, text), lambda hs: hs[-1][-1].sum())
    assert got["steps"] == len(text) and got["source"] == "input"
    for layer, want in zip(got["layers"], ref["layers"], strict=True):
        assert set(layer) == {"i", "f", "o"}
        for gate, result in layer.items():
            values = want["gates"][gate]
            np.testing.assert_allclose(result["left"], (values < 0.1).double().mean(0).numpy(), atol=1e-6)
            np.testing.assert_allclose(result["right"], (values > 0.9).double().mean(0).numpy(), atol=1e-6)

    task = get_task("adding")
    torch.manual_seed(0)
    module = nn.GRU(task.input_size, 8, batch_first=True)
    card = {"id": "trained-test-adding-gru", "name": "test", "task": "adding"}
    client.app.state.registry.add_trained(module, nn.Linear(8, task.output_size), card)
    got = client.post(
        "/api/analysis/saturation", json={"model": card["id"], "source": "task", "sequences": 3}
    ).json()
    inputs, _ = task.batch(3, task.default_length, torch.Generator().manual_seed(0), split="held-out")
    z = torch.cat(
        [
            reference_trace(module, seq, lambda hs: hs[0][-1].sum())["layers"][0]["gates"]["z"]
            for seq in inputs
        ]
    )
    assert got["steps"] == 3 * task.default_length and got["sequences"] == 3
    np.testing.assert_allclose(got["layers"][0]["z"]["right"], (z > 0.9).double().mean(0).numpy(), atol=1e-6)


def test_connectivity_against_autograd(client: TestClient) -> None:
    text = "abcabcabc"
    body = {"model": TEXT_LSTM, "text": text, "layer": 1, "unit": 4, "step": 6}
    got = client.post("/api/analysis/connectivity", json=body).json()
    ref = reference_trace(module_of(client, TEXT_LSTM), one_hot(client, text), lambda hs: hs[1][6][4])
    want = ref["grad_input"].norm(dim=1).numpy()
    np.testing.assert_allclose(got["norms"], want, rtol=1e-4, atol=1e-4 * want.max())
    assert got["norms"][7:] == [0.0, 0.0] and (got["layer"], got["unit"], got["step"]) == (1, 4, 6)


def test_patterns_against_brute_force(client: TestClient) -> None:
    text = "the cat sat on the mat; the cat ran to the hat"
    body = {"model": TEXT_LSTM, "text": text, "layer": 0, "start": 4, "end": 7, "threshold": 0.05, "top": 4}
    got = client.post("/api/analysis/patterns", json=body).json()
    ref = reference_trace(module_of(client, TEXT_LSTM), one_hot(client, text), lambda hs: hs[-1][-1].sum())
    units, chosen = brute_force_patterns(ref["layers"][0]["hidden"].float(), 4, 7, 0.05, 4)
    assert got["units"] == units
    assert [(m["start"], m["units"]) for m in got["matches"]] == [(j, u) for _, j, u in chosen]
    for match in got["matches"]:
        assert match["text"] == text[match["start"] : match["end"]]


def test_gru_variants_and_trace_variant(client: TestClient) -> None:
    inputs = torch.randn(11, 3)
    got = client.post("/api/analysis/gru-variants", json={"model": GRU, "inputs": inputs.tolist()}).json()
    module = module_of(client, GRU)
    refs = {
        v: reference_trace(module, inputs, lambda hs: hs[-1][-1].sum(), gru_variant=v)
        for v in ("torch", "cho", "chung")
    }
    for layer in range(2):
        torch_h, cho_h, chung_h = (
            refs[v]["layers"][layer]["hidden"].numpy() for v in ("torch", "cho", "chung")
        )
        np.testing.assert_allclose(got["layers"][layer]["torch_hidden"], torch_h, atol=1e-5)
        np.testing.assert_allclose(got["layers"][layer]["cho_hidden"], cho_h, atol=1e-5)
        np.testing.assert_allclose(got["layers"][layer]["chung_hidden"], chung_h, atol=1e-5)
        np.testing.assert_allclose(
            got["layers"][layer]["difference"], np.linalg.norm(torch_h - cho_h, axis=1), atol=1e-5
        )
        np.testing.assert_allclose(
            got["layers"][layer]["chung_difference"], np.linalg.norm(torch_h - chung_h, axis=1), atol=1e-5
        )

    traced = client.post(
        "/api/trace", json={"model": GRU, "inputs": inputs.tolist(), "gru_variant": "cho"}
    ).json()
    assert traced["gru_variant"] == "cho"
    np.testing.assert_allclose(
        traced["layers"][1]["hidden"], refs["cho"]["layers"][1]["hidden"].numpy(), atol=1e-5
    )
    plain = client.post("/api/trace", json={"model": GRU, "inputs": inputs.tolist()}).json()
    assert plain["gru_variant"] == "torch"
    lstm = client.post("/api/trace", json={"model": TEXT_LSTM, "text": "ab", "gru_variant": "cho"})
    assert lstm.status_code == 422 and "GRU models only" in lstm.json()["detail"]


def test_equations_plug_in_the_units_numbers(client: TestClient) -> None:
    inputs = torch.randn(8, 3)
    body = {"model": GRU, "inputs": inputs.tolist(), "layer": 1, "unit": 2, "step": 5, "gru_variant": "cho"}
    got = client.post("/api/analysis/equations", json=body).json()
    ref = reference_trace(module_of(client, GRU), inputs, lambda hs: hs[-1][-1].sum(), gru_variant="cho")
    cho = got["terms"]["cho"]
    assert cho["h"] == pytest.approx(float(ref["layers"][1]["hidden"][5, 2]), abs=1e-5)
    assert cho["h_prev"] == pytest.approx(float(ref["layers"][1]["hidden"][4, 2]), abs=1e-5)
    assert cho["z"] == pytest.approx(float(ref["layers"][1]["gates"]["z"][5, 2]), abs=1e-5)
    assert set(got["terms"]) == {"torch", "cho", "chung"} and got["terms"]["torch"]["h"] != cho["h"]
    assert got["terms"]["chung"]["h"] != cho["h"]


def test_cost_table(client: TestClient) -> None:
    body = {"input_size": 5, "hidden_size": 16, "num_layers": 2, "steps": 8, "batch": 2}
    got = client.post("/api/analysis/cost", json=body).json()
    for arch, cls in (("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)):
        row = got["archs"][arch]
        module = cls(5, 16, num_layers=2)
        assert (
            row["params_torch"]
            == row["params_formula"]["value"]
            == sum(p.numel() for p in module.parameters())
        )
        assert row["param_bytes"] == 4 * row["params_torch"]
        assert row["forward_ms_per_step"] > 0 and row["train_ms_per_step"] > 0 and row["activation_bytes"] > 0
    assert got["archs"]["lstm"]["seed"]["separate_memory_cell"] == "Yes"
    assert got["archs"]["gru"]["seed"]["gates"] == "2" and got["archs"]["rnn"]["seed"] is None
    assert got["archs"]["lstm"]["params_formula"]["symbolic"] == "4·(H·I + H² + 2H) + 1·4·(2H² + 2H)"
    assert got["ratios"]["gru/lstm"]["params_torch"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("vanishing", {"steps": 1}, "steps must be between 2"),
        ("vanishing", {"steps": 2500, "hidden_size": 128}, "use fewer steps"),
        ("vanishing", {"hidden_size": 300}, "hidden_size must be between 1 and 256"),
        ("vanishing", {"scale": 0}, "scale"),
        ("vanishing", {"clip": -1}, "clip must be a positive number"),
        ("vanishing", {"archs": []}, "archs is empty"),
        ("vanishing", {"archs": ["transformer"]}, "archs"),
        ("saturation", {"model": TEXT_LSTM, "text": "ab", "low": 0.9, "high": 0.1}, "low < high"),
        ("saturation", {"model": TEXT_LSTM, "source": "task"}, "has no task"),
        ("connectivity", {"model": TEXT_LSTM, "text": "ab", "unit": 99}, "unit 99 out of range"),
        ("connectivity", {"model": TEXT_LSTM, "text": "ab", "step": 2}, "step 2 out of range"),
        ("connectivity", {"model": TEXT_LSTM, "text": "ab", "layer": 5}, "layer 5 out of range"),
        ("connectivity", {"model": "nope", "text": "ab"}, "unknown model"),
        ("patterns", {"model": TEXT_LSTM, "text": "abc", "start": 2, "end": 2}, "span"),
        ("patterns", {"model": TEXT_LSTM, "text": "abc", "start": 0, "end": 1, "top": 0}, "top"),
        ("patterns", {"model": TEXT_LSTM, "text": "abc", "layer": 2, "start": 0, "end": 1}, "layer 2"),
        ("gru-variants", {"model": TEXT_LSTM, "text": "abc"}, "GRU models only"),
        ("gru-variants", {"model": GRU, "text": "abc"}, "takes numbers"),
        ("equations", {"model": TEXT_LSTM, "text": "abc", "gru_variant": "cho"}, "GRU models only"),
        ("equations", {"model": TEXT_LSTM, "text": "abc", "unit": -17}, "unit -17 out of range"),
        ("cost", {"hidden_size": 0}, "hidden_size must be between 1 and 512"),
        ("cost", {"hidden_size": 512, "num_layers": 4, "steps": 200, "batch": 64}, "over"),
    ],
)
def test_bad_analysis_requests_get_clear_422(client: TestClient, path: str, body: dict, message: str) -> None:
    response = client.post(f"/api/analysis/{path}", json=body)
    assert response.status_code in (404, 422), response.text
    assert message in response.json()["detail"]


def test_stream_runs_the_textbook_gru_too(client: TestClient) -> None:
    inputs = torch.randn(7, 3).tolist()
    whole = client.post("/api/trace", json={"model": GRU, "inputs": inputs, "gru_variant": "cho"}).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", "model": GRU, "inputs": inputs, "gru_variant": "cho"})
        messages = []
        while not messages or messages[-1]["type"] not in ("done", "error"):
            messages.append(ws.receive_json())
        steps = [m for m in messages if m["type"] == "step"]
        np.testing.assert_allclose(
            [m["layers"][1]["hidden"] for m in steps], whole["layers"][1]["hidden"], rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            messages[-1]["layers"][0]["grad_hidden"], whole["layers"][0]["grad_hidden"], rtol=1e-5, atol=1e-7
        )
        ws.send_json({"type": "start", "model": TEXT_LSTM, "text": "ab", "gru_variant": "cho"})
        error = ws.receive_json()
        assert error["type"] == "error" and "GRU models only" in error["detail"]


def test_each_analysis_takes_a_stack_of_different_sizes_layer_by_layer(client: TestClient) -> None:
    """Layers of 24 and 16 units: each answer is sized by its own layer, the numbers are the
    reference's, and a unit only the wider layer has is refused in the narrower one by name."""
    from safetensors.torch import save

    from gatescope import RecurrentStack

    torch.manual_seed(2)
    stack = RecurrentStack("lstm", 3, [24, 16])
    data = save({k: v.contiguous() for k, v in stack.state_dict().items()})
    model = client.post("/api/models", files={"file": ("stack.safetensors", data)}).json()["id"]
    x = torch.randn(12, 3)
    body = {"model": model, "inputs": x.tolist()}

    def post(path: str, **fields: object) -> dict:  # type: ignore[type-arg]
        response = client.post(f"/api/analysis/{path}", json={**body, **fields})
        assert response.status_code == 200, response.text
        return dict(response.json())

    ref = reference_trace(stack, x, lambda hs: hs[1][4][15])
    terms = post("equations", layer=1, unit=15, step=4)["terms"]["lstm"]
    assert terms["h"] == pytest.approx(float(ref["layers"][1]["hidden"][4, 15]), abs=1e-6)
    assert terms["c_prev"] == pytest.approx(float(ref["layers"][1]["cell"][3, 15]), abs=1e-6)
    norms = post("connectivity", layer=0, unit=23, step=8)["norms"]
    ref = reference_trace(stack, x, lambda hs: hs[0][8][23])
    np.testing.assert_allclose(norms, ref["grad_input"].norm(dim=1).numpy(), rtol=1e-4, atol=1e-9)
    for path, fields, said in (
        ("connectivity", {"layer": 1, "unit": 16, "step": 8}, "layer 1 has 16"),
        ("equations", {"layer": 1, "unit": 20, "step": 4}, "layer 1 has 16 units"),
    ):
        response = client.post(f"/api/analysis/{path}", json={**body, **fields})
        assert response.status_code == 422 and said in response.json()["detail"], response.text
    points = post("fixed-points", layer=1, inputs=[x[0].tolist()], trajectory={"inputs": x.tolist()}, count=8)
    assert {(len(p["hidden"]), len(p["cell"])) for p in points["points"]} == {(16, 16)}
    projection = post("projection", layer=1)
    assert np.asarray(projection["components"]).shape == (2, 16)
