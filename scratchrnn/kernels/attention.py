"""Attention over a set of keys: additive (Bahdanau), general and dot (Luong) scores.

Computes exactly what kernels/reference/attention.py computes; arranged for speed as follows:

* Everything inside runs batch-major, (B, T, S), so every product over the keys is one batched
  ``np.matmul`` over B (scores, context, and all their gradients): no Python loop over t or s.
  The inputs stay time-major like the recurrent layers'; only views are transposed.
* Projections are single 2-D products over all rows: ``W_q q`` for the T*B queries and
  ``W_k k + b`` for the S*B keys, once each, never once per (t, s) pair.
* The additive score's tanh is taken in place on one (B, T, S, A) buffer, the only array of that
  size the forward keeps; the backward allocates one more of that size for the gradient of the
  pre-activation. The cache (a ``Cache``, single-use like every kernel's) is not written to.
* The general score q . (W k) can be formed as (q W) . k or as q . (W k). The first projects the
  T queries, the second the S keys; the kernel takes whichever costs fewer multiply-adds (one
  decoder step, T = 1, projects its single query rather than all S keys).
* The mask is applied by writing -inf into the padded scores before one max-shifted softmax over
  the last axis, so exp gives exactly 0 there and the padded keys get exactly zero gradient.

``params`` is a dict of arrays: {"W_q" (A, Q), "W_k" (A, K), "b" (A,), "v" (A,)} for additive,
{"W" (Q, K)} for general, {} for dot; ``attention_backward`` returns ``dparams`` with the same
keys in the same order. docs/theory/attention.md derives every line.
"""
import numpy as np

from .cache import Cache

SCORE_PARAMS = {"additive": ("W_q", "W_k", "b", "v"), "general": ("W",), "dot": ()}


def _rows(x):
    """(N1, N2, D) -> (N1 * N2, D) for one 2-D product (a copy only if x is not contiguous)."""
    return x.reshape(-1, x.shape[-1])


def _general_projects_queries(T, S, Q, K):
    """True when (q W) . k costs no more multiply-adds than q . (W k)."""
    return T * K * (Q + S) <= S * Q * (K + T)


def attention_forward(queries, keys, params, lengths=None, score="additive"):
    """queries (T, B, Q), keys (S, B, K), params (dict), lengths (B,) ints in 1..S or None.

    Returns (context (T, B, K), weights (T, B, S)), cache.
    """
    if score not in SCORE_PARAMS:
        raise ValueError(f"score must be one of {list(SCORE_PARAMS)}, got {score!r}")
    T, B, Q = queries.shape
    S, _, K = keys.shape
    keys_b = keys.transpose(1, 0, 2)                                  # (B, S, K) view
    hidden = projected = None
    if score == "additive":
        W_q, W_k, b, v = params["W_q"], params["W_k"], params["b"], params["v"]
        A = v.shape[0]
        pq = (_rows(queries) @ W_q.T).reshape(T, B, A).transpose(1, 0, 2)        # (B, T, A)
        pk = (_rows(keys) @ W_k.T + b).reshape(S, B, A).transpose(1, 0, 2)       # (B, S, A)
        # C order, so that every reshape of it below is a view (np.add would follow the
        # transposed inputs' layout)
        hidden = np.empty((B, T, S, A), np.result_type(pq, pk))
        np.add(pq[:, :, None, :], pk[:, None, :, :], out=hidden)                 # (B, T, S, A)
        np.tanh(hidden, out=hidden)
        e = (hidden.reshape(-1, A) @ v).reshape(B, T, S)
    elif score == "general":
        W = params["W"]
        if _general_projects_queries(T, S, Q, K):
            projected = (_rows(queries) @ W).reshape(T, B, K).transpose(1, 0, 2)  # (B, T, K)
            e = projected @ keys_b.transpose(0, 2, 1)
        else:
            projected = (_rows(keys) @ W.T).reshape(S, B, Q).transpose(1, 0, 2)  # (B, S, Q)
            e = queries.transpose(1, 0, 2) @ projected.transpose(0, 2, 1)
    else:
        e = queries.transpose(1, 0, 2) @ keys_b.transpose(0, 2, 1)              # (B, T, S)
    if lengths is not None:
        padded = np.arange(S)[None, :] >= np.asarray(lengths)[:, None]           # (B, S)
        np.copyto(e, -np.inf, where=padded[:, None, :])
    e -= e.max(axis=2, keepdims=True)
    weights = np.exp(e, out=e)
    weights /= weights.sum(axis=2, keepdims=True)                                # (B, T, S)
    context = weights @ keys_b                                                   # (B, T, K)
    cache = Cache(queries=queries, keys=keys, params=params, score=score, hidden=hidden,
                  projected=projected, weights=weights)
    return (context.transpose(1, 0, 2), weights.transpose(1, 0, 2)), cache


def attention_backward(dcontext, dweights, cache):
    """dcontext (T, B, K), dweights (T, B, S) or None -> dqueries (T, B, Q), dkeys (S, B, K),
    dparams (dict with the keys of params)."""
    cache.use("attention_backward")
    queries, keys, params, score = cache["queries"], cache["keys"], cache["params"], cache["score"]
    hidden, projected, weights = cache["hidden"], cache["projected"], cache["weights"]
    T, B, Q = queries.shape
    S, _, K = keys.shape
    keys_b = keys.transpose(1, 0, 2)
    dcontext_b = dcontext.transpose(1, 0, 2)                                     # (B, T, K)
    # context path into the keys; the score path is added below
    dkeys = (weights.transpose(0, 2, 1) @ dcontext_b).transpose(1, 0, 2)         # (S, B, K)
    de = dcontext_b @ keys_b.transpose(0, 2, 1)                                  # dweights, (B, T, S)
    if dweights is not None:
        de += dweights.transpose(1, 0, 2)
    # softmax Jacobian, in place: de = w * (dw - sum_s w dw)
    de -= np.einsum("bts,bts->bt", weights, de)[:, :, None]
    de *= weights
    dparams = {}
    if score == "additive":
        W_q, W_k, v = params["W_q"], params["W_k"], params["v"]
        A = v.shape[0]
        dparams["W_q"] = dparams["W_k"] = dparams["b"] = None                    # keep the order
        dparams["v"] = de.reshape(-1) @ hidden.reshape(-1, A)
        dpre = np.multiply(hidden, hidden)
        np.subtract(1, dpre, out=dpre)                                           # tanh' = 1 - tanh^2
        dpre *= de[..., None]
        dpre *= v
        dpq = dpre.sum(axis=2).transpose(1, 0, 2)                                # (T, B, A)
        dpk = dpre.sum(axis=1).transpose(1, 0, 2)                                # (S, B, A)
        dqueries = (_rows(dpq) @ W_q).reshape(T, B, Q)
        dkeys += (_rows(dpk) @ W_k).reshape(S, B, K)
        dparams["W_q"] = _rows(dpq).T @ _rows(queries)
        dparams["W_k"] = _rows(dpk).T @ _rows(keys)
        dparams["b"] = _rows(dpk).sum(axis=0)
    elif score == "general":
        W = params["W"]
        if _general_projects_queries(T, S, Q, K):                                # (B, T, K)
            dprojected = (de @ keys_b).transpose(1, 0, 2)                         # (T, B, K)
            dkeys += (de.transpose(0, 2, 1) @ projected).transpose(1, 0, 2)
            dqueries = (_rows(dprojected) @ W.T).reshape(T, B, Q)
            dparams["W"] = _rows(queries).T @ _rows(dprojected)
        else:                                                                    # (B, S, Q)
            dqueries = (de @ projected).transpose(1, 0, 2)
            dprojected = (de.transpose(0, 2, 1) @ queries.transpose(1, 0, 2)).transpose(1, 0, 2)
            dkeys += (_rows(dprojected) @ W).reshape(S, B, K)
            dparams["W"] = _rows(dprojected).T @ _rows(keys)
    else:
        dqueries = (de @ keys_b).transpose(1, 0, 2)
        dkeys += (de.transpose(0, 2, 1) @ queries.transpose(1, 0, 2)).transpose(1, 0, 2)
    return np.ascontiguousarray(dqueries), np.ascontiguousarray(dkeys), dparams
