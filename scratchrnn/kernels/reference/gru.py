"""GRU, written for reading: the equations of docs/theory/gru.md, one line each.

Same functions, signatures and return values as ``scratchrnn/kernels/gru.py`` (the fast
kernels, which are tested against these), so either can stand in for the other. PyTorch's
gate order r, z, n: W_ih (3H, D) = [W_ir; W_iz; W_in], W_hh (3H, H) = [W_hr; W_hz; W_hn],
biases likewise.

    ax = W_ih x_t + b_ih = [ax_r, ax_z, ax_n]          the input part of the pre-activations

Reset-after (PyTorch's form, ``reset_after=True``):

    ah = W_hh h_{t-1} + b_hh = [ah_r, ah_z, hn]        the recurrent part
    r = sigma(ax_r + ah_r)     z = sigma(ax_z + ah_z)
    n = tanh(ax_n + r * hn)
    h_t = (1 - z) * n + z * h_{t-1}

Reset-before (the textbook form, Cho et al. 2014, ``reset_after=False``):

    ah_r = W_hr h_{t-1} + b_hr     ah_z = W_hz h_{t-1} + b_hz
    r = sigma(ax_r + ah_r)     z = sigma(ax_z + ah_z)
    rh = r * h_{t-1}
    n = tanh(ax_n + W_hn rh + b_hn)
    h_t = (1 - z) * n + z * h_{t-1}

Backward, given dh_t:

    dn = dh_t * (1 - z)     dz = dh_t * (h_{t-1} - n)
    da_n = dn * (1 - n^2)   da_z = dz * z (1 - z)      da_r = dr * r (1 - r)
    reset-after:  dr = da_n * hn      dhn = da_n * r     dah = [da_r, da_z, dhn]
                  dh_{t-1} = dh_t * z + W_hh^T dah
    reset-before: drh = W_hn^T da_n   dr = drh * h_{t-1} dah = [da_r, da_z, da_n]
                  dh_{t-1} = dh_t * z + drh * r + W_hr^T da_r + W_hz^T da_z
    dax = [da_r, da_z, da_n]      dx_t = W_ih^T dax
    dW_ih = sum_t dax x_t^T       db_ih = sum_t dax       db_hh = sum_t dah
    dW_hh = sum_t dah h_{t-1}^T   (reset-before: the n rows are sum_t da_n rh^T)

The batch is in the rows, so W x is ``x @ W.T`` and W^T da is ``da @ W``. b_ih None means
no bias (db_ih, db_hh are then None).
"""
import numpy as np

from ..activations import sigmoid
from ..cache import Cache


def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, reset_after=True):
    """One step.

    Inputs:
      x (B, D), h_prev (B, H), W_ih (3H, D), W_hh (3H, H), b_ih, b_hh (3H,) or None,
      reset_after: PyTorch's form (True) or the textbook one (False).
    Returns:
      h (B, H), and cache, a Cache (a dict) for ``gru_step_backward``.
    """
    H = h_prev.shape[1]
    has_bias = b_ih is not None
    b_ih = np.zeros(3 * H, dtype=x.dtype) if b_ih is None else b_ih
    b_hh = np.zeros(3 * H, dtype=x.dtype) if b_hh is None else b_hh
    W_hr, W_hz, W_hn = W_hh[:H], W_hh[H:2 * H], W_hh[2 * H:]
    b_hr, b_hz, b_hn = b_hh[:H], b_hh[H:2 * H], b_hh[2 * H:]
    ax = x @ W_ih.T + b_ih                                          # (B, 3H)
    ax_r, ax_z, ax_n = ax[:, :H], ax[:, H:2 * H], ax[:, 2 * H:]
    if reset_after:
        ah = h_prev @ W_hh.T + b_hh                                 # (B, 3H)
        ah_r, ah_z, hn = ah[:, :H], ah[:, H:2 * H], ah[:, 2 * H:]
        r = sigmoid(ax_r + ah_r)
        z = sigmoid(ax_z + ah_z)
        n = np.tanh(ax_n + r * hn)
        rh = None
    else:
        ah_r = h_prev @ W_hr.T + b_hr
        ah_z = h_prev @ W_hz.T + b_hz
        r = sigmoid(ax_r + ah_r)
        z = sigmoid(ax_z + ah_z)
        rh = r * h_prev
        n = np.tanh(ax_n + rh @ W_hn.T + b_hn)
        hn = None
    h = (1 - z) * n + z * h_prev
    cache = Cache(x=x, h_prev=h_prev, r=r, z=z, n=n, hn=hn, rh=rh, W_ih=W_ih, W_hh=W_hh,
                  has_bias=has_bias, reset_after=reset_after)
    return h, cache


def gru_step_backward(dh, cache):
    """Backward of one step.

    Inputs:
      dh (B, H): the total gradient of h_t (from the output at t and from step t + 1).
      cache: from ``gru_step_forward``.
    Returns:
      dx (B, D), dh_prev (B, H), (dW_ih (3H, D), dW_hh (3H, H), db_ih (3H,), db_hh (3H,));
      the bias gradients are None when the forward had no bias.
    """
    cache.use("gru_step_backward")
    x, h_prev, W_ih, W_hh = cache["x"], cache["h_prev"], cache["W_ih"], cache["W_hh"]
    r, z, n, hn, rh = cache["r"], cache["z"], cache["n"], cache["hn"], cache["rh"]
    has_bias, reset_after = cache["has_bias"], cache["reset_after"]
    H = h_prev.shape[1]
    W_hr, W_hz, W_hn = W_hh[:H], W_hh[H:2 * H], W_hh[2 * H:]
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    da_n = dn * (1 - n ** 2)
    da_z = dz * z * (1 - z)
    if reset_after:
        dr = da_n * hn
        dhn = da_n * r
        da_r = dr * r * (1 - r)
        dah = np.concatenate([da_r, da_z, dhn], axis=1)            # (B, 3H), like ah
        dh_prev = dh * z + dah @ W_hh
        dW_hh = dah.T @ h_prev
    else:
        drh = da_n @ W_hn
        dr = drh * h_prev
        da_r = dr * r * (1 - r)
        dah = np.concatenate([da_r, da_z, da_n], axis=1)            # (B, 3H)
        dh_prev = dh * z + drh * r + da_r @ W_hr + da_z @ W_hz
        dW_hh = np.concatenate([da_r.T @ h_prev, da_z.T @ h_prev, da_n.T @ rh], axis=0)
    dax = np.concatenate([da_r, da_z, da_n], axis=1)                # (B, 3H), like ax
    dx = dax @ W_ih
    dW_ih = dax.T @ x
    db_ih = dax.sum(axis=0) if has_bias else None
    db_hh = dah.sum(axis=0) if has_bias else None
    return dx, dh_prev, (dW_ih, dW_hh, db_ih, db_hh)


def gru_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None, reset_after=True):
    """A whole sequence: ``gru_step_forward`` at every step.

    Inputs:
      x (T, B, D), h0 (B, H), W_ih (3H, D), W_hh (3H, H), b_ih, b_hh (3H,) or None,
      mask (T, B) bool or None: where mask[t, b] is False the step is padding, so h is
      carried over unchanged and the output is zero; reset_after as in ``gru_step_forward``.
    Returns:
      (out (T, B, H), h_T (B, H)), and cache, a Cache (a dict) for ``gru_backward``.
    """
    T, B, _ = x.shape
    m = np.ones((T, B, 1), dtype=bool) if mask is None else mask[:, :, None]
    h = h0
    out, step_caches = [], []
    for t in range(T):
        h_new, step_cache = gru_step_forward(x[t], h, W_ih, W_hh, b_ih, b_hh, reset_after)
        out.append(np.where(m[t], h_new, 0))          # padding outputs zero ...
        h = np.where(m[t], h_new, h)                  # ... and carries the state over
        step_caches.append(step_cache)
    cache = Cache(step_caches=step_caches, m=m)
    return (np.stack(out), h), cache


def gru_backward(dout, dh_T, cache):
    """Backpropagation through time.

    Inputs:
      dout (T, B, H): gradient of the outputs; dh_T (B, H) or None (zero): of h_T.
      cache: from ``gru_forward``.
    Returns:
      dx (T, B, D), dh0 (B, H), (dW_ih (3H, D), dW_hh (3H, H), db_ih (3H,), db_hh (3H,));
      the bias gradients are None when the forward had no bias.
    """
    cache.use("gru_backward")
    step_caches, m = cache["step_caches"], cache["m"]
    T = len(step_caches)
    dh = np.zeros_like(dout[0]) if dh_T is None else dh_T
    dx, step_grads = [None] * T, [None] * T
    for t in reversed(range(T)):
        dh_t = np.where(m[t], dout[t] + dh, 0)        # padding: nothing enters the step
        dx[t], dh_prev, step_grads[t] = gru_step_backward(dh_t, step_caches[t])
        dh = dh_prev + np.where(m[t], 0, dh)          # padding: dh passes straight through
    return np.stack(dx), dh, _sum_over_time(step_grads)


def _sum_over_time(step_grads):
    """[(dW_ih, dW_hh, db_ih, db_hh) of each step] -> the four sums over the steps (None
    stays None): a weight used at every step gets the sum of the gradients of its uses."""
    return tuple(None if grads[0] is None else sum(grads) for grads in zip(*step_grads))
