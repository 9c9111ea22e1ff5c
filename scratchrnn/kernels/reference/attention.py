"""Attention, written for reading: one line per equation (docs/theory/attention.md).

Shapes: T queries, S keys, B sequences, query size Q, key size K, attention size A.

    queries (T, B, Q), keys (S, B, K)  ->  context (T, B, K), weights (T, B, S)

    additive (Bahdanau):  e[t,b,s] = v . tanh(W_q q[t,b] + W_k k[s,b] + b)
    general (Luong):      e[t,b,s] = q[t,b] . (W k[s,b])
    dot (Luong):          e[t,b,s] = q[t,b] . k[s,b]               (Q == K)

    weights[t,b,:] = softmax(e[t,b,:]) over the valid keys s < lengths[b], exactly 0 beyond
    context[t,b]   = sum_s weights[t,b,s] k[s,b]

``params`` is a dict of arrays: {"W_q" (A, Q), "W_k" (A, K), "b" (A,), "v" (A,)} for additive,
{"W" (Q, K)} for general, {} for dot. The backward returns ``dparams`` with the same keys.
The cache (a ``Cache``, like every kernel's) serves one backward call. This file imports only
NumPy and the cache type; the fast twin is scratchrnn/kernels/attention.py.
"""
import numpy as np

from ..cache import Cache

SCORE_PARAMS = {"additive": ("W_q", "W_k", "b", "v"), "general": ("W",), "dot": ()}


def attention_forward(queries, keys, params, lengths=None, score="additive"):
    """queries (T, B, Q), keys (S, B, K), params (dict), lengths (B,) ints in 1..S or None.

    Returns (context (T, B, K), weights (T, B, S)), cache.
    """
    T, B, _ = queries.shape
    S = keys.shape[0]
    lengths = np.full(B, S) if lengths is None else np.asarray(lengths)
    valid = np.arange(S)[None, :] < lengths[:, None]                 # (B, S): key s is real
    if score == "additive":
        W_q, W_k, b, v = params["W_q"], params["W_k"], params["b"], params["v"]
        pre = (np.einsum("aq,tbq->tba", W_q, queries)[:, :, None, :]  # (T, B, S, A)
               + np.einsum("ak,sbk->bsa", W_k, keys)[None] + b)
        hidden = np.tanh(pre)                                        # (T, B, S, A)
        e = np.einsum("tbsa,a->tbs", hidden, v)                      # (T, B, S)
    elif score == "general":
        hidden = None
        e = np.einsum("tbq,qk,sbk->tbs", queries, params["W"], keys)
    elif score == "dot":
        hidden = None
        e = np.einsum("tbk,sbk->tbs", queries, keys)
    else:
        raise ValueError(f"score must be one of {list(SCORE_PARAMS)}, got {score!r}")
    e = np.where(valid[None], e, -np.inf)                            # padding: exp(-inf) = 0
    weights = np.exp(e - e.max(axis=2, keepdims=True))
    weights = weights / weights.sum(axis=2, keepdims=True)           # (T, B, S)
    context = np.einsum("tbs,sbk->tbk", weights, keys)               # (T, B, K)
    cache = Cache(queries=queries, keys=keys, params=params, score=score, hidden=hidden,
                  weights=weights)
    return (context, weights), cache


def attention_backward(dcontext, dweights, cache):
    """dcontext (T, B, K), dweights (T, B, S) or None -> dqueries (T, B, Q), dkeys (S, B, K),
    dparams (dict with the keys of params)."""
    cache.use("attention_backward")
    queries, keys, params, score = cache["queries"], cache["keys"], cache["params"], cache["score"]
    hidden, weights = cache["hidden"], cache["weights"]
    if dweights is None:
        dweights = np.zeros_like(weights)
    # the two paths into the keys: through the context (here) and through the scores (below)
    dkeys = np.einsum("tbs,tbk->sbk", weights, dcontext)
    dw = dweights + np.einsum("tbk,sbk->tbs", dcontext, keys)        # total gradient of weights
    # softmax Jacobian: de_s = w_s (dw_s - sum_j w_j dw_j); w = 0 on padding, so de = 0 there
    de = weights * (dw - np.sum(weights * dw, axis=2, keepdims=True))
    if score == "additive":
        W_q, W_k, v = params["W_q"], params["W_k"], params["v"]
        dv = np.einsum("tbs,tbsa->a", de, hidden)
        dpre = de[..., None] * v * (1 - hidden ** 2)                 # tanh' = 1 - tanh^2
        dqueries = np.einsum("tbsa,aq->tbq", dpre, W_q)
        dkeys = dkeys + np.einsum("tbsa,ak->sbk", dpre, W_k)
        dW_q = np.einsum("tbsa,tbq->aq", dpre, queries)
        dW_k = np.einsum("tbsa,sbk->ak", dpre, keys)
        db = np.einsum("tbsa->a", dpre)
        dparams = {"W_q": dW_q, "W_k": dW_k, "b": db, "v": dv}
    elif score == "general":
        W = params["W"]
        dqueries = np.einsum("tbs,qk,sbk->tbq", de, W, keys)
        dkeys = dkeys + np.einsum("tbs,tbq,qk->sbk", de, queries, W)
        dW = np.einsum("tbs,tbq,sbk->qk", de, queries, keys)
        dparams = {"W": dW}
    else:
        dqueries = np.einsum("tbs,sbk->tbk", de, keys)
        dkeys = dkeys + np.einsum("tbs,tbk->sbk", de, queries)
        dparams = {}
    return dqueries, dkeys, dparams
