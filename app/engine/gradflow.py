"""How gradients flow back through one layer's recurrence: Jacobian norms, dL/dh_t, clipping.

For one layer, with its input held fixed, everything here is a product of the per-step Jacobians
J_t = dh_t/dh_{t-1} (the total derivative at node h_t, so for the LSTM c_{t-1} is held and the
cell path enters through c_t). A row vector of cotangents G_t (K, H) goes back one step as

    RNN        G_{t-1} = (G_t ⊙ slope_t) @ W_hh                     slope = 1 - h² | step(h)
    GRU        G_{t-1} = G_t ⊙ z_t + [G_t k_r, G_t k_z, G_t dn r] @ W_hh        (as in gru_layer)
    GRU (Cho)  da_n = G k_n, dq = da_n @ W_hn, G_{t-1} = G (1-z) + dq r + [dq k_r, G k_z] @ W_hrz
    LSTM       Gc_t = G_t ⊙ o(1 - tanh²c_t) + Gc_{t+1} ⊙ f_{t+1}
               da_t = [Gc g i(1-i), Gc c_{t-1} f(1-f), Gc i(1-g²), G tanh(c_t) o(1-o)]  (K, 4H)
               G_{t-1} = da_t @ W_hh                                 one (K,4H)@(4H,H) product

With K = H and G_{T-1} = I the rows of G_t are the rows of dh_T/dh_t, so one batched product per
step gives every Frobenius norm ||dh_T/dh_t||_F (no loop of H backward passes). With K = 1 and
G_{T-1} = h_{T-1} it is dL/dh_t for L = 0.5 ||h_{T-1}||², the objective of the main view.

Norms are returned as log10: an exploding product passes float32's 1e38 in a few dozen steps and
a vanishing one underflows (and denormals slow the CPU down 100x). The recurrence is linear in G,
so G is renormalized every step and the scale kept as a running log10, which is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from gatescope.engine.build import set_forget_bias_
from gatescope.engine.layers import LayerPass
from gatescope.engine.spec import LayerWeights, RecurrentSpec
from gatescope.engine.textbook import reset_before_factors
from gatescope.engine.trace import InitialState, as_sequence, initial_state, reversed_pass, run_layer

#: backstep(t, G_t (K, H), carry (K, H) | None) -> (G_{t-1}, carry for step t-1)
Backstep = Callable[[int, Tensor, Tensor | None], tuple[Tensor, Tensor | None]]


def forward_layers(
    spec: RecurrentSpec,
    x: object,
    upto: int,
    h0: InitialState | None = None,
    c0: InitialState | None = None,
) -> tuple[list[LayerPass], list[Tensor], list[Tensor]]:
    """Run layers 0..upto (inclusive). Returns the passes and each layer's (h0, c0). A stack that
    reads right to left runs from the end, its passes indexed by input position t as a trace's."""
    seq = as_sequence(x, spec.input_size, spec.dtype)
    if spec.reverse is not None or spec.proj_size:
        raise ValueError(
            "the gradient-flow and unit analyses take unidirectional models without projections; "
            "this one is "
            + ("bidirectional" if spec.reverse is not None else f"projected (proj_size={spec.proj_size})")
        )
    h_init, c_init = initial_state(spec, h0, "h0"), initial_state(spec, c0, "c0")
    passes: list[LayerPass] = []
    layer_input = seq
    for layer in range(upto + 1):
        if spec.right_to_left:
            w = spec.layers[layer]
            passes.append(reversed_pass(spec, layer, layer_input, h_init[layer], c_init[layer], w))
        else:
            passes.append(run_layer(spec, layer, layer_input, h_init[layer], c_init[layer]))
        layer_input = passes[-1].hidden
    return passes, h_init, c_init


def resolve_layer(spec: RecurrentSpec, layer: int) -> int:
    if not -spec.num_layers <= layer < spec.num_layers:
        raise ValueError(f"layer {layer} out of range: the model has {spec.num_layers} layer(s)")
    return layer % spec.num_layers


def backstep(spec: RecurrentSpec, w: LayerWeights, p: LayerPass, h0: Tensor, c0: Tensor) -> Backstep:
    """The batched one-step backward map of this layer's recurrence (see the module docstring)."""
    size = w.hidden_size  # this layer's H (a stack's layers may differ)
    hidden = p.hidden
    h_prev = torch.cat([h0.view(1, size), hidden[:-1]])  # (T, H)
    w_hh = w.w_hh  # (G*H, H)
    if spec.arch == "rnn":
        slope = 1 - hidden * hidden if spec.nonlinearity == "tanh" else (hidden > 0).to(hidden.dtype)

        def rnn_step(t: int, g: Tensor, carry: Tensor | None) -> tuple[Tensor, Tensor | None]:
            return (g * slope[t]) @ w_hh, None

        return rnn_step
    if spec.arch == "gru" and spec.gru_variant != "torch":
        f = reset_before_factors(p.gates, h_prev, spec.gru_variant)
        w_hrz, w_hn = w_hh[: 2 * size], w_hh[2 * size :]

        def reset_before_step(t: int, g: Tensor, carry: Tensor | None) -> tuple[Tensor, Tensor | None]:
            dq = (g * f.k_n[t]) @ w_hn  # (K, H)
            da_rz = torch.cat([dq * f.k_r[t], g * f.k_z[t]], 1)  # (K, 2H)
            out = torch.addcmul(g * f.keep[t], dq, f.r[t])
            return out.addmm_(da_rz, w_hrz), None

        return reset_before_step
    if spec.arch == "gru":
        r, z, n = p.gates["r"], p.gates["z"], p.gates["n"]
        gh_n = h_prev @ w_hh[2 * size :].T  # (T, H)
        if w.b_hh is not None:
            gh_n += w.b_hh[2 * size :]
        dn = (1 - z) * (1 - n * n)
        k3 = torch.stack([dn * gh_n * r * (1 - r), (h_prev - n) * z * (1 - z), dn * r], 1)  # (T, 3, H)

        def gru_step(t: int, g: Tensor, carry: Tensor | None) -> tuple[Tensor, Tensor | None]:
            da = (g.unsqueeze(1) * k3[t]).view(g.shape[0], 3 * size)  # (K, 3H)
            return torch.addmm(g * z[t], da, w_hh), None

        return gru_step
    assert p.cell is not None
    i, f_gate, g_gate, o = (p.gates[k] for k in ("i", "f", "g", "o"))
    c_prev = torch.cat([c0.view(1, size), p.cell[:-1]])
    tanh_c = torch.tanh(p.cell)
    dc = o * (1 - tanh_c * tanh_c)  # d h_t / d c_t
    k3 = torch.stack([g_gate * i * (1 - i), c_prev * f_gate * (1 - f_gate), i * (1 - g_gate * g_gate)], 1)
    k_o = tanh_c * o * (1 - o)

    def lstm_step(t: int, g: Tensor, carry: Tensor | None) -> tuple[Tensor, Tensor | None]:
        gc = g * dc[t] if carry is None else torch.addcmul(carry, g, dc[t])  # total dh_T/dc_t
        da = torch.cat([gc.unsqueeze(1) * k3[t], (g * k_o[t]).unsqueeze(1)], 1)  # (K, 4, H)
        return da.view(g.shape[0], 4 * size) @ w_hh, gc * f_gate[t]

    return lstm_step


def _run_backwards(
    step: Backstep, seed: Tensor, steps: int, clip: float | None = None, clipped_row: int | None = None
) -> Tensor:
    """log10 of each row's norm, (T, K) float64, for G_{T-1} = seed (K, H) propagated back.

    Rows are independent cotangents, so they run as one batch: one backstep per t for all of them
    (the Jacobian's H rows, dL/dh_t and its clipped copy together). Every step each row is divided
    by a scale of its own (its norm, or its cell carry's if larger); the scales are kept and their
    log10 summed after the loop, which is exact and never over- or underflows. The loop itself does
    only a few tensor ops per step, no host syncs. With ``clip``, row ``clipped_row`` is rescaled
    to norm ``clip`` whenever its true norm exceeds it, before it propagates (its LSTM cell carry
    keeps its true value), and the clipped norm is recorded.
    """
    rows = seed.shape[0]
    norms_at = torch.zeros(steps, rows, dtype=seed.dtype)  # ||g_t[k]|| in the running units
    scales_at = torch.ones(steps, rows, dtype=seed.dtype)  # what row k was divided by after step t
    tiny = torch.finfo(seed.dtype).tiny * 1e8  # exact zero rows stay zero, nothing divides by 0
    g: Tensor = seed.clone()
    carry: Tensor | None = None
    clip_log_scale = 0.0  # log10 of the clipped row's running scale (the one host sync, if any)
    clipped_steps: list[int] = []  # where the clipped row was clipped: its norm is exactly `clip`
    for t in range(steps - 1, -1, -1):
        norms = torch.linalg.vector_norm(g, dim=1)  # (K,)
        if clip is not None and clipped_row is not None:
            norm = float(norms[clipped_row])
            if norm > 0 and clip_log_scale + math.log10(norm) > math.log10(clip):
                factor = 10 ** (math.log10(clip) - clip_log_scale) / norm
                g[clipped_row] *= factor  # the carry is not clipped
                norms[clipped_row] *= factor
                clipped_steps.append(t)
        norms_at[t] = norms
        if t == 0:
            break
        scale = norms if carry is None else torch.maximum(norms, torch.linalg.vector_norm(carry, dim=1))
        scale = scale.clamp_min(tiny)
        scales_at[t] = scale
        if clip is not None and clipped_row is not None:
            clip_log_scale += math.log10(float(scale[clipped_row]))
        divisor = scale.unsqueeze(1)
        g = g / divisor
        carry = None if carry is None else carry / divisor
        g, carry = step(t, g, carry)
    # True norm at t: norms_at[t] times the product of the scales applied after every step s > t.
    log_scales = torch.log10(scales_at.double())
    after = torch.flip(torch.cumsum(torch.flip(log_scales, [0]), 0), [0]) - log_scales  # sum over s > t
    out = after + torch.log10(norms_at.double())
    if clip is not None and clipped_row is not None and clipped_steps:
        out[clipped_steps, clipped_row] = math.log10(clip)
    return out


def _log10_frobenius(row_log10: Tensor) -> Tensor:
    """log10 sqrt(sum_k 10**(2 r_k)) per step, from per-row log10 norms (T, K) -> (T,)."""
    ln10 = math.log(10.0)
    return torch.logsumexp(2 * ln10 * row_log10, dim=1) / (2 * ln10)


def _layer_backstep(
    spec: RecurrentSpec, x: object, layer: int, h0: Tensor | None, c0: Tensor | None
) -> tuple[Backstep, Tensor]:
    """The backstep of ``layer`` (its input held fixed) and its hidden states (T, H)."""
    if spec.right_to_left:
        raise ValueError(
            "the gradient-flow curves run back from the last step of a layer that reads left to "
            "right; this model reads its input right to left (ONNX direction='reverse', Keras "
            "go_backwards=True), so trace it instead: its grad_hidden is dL/dh_t for L = 0.5 ||h_0||²"
        )
    layer = resolve_layer(spec, layer)
    passes, h_init, c_init = forward_layers(spec, x, layer, h0, c0)
    p = passes[layer]
    return backstep(spec, spec.layers[layer], p, h_init[layer], c_init[layer]), p.hidden


def _check_clip(clip: float | None) -> None:
    if clip is not None and not (math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be a positive number, got {clip}")


def recurrent_jacobian_log10_norms(
    spec: RecurrentSpec, x: object, layer: int = -1, h0: Tensor | None = None, c0: Tensor | None = None
) -> Tensor:
    """log10 ||dh_{T-1}/dh_t||_F for every t (T,), float64, within ``layer``'s recurrence.

    The layer's input is held fixed (only its own recurrence is differentiated). The last entry is
    log10 sqrt(H), the identity. Exactly zero Jacobians give -inf.
    """
    return gradient_flow(spec, x, layer, h0=h0, c0=c0, gradients=False).jacobian_log10


def hidden_gradient_log10_norms(
    spec: RecurrentSpec,
    x: object,
    layer: int = -1,
    clip: float | None = None,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
) -> Tensor:
    """log10 ||dL/dh_t|| (T,), float64, for L = 0.5 ||h_{T-1}||² of ``layer``, through its recurrence.

    With ``clip`` (> 0), the back-propagated dL/dh_t is clipped to norm ``clip`` at *every step*
    before it flows on to h_{t-1} (for the LSTM, the gradient along the cell c_t is not clipped),
    and the clipped norm is recorded: the curve is capped at ``clip`` and cannot explode.
    This is not Pascanu et al. (2013)'s clipping, which rescales the *parameter* gradient after
    back-propagation by min(1, clip / ||dL/dθ||): one factor for all t, so on a log plot it moves
    the whole curve down without changing its slope.
    """
    _check_clip(clip)
    step, hidden = _layer_backstep(spec, x, layer, h0, c0)
    with torch.no_grad():
        return _run_backwards(step, hidden[-1:].clone(), hidden.shape[0], clip, 0)[:, 0]


@dataclass(frozen=True)
class GradientFlow:
    """One layer's gradient flow over one input, every curve (T,) as log10, indexed by t."""

    grad_log10: Tensor  # log10 ||dL/dh_t||, L = 0.5 ||h_{T-1}||²
    jacobian_log10: Tensor  # log10 ||dh_{T-1}/dh_t||_F
    clipped_log10: Tensor | None  # log10 ||dL/dh_t|| with per-step clipping, if asked


def gradient_flow(
    spec: RecurrentSpec,
    x: object,
    layer: int = -1,
    clip: float | None = None,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
    gradients: bool = True,
) -> GradientFlow:
    """The vanishing-gradient lab's curves from one forward pass (see the functions above)."""
    _check_clip(clip)
    step, hidden = _layer_backstep(spec, x, layer, h0, c0)
    steps = hidden.shape[0]
    empty = torch.empty(0, dtype=torch.float64)
    size = hidden.shape[1]  # this layer's H
    with torch.no_grad():
        # One batch of cotangents: the identity (rows of dh_T/dh_t), then h_T (dL/dh_t), then
        # h_T again for the clipped copy. One backstep per t serves all of them.
        seeds = [torch.eye(size, dtype=hidden.dtype)]
        if gradients:
            seeds.append(hidden[-1:])
        if clip is not None:
            seeds.append(hidden[-1:])
        rows = _run_backwards(step, torch.cat(seeds), steps, clip, size + int(gradients))
        jacobian = _log10_frobenius(rows[:, :size])
        grad = rows[:, size] if gradients else empty
        clipped = None if clip is None else rows[:, -1]
    return GradientFlow(grad, jacobian, clipped)


def gradient_slope(log10_norms: Tensor) -> float | None:
    """Least-squares slope of log10 ||·|| against distance T-1-t, in decades per step.

    Negative: the gradient shrinks by that many powers of ten per step back in time (vanishing);
    positive: it grows (exploding). Non-finite entries (exact zeros) are left out; None when
    fewer than two remain.
    """
    values = log10_norms.double()
    distance = torch.arange(values.shape[0] - 1, -1, -1, dtype=torch.float64)
    keep = torch.isfinite(values)
    if int(keep.sum()) < 2:
        return None
    d, v = distance[keep], values[keep]
    d_centered = d - d.mean()
    return float((d_centered * (v - v.mean())).sum() / (d_centered * d_centered).sum())


def spectral_radius(matrix: Tensor) -> float:
    """max |eigenvalue| of a square matrix (computed in float64)."""
    return float(torch.linalg.eigvals(matrix.double()).abs().max())


def with_recurrent_radius(spec: RecurrentSpec, radius: float) -> RecurrentSpec:
    """Scale each gate's H x H block of every layer's W_hh to spectral radius ``radius``.

    For the plain RNN, radius > 1 with tanh lets gradients explode where units are unsaturated,
    radius < 1 makes them vanish at least geometrically.
    """
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"the spectral radius must be a positive number, got {radius}")
    layers = []
    for w in spec.layers:
        blocks = []
        for block in torch.split(w.w_hh, w.hidden_size):  # (H_l, H_l) per gate
            rho = spectral_radius(block)
            if rho == 0:
                raise ValueError("a recurrent weight block is nilpotent (spectral radius 0): cannot rescale")
            blocks.append(block * (radius / rho))
        layers.append(replace(w, w_hh=torch.cat(blocks)))
    return replace(spec, layers=tuple(layers))


def with_forget_bias(spec: RecurrentSpec, value: float) -> RecurrentSpec:
    """LSTM only: set b_if + b_hf = ``value`` in every layer (b_if = value, b_hf = 0).

    Jozefowicz et al. (2015) recommend 1.0: f starts near σ(1) ≈ 0.73 instead of 0.5, so the cell
    path dh_T/dc_t ∝ Π f decays far more slowly.
    """
    if spec.arch != "lstm":
        raise ValueError(f"a forget-gate bias applies to LSTMs only; this model is an {spec.arch.upper()}")
    if not spec.bias:
        raise ValueError("this LSTM has no biases (bias=False), so there is no forget-gate bias to set")
    layers = []
    for w in spec.layers:
        assert w.b_ih is not None and w.b_hh is not None
        b_ih, b_hh = w.b_ih.clone(), w.b_hh.clone()
        set_forget_bias_(b_ih, b_hh, w.hidden_size, value)
        layers.append(replace(w, b_ih=b_ih, b_hh=b_hh))
    return replace(spec, layers=tuple(layers))
