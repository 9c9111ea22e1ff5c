"""One step of a recurrent layer for generation: no cache, no allocation, one product per layer.

Generating text feeds one token at a time at batch 1, where a training kernel's bookkeeping
(shape checks, caches, per-call buffers: dozens of NumPy calls of ~1 us each) costs more than
the arithmetic. These kernels are the inference-only fast path (docs/performance.md):

* the weights are packed once, ``pack_*(W_ih, W_hh, b_ih, b_hh) -> W (D + 1 + H, G)``, with
  the biases as the middle row, so that a step's pre-activations are ONE product of the row
  [x | 1 | h] with W (the caller keeps the constant 1 between x and h);
* the columns of sigmoid gates are pre-scaled by 1/2, so ONE tanh call serves every gate,
  sigmoid(a) = (1 + tanh(a / 2)) / 2, and the LSTM's columns are reordered to i, f, o, g so
  the three sigmoid gates are one contiguous block;
* the ``*_infer_step`` functions work in place on buffers the caller allocates once.

The equations are those of the training kernels (rnn.py, lstm.py, gru.py, PyTorch's gate
order and GRU reset-after form); only the arrangement differs. tests/test_stepper.py checks
the results against the modules to float64 round-off.
"""
import numpy as np


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
