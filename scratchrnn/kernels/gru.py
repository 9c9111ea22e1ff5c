"""GRU: one step and a whole sequence, forward and backward (PyTorch gate order r, z, n).

Two forms (docs/theory/gru.md). Reset-after (PyTorch's, the default):

    r = sigma(W_ir x + b_ir + W_hr h_{t-1} + b_hr)
    z = sigma(W_iz x + b_iz + W_hz h_{t-1} + b_hz)
    hn = W_hn h_{t-1} + b_hn
    n = tanh(W_in x + b_in + r * hn)
    h_t = (1 - z) * n + z * h_{t-1}

Reset-before (the textbook form, Cho et al. 2014):

    n = tanh(W_in x + b_in + W_hn (r * h_{t-1}) + b_hn)

Backward, given dh_t:

    dn = dh_t * (1 - z)     dz = dh_t * (h_{t-1} - n)     da_n = dn * (1 - n^2)
    da_z = dz * z (1 - z)   da_r = dr * r (1 - r)
    reset-after:  dr = da_n * hn;            dhn = da_n * r
                  dh_{t-1} = dh_t * z + W_hr^T da_r + W_hz^T da_z + W_hn^T dhn
    reset-before: drh = W_hn^T da_n;         dr = drh * h_{t-1}
                  dh_{t-1} = dh_t * z + W_hr^T da_r + W_hz^T da_z + drh * r
"""
import numpy as np

from .activations import sigmoid


# ------------------------------------------------------------------ pointwise core
def gru_pointwise_forward(ax, ah, h_prev, gates, h):
    """Reset-after gates and new state.

    ax (B, 3H): input part of the pre-activations [x_r, x_z, x_n] (biases included);
    ah (B, 3H): recurrent part [h_r, h_z, hn] (b_hh included). Writes gates (B, 3H) =
    [r, z, n] and h (B, H).
    """
    H = h.shape[-1]
    rz = gates[:, :2 * H]
    np.add(ax[:, :2 * H], ah[:, :2 * H], out=rz)
    sigmoid(rz, out=rz)
    r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
    np.multiply(r, ah[:, 2 * H:], out=n)
    n += ax[:, 2 * H:]
    np.tanh(n, out=n)
    np.subtract(h_prev, n, out=h)       # h = n + z * (h_prev - n)
    h *= z
    h += n


def gru_pointwise_backward(dh, h_prev, gates, hn, dax, dah):
    """Reset-after: writes dax (B, 3H) and dah (B, 3H), the gradients of the input and
    recurrent pre-activations; returns the direct part dh * z of dh_{t-1}."""
    H = h_prev.shape[-1]
    r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
    da_n = dh * (1 - z) * (1 - n * n)
    dax[:, :H] = da_n * hn * r * (1 - r)                    # da_r
    dax[:, H:2 * H] = dh * (h_prev - n) * z * (1 - z)       # da_z
    dax[:, 2 * H:] = da_n
    dah[:, :2 * H] = dax[:, :2 * H]
    dah[:, 2 * H:] = da_n * r                               # dhn
    return dh * z


# ------------------------------------------------------------------ one step
def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, reset_after=True):
    """x (B, D), h_prev (B, H), W_ih (3H, D), W_hh (3H, H), b_* (3H,) -> h (B, H), cache."""
    H = h_prev.shape[-1]
    ax = x @ W_ih.T
    if b_ih is not None:
        ax += b_ih
    gates = np.empty_like(ax)
    h = np.empty_like(h_prev)
    if reset_after:
        ah = h_prev @ W_hh.T
        if b_hh is not None:
            ah += b_hh
        gru_pointwise_forward(ax, ah, h_prev, gates, h)
        return h, (x, h_prev, gates, ah[:, 2 * H:], W_ih, W_hh, b_ih is not None, True)
    rh = _reset_before_forward(ax, h_prev, W_hh, b_hh, gates, h)
    return h, (x, h_prev, gates, rh, W_ih, W_hh, b_ih is not None, False)


def gru_step_backward(dh, cache):
    """dh (B, H) -> dx (B, D), dh_prev (B, H), (dW_ih, dW_hh, db_ih, db_hh)."""
    x, h_prev, gates, hn_or_rh, W_ih, W_hh, has_bias, reset_after = cache
    dax = np.empty_like(gates)
    dah = np.empty_like(gates)
    if reset_after:
        dh_prev = gru_pointwise_backward(dh, h_prev, gates, hn_or_rh, dax, dah)
        dh_prev += dah @ W_hh
        dW_hh = dah.T @ h_prev
    else:
        dh_prev = _reset_before_backward(dh, h_prev, gates, W_hh, dax)
        dah = dax
        dW_hh = _reset_before_dW_hh(dax, h_prev, hn_or_rh)
    db_ih = dax.sum(axis=0) if has_bias else None
    db_hh = dah.sum(axis=0) if has_bias else None
    return dax @ W_ih, dh_prev, (dax.T @ x, dW_hh, db_ih, db_hh)


# ------------------------------------------------------------------ reset-before pieces
def _reset_before_forward(ax, h_prev, W_hh, b_hh, gates, h):
    """One reset-before step; ax (B, 3H) holds the input part incl. b_ih. Returns r * h_prev.

    r must exist before W_hn can act on r * h_prev, so this form needs two recurrent
    products per step (gates r, z first, then n).
    """
    H = h.shape[-1]
    rz = gates[:, :2 * H]
    np.matmul(h_prev, W_hh[:2 * H].T, out=rz)
    rz += ax[:, :2 * H]
    if b_hh is not None:
        rz += b_hh[:2 * H]
    sigmoid(rz, out=rz)
    r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
    rh = r * h_prev
    np.matmul(rh, W_hh[2 * H:].T, out=n)
    n += ax[:, 2 * H:]
    if b_hh is not None:
        n += b_hh[2 * H:]
    np.tanh(n, out=n)
    np.subtract(h_prev, n, out=h)
    h *= z
    h += n
    return rh


def _reset_before_backward(dh, h_prev, gates, W_hh, dax):
    """Writes dax (B, 3H) (= the recurrent pre-activation gradient too); returns dh_{t-1}."""
    H = h_prev.shape[-1]
    r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
    da_n = dh * (1 - z) * (1 - n * n)
    drh = da_n @ W_hh[2 * H:]
    dax[:, :H] = drh * h_prev * r * (1 - r)                 # da_r
    dax[:, H:2 * H] = dh * (h_prev - n) * z * (1 - z)       # da_z
    dax[:, 2 * H:] = da_n
    return dh * z + drh * r + dax[:, :2 * H] @ W_hh[:2 * H]


def _reset_before_dW_hh(da, h_prev, rh):
    """da (N, 3H), h_prev and rh (N, H) -> dW_hh (3H, H): r, z rows see h, n rows see r * h."""
    return np.concatenate([da[:, :-rh.shape[-1]].T @ h_prev, da[:, -rh.shape[-1]:].T @ rh])


# ------------------------------------------------------------------ a sequence
def gru_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, mask=None, reset_after=True):
    """Run the GRU over a whole sequence.

    x (T, B, D), h0 (B, H), mask (T, B) bool or None (False = padding: h carried over,
    output zero). Returns (out (T, B, H), h_T (B, H)), cache.
    """
    T, B, D = x.shape
    H = W_hh.shape[1]
    # All T input projections in one product. b_hr and b_hz add to the same sums as the
    # input part, so they are folded in here; b_hn sits inside r * (.) and cannot be.
    ax = (x.reshape(T * B, D) @ W_ih.T).reshape(T, B, 3 * H)
    if b_ih is not None:
        ax += b_ih
        ax[..., :2 * H] += b_hh[:2 * H]
        if not reset_after:
            ax[..., 2 * H:] += b_hh[2 * H:]
    gates = np.empty((T, B, 3 * H), dtype=x.dtype)
    hs = np.empty((T + 1, B, H), dtype=x.dtype)          # hs[t] = h_{t-1}, hs[0] = h0
    hs[0] = h0
    # reset-after keeps hn = W_hn h + b_hn per step; reset-before keeps r * h_{t-1}.
    extra = np.empty((T, B, H), dtype=x.dtype)
    ah = np.empty((B, 3 * H), dtype=x.dtype)
    for t in range(T):
        if reset_after:
            np.matmul(hs[t], W_hh.T, out=ah)
            if b_hh is not None:
                ah[:, 2 * H:] += b_hh[2 * H:]
            extra[t] = ah[:, 2 * H:]
            gru_pointwise_forward(ax[t], ah, hs[t], gates[t], hs[t + 1])
        else:
            extra[t] = _reset_before_forward(ax[t], hs[t], W_hh, None, gates[t], hs[t + 1])
        if mask is not None:
            np.copyto(hs[t + 1], hs[t], where=~mask[t, :, None])
    out = hs[1:].copy()
    if mask is not None:
        out *= mask[:, :, None]
    cache = (x, hs, gates, extra, mask, W_ih, W_hh, b_ih is not None, reset_after)
    return (out, hs[T]), cache


def gru_backward(dout, dh_T, cache):
    """dout (T, B, H), dh_T (B, H) or None -> dx (T, B, D), dh0 (B, H), param grads."""
    x, hs, gates, extra, mask, W_ih, W_hh, has_bias, reset_after = cache
    T, B, D = x.shape
    H = W_hh.shape[1]
    dax = np.empty((T, B, 3 * H), dtype=x.dtype)
    dah = np.empty((T, B, 3 * H), dtype=x.dtype) if reset_after else dax
    dh = np.zeros((B, H), x.dtype) if dh_T is None else np.array(dh_T, dtype=x.dtype)
    for t in reversed(range(T)):
        if mask is None:
            dh_t = dh + dout[t]
        else:
            m = mask[t, :, None]
            dh_t = np.where(m, dh + dout[t], 0)   # padding: output constant, dh passes back
        if reset_after:
            dh_prev = gru_pointwise_backward(dh_t, hs[t], gates[t], extra[t], dax[t], dah[t])
            dh_prev += dah[t] @ W_hh
        else:
            dh_prev = _reset_before_backward(dh_t, hs[t], gates[t], W_hh, dax[t])
        dh = dh_prev if mask is None else dh_prev + np.where(m, 0, dh)
    dax2 = dax.reshape(T * B, 3 * H)
    dah2 = dah.reshape(T * B, 3 * H)
    h_prev = hs[:T].reshape(T * B, H)
    dW_ih = dax2.T @ x.reshape(T * B, D)
    if reset_after:
        dW_hh = dah2.T @ h_prev
    else:
        dW_hh = _reset_before_dW_hh(dax2, h_prev, extra.reshape(T * B, H))
    db_ih = dax2.sum(axis=0) if has_bias else None
    db_hh = dah2.sum(axis=0) if has_bias else None
    dx = (dax2 @ W_ih).reshape(T, B, D)
    return dx, dh, (dW_ih, dW_hh, db_ih, db_hh)
