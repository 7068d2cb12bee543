"""An independent reference: the cells unrolled in float64 with autograd, from torch's documented
equations and the module's own parameters, sharing no code with app/engine."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

Weights = tuple[Tensor, Tensor, Tensor, Tensor]


def reference_weights(module: nn.Module, layer: int) -> Weights:
    """(w_ih, w_hh, b_ih, b_hh) of one layer in float64; zero biases for ``bias=False``."""
    p = {name: v.detach().double() for name, v in module.named_parameters()}
    w_ih, w_hh = p[f"weight_ih_l{layer}"], p[f"weight_hh_l{layer}"]
    b_ih = p.get(f"bias_ih_l{layer}", torch.zeros(w_ih.shape[0], dtype=torch.float64))
    b_hh = p.get(f"bias_hh_l{layer}", torch.zeros(w_ih.shape[0], dtype=torch.float64))
    return w_ih, w_hh, b_ih, b_hh


def reference_step(
    kind: str,
    weights: Weights,
    x_t: Tensor,
    h: Tensor,
    c: Tensor,
    nonlinearity: str = "tanh",
    gru_variant: str = "torch",
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """One step of torch's documented cell ("lstm", "gru", "rnn"): (h', c', gates)."""
    w_ih, w_hh, b_ih, b_hh = weights
    size = h.shape[0]
    a_i = w_ih @ x_t + b_ih
    a_h = w_hh @ h + b_hh
    if kind == "lstm":
        i = torch.sigmoid(a_i[:size] + a_h[:size])
        f = torch.sigmoid(a_i[size : 2 * size] + a_h[size : 2 * size])
        g = torch.tanh(a_i[2 * size : 3 * size] + a_h[2 * size : 3 * size])
        o = torch.sigmoid(a_i[3 * size :] + a_h[3 * size :])
        c = f * c + i * g
        return o * torch.tanh(c), c, {"i": i, "f": f, "g": g, "o": o}
    if kind == "gru":
        r = torch.sigmoid(a_i[:size] + a_h[:size])
        z = torch.sigmoid(a_i[size : 2 * size] + a_h[size : 2 * size])
        if gru_variant == "cho":
            n = torch.tanh(a_i[2 * size :] + w_hh[2 * size :] @ (r * h) + b_hh[2 * size :])
            return (1 - z) * h + z * n, c, {"r": r, "z": z, "n": n}
        n = torch.tanh(a_i[2 * size :] + r * a_h[2 * size :])
        return (1 - z) * n + z * h, c, {"r": r, "z": z, "n": n}
    a = a_i + a_h
    return (torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)), c, {}


def reference_trace(
    module: nn.Module,
    x: Tensor,
    objective: Callable[[list[list[Tensor]]], Tensor],
    h0: Tensor | None = None,
    c0: Tensor | None = None,
    gru_variant: str = "torch",
) -> dict[str, object]:
    """Return per-layer lists of float64 tensors: gates, hidden, cell, grad_hidden, grad_cell,
    and grad_input (dL/dx_t, (T, I)).

    ``objective`` receives hs[layer][t] (each (H,)) and returns the scalar loss.
    ``gru_variant="cho"`` runs Cho et al. (2014)'s GRU on the same weights: the reset gate applies
    before W_hn, n = tanh(W_in x + b_in + W_hn (r h) + b_hn), and h = (1 - z) h + z n.
    """
    kind = type(module).__name__.lower()
    size, n_layers = module.hidden_size, module.num_layers
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    # x requires grad so that every state does, and retain_grad can record dL/dh_t.
    x_leaf = x.detach().double().requires_grad_(True)
    xs = list(x_leaf)
    hs: list[list[Tensor]] = []
    cs: list[list[Tensor]] = []
    gates: list[dict[str, list[Tensor]]] = []
    for layer in range(n_layers):
        weights = reference_weights(module, layer)
        h = torch.zeros(size, dtype=torch.float64) if h0 is None else h0[layer].double()
        c = torch.zeros(size, dtype=torch.float64) if c0 is None else c0[layer].double()
        layer_h, layer_c, layer_g = [], [], {}
        for x_t in xs:
            h, c, step_gates = reference_step(kind, weights, x_t, h, c, nonlinearity, gru_variant)
            if kind == "lstm":
                c.retain_grad()
                layer_c.append(c)
            h.retain_grad()
            layer_h.append(h)
            for name, value in step_gates.items():
                layer_g.setdefault(name, []).append(value)
        hs.append(layer_h)
        cs.append(layer_c)
        gates.append(layer_g)
        xs = layer_h
    loss = objective(hs)
    loss.backward()

    def stack(values: list[Tensor]) -> Tensor:
        return torch.stack([v.detach() for v in values])

    def grads(values: list[Tensor]) -> Tensor:
        return torch.stack([v.grad if v.grad is not None else torch.zeros_like(v) for v in values])

    return {
        "loss": float(loss),
        "grad_input": x_leaf.grad if x_leaf.grad is not None else torch.zeros_like(x_leaf),
        "layers": [
            {
                "gates": {k: stack(v) for k, v in gates[layer].items()},
                "hidden": stack(hs[layer]),
                "cell": stack(cs[layer]) if kind == "lstm" else None,
                "grad_hidden": grads(hs[layer]),
                "grad_cell": grads(cs[layer]) if kind == "lstm" else None,
            }
            for layer in range(n_layers)
        ],
    }


def assert_close_relative(actual: Tensor, expected: Tensor, rtol: float = 1e-4) -> None:
    """Elementwise |a - e| <= rtol * (|e| + max|e|*1e-2): relative, with a floor near zero so that
    entries that are ~0 in float64 do not demand float32 to be exactly zero."""
    actual = actual.double()
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = expected.abs().max().clamp_min(1e-30)
    err = (actual - expected).abs()
    bound = rtol * (expected.abs() + 1e-2 * scale)
    worst = float((err / bound).max())
    assert worst <= 1.0, f"max error / bound = {worst:.3g} (max abs err {float(err.max()):.3g})"
