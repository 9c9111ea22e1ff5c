"""LSTM, written for reading: the equations of docs/theory/lstm.md, one line each.

Same functions, signatures and return values as ``scratchrnn/kernels/lstm.py`` (the fast
kernels, which are tested against these), so either can stand in for the other. PyTorch's
gate order i, f, g, o: W_ih (4H, D) = [W_ii; W_if; W_ig; W_io], W_hh (4H, H) likewise.

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh = [a_i, a_f, a_g, a_o]
    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

    do = dh_t * tanh(c_t)
    dc = dc_t + dh_t * o * (1 - tanh(c_t)^2)        c_t's two uses: c_{t+1} and h_t
    di = dc * g     df = dc * c_{t-1}     dg = dc * i     dc_{t-1} = dc * f
    da_i = di * i (1 - i)   da_f = df * f (1 - f)   da_g = dg * (1 - g^2)   da_o = do * o (1 - o)
    dx_t = W_ih^T da_t      dh_{t-1} = W_hh^T da_t
    dW_ih = sum_t da_t x_t^T,  dW_hh = sum_t da_t h_{t-1}^T,  db_ih = db_hh = sum_t da_t

The batch is in the rows, so W x is ``x @ W.T`` and W^T da is ``da @ W``. The biases are
both given or both None (then no bias is added and db_ih, db_hh are None).
"""
import numpy as np

from ..activations import sigmoid
from ..cache import Cache


def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih=None, b_hh=None):
    """One step.

    Inputs:
      x (B, D), h_prev (B, H), c_prev (B, H), W_ih (4H, D), W_hh (4H, H),
      b_ih, b_hh (4H,) or None.
    Returns:
      (h (B, H), c (B, H)), and cache, a Cache (a dict) for ``lstm_step_backward``.
    """
    H = h_prev.shape[1]
    has_bias = b_ih is not None
    if not has_bias:
        b_ih, b_hh = 0, 0
    a = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh                  # (B, 4H)
    a_i, a_f, a_g, a_o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    i = sigmoid(a_i)
    f = sigmoid(a_f)
    g = np.tanh(a_g)
    o = sigmoid(a_o)
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    cache = Cache(x=x, h_prev=h_prev, c_prev=c_prev, i=i, f=f, g=g, o=o, tanh_c=tanh_c,
                  W_ih=W_ih, W_hh=W_hh, has_bias=has_bias)
    return (h, c), cache


def lstm_step_backward(dh, dc, cache):
    """Backward of one step.

    Inputs:
      dh (B, H): the total gradient of h_t (from the output at t and from step t + 1);
      dc (B, H): the gradient of c_t from step t + 1.
      cache: from ``lstm_step_forward``.
    Returns:
      dx (B, D), (dh_prev (B, H), dc_prev (B, H)),
      (dW_ih (4H, D), dW_hh (4H, H), db_ih (4H,), db_hh (4H,)); the bias gradients are
      None when the forward had no bias.
    """
    cache.use("lstm_step_backward")
    x, h_prev, c_prev, W_ih, W_hh = cache["x"], cache["h_prev"], cache["c_prev"], cache["W_ih"], cache["W_hh"]
    i, f, g, o, tanh_c = cache["i"], cache["f"], cache["g"], cache["o"], cache["tanh_c"]
    has_bias = cache["has_bias"]
    do = dh * tanh_c
    dc = dc + dh * o * (1 - tanh_c ** 2)        # the total dc: through h_t as well
    di = dc * g
    df = dc * c_prev
    dg = dc * i
    dc_prev = dc * f
    da_i = di * i * (1 - i)
    da_f = df * f * (1 - f)
    da_g = dg * (1 - g ** 2)
    da_o = do * o * (1 - o)
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)         # (B, 4H), like a
    dx = da @ W_ih
    dh_prev = da @ W_hh
    dW_ih = da.T @ x
    dW_hh = da.T @ h_prev
    db_ih = da.sum(axis=0) if has_bias else None
    db_hh = da.sum(axis=0) if has_bias else None
    return dx, (dh_prev, dc_prev), (dW_ih, dW_hh, db_ih, db_hh)


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None):
    """A whole sequence: ``lstm_step_forward`` at every step.

    Inputs:
      x (T, B, D), h0 (B, H), c0 (B, H), W_ih (4H, D), W_hh (4H, H), b_ih, b_hh (4H,) or
      None, mask (T, B) bool or None: where mask[t, b] is False the step is padding, so
      (h, c) are carried over unchanged and the output is zero.
    Returns:
      (out (T, B, H), h_T (B, H), c_T (B, H)), and cache, a Cache (a dict) for ``lstm_backward``.
    """
    T, B, _ = x.shape
    m = np.ones((T, B, 1), dtype=bool) if mask is None else mask[:, :, None]
    h, c = h0, c0
    out, step_caches = [], []
    for t in range(T):
        (h_new, c_new), step_cache = lstm_step_forward(x[t], h, c, W_ih, W_hh, b_ih, b_hh)
        out.append(np.where(m[t], h_new, 0))          # padding outputs zero ...
        h = np.where(m[t], h_new, h)                  # ... and carries both states over
        c = np.where(m[t], c_new, c)
        step_caches.append(step_cache)
    cache = Cache(step_caches=step_caches, m=m)
    return (np.stack(out), h, c), cache


def lstm_backward(dout, dh_T, dc_T, cache):
    """Backpropagation through time.

    Inputs:
      dout (T, B, H): gradient of the outputs; dh_T, dc_T (B, H) or None (zero): of h_T
      and c_T. cache: from ``lstm_forward``.
    Returns:
      dx (T, B, D), dh0 (B, H), dc0 (B, H),
      (dW_ih (4H, D), dW_hh (4H, H), db_ih (4H,), db_hh (4H,)); the bias gradients are
      None when the forward had no bias.
    """
    cache.use("lstm_backward")
    step_caches, m = cache["step_caches"], cache["m"]
    T = len(step_caches)
    dh = np.zeros_like(dout[0]) if dh_T is None else dh_T
    dc = np.zeros_like(dout[0]) if dc_T is None else dc_T
    dx, step_grads = [None] * T, [None] * T
    for t in reversed(range(T)):
        dh_t = np.where(m[t], dout[t] + dh, 0)        # padding: nothing enters the step
        dc_t = np.where(m[t], dc, 0)
        dx[t], (dh_prev, dc_prev), step_grads[t] = lstm_step_backward(dh_t, dc_t, step_caches[t])
        dh = dh_prev + np.where(m[t], 0, dh)          # padding: dh and dc pass straight through
        dc = dc_prev + np.where(m[t], 0, dc)
    return np.stack(dx), dh, dc, _sum_over_time(step_grads)


def _sum_over_time(step_grads):
    """[(dW_ih, dW_hh, db_ih, db_hh) of each step] -> the four sums over the steps (None
    stays None): a weight used at every step gets the sum of the gradients of its uses."""
    return tuple(None if grads[0] is None else sum(grads) for grads in zip(*step_grads))
