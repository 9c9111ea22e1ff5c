"""Lab 07: attention, forward and backward: a masked softmax and additive (Bahdanau) attention.

Fill in TODO 1-4 in order. Check your work with

    pytest labs/lab07_attention

Notation (the same as README.md). T queries (decoder steps), S keys (source positions),
B sequences, query size Q, key size K, attention size A. Time-major like the recurrent layers:

    u[t,b,s]   = W_q q[t,b] + W_k k[s,b] + b          (A,)   pre-activation
    z[t,b,s]   = tanh(u[t,b,s])                        (A,)
    e[t,b,s]   = v . z[t,b,s]                                 score
    w[t,b,:]   = softmax of e[t,b,:] over the REAL keys s < lengths[b]; exactly 0 beyond
    c[t,b]     = sum_s w[t,b,s] k[s,b]                 (K,)   context

The keys are also the values: they are compared (in e) and averaged (in c).
Only NumPy is allowed here.
"""
import numpy as np


def masked_softmax(scores, lengths=None):
    """Softmax over the last axis, over the first lengths[b] entries of each row only.

    Inputs:
        scores (T, B, S); lengths (B,) ints in 1..S, or None (every key is real)
    Returns:
        weights (T, B, S): each row sums to 1 over s < lengths[b] and is exactly 0 beyond;
        cache
    Shift by the row's maximum so that exp never overflows.
    """
    # ======================= TODO 1: masked_softmax ===================
    raise NotImplementedError("TODO 1: masked_softmax")
    # ========================= END TODO 1 =============================


def masked_softmax_backward(dweights, cache):
    """Backward pass of masked_softmax.

    Inputs:  dweights (T, B, S), cache
    Returns: dscores (T, B, S)

    Equation (README.md, "Backward"):  de_s = w_s (dw_s - sum_j w_j dw_j)
    """
    # ======================= TODO 2: masked_softmax_backward ==========
    raise NotImplementedError("TODO 2: masked_softmax_backward")
    # ========================= END TODO 2 =============================


def additive_attention_forward(queries, keys, W_q, W_k, b, v, lengths=None):
    """Additive attention of every query over every key.

    Inputs:
        queries (T, B, Q), keys (S, B, K)
        W_q (A, Q), W_k (A, K), b (A,), v (A,)
        lengths (B,) ints in 1..S or None
    Returns:
        context (T, B, K), weights (T, B, S), cache
    Use masked_softmax. No Python loop over t or s is needed: broadcast (T, B, 1, A) + (1, B, S, A).
    """
    # ======================= TODO 3: additive_attention_forward =======
    raise NotImplementedError("TODO 3: additive_attention_forward")
    # ========================= END TODO 3 =============================


def additive_attention_backward(dcontext, dweights, cache):
    """Backward pass of additive_attention_forward.

    Inputs:  dcontext (T, B, K), dweights (T, B, S) or None (then the weights feed no loss)
    Returns: dqueries (T, B, Q), dkeys (S, B, K), dW_q (A, Q), dW_k (A, K), db (A,), dv (A,)

    Equations (README.md, "Backward"):
        dw_total[t,b,s] = dweights[t,b,s] + dcontext[t,b] . k[s,b]
        dkeys[s,b]     += sum_t w[t,b,s] dcontext[t,b]               key path 1: the context
        de              = masked_softmax_backward(dw_total)
        dv              = sum_{t,b,s} de[t,b,s] z[t,b,s]
        du[t,b,s]       = de[t,b,s] v * (1 - z[t,b,s]^2)
        dqueries[t,b]   = W_q^T sum_s du[t,b,s]
        dkeys[s,b]     += W_k^T sum_t du[t,b,s]                      key path 2: the scores
        dW_q = sum_{t,b} (sum_s du) q^T    dW_k = sum_{s,b} (sum_t du) k^T    db = sum du
    """
    # ======================= TODO 4: additive_attention_backward ======
    raise NotImplementedError("TODO 4: additive_attention_backward")
    # ========================= END TODO 4 =============================
