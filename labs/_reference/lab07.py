"""Lab 07 reference solution: masked softmax and additive (Bahdanau) attention."""
import numpy as np


def masked_softmax(scores, lengths=None):
    """scores (T, B, S), lengths (B,) ints in 1..S or None -> weights (T, B, S), cache."""
    S = scores.shape[2]
    valid = np.ones(scores.shape[1:], bool) if lengths is None else \
        np.arange(S)[None, :] < np.asarray(lengths)[:, None]              # (B, S)
    masked = np.where(valid[None], scores, -np.inf)                       # before the softmax
    shifted = masked - masked.max(axis=2, keepdims=True)
    e = np.exp(shifted)                                                   # exactly 0 on padding
    weights = e / e.sum(axis=2, keepdims=True)
    return weights, weights


def masked_softmax_backward(dweights, cache):
    """dweights (T, B, S) -> dscores (T, B, S)."""
    weights = cache
    return weights * (dweights - np.sum(weights * dweights, axis=2, keepdims=True))


def additive_attention_forward(queries, keys, W_q, W_k, b, v, lengths=None):
    """queries (T, B, Q), keys (S, B, K), W_q (A, Q), W_k (A, K), b (A,), v (A,), lengths (B,)
    -> context (T, B, K), weights (T, B, S), cache."""
    pq = queries @ W_q.T                                                  # (T, B, A)
    pk = keys @ W_k.T + b                                                 # (S, B, A)
    z = np.tanh(pq[:, :, None, :] + pk.transpose(1, 0, 2)[None])          # (T, B, S, A)
    scores = z @ v                                                        # (T, B, S)
    weights, softmax_cache = masked_softmax(scores, lengths)
    context = np.einsum("tbs,sbk->tbk", weights, keys)
    cache = (queries, keys, W_q, W_k, v, z, weights, softmax_cache)
    return context, weights, cache


def additive_attention_backward(dcontext, dweights, cache):
    """dcontext (T, B, K), dweights (T, B, S) or None -> dqueries, dkeys, dW_q, dW_k, db, dv."""
    queries, keys, W_q, W_k, v, z, weights, softmax_cache = cache
    dw = np.einsum("tbk,sbk->tbs", dcontext, keys)                        # through the context
    if dweights is not None:
        dw = dw + dweights
    dkeys = np.einsum("tbs,tbk->sbk", weights, dcontext)                  # key path 1: context
    dscores = masked_softmax_backward(dw, softmax_cache)
    dv = np.einsum("tbs,tbsa->a", dscores, z)
    du = dscores[..., None] * v * (1 - z ** 2)                            # (T, B, S, A), tanh'
    dpq, dpk = du.sum(axis=2), du.sum(axis=0).transpose(1, 0, 2)          # (T, B, A), (S, B, A)
    dqueries = dpq @ W_q
    dkeys = dkeys + dpk @ W_k                                             # key path 2: scores
    dW_q = np.einsum("tba,tbq->aq", dpq, queries)
    dW_k = np.einsum("sba,sbk->ak", dpk, keys)
    db = dpk.sum(axis=(0, 1))
    return dqueries, dkeys, dW_q, dW_k, db, dv
