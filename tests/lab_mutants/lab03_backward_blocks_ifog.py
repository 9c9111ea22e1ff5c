"""lab03: the forward is right, but the backward stacks da in CS231n's order i, f, o, g.

The grader must point at the g and o blocks and their order in da.
"""
import numpy as np

from labs._reference.lab03 import *  # noqa: F401,F403


def _sig(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b):
    H = h_prev.shape[1]
    a = x @ W_ih.T + h_prev @ W_hh.T + b
    i, f, g, o = _sig(a[:, :H]), _sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), _sig(a[:, 3 * H:])
    c = f * c_prev + i * g
    tc = np.tanh(c)
    return o * tc, c, (x, h_prev, c_prev, i, f, g, o, tc, W_ih, W_hh)


def lstm_step_backward(dh, dc, cache):
    x, h_prev, c_prev, i, f, g, o, tc, W_ih, W_hh = cache
    dct = dc + dh * o * (1 - tc ** 2)
    da = np.concatenate([dct * g * i * (1 - i), dct * c_prev * f * (1 - f),
                         dh * tc * o * (1 - o), dct * i * (1 - g ** 2)], axis=1)  # BUG: g, o swapped
    return da @ W_ih, da @ W_hh, dct * f, da.T @ x, da.T @ h_prev, da.sum(axis=0)


def lstm_forward(x, h0, c0, W_ih, W_hh, b):
    hs, caches, h, c = [], [], h0, c0
    for t in range(x.shape[0]):
        h, c, cache = lstm_step_forward(x[t], h, c, W_ih, W_hh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs), caches


def lstm_backward(dh, caches):
    T = dh.shape[0]
    dxs, dW_ih, dW_hh, db = [None] * T, 0, 0, 0
    dh_next, dc_next = np.zeros_like(dh[0]), np.zeros_like(dh[0])
    for t in reversed(range(T)):
        dxs[t], dh_next, dc_next, g_ih, g_hh, g_b = lstm_step_backward(dh[t] + dh_next, dc_next, caches[t])
        dW_ih, dW_hh, db = dW_ih + g_ih, dW_hh + g_hh, db + g_b
    return np.stack(dxs), dh_next, dc_next, dW_ih, dW_hh, db
