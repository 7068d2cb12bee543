"""Build torch recurrent modules: the one map from an architecture's name to its torch class, the
seeded initialization every gatescope model starts from, and the LSTM forget-gate bias.

    module = build_module("lstm", 8, 16, num_layers=2, generator=torch.Generator().manual_seed(0))

The initialization is torch's own default for recurrent modules, U(-1/√H, 1/√H) for every
parameter, drawn from a ``torch.Generator`` instead of the global RNG, so the same seed gives the
same weights on any machine and the server's RNG is never moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from gatescope.engine.spec import Arch

#: Architecture name -> torch module class. The order (rnn, lstm, gru) is the order of every table.
#: (nn.RNN, nn.LSTM and nn.GRU share a constructor, though torch types RNNBase(mode, ...).)
MODULE_CLASSES: dict[str, Callable[..., nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
ARCH_TITLES: dict[str, str] = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
NONLINEARITIES: tuple[Literal["tanh", "relu"], ...] = ("tanh", "relu")


def check_arch(arch: str) -> Arch:
    """``arch`` as an `Arch`; ValueError naming the choices otherwise."""
    if arch not in MODULE_CLASSES:
        raise ValueError(f"arch must be one of {', '.join(repr(a) for a in MODULE_CLASSES)}, got {arch!r}")
    return arch  # type: ignore[return-value]  # checked just above


def seeded_uniform_(parameters: Iterable[Tensor], hidden_size: int, generator: torch.Generator) -> None:
    """Draw every parameter, in order, from U(-1/√H, 1/√H) with ``generator`` (torch's default init
    for recurrent modules, and for a Linear head whose fan-in is H)."""
    bound = hidden_size**-0.5
    with torch.no_grad():
        for parameter in parameters:
            parameter.uniform_(-bound, bound, generator=generator)


def set_forget_bias_(b_ih: Tensor, b_hh: Tensor, hidden_size: int, value: float) -> None:
    """Set b_if + b_hf = ``value`` in place (b_if = value, b_hf = 0) on one LSTM layer's biases.

    Rows H..2H are the forget gate in torch's layout (W_ii|W_if|W_ig|W_io). Jozefowicz et al.
    (2015) recommend 1.0: f starts near σ(1) ≈ 0.73 instead of 0.5.
    """
    with torch.no_grad():
        b_ih[hidden_size : 2 * hidden_size] = value
        b_hh[hidden_size : 2 * hidden_size] = 0.0


def build_module(
    arch: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    nonlinearity: str = "tanh",
    bias: bool = True,
    generator: torch.Generator | None = None,
    forget_bias: float | None = None,
    batch_first: bool = False,
    bidirectional: bool = False,
    proj_size: int = 0,
) -> nn.RNNBase:
    """A torch recurrent module in eval mode; with ``generator``, seeded by `seeded_uniform_`.

    ``nonlinearity`` is the plain RNN's; ``forget_bias`` applies to biased LSTMs only.
    """
    arch = check_arch(arch)
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    kwargs: dict[str, Any] = {
        "num_layers": num_layers,
        "bias": bias,
        "batch_first": batch_first,
        "bidirectional": bidirectional,
    }
    if arch == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    if proj_size:
        kwargs["proj_size"] = proj_size
    module = MODULE_CLASSES[arch](input_size, hidden_size, **kwargs)
    if generator is not None:
        seeded_uniform_(module.parameters(), hidden_size, generator)
    if forget_bias is not None and arch == "lstm" and bias:
        for layer in range(num_layers):
            for suffix in ("", "_reverse")[: 1 + bidirectional]:
                b_ih = getattr(module, f"bias_ih_l{layer}{suffix}")
                b_hh = getattr(module, f"bias_hh_l{layer}{suffix}")
                set_forget_bias_(b_ih, b_hh, hidden_size, forget_bias)
    return module.eval()
