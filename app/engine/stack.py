"""`RecurrentStack`: a stack of recurrent layers whose sizes differ, as one torch module.

torch.nn.LSTM (GRU, RNN) gives every layer one ``hidden_size``. A Keras model such as
``LSTM(24, return_sequences=True) -> LSTM(16)`` is a stack of layers of 24 and 16 units, which no
single torch module holds. A `RecurrentStack` holds it under torch's own parameter names and
shapes, layer l having its own H_l:

    weight_ih_l{l}[_reverse]  (G*H_l, I_l)      weight_hh_l{l}[_reverse]  (G*H_l, H_l)
    bias_ih_l{l}[_reverse]    (G*H_l,)          bias_hh_l{l}[_reverse]    (G*H_l,)

with I_0 = input_size and I_l = directions * H_{l-1}, so its state_dict is exactly what an
nn.LSTM's would be if torch allowed the sizes to differ. Its ``forward`` runs each layer as a
one-layer torch module (torch's own kernels) on these weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from gatescope.engine.spec import GATE_MULTIPLIER, Arch

MODULES: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
ARCH_OF: dict[type[nn.Module], Arch] = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}


class RecurrentStack(nn.Module):
    """LSTM, GRU or RNN layers of sizes ``hidden_sizes`` (one per layer), torch's equations.

    ``forward(x, hx=None)`` takes x as (T, B, I) or (T, I) (torch's layout, not batch-first) and
    initial states as a list with one entry per layer and direction (index
    ``layer * directions + direction``, as torch orders h_0's rows): a (B, H_l) or (H_l,) tensor, or
    for the LSTM an (h, c) pair of them. It returns (output of the top layer, that list of final
    states), the final states in the same form.
    """

    def __init__(
        self,
        arch: str,
        input_size: int,
        hidden_sizes: Sequence[int],
        bias: bool = True,
        bidirectional: bool = False,
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        if arch not in MODULES:
            raise ValueError(f"arch must be 'lstm', 'gru' or 'rnn', got {arch!r}")
        if not hidden_sizes or any(int(h) < 1 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be one positive size per layer, got {list(hidden_sizes)}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.arch: Arch = "lstm" if arch == "lstm" else "gru" if arch == "gru" else "rnn"
        self.input_size = int(input_size)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.num_layers = len(self.hidden_sizes)
        self.bias = bias
        self.bidirectional = bidirectional
        self.nonlinearity = nonlinearity
        directions = 2 if bidirectional else 1
        gates = GATE_MULTIPLIER[arch]
        width = self.input_size
        for layer, size in enumerate(self.hidden_sizes):
            bound = 1 / math.sqrt(size)  # torch's default initialization, per layer
            for suffix in [f"_l{layer}"] + ([f"_l{layer}_reverse"] if bidirectional else []):
                shapes: dict[str, tuple[int, ...]] = {
                    "weight_ih": (gates * size, width),  # (G*H_l, I_l)
                    "weight_hh": (gates * size, size),  # (G*H_l, H_l)
                }
                if bias:
                    shapes |= {"bias_ih": (gates * size,), "bias_hh": (gates * size,)}
                for name, shape in shapes.items():
                    value = torch.empty(shape).uniform_(-bound, bound)
                    self.register_parameter(name + suffix, nn.Parameter(value))
            width = directions * size

    @classmethod
    def from_modules(cls, modules: Sequence[nn.Module]) -> RecurrentStack:
        """The chain ``modules[0] -> modules[1] -> ...`` (torch LSTMs, GRUs or RNNs of one kind,
        any num_layers, each reading the one before's output) as one stack, with their weights.
        ValueError if they do not chain or differ in kind, bias, direction or nonlinearity."""
        if not modules:
            raise ValueError("from_modules needs at least one module")
        kinds = {type(m) for m in modules}
        if len(kinds) > 1 or not all(type(m) in MODULES.values() for m in modules):
            names = ", ".join(type(m).__name__ for m in modules)
            raise ValueError(f"the modules must all be nn.LSTM, all nn.GRU or all nn.RNN, got {names}")
        first = modules[0]
        assert isinstance(first, nn.RNNBase)
        sizes: list[int] = []
        width = first.input_size
        for m in modules:
            assert isinstance(m, nn.RNNBase)
            if m.input_size != width:
                raise ValueError(
                    f"a {type(m).__name__} reads {m.input_size} inputs where the one below gives {width}"
                )
            if getattr(m, "proj_size", 0):
                raise ValueError("LSTMs with projections (proj_size > 0) cannot be stacked here")
            for what in ("bias", "bidirectional", "nonlinearity"):
                if getattr(m, what, None) != getattr(first, what, None):
                    raise ValueError(f"the modules differ in {what}")
            sizes += [m.hidden_size] * m.num_layers
            width = (2 if m.bidirectional else 1) * m.hidden_size
        arch = ARCH_OF[type(first)]
        nonlinearity = getattr(first, "nonlinearity", "tanh")
        stack = cls(arch, first.input_size, sizes, first.bias, first.bidirectional, nonlinearity)
        state: dict[str, Tensor] = {}
        offset = 0
        for m in modules:
            assert isinstance(m, nn.RNNBase)
            for name, value in m.state_dict().items():
                base, _, rest = name.partition("_l")
                layer, _, reverse = rest.partition("_")
                state[f"{base}_l{offset + int(layer)}" + (f"_{reverse}" if reverse else "")] = value
            offset += int(m.num_layers)
        stack.load_state_dict(state)
        return stack.to(next(first.parameters()).dtype)

    def layer_module(self, layer: int) -> nn.RNNBase:
        """An empty one-layer torch module of layer ``layer``'s sizes (its weights are ours)."""
        width = self.input_size if layer == 0 else (1 + self.bidirectional) * self.hidden_sizes[layer - 1]
        size, bidirectional = self.hidden_sizes[layer], self.bidirectional
        # device="meta": no storage; functional_call runs the module on our weights.
        if self.arch == "lstm":
            return nn.LSTM(width, size, 1, self.bias, bidirectional=bidirectional, device="meta")
        if self.arch == "gru":
            return nn.GRU(width, size, 1, self.bias, bidirectional=bidirectional, device="meta")
        return nn.RNN(
            width, size, 1, self.nonlinearity, self.bias, bidirectional=bidirectional, device="meta"
        )

    def forward(
        self, x: Tensor, hx: Sequence[Tensor | tuple[Tensor, Tensor]] | None = None
    ) -> tuple[Tensor, list[Tensor | tuple[Tensor, Tensor]]]:
        directions = 2 if self.bidirectional else 1
        if hx is not None and len(hx) != self.num_layers * directions:
            raise ValueError(
                f"hx must have {self.num_layers * directions} entries (one per layer and direction), "
                f"got {len(hx)}"
            )
        params = dict(self.named_parameters())
        finals: list[Tensor | tuple[Tensor, Tensor]] = []
        output = x
        for layer in range(self.num_layers):
            own: dict[str, Tensor] = {
                name.replace(f"_l{layer}", "_l0"): value
                for name, value in params.items()
                if name.endswith((f"_l{layer}", f"_l{layer}_reverse"))
            }
            state: Tensor | tuple[Tensor, Tensor] | None = None
            if hx is not None:
                rows = hx[layer * directions : (layer + 1) * directions]
                pairs = [r for r in rows if isinstance(r, tuple)]
                if self.arch == "lstm" and len(pairs) == directions:
                    state = (torch.stack([h for h, _ in pairs]), torch.stack([c for _, c in pairs]))
                elif self.arch != "lstm" and not pairs:
                    state = torch.stack([r for r in rows if isinstance(r, Tensor)])
                else:
                    raise ValueError("hx entries are (h, c) pairs for an LSTM and tensors otherwise")
            output, last = functional_call(self.layer_module(layer), own, (output, state))
            for d in range(directions):
                finals.append((last[0][d], last[1][d]) if self.arch == "lstm" else last[d])
        return output, finals

    def extra_repr(self) -> str:
        sizes = ", ".join(map(str, self.hidden_sizes))
        extra = ", bidirectional=True" * self.bidirectional + ", bias=False" * (not self.bias)
        return f"{self.arch.upper()}, {self.input_size} -> ({sizes}){extra}"
