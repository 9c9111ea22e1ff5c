"""lab02: softmax without subtracting the max (exp overflows for large scores)."""
import numpy as np

from labs._reference.lab02 import *  # noqa: F401,F403


def temporal_softmax_loss(scores, y, mask):
    e = np.exp(scores)                                   # BUG: no max shift
    p = e / e.sum(axis=-1, keepdims=True)
    T, B = y.shape
    n = max(1.0, float(np.sum(mask)))
    picked = p[np.arange(T)[:, None], np.arange(B)[None, :], y]
    loss = float(np.sum(-np.log(picked) * mask) / n)
    ds = p.copy()
    ds[np.arange(T)[:, None], np.arange(B)[None, :], y] -= 1
    return loss, ds * (mask / n)[:, :, None]
