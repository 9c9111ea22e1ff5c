"""lab07: the mask is applied after the softmax (padded weights zeroed, rows no longer sum to 1)."""
import numpy as np

from labs._reference.lab07 import *  # noqa: F401,F403


def masked_softmax(scores, lengths=None):
    S = scores.shape[2]
    valid = np.ones(scores.shape[1:], bool) if lengths is None else \
        np.arange(S)[None, :] < np.asarray(lengths)[:, None]
    e = np.exp(scores - scores.max(axis=2, keepdims=True))
    weights = e / e.sum(axis=2, keepdims=True) * valid[None]   # BUG: mask after the softmax
    return weights, weights
