"""Benchmark: the full trace against torch's own forward+backward, as ratios measured in one run.

    gatescope bench [--steps 2000] [--input 32] [--hidden 128] [--repeats 15]

For each architecture the full trace (every gate, state, dL/dh_t and dL/dc_t) is timed against
``loss.backward()`` of the same torch module on the same input, with L = 0.5 ||h_T||². Runs are
interleaved (one of each per round) so machine noise hits all alike; medians are reported.
The issue's bars: LSTM <= 2.0x nn.LSTM (torch's fused oneDNN kernel), GRU and RNN <= 1.0x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gatescope.engine import trace
from gatescope.engine.build import MODULE_CLASSES, build_module
from gatescope.engine.cost import median_ms

BARS = {"lstm": 2.0, "gru": 1.0, "rnn": 1.0}


def torch_forward_backward(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        module.zero_grad(set_to_none=True)
        out, _ = module(x)
        (0.5 * out[-1].pow(2).sum()).backward()

    return run


def full_trace(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        trace(module, x)

    return run


@dataclass
class BenchResult:
    arch: str
    trace_ms: float
    torch_ms: float
    fused_lstm_ms: float

    @property
    def ratio(self) -> float:
        return self.trace_ms / self.torch_ms

    @property
    def ratio_fused(self) -> float:
        return self.trace_ms / self.fused_lstm_ms


def run_bench(
    steps: int = 2000, input_size: int = 32, hidden: int = 128, repeats: int = 15, seed: int = 0
) -> list[BenchResult]:
    torch.manual_seed(seed)
    x = torch.randn(steps, input_size)
    modules = {arch: build_module(arch, input_size, hidden) for arch in MODULE_CLASSES}
    runs: dict[str, Callable[[], None]] = {}
    for arch, module in modules.items():
        runs[f"torch_{arch}"] = torch_forward_backward(module, x)
        runs[f"trace_{arch}"] = full_trace(module, x)
    ms = median_ms(runs, repeats)
    return [BenchResult(a, ms[f"trace_{a}"], ms[f"torch_{a}"], ms["torch_lstm"]) for a in MODULE_CLASSES]


def scaling(
    lengths: tuple[int, ...] = (500, 1000, 2000, 4000),
    input_size: int = 32,
    hidden: int = 128,
    repeats: int = 7,
) -> dict[str, dict[int, float]]:
    """Median trace ms per architecture at each sequence length (should grow linearly)."""
    torch.manual_seed(0)
    modules = {arch: build_module(arch, input_size, hidden) for arch in MODULE_CLASSES}
    table: dict[str, dict[int, float]] = {arch: {} for arch in MODULE_CLASSES}
    for steps in lengths:
        x = torch.randn(steps, input_size)
        runs = {arch: full_trace(module, x) for arch, module in modules.items()}
        for arch, value in median_ms(runs, repeats).items():
            table[arch][steps] = value
    return table


def report(steps: int, input_size: int, hidden: int, repeats: int, threads: int) -> tuple[str, bool]:
    """The benchmark as printable text, and whether every ratio is within its bar."""
    torch.set_num_threads(threads)
    lines = [
        f"torch {torch.__version__}, {threads} thread(s), T={steps}, input={input_size}, "
        f"H={hidden}, median of {repeats} interleaved runs",
        "",
        "| arch | full trace ms | torch fwd+bwd ms | trace / torch | bar | trace / fused nn.LSTM |",
        "|---|---|---|---|---|---|",
    ]
    ok = True
    for r in run_bench(steps, input_size, hidden, repeats):
        within = r.ratio <= BARS[r.arch]
        ok &= within
        lines.append(
            f"| {r.arch} | {r.trace_ms:.1f} | {r.torch_ms:.1f} | {r.ratio:.2f}x "
            f"{'ok' if within else 'OVER'} | <= {BARS[r.arch]:.1f}x | {r.ratio_fused:.2f}x |"
        )
    table = scaling(input_size=input_size, hidden=hidden)
    lengths = sorted(next(iter(table.values())))
    lines += ["", "full trace ms by sequence length (linear growth expected):", ""]
    lines.append("| arch | " + " | ".join(f"T={n}" for n in lengths) + " | ms per 1000 steps |")
    lines.append("|---" * (len(lengths) + 2) + "|")
    for arch, row in table.items():
        per_k = 1000 * (row[lengths[-1]] - row[lengths[0]]) / (lengths[-1] - lengths[0])
        cells = " | ".join(f"{row[n]:.1f}" for n in lengths)
        lines.append(f"| {arch} | {cells} | {per_k:.1f} |")
    return "\n".join(lines), ok
