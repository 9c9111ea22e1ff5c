"""Inference without caches: one step for generation, and whole sequences under no_grad().

Two users, one idea (nothing kept for a backward, nothing allocated per step, one product per
step for all gates and the bias):

* generation feeds one token at a time at batch 1 (models/stepper.py), where a training
  kernel's bookkeeping (shape checks, caches, per-call buffers: dozens of NumPy calls of ~1 us
  each) costs more than the arithmetic. The weights are packed once,
  ``pack_*(W_ih, W_hh, b_ih, b_hh) -> W (D + 1 + H, G)`` with the biases as the middle row, so
  a step's pre-activations are ONE product of the row [x | 1 | h] with W; the columns of
  sigmoid gates are pre-scaled by 1/2 so ONE tanh call serves every gate,
  sigmoid(a) = (1 + tanh(a / 2)) / 2, and the LSTM's columns are reordered to i, f, o, g; the
  ``*_infer_step`` functions work in place on buffers the caller allocates once;
* the modules under no_grad() run ``rnn_infer``, ``lstm_infer``, ``gru_infer`` (below, "whole
  sequences"): the training kernels' forward loops without their caches.

The equations are those of the reference kernels (kernels/reference/, PyTorch's gate order and
GRU reset-after form); only the arrangement differs. tests/test_stepper.py and
tests/test_inference.py check the results against the modules to float64 round-off.
"""
import numpy as np

from ._fast import workspace as _ws
from ._fast.layout import bias_in_product, gate_blocks, states_with_ones
from .gru import gru_pointwise_forward


def _bias(b, G, dtype):
    return np.zeros(G, dtype) if b is None else b


def _stack(W_ih, b, W_hh):
    """Rows of x @ W, the bias row, rows of h @ W -> one (D + 1 + H, G) C-contiguous weight."""
    return np.vstack([W_ih, b[None], W_hh])


def pack_linear(W, b=None):
    """A Linear's W (O, D), b (O,) or None -> (D + 1, O): [x | 1] @ it = W x + b."""
    return np.vstack([W.T, _bias(b, W.shape[0], W.dtype)[None]])


# ------------------------------------------------------------------ vanilla RNN
def pack_rnn(W_ih, W_hh, b_ih=None, b_hh=None):
    """W_ih (H, D), W_hh (H, H), b_ih, b_hh (H,) or None -> W (D + 1 + H, H):
    a = [x | 1 | h] @ W = W_ih x + b_ih + b_hh + W_hh h."""
    H = W_hh.shape[0]
    b = _bias(b_ih, H, W_hh.dtype) + _bias(b_hh, H, W_hh.dtype)
    return _stack(W_ih.T, b, W_hh.T)


def rnn_infer_step(a, h, nonlinearity="tanh"):
    """a (B, H) pre-activations -> h (B, H) = tanh(a) (or relu(a)), written into h."""
    if nonlinearity == "tanh":
        np.tanh(a, out=h)
    else:
        np.maximum(a, 0, out=h)


# ------------------------------------------------------------------ LSTM
def pack_lstm(W_ih, W_hh, b_ih=None, b_hh=None):
    """PyTorch's (4H, D), (4H, H), (4H,) in gate order i, f, g, o -> W (D + 1 + H, 4H) with
    columns i/2, f/2, o/2, g: [x | 1 | h] @ W = the pre-activations a_i/2, a_f/2, a_o/2, a_g."""
    b = _bias(b_ih, W_hh.shape[0], W_hh.dtype) + _bias(b_hh, W_hh.shape[0], W_hh.dtype)
    return _stack(_ifog(W_ih).T, _ifog(b), _ifog(W_hh).T)


def _ifog(M):
    """Rows i, f, g, o of M (4H, ...) -> rows i/2, f/2, o/2, g."""
    i, f, g, o = np.split(M, 4)
    return np.concatenate([0.5 * i, 0.5 * f, 0.5 * o, g])


def lstm_infer_step(a, c, h, tmp):
    """a (B, 4H) packed pre-activations (overwritten), c (B, H) updated in place, h (B, H)
    written, tmp (B, H) scratch.

        i, f, o = sigmoid(a_i, a_f, a_o)   g = tanh(a_g)
        c = f * c + i * g                  h = o * tanh(c)
    """
    H = c.shape[-1]
    np.tanh(a, out=a)
    sig = a[:, :3 * H]
    sig *= 0.5
    sig += 0.5                                  # (1 + tanh(a/2)) / 2 = sigmoid(a)
    i, f, o, g = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    c *= f
    np.multiply(i, g, out=tmp)
    c += tmp
    np.tanh(c, out=tmp)
    np.multiply(o, tmp, out=h)


# ------------------------------------------------------------------ GRU (reset-after)
def pack_gru(W_ih, W_hh, b_ih=None, b_hh=None):
    """PyTorch's (3H, D), (3H, H), (3H,) in gate order r, z, n -> three weights, for three
    products on overlapping slices of the row [x | 1 | h]:

        [x | 1 | h] @ W_rz  (D + 1 + H, 2H) = [a_r/2, a_z/2]     (input and hidden parts summed)
        [x | 1]     @ W_nx  (D + 1, H)      = W_in x + b_in
        [1 | h]     @ W_nh  (1 + H, H)      = W_hn h + b_hn       (r multiplies this part only)
    """
    H = W_hh.shape[0] // 3
    b_i, b_h = _bias(b_ih, 3 * H, W_hh.dtype), _bias(b_hh, 3 * H, W_hh.dtype)
    W_rz = _stack(0.5 * W_ih[:2 * H].T, 0.5 * (b_i[:2 * H] + b_h[:2 * H]), 0.5 * W_hh[:2 * H].T)
    W_nx = np.vstack([W_ih[2 * H:].T, b_i[None, 2 * H:]])
    W_nh = np.vstack([b_h[None, 2 * H:], W_hh[2 * H:].T])
    return W_rz, W_nx, W_nh


def gru_infer_step(rz, n_x, n, h, tmp):
    """rz (B, 2H) = [a_r/2, a_z/2], n_x (B, H) = W_in x + b_in, n (B, H) = W_hn h + b_hn: all
    overwritten; h (B, H) updated in place, tmp (B, H) scratch.

        r, z = sigmoid(a_r, a_z)   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h = (1 - z) * n + z * h = n + z * (h - n)
    """
    H = h.shape[-1]
    np.tanh(rz, out=rz)
    rz *= 0.5
    rz += 0.5
    r, z = rz[:, :H], rz[:, H:]
    n *= r
    n += n_x
    np.tanh(n, out=n)
    np.subtract(h, n, out=tmp)
    tmp *= z
    np.add(n, tmp, out=h)


# ================================================================== whole sequences, no cache
# What the modules run under no_grad(): the training kernels' forward loops (rnn.py, lstm.py,
# gru.py: the same equations and, for the RNN and GRU, the same element-wise functions; the
# LSTM's with one tanh for all gates, _lstm_pointwise), so the same numbers to round-off,
# without anything kept for a backward. Per call: ONE product for the input projections of
# all T steps, then ONE product per step for all gates. Per step nothing is allocated: the
# gates of a step live in one small scratch block that stays in cache, instead of a
# (T, 4, B, H) history; c is updated in place. Three arrangements, by the size of the call:
#
# * many rows (T > 1, T B > H, ``bias_in_product``): feature-major, the bias riding in the
#   per-step product as a column of [W_hh, b] (below, _fm_*);
# * few rows (T B <= H): row-major as in the training kernels, the bias added to the rows
#   of the projections (building [W_hh, b] would cost more than it saves);
# * T = 1: no recurrence set-up at all (_one_step).
#
# Nothing is cached between calls: every call reads the parameters as they are, so an
# optimiser step, load_state_dict, ``p.data = ...`` and an in-place write through any
# reference to p.data (gradcheck perturbs entries that way) are all seen by the next call.
# Packing [W_hh, b] per call costs one pass over the weight against T B rows of products,
# and is done only when T B > H; generation packs nothing (docs/performance.md).


def _projections(x, W_ih, proj):
    """W_ih x_t for all T steps, (T, B, G): one product, or the caller's ``proj`` as it is."""
    if proj is not None:
        return proj
    T, B, D = x.shape
    return np.matmul(x.reshape(T * B, D), W_ih.T).reshape(T, B, W_ih.shape[0])


def _recurrence(proj, h0, W_hh, bias, H):
    """Few rows (T B <= H): the state buffer hs (T + 1, B, H + 1), hs[t] = [h_{t-1}, 1],
    hs[0] from h0, and the per-step product's operands (h_in[t] @ W_T = W_hh h_{t-1}); the
    bias is added to ``proj`` (pass the columns it belongs to), packing would cost more."""
    T, B = proj.shape[:2]
    hs = states_with_ones(T, B, H, proj.dtype)
    hs[0, :, :H] = h0
    if bias is not None:
        proj += bias
    return hs, hs[:, :, :H], W_hh.T


# Many rows (T > 1, T B > H): feature-major. The state is kept as (H + 1, B) columns
# [h; 1], the input projections of all steps as one (G, T B) product W_ih X^T, and each
# step's product is [W_hh, b] (G, H + 1) times the state: the weight row-major, as stored,
# and each gate block of the (G, B) result is contiguous without a copy. Measured here
# (docs/performance.md) this runs a layer 9-13% faster than the row-major arrangement,
# transposes of the output included.
def _fm_projections(x, W_ih, proj):
    """(G, T B), column t B + b = W_ih x_t[b]: one product, or a view of the caller's proj."""
    if proj is not None:
        T, B, G = proj.shape
        return proj.reshape(T * B, G).T
    T, B, D = x.shape
    return np.matmul(W_ih, x.reshape(T * B, D).T)


def _fm_states(T, B, H, h0, dtype):
    """hs (T + 1, H + 1, B), hs[t] = [h_{t-1}; 1] column-wise, hs[0] from h0 (B, H)."""
    hs = _ws.empty((T + 1, H + 1, B), dtype)
    hs[:, H] = 1
    hs[0, :H] = h0.T
    return hs


def _fm_weight(W_hh, bias):
    """[W_hh, b] (G, H + 1), row-major: times [h; 1] it is W_hh h + b."""
    G, H = W_hh.shape
    W = np.empty((G, H + 1), W_hh.dtype)
    W[:, :H] = W_hh
    W[:, H] = 0 if bias is None else bias
    return W


def _fm_finish(hs, mask, H):
    """out (T, B, H) (zero at padding) and h_T (B, H), fresh, from the state buffer, which
    goes back to the pool."""
    T, B = hs.shape[0] - 1, hs.shape[2]
    out = np.empty((T, B, H), hs.dtype)
    states = hs[1:, :H].transpose(0, 2, 1)
    if mask is None:
        np.copyto(out, states)
    else:
        np.multiply(states, mask[:, :, None], out=out)
    h_T = hs[T, :H].T.copy()
    _ws.give_back(hs)
    return out, h_T


def _fm_sizes(x, proj, H):
    """T, B and whether the call takes the feature-major arrangement."""
    T, B = (x if proj is None else proj).shape[:2]
    return T, B, T > 1 and bias_in_product(T, B, H)


def _finish(hs, mask, H):
    """out (T, B, H) (zero at padding) and h_T from the state buffer, which goes back to the
    pool (only fresh arrays escape)."""
    out = hs[1:, :, :H]
    out = out.copy() if mask is None else np.multiply(out, mask[:, :, None])
    h_T = hs[-1, :, :H].copy()
    _ws.give_back(hs)
    return out, h_T


def _one_step(proj, h0, W_hh, b_ih, b_hh):
    """T = 1 (a decoder's or a user's step-by-step loop): the pre-activations W_ih x + b_ih +
    W_hh h0 + b_hh as one (B, G) array, with no buffer set up for a recurrence (at B = 1 the
    set-up would cost more than the step's arithmetic). A length mask is all True at T = 1."""
    a = proj[0]
    a += np.matmul(h0, W_hh.T)
    if b_ih is not None:
        a += b_ih
        a += b_hh
    return a


def rnn_infer(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None, nonlinearity="tanh",
              proj=None):
    """rnn_forward without the cache: x (T, B, D) (or proj (T, B, H) = W_ih x_t given, whose
    buffer is then used), h0 (B, H), mask (T, B) or None -> out (T, B, H), h_T (B, H)."""
    H = W_hh.shape[0]
    if _fm_sizes(x, proj, H)[2]:
        return _rnn_feature_major(x, h0, W_ih, W_hh, b_ih, b_hh, mask, nonlinearity, proj)
    proj = _projections(x, W_ih, proj)
    if proj.shape[0] == 1:
        h = _one_step(proj, h0, W_hh, b_ih, b_hh)
        if nonlinearity == "tanh":
            np.tanh(h, out=h)
        else:
            np.maximum(h, 0, out=h)
        return h[None], h
    bias = None if b_ih is None else b_ih + b_hh
    hs, h_in, W_T = _recurrence(proj, h0, W_hh, bias, H)
    pad = None if mask is None else ~mask[:, :, None]
    for t in range(proj.shape[0]):
        h = hs[t + 1, :, :H]
        np.matmul(h_in[t], W_T, out=h)
        h += proj[t]
        if nonlinearity == "tanh":
            np.tanh(h, out=h)
        else:
            np.maximum(h, 0, out=h)
        if pad is not None:
            np.copyto(hs[t + 1], hs[t], where=pad[t])
    return _finish(hs, mask, H)


def _rnn_feature_major(x, h0, W_ih, W_hh, b_ih, b_hh, mask, nonlinearity, proj):
    H = W_hh.shape[0]
    T, B, _ = _fm_sizes(x, proj, H)
    P = _fm_projections(x, W_ih, proj)
    hs = _fm_states(T, B, H, h0, P.dtype)
    W = _fm_weight(W_hh, None if b_ih is None else b_ih + b_hh)
    pad = None if mask is None else ~mask[:, None, :]
    for t in range(T):
        h = hs[t + 1, :H]
        np.matmul(W, hs[t], out=h)
        h += P[:, t * B:(t + 1) * B]
        if nonlinearity == "tanh":
            np.tanh(h, out=h)
        else:
            np.maximum(h, 0, out=h)
        if pad is not None:
            np.copyto(hs[t + 1], hs[t], where=pad[t])
    return _fm_finish(hs, mask, H)


def _lstm_pointwise(g, c, tmp, h):
    """lstm_pointwise_forward with one transcendental for all four gates: g (4, B, H), the
    pre-activations [a_i, a_f, a_g, a_o] as gate blocks (overwritten with the gates), c (B, H)
    updated in place, h (B, H) written, tmp (B, H) scratch. sigmoid(a) = (1 + tanh(a / 2)) / 2,
    so ONE tanh call serves every gate (as in lstm_infer_step): on this machine's float32 a
    tanh is cheaper than the exp the training kernels' sigmoid uses, and there are fewer
    passes (docs/performance.md)."""
    i_f, o = g[:2], g[3]
    i_f *= 0.5
    o *= 0.5
    np.tanh(g, out=g)
    for s in (i_f, o):
        s *= 0.5
        s += 0.5
    c *= g[1]
    np.multiply(g[0], g[2], out=tmp)
    c += tmp
    np.tanh(c, out=tmp)
    np.multiply(o, tmp, out=h)


def lstm_infer(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None, proj=None):
    """lstm_forward without the cache: x (T, B, D) (or proj (T, B, 4H) given), h0, c0 (B, H),
    mask (T, B) or None -> out (T, B, H), h_T, c_T (B, H)."""
    H = W_hh.shape[1]
    if _fm_sizes(x, proj, H)[2]:
        return _lstm_feature_major(x, h0, c0, W_ih, W_hh, b_ih, b_hh, mask, proj)
    proj = _projections(x, W_ih, proj)
    T, B = proj.shape[:2]
    c = np.array(c0, dtype=proj.dtype)                  # updated in place, returned
    tanh_c = np.empty((B, H), proj.dtype)
    if T == 1:
        a = _one_step(proj, h0, W_hh, b_ih, b_hh)
        h = np.empty((B, H), proj.dtype)
        g = gate_blocks(a, 4)
        _lstm_pointwise(g if B == 1 else np.ascontiguousarray(g), c, tanh_c, h)
        return h[None], h, c
    hs, h_in, W_T = _recurrence(proj, h0, W_hh, None if b_ih is None else b_ih + b_hh, H)
    a = np.empty((B, 4 * H), proj.dtype)
    # Gate-major scratch: the add that joins the two parts of the pre-activations writes
    # each gate as one contiguous block (lstm.py: 3x faster element-wise work). At B = 1 the
    # column blocks of a are contiguous already.
    g = a.reshape(4, 1, H) if B == 1 else np.empty((4, B, H), proj.dtype)
    pad = None if mask is None else ~mask[:, :, None]
    c_prev = None if mask is None else np.empty_like(c)
    for t in range(T):
        np.matmul(h_in[t], W_T, out=a)
        np.add(gate_blocks(a, 4), gate_blocks(proj[t], 4), out=g)
        if pad is not None:
            np.copyto(c_prev, c)
        _lstm_pointwise(g, c, tanh_c, hs[t + 1, :, :H])
        if pad is not None:
            np.copyto(hs[t + 1], hs[t], where=pad[t])
            np.copyto(c, c_prev, where=pad[t])
    out, h_T = _finish(hs, mask, H)
    return out, h_T, c


def _lstm_feature_major(x, h0, c0, W_ih, W_hh, b_ih, b_hh, mask, proj):
    T, B, _ = _fm_sizes(x, proj, W_hh.shape[1])
    G, H = W_hh.shape
    P = _fm_projections(x, W_ih, proj)
    hs = _fm_states(T, B, H, h0, P.dtype)
    W = _fm_weight(W_hh, None if b_ih is None else b_ih + b_hh)
    c = np.array(np.transpose(c0), dtype=P.dtype, order="C")     # (H, B), a copy
    a = np.empty((G, B), P.dtype)
    g = a.reshape(4, H, B)                      # each gate one contiguous block
    tmp = np.empty((H, B), P.dtype)
    pad = None if mask is None else ~mask[:, None, :]
    c_prev = None if mask is None else np.empty_like(c)
    for t in range(T):
        np.matmul(W, hs[t], out=a)
        a += P[:, t * B:(t + 1) * B]
        if pad is not None:
            np.copyto(c_prev, c)
        _lstm_pointwise(g, c, tmp, hs[t + 1, :H])
        if pad is not None:
            np.copyto(hs[t + 1], hs[t], where=pad[t])
            np.copyto(c, c_prev, where=pad[t])
    out, h_T = _fm_finish(hs, mask, H)
    return out, h_T, c.T.copy()


def gru_infer(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None, proj=None):
    """gru_forward (reset-after) without the cache: x (T, B, D) (or proj (T, B, 3H) given),
    h0 (B, H), mask (T, B) or None -> out (T, B, H), h_T (B, H)."""
    H = W_hh.shape[1]
    if _fm_sizes(x, proj, H)[2]:
        return _gru_feature_major(x, h0, W_ih, W_hh, b_ih, b_hh, mask, proj)
    proj = _projections(x, W_ih, proj)
    T, B = proj.shape[:2]
    gates = np.empty((3, B, H), proj.dtype)
    if T == 1:
        ax, ah = proj[0], np.matmul(h0, W_hh.T)
        if b_ih is not None:
            ax += b_ih
            ah += b_hh
        h = np.empty((B, H), proj.dtype)
        gru_pointwise_forward(ax, ah, h0, gates, h)
        return h[None], h
    bias = None
    if b_ih is not None:                # as in gru.py: b_in outside r * (.), the rest in the product
        proj[:, :, 2 * H:] += b_ih[2 * H:]
        bias = b_hh.copy()
        bias[:2 * H] += b_ih[:2 * H]
    b_hn = None                         # r multiplies b_hn: added per step if not in the product
    if bias is not None and not bias_in_product(T, B, H):
        proj[:, :, :2 * H] += bias[:2 * H]
        bias, b_hn = None, bias[2 * H:]
    hs, h_in, W_T = _recurrence(proj, h0, W_hh, bias, H)
    ah = np.empty((B, 3 * H), proj.dtype)
    pad = None if mask is None else ~mask[:, :, None]
    for t in range(T):
        np.matmul(h_in[t], W_T, out=ah)
        if b_hn is not None:
            ah[:, 2 * H:] += b_hn
        gru_pointwise_forward(proj[t], ah, hs[t, :, :H], gates, hs[t + 1, :, :H])
        if pad is not None:
            np.copyto(hs[t + 1], hs[t], where=pad[t])
    return _finish(hs, mask, H)


def _gru_feature_major(x, h0, W_ih, W_hh, b_ih, b_hh, mask, proj):
    T, B, _ = _fm_sizes(x, proj, W_hh.shape[1])
    H = W_hh.shape[1]
    P = _fm_projections(x, W_ih, proj)
    bias = None
    if b_ih is not None:                # as in gru.py: b_in outside r * (.), the rest in the product
        P[2 * H:] += b_ih[2 * H:, None]
        bias = b_hh.copy()
        bias[:2 * H] += b_ih[:2 * H]
    hs = _fm_states(T, B, H, h0, P.dtype)
    W = _fm_weight(W_hh, bias)
    ah = np.empty((3 * H, B), P.dtype)
    gates = np.empty((3, H, B), P.dtype)
    pad = None if mask is None else ~mask[:, None, :]
    for t in range(T):
        np.matmul(W, hs[t], out=ah)
        gru_pointwise_forward(P[:, t * B:(t + 1) * B].reshape(3, H, B), ah.reshape(3, H, B),
                              hs[t, :H], gates, hs[t + 1, :H])
        if pad is not None:
            np.copyto(hs[t + 1], hs[t], where=pad[t])
    return _fm_finish(hs, mask, H)
