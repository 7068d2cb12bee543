"""Elementwise linear recurrences s_t = a_t * s_{t-1} + b_t, computed without a T-step Python loop.

The LSTM cell state c_t = f_t * c_{t-1} + i_t * g_t is such a recurrence once the gates are known,
and so is its gradient dL/dc_{t-1} = f_t * dL/dc_t + (local term) run backwards in time.

Method: split time into chunks of K steps. Within every chunk run the recurrence from zero, all
chunks at once (K vectorized steps); then carry each chunk's end value into the next (T/K steps);
then add carry * (product of a within the chunk). About 2*sqrt(T) small ops instead of T. Only
products of a appear, never divisions by them, so gates near 0 (f_t -> 0) underflow harmlessly
to the exact limit instead of producing inf/NaN as a cumprod-and-divide closed form would.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def linear_scan(a: Tensor, b: Tensor, init: Tensor, reverse: bool = False) -> Tensor:
    """Return s (T, H) with s_t = a_t * s_{t-1} + b_t and s_{-1} = init.

    a, b: (T, H); init: (H,). With ``reverse=True`` time runs backwards:
    s_t = a_t * s_{t+1} + b_t with s_T = init.
    """
    if reverse:
        return linear_scan(a.flip(0), b.flip(0), init, reverse=False).flip(0)
    steps, width = b.shape
    if steps == 0:
        return b.clone()
    chunk = max(1, math.isqrt(steps))
    n_chunks = -(-steps // chunk)
    pad = n_chunks * chunk - steps
    # Padding with a=1, b=0 leaves the values before the pad unchanged.
    a_chunks = torch.nn.functional.pad(a, (0, 0, 0, pad), value=1.0).view(n_chunks, chunk, width)
    b_chunks = torch.nn.functional.pad(b, (0, 0, 0, pad), value=0.0).view(n_chunks, chunk, width)

    local = torch.empty_like(b_chunks)  # (n_chunks, chunk, H): the scan from 0 within each chunk
    local[:, 0] = b_chunks[:, 0]
    for k in range(1, chunk):
        torch.addcmul(b_chunks[:, k], a_chunks[:, k], local[:, k - 1], out=local[:, k])
    a_prefix = torch.cumprod(a_chunks, dim=1)  # (n_chunks, chunk, H): prod of a up to k in chunk

    carry = torch.empty(n_chunks, width, dtype=b.dtype)  # s just before each chunk starts
    previous = init.to(b.dtype)
    for j in range(n_chunks):
        carry[j] = previous
        previous = torch.addcmul(local[j, -1], a_prefix[j, -1], previous)
    out = torch.addcmul(local, a_prefix, carry.unsqueeze(1))
    return out.view(n_chunks * chunk, width)[:steps]
