"""Lab 01 reference: one RNN step, numerical gradient, relative error.

The step is the library's reference kernel (scratchrnn/kernels/reference/rnn.py), the
readable twin of the fast kernels/rnn.py: the lab mirrors the reference."""
import numpy as np

from scratchrnn import gradcheck
from scratchrnn.kernels import reference as K

__all__ = ["rnn_step_forward", "rnn_step_backward", "numerical_gradient", "rel_error"]


def rnn_step_forward(x, h_prev, W_ih, W_hh, b):
    """x (B, D), h_prev (B, H), W_ih (H, D), W_hh (H, H), b (H,) -> h (B, H), cache.

    The lab has one bias b; the kernel has PyTorch's two (b_ih + b_hh), so b_hh = 0.
    """
    return K.rnn_step_forward(x, h_prev, W_ih, W_hh, b, np.zeros_like(b))


def rnn_step_backward(dh, cache):
    """dh (B, H) -> dx (B, D), dh_prev (B, H), dW_ih (H, D), dW_hh (H, H), db (H,)."""
    dx, dh_prev, (dW_ih, dW_hh, db, _) = K.rnn_step_backward(dh, cache)
    return dx, dh_prev, dW_ih, dW_hh, db


def numerical_gradient(f, x, dout=None, h=1e-5):
    """Central differences of f() (or of sum(f() * dout)) w.r.t. x, perturbed in place."""
    return gradcheck.numerical_gradient(f, x, eps=h, dout=dout)


def rel_error(a, b):
    """max |a - b| / max(1e-8, |a| + |b|), a float."""
    return gradcheck.rel_error(a, b)
