"""lab07: the softmax runs over the queries (axis 0) instead of the keys (the last axis)."""
import numpy as np

from labs._reference.lab07 import *  # noqa: F401,F403
from labs._reference import lab07 as _ref


def masked_softmax(scores, lengths=None):
    S = scores.shape[2]
    valid = np.ones(scores.shape[1:], bool) if lengths is None else \
        np.arange(S)[None, :] < np.asarray(lengths)[:, None]
    masked = np.where(valid[None], scores, -np.inf)
    e = np.exp(masked - masked.max(axis=0, keepdims=True))   # BUG: axis=2
    weights = e / e.sum(axis=0, keepdims=True)
    return weights, weights


def additive_attention_forward(queries, keys, W_q, W_k, b, v, lengths=None):
    _ref.masked_softmax, original = masked_softmax, _ref.masked_softmax
    try:
        return _ref.additive_attention_forward(queries, keys, W_q, W_k, b, v, lengths)
    finally:
        _ref.masked_softmax = original
