"""Computes exactly what kernels/reference/gru.py computes; arranged for speed as follows.

The GRU (PyTorch gate order r, z, n), one step and a whole sequence, forward and backward,
both forms, with the reference's signatures and return values (tests/test_reference_kernels.py
holds the two to 1e-12). The sequence kernels (docs/performance.md), as in lstm.py:

* all input projections ax = W_ih x_t + b_ih are one product before the loop; one product
  per step gives the recurrent part ah (reset-after; reset-before needs two, since r must
  exist before W_hn can act on r * h_{t-1});
* reset-after: b_hh and b_ir, b_iz ride in the recurrent product through a bias column
  (hs[t] = [h_{t-1}, 1], ``_fast/layout.py``); b_in sits outside r * (.) and is added to the
  projections. Reset-before: every bias adds outside the products, so b_ih + b_hh is added
  to the projections once;
* no allocation inside the time loop, and the large buffers are recycled between calls
  (``_fast/workspace.py``);
* the sequence kernel keeps a step's gates gate-major, (3, B, H), so that each gate is a
  contiguous block (NumPy's element-wise work is about three times faster on contiguous
  arrays than on column slices); the pointwise functions accept either layout
  (``gate_blocks``);
* reset-after backward keeps each step's gradients in one (T, B, 4H) buffer
  dg = [da_r, da_z, dhn, da_n]: its first 3H columns are dah, the recurrent gradient in
  W_hh's row order (so one product per step gives dh_{t-1}, and one product after the loop
  gives dW_hh with db_hh), and [da_r, da_z] with da_n are dax, the input gradient, so the
  weight and input gradients are a few large products after the loop.

The equations (docs/theory/gru.md; the same names in the reference):

    ax = W_ih x_t + b_ih = [ax_r, ax_z, ax_n]

Reset-after (PyTorch's, the default):

    ah = W_hh h_{t-1} + b_hh = [ah_r, ah_z, hn]
    r = sigma(ax_r + ah_r)     z = sigma(ax_z + ah_z)
    n = tanh(ax_n + r * hn)
    h_t = (1 - z) * n + z * h_{t-1}

Reset-before (the textbook form, Cho et al. 2014):

    ah_r = W_hr h_{t-1} + b_hr     ah_z = W_hz h_{t-1} + b_hz
    rh = r * h_{t-1}
    n = tanh(ax_n + W_hn rh + b_hn)

Backward, given dh_t:

    dn = dh_t * (1 - z)     dz = dh_t * (h_{t-1} - n)     da_n = dn * (1 - n^2)
    da_z = dz * z (1 - z)   da_r = dr * r (1 - r)          dax = [da_r, da_z, da_n]
    reset-after:  dr = da_n * hn;            dhn = da_n * r;   dah = [da_r, da_z, dhn]
                  dh_{t-1} = dh_t * z + W_hr^T da_r + W_hz^T da_z + W_hn^T dhn
    reset-before: drh = W_hn^T da_n;         dr = drh * h_{t-1}
                  dh_{t-1} = dh_t * z + W_hr^T da_r + W_hz^T da_z + drh * r
"""
import numpy as np

from ._fast import workspace as ws
from ._fast.folding import Gathered
from .cache import Cache
from ._fast.layout import bias_in_product, gate_blocks, states_with_ones, weight_with_bias
from .activations import sigmoid


# ------------------------------------------------------------------ pointwise core
def gru_pointwise_forward(ax, ah, h_prev, gates, h):
    """Reset-after gates and new state.

    ax: input part of the pre-activations [ax_r, ax_z, ax_n]; ah: recurrent part
    [ah_r, ah_z, hn]; each (B, 3H) or gate-major (3, B, H) (see ``gate_blocks``). The r and
    z biases may sit in either (only ax_r + ah_r and ax_z + ah_z are used); b_in must be in
    ax_n and b_hn in hn, which r multiplies. Writes gates [r, z, n] (either layout; must not
    overlap ``ax``) and h (B, H).
    """
    ax, ah, g = gate_blocks(ax, 3), gate_blocks(ah, 3), gate_blocks(gates, 3)
    r, z, n = g
    rz = g[:2]
    np.add(ax[:2], ah[:2], out=rz)
    sigmoid(rz, out=rz)
    np.multiply(r, ah[2], out=n)        # r * hn
    n += ax[2]
    np.tanh(n, out=n)
    np.subtract(h_prev, n, out=h)       # h = n + z * (h_prev - n)
    h *= z
    h += n


def gru_pointwise_backward(dh, h_prev, gates, hn, dg):
    """Reset-after, one step's element-wise part.

    dh (B, H): gradient w.r.t. h_t; gates = [r, z, n], (B, 3H) or gate-major (3, B, H);
    hn (B, H). Writes dg = [da_r, da_z, dhn, da_n], (B, 4H) or gate-major (4, B, H):
    [da_r, da_z, dhn] is dah, the gradient of the recurrent pre-activations [ah_r, ah_z, hn],
    and [da_r, da_z, da_n] is dax, that of the input ones [ax_r, ax_z, ax_n]. ``dh`` is
    overwritten with dh * z, the direct part of dh_{t-1}.
    """
    r, z, n = gate_blocks(gates, 3)
    da_r, da_z, dhn, da_n = gate_blocks(dg, 4)
    np.subtract(1, z, out=da_n)                # scratch: 1 - z
    # da_z = dh * (h_prev - n) * z (1 - z)
    np.subtract(h_prev, n, out=da_z)
    da_z *= dh
    da_z *= z
    da_z *= da_n
    # da_n = dh * (1 - z) * (1 - n^2)
    da_n *= dh
    np.multiply(n, n, out=dhn)
    np.subtract(1, dhn, out=dhn)
    da_n *= dhn
    # dhn = da_n * r
    np.multiply(da_n, r, out=dhn)
    # da_r = da_n * hn * r (1 - r)
    np.subtract(1, r, out=da_r)
    da_r *= r
    da_r *= hn
    da_r *= da_n
    dh *= z


# ------------------------------------------------------------------ one step
def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, reset_after=True):
    """x (B, D), h_prev (B, H), W_ih (3H, D), W_hh (3H, H), b_* (3H,) -> h (B, H), cache."""
    H = h_prev.shape[-1]
    ax = np.matmul(x, W_ih.T)
    if b_ih is not None:
        ax += b_ih
    gates = np.empty_like(ax)
    h = np.empty_like(ax, shape=h_prev.shape)
    if reset_after:
        ah = np.matmul(h_prev, W_hh.T)
        if b_hh is not None:
            ah += b_hh
        gru_pointwise_forward(ax, ah, h_prev, gates, h)
        return h, Cache(x=x, h_prev=h_prev, gates=gates, hn=ah[:, 2 * H:], W_ih=W_ih, W_hh=W_hh,
                        has_bias=b_ih is not None, reset_after=True)
    rh = np.empty_like(h)
    _reset_before_forward(ax, h_prev, W_hh, b_hh, gates, h, rh)
    return h, Cache(x=x, h_prev=h_prev, gates=gates, rh=rh, W_ih=W_ih, W_hh=W_hh,
                    has_bias=b_ih is not None, reset_after=False)


def gru_step_backward(dh, cache):
    """dh (B, H) -> dx (B, D), dh_prev (B, H), (dW_ih, dW_hh, db_ih, db_hh)."""
    cache.use("gru_step_backward")
    x, h_prev, gates, W_ih, W_hh = (cache[k] for k in ("x", "h_prev", "gates", "W_ih", "W_hh"))
    has_bias, reset_after = cache["has_bias"], cache["reset_after"]
    hn_or_rh = cache["hn"] if reset_after else cache["rh"]
    B, H = h_prev.shape
    dh = np.array(dh, dtype=gates.dtype)              # overwritten below
    if reset_after:
        dg = np.empty((B, 4 * H), dtype=gates.dtype)
        gru_pointwise_backward(dh, h_prev, gates, hn_or_rh, dg)
        dah, dax = dg[:, :3 * H], _input_grad(dg, H)
        dh += np.matmul(dah, W_hh)
        dW_hh = np.matmul(dah.T, h_prev)
    else:
        dax = np.empty_like(gates)
        drh = np.empty_like(dh)
        _reset_before_backward(dh, h_prev, gates, W_hh, dax, drh)
        dah = dax
        dW_hh = _reset_before_dW_hh(dax, h_prev, hn_or_rh)
    db_ih = dax.sum(axis=0) if has_bias else None
    db_hh = dah.sum(axis=0) if has_bias else None
    return np.matmul(dax, W_ih), dh, (np.matmul(dax.T, x), dW_hh, db_ih, db_hh)


def _input_grad(dg, H):
    """[da_r, da_z, da_n] from dg = [da_r, da_z, dhn, da_n] (a copy, for the step API)."""
    return np.concatenate([dg[..., :2 * H], dg[..., 3 * H:]], axis=-1)


# ------------------------------------------------------------------ reset-before pieces
def _reset_before_forward(ax, h_prev, W_hh, b_hh, gates, h, rh):
    """One reset-before step; ax (B, 3H) holds the input part incl. b_ih (``gates`` may
    be ``ax``). Writes gates, h and rh = r * h_prev.

    r must exist before W_hn can act on r * h_prev, so this form needs two recurrent
    products per step (gates r, z first, then n).
    """
    H = h.shape[-1]
    if gates is not ax:
        np.copyto(gates, ax)
    rz = gates[:, :2 * H]
    rz += np.matmul(h_prev, W_hh[:2 * H].T)
    if b_hh is not None:
        rz += b_hh[:2 * H]
    sigmoid(rz, out=rz)
    r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
    np.multiply(r, h_prev, out=rh)
    np.matmul(rh, W_hh[2 * H:].T, out=h)          # h is scratch until the last lines
    n += h
    if b_hh is not None:
        n += b_hh[2 * H:]
    np.tanh(n, out=n)
    np.subtract(h_prev, n, out=h)
    h *= z
    h += n


def _reset_before_backward(dh, h_prev, gates, W_hh, dax, drh):
    """Writes dax (B, 3H) (= the recurrent pre-activation gradient too) and overwrites dh
    with dh_{t-1}; drh (B, H) is scratch."""
    H = h_prev.shape[-1]
    r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
    da_r, da_z, da_n = dax[:, :H], dax[:, H:2 * H], dax[:, 2 * H:]
    # da_z = dh * (h_prev - n) * z (1 - z); da_r is scratch for 1 - z
    np.subtract(1, z, out=da_r)
    np.subtract(h_prev, n, out=da_z)
    da_z *= dh
    da_z *= z
    da_z *= da_r
    # da_n = dh * (1 - z) * (1 - n^2)
    np.multiply(dh, da_r, out=da_n)
    np.multiply(n, n, out=da_r)
    np.subtract(1, da_r, out=da_r)
    da_n *= da_r
    # drh = W_hn^T da_n;  da_r = drh * h_prev * r (1 - r)
    np.matmul(da_n, W_hh[2 * H:], out=drh)
    np.subtract(1, r, out=da_r)
    da_r *= r
    da_r *= h_prev
    da_r *= drh
    # dh_{t-1} = dh * z + drh * r + W_hr^T da_r + W_hz^T da_z
    dh *= z
    drh *= r
    dh += drh
    dh += np.matmul(dax[:, :2 * H], W_hh[:2 * H])


def _reset_before_dW_hh(da, h_prev, rh):
    """da (N, 3H), h_prev and rh (N, H) -> dW_hh (3H, H): r, z rows see h, n rows see r * h."""
    H = rh.shape[-1]
    dW = np.empty((3 * H, H), dtype=da.dtype)
    np.matmul(da[:, :2 * H].T, h_prev, out=dW[:2 * H])
    np.matmul(da[:, 2 * H:].T, rh, out=dW[2 * H:])
    return dW


# ------------------------------------------------------------------ a sequence
def gru_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None, reset_after=True):
    """Run the GRU over a whole sequence.

    x (T, B, D), h0 (B, H), mask (T, B) bool or None (False = padding: h carried over,
    output zero). Returns (out (T, B, H), h_T (B, H)), cache.
    """
    if not reset_after:
        return _reset_before_sequence(x, h0, W_ih, W_hh, b_ih, b_hh, mask)
    T, B, D = x.shape
    H = W_hh.shape[1]
    dt = x.dtype
    # One (T + 1)-slot buffer: slots 1..T hold the input projections of all T steps (one
    # product); slot t then receives the gates of step t, gate-major, written over the
    # projection of step t - 1, already used.
    buf = ws.empty((T + 1, 3 * B * H), dt)
    proj = buf[1:].reshape(T, B, 3 * H)
    gates = buf[:T].reshape(T, 3, B, H)
    if isinstance(x, Gathered):                     # gru_forward_gathered: looked up
        x.project(out=proj)
    else:
        np.matmul(x.reshape(T * B, D), W_ih.T, out=proj.reshape(T * B, 3 * H))
    # Biases: b_hr, b_hz and b_hn ride along in the recurrent product (hs[t] = [h_{t-1}, 1],
    # see _fast/layout.py), and so do b_ir, b_iz, which add to the same sums. b_in sits outside
    # r * (.), so it is added to the projections' n block.
    hs = states_with_ones(T, B, H, dt)
    hs[0, :, :H] = h0
    hn = ws.empty((T, B, H), dt)                    # hn = W_hn h_{t-1} + b_hn, for backward
    ah = np.empty((B, 3 * H), dtype=dt)
    b_hn = None                                     # added per step when not in the product
    W_T, h_in = W_hh.T, hs[:, :, :H]
    if b_ih is not None:
        proj[:, :, 2 * H:] += b_ih[2 * H:]
        bias = b_hh.copy()
        bias[:2 * H] += b_ih[:2 * H]
        if bias_in_product(T, B, H):
            W_T, h_in = weight_with_bias(W_hh, bias).T, hs
        else:                                       # few rows (generation): add to them
            proj[:, :, :2 * H] += bias[:2 * H]
            b_hn = bias[2 * H:]
    pad = None if mask is None else ~mask[:, :, None]
    for t in range(T):
        np.matmul(h_in[t], W_T, out=ah)             # ah = [ah_r, ah_z, hn] (+ b_ir, b_iz)
        if b_hn is not None:
            ah[:, 2 * H:] += b_hn
        np.copyto(hn[t], ah[:, 2 * H:])
        gru_pointwise_forward(proj[t], ah, hs[t, :, :H], gates[t], hs[t + 1, :, :H])
        if pad is not None:
            np.copyto(hs[t + 1], hs[t], where=pad[t])
    out = hs[1:, :, :H]
    out = out.copy() if mask is None else np.multiply(out, mask[:, :, None])
    cache = Cache(x=x, hs=hs, gates=gates, hn=hn, mask=mask, W_ih=W_ih, W_hh=W_hh,
                     has_bias=b_ih is not None, reset_after=True)
    ws.give_back_when_dead(cache, buf, hs, hn)      # recycled for the next call
    return (out, hs[T, :, :H].copy()), cache


def _reset_before_sequence(x, h0, W_ih, W_hh, b_ih, b_hh, mask):
    """gru_forward for reset_after=False (two recurrent products per step)."""
    T, B, D = x.shape
    H = W_hh.shape[1]
    dt = x.dtype
    # All input projections in one product; here every bias adds outside the products,
    # so b_ih and b_hh are folded in once. The gates are then computed in place.
    gates = np.matmul(x.reshape(T * B, D), W_ih.T).reshape(T, B, 3 * H)
    if b_ih is not None:
        gates += b_ih + b_hh
    hs = np.empty((T + 1, B, H), dtype=dt)          # hs[t] = h_{t-1}, hs[0] = h0
    hs[0] = h0
    rh = np.empty((T, B, H), dtype=dt)              # r * h_{t-1}, for backward
    pad = None if mask is None else ~mask[:, :, None]
    for t in range(T):
        _reset_before_forward(gates[t], hs[t], W_hh, None, gates[t], hs[t + 1], rh[t])
        if pad is not None:
            np.copyto(hs[t + 1], hs[t], where=pad[t])
    out = hs[1:].copy() if mask is None else np.multiply(hs[1:], mask[:, :, None])
    cache = Cache(x=x, hs=hs, gates=gates, rh=rh, mask=mask, W_ih=W_ih, W_hh=W_hh,
                     has_bias=b_ih is not None, reset_after=False)
    return (out, hs[T].copy()), cache


def gru_forward_gathered(ids, table, h0, W_hh, b_ih=None, b_hh=None, mask=None):
    """gru_forward (reset-after) for token inputs with the embedding folded in
    (_fast/folding.py): ids (T, B) ints, table (V, 3H) = W_ih E^T, so that W_ih x_t =
    table[ids[t]] is looked up. gru_backward on this cache returns the gradient of the
    table (V, 3H) in dx's place and None for dW_ih."""
    return gru_forward(Gathered(ids, table), h0, None, W_hh, b_ih, b_hh, mask)


def gru_backward(dout, dh_T, cache):
    """dout (T, B, H), dh_T (B, H) or None -> dx (T, B, D), dh0 (B, H), param grads."""
    cache.use("gru_backward")
    x, hs, gates, mask = cache["x"], cache["hs"], cache["gates"], cache["mask"]
    W_ih, W_hh, has_bias, reset_after = cache["W_ih"], cache["W_hh"], cache["has_bias"], cache["reset_after"]
    extra = cache["hn"] if reset_after else cache["rh"]     # what the n gate's backward needs
    T, B, D = x.shape
    H = W_hh.shape[1]
    N = T * B
    dt = x.dtype
    dh = np.zeros((B, H), dt) if dh_T is None else np.array(dh_T, dtype=dt)
    rec = np.empty((B, H), dt)
    if mask is not None:
        valid = mask[:, :, None]
        pad = ~valid
        keep = valid.astype(dt)
        dout = dout * keep              # a padded step's output is constant: dout ignored
        dh_pad = np.empty((B, H), dt)
    if not reset_after:
        return _reset_before_sequence_backward(dout, dh, cache, None if mask is None else (keep, pad))
    dg = ws.empty((T, B, 4 * H), dt)                 # [da_r, da_z, dhn, da_n] per step
    dg_t = ws.empty((4, B, H), dt)                   # one step's, gate-major
    for t in reversed(range(T)):
        dh += dout[t]
        if mask is not None:
            np.copyto(dh_pad, dh)
        gru_pointwise_backward(dh, hs[t, :, :H], gates[t], extra[t], dg_t)   # dh <- dh * z
        if mask is not None:
            dg_t *= keep[t]
        np.copyto(gate_blocks(dg[t], 4), dg_t)
        np.matmul(dg[t, :, :3 * H], W_hh, out=rec)
        dh += rec
        if mask is not None:            # padding: the state was copied, dh passes back
            np.copyto(dh, dh_pad, where=pad[t])
    dg2 = dg.reshape(N, 4 * H)
    dW_hb = np.matmul(dg2[:, :3 * H].T, hs[:T].reshape(N, H + 1))   # [dW_hh, db_hh]
    if isinstance(x, Gathered):     # the table's gradient in dx's place; dW_ih is the caller's
        dW_ih, dx = None, np.empty((x.table.shape[0], 3 * H), dt)
        x.sum_by_id(dg2[:, :2 * H], out=dx[:, :2 * H])
        x.sum_by_id(dg2[:, 3 * H:], out=dx[:, 2 * H:])
    else:
        x2 = x.reshape(N, D)
        dW_ih = np.empty_like(W_ih)
        np.matmul(dg2[:, :2 * H].T, x2, out=dW_ih[:2 * H])
        np.matmul(dg2[:, 3 * H:].T, x2, out=dW_ih[2 * H:])
        dx = np.matmul(dg2[:, :2 * H], W_ih[:2 * H])
        dx += np.matmul(dg2[:, 3 * H:], W_ih[2 * H:])
        dx = dx.reshape(T, B, D)
    if has_bias:
        db_hh = dW_hb[:, H]
        db_ih = np.concatenate([db_hh[:2 * H], np.matmul(np.ones(N, dt), dg2[:, 3 * H:])])
    else:
        db_ih = db_hh = None
    ws.give_back(dg, dg_t)
    return dx, dh, (dW_ih, dW_hb[:, :H], db_ih, db_hh)


def _reset_before_sequence_backward(dout, dh, cache, masking):
    """gru_backward for reset_after=False; masking is None or (keep, pad) (T, B, 1)."""
    x, hs, gates, rh = cache["x"], cache["hs"], cache["gates"], cache["rh"]
    W_ih, W_hh, has_bias = cache["W_ih"], cache["W_hh"], cache["has_bias"]
    T, B, D = x.shape
    H = W_hh.shape[1]
    dt = x.dtype
    dax = np.empty((T, B, 3 * H), dtype=dt)
    drh = np.empty((B, H), dt)
    dh_pad = np.empty((B, H), dt)
    for t in reversed(range(T)):
        dh += dout[t]
        if masking is not None:
            np.copyto(dh_pad, dh)
        _reset_before_backward(dh, hs[t], gates[t], W_hh, dax[t], drh)
        if masking is not None:
            keep, pad = masking
            dax[t] *= keep[t]
            np.copyto(dh, dh_pad, where=pad[t])
    dax2 = dax.reshape(T * B, 3 * H)
    dW_ih = np.matmul(dax2.T, x.reshape(T * B, D))
    dW_hh = _reset_before_dW_hh(dax2, hs[:T].reshape(T * B, H), rh.reshape(T * B, H))
    db = dax2.sum(axis=0) if has_bias else None
    dx = np.matmul(dax2, W_ih).reshape(T, B, D)
    return dx, dh, (dW_ih, dW_hh, db, db)
