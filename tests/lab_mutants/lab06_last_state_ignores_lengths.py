"""lab06: last_state_forward takes h[T-1] for every sequence (the mask / lengths ignored)."""
import numpy as np

from labs._reference.lab06 import *  # noqa: F401,F403


def last_state_forward(h, lengths):
    return h[-1].copy(), h.shape                                          # BUG


def last_state_backward(dlast, cache):
    dh = np.zeros(cache, dtype=dlast.dtype)
    dh[-1] = dlast
    return dh
