"""`trace`: run a recurrent module over one sequence and record every gate, state and gradient.

    >>> tr = trace(nn.LSTM(8, 16), torch.randn(50, 8))
    >>> tr.layers[0].gates["f"].shape, tr.layers[0].grad_hidden.shape
    (torch.Size([50, 16]), torch.Size([50, 16]))

``grad_hidden[t]`` is the *total* derivative dL/dh_t: through the recurrence (h_t -> h_{t+1}),
through the layers above (h_t is their input x_t), and directly from the objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from gatescope.engine.layers import LayerPass, gru_layer, lstm_layer, rnn_layer
from gatescope.engine.spec import LayerWeights, RecurrentSpec, spec_from_module, with_gru_variant
from gatescope.engine.textbook import reset_before_gru_layer

if TYPE_CHECKING:
    from gatescope.engine.interventions import Intervention

#: A callable objective maps the top layer's output (T, directions * P_top) to a scalar tensor.
ObjectiveFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class UnitObjective:
    """L = h_step[unit] of one layer: "what made this unit take this value at this step?".

    ``step`` may be negative, counting from the end as Python indexing does.
    """

    layer: int
    unit: int
    step: int = -1

    def check(self, sizes: Sequence[int], steps: int) -> None:
        """ValueError if the layer, unit or step is outside a model whose layer l has ``sizes[l]``
        units (layers may differ in size) and a sequence of ``steps`` steps (negative values count
        from the end)."""
        num_layers = len(sizes)
        if not -num_layers <= self.layer < num_layers:
            raise ValueError(f"objective layer {self.layer} out of range: model has {num_layers}")
        size = sizes[self.layer]
        if not -size <= self.unit < size:
            which = f"layer {self.layer % num_layers} has" if len(set(sizes)) > 1 else "hidden_size is"
            raise ValueError(f"objective unit {self.unit} out of range: {which} {size}")
        if not -steps <= self.step < steps:
            raise ValueError(f"objective step {self.step} out of range: sequence has {steps}")


Objective = str | UnitObjective | ObjectiveFn


@dataclass
class LayerTrace:
    """One layer's record over the sequence, indexed by input position t; every tensor is (T, H_l)
    (this layer's H), except ``hidden`` and ``grad_hidden``, (T, P) for an LSTM with projections.

    For a bidirectional stack this is the forward direction and ``reverse`` the reverse one
    (its tensors indexed by input position too, so its h_0 is its *last* state); None otherwise.
    """

    gates: dict[str, Tensor]  # LSTM: i f g o; GRU: r z n; RNN: {}
    hidden: Tensor
    cell: Tensor | None  # LSTM only
    grad_hidden: Tensor  # total dL/dh_t
    grad_cell: Tensor | None  # total dL/dc_t, LSTM only
    reverse: LayerTrace | None = None


@dataclass
class Trace:
    arch: str
    loss: float
    layers: list[LayerTrace]
    grad_input: Tensor  # (T, input_size): dL/dx_t, the gradient at the bottom layer's input
    gru_variant: str | None = None  # GRU only: "torch", "cho" or "chung" (app/engine/textbook.py)

    @property
    def steps(self) -> int:
        return int(self.layers[0].hidden.shape[0])

    def to_figure(self, quantity: str, layer: int = 0, title: str | None = None) -> Any:
        """One quantity of one layer as a Plotly heatmap (units x time): a gate name (LSTM: i f g
        o; GRU: r z n), "hidden", "cell", "grad_hidden" or "grad_cell" (the cell's for LSTMs).

        Sigmoid gates (i f o, r z) use Viridis fixed to [0, 1]; signed values use a diverging
        scale centred on 0 (ColorBrewer RdBu, blue negative, as the page). ValueError for a
        quantity this trace lacks or a layer out of range. Returns a plotly.graph_objects.Figure.
        """
        import plotly.graph_objects as go  # type: ignore[import-untyped]  # lazy: the engine is tensors

        from gatescope.engine.analysis import SIGMOID_GATES  # lazy: analysis imports this module

        if not -len(self.layers) <= layer < len(self.layers):
            raise ValueError(f"layer {layer} out of range: this trace has {len(self.layers)} layer(s)")
        lt = self.layers[layer]
        values: dict[str, Tensor | None] = {
            **lt.gates,
            "hidden": lt.hidden,
            "cell": lt.cell,
            "grad_hidden": lt.grad_hidden,
            "grad_cell": lt.grad_cell,
        }
        allowed = [name for name, value in values.items() if value is not None]
        value = values.get(quantity)
        if value is None:
            raise ValueError(
                f"unknown quantity {quantity!r} for this {self.arch.upper()} trace: "
                f"use one of {', '.join(map(repr, allowed))}"
            )
        z = value.detach().cpu().double().T.numpy()  # (H, T): a row per unit
        if quantity in SIGMOID_GATES:
            colors: dict[str, Any] = {"colorscale": "Viridis", "zmin": 0.0, "zmax": 1.0}
        else:
            colors = {"colorscale": "RdBu_r", "zmid": 0.0}
        heatmap = go.Heatmap(z=z, x=list(range(z.shape[1])), y=list(range(z.shape[0])), **colors)
        figure = go.Figure(heatmap)
        figure.update_layout(
            title=title or f"{quantity}, layer {layer % len(self.layers)} ({self.arch.upper()})",
            xaxis_title="time step t",
            yaxis={"title": "unit", "autorange": "reversed"},  # unit 0 on top, as on the page
        )
        return figure


def as_sequence(x: object, input_size: int, dtype: torch.dtype) -> Tensor:
    """Validate one input sequence and return it as a (T, input_size) tensor of ``dtype``.

    Accepts (T, I), or a batch of one as (1, T, I) / (T, 1, I). Raises ValueError otherwise.
    """
    try:
        seq = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"input must be numeric with shape (T, {input_size}): {exc}") from None
    if not (seq.is_floating_point() or seq.dtype in (torch.int32, torch.int64, torch.bool)):
        raise ValueError(f"input must be real numbers, got dtype {seq.dtype}")
    if seq.numel() == 0:
        raise ValueError("input sequence is empty: give at least one timestep")
    if seq.dim() == 3:
        if seq.shape[0] == 1:
            seq = seq[0]
        elif seq.shape[1] == 1:
            seq = seq[:, 0]
        else:
            raise ValueError(
                f"got a batch of shape {tuple(seq.shape)}: trace takes one sequence, shaped "
                f"(T, {input_size}) or a batch of one; trace each sequence separately"
            )
    if seq.dim() != 2:
        raise ValueError(f"input must have shape (T, {input_size}), got shape {tuple(seq.shape)}")
    if seq.shape[0] == 0:
        raise ValueError("input sequence is empty: give at least one timestep")
    if seq.shape[1] != input_size:
        raise ValueError(f"input width is {seq.shape[1]} but the model expects input_size={input_size}")
    seq = seq.to(dtype)
    if not torch.isfinite(seq).all():
        bad = int((~torch.isfinite(seq)).any(dim=1).nonzero()[0, 0])
        raise ValueError(f"input contains NaN or inf (first at step {bad}); all values must be finite")
    return seq.contiguous()


#: An initial state as the engine takes it: a (rows[, 1], width) tensor, or for a stack whose layers
#: differ in size one 1-d tensor (or list of numbers) per row, row ``layer * directions + d``.
InitialState = Tensor | Sequence[Tensor] | Sequence[Sequence[float]]


def initial_state(spec: RecurrentSpec, state: InitialState | None, name: str) -> list[Tensor]:
    """Initial states per layer and direction, index ``layer * directions + direction`` as torch
    lays them out, from None (zeros) or a (num_layers * directions[, 1], width) tensor; width is
    the state size for h0 and the hidden size for c0 (they differ for LSTMs with projections).

    Layers of different sizes take their rows as a list instead, row ``layer * directions + d``
    of that layer's width (H_l for c0, P_l or H_l for h0); a uniform stack takes that form too.
    ValueError naming the row and the width it needs.
    """
    rows = spec.num_layers * spec.directions
    sizes = spec.hidden_sizes if name == "c0" else spec.state_sizes
    widths = [size for size in sizes for _ in range(spec.directions)]  # one per row
    if state is None:
        return [torch.zeros(size, dtype=spec.dtype) for size in widths]
    if len(set(widths)) > 1 and isinstance(state, Tensor):  # rows of one width cannot fit every layer
        state = list(state[:, 0] if state.dim() == 3 and state.shape[1] == 1 else state)
    if isinstance(state, (list, tuple)):
        if len(state) != rows:
            raise ValueError(
                f"{name} must have {rows} rows (one per layer"
                + (" and direction" if spec.directions == 2 else "")
                + f"), of widths {', '.join(map(str, widths))}; got {len(state)}"
            )
        values = []
        for row, (item, width) in enumerate(zip(state, widths, strict=True)):
            value = torch.as_tensor(item).to(spec.dtype).reshape(-1)
            if value.shape[0] != width:
                raise ValueError(
                    f"{name} row {row} must have {width} numbers (layer {row // spec.directions}'s "
                    f"width), got {value.shape[0]}"
                )
            values.append(value)
        if not all(torch.isfinite(v).all() for v in values):
            raise ValueError(f"{name} contains NaN or inf")
        return [v.contiguous() for v in values]
    size = widths[0]
    value = torch.as_tensor(state).to(spec.dtype)
    if value.dim() == 3 and value.shape[1] == 1:
        value = value[:, 0]
    if value.dim() == 1 and rows == 1:
        value = value.unsqueeze(0)
    if tuple(value.shape) != (rows, size):
        raise ValueError(
            f"{name} must have shape ({rows}, {size}) or ({rows}, 1, {size}), got {tuple(value.shape)}"
            + (" (num_layers x 2 directions rows)" if spec.directions == 2 else "")
        )
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or inf")
    return [value[row].contiguous() for row in range(rows)]


def run_layer(
    spec: RecurrentSpec, layer: int, x: Tensor, h0: Tensor, c0: Tensor, weights: LayerWeights | None = None
) -> LayerPass:
    """One layer over x (T, I) in one direction (the forward weights unless ``weights`` is given)."""
    weights = spec.layers[layer] if weights is None else weights
    if spec.arch == "lstm":
        return lstm_layer(x, weights, h0, c0)
    if spec.arch == "gru":
        if spec.gru_variant != "torch":
            return reset_before_gru_layer(x, weights, h0, spec.gru_variant)
        return gru_layer(x, weights, h0)
    return rnn_layer(x, weights, h0, spec.nonlinearity)


def reversed_pass(
    spec: RecurrentSpec, layer: int, x: Tensor, h0: Tensor, c0: Tensor, weights: LayerWeights | None = None
) -> LayerPass:
    """The layer reading x from t = T-1 down to 0: a bidirectional stack's reverse direction (its
    ``reverse`` weights, the default) or a right-to-left stack's only one (pass ``weights``). Its
    record is flipped back so that index t is input position t (torch's output layout), and so is
    its backward."""
    if weights is None:
        if spec.reverse is None:
            raise ValueError("this stack has no reverse direction; pass the weights to run right to left")
        weights = spec.reverse[layer]
    p = run_layer(spec, layer, x.flip(0), h0, c0, weights)

    def backward(direct: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        grad_hidden, grad_cell, grad_x = p.backward(direct.flip(0))
        return grad_hidden.flip(0), None if grad_cell is None else grad_cell.flip(0), grad_x.flip(0)

    flip = {name: g.flip(0) for name, g in p.gates.items()}
    return LayerPass(flip, p.hidden.flip(0), None if p.cell is None else p.cell.flip(0), backward)


def forward_passes(
    spec: RecurrentSpec, x: Tensor, h_init: list[Tensor], c_init: list[Tensor]
) -> list[list[LayerPass]]:
    """Every layer's passes, [forward] or [forward, reverse]; layer l > 0 reads the layer below's
    outputs, both directions concatenated as torch does. A right-to-left stack's one direction
    reads from the end, each layer's record indexed by input position."""
    passes: list[list[LayerPass]] = []
    layer_input = x
    for layer in range(spec.num_layers):
        row = layer * spec.directions
        if spec.right_to_left:
            weights = spec.layers[layer]
            directions = [reversed_pass(spec, layer, layer_input, h_init[row], c_init[row], weights)]
        else:
            directions = [run_layer(spec, layer, layer_input, h_init[row], c_init[row])]
        if spec.reverse is not None:
            directions.append(reversed_pass(spec, layer, layer_input, h_init[row + 1], c_init[row + 1]))
        passes.append(directions)
        layer_input = output_of(directions)
    return passes


def output_of(directions: list[LayerPass]) -> Tensor:
    """A layer's output (T, directions * P): its hidden states, directions side by side."""
    return directions[0].hidden if len(directions) == 1 else torch.cat([p.hidden for p in directions], 1)


def objective_gradients(
    objective: Objective, passes: list[list[LayerPass]], right_to_left: bool = False
) -> tuple[float, list[Tensor]]:
    """The loss and dL/d(output) taken *directly* (not through time) at every layer's outputs
    (T, directions * P). ``right_to_left``: the one direction's final state is at t = 0."""
    outputs = [output_of(directions) for directions in passes]
    direct = [torch.zeros_like(out) for out in outputs]
    top = outputs[-1]
    if isinstance(objective, str):
        if objective != "hidden_norm":
            raise ValueError(
                f"unknown objective {objective!r}: use 'hidden_norm', a UnitObjective or a callable"
            )
        # L = 0.5 ||h_n||² of the top layer, h_n being torch's final state: the forward
        # direction's last step and the reverse direction's state at t = 0 (a right-to-left
        # stack's one direction ends there too). dL/dh_n = h_n.
        width = passes[-1][0].hidden.shape[1]
        end = 0 if right_to_left else -1
        direct[-1][end, :width] = top[end, :width]
        loss = 0.5 * float(top[end, :width].double().pow(2).sum())
        if len(passes[-1]) == 2:
            direct[-1][0, width:] = top[0, width:]
            loss += 0.5 * float(top[0, width:].double().pow(2).sum())
        return loss, direct
    if isinstance(objective, UnitObjective):
        objective.check([out.shape[1] for out in outputs], top.shape[0])
        direct[objective.layer][objective.step, objective.unit] = 1.0
        return float(outputs[objective.layer][objective.step, objective.unit]), direct
    if callable(objective):
        top_leaf = top.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            loss_tensor = objective(top_leaf)
            if not isinstance(loss_tensor, Tensor) or loss_tensor.numel() != 1:
                raise ValueError("a callable objective must return a scalar tensor")
            if loss_tensor.requires_grad:
                (grad,) = torch.autograd.grad(loss_tensor, top_leaf, allow_unused=True)
                if grad is not None:
                    direct[-1] = grad.to(top.dtype)
        value = float(loss_tensor.detach())  # float() of a tensor needing grad warns (UserWarning)
        if not math.isfinite(value):
            raise ValueError(f"the objective's value is {value}; it must be finite")
        return value, direct
    raise ValueError(f"objective must be 'hidden_norm', a UnitObjective or a callable, got {objective!r}")


def trace_spec(
    spec: RecurrentSpec,
    x: object,
    h0: InitialState | None = None,
    c0: InitialState | None = None,
    objective: Objective = "hidden_norm",
    interventions: Sequence[Intervention] | None = None,
) -> Trace:
    """`trace` on an already-read `RecurrentSpec` (what the server holds)."""
    seq = as_sequence(x, spec.input_size, spec.dtype)
    if c0 is not None and spec.arch != "lstm":
        raise ValueError(f"c0 is only for LSTMs; this is a {spec.arch.upper()}")
    h_init, c_init = initial_state(spec, h0, "h0"), initial_state(spec, c0, "c0")
    if interventions:  # the fast passes cannot clamp: an exact step loop under autograd
        from gatescope.engine.interventions import intervened_trace  # it imports this module

        return intervened_trace(spec, seq, h_init, c_init, objective, interventions)
    return backward_trace(spec, forward_passes(spec, seq, h_init, c_init), objective)


def backward_trace(spec: RecurrentSpec, passes: list[list[LayerPass]], objective: Objective) -> Trace:
    """The trace from forward passes already run (`forward_passes`): the objective, then every
    layer's backward, top layer first. The stream sends the passes' steps while they are fresh
    and calls this for the gradients, so the forward pass runs once."""
    loss, direct = objective_gradients(objective, passes, spec.right_to_left)
    layers: list[LayerTrace] = [None] * spec.num_layers  # type: ignore[list-item]
    from_above = torch.zeros_like(direct[-1])
    for layer in reversed(range(spec.num_layers)):
        arriving = direct[layer] + from_above  # (T, directions * P)
        width = passes[layer][0].hidden.shape[1]
        records: list[LayerTrace] = []
        from_above = torch.zeros(0)
        for d, p in enumerate(passes[layer]):
            grad_hidden, grad_cell, grad_x = p.backward(arriving[:, d * width : (d + 1) * width].contiguous())
            records.append(LayerTrace(p.gates, p.hidden, p.cell, grad_hidden, grad_cell))
            from_above = grad_x if d == 0 else from_above + grad_x
        layers[layer] = records[0]
        layers[layer].reverse = records[1] if len(records) == 2 else None
    return Trace(
        arch=spec.arch,
        loss=loss,
        layers=layers,
        grad_input=from_above,  # the bottom layer's grad_x
        gru_variant=spec.gru_variant if spec.arch == "gru" else None,
    )


def trace(
    module: nn.Module,
    x: object,
    h0: InitialState | None = None,
    c0: InitialState | None = None,
    objective: Objective = "hidden_norm",
    gru_variant: str = "torch",
    interventions: Sequence[Intervention] | None = None,
) -> Trace:
    """Trace ``module`` (an ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN``, or a `RecurrentStack` of layers
    of different sizes) over one sequence.

    Args:
        module: an unmodified torch recurrent module, any ``num_layers``, ``bias`` on or off,
            ``batch_first`` either way (the input here is a single sequence), ``bidirectional``
            (``tr.layers[l].reverse`` is the reverse direction) and LSTM ``proj_size``.
        x: (T, input_size), or a batch of one.
        h0, c0: optional initial states, (num_layers * directions, P) or (..., 1, P) as torch
            takes them, P the state size (proj_size or H); c0, LSTM only, is (..., H). A stack
            whose layers differ in size takes a list of rows instead, row ``layer * directions
            + direction`` of that layer's width (any stack accepts this form).
        objective: ``"hidden_norm"`` (L = 0.5 ||h_n||² of the top layer, h_n torch's final state
            in each direction), a `UnitObjective` (its unit indexes the layer's output, both
            directions side by side), or a callable from the top layer's output (T, directions
            * P), torch's ``output``, to a scalar tensor.
        gru_variant: GRU only: ``"torch"`` (torch.nn.GRU's equations), ``"cho"`` (Cho et al.
            2014: reset before W_hn, z keeps the old state) or ``"chung"`` (Chung et al. 2014 and
            the seed: reset before W_hn, z takes the candidate), on the same weights; see
            app/engine/textbook.py.
        interventions: clamp gates or states of some units over spans of steps and compute the
            rest as the network would (`gatescope.engine.interventions`); unidirectional only.

    Dropout between layers is not applied: the trace is the module's deterministic (eval) pass.
    """
    spec = with_gru_variant(spec_from_module(module), gru_variant)
    return trace_spec(spec, x, h0, c0, objective, interventions)
