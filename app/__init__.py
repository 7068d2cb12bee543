"""gatescope: see the gates, states and gradients of RNN, LSTM and GRU models, step by step.

    import gatescope
    tr = gatescope.trace(nn.LSTM(8, 16), torch.randn(50, 8))   # every gate, state and dL/dh_t
    stepper = gatescope.Stepper(nn.GRU(4, 8))                  # one input at a time
    gatescope.show(nn.LSTM(3, 16), torch.randn(40, 3))         # the page, inline in Jupyter
    stack = gatescope.RecurrentStack("lstm", 8, [24, 16])      # layers of different sizes

The package's rooms: `gatescope.engine` (pure tensor code), `gatescope.web` (the app, its
routes and payloads), `gatescope.zoo` (models: registry, checkpoints, readers, training, tasks),
`gatescope.bench` (benchmarks and the evidence command), `gatescope.settings`, `gatescope.cli`,
`gatescope.notebook` (`show`: the page inline in a notebook).
"""

from gatescope.engine import (
    LayerTrace,
    RecurrentStack,
    Stepper,
    StepRecord,
    Trace,
    UnitObjective,
    iter_steps,
    trace,
)
from gatescope.notebook import show

__version__ = "0.1.0"

__all__ = [
    "LayerTrace",
    "RecurrentStack",
    "StepRecord",
    "Stepper",
    "Trace",
    "UnitObjective",
    "__version__",
    "iter_steps",
    "show",
    "trace",
]
