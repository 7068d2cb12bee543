"""One timestep of each cell, as torch.nn documents it, for the live stepper.

All vectors are (H,) except x (I,). Weight rows follow torch: ``w_ih`` is (W_ii|W_if|W_ig|W_io)
for the LSTM and (W_ir|W_iz|W_in) for the GRU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gatescope.engine.spec import LayerWeights


@dataclass
class CellStep:
    """What one cell did at one step: its gates, new hidden state and (LSTM) new cell state."""

    gates: dict[str, Tensor]
    hidden: Tensor
    cell: Tensor | None


def _affine(w: Tensor, b: Tensor | None, v: Tensor) -> Tensor:
    return torch.mv(w, v) if b is None else torch.addmv(b, w, v)


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, w: LayerWeights) -> CellStep:
    r"""torch.nn.LSTM's cell:

    i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g                         h' = o ⊙ tanh(c')
    """
    pre = _affine(w.w_ih, w.b_ih, x) + _affine(w.w_hh, w.b_hh, h)  # (4H,)
    i, f, g, o = pre.chunk(4)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    cell = f * c + i * g
    hidden = o * torch.tanh(cell)
    if w.w_hr is not None:  # proj_size > 0: h' = W_hr (o ⊙ tanh(c'))
        hidden = w.w_hr @ hidden
    return CellStep({"i": i, "f": f, "g": g, "o": o}, hidden, cell)


def gru_cell(x: Tensor, h: Tensor, w: LayerWeights) -> CellStep:
    r"""torch.nn.GRU's cell (reset applied *after* the recurrent product, z keeps h):

    r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 - z) ⊙ n + z ⊙ h

    Cho et al. (2014) instead compute ñ = tanh(W x + U (r ⊙ h)) and h' = (1 - z) h + z ñ.
    """
    gi = _affine(w.w_ih, w.b_ih, x)  # (3H,)
    gh = _affine(w.w_hh, w.b_hh, h)  # (3H,)
    size = h.shape[0]
    rz = torch.sigmoid(gi[: 2 * size] + gh[: 2 * size])
    r, z = rz[:size], rz[size:]
    n = torch.tanh(gi[2 * size :] + r * gh[2 * size :])
    return CellStep({"r": r, "z": z, "n": n}, (1 - z) * n + z * h, None)


def reset_before_gru_cell(x: Tensor, h: Tensor, w: LayerWeights, variant: str) -> CellStep:
    r"""A GRU with the reset *before* the recurrent product, on torch's weight layout
    (app/engine/textbook.py names the variants):

    r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)
    h' = z ⊙ h + (1 - z) ⊙ n        (cho: Cho et al. 2014, z keeps the old state)
    h' = (1 - z) ⊙ h + z ⊙ n        (chung: Chung et al. 2014 and the seed, z takes the candidate)

    The candidate is called ``n`` (torch's name) although the papers write h̃.
    """
    gi = _affine(w.w_ih, w.b_ih, x)  # (3H,)
    size = h.shape[0]
    b_hh = None if w.b_hh is None else w.b_hh[: 2 * size]
    rz = torch.sigmoid(gi[: 2 * size] + _affine(w.w_hh[: 2 * size], b_hh, h))
    r, z = rz[:size], rz[size:]
    b_hn = None if w.b_hh is None else w.b_hh[2 * size :]
    n = torch.tanh(gi[2 * size :] + _affine(w.w_hh[2 * size :], b_hn, r * h))
    hidden = z * h + (1 - z) * n if variant == "cho" else (1 - z) * h + z * n
    return CellStep({"r": r, "z": z, "n": n}, hidden, None)


def rnn_cell(x: Tensor, h: Tensor, w: LayerWeights, nonlinearity: str) -> CellStep:
    r"""torch.nn.RNN's cell: h' = tanh|relu(W_ih x + b_ih + W_hh h + b_hh)."""
    pre = _affine(w.w_ih, w.b_ih, x) + _affine(w.w_hh, w.b_hh, h)
    hidden = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
    return CellStep({}, hidden, None)
