"""The engine: pure tensor code that traces RNN, LSTM and GRU modules. It knows nothing of the web.

from gatescope.engine import trace, Stepper
tr = trace(module, x)          # gates, states and dL/dh_t, dL/dc_t for every step and layer
"""

from gatescope.engine.cells import CellStep
from gatescope.engine.interventions import Intervention
from gatescope.engine.scan import linear_scan
from gatescope.engine.spec import (
    GATE_NAMES,
    GruVariant,
    LayerWeights,
    RecurrentSpec,
    parameter_count,
    spec_from_module,
    with_gru_variant,
    with_right_to_left,
)
from gatescope.engine.stack import RecurrentStack
from gatescope.engine.stepper import Stepper, StepRecord, iter_steps
from gatescope.engine.trace import LayerTrace, Objective, Trace, UnitObjective, trace, trace_spec

__all__ = [
    "GATE_NAMES",
    "CellStep",
    "GruVariant",
    "Intervention",
    "LayerTrace",
    "LayerWeights",
    "Objective",
    "RecurrentSpec",
    "RecurrentStack",
    "StepRecord",
    "Stepper",
    "Trace",
    "UnitObjective",
    "iter_steps",
    "linear_scan",
    "parameter_count",
    "spec_from_module",
    "trace",
    "trace_spec",
    "with_gru_variant",
    "with_right_to_left",
]
