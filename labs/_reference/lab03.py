"""Lab 03 reference: LSTM step and sequence, forward and backward, by the library's reference
kernel (scratchrnn/kernels/reference/lstm.py, the readable twin of the fast kernels/lstm.py).

Gate order i, f, g, o (PyTorch's); the lab's single bias b is the kernel's b_ih with b_hh = 0."""
import numpy as np

from scratchrnn.kernels import reference as K
from scratchrnn.kernels.activations import sigmoid as _sigmoid

__all__ = ["sigmoid", "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward"]


def sigmoid(x):
    return _sigmoid(np.asarray(x))


def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b):
    """x (B, D), h_prev, c_prev (B, H), W_ih (4H, D), W_hh (4H, H), b (4H,) -> h, c, cache."""
    (h, c), cache = K.lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b, np.zeros_like(b))
    return h, c, cache


def lstm_step_backward(dh, dc, cache):
    """dh, dc (B, H) -> dx, dh_prev, dc_prev, dW_ih, dW_hh, db."""
    dx, (dh_prev, dc_prev), (dW_ih, dW_hh, db, _) = K.lstm_step_backward(dh, dc, cache)
    return dx, dh_prev, dc_prev, dW_ih, dW_hh, db


def lstm_forward(x, h0, c0, W_ih, W_hh, b):
    """x (T, B, D), h0, c0 (B, H) -> h (T, B, H), cache."""
    (h, _, _), cache = K.lstm_forward(x, h0, c0, W_ih, W_hh, b, np.zeros_like(b))
    return h, cache


def lstm_backward(dh, cache):
    """dh (T, B, H) -> dx (T, B, D), dh0, dc0 (B, H), dW_ih, dW_hh, db."""
    dx, dh0, dc0, (dW_ih, dW_hh, db, _) = K.lstm_backward(dh, None, None, cache)
    return dx, dh0, dc0, dW_ih, dW_hh, db
