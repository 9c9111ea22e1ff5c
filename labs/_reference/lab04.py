"""Lab 04 reference: GRU step and sequence, forward and backward, by the library's reference
kernel (scratchrnn/kernels/reference/gru.py, the readable twin of the fast kernels/gru.py).

PyTorch's GRU (gate order r, z, n; reset applied after W_hn, so two biases b_ih and b_hh)."""
import numpy as np

from scratchrnn.kernels import reference as K
from scratchrnn.kernels.activations import sigmoid as _sigmoid

__all__ = ["sigmoid", "gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward"]


def sigmoid(x):
    return _sigmoid(np.asarray(x))


def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    """x (B, D), h_prev (B, H), W_ih (3H, D), W_hh (3H, H), b_ih, b_hh (3H,) -> h, cache."""
    return K.gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh, reset_after=True)


def gru_step_backward(dh, cache):
    """dh (B, H) -> dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh."""
    dx, dh_prev, (dW_ih, dW_hh, db_ih, db_hh) = K.gru_step_backward(dh, cache)
    return dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh


def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    """x (T, B, D), h0 (B, H) -> h (T, B, H), cache."""
    (h, _), cache = K.gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh, reset_after=True)
    return h, cache


def gru_backward(dh, cache):
    """dh (T, B, H) -> dx (T, B, D), dh0 (B, H), dW_ih, dW_hh, db_ih, db_hh."""
    dx, dh0, (dW_ih, dW_hh, db_ih, db_hh) = K.gru_backward(dh, None, cache)
    return dx, dh0, dW_ih, dW_hh, db_ih, db_hh
