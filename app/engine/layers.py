"""Fast forward and backward passes of one recurrent layer, collecting every gate and dL/dh_t.

Each `*_layer` function runs one layer over a whole sequence and returns a `LayerPass`: the
per-step gates and states, and a ``backward(direct)`` closure that turns the gradient arriving
at the layer's outputs directly (from the objective and the layer above) into the *total*
dL/dh_t and dL/dc_t through time, plus the gradient for the layer below's outputs.

Shapes: x (T, I), hidden (T, H), gates (T, H) each. Equations are torch.nn's, in its docs' names:

    LSTM  i,f,g,o = σ,σ,tanh,σ (W_i· x_t + b_i· + W_h· h_{t-1} + b_h·)
          c_t = f ⊙ c_{t-1} + i ⊙ g          h_t = o ⊙ tanh(c_t)
    GRU   r,z = σ(W_i· x_t + b_i· + W_h· h_{t-1} + b_h·)
          n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))     # reset *after* the matmul
          h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}                           # z keeps the old state
    RNN   h_t = tanh|relu(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)

Why three different strategies (see README "Speed"):
- LSTM: torch has a fused oneDNN kernel on CPU. We run it with a zero-valued *probe* input of
  width H whose input weight is W_hh, so its own backward hands us W_hh^T dL/da_t, the recurrent
  part of dL/dh_{t-1}. Gates then come from the hidden states in one matrix product and the cell
  state from an elementwise linear scan.
- GRU and RNN: torch runs them op by op under autograd. A tight no-grad loop plus a hand-derived
  backward recurrence needs fewer ops per step, with the per-step Jacobian factors precomputed
  for all t at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import _VF, Tensor

from gatescope.engine.scan import linear_scan
from gatescope.engine.spec import LayerWeights

#: backward(direct (T, H)) -> (grad_hidden (T, H), grad_cell (T, H) | None, grad_input (T, I))
Backward = Callable[[Tensor], tuple[Tensor, Tensor | None, Tensor]]


@dataclass
class LayerPass:
    gates: dict[str, Tensor]
    hidden: Tensor
    cell: Tensor | None
    backward: Backward


def _bias_sum(w: LayerWeights, rows: int, dtype: torch.dtype) -> Tensor:
    """b_ih + b_hh, or zeros when the module has ``bias=False``."""
    if w.b_ih is None or w.b_hh is None:
        return torch.zeros(rows, dtype=dtype)
    return w.b_ih + w.b_hh


def lstm_layer(x: Tensor, w: LayerWeights, h0: Tensor, c0: Tensor) -> LayerPass:
    """With a projection (w.w_hr, proj_size P), h_t = W_hr (o_t ⊙ tanh c_t) is (P,) and the
    recurrence reads it: W_hh is (4H, P). Without one, P = H and W_hr is the identity."""
    steps, input_size = x.shape
    cell_size, state_size = w.w_hh.shape[0] // 4, w.w_hh.shape[1]  # H, P
    # Forward through the fused kernel with the probe appended to the input (values 0, so the
    # result is unchanged); torch picks its oneDNN path for float32 on CPU.
    probed_input = torch.cat([x, x.new_zeros(steps, state_size)], 1).unsqueeze(1)  # (T, 1, I+P)
    probed_input.requires_grad_(True)
    probed_w_ih = torch.cat([w.w_ih, w.w_hh], 1)  # (4H, I+P)
    flat_weights = [probed_w_ih, w.w_hh]
    if w.b_ih is not None and w.b_hh is not None:
        flat_weights += [w.b_ih, w.b_hh]
    if w.w_hr is not None:
        flat_weights.append(w.w_hr)
    with torch.enable_grad(), warnings.catch_warnings():
        # With projections torch falls back from oneDNN to its own (exact) kernel, and says so.
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
        output, _, _ = _VF.lstm(
            probed_input,
            (h0.view(1, 1, state_size), c0.view(1, 1, cell_size)),
            flat_weights,
            w.b_ih is not None,  # has_biases
            1,  # num_layers
            0.0,  # dropout
            False,  # train
            False,  # bidirectional
            False,  # batch_first
        )
    hidden = output.detach().view(steps, state_size)

    # All pre-activations in one product: [x_t, h_{t-1}] @ [W_ih, W_hh]^T + b.
    h_prev = torch.cat([h0.view(1, state_size), hidden[:-1]])  # (T, P)
    pre = torch.addmm(
        _bias_sum(w, 4 * cell_size, x.dtype), torch.cat([x, h_prev], 1), probed_w_ih.T
    )  # (T, 4H)
    i, f, g, o = pre.chunk(4, dim=1)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.tanh(g)
    cell = linear_scan(f, i * g, c0)  # c_t = f_t c_{t-1} + i_t g_t
    tanh_cell = torch.tanh(cell)

    def backward(direct: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        (grad_in,) = torch.autograd.grad(output, probed_input, direct.view(steps, 1, state_size))
        grad_in = grad_in.view(steps, input_size + state_size)
        grad_x, grad_probe = grad_in[:, :input_size], grad_in[:, input_size:]
        # grad_probe[t] = W_hh^T dL/da_t = the recurrent part of dL/dh_{t-1}.
        grad_hidden = direct.clone()
        grad_hidden[:-1] += grad_probe[1:]
        # dL/dc_t = (W_hr^T dL/dh_t) o_t (1 - tanh²c_t) + f_{t+1} dL/dc_{t+1}
        grad_out = grad_hidden if w.w_hr is None else grad_hidden @ w.w_hr  # (T, H)
        local = grad_out * o * (1 - tanh_cell * tanh_cell)
        f_next = torch.cat([f[1:], f.new_zeros(1, cell_size)])
        grad_cell = linear_scan(f_next, local, f.new_zeros(cell_size), reverse=True)
        return grad_hidden, grad_cell, grad_x.contiguous()

    return LayerPass({"i": i, "f": f, "g": g, "o": o}, hidden, cell, backward)


def gru_layer(x: Tensor, w: LayerWeights, h0: Tensor) -> LayerPass:
    steps = x.shape[0]
    hidden_size = w.w_hh.shape[1]
    size = hidden_size
    with torch.no_grad():
        gi = x @ w.w_ih.T  # (T, 3H)
        if w.b_ih is not None:
            gi += w.b_ih
        # One product per step gives [a_r, a_z] (input part folded in) and gh_n = W_hn h + b_hn.
        step_bias = torch.zeros(steps, 3 * size, dtype=x.dtype)  # (T, 3H)
        step_bias[:, : 2 * size] = gi[:, : 2 * size]
        if w.b_hh is not None:
            step_bias += w.b_hh
        gi_n = gi[:, 2 * size :]
        pre = torch.empty(steps, 3 * size, dtype=x.dtype)  # [a_r, a_z, gh_n] per step
        rz = torch.empty(steps, 2 * size, dtype=x.dtype)
        n = torch.empty(steps, size, dtype=x.dtype)
        hidden = torch.empty(steps, size, dtype=x.dtype)
        h = h0
        for t in range(steps):
            torch.addmv(step_bias[t], w.w_hh, h, out=pre[t])
            torch.sigmoid(pre[t, : 2 * size], out=rz[t])
            torch.addcmul(gi_n[t], rz[t, :size], pre[t, 2 * size :], out=n[t])
            n[t].tanh_()
            h = torch.lerp(n[t], h, rz[t, size:], out=hidden[t])  # n + z (h_{t-1} - n)
        r, z = rz[:, :size], rz[:, size:]
        gh_n = pre[:, 2 * size :]
        h_prev = torch.cat([h0.view(1, size), hidden[:-1]])

        # Per unit of dL/dh_t, the gradient reaching each pre-activation (all t at once):
        dn = (1 - z) * (1 - n * n)  # d h_t / d a_n
        k_r = dn * gh_n * r * (1 - r)  # d h_t / d a_r
        k_z = (h_prev - n) * z * (1 - z)  # d h_t / d a_z
        # Gradient reaching W_hh's output [a_r, a_z, gh_n] per unit dL/dh_t: (T, 3, H)
        k_recurrent = torch.stack([k_r, k_z, dn * r], dim=1)

    def backward(direct: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        with torch.no_grad():
            grad_hidden = torch.empty_like(direct)
            grad_hidden[-1] = direct[-1]
            w_hh_t = w.w_hh.T  # (H, 3H)
            for t in range(steps - 1, 0, -1):
                dh = grad_hidden[t]
                # dL/dh_{t-1} = direct + dh ⊙ z_t + W_hh^T (k_t ⊙ dh)
                via_z = torch.addcmul(direct[t - 1], dh, z[t])
                torch.addmv(via_z, w_hh_t, (k_recurrent[t] * dh).view(-1), out=grad_hidden[t - 1])
            grad_pre_input = torch.cat([k_r, k_z, dn], 1) * grad_hidden.repeat(1, 3)  # (T, 3H)
            grad_x = grad_pre_input @ w.w_ih  # (T, I)
        return grad_hidden, None, grad_x

    return LayerPass({"r": r, "z": z, "n": n}, hidden, None, backward)


def rnn_layer(x: Tensor, w: LayerWeights, h0: Tensor, nonlinearity: str) -> LayerPass:
    steps = x.shape[0]
    size = w.w_hh.shape[1]
    with torch.no_grad():
        pre_input = torch.addmm(_bias_sum(w, size, x.dtype), x, w.w_ih.T)  # (T, H)
        hidden = torch.empty(steps, size, dtype=x.dtype)
        h = h0
        for t in range(steps):
            h = torch.addmv(pre_input[t], w.w_hh, h, out=hidden[t])
            if nonlinearity == "tanh":
                h.tanh_()
            else:
                h.relu_()
        # d h_t / d a_t: 1 - h² for tanh, the step function for relu.
        slope = 1 - hidden * hidden if nonlinearity == "tanh" else (hidden > 0).to(x.dtype)

    def backward(direct: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        with torch.no_grad():
            grad_hidden = torch.empty_like(direct)
            grad_pre = torch.empty_like(direct)  # dL/da_t
            grad_hidden[-1] = direct[-1]
            w_hh_t = w.w_hh.T
            for t in range(steps - 1, 0, -1):
                torch.mul(grad_hidden[t], slope[t], out=grad_pre[t])
                torch.addmv(direct[t - 1], w_hh_t, grad_pre[t], out=grad_hidden[t - 1])
            torch.mul(grad_hidden[0], slope[0], out=grad_pre[0])
            grad_x = grad_pre @ w.w_ih
        return grad_hidden, None, grad_x

    return LayerPass({}, hidden, None, backward)
