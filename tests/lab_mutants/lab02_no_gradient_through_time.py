"""lab02: rnn_backward drops the gradient from step t+1 (each step sees only dh[t])."""
import numpy as np

from labs._reference.lab02 import *  # noqa: F401,F403


def rnn_forward(x, h0, W_ih, W_hh, b):
    hs, caches, h = [], [], h0
    for t in range(x.shape[0]):
        h, cache = rnn_step_forward(x[t], h, W_ih, W_hh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs), caches


def rnn_backward(dh, caches):
    T = dh.shape[0]
    dxs, dW_ih, dW_hh, db = [None] * T, 0, 0, 0
    for t in reversed(range(T)):
        dxs[t], dh_prev, g_ih, g_hh, g_b = rnn_step_backward(dh[t], caches[t])   # BUG: + dh_prev
        dW_ih, dW_hh, db = dW_ih + g_ih, dW_hh + g_hh, db + g_b
    return np.stack(dxs), dh_prev, dW_ih, dW_hh, db
