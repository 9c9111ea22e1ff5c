"""Forecaster: many-to-many regression, one prediction per time step.

    x (T, B, F) -> RNN/LSTM/GRU -> (T, B, H) -> Linear -> y (T, B, O)

Trained with the mean squared error against the next value of the series (``mse_loss``). For a
forecast beyond the data, ``rollout`` reads a warm-up window and then feeds each prediction back
in as the next input (free running), which is how errors compound in multi-step forecasts.
"""
import numpy as np

from ..nn import GRU, LSTM, RNN, Linear, Module, no_grad

RECURRENT = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def mse_loss(pred, target, mask=None):
    """Mean squared error over all entries (or the unmasked ones) and its gradient.

    pred, target (...); mask (...) of 0/1 or None. Returns (loss, dpred)."""
    diff = pred - target
    if mask is not None:
        diff = diff * mask
    n = diff.size if mask is None else max(float(np.sum(mask)), 1.0)
    return float(np.sum(diff * diff) / n), (2.0 / n) * diff


class Forecaster(Module):
    def __init__(self, input_size=1, output_size=1, model_type="gru", hidden_size=64,
                 num_layers=1, dtype=np.float32, rng=None, **rnn_options):
        """rnn_options go to the recurrent layer, e.g. peephole=True, coupled=True for an LSTM."""
        super().__init__()
        if model_type not in RECURRENT:
            raise ValueError(f"model_type must be one of {sorted(RECURRENT)}, got {model_type!r}")
        rng = np.random.default_rng() if rng is None else rng
        self.model_type, self.rnn_options = model_type, dict(rnn_options)
        self.rnn = RECURRENT[model_type](input_size, hidden_size, num_layers=num_layers,
                                         dtype=dtype, rng=rng, **rnn_options)
        self.head = Linear(hidden_size, output_size, dtype=dtype, rng=rng)

    def config(self):
        return {"input_size": self.rnn.input_size, "output_size": self.head.out_features,
                "model_type": self.model_type, "hidden_size": self.rnn.hidden_size,
                "num_layers": self.rnn.num_layers, "dtype": np.dtype(self.rnn.dtype).name,
                **self.rnn_options}

    def forward(self, x, state=None):
        """x (T, B, F), state or None -> y (T, B, O), final state."""
        out, state = self.rnn(x, state)
        return self.head(out), state

    def backward(self, dy, dstate=None):
        """dy (T, B, O), dstate: gradient of the returned state or None -> dx, d(initial state)."""
        return self.rnn.backward(self.head.backward(dy), dstate)

    def rollout(self, warmup, horizon):
        """Read warmup (T0, B, F), then predict `horizon` more steps, each from the last
        prediction (needs F == O). Returns (horizon, B, O): the predictions of steps
        T0, ..., T0 + horizon - 1 (counting the warm-up's steps from 0)."""
        if self.rnn.input_size != self.head.out_features:
            raise ValueError("rollout feeds predictions back as inputs: needs input_size == output_size")
        preds = []
        with no_grad():
            y, state = self.forward(warmup)
            step = y[-1:]
            for _ in range(horizon):
                preds.append(step[0])
                step, state = self.forward(step, state)
        return np.stack(preds)
