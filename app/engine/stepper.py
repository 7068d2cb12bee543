"""Step a model one input at a time, for the live stream and for typing into the page.

The stepper keeps each layer's (h, c) between calls, so appending input costs one step, never a
recomputation of the prefix. It computes the same quantities as `trace`, step by step.

A bidirectional model cannot be stepped: its reverse direction reads the sequence from the end,
so its value at t depends on every later input. Its stepper hands out the steps of passes run over
the whole sequence (`start_from`), each record carrying both directions at input position t. A
model that reads right to left (`RecurrentSpec.right_to_left`) is handed out the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gatescope.engine.cells import CellStep, gru_cell, lstm_cell, reset_before_gru_cell, rnn_cell
from gatescope.engine.layers import LayerPass
from gatescope.engine.spec import RecurrentSpec, spec_from_module
from gatescope.engine.trace import InitialState, as_sequence, initial_state, run_layer


@dataclass
class StepRecord:
    """One timestep of the whole stack: ``layers[l]`` is layer l's `CellStep`, bottom first; for a
    bidirectional stack that is the forward direction and ``reverse[l]`` the reverse one at the
    same input position t (None for a unidirectional stack)."""

    t: int
    layers: list[CellStep]
    reverse: list[CellStep] | None = None

    def output(self) -> Tensor:
        """The top layer's output at t as torch gives it: (directions * P,)."""
        top = self.layers[-1].hidden
        return top if self.reverse is None else torch.cat([top, self.reverse[-1].hidden])


class Stepper:
    """Feed inputs one at a time; each `step` returns that step's gates and states.

    >>> stepper = Stepper(nn.GRU(4, 8))
    >>> record = stepper.step(torch.randn(4))
    >>> record.layers[0].gates["z"].shape
    torch.Size([8])
    """

    def __init__(
        self,
        model: nn.Module | RecurrentSpec,
        h0: InitialState | None = None,
        c0: InitialState | None = None,
    ) -> None:
        self.spec = model if isinstance(model, RecurrentSpec) else spec_from_module(model)
        if c0 is not None and self.spec.arch != "lstm":
            raise ValueError(f"c0 is only for LSTMs; this is a {self.spec.arch.upper()}")
        # Per layer and direction, index ``layer * directions + direction`` as torch lays them out.
        self.hidden = initial_state(self.spec, h0, "h0")
        self.cell = initial_state(self.spec, c0, "c0")
        self.t = 0

    def _causal(self) -> None:
        if self.spec.reverse is not None:
            raise ValueError(
                "a bidirectional model cannot be stepped one input at a time: its reverse direction "
                "reads the sequence from the end. Run forward_passes() over the whole sequence and "
                "take its steps with start_from(), or trace() it"
            )
        if self.spec.right_to_left:
            raise ValueError(
                "a model that reads its input right to left (ONNX direction='reverse', Keras "
                "go_backwards=True) cannot be stepped one input at a time: it reads the sequence "
                "from the end. Run forward_passes() over the whole sequence and take its steps with "
                "start_from(), or trace() it"
            )

    @torch.no_grad()
    def step(self, x_t: object) -> StepRecord:
        """Advance by one input x_t of shape (input_size,). ValueError for a model that reads from
        the end (bidirectional, or right to left)."""
        self._causal()
        x = as_sequence(torch.as_tensor(x_t).reshape(1, -1), self.spec.input_size, self.spec.dtype)[0]
        records = []
        for layer, weights in enumerate(self.spec.layers):
            if self.spec.arch == "lstm":
                out = lstm_cell(x, self.hidden[layer], self.cell[layer], weights)
                assert out.cell is not None
                self.cell[layer] = out.cell
            elif self.spec.arch == "gru":
                if self.spec.gru_variant == "torch":
                    out = gru_cell(x, self.hidden[layer], weights)
                else:
                    out = reset_before_gru_cell(x, self.hidden[layer], weights, self.spec.gru_variant)
            else:
                out = rnn_cell(x, self.hidden[layer], weights, self.spec.nonlinearity)
            self.hidden[layer] = out.hidden
            records.append(out)
            x = out.hidden
        record = StepRecord(self.t, records)
        self.t += 1
        return record

    def start_from(self, passes: list[list[LayerPass]]) -> list[StepRecord]:
        """The records of passes run over the whole sequence from this stepper's state
        (`forward_passes`), with the state moved to their end, as if each step had been taken.

        A bidirectional model's passes are [forward, reverse] per layer; its records carry both,
        and its state becomes torch's final state (h_n): the forward direction's at the last step,
        the reverse direction's at t = 0, as a right-to-left model's. Neither can be advanced from
        there (`step` refuses)."""
        steps = passes[0][0].hidden.shape[0]
        for layer, directions in enumerate(passes):
            for d, p in enumerate(directions):
                from_end = d == 1 or self.spec.right_to_left
                row, end = layer * len(directions) + d, 0 if from_end else -1
                self.hidden[row] = p.hidden[end].clone()
                if p.cell is not None:
                    self.cell[row] = p.cell[end].clone()
        records = _records(self.t, [directions[0] for directions in passes], steps)
        if self.spec.reverse is not None:
            for record, reverse in zip(records, _records(self.t, [d[1] for d in passes], steps), strict=True):
                record.reverse = reverse.layers
        self.t += steps
        return records

    def advance(self, xs: object) -> list[StepRecord]:
        """Step through every row of ``xs`` (T, input_size) at once, continuing the state, with the
        trace's layer passes (one fused kernel call for an LSTM) instead of T cell calls: the same
        numbers from far fewer torch calls, each of which may wait for the GIL on a busy server.
        ValueError for a model that reads from the end (bidirectional, or right to left)."""
        self._causal()
        seq = as_sequence(xs, self.spec.input_size, self.spec.dtype)
        passes = []
        layer_input = seq
        for layer in range(self.spec.num_layers):
            p = run_layer(self.spec, layer, layer_input, self.hidden[layer], self.cell[layer])
            passes.append(p)
            self.hidden[layer] = p.hidden[-1].clone()
            if p.cell is not None:
                self.cell[layer] = p.cell[-1].clone()
            layer_input = p.hidden
        records = _records(self.t, passes, seq.shape[0])
        self.t += seq.shape[0]
        return records

    def run(self, xs: object) -> Iterator[StepRecord]:
        """Yield one `StepRecord` per row of ``xs`` (T, input_size), continuing the state."""
        seq = as_sequence(xs, self.spec.input_size, self.spec.dtype)
        for x_t in seq:
            yield self.step(x_t)


def _records(t0: int, passes: list[LayerPass], steps: int) -> list[StepRecord]:
    """Per step, every layer's gates and states, from whole-sequence layer passes."""
    records = []
    for k in range(steps):
        cells = [
            CellStep(
                {n: g[k] for n, g in p.gates.items()}, p.hidden[k], None if p.cell is None else p.cell[k]
            )
            for p in passes
        ]
        records.append(StepRecord(t0 + k, cells))
    return records


def iter_steps(
    module: nn.Module | RecurrentSpec,
    x: object,
    h0: InitialState | None = None,
    c0: InitialState | None = None,
) -> Iterator[StepRecord]:
    """Generator form: ``for record in iter_steps(module, x): ...``."""
    return Stepper(module, h0, c0).run(x)
