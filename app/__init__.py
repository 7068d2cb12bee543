"""gatescope: see the gates, states and gradients of RNN, LSTM and GRU models, step by step."""

__version__ = "0.1.0"
