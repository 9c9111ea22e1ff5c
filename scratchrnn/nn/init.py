"""Initialisers. Each fills an array in place and returns it.

PyTorch's default for recurrent layers is U(-1/sqrt(H), 1/sqrt(H)) on every weight and bias;
Xavier and orthogonal are applied per gate block, since each block is its own H-row map.
"""
import numpy as np


def uniform_(a, bound, rng):
    a[...] = rng.uniform(-bound, bound, size=a.shape)
    return a


def xavier_uniform_(a, rng, gain=1.0):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_out, fan_in = a.shape
    return uniform_(a, gain * np.sqrt(6.0 / (fan_in + fan_out)), rng)


def orthogonal_(a, rng, gain=1.0):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one (Saxe et al., 2014)."""
    rows, cols = a.shape
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))          # makes the distribution uniform over orthogonal matrices
    a[...] = gain * (q if rows >= cols else q.T)
    return a


def init_recurrent_(weights, hidden_size, gates, rng, scheme="uniform", forget_bias=None):
    """Initialise one layer's (weight_ih, weight_hh, bias_ih, bias_hh) arrays in place.

    scheme: "uniform" (PyTorch's default), "xavier" (both weights) or "orthogonal"
    (xavier for weight_ih, orthogonal for weight_hh). forget_bias (LSTM only): bias_ih's
    forget block is set to it and bias_hh's to 0, so the gate starts at sigma(forget_bias).
    """
    W_ih, W_hh, b_ih, b_hh = weights
    H = hidden_size
    if scheme == "uniform":
        for a in weights:
            if a is not None:
                uniform_(a, 1.0 / np.sqrt(H), rng)
    elif scheme in ("xavier", "orthogonal"):
        for g in range(gates):
            xavier_uniform_(W_ih[g * H:(g + 1) * H], rng)
            (orthogonal_ if scheme == "orthogonal" else xavier_uniform_)(W_hh[g * H:(g + 1) * H], rng)
        for b in (b_ih, b_hh):
            if b is not None:
                b[...] = 0
    else:
        raise ValueError(f"init must be 'uniform', 'xavier' or 'orthogonal', got {scheme!r}")
    if forget_bias is not None:
        if gates != 4:
            raise ValueError("forget_bias applies to LSTM layers only")
        if b_ih is None:
            raise ValueError("forget_bias needs bias=True")
        b_ih[H:2 * H] = forget_bias
        b_hh[H:2 * H] = 0
