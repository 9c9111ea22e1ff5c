"""lab06: masked_mean divides by T instead of the number of valid steps."""
import numpy as np

from labs._reference.lab06 import *  # noqa: F401,F403


def masked_mean_forward(h, mask):
    m = np.asarray(mask).astype(h.dtype)[:, :, None]
    return (h * m).sum(axis=0) / h.shape[0], (m, h.shape[0])             # BUG: / T


def masked_mean_backward(dpooled, cache):
    m, T = cache
    return m * (dpooled / T)[None]
