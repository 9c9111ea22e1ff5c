"""Vanilla (Elman) RNN, written for reading: the equations of docs/theory/rnn.md, one line each.

Same functions, signatures and return values as ``scratchrnn/kernels/rnn.py`` (the fast
kernels, which are tested against these), so either can stand in for the other:

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    h_t = phi(a_t)                          phi = tanh or relu

    da_t     = dh_t * phi'(a_t)             tanh: 1 - h_t^2     relu: [h_t > 0]
    dx_t     = W_ih^T da_t
    dh_{t-1} = W_hh^T da_t
    dW_ih = sum_t da_t x_t^T,  dW_hh = sum_t da_t h_{t-1}^T,  db_ih = db_hh = sum_t da_t

The batch is in the rows, so W x is ``x @ W.T`` and W^T da is ``da @ W``. The biases are
both given or both None (then no bias is added and db_ih, db_hh are None).
"""
import numpy as np

from ..cache import Cache

NONLINEARITIES = ("tanh", "relu")


def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One step.

    Inputs:
      x (B, D), h_prev (B, H), W_ih (H, D), W_hh (H, H), b_ih, b_hh (H,) or None,
      nonlinearity "tanh" or "relu".
    Returns:
      h (B, H), and cache, a Cache (a dict) for ``rnn_step_backward``.
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    has_bias = b_ih is not None
    if not has_bias:
        b_ih, b_hh = 0, 0
    a = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
    cache = Cache(x=x, h_prev=h_prev, h=h, W_ih=W_ih, W_hh=W_hh, has_bias=has_bias,
                  nonlinearity=nonlinearity)
    return h, cache


def rnn_step_backward(dh, cache):
    """Backward of one step.

    Inputs:
      dh (B, H): the total gradient of h_t (from the output at t and from step t + 1).
      cache: from ``rnn_step_forward``.
    Returns:
      dx (B, D), dh_prev (B, H), (dW_ih (H, D), dW_hh (H, H), db_ih (H,), db_hh (H,));
      the bias gradients are None when the forward had no bias.
    """
    cache.use("rnn_step_backward")
    x, h_prev, h, W_ih, W_hh = cache["x"], cache["h_prev"], cache["h"], cache["W_ih"], cache["W_hh"]
    has_bias, nonlinearity = cache["has_bias"], cache["nonlinearity"]
    da = dh * (1 - h ** 2) if nonlinearity == "tanh" else dh * (h > 0)
    dx = da @ W_ih
    dh_prev = da @ W_hh
    dW_ih = da.T @ x
    dW_hh = da.T @ h_prev
    db_ih = da.sum(axis=0) if has_bias else None
    db_hh = da.sum(axis=0) if has_bias else None
    return dx, dh_prev, (dW_ih, dW_hh, db_ih, db_hh)


def rnn_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None, nonlinearity="tanh"):
    """A whole sequence: ``rnn_step_forward`` at every step.

    Inputs:
      x (T, B, D), h0 (B, H), W_ih (H, D), W_hh (H, H), b_ih, b_hh (H,) or None,
      mask (T, B) bool or None: where mask[t, b] is False the step is padding, so h is
      carried over unchanged and the output is zero.
    Returns:
      (out (T, B, H), h_T (B, H)), and cache, a Cache (a dict) for ``rnn_backward``.
    """
    T, B, _ = x.shape
    m = np.ones((T, B, 1), dtype=bool) if mask is None else mask[:, :, None]
    h = h0
    out, step_caches = [], []
    for t in range(T):
        h_new, step_cache = rnn_step_forward(x[t], h, W_ih, W_hh, b_ih, b_hh, nonlinearity)
        out.append(np.where(m[t], h_new, 0))          # padding outputs zero ...
        h = np.where(m[t], h_new, h)                  # ... and carries the state over
        step_caches.append(step_cache)
    cache = Cache(step_caches=step_caches, m=m)
    return (np.stack(out), h), cache


def rnn_backward(dout, dh_T, cache):
    """Backpropagation through time.

    Inputs:
      dout (T, B, H): gradient of the outputs; dh_T (B, H) or None (zero): of h_T.
      cache: from ``rnn_forward``.
    Returns:
      dx (T, B, D), dh0 (B, H), (dW_ih (H, D), dW_hh (H, H), db_ih (H,), db_hh (H,));
      the bias gradients are None when the forward had no bias.
    """
    cache.use("rnn_backward")
    step_caches, m = cache["step_caches"], cache["m"]
    T = len(step_caches)
    dh = np.zeros_like(dout[0]) if dh_T is None else dh_T
    dx, step_grads = [None] * T, [None] * T
    for t in reversed(range(T)):
        dh_t = np.where(m[t], dout[t] + dh, 0)        # padding: nothing enters the step
        dx[t], dh_prev, step_grads[t] = rnn_step_backward(dh_t, step_caches[t])
        dh = dh_prev + np.where(m[t], 0, dh)          # padding: dh passes straight through
    return np.stack(dx), dh, _sum_over_time(step_grads)


def _sum_over_time(step_grads):
    """[(dW_ih, dW_hh, db_ih, db_hh) of each step] -> the four sums over the steps (None
    stays None): a weight used at every step gets the sum of the gradients of its uses."""
    return tuple(None if grads[0] is None else sum(grads) for grads in zip(*step_grads))
