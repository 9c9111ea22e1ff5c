"""lab07: padding masked by subtracting 10 from its scores: its weights are small but not 0."""
import numpy as np

from labs._reference.lab07 import *  # noqa: F401,F403


def masked_softmax(scores, lengths=None):
    S = scores.shape[2]
    valid = np.ones(scores.shape[1:], bool) if lengths is None else \
        np.arange(S)[None, :] < np.asarray(lengths)[:, None]
    masked = scores - 10.0 * ~valid[None]                      # BUG: not -inf
    e = np.exp(masked - masked.max(axis=2, keepdims=True))
    weights = e / e.sum(axis=2, keepdims=True)
    return weights, weights
