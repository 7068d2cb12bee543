"""The compact wire format (gatescope.web.wire): decoded by the layout the docstring documents,
POST /api/trace and the stream give the same numbers as JSON, bit for bit in float32."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from gatescope.web.wire import MAGIC, pack, unpack

MODEL = "random-lstm-iascii-h12-l2-s1"


def decode(data: bytes) -> Any:
    """An independent reader of the documented layout."""
    assert data[:4] == b"GSF1"
    (length,) = struct.unpack("<I", data[4:8])
    assert length % 4 == 0
    header = json.loads(data[8 : 8 + length])
    start = 8 + length

    def revive(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"$array"}:
            ref = value["$array"]
            assert ref["offset"] % 4 == 0
            dtype = {"float32": "<f4", "int32": "<i4"}[ref["dtype"]]
            count = int(np.prod(ref["shape"]))
            chunk = data[start + ref["offset"] : start + ref["offset"] + 4 * count]
            return np.frombuffer(chunk, dtype=dtype).reshape(ref["shape"])
        if isinstance(value, dict):
            return {k: revive(v) for k, v in value.items()}
        if isinstance(value, list):
            return [revive(v) for v in value]
        return value

    return revive(header)


def same(json_value: Any, wire_value: Any, rtol: float = 0.0) -> None:
    """Equal bit for bit in float32, or within ``rtol`` for two separate computations whose
    float32 matrix products may round their last bit differently."""
    if isinstance(json_value, dict):
        assert set(json_value) == set(wire_value)
        for key in json_value:
            same(json_value[key], wire_value[key], rtol)
    elif isinstance(json_value, list) and json_value and isinstance(json_value[0], list | float | int):
        np.testing.assert_allclose(
            np.asarray(wire_value, dtype=np.float32),
            np.asarray(json_value, dtype=np.float32),
            rtol=rtol,
            atol=rtol * 1e-3,  # dL/dh near zero: a few ulps of the largest gradients
        )
    elif isinstance(json_value, list):
        assert len(json_value) == len(wire_value)
        for a, b in zip(json_value, wire_value, strict=True):
            same(a, b, rtol)
    elif isinstance(json_value, float) and rtol:
        assert wire_value == pytest.approx(json_value, rel=rtol)
    else:
        assert json_value == wire_value


def test_pack_round_trips_floats_ints_and_structure() -> None:
    payload = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": [np.array([1, 2], dtype=np.int64), None],
        "s": "x",
    }
    data = pack(payload)
    assert data.startswith(MAGIC)
    for read in (decode(data), unpack(data)):
        np.testing.assert_array_equal(read["a"], payload["a"])
        assert read["b"][0].dtype == np.int32 and read["b"][0].tolist() == [1, 2] and read["b"][1] is None
        assert read["s"] == "x"


def test_post_trace_f32_equals_json(client: TestClient) -> None:
    body = {"model": MODEL, "text": "forget gates", "objective": {"layer": 1, "unit": 3, "step": 4}}
    as_json = client.post("/api/trace", json=body).json()
    response = client.post("/api/trace", json={**body, "format": "f32"})
    assert response.headers["content-type"] == "application/vnd.gatescope.f32"
    same(as_json, decode(response.content))
    assert len(response.content) < len(json.dumps(as_json))


def test_f32_of_a_stack_of_different_sizes_equals_json(client: TestClient) -> None:
    """Each layer's arrays keep their own width (24 then 16 units) in the wire format too."""
    from safetensors.torch import save

    from gatescope import RecurrentStack

    torch.manual_seed(2)
    stack = RecurrentStack("gru", 3, [24, 16])
    data = save({k: v.contiguous() for k, v in stack.state_dict().items()})
    model = client.post("/api/models", files={"file": ("stack.safetensors", data)}).json()["id"]
    body = {"model": model, "inputs": torch.randn(9, 3).tolist()}
    as_json = client.post("/api/trace", json=body).json()
    wire = decode(client.post("/api/trace", json={**body, "format": "f32"}).content)
    same(as_json, wire, rtol=1e-5)  # two traces: float32 products may round their last bits apart
    assert [layer["hidden"].shape for layer in wire["layers"]] == [(9, 24), (9, 16)]
    assert [layer["gates"]["z"].shape for layer in wire["layers"]] == [(9, 24), (9, 16)]
    as_wire = stream(client, {**body, "steps_per_message": 4}, "f32")
    for a, b in zip(stream(client, {**body, "steps_per_message": 4}, "json"), as_wire, strict=True):
        same(a, b, rtol=1e-5)
    assert [layer["hidden"].shape for layer in as_wire[1]["layers"]] == [(4, 24), (4, 16)]


def stream(client: TestClient, start: dict[str, Any], fmt: str) -> list[Any]:
    """Every message of one /ws/trace run, binary frames decoded."""
    messages = []
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_json({"type": "start", **start, "format": fmt})
        while True:
            frame = ws.receive()
            message = decode(frame["bytes"]) if frame.get("bytes") is not None else json.loads(frame["text"])
            messages.append(message)
            if message["type"] in ("done", "error"):
                return messages


def test_stream_f32_frames_equal_json_messages(client: TestClient) -> None:
    text = "gates open and close"

    def run(fmt: str) -> list[Any]:
        messages = []
        with client.websocket_connect("/ws/trace") as ws:
            ws.send_json(
                {"type": "start", "model": MODEL, "text": text, "steps_per_message": 8, "format": fmt}
            )
            while True:
                frame = ws.receive()
                message = (
                    decode(frame["bytes"]) if frame.get("bytes") is not None else json.loads(frame["text"])
                )
                messages.append(message)
                if message["type"] in ("done", "error"):
                    return messages

    as_json, as_wire = run("json"), run("f32")
    assert [m["type"] for m in as_wire] == ["started", "steps", "steps", "steps", "done"]
    for a, b in zip(as_json, as_wire, strict=True):
        same(a, b)
