"""The GRU as papers write it, with the reset gate *before* the recurrent matrix, exact on torch's
weights. Two variants, named for their sources, beside torch's own (`gru_layer`):

    torch   (torch.nn.GRU; Keras reset_after=True; ONNX linear_before_reset=1)
            n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))   reset *after* the matrix
            h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}                       z keeps the old state
    cho     (Cho et al. 2014, arXiv 1406.1078v3 eq. 7-8; Keras reset_after=False; ONNX
            linear_before_reset=0)
            n = tanh(W_in x_t + b_in + W_hn (r ⊙ h_{t-1}) + b_hn)   reset *before* the matrix
            h_t = z ⊙ h_{t-1} + (1 - z) ⊙ n                       z keeps the old state
    chung   (Chung et al. 2014; colah's "Understanding LSTM Networks"; the seed text)
            n as cho
            h_t = (1 - z) ⊙ h_{t-1} + z ⊙ n                       z takes the candidate

with r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr) and z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
in all three, on torch's layout (W_ir|W_iz|W_in), (W_hr|W_hz|W_hn). The same weights give
different numbers under each; `analysis.gru_variant_difference` shows by how much.

Like `gru_layer`, the forward pass is a no-grad loop and the backward pass a hand-derived
recurrence. With q = r ⊙ h_{t-1}, g = dL/dh_t, and w_n = dh_t/dn (1 - z for cho, z for chung):

    da_n = g ⊙ w_n ⊙ (1 - n²)          da_z = g ⊙ dh_t/dz ⊙ z (1 - z)
    dq   = W_hn^T da_n                da_r = dq ⊙ h_{t-1} ⊙ r (1 - r)
    dL/dh_{t-1} = direct + g ⊙ keep + dq ⊙ r + (W_hr|W_hz)^T [da_r, da_z]

where dh_t/dz = h_{t-1} - n (cho) or n - h_{t-1} (chung) and keep = dh_t/dh_{t-1} directly, z
(cho) or 1 - z (chung). da_r needs W_hn^T da_n first: two matrix-vector products per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gatescope.engine.layers import LayerPass
from gatescope.engine.spec import LayerWeights

#: The variants that apply the reset gate before the recurrent matrix.
RESET_BEFORE = ("cho", "chung")


def _check_variant(variant: str) -> None:
    if variant not in RESET_BEFORE:
        raise ValueError(f"a reset-before GRU is 'cho' or 'chung', got {variant!r}")


@dataclass(frozen=True)
class ResetBeforeFactors:
    """Per-step Jacobian factors of a reset-before GRU, all (T, H), for backward recurrences.

    With g = dL/dh_t: da_n = g k_n, da_z = g k_z, dq = W_hn^T da_n, da_r = dq k_r, and
    dL/dh_{t-1} gets g keep + dq r + (W_hr|W_hz)^T [da_r, da_z].
    """

    k_n: Tensor  # w_n (1 - n²)
    k_z: Tensor  # dh_t/dz z (1 - z)
    k_r: Tensor  # h_{t-1} r (1 - r)
    keep: Tensor  # dh_t/dh_{t-1} along the direct path
    r: Tensor


def reset_before_factors(gates: dict[str, Tensor], h_prev: Tensor, variant: str) -> ResetBeforeFactors:
    _check_variant(variant)
    r, z, n = gates["r"], gates["z"], gates["n"]
    slope_z = z * (1 - z)
    if variant == "cho":  # h = z h_prev + (1 - z) n
        return ResetBeforeFactors((1 - z) * (1 - n * n), (h_prev - n) * slope_z, h_prev * r * (1 - r), z, r)
    # chung: h = (1 - z) h_prev + z n
    return ResetBeforeFactors(z * (1 - n * n), (n - h_prev) * slope_z, h_prev * r * (1 - r), 1 - z, r)


def reset_before_gru_layer(x: Tensor, w: LayerWeights, h0: Tensor, variant: str) -> LayerPass:
    _check_variant(variant)
    steps = x.shape[0]
    size = w.w_hh.shape[1]
    w_hrz, w_hn = w.w_hh[: 2 * size], w.w_hh[2 * size :]  # (2H, H), (H, H)
    with torch.no_grad():
        gi = x @ w.w_ih.T  # (T, 3H)
        if w.b_ih is not None:
            gi += w.b_ih
        if w.b_hh is not None:
            gi += w.b_hh  # every bias is outside the reset gate here, so they simply add
        rz = torch.empty(steps, 2 * size, dtype=x.dtype)
        q = torch.empty(steps, size, dtype=x.dtype)  # r ⊙ h_{t-1}
        n = torch.empty(steps, size, dtype=x.dtype)
        hidden = torch.empty(steps, size, dtype=x.dtype)
        h = h0
        for t in range(steps):
            torch.addmv(gi[t, : 2 * size], w_hrz, h, out=rz[t])
            rz[t].sigmoid_()
            torch.mul(rz[t, :size], h, out=q[t])
            torch.addmv(gi[t, 2 * size :], w_hn, q[t], out=n[t])
            n[t].tanh_()
            if variant == "cho":
                h = torch.lerp(n[t], h, rz[t, size:], out=hidden[t])  # n + z (h - n)
            else:
                h = torch.lerp(h, n[t], rz[t, size:], out=hidden[t])  # h + z (n - h)
        r, z = rz[:, :size], rz[:, size:]
        h_prev = torch.cat([h0.view(1, size), hidden[:-1]])
        gates = {"r": r, "z": z, "n": n}
        f = reset_before_factors(gates, h_prev, variant)

    def backward(direct: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        with torch.no_grad():
            grad_hidden = torch.empty_like(direct)
            grad_hidden[-1] = direct[-1]
            grad_pre = torch.empty(steps, 3 * size, dtype=x.dtype)  # [da_r, da_z, da_n]
            dq = torch.empty(size, dtype=x.dtype)
            w_hrz_t, w_hn_t = w_hrz.T, w_hn.T
            for t in range(steps - 1, -1, -1):
                g = grad_hidden[t]
                da = grad_pre[t]
                torch.mul(g, f.k_n[t], out=da[2 * size :])
                torch.mv(w_hn_t, da[2 * size :], out=dq)
                torch.mul(dq, f.k_r[t], out=da[:size])
                torch.mul(g, f.k_z[t], out=da[size : 2 * size])
                if t > 0:
                    prev = torch.addcmul(direct[t - 1], g, f.keep[t])
                    prev.addcmul_(dq, r[t])
                    torch.addmv(prev, w_hrz_t, da[: 2 * size], out=grad_hidden[t - 1])
            grad_x = grad_pre @ w.w_ih  # (T, I)
        return grad_hidden, None, grad_x

    return LayerPass(gates, hidden, None, backward)
