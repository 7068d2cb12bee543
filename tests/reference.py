"""An independent reference: the cells unrolled in float64 with autograd, from torch's documented
equations and the module's own parameters, sharing no code with app/engine."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

Weights = tuple[Tensor, Tensor, Tensor, Tensor]


def kind_of(module: nn.Module) -> str:
    """ "lstm", "gru" or "rnn": a torch module's class, or a gatescope RecurrentStack's ``arch``."""
    return str(getattr(module, "arch", None) or type(module).__name__.lower())


def layer_sizes(module: nn.Module, layer: int) -> tuple[int, int]:
    """(H, P) of one layer, read from its own weights (a stack's layers may differ in size):
    weight_hh_l{layer} is (G*H, P), P = H unless an LSTM's projection weight_hr (P, H) is there."""
    params = dict(module.named_parameters())
    w_hh, w_hr = params[f"weight_hh_l{layer}"], params.get(f"weight_hr_l{layer}")
    return (int(w_hh.shape[1] if w_hr is None else w_hr.shape[1]), int(w_hh.shape[1]))


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
        if gru_variant in ("cho", "chung"):  # the reset gate before W_hn
            n = torch.tanh(a_i[2 * size :] + w_hh[2 * size :] @ (r * h) + b_hh[2 * size :])
            if gru_variant == "cho":  # Cho et al. 2014, eq. 7: h_j = z_j h_j' + (1 - z_j) h~_j
                return z * h + (1 - z) * n, c, {"r": r, "z": z, "n": n}
            return (1 - z) * h + z * n, c, {"r": r, "z": z, "n": n}  # Chung et al. 2014, the seed
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
    ``gru_variant="cho"`` runs Cho et al. (2014)'s GRU on the same weights (the reset gate before
    W_hn, z keeping the old state: h = z h + (1 - z) n), ``"chung"`` Chung et al. (2014)'s and the
    seed's (h = (1 - z) h + z n); both compute n = tanh(W_in x + b_in + W_hn (r h) + b_hn).
    """
    kind = kind_of(module)
    n_layers = module.num_layers
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    # x requires grad so that every state does, and retain_grad can record dL/dh_t.
    x_leaf = x.detach().double().requires_grad_(True)
    xs = list(x_leaf)
    hs: list[list[Tensor]] = []
    cs: list[list[Tensor]] = []
    gates: list[dict[str, list[Tensor]]] = []
    for layer in range(n_layers):
        weights = reference_weights(module, layer)
        size = layer_sizes(module, layer)[0]
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
        "loss": float(loss.detach()),
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


def reference_directions(
    module: nn.Module, x: Tensor, objective: Callable[[Tensor], Tensor]
) -> list[list[dict]]:
    """Bidirectional stacks and LSTM projections, unrolled in float64 from torch's documented
    equations: per layer, per direction (forward, then reverse), a dict of hidden, cell, gates,
    grad_hidden and grad_cell, every tensor indexed by input position t.

    ``objective`` receives the top layer's output (T, directions * P), torch's ``output``.
    h_t = W_hr (o ⊙ tanh c_t) for an LSTM with proj_size P; the reverse direction reads x from
    the end; layer l > 0 reads both directions' outputs side by side.
    """
    kind = kind_of(module)
    directions = 2 if module.bidirectional else 1
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    params = {name: v.detach().double() for name, v in module.named_parameters()}
    layer_input = [x_t for x_t in x.detach().double().requires_grad_(True)]
    records: list[list[dict]] = []
    for layer in range(module.num_layers):
        size, state = layer_sizes(module, layer)
        per_direction = []
        for d in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = params["weight_ih" + suffix], params["weight_hh" + suffix]
            b_ih = params.get("bias_ih" + suffix, torch.zeros(w_ih.shape[0], dtype=torch.float64))
            b_hh = params.get("bias_hh" + suffix, torch.zeros(w_ih.shape[0], dtype=torch.float64))
            w_hr = params.get("weight_hr" + suffix)
            h = torch.zeros(state, dtype=torch.float64)
            c = torch.zeros(size, dtype=torch.float64)
            order = range(len(layer_input)) if d == 0 else reversed(range(len(layer_input)))
            hs: dict[int, Tensor] = {}
            cs: dict[int, Tensor] = {}
            gates: dict[str, dict[int, Tensor]] = {}
            for t in order:
                a = w_ih @ layer_input[t] + b_ih + w_hh @ h + b_hh
                if kind == "lstm":
                    i, f = torch.sigmoid(a[:size]), torch.sigmoid(a[size : 2 * size])
                    g, o = torch.tanh(a[2 * size : 3 * size]), torch.sigmoid(a[3 * size :])
                    c = f * c + i * g
                    h = o * torch.tanh(c)
                    if w_hr is not None:
                        h = w_hr @ h
                    c.retain_grad()
                    cs[t] = c
                    step = {"i": i, "f": f, "g": g, "o": o}
                elif kind == "gru":
                    a_i, a_h = w_ih @ layer_input[t] + b_ih, w_hh @ h + b_hh
                    r = torch.sigmoid(a_i[:size] + a_h[:size])
                    z = torch.sigmoid(a_i[size : 2 * size] + a_h[size : 2 * size])
                    n = torch.tanh(a_i[2 * size :] + r * a_h[2 * size :])
                    h = (1 - z) * n + z * h
                    step = {"r": r, "z": z, "n": n}
                else:
                    h = torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)
                    step = {}
                h.retain_grad()
                hs[t] = h
                for name, value in step.items():
                    gates.setdefault(name, {})[t] = value
            per_direction.append({"h": hs, "c": cs, "gates": gates})
        records.append(per_direction)
        layer_input = [torch.cat([rec["h"][t] for rec in per_direction]) for t in range(len(layer_input))]
    loss = objective(torch.stack(layer_input))
    loss.backward()

    def ordered(values: dict[int, Tensor], grad: bool = False) -> Tensor:
        items = [values[t] for t in sorted(values)]
        if grad:
            return torch.stack([v.grad if v.grad is not None else torch.zeros_like(v) for v in items])
        return torch.stack([v.detach() for v in items])

    return [
        [
            {
                "hidden": ordered(rec["h"]),
                "grad_hidden": ordered(rec["h"], grad=True),
                "cell": ordered(rec["c"]) if rec["c"] else None,
                "grad_cell": ordered(rec["c"], grad=True) if rec["c"] else None,
                "gates": {name: ordered(v) for name, v in rec["gates"].items()},
                "loss": float(loss.detach()),
            }
            for rec in per_direction
        ]
        for per_direction in records
    ]


#: (layer, quantity, units, (a, b), value): clamp those units over a <= t < b
Clamp = tuple[int, str, list[int], tuple[int, int], float]


def reference_intervened(
    module: nn.Module, x: Tensor, objective: Callable[[Tensor], Tensor], clamps: list[Clamp]
) -> list[dict[str, Tensor]]:
    """A unidirectional stack unrolled in float64 from torch's documented equations with clamps:
    a gate right after its nonlinearity, the LSTM cell right after f c + i g, h last (after an
    LSTM's projection). Per layer: hidden, cell, gates, grad_hidden, grad_cell (at the clamped
    nodes, by retain_grad), and grad_input and loss in layer 0's dict. ``objective`` receives the
    top layer's hidden states (T, P)."""
    kind = kind_of(module)
    params = {name: v.detach().double() for name, v in module.named_parameters()}
    x_leaf = x.detach().double().requires_grad_(True)
    layer_input = list(x_leaf)
    records = []
    for layer in range(module.num_layers):
        size, state = layer_sizes(module, layer)
        mine = [c for c in clamps if c[0] == layer]

        def clamp(name: str, value: Tensor, t: int, mine: list[Clamp] = mine) -> Tensor:
            for _, quantity, units, (a, b), fixed in mine:
                if quantity == name and a <= t < b:
                    value = value.clone()
                    value[units] = fixed
            return value

        suffix = f"_l{layer}"
        w_ih, w_hh = params["weight_ih" + suffix], params["weight_hh" + suffix]
        b_ih = params.get("bias_ih" + suffix, torch.zeros(w_ih.shape[0], dtype=torch.float64))
        b_hh = params.get("bias_hh" + suffix, torch.zeros(w_ih.shape[0], dtype=torch.float64))
        w_hr = params.get("weight_hr" + suffix)
        h, c = torch.zeros(state, dtype=torch.float64), torch.zeros(size, dtype=torch.float64)
        hs, cs, gates = [], [], {}
        for t, x_t in enumerate(layer_input):
            a_i, a_h = w_ih @ x_t + b_ih, w_hh @ h + b_hh
            if kind == "lstm":
                a = a_i + a_h
                step = {
                    "i": clamp("i", torch.sigmoid(a[:size]), t),
                    "f": clamp("f", torch.sigmoid(a[size : 2 * size]), t),
                    "g": clamp("g", torch.tanh(a[2 * size : 3 * size]), t),
                    "o": clamp("o", torch.sigmoid(a[3 * size :]), t),
                }
                c = clamp("cell", step["f"] * c + step["i"] * step["g"], t)
                c.retain_grad()
                cs.append(c)
                h = step["o"] * torch.tanh(c)
                h = h if w_hr is None else w_hr @ h
            elif kind == "gru":
                r = clamp("r", torch.sigmoid(a_i[:size] + a_h[:size]), t)
                z = clamp("z", torch.sigmoid(a_i[size : 2 * size] + a_h[size : 2 * size]), t)
                n = clamp("n", torch.tanh(a_i[2 * size :] + r * a_h[2 * size :]), t)
                h = (1 - z) * n + z * h
                step = {"r": r, "z": z, "n": n}
            else:
                a = a_i + a_h
                h = torch.tanh(a) if module.nonlinearity == "tanh" else torch.relu(a)
                step = {}
            h = clamp("hidden", h, t)
            h.retain_grad()
            hs.append(h)
            for name, value in step.items():
                gates.setdefault(name, []).append(value)
        records.append((hs, cs, gates))
        layer_input = hs
    loss = objective(torch.stack(layer_input))
    loss.backward()

    def grads(values: list[Tensor]) -> Tensor:
        return torch.stack([v.grad if v.grad is not None else torch.zeros_like(v) for v in values])

    out = []
    for hs, cs, gates in records:
        out.append(
            {
                "hidden": torch.stack([h.detach() for h in hs]),
                "cell": torch.stack([c.detach() for c in cs]) if cs else None,
                "gates": {k: torch.stack([v.detach() for v in vs]) for k, vs in gates.items()},
                "grad_hidden": grads(hs),
                "grad_cell": grads(cs) if cs else None,
            }
        )
    out[0]["grad_input"] = x_leaf.grad if x_leaf.grad is not None else torch.zeros_like(x_leaf)
    out[0]["loss"] = torch.tensor(float(loss.detach()))
    return out
