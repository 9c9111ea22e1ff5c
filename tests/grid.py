"""The configuration grid shared by the gradient-check and PyTorch-parity tests."""
import itertools

import numpy as np

from scratchrnn.nn import GRU, LSTM, RNN

KINDS = {
    "rnn_tanh": (RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, {}),
    "gru": (GRU, {}),
    "gru_reset_before": (GRU, {"reset_after": False}),
}
T, B, D, H = 5, 3, 4, 3
RAGGED = np.array([5, 2, 4])        # includes a full-length, a short and a middle sequence

GRID = list(itertools.product(KINDS, (1, 2), (False, True), (False, True), (False, True)))


def grid_id(case):
    kind, layers, bi, ragged, bf = case
    return f"{kind}-L{layers}-{'bi' if bi else 'uni'}-{'ragged' if ragged else 'equal'}" \
           f"{'-batch_first' if bf else ''}"


def make_case(case, rng, dtype=np.float64, **extra):
    """Build the layer and random inputs for one grid point: (layer, x, hx, lengths)."""
    kind, layers, bi, ragged, bf = case
    cls, kwargs = KINDS[kind]
    layer = cls(D, H, num_layers=layers, bidirectional=bi, batch_first=bf, dtype=dtype, rng=rng,
                **kwargs, **extra)
    x = rng.standard_normal((B, T, D) if bf else (T, B, D))
    shape = (layers * (2 if bi else 1), B, H)
    hx = rng.standard_normal(shape)
    if cls is LSTM:
        hx = (hx, rng.standard_normal(shape))
    return layer, x, hx, (RAGGED if ragged else None)
