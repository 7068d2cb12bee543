"""Parameters and cost: the seed's comparison table, measured on real torch modules.

The seed (the text the project started from) compares LSTM and GRU in words: gates 3 vs 2, a
separate memory cell yes/no, parameter count and computational cost higher/lower. `measure_cost`
builds nn.RNN, nn.LSTM and nn.GRU of the sizes asked for and puts numbers beside those words:

- parameters: the formula G·(H·I + H² + 2H) for layer 0 and G·(2H² + 2H) above it (G = 4, 3, 1
  weight blocks; no 2H without biases) beside torch's own ``sum(p.numel())``;
- forward ms per step: the module on one sequence under no_grad (inference), divided by T;
- training ms per step: forward, backward and an Adam step on a batch, divided by T;
- memory: parameter bytes, and the activation bytes autograd saves for backward in that training
  step (unique storages seen by ``torch.autograd.graph.saved_tensors_hooks``, parameters left out).

Timings are medians of interleaved rounds (one run of each per round, so machine noise hits all
alike) within a time budget, at the current torch thread count (the server uses 1).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from gatescope.engine.build import MODULE_CLASSES, build_module
from gatescope.engine.spec import GATE_MULTIPLIER

ARCHS = tuple(MODULE_CLASSES)

#: The seed's table, word for word (it compares LSTM and GRU; the plain RNN is not in it).
SEED_CLAIMS: dict[str, dict[str, str] | None] = {
    "lstm": {
        "gates": "3",
        "separate_memory_cell": "Yes",
        "parameter_count": "Higher",
        "computational_cost": "Higher",
        "expressive_flexibility": "Higher",
    },
    "gru": {
        "gates": "2",
        "separate_memory_cell": "No",
        "parameter_count": "Lower",
        "computational_cost": "Lower",
        "expressive_flexibility": "Moderate",
    },
    "rnn": None,
}
#: What the seed's gate counts mean in torch's terms.
GATES = {
    "lstm": {
        "sigmoid_gates": ["i", "f", "o"],
        "candidate": "g",
        "weight_blocks": GATE_MULTIPLIER["lstm"],
        "memory_cell": True,
    },
    "gru": {
        "sigmoid_gates": ["r", "z"],
        "candidate": "n",
        "weight_blocks": GATE_MULTIPLIER["gru"],
        "memory_cell": False,
    },
    "rnn": {
        "sigmoid_gates": [],
        "candidate": None,
        "weight_blocks": GATE_MULTIPLIER["rnn"],
        "memory_cell": False,
    },
}


def parameter_formula(
    arch: str, input_size: int, hidden_size: int, num_layers: int, bias: bool = True
) -> dict[str, Any]:
    """The parameter count by formula, as text (symbolic and with the numbers) and as a number."""
    g, i, h = GATE_MULTIPLIER[arch], input_size, hidden_size
    extra = " + 2H" if bias else ""
    first = g * (h * i + h * h + (2 * h if bias else 0))
    upper = g * (2 * h * h + (2 * h if bias else 0))
    symbolic = f"{g}·(H·I + H²{extra})"
    numbers = f"{g}·({h}·{i} + {h}²{f' + 2·{h}' if bias else ''})"
    if num_layers > 1:
        symbolic += f" + {num_layers - 1}·{g}·(2H²{extra})"
        numbers += f" + {num_layers - 1}·{g}·(2·{h}²{f' + 2·{h}' if bias else ''})"
    return {"symbolic": symbolic, "numbers": numbers, "value": first + (num_layers - 1) * upper}


def saved_activation_bytes(module: nn.Module, x: Tensor) -> int:
    """Bytes of the unique non-parameter storages autograd saves in one forward of ``module``."""
    param_storages = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in param_storages:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out, _ = module(x)
        out.pow(2).mean().backward()
    module.zero_grad(set_to_none=True)
    return sum(seen.values())


def median_ms(
    runs: dict[str, Callable[[], None]], max_rounds: int = 15, budget_s: float = float("inf")
) -> dict[str, float]:
    """Median ms per callable after one warm-up each, over interleaved rounds (one run of each per
    round, so machine noise hits all alike): at least 3, then as many as the budget allows, at most
    ``max_rounds``."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    started = time.perf_counter()
    for fn in runs.values():  # warm-up
        fn()
    for round_ in range(max_rounds):
        if round_ >= 3 and time.perf_counter() - started > budget_s:
            break
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def _timed_runs(
    modules: Mapping[str, nn.Module], one: Tensor, batch_x: Tensor
) -> dict[str, Callable[[], None]]:
    """Per arch, a no-grad forward on one sequence and a training step (forward, backward, Adam)."""
    runs: dict[str, Callable[[], None]] = {}

    def forward(module: nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                module(one)

        return run

    def train(module: nn.Module, optimizer: torch.optim.Optimizer) -> Callable[[], None]:
        def run() -> None:
            optimizer.zero_grad(set_to_none=True)
            out, _ = module(batch_x)
            out.pow(2).mean().backward()
            optimizer.step()

        return run

    for arch, module in modules.items():
        runs[f"forward_{arch}"] = forward(module)
        runs[f"train_{arch}"] = train(module, torch.optim.Adam(module.parameters(), lr=1e-3))
    return runs


def measure_cost(
    input_size: int = 32,
    hidden_size: int = 128,
    num_layers: int = 1,
    steps: int = 32,
    batch: int = 16,
    budget_s: float = 0.5,
    seed: int = 0,
) -> dict[str, Any]:
    """The seed's table per architecture with measured numbers, and the ratios between them."""
    with torch.random.fork_rng():  # seeded, without moving the process's global RNG
        torch.manual_seed(seed)
        modules = {arch: build_module(arch, input_size, hidden_size, num_layers).train() for arch in ARCHS}
        one = torch.randn(steps, input_size)  # one sequence, unbatched
        batch_x = torch.randn(steps, batch, input_size)
    runs = _timed_runs(modules, one, batch_x)
    ms = median_ms(runs, budget_s=budget_s)

    rows: dict[str, dict[str, Any]] = {}
    for arch, module in modules.items():
        params = sum(p.numel() for p in module.parameters())
        activations = saved_activation_bytes(module, batch_x)
        rows[arch] = {
            "seed": SEED_CLAIMS[arch],
            "gates": GATES[arch],
            "params_formula": parameter_formula(arch, input_size, hidden_size, num_layers),
            "params_torch": params,
            "param_bytes": sum(p.numel() * p.element_size() for p in module.parameters()),
            "forward_ms_per_step": ms[f"forward_{arch}"] / steps,
            "train_ms_per_step": ms[f"train_{arch}"] / steps,
            "activation_bytes": activations,
            "activation_bytes_per_step_per_sequence": activations / (steps * batch),
        }
    keys = ("params_torch", "forward_ms_per_step", "train_ms_per_step", "activation_bytes")
    ratios = {
        f"{a}/{b}": {key: rows[a][key] / rows[b][key] if rows[b][key] else None for key in keys}
        for a, b in (("gru", "lstm"), ("rnn", "lstm"), ("rnn", "gru"))
    }
    return {
        "sizes": {
            "input_size": input_size,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "steps": steps,
            "batch": batch,
        },
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "archs": rows,
        "ratios": ratios,
    }
