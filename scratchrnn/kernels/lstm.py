"""LSTM: one step and a whole sequence, forward and backward (PyTorch gate order i, f, g, o).

Forward (docs/theory/lstm.md); a_t stacks the four pre-activations, (B, 4H):

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh  = [a_i, a_f, a_g, a_o]
    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Backward, given dh_t and dc_t (from step t+1 and from the output at t):

    do    = dh_t * tanh(c_t)
    dc    = dc_t + dh_t * o * (1 - tanh(c_t)^2)
    di    = dc * g      df = dc * c_{t-1}      dg = dc * i
    da_i  = di * i (1 - i)   da_f = df * f (1 - f)   da_g = dg * (1 - g^2)   da_o = do * o (1 - o)
    dc_{t-1} = dc * f
    dh_{t-1} = W_hh^T da_t,   dx_t = W_ih^T da_t
    dW_ih += da_t x_t^T,  dW_hh += da_t h_{t-1}^T,  db_ih = db_hh += da_t
"""
import numpy as np

from .activations import sigmoid


# ------------------------------------------------------------------ pointwise core
def lstm_pointwise_forward(a, c_prev, c, tanh_c, h):
    """Gates and new state from pre-activations, in place.

    a (B, 4H) pre-activations, overwritten with the gates [i, f, g, o];
    writes c (B, H), tanh_c = tanh(c) (B, H) and h (B, H).
    """
    H = c.shape[-1]
    sigmoid(a[:, :2 * H], out=a[:, :2 * H])            # i, f
    np.tanh(a[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])  # g
    sigmoid(a[:, 3 * H:], out=a[:, 3 * H:])            # o
    i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    np.multiply(f, c_prev, out=c)
    c += i * g
    np.tanh(c, out=tanh_c)
    np.multiply(o, tanh_c, out=h)


def lstm_pointwise_backward(dh, dc, gates, c_prev, tanh_c, da):
    """Gradient through one step's element-wise part.

    dh, dc (B, H): gradients w.r.t. h_t and c_t; gates (B, 4H) = [i, f, g, o];
    writes da (B, 4H), the gradient w.r.t. the pre-activations; returns dc_{t-1}.
    """
    H = c_prev.shape[-1]
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    da[:, :H] = dc * g * i * (1 - i)                       # da_i
    da[:, H:2 * H] = dc * c_prev * f * (1 - f)             # da_f
    da[:, 2 * H:3 * H] = dc * i * (1 - g * g)              # da_g
    da[:, 3 * H:] = dh * tanh_c * o * (1 - o)              # da_o
    return dc * f


# ------------------------------------------------------------------ one step
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih=None, b_hh=None):
    """x (B, D), h_prev, c_prev (B, H), W_ih (4H, D), W_hh (4H, H), b_* (4H,).

    Returns (h, c) each (B, H), and the cache for ``lstm_step_backward``.
    """
    a = x @ W_ih.T + h_prev @ W_hh.T
    if b_ih is not None:
        a += b_ih + b_hh
    c, tanh_c, h = (np.empty_like(c_prev) for _ in range(3))
    lstm_pointwise_forward(a, c_prev, c, tanh_c, h)
    return (h, c), (x, h_prev, c_prev, a, tanh_c, W_ih, W_hh, b_ih is not None)


def lstm_step_backward(dh, dc, cache):
    """dh, dc (B, H) -> dx (B, D), (dh_prev, dc_prev), (dW_ih, dW_hh, db_ih, db_hh)."""
    x, h_prev, c_prev, gates, tanh_c, W_ih, W_hh, has_bias = cache
    da = np.empty_like(gates)
    dc_prev = lstm_pointwise_backward(dh, dc, gates, c_prev, tanh_c, da)
    db = da.sum(axis=0) if has_bias else None
    return da @ W_ih, (da @ W_hh, dc_prev), (da.T @ x, da.T @ h_prev, db, db)


# ------------------------------------------------------------------ a sequence
def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None):
    """Run the LSTM over a whole sequence.

    x (T, B, D), h0, c0 (B, H), mask (T, B) bool or None: where mask[t, b] is False the
    step is padding, so (h, c) are carried over unchanged and the output is zero.
    Returns (out (T, B, H), h_T, c_T), cache.
    """
    T, B, D = x.shape
    H = W_hh.shape[1]
    # All T input projections in one matrix product, biases folded in once;
    # the buffer is then overwritten step by step with the gates.
    gates = (x.reshape(T * B, D) @ W_ih.T).reshape(T, B, 4 * H)
    if b_ih is not None:
        gates += b_ih + b_hh
    hs = np.empty((T + 1, B, H), dtype=x.dtype)      # hs[t] = h_{t-1}, hs[0] = h0
    cs = np.empty((T + 1, B, H), dtype=x.dtype)
    tanh_cs = np.empty((T, B, H), dtype=x.dtype)
    hs[0], cs[0] = h0, c0
    rec = np.empty((B, 4 * H), dtype=x.dtype)
    W_hh_T = W_hh.T
    for t in range(T):
        np.matmul(hs[t], W_hh_T, out=rec)
        gates[t] += rec
        lstm_pointwise_forward(gates[t], cs[t], cs[t + 1], tanh_cs[t], hs[t + 1])
        if mask is not None:
            m = mask[t, :, None]
            np.copyto(hs[t + 1], hs[t], where=~m)
            np.copyto(cs[t + 1], cs[t], where=~m)
    out = hs[1:].copy()
    if mask is not None:
        out *= mask[:, :, None]
    cache = (x, hs, cs, tanh_cs, gates, mask, W_ih, W_hh, b_ih is not None)
    return (out, hs[T], cs[T]), cache


def lstm_backward(dout, dh_T, dc_T, cache):
    """dout (T, B, H); dh_T, dc_T (B, H) or None.

    Returns dx (T, B, D), dh0 (B, H), dc0 (B, H), (dW_ih, dW_hh, db_ih, db_hh).
    """
    x, hs, cs, tanh_cs, gates, mask, W_ih, W_hh, has_bias = cache
    T, B, D = x.shape
    H = W_hh.shape[1]
    # Every step's pre-activation gradient goes into one (T, B, 4H) buffer so that the
    # weight and input gradients are single large products after the loop.
    da = np.empty((T, B, 4 * H), dtype=x.dtype)
    dh = np.zeros((B, H), x.dtype) if dh_T is None else np.array(dh_T, dtype=x.dtype)
    dc = np.zeros((B, H), x.dtype) if dc_T is None else np.array(dc_T, dtype=x.dtype)
    for t in reversed(range(T)):
        if mask is None:
            dh += dout[t]
            dc = lstm_pointwise_backward(dh, dc, gates[t], cs[t], tanh_cs[t], da[t])
            dh = da[t] @ W_hh
        else:
            # A padded step's output is a constant zero (its dout is ignored) and its
            # state is a copy of the previous one, so dh and dc pass straight back.
            m = mask[t, :, None]
            dc_step = lstm_pointwise_backward(np.where(m, dh + dout[t], 0), np.where(m, dc, 0),
                                              gates[t], cs[t], tanh_cs[t], da[t])
            dc = np.where(m, dc_step, dc)
            dh = da[t] @ W_hh + np.where(m, 0, dh)
    da2 = da.reshape(T * B, 4 * H)
    dW_ih = da2.T @ x.reshape(T * B, D)
    dW_hh = da2.T @ hs[:T].reshape(T * B, H)
    db = da2.sum(axis=0) if has_bias else None
    dx = (da2 @ W_ih).reshape(T, B, D)
    return dx, dh, dc, (dW_ih, dW_hh, db, db)
