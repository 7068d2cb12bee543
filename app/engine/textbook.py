"""The GRU as Cho et al. (2014) and most textbooks write it, as an exact layer on torch's weights.

torch.nn.GRU resets *after* the recurrent product and lets z keep the old state; the paper resets
*before* the product and lets z weigh the candidate. With torch's layout (W_ir|W_iz|W_in),
(W_hr|W_hz|W_hn) and biases, the textbook cell is

    r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)      z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n = tanh(W_in x_t + b_in + W_hn (r ⊙ h_{t-1}) + b_hn)                 # reset *before* W_hn
    h_t = (1 - z) ⊙ h_{t-1} + z ⊙ n                                       # z takes the candidate

The same weights give different numbers under the two; `analysis.gru_variant_difference` shows
by how much.

Like `gru_layer`, the forward pass is a no-grad loop (6 ops per step) and the backward pass a
hand-derived recurrence. With q = r ⊙ h_{t-1} and g = dL/dh_t:

    da_n = g ⊙ z ⊙ (1 - n²)           da_z = g ⊙ (n - h_{t-1}) ⊙ z (1 - z)
    dq   = W_hn^T da_n                da_r = dq ⊙ h_{t-1} ⊙ r (1 - r)
    dL/dh_{t-1} = direct + g ⊙ (1 - z) + dq ⊙ r + (W_hr|W_hz)^T [da_r, da_z]

so da_r needs W_hn^T da_n first: two matrix-vector products per step instead of torch's one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gatescope.engine.layers import LayerPass
from gatescope.engine.spec import LayerWeights


@dataclass(frozen=True)
class ChoFactors:
    """Per-step Jacobian factors of the textbook GRU, all (T, H), for backward recurrences.

    With g = dL/dh_t: da_n = g k_n, da_z = g k_z, dq = W_hn^T da_n, da_r = dq k_r, and
    dL/dh_{t-1} gets g keep + dq r + (W_hr|W_hz)^T [da_r, da_z].
    """

    k_n: Tensor  # z (1 - n²)
    k_z: Tensor  # (n - h_{t-1}) z (1 - z)
    k_r: Tensor  # h_{t-1} r (1 - r)
    keep: Tensor  # 1 - z
    r: Tensor


def cho_factors(gates: dict[str, Tensor], h_prev: Tensor) -> ChoFactors:
    r, z, n = gates["r"], gates["z"], gates["n"]
    return ChoFactors(
        k_n=z * (1 - n * n),
        k_z=(n - h_prev) * z * (1 - z),
        k_r=h_prev * r * (1 - r),
        keep=1 - z,
        r=r,
    )


def cho_gru_layer(x: Tensor, w: LayerWeights, h0: Tensor) -> LayerPass:
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
            h = torch.lerp(h, n[t], rz[t, size:], out=hidden[t])  # h + z (n - h)
        r, z = rz[:, :size], rz[:, size:]
        h_prev = torch.cat([h0.view(1, size), hidden[:-1]])
        gates = {"r": r, "z": z, "n": n}
        f = cho_factors(gates, h_prev)

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
