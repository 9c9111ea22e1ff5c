"""lab07: the tanh derivative (1 - z^2) is missing from du."""
import numpy as np

from labs._reference.lab07 import *  # noqa: F401,F403
from labs._reference.lab07 import masked_softmax_backward


def additive_attention_backward(dcontext, dweights, cache):
    queries, keys, W_q, W_k, v, z, weights, softmax_cache = cache
    dw = np.einsum("tbk,sbk->tbs", dcontext, keys)
    if dweights is not None:
        dw = dw + dweights
    dkeys = np.einsum("tbs,tbk->sbk", weights, dcontext)
    dscores = masked_softmax_backward(dw, softmax_cache)
    dv = np.einsum("tbs,tbsa->a", dscores, z)
    du = dscores[..., None] * v                                # BUG: * (1 - z ** 2)
    dpq, dpk = du.sum(axis=2), du.sum(axis=0).transpose(1, 0, 2)
    dkeys = dkeys + dpk @ W_k
    dW_q = np.einsum("tba,tbq->aq", dpq, queries)
    dW_k = np.einsum("sba,sbk->ak", dpk, keys)
    return dpq @ W_q, dkeys, dW_q, dW_k, dpk.sum(axis=(0, 1)), dv
