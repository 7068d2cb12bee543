"""Serving benchmark: a real server in a subprocess, timed from a client as the page would see it.

    gatescope bench-api [--repeats 30]

Measures (medians; these are absolute times on this machine, so read them with its noise in mind):
- POST /api/trace for a 2-layer, 64-unit LSTM over 200 steps (the issue's bar: well under 100 ms);
- WS /ws/trace over T=2000 with H=128: when the first step arrives versus the last, and the
  gradients' "done" message;
- GET /api/models latency while that long stream runs, i.e. whether other users are answered.
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time

import httpx
import orjson
from websockets.sync.client import connect

from gatescope.bench.localserver import running_server


def bench_trace(base: str, repeats: int) -> dict[str, float]:
    body = {"arch": "lstm", "input_size": 32, "hidden_size": 64, "num_layers": 2, "seed": 0}
    model = httpx.post(f"{base}/api/models", json=body).json()["id"]
    inputs = [[((t * 7 + k) % 13) / 13 - 0.5 for k in range(32)] for t in range(200)]
    times, parsed_times, sizes = [], [], []
    with httpx.Client() as client:
        for i in range(repeats + 2):
            start = time.perf_counter()
            response = client.post(f"{base}/api/trace", json={"model": model, "inputs": inputs})
            received = time.perf_counter()
            # A browser's JSON.parse is a native parser; orjson is the comparable one here
            # (Python's json module alone takes ~50 ms on this 2.4 MB body).
            orjson.loads(response.content)
            parsed = time.perf_counter()
            if i >= 2:  # two warm-ups
                times.append((received - start) * 1e3)
                parsed_times.append((parsed - start) * 1e3)
                sizes.append(len(response.content))
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p90_ms": times[int(0.9 * len(times))],
        "parsed_median_ms": statistics.median(parsed_times),
        "bytes": sizes[0],
    }


def bench_stream(base: str, steps: int = 2000) -> dict[str, float]:
    body = {"arch": "lstm", "input_size": 32, "hidden_size": 128, "num_layers": 1, "seed": 0}
    model = httpx.post(f"{base}/api/models", json=body).json()["id"]
    inputs = [[((t * 5 + k) % 11) / 11 - 0.5 for k in range(32)] for t in range(steps)]
    other_ms: list[float] = []
    streaming = threading.Event()

    def other_user() -> None:
        with httpx.Client() as client:
            while not streaming.is_set():
                time.sleep(0.005)
            while streaming.is_set():
                start = time.perf_counter()
                client.get(f"{base}/api/models")
                other_ms.append((time.perf_counter() - start) * 1e3)
                time.sleep(0.02)

    worker = threading.Thread(target=other_user)
    worker.start()
    ws_url = base.replace("http", "ws") + "/ws/trace"
    with connect(ws_url, max_size=2**28) as ws:
        start = time.perf_counter()
        ws.send(json.dumps({"type": "start", "model": model, "inputs": inputs}))
        streaming.set()
        first = last = done = 0.0
        while True:
            message = json.loads(ws.recv())
            now = (time.perf_counter() - start) * 1e3
            if message["type"] == "step":
                first = first or now
                last = now
            elif message["type"] == "done":
                done = now
                break
    streaming.clear()
    worker.join()
    return {
        "first_step_ms": first,
        "last_step_ms": last,
        "done_ms": done,
        "other_user_median_ms": statistics.median(other_ms) if other_ms else float("nan"),
        "other_user_max_ms": max(other_ms) if other_ms else float("nan"),
        "other_user_requests": len(other_ms),
    }


def report(repeats: int) -> str:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with running_server() as base:
        trace = bench_trace(base, repeats)
        stream = bench_stream(base)
    return "\n".join(
        [
            f"POST /api/trace, LSTM 2 layers x 64 units, T=200, input 32: full response in median "
            f"{trace['median_ms']:.1f} ms (p90 {trace['p90_ms']:.1f} ms), parsed by the client in "
            f"{trace['parsed_median_ms']:.1f} ms, over {repeats} requests "
            f"({trace['bytes'] / 1e6:.2f} MB JSON)",
            f"WS /ws/trace, LSTM H=128, T=2000: first step after {stream['first_step_ms']:.0f} ms, "
            f"last step after {stream['last_step_ms']:.0f} ms, "
            f"gradients (done) after {stream['done_ms']:.0f} ms",
            f"GET /api/models during that stream: median {stream['other_user_median_ms']:.1f} ms, "
            f"max {stream['other_user_max_ms']:.1f} ms over {stream['other_user_requests']} requests",
        ]
    )
