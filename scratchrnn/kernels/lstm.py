"""Computes exactly what kernels/reference/lstm.py computes; arranged for speed as follows.

The LSTM (PyTorch gate order i, f, g, o), one step and a whole sequence, forward and
backward, with the reference's signatures and return values (tests/test_reference_kernels.py
holds the two to 1e-12). The sequence kernels (docs/performance.md):

* the input projections W_ih x_t of all T steps are ONE matrix product before the loop;
  the loop does one (B, H) x (H, 4H) product per step for all four gates;
* the biases cost no pass of their own: the state buffer carries a constant 1 after h and
  the recurrent weight a bias column, so the per-step product adds b_ih + b_hh, and in
  backward the product that gives dW_hh also gives db (``_fast/layout.py``);
* all element-wise work of a step runs over whole blocks, in place, into buffers allocated
  once per call (nothing is allocated inside the time loop; the large buffers are
  recycled between calls, ``_fast/workspace.py``);
* the gates of a step are stored gate-major, (4, B, H): each gate is then one contiguous
  (B, H) block, and NumPy runs element-wise work on contiguous arrays about three times
  faster than on the (B, H) column slices of a (B, 4H) array. The pointwise functions
  accept either layout (``gate_blocks``);
* one ``sigmoid`` call computes all four gates: g = tanh(a_g) = 2 sigma(2 a_g) - 1;
* forward keeps exactly what backward needs (gates, c_t, tanh(c_t), h_t), and backward
  recomputes nothing;
* backward writes each step's da_t into one (T, B, 4H) buffer, so that dW_ih, dW_hh (with
  db) and dx are single large products after the loop.

One (T + 1)-slot buffer holds, in turn, the input projections (slots 1..T), the gates
(slot t holds step t's, written over the projection of step t - 1, already used) and da
(slot t + 1 holds da_t, written over the gates of step t + 1, which backward has already
used). So a forward cache can be backpropagated only once.

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

from ._fast import workspace as ws
from ._fast.folding import Gathered
from .cache import Cache
from ._fast.layout import bias_in_product, gate_blocks, states_with_ones, weight_with_bias
from .activations import sigmoid, tanh_via_sigmoid_


# ------------------------------------------------------------------ pointwise core
def lstm_pointwise_forward(a, c_prev, c, tanh_c, h):
    """Gates and new state from pre-activations, in place.

    a: the pre-activations [a_i, a_f, a_g, a_o], (B, 4H) or gate-major (4, B, H) (see
    ``gate_blocks``), overwritten with the gates [i, f, g, o]; writes c (B, H),
    tanh_c = tanh(c) (B, H) and h (B, H).
    """
    i, f, g, o = gate_blocks(a, 4)
    g *= 2                                 # g = tanh(a_g) = 2 sigma(2 a_g) - 1, so that ...
    sigmoid(a, out=a)                      # ... one call gives all four gates
    tanh_via_sigmoid_(g)
    np.multiply(f, c_prev, out=c)
    np.multiply(i, g, out=tanh_c)          # tanh_c is scratch for i * g here
    c += tanh_c
    np.tanh(c, out=tanh_c)
    np.multiply(o, tanh_c, out=h)


def lstm_pointwise_backward(dh, dc, gates, c_prev, tanh_c, da):
    """Gradient through one step's element-wise part.

    dh, dc (B, H): gradients w.r.t. h_t and c_t; gates = [i, f, g, o], (B, 4H) or
    gate-major (4, B, H); writes da (either layout), the gradient w.r.t. the
    pre-activations, and returns dc_{t-1}. ``dc`` is updated in place (it becomes
    dc_{t-1} and is returned); ``dh`` is not changed. ``da`` must not overlap ``gates``:
    its blocks are the only scratch space used.
    """
    i, f, g, o = gate_blocks(gates, 4)
    da_i, da_f, da_g, da_o = gate_blocks(da, 4)
    # dc = dc_t + dh * o * (1 - tanh(c)^2)          (da_i is scratch)
    np.multiply(tanh_c, tanh_c, out=da_i)
    np.subtract(1, da_i, out=da_i)
    da_i *= o
    da_i *= dh
    dc += da_i
    # da_o = dh * tanh(c) * o (1 - o)
    np.subtract(1, o, out=da_o)
    da_o *= o
    da_o *= tanh_c
    da_o *= dh
    # da_i = dc * g * i (1 - i)
    np.subtract(1, i, out=da_i)
    da_i *= i
    da_i *= g
    da_i *= dc
    # da_g = dc * i * (1 - g^2)
    np.multiply(g, g, out=da_g)
    np.subtract(1, da_g, out=da_g)
    da_g *= i
    da_g *= dc
    # da_f = dc * c_{t-1} * f (1 - f)
    np.subtract(1, f, out=da_f)
    da_f *= f
    da_f *= c_prev
    da_f *= dc
    # dc_{t-1} = dc * f
    dc *= f
    return dc


# ------------------------------------------------------------------ one step
def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih=None, b_hh=None):
    """x (B, D), h_prev, c_prev (B, H), W_ih (4H, D), W_hh (4H, H), b_* (4H,).

    Returns (h, c) each (B, H), and the cache for ``lstm_step_backward``.
    """
    a = np.matmul(x, W_ih.T)
    a += np.matmul(h_prev, W_hh.T)
    if b_ih is not None:
        a += b_ih + b_hh
    c, tanh_c, h = (np.empty_like(a, shape=c_prev.shape) for _ in range(3))
    lstm_pointwise_forward(a, c_prev, c, tanh_c, h)
    return (h, c), Cache(x=x, h_prev=h_prev, c_prev=c_prev, gates=a, tanh_c=tanh_c, W_ih=W_ih,
                         W_hh=W_hh, has_bias=b_ih is not None)


def lstm_step_backward(dh, dc, cache):
    """dh, dc (B, H) -> dx (B, D), (dh_prev, dc_prev), (dW_ih, dW_hh, db_ih, db_hh)."""
    cache.use("lstm_step_backward")
    x, h_prev, c_prev, gates, tanh_c, W_ih, W_hh, has_bias = (
        cache[k] for k in ("x", "h_prev", "c_prev", "gates", "tanh_c", "W_ih", "W_hh", "has_bias"))
    da = np.empty_like(gates)
    dc_prev = lstm_pointwise_backward(dh, np.array(dc, dtype=gates.dtype), gates, c_prev,
                                      tanh_c, da)
    db = da.sum(axis=0) if has_bias else None
    return (np.matmul(da, W_ih), (np.matmul(da, W_hh), dc_prev),
            (np.matmul(da.T, x), np.matmul(da.T, h_prev), db, db))


# ------------------------------------------------------------------ a sequence
def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None):
    """Run the LSTM over a whole sequence.

    x (T, B, D), h0, c0 (B, H), mask (T, B) bool or None: where mask[t, b] is False the
    step is padding, so (h, c) are carried over unchanged and the output is zero.
    Returns (out (T, B, H), h_T, c_T), cache.
    """
    T, B, D = x.shape
    H = W_hh.shape[1]
    dt = x.dtype
    buf = ws.empty((T + 1, 4 * B * H), dt)          # see the module docstring
    proj = buf[1:].reshape(T, B, 4 * H)             # slots 1..T: input projections, ...
    gates = buf[:T].reshape(T, 4, B, H)             # ... slot t: gates of step t, gate-major
    # All T input projections in one product. The biases ride along in the recurrent
    # product: hs[t] = [h_{t-1}, 1] and W = [W_hh, b_ih + b_hh] (see _fast/layout.py).
    if isinstance(x, Gathered):                     # lstm_forward_gathered: looked up
        x.project(out=proj)
    else:
        np.matmul(x.reshape(T * B, D), W_ih.T, out=proj.reshape(T * B, 4 * H))
    hs = states_with_ones(T, B, H, dt)              # hs[t] = [h_{t-1}, 1], hs[0] from h0
    bias = None if b_ih is None else b_ih + b_hh
    if bias is not None and bias_in_product(T, B, H):
        W_T, h_in = weight_with_bias(W_hh, bias).T, hs
    else:                                           # few rows (generation): add it to them
        if bias is not None:
            proj += bias
        W_T, h_in = W_hh.T, hs[:, :, :H]
    cs = ws.empty((T + 1, B, H), dt)                # cs[t] = c_{t-1}, cs[0] = c0
    tanh_cs = ws.empty((T, B, H), dt)
    hs[0, :, :H], cs[0] = h0, c0
    a = np.empty((B, 4 * H), dtype=dt)
    pad = None if mask is None else ~mask[:, :, None]
    for t in range(T):
        np.matmul(h_in[t], W_T, out=a)              # a_t = W_hh h_{t-1} + b, then ...
        a += proj[t]                                # ... + W_ih x_t
        np.copyto(gates[t], gate_blocks(a, 4))      # gate-major
        lstm_pointwise_forward(gates[t], cs[t], cs[t + 1], tanh_cs[t], hs[t + 1, :, :H])
        if pad is not None:
            np.copyto(hs[t + 1], hs[t], where=pad[t])
            np.copyto(cs[t + 1], cs[t], where=pad[t])
    if mask is None:
        out = hs[1:, :, :H].copy()
    else:
        out = np.multiply(hs[1:, :, :H], mask[:, :, None])
    cache = Cache(x=x, hs=hs, cs=cs, tanh_cs=tanh_cs, buf=buf, mask=mask, W_ih=W_ih,
                  W_hh=W_hh, has_bias=b_ih is not None)
    ws.give_back_when_dead(cache, buf, hs, cs, tanh_cs)   # recycled for the next call
    return (out, hs[T, :, :H].copy(), cs[T].copy()), cache


def lstm_forward_gathered(ids, table, h0, c0, W_hh, b_ih=None, b_hh=None, mask=None):
    """lstm_forward for token inputs with the embedding folded in (_fast/folding.py): ids
    (T, B) ints, table (V, 4H) = W_ih E^T, so that W_ih x_t = table[ids[t]] is looked up.
    lstm_backward on this cache returns the gradient of the table (V, 4H) in dx's place
    and None for dW_ih."""
    return lstm_forward(Gathered(ids, table), h0, c0, None, W_hh, b_ih, b_hh, mask)


def lstm_backward(dout, dh_T, dc_T, cache):
    """dout (T, B, H); dh_T, dc_T (B, H) or None.

    Returns dx (T, B, D), dh0 (B, H), dc0 (B, H), (dW_ih, dW_hh, db_ih, db_hh).
    """
    cache.use("lstm_backward")
    x, hs, cs, tanh_cs, buf = cache["x"], cache["hs"], cache["cs"], cache["tanh_cs"], cache["buf"]
    mask, W_ih, W_hh = cache["mask"], cache["W_ih"], cache["W_hh"]
    T, B, D = x.shape
    H = W_hh.shape[1]
    dt = x.dtype
    gates = buf[:T].reshape(T, 4, B, H)
    da = buf[1:].reshape(T, B, 4 * H)   # da[t] overwrites gates[t + 1], used before step t
    da_t = ws.empty((4, B, H), dt)                # one step's da, gate-major
    dh = np.zeros((B, H), dt) if dh_T is None else np.array(dh_T, dtype=dt)
    dc = np.zeros((B, H), dt) if dc_T is None else np.array(dc_T, dtype=dt)
    if mask is None:
        for t in reversed(range(T)):
            dh += dout[t]
            dc = lstm_pointwise_backward(dh, dc, gates[t], cs[t], tanh_cs[t], da_t)
            np.copyto(gate_blocks(da[t], 4), da_t)
            np.matmul(da[t], W_hh, out=dh)
    else:
        # A padded step's output is a constant zero (its dout is ignored) and its state
        # is a copy of the previous one, so dh and dc pass straight back through it and
        # its da is zero.
        valid = mask[:, :, None]
        pad = ~valid
        keep = valid.astype(dt)
        dout_valid = np.multiply(dout, keep, out=ws.empty(dout.shape, dt))
        dc_pad = np.empty((B, H), dt)
        rec = np.empty((B, H), dt)
        for t in reversed(range(T)):
            dh += dout_valid[t]
            np.copyto(dc_pad, dc)
            dc = lstm_pointwise_backward(dh, dc, gates[t], cs[t], tanh_cs[t], da_t)
            np.copyto(dc, dc_pad, where=pad[t])
            da_t *= keep[t]
            np.copyto(gate_blocks(da[t], 4), da_t)
            np.matmul(da[t], W_hh, out=rec)
            np.copyto(dh, rec, where=valid[t])
    da2 = da.reshape(T * B, 4 * H)
    dW_hb = np.matmul(da2.T, hs[:T].reshape(T * B, H + 1))   # [dW_hh, db]: see _fast/layout.py
    dW_hh = dW_hb[:, :H]
    db = dW_hb[:, H] if cache["has_bias"] else None
    if isinstance(x, Gathered):     # the table's gradient in dx's place; dW_ih is the caller's
        dW_ih, dx = None, x.sum_by_id(da2)
    else:
        dW_ih = np.matmul(da2.T, x.reshape(T * B, D))
        dx = np.matmul(da2, W_ih).reshape(T, B, D)
    ws.give_back(da_t, dout_valid if mask is not None else None)
    return dx, dh, dc, (dW_ih, dW_hh, db, db)
