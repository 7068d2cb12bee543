"""The compact wire format: a JSON header in which every array is a reference, then the arrays'
raw little-endian bytes. At real sizes (an LSTM of 2 x 512 units over 1,000 steps: 8 million
numbers) JSON is ~80 MB to write and parse; this is 33 MB that the page reads without parsing, as
typed-array views (static/js/wire.js).

    b"GSF1"  uint32 n  header (n bytes of UTF-8 JSON, padded with spaces to a multiple of 4)  data

In the header an array is ``{"$array": {"dtype": "float32" | "int32", "shape": [...], "offset": k}}``
with ``offset`` in bytes from the start of ``data``; every array starts on a 4-byte boundary.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

MAGIC = b"GSF1"
MEDIA_TYPE = "application/vnd.gatescope.f32"


def pack(payload: object) -> bytes:
    """``payload`` (dicts, lists, scalars, numpy arrays) in the wire format."""
    blobs: list[bytes] = []
    offset = 0

    def walk(value: object) -> object:
        nonlocal offset
        if isinstance(value, np.ndarray):
            kind = "int32" if np.issubdtype(value.dtype, np.integer) else "float32"
            data = np.ascontiguousarray(value, dtype="<i4" if kind == "int32" else "<f4")
            ref = {"$array": {"dtype": kind, "shape": list(data.shape), "offset": offset}}
            blobs.append(data.tobytes())
            offset += data.nbytes
            return ref
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [walk(item) for item in value]
        return value

    header = orjson.dumps(walk(payload))
    header += b" " * (-len(header) % 4)
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(blobs)


def unpack(data: bytes) -> Any:
    """The payload back, arrays as numpy arrays (what the tests read; the page has wire.js)."""
    if data[:4] != MAGIC:
        raise ValueError("not gatescope's wire format: it starts with b'GSF1'")
    (length,) = struct.unpack("<I", data[4:8])
    body = memoryview(data)[8 + length :]

    def revive(value: Any) -> Any:
        if isinstance(value, dict):
            ref = value.get("$array")
            if ref is not None and len(value) == 1:
                dtype = np.dtype("<i4" if ref["dtype"] == "int32" else "<f4")
                count = int(np.prod(ref["shape"])) if ref["shape"] else 1
                flat = np.frombuffer(body, dtype=dtype, count=count, offset=ref["offset"])
                return flat.reshape(ref["shape"])
            return {key: revive(item) for key, item in value.items()}
        if isinstance(value, list):
            return [revive(item) for item in value]
        return value

    return revive(orjson.loads(bytes(data[8 : 8 + length])))
