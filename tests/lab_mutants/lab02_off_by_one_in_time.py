"""lab02: rnn_forward stores h_{t-1} at index t (h[0] = h0, the last state is lost)."""
import numpy as np

from labs._reference.lab02 import *  # noqa: F401,F403


def rnn_forward(x, h0, W_ih, W_hh, b):
    hs, caches, h = [], [], h0
    for t in range(x.shape[0]):
        hs.append(h)                                 # BUG: appended before the step
        h, cache = rnn_step_forward(x[t], h, W_ih, W_hh, b)
        caches.append(cache)
    return np.stack(hs), caches


def rnn_backward(dh, caches):
    T = dh.shape[0]
    dxs, dW_ih, dW_hh, db = [None] * T, 0, 0, 0
    dh_next = np.zeros_like(dh[0])
    for t in reversed(range(T)):
        # consistent with the shifted forward: dh[t] belongs to the state entering step t
        dxs[t], dh_prev, g_ih, g_hh, g_b = rnn_step_backward(dh_next, caches[t])
        dh_next = dh_prev + dh[t]
        dW_ih, dW_hh, db = dW_ih + g_ih, dW_hh + g_hh, db + g_b
    return np.stack(dxs), dh_next, dW_ih, dW_hh, db
