"""lab01: forward uses h_prev @ W_hh (missing transpose; the shapes still fit)."""
import numpy as np

from labs._reference.lab01 import *  # noqa: F401,F403


def rnn_step_forward(x, h_prev, W_ih, W_hh, b):
    h = np.tanh(x @ W_ih.T + h_prev @ W_hh + b)          # BUG: W_hh, not W_hh.T
    return h, (x, h_prev, h, W_ih, W_hh)


def rnn_step_backward(dh, cache):
    x, h_prev, h, W_ih, W_hh = cache
    da = dh * (1 - h ** 2)
    return da @ W_ih, da @ W_hh.T, da.T @ x, (da.T @ h_prev).T, da.sum(axis=0)
