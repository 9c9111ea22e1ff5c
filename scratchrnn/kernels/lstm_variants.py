"""LSTM variants: peephole connections and a coupled input-forget gate (docs/theory/lstm_variants.md).

Same conventions as ``scratchrnn/kernels/lstm.py`` (batch rows, PyTorch gate order, masks).
Two independent options, which combine:

* peephole (Gers & Schmidhuber, 2000): the gates also look at the cell through diagonal
  weights w_ci, w_cf, w_co (H,). The input and forget gates see c_{t-1}; the output gate
  sees the *new* cell c_t, so it is computed after c_t:

      i = sigma(a_i + w_ci * c_{t-1})     f = sigma(a_f + w_cf * c_{t-1})
      g = tanh(a_g)                       c_t = f * c_{t-1} + i * g
      o = sigma(a_o + w_co * c_t)         h_t = o * tanh(c_t)

* coupled (CIFG, Greff et al., 2017): f = 1 - i, "forget exactly as much as you write".
  The forget block has no weights at all, so W_ih is (3H, D), W_hh (3H, H), biases (3H,),
  blocks in the order i, g, o. With peepholes there is no w_cf.

The pre-activations a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh are (B, G), G = 4H ([i, f, g, o])
or 3H when coupled ([i, g, o]). Whatever the option, the element-wise step writes the four gate
values [i, f, g, o] into a (B, 4H) buffer, so that the backward pass can reuse
``lstm_pointwise_backward`` of the plain LSTM and add only what the options change:

    dc_in    = dc_t + da_o * w_co              (c_t also reaches h_t through o)
    [da_i, da_f, da_g, da_o], dc_prev = lstm_pointwise_backward(dh_t, dc_in, ...)
    coupled:  da_i <- da_i - da_f              (f = 1 - i and f(1 - f) = i(1 - i))
    dc_prev += da_i * w_ci + da_f * w_cf       (the peepholes on c_{t-1})
    dw_ci = sum da_i * c_{t-1},  dw_cf = sum da_f * c_{t-1},  dw_co = sum da_o * c_t
"""
import numpy as np

from .activations import sigmoid
from .cache import Cache
from .lstm import lstm_pointwise_backward

_STEP_KEYS = ('x', 'h_prev', 'c_prev', 'c', 'gates', 'tanh_c', 'W_ih', 'W_hh', 'has_bias', 'peep', 'coupled')
_SEQ_KEYS = ('x', 'hs', 'cs', 'tanh_cs', 'gates', 'mask', 'W_ih', 'W_hh', 'has_bias', 'peep', 'coupled')


# ------------------------------------------------------------------ pointwise core
def variant_pointwise_forward(a, c_prev, gates, c, tanh_c, h, w_ci=None, w_cf=None, w_co=None,
                              coupled=False):
    """The element-wise part of one step.

    a (B, G) pre-activations, G = 4H [i, f, g, o] or 3H [i, g, o] (coupled); c_prev (B, H);
    w_c* (H,) peephole weights or None. Writes gates (B, 4H) = [i, f, g, o] (may be ``a``
    itself when not coupled: it is then overwritten in place), c, tanh_c and h (B, H).
    """
    H = c.shape[-1]
    a_i = a[:, :H]
    a_g, a_o = (a[:, H:2 * H], a[:, 2 * H:]) if coupled else (a[:, 2 * H:3 * H], a[:, 3 * H:])
    i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))
    i[...] = a_i if w_ci is None else a_i + w_ci * c_prev
    sigmoid(i, out=i)
    if coupled:
        np.subtract(1, i, out=f)
    else:
        f[...] = a[:, H:2 * H] if w_cf is None else a[:, H:2 * H] + w_cf * c_prev
        sigmoid(f, out=f)
    np.tanh(a_g, out=g)
    np.multiply(f, c_prev, out=c)
    c += i * g
    # the output gate's peephole sees the new cell, so o comes after c
    o[...] = a_o if w_co is None else a_o + w_co * c
    sigmoid(o, out=o)
    np.tanh(c, out=tanh_c)
    np.multiply(o, tanh_c, out=h)


def variant_pointwise_backward(dh, dc, gates, c_prev, tanh_c, w_ci=None, w_cf=None, w_co=None,
                               coupled=False):
    """Gradient through one step's element-wise part.

    dh, dc (B, H): gradients w.r.t. h_t and c_t; gates (B, 4H) = [i, f, g, o].
    Returns da4 (B, 4H), the gradient w.r.t. the four *effective* pre-activations (peephole
    terms included; for coupled, column block i already holds the total da_i and block f is
    the part that went through f), and dc_{t-1} (B, H).
    """
    H = c_prev.shape[-1]
    o = gates[:, 3 * H:]
    dc_in = np.array(dc, copy=True)
    if w_co is not None:
        dc_in += (dh * tanh_c * o * (1 - o)) * w_co          # c_t -> o -> h_t
    da4 = np.empty_like(gates)
    dc_prev = lstm_pointwise_backward(dh, dc_in, gates, c_prev, tanh_c, da4)
    if coupled:
        da4[:, :H] -= da4[:, H:2 * H]                         # f = 1 - i
    if w_ci is not None:
        dc_prev = dc_prev + da4[:, :H] * w_ci
    if w_cf is not None:
        dc_prev = dc_prev + da4[:, H:2 * H] * w_cf
    return da4, dc_prev


def _to_weight_blocks(da4, coupled):
    """(..., 4H) effective gate gradients -> (..., G), the gradient of the pre-activations
    that the weights produce (coupled: the f block has no weights)."""
    if not coupled:
        return da4
    H = da4.shape[-1] // 4
    return np.concatenate([da4[..., :H], da4[..., 2 * H:]], axis=-1)


def _peephole_grads(da4, c_prev, c, w_ci, w_cf, w_co):
    """Sums over every leading axis: dw_ci, dw_cf, dw_co (H,) or None where absent."""
    if w_ci is None:
        return ()
    H = c.shape[-1]
    axes = tuple(range(c.ndim - 1))
    dw_ci = (da4[..., :H] * c_prev).sum(axis=axes)
    dw_cf = None if w_cf is None else (da4[..., H:2 * H] * c_prev).sum(axis=axes)
    dw_co = (da4[..., 3 * H:] * c).sum(axis=axes)
    return dw_ci, dw_cf, dw_co


def _check_options(W_hh, w_ci, w_cf, w_co, coupled):
    H = W_hh.shape[1]
    if W_hh.shape[0] != (3 if coupled else 4) * H:
        raise ValueError(f"W_hh has {W_hh.shape[0]} rows: expected {(3 if coupled else 4) * H} "
                         f"for a{' coupled' if coupled else 'n'} LSTM with H={H}")
    if (w_ci is None) != (w_co is None) or (w_ci is not None and (w_cf is None) != coupled):
        raise ValueError("peepholes: give w_ci and w_co, and w_cf exactly when not coupled")


# ------------------------------------------------------------------ one step
def lstm_variant_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih=None, b_hh=None,
                              w_ci=None, w_cf=None, w_co=None, coupled=False):
    """x (B, D), h_prev, c_prev (B, H), W_ih (G, D), W_hh (G, H), b_* (G,), w_c* (H,) or None.

    G = 4H, or 3H with coupled=True. Returns (h, c) each (B, H) and the cache.
    """
    _check_options(W_hh, w_ci, w_cf, w_co, coupled)
    a = x @ W_ih.T + h_prev @ W_hh.T
    if b_ih is not None:
        a += b_ih + b_hh
    c, tanh_c, h = (np.empty_like(c_prev) for _ in range(3))
    gates = np.empty(c.shape[:-1] + (4 * c.shape[-1],), c.dtype) if coupled else a
    variant_pointwise_forward(a, c_prev, gates, c, tanh_c, h, w_ci, w_cf, w_co, coupled)
    peep = (w_ci, w_cf, w_co)
    return (h, c), Cache(x=x, h_prev=h_prev, c_prev=c_prev, c=c, gates=gates, tanh_c=tanh_c,
                         W_ih=W_ih, W_hh=W_hh, has_bias=b_ih is not None, peep=peep, coupled=coupled)


def lstm_variant_step_backward(dh, dc, cache):
    """dh, dc (B, H) -> dx (B, D), (dh_prev, dc_prev),
    (dW_ih, dW_hh, db_ih, db_hh[, dw_ci, dw_cf, dw_co]) (the last three with peepholes)."""
    cache.use("lstm_variant_step_backward")
    x, h_prev, c_prev, c, gates, tanh_c, W_ih, W_hh, has_bias, peep, coupled = (
        cache[k] for k in _STEP_KEYS)
    da4, dc_prev = variant_pointwise_backward(dh, dc, gates, c_prev, tanh_c, *peep, coupled)
    da = _to_weight_blocks(da4, coupled)
    db = da.sum(axis=0) if has_bias else None
    grads = (da.T @ x, da.T @ h_prev, db, db) + _peephole_grads(da4, c_prev, c, *peep)
    return da @ W_ih, (da @ W_hh, dc_prev), grads


# ------------------------------------------------------------------ a sequence
def lstm_variant_forward(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, w_ci=None, w_cf=None,
                         w_co=None, mask=None, coupled=False):
    """Run a peephole and/or coupled LSTM over a whole sequence.

    x (T, B, D), h0, c0 (B, H), weights as ``lstm_variant_step_forward``; mask (T, B) bool or
    None: where False the step is padding, (h, c) are carried over and the output is zero.
    Returns (out (T, B, H), h_T, c_T), cache.
    """
    _check_options(W_hh, w_ci, w_cf, w_co, coupled)
    T, B, D = x.shape
    G, H = W_hh.shape
    # all T input projections in one product, biases folded in once (as lstm_forward)
    pre = (x.reshape(T * B, D) @ W_ih.T).reshape(T, B, G)
    if b_ih is not None:
        pre += b_ih + b_hh
    gates = np.empty((T, B, 4 * H), x.dtype) if coupled else pre
    hs = np.empty((T + 1, B, H), dtype=x.dtype)      # hs[t] = h_{t-1}, hs[0] = h0
    cs = np.empty((T + 1, B, H), dtype=x.dtype)
    tanh_cs = np.empty((T, B, H), dtype=x.dtype)
    hs[0], cs[0] = h0, c0
    W_hh_T = W_hh.T
    for t in range(T):
        pre[t] += hs[t] @ W_hh_T
        variant_pointwise_forward(pre[t], cs[t], gates[t], cs[t + 1], tanh_cs[t], hs[t + 1],
                                  w_ci, w_cf, w_co, coupled)
        if mask is not None:
            m = mask[t, :, None]
            np.copyto(hs[t + 1], hs[t], where=~m)
            np.copyto(cs[t + 1], cs[t], where=~m)
    out = hs[1:].copy()
    if mask is not None:
        out *= mask[:, :, None]
    cache = Cache(x=x, hs=hs, cs=cs, tanh_cs=tanh_cs, gates=gates, mask=mask, W_ih=W_ih, W_hh=W_hh,
                  has_bias=b_ih is not None, peep=(w_ci, w_cf, w_co), coupled=coupled)
    return (out, hs[T], cs[T]), cache


def lstm_variant_backward(dout, dh_T, dc_T, cache):
    """dout (T, B, H); dh_T, dc_T (B, H) or None.

    Returns dx (T, B, D), dh0, dc0 (B, H), (dW_ih, dW_hh, db_ih, db_hh[, dw_ci, dw_cf, dw_co]).
    """
    cache.use("lstm_variant_backward")
    x, hs, cs, tanh_cs, gates, mask, W_ih, W_hh, has_bias, peep, coupled = (
        cache[k] for k in _SEQ_KEYS)
    T, B, D = x.shape
    H = W_hh.shape[1]
    da4 = np.empty((T, B, 4 * H), dtype=x.dtype)
    dh = np.zeros((B, H), x.dtype) if dh_T is None else np.array(dh_T, dtype=x.dtype)
    dc = np.zeros((B, H), x.dtype) if dc_T is None else np.array(dc_T, dtype=x.dtype)
    for t in reversed(range(T)):
        if mask is None:
            da4[t], dc = variant_pointwise_backward(dh + dout[t], dc, gates[t], cs[t], tanh_cs[t],
                                                    *peep, coupled)
            dh = _to_weight_blocks(da4[t], coupled) @ W_hh
        else:
            # a padded step is a copy: its da is zero and dh, dc pass straight back
            m = mask[t, :, None]
            da4[t], dc_step = variant_pointwise_backward(
                np.where(m, dh + dout[t], 0), np.where(m, dc, 0), gates[t], cs[t], tanh_cs[t],
                *peep, coupled)
            dc = np.where(m, dc_step, dc)
            dh = _to_weight_blocks(da4[t], coupled) @ W_hh + np.where(m, 0, dh)
    da = _to_weight_blocks(da4, coupled).reshape(T * B, -1)
    dW_ih = da.T @ x.reshape(T * B, D)
    dW_hh = da.T @ hs[:T].reshape(T * B, H)
    db = da.sum(axis=0) if has_bias else None
    dx = (da @ W_ih).reshape(T, B, D)
    grads = (dW_ih, dW_hh, db, db) + _peephole_grads(da4, cs[:T], cs[1:], *peep)
    return dx, dh, dc, grads
