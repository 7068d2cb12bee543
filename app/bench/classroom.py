"""Classroom load: does the server keep answering everyone while a whole class streams at once?

    gatescope bench-class [--students 50] [--steps 200] [--hidden 64] [--workers 1] [--rounds 5]

A real server in a subprocess (loopback only). A second process opens ``students`` WebSocket
streams, each tracing a ``steps``-character text through a random LSTM (H = ``hidden``) as the
page does, ``rounds`` times: every round the whole class presses Run at the same moment (the
hardest case: 50 starts arriving together), and every stream must end with its gradients.
Meanwhile this process, as one more user, sends ``POST /api/trace`` for the same kind of input
every 100 ms and times each answer from when it was due. The issue's bar: REST p95 <= 0.5 s on
2 cores with 50 students, every stream complete.

The load is bounded: ``rounds`` starts per student, at most ``max_seconds`` in all; the students'
client runs on the same 2 cores as the server (a real class's browsers would not), so the figures
are pessimistic.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import threading
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from typing import Any

import httpx
from websockets.asyncio.client import connect

from gatescope.bench.localserver import running_server
from gatescope.web.wire import unpack

SENTENCE = "The forget gate decides what to keep; the input gate decides what to write. "


def lesson_text(steps: int) -> str:
    return (SENTENCE * (steps // len(SENTENCE) + 1))[:steps]


async def _student(
    url: str, model: str, text: str, per_message: int, rounds: int, together: asyncio.Barrier
) -> list[dict[str, Any]]:
    """One student's page: ``rounds`` runs on one socket, as pressing Run again does, each a stream
    as static/js/runner.js asks for it (the compact f32 frames, ``per_message`` steps each),
    counting the steps that arrive and waiting for the gradients. Every round starts when the
    whole class is ready (``together``): 50 starts arriving at once is the hard case."""
    runs = []
    async with connect(url, max_size=2**26) as ws:
        start_message = {
            "type": "start",
            "model": model,
            "text": text,
            "steps_per_message": per_message,
            "format": "f32",
        }
        for _ in range(rounds):
            await together.wait()
            start = time.perf_counter()
            steps = 0
            await ws.send(json.dumps(start_message))
            while True:
                frame = await ws.recv()
                message = unpack(frame) if isinstance(frame, bytes) else json.loads(frame)
                if message["type"] == "step":
                    steps += 1
                elif message["type"] == "steps":
                    steps += message["count"]
                elif message["type"] in ("done", "error"):
                    seconds = time.perf_counter() - start
                    runs.append({"steps": steps, "done": message["type"] == "done", "seconds": seconds})
                    break
    return runs


def _class(
    url: str, model: str, text: str, students: int, per_message: int, rounds: int, out: Queue[Any]
) -> None:
    async def everyone() -> list[Any]:
        together = asyncio.Barrier(students)
        runs = [_student(url, model, text, per_message, rounds, together) for _ in range(students)]
        results: list[Any] = await asyncio.gather(*runs, return_exceptions=True)
        return results

    results = asyncio.run(everyone())
    flat: list[dict[str, Any]] = []
    for r in results:
        flat.extend(r if isinstance(r, list) else [{"error": repr(r)}])
    out.put(flat)


def _timed_while(
    busy: Callable[[], bool], url: str, body: dict[str, Any], max_seconds: float, every: float = 0.1
) -> list[float]:
    """POST ``body`` every ``every`` seconds while ``busy()``, each from its own thread, and time
    each answer from when it was *due*: a server that stalls for 6 s then shows 60 slow answers,
    not one (a client that waits for each answer before sending the next would hide the stall)."""
    latencies: list[float] = []
    lock = threading.Lock()
    # One client for every request (a pool of connections): building a client per request loads
    # a CA bundle each time, which on two busy cores cost more than the request being measured.
    client = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=100))

    def one(due: float) -> None:
        client.post(url, json=body).raise_for_status()
        with lock:
            latencies.append(time.perf_counter() - due)

    threads = []
    start = time.perf_counter()
    due = start
    while busy() and due - start < max_seconds:
        due += every
        time.sleep(max(0.0, due - time.perf_counter()))
        thread = threading.Thread(target=one, args=(due,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=max_seconds)
    client.close()
    return latencies


def classroom(
    base: str,
    students: int,
    steps: int,
    hidden: int,
    rounds: int = 5,
    per_message: int = 16,
    max_seconds: float = 180.0,
) -> dict[str, Any]:
    spec = {"arch": "lstm", "vocab": "ascii", "hidden_size": hidden, "num_layers": 1, "seed": 0}
    model = httpx.post(f"{base}/api/models", json=spec, timeout=30).json()["id"]
    text = lesson_text(steps)
    body = {"model": model, "text": text, "format": "f32"}  # as the page asks for a whole trace
    with httpx.Client(timeout=60) as client:
        for _ in range(3):  # warm-up
            client.post(f"{base}/api/trace", json=body)
        alone = []
        for _ in range(10):
            t0 = time.perf_counter()
            client.post(f"{base}/api/trace", json=body).raise_for_status()
            alone.append(time.perf_counter() - t0)
        context = multiprocessing.get_context("spawn")
        out: Queue[Any] = context.Queue()
        ws_url = base.replace("http", "ws") + "/ws/trace"
        args = (ws_url, model, text, students, per_message, rounds, out)
        process = context.Process(target=_class, args=args)
        started = time.perf_counter()
        process.start()
        during = _timed_while(lambda: out.empty(), f"{base}/api/trace", body, max_seconds)
        results = out.get(timeout=max_seconds)
        process.join(timeout=30)
    wall = time.perf_counter() - started
    complete = [r for r in results if r.get("done") and r.get("steps") == steps]
    ordered = sorted(during)
    return {
        "students": students,
        "rounds": rounds,
        "steps": steps,
        "hidden": hidden,
        "streams_complete": len(complete),
        "stream_seconds_median": statistics.median(r["seconds"] for r in complete) if complete else None,
        "class_seconds": wall,
        "rest_alone_median_ms": 1000 * statistics.median(alone),
        "rest_requests": len(during),
        "rest_median_ms": 1000 * statistics.median(ordered),
        "rest_p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "rest_max_ms": 1000 * ordered[-1],
        "errors": [r["error"] for r in results if "error" in r][:3],
    }


def report(students: int, steps: int, hidden: int, workers: int, rounds: int = 5) -> str:
    env = {"GATESCOPE_WORKERS": str(workers)} if workers > 1 else {}
    with running_server(env, workers=workers) as base:
        r = classroom(base, students, steps, hidden, rounds)
    if r["rest_requests"] < 20:
        raise RuntimeError("the class finished before 20 timed requests: use more rounds, students or steps")
    lines = [
        f"# A class of {r['students']}: LSTM H={r['hidden']}, {r['steps']}-step streams, "
        f"{workers} worker(s), {r['rounds']} rounds of everyone pressing Run at once",
        "",
        f"- streams complete (steps, then gradients): {r['streams_complete']} / "
        f"{r['students'] * r['rounds']}",
        f"- each stream took {r['stream_seconds_median']:.2f} s (median); "
        f"the {r['rounds']} rounds {r['class_seconds']:.1f} s",
        f"- POST /api/trace alone: {r['rest_alone_median_ms']:.0f} ms median",
        f"- POST /api/trace during the class ({r['rest_requests']} requests): median "
        f"{r['rest_median_ms']:.0f} ms, p95 {r['rest_p95_ms']:.0f} ms, max {r['rest_max_ms']:.0f} ms "
        f"(bar: p95 <= 500 ms)",
    ]
    if r["errors"]:
        lines.append(f"- stream errors: {r['errors']}")
    return "\n".join(lines) + "\n"
