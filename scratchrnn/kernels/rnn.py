"""Computes exactly what kernels/reference/rnn.py computes; arranged for speed as follows.

The vanilla (Elman) RNN, one step and a whole sequence, forward and backward, with the
reference's signatures and return values (tests/test_reference_kernels.py holds the two to
1e-12). The sequence kernels (docs/performance.md):

* the input projections W_ih x_t of all T steps are ONE matrix product before the loop;
  the loop does one (B, H) x (H, H) product per step, written straight into h_t's slot of
  the state buffer and activated there, in place;
* the biases cost no pass of their own: the state buffer carries a constant 1 after h
  (hs[t] = [h_{t-1}, 1]) and the recurrent weight a bias column ([W_hh, b_ih + b_hh]), so
  the per-step product adds both biases, and in backward the product that gives dW_hh
  also gives db (``_fast/layout.py``); calls with few rows (generation) add the bias to
  the projections instead;
* phi' is written with the output h (1 - h^2, or [h > 0]), so forward keeps no a_t;
* backward writes each step's da_t into one (T, B, H) buffer, so that dW_ih, dW_hh (with
  db) and dx are single large products after the loop; the large buffers are recycled
  between calls (``_fast/workspace.py``).

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

from ._fast import workspace as ws
from ._fast.folding import Gathered
from .cache import Cache
from ._fast.layout import bias_in_product, states_with_ones, weight_with_bias

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
    a = np.matmul(x, W_ih.T)
    a += np.matmul(h_prev, W_hh.T)
    if b_ih is not None:
        a += b_ih + b_hh
    h = _activate(a, nonlinearity, out=a)
    return h, Cache(x=x, h_prev=h_prev, h=h, W_ih=W_ih, W_hh=W_hh, has_bias=b_ih is not None,
                    nonlinearity=nonlinearity)


def rnn_step_backward(dh, cache):
    """dh (B, H) -> dx (B, D), dh_prev (B, H), (dW_ih, dW_hh, db_ih, db_hh)."""
    cache.use("rnn_step_backward")
    x, h_prev, h, W_ih, W_hh = (cache[k] for k in ("x", "h_prev", "h", "W_ih", "W_hh"))
    has_bias, nonlinearity = cache["has_bias"], cache["nonlinearity"]
    da = _activation_grad(dh, h, nonlinearity, out=np.empty_like(h))
    db = da.sum(axis=0) if has_bias else None
    return (np.matmul(da, W_ih), np.matmul(da, W_hh),
            (np.matmul(da.T, x), np.matmul(da.T, h_prev), db, db))


# ------------------------------------------------------------------ a sequence
def rnn_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None, nonlinearity="tanh"):
    """Run the RNN over a whole sequence.

    x (T, B, D), h0 (B, H), mask (T, B) bool or None: where mask[t, b] is False the
    step is padding, so h is carried over unchanged and the output is zero.
    Returns (out (T, B, H), h_T (B, H)), cache.

    All T input projections are one matrix product; each step's recurrent product, with
    both biases riding along in it (hs[t] = [h_{t-1}, 1], W = [W_hh, b_ih + b_hh]: see
    _fast/layout.py), is written straight into h_t's slot, then activated in place.
    """
    T, B, D = x.shape
    H = W_hh.shape[0]
    if isinstance(x, Gathered):                     # rnn_forward_gathered: looked up
        a = x.project()
    else:
        a = np.matmul(x.reshape(T * B, D), W_ih.T).reshape(T, B, H)
    hs = states_with_ones(T, B, H, x.dtype)
    hs[0, :, :H] = h0
    bias = None if b_ih is None else b_ih + b_hh
    if bias is not None and bias_in_product(T, B, H):
        W_T, h_in = weight_with_bias(W_hh, bias).T, hs
    else:                                           # few rows (generation): add it to them
        if bias is not None:
            a += bias
        W_T, h_in = W_hh.T, hs[:, :, :H]
    pad = None if mask is None else ~mask[:, :, None]
    for t in range(T):
        h = hs[t + 1, :, :H]
        np.matmul(h_in[t], W_T, out=h)
        h += a[t]
        _activate(h, nonlinearity, out=h)
        if pad is not None:
            np.copyto(hs[t + 1], hs[t], where=pad[t])
    out = a                                        # reuse the projection buffer
    if mask is None:
        np.copyto(out, hs[1:, :, :H])
    else:
        np.multiply(hs[1:, :, :H], mask[:, :, None], out=out)   # zero past each end
    cache = Cache(x=x, hs=hs, mask=mask, W_ih=W_ih, W_hh=W_hh, has_bias=b_ih is not None,
                     nonlinearity=nonlinearity)
    ws.give_back_when_dead(cache, hs)               # recycled for the next call
    return (out, hs[T, :, :H].copy()), cache


def rnn_forward_gathered(ids, table, h0, W_hh, b_ih=None, b_hh=None, mask=None,
                         nonlinearity="tanh"):
    """rnn_forward for token inputs with the embedding folded in (_fast/folding.py): ids
    (T, B) ints, table (V, H) = W_ih E^T, so that W_ih x_t = table[ids[t]] is looked up.
    rnn_backward on this cache returns the gradient of the table (V, H) in dx's place and
    None for dW_ih."""
    return rnn_forward(Gathered(ids, table), h0, None, W_hh, b_ih, b_hh, mask, nonlinearity)


def rnn_backward(dout, dh_T, cache):
    """dout (T, B, H), dh_T (B, H) or None -> dx (T, B, D), dh0 (B, H), param grads."""
    cache.use("rnn_backward")
    x, hs, mask, W_ih, W_hh = cache["x"], cache["hs"], cache["mask"], cache["W_ih"], cache["W_hh"]
    has_bias, nonlinearity = cache["has_bias"], cache["nonlinearity"]
    T, B, D = x.shape
    H = W_hh.shape[0]
    dt = x.dtype
    da = ws.empty((T, B, H), dt)
    dh = np.zeros((B, H), dtype=dt) if dh_T is None else np.array(dh_T, dtype=dt)
    if mask is None:
        for t in reversed(range(T)):
            dh += dout[t]
            _activation_grad(dh, hs[t + 1, :, :H], nonlinearity, out=da[t])
            np.matmul(da[t], W_hh, out=dh)
    else:
        # A padded step's output is a constant zero (its dout is ignored) and its state
        # is a copy of h_{t-1}, so dh passes straight back through it and its da is zero.
        valid = mask[:, :, None]
        keep = valid.astype(dt)
        dout = dout * keep
        rec = np.empty((B, H), dtype=dt)
        for t in reversed(range(T)):
            dh += dout[t]
            _activation_grad(dh, hs[t + 1, :, :H], nonlinearity, out=da[t])
            da[t] *= keep[t]
            np.matmul(da[t], W_hh, out=rec)
            np.copyto(dh, rec, where=valid[t])
    da2 = da.reshape(T * B, H)
    dW_hb = np.matmul(da2.T, hs[:T].reshape(T * B, H + 1))   # [dW_hh, db]: see _fast/layout.py
    db = dW_hb[:, H] if has_bias else None
    if isinstance(x, Gathered):     # the table's gradient in dx's place; dW_ih is the caller's
        dW_ih, dx = None, x.sum_by_id(da2)
    else:
        dW_ih = np.matmul(da2.T, x.reshape(T * B, D))
        dx = np.matmul(da2, W_ih).reshape(T, B, D)
    ws.give_back(da)
    return dx, dh, (dW_ih, dW_hb[:, :H], db, db)
