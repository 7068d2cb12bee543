"""Analysis benchmark: every /api/analysis view at H=128, T=1000, timed as the page sees it.

The dynamics views (issue 11) are in too: fixed points from 64 starts (their bar is 5 s), the
projection, both attributions, units over a 1000-character text, and an intervened trace.

    gatescope bench-analysis [--repeats 5] [--steps 1000] [--hidden 128]

A real server in a subprocess (one torch thread per call, as served); each request is timed from
the client, request to parsed response, and the median of interleaved rounds is reported. The
issue's bar: every view answers in under a second on this machine class.
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import Any

import httpx

from gatescope.bench.localserver import running_server

BAR_MS = 1000.0
#: The issue's bar for the fixed-point search from 64 starts.
FIXED_POINTS_BAR_MS = 5000.0


def cases(base: str, steps: int, hidden: int, input_size: int = 32) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, path, body) for every view, on random models of this size and one N(0,1)-ish input."""
    ids = {}
    for arch in ("lstm", "gru", "rnn"):
        spec = {"arch": arch, "input_size": input_size, "hidden_size": hidden, "num_layers": 1, "seed": 0}
        ids[arch] = httpx.post(f"{base}/api/models", json=spec, timeout=30).json()["id"]
    inputs = [[((t * 7 + k) % 13) / 6.5 - 1.0 for k in range(input_size)] for t in range(steps)]
    unit: dict[str, Any] = {"layer": 0, "unit": 5, "step": steps - 1}
    lab: dict[str, Any] = {"steps": steps, "hidden_size": hidden, "input_size": input_size, "seed": 0}
    out: list[tuple[str, str, dict[str, Any]]] = []
    for arch in ("rnn", "lstm", "gru"):
        out.append((f"vanishing {arch}", "analysis/vanishing", lab | {"archs": [arch]}))
    out.append(("vanishing rnn+lstm+gru", "analysis/vanishing", lab))
    out.append(("vanishing all, clip", "analysis/vanishing", lab | {"clip": 1.0, "scale": 3.0}))
    for arch in ("lstm", "gru"):
        body: dict[str, Any] = {"model": ids[arch], "inputs": inputs}
        out.append((f"saturation {arch}", "analysis/saturation", body))
    for arch in ("lstm", "gru", "rnn"):
        body = {"model": ids[arch], "inputs": inputs} | unit
        out.append((f"connectivity {arch}", "analysis/connectivity", body))
    span: dict[str, Any] = {"layer": 0, "start": steps // 2, "end": steps // 2 + 20, "threshold": 0.0}
    for arch in ("lstm", "gru"):
        out.append((f"patterns {arch}", "analysis/patterns", {"model": ids[arch], "inputs": inputs} | span))
    out.append(("gru-variants", "analysis/gru-variants", {"model": ids["gru"], "inputs": inputs}))
    for arch in ("lstm", "gru"):
        body = {"model": ids[arch], "inputs": inputs} | unit
        out.append((f"equations {arch}", "analysis/equations", body))
    out.append(
        ("cost (I=32, H=128, 1 layer)", "analysis/cost", {"hidden_size": hidden, "input_size": input_size})
    )
    out.append(
        ("trace gru cho (for scale)", "trace", {"model": ids["gru"], "inputs": inputs, "gru_variant": "cho"})
    )
    out.append(("trace lstm (for scale)", "trace", {"model": ids["lstm"], "inputs": inputs}))
    return out + dynamics_cases(base, ids, inputs, hidden)


def dynamics_cases(
    base: str, ids: dict[str, str], inputs: list[list[float]], hidden: int
) -> list[tuple[str, str, dict[str, Any]]]:
    """The issue-11 views on the same models and input, plus a 1000-character text model."""
    text_spec = {"arch": "lstm", "vocab": "ascii", "hidden_size": hidden, "num_layers": 1, "seed": 0}
    text_id = httpx.post(f"{base}/api/models", json=text_spec, timeout=30).json()["id"]
    line = 'def f(a, b="x"):\n    return [a, (b + 1)]\n'
    text = (line * (len(inputs) // len(line) + 1))[: len(inputs)]
    out: list[tuple[str, str, dict[str, Any]]] = []
    for arch in ("lstm", "gru", "rnn"):
        body: dict[str, Any] = {"model": ids[arch], "inputs": inputs[:1], "count": 64}
        out.append(
            (
                f"fixed-points {arch} (64 starts)",
                "analysis/fixed-points",
                body | {"trajectory": {"inputs": inputs}},
            )
        )
    for arch in ("lstm", "gru"):
        body = {"model": ids[arch], "inputs": inputs}
        out.append((f"projection {arch}", "analysis/projection", body | {"components": 3}))
        out.append((f"attribution gxi {arch}", "analysis/attribution", body | {"method": "gradient_x_input"}))
        out.append((f"attribution IG, 8 nodes (default) {arch}", "analysis/attribution", body))
        out.append((f"attribution IG, 16 nodes {arch}", "analysis/attribution", body | {"steps": 16}))
    for quantity in ("hidden", "f"):
        body = {"model": text_id, "text": text, "feature": "nesting", "quantity": quantity}
        out.append((f"units lstm {quantity}", "analysis/units", body))
    clamp = {"layer": 0, "quantity": "f", "units": [0, 1], "steps": [100, 200], "value": 1.0}
    out.append(
        ("trace lstm intervened", "trace", {"model": ids["lstm"], "inputs": inputs, "interventions": [clamp]})
    )
    return out


def report(repeats: int = 5, steps: int = 1000, hidden: int = 128) -> tuple[str, bool]:
    """The table as text, and whether every analysis view is under the bar."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    with running_server() as base, httpx.Client(timeout=60) as client:
        todo = cases(base, steps, hidden)
        times: dict[str, list[float]] = {label: [] for label, _, _ in todo}
        for label, path, body in todo:  # warm-up, and a check that each answers
            response = client.post(f"{base}/api/{path}", json=body)
            if response.status_code != 200:
                raise RuntimeError(f"{label}: HTTP {response.status_code}: {response.text[:300]}")
        for _ in range(repeats):
            for label, path, body in todo:
                start = time.perf_counter()
                client.post(f"{base}/api/{path}", json=body).json()
                times[label].append((time.perf_counter() - start) * 1e3)
    lines = [
        f"T={steps}, H={hidden}, input 32, one layer, 1 torch thread per call; request to parsed "
        f"response, median of {repeats} interleaved rounds",
        "",
        "| view | median ms | max ms | under the bar (1 s; fixed points 5 s) |",
        "|---|---|---|---|",
    ]
    ok = True
    for label, values in times.items():
        median = statistics.median(values)
        within = median < (FIXED_POINTS_BAR_MS if label.startswith("fixed-points") else BAR_MS)
        ok &= within or label.startswith("trace")
        lines.append(f"| {label} | {median:.0f} | {max(values):.0f} | {'yes' if within else 'NO'} |")
    return "\n".join(lines), ok
