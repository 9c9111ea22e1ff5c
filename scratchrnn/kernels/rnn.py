"""Vanilla (Elman) RNN: one step and a whole sequence, forward and backward.

Equations (docs/theory/rnn.md), with phi = tanh or relu:

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    h_t = phi(a_t)

Backward, given dh_t (from the output at t and from step t+1):

    da_t      = dh_t * phi'(a_t)        tanh: 1 - h_t^2     relu: [h_t > 0]
    dh_{t-1}  = W_hh^T da_t
    dW_ih    += da_t x_t^T,  dW_hh += da_t h_{t-1}^T,  db_ih = db_hh += da_t
    dx_t      = W_ih^T da_t
"""
import numpy as np

NONLINEARITIES = ("tanh", "relu")


def _activate(a, nonlinearity, out):
    if nonlinearity == "tanh":
        return np.tanh(a, out=out)
    return np.maximum(a, 0, out=out)


def _activation_grad(dh, h, nonlinearity, out):
    """da = dh * phi'(a), written with the output h (both derivatives depend only on h)."""
    if nonlinearity == "tanh":
        np.multiply(h, h, out=out)
        np.subtract(1, out, out=out)
        return np.multiply(out, dh, out=out)
    return np.multiply(dh, h > 0, out=out)


# ------------------------------------------------------------------ one step
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """x (B, D), h_prev (B, H), W_ih (H, D), W_hh (H, H), b_* (H,) -> h (B, H), cache."""
    a = x @ W_ih.T + h_prev @ W_hh.T
    if b_ih is not None:
        a += b_ih + b_hh
    h = _activate(a, nonlinearity, out=a)
    return h, (x, h_prev, h, W_ih, W_hh, b_ih is not None, nonlinearity)


def rnn_step_backward(dh, cache):
    """dh (B, H) -> dx (B, D), dh_prev (B, H), (dW_ih, dW_hh, db_ih, db_hh)."""
    x, h_prev, h, W_ih, W_hh, has_bias, nonlinearity = cache
    da = _activation_grad(dh, h, nonlinearity, out=np.empty_like(h))
    db = da.sum(axis=0) if has_bias else None
    return da @ W_ih, da @ W_hh, (da.T @ x, da.T @ h_prev, db, db)


# ------------------------------------------------------------------ a sequence
def rnn_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None, nonlinearity="tanh"):
    """Run the RNN over a whole sequence.

    x (T, B, D), h0 (B, H), mask (T, B) bool or None: where mask[t, b] is False the
    step is padding, so h is carried over unchanged and the output is zero.
    Returns (out (T, B, H), h_T (B, H)), cache.
    """
    T, B, D = x.shape
    H = W_hh.shape[0]
    # All T input projections in one matrix product; both biases folded in once.
    a = (x.reshape(T * B, D) @ W_ih.T).reshape(T, B, H)
    if b_ih is not None:
        a += b_ih + b_hh
    hs = np.empty((T + 1, B, H), dtype=x.dtype)   # hs[t] is h_{t-1}; hs[0] = h0
    hs[0] = h0
    rec = np.empty((B, H), dtype=x.dtype)
    for t in range(T):
        np.matmul(hs[t], W_hh.T, out=rec)
        a[t] += rec
        _activate(a[t], nonlinearity, out=a[t])         # a[t] now holds phi(a_t)
        if mask is None:
            hs[t + 1] = a[t]
        else:
            np.copyto(hs[t + 1], np.where(mask[t, :, None], a[t], hs[t]))
    out = a                                            # out[t] = h_t ...
    if mask is not None:
        out *= mask[:, :, None]                        # ... zero past each sequence's end
    cache = (x, hs, out, mask, W_ih, W_hh, b_ih is not None, nonlinearity)
    return (out, hs[T]), cache


def rnn_backward(dout, dh_T, cache):
    """dout (T, B, H), dh_T (B, H) or None -> dx (T, B, D), dh0 (B, H), param grads."""
    x, hs, out, mask, W_ih, W_hh, has_bias, nonlinearity = cache
    T, B, D = x.shape
    H = W_hh.shape[0]
    da = np.empty((T, B, H), dtype=x.dtype)
    dh = np.zeros((B, H), dtype=x.dtype) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    for t in reversed(range(T)):
        if mask is None:
            dh += dout[t]
            _activation_grad(dh, out[t], nonlinearity, out=da[t])
            dh = da[t] @ W_hh
        else:
            # A padded step's output is a constant zero (its dout is ignored) and its
            # state is a copy of h_{t-1}, so dh passes straight back through it.
            m = mask[t, :, None]
            _activation_grad(np.where(m, dh + dout[t], 0), out[t], nonlinearity, out=da[t])
            dh = da[t] @ W_hh + np.where(m, 0, dh)
    da2 = da.reshape(T * B, H)
    dW_ih = da2.T @ x.reshape(T * B, D)
    dW_hh = da2.T @ hs[:T].reshape(T * B, H)
    db = da2.sum(axis=0) if has_bias else None
    dx = (da2 @ W_ih).reshape(T, B, D)
    return dx, dh, (dW_ih, dW_hh, db, db)
