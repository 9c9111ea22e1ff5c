"""Lab 04: the GRU, one step and a whole sequence, forward and backward.

Fill in TODO 1-4 in order. Check your work with

    pytest labs/lab04_gru

Notation (the same as README.md). B batch, D input size, H hidden size, T time steps.
This is PyTorch's GRU: gates stacked in the order r, z, n, and the reset gate r multiplies
the RECURRENT part of the candidate after W_hn (so the two biases b_ih, b_hh differ for n):

    ax = x W_ih^T + b_ih        = [ax_r, ax_z, ax_n]      (B, 3H)  input part
    ah = h_prev W_hh^T + b_hh   = [ah_r, ah_z, ah_n]      (B, 3H)  recurrent part
    r  = sigmoid(ax_r + ah_r)                             reset gate
    z  = sigmoid(ax_z + ah_z)                             update gate
    n  = tanh(ax_n + r * ah_n)                            candidate state
    h  = (1 - z) * n + z * h_prev                         new state

Only NumPy is allowed here.
"""
import numpy as np


def sigmoid(x):
    """GIVEN. A sigmoid that never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    """One GRU step.

    Inputs:
        x (B, D), h_prev (B, H)
        W_ih (3H, D), W_hh (3H, H), b_ih (3H,), b_hh (3H,)   blocks in the order r, z, n
    Returns:
        h (B, H), cache
    """
    # ======================= TODO 1: gru_step_forward =================
    raise NotImplementedError("TODO 1: gru_step_forward")
    # ========================= END TODO 1 =============================


def gru_step_backward(dh, cache):
    """Backward pass of one GRU step.

    Inputs:  dh (B, H), cache
    Returns: dx (B, D), dh_prev (B, H), dW_ih (3H, D), dW_hh (3H, H), db_ih (3H,), db_hh (3H,)

    Equations (README.md, "Backward"):
        dn = dh * (1 - z)        dz = dh * (h_prev - n)       (direct part: dh * z to h_prev)
        dan = dn * (1 - n^2)                                  gradient of n's pre-activation
        dr  = dan * ah_n         dah_n = dan * r
        dar = dr * r (1 - r)     daz = dz * z (1 - z)
        dax = [dar, daz, dan]    dah = [dar, daz, dah_n]     (B, 3H) each
        dx = dax W_ih    dh_prev = dh * z + dah W_hh
        dW_ih = dax^T x  dW_hh = dah^T h_prev  db_ih = sum_b dax  db_hh = sum_b dah
    """
    # ======================= TODO 2: gru_step_backward ================
    raise NotImplementedError("TODO 2: gru_step_backward")
    # ========================= END TODO 2 =============================


def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    """A GRU over a whole sequence.

    Inputs:  x (T, B, D), h0 (B, H), weights as in gru_step_forward
    Returns: h (T, B, H) with h[t] = h_t, and cache.
    """
    # ======================== TODO 3: gru_forward =====================
    raise NotImplementedError("TODO 3: gru_forward")
    # ========================= END TODO 3 =============================


def gru_backward(dh, cache):
    """Backward through the whole sequence.

    Inputs:  dh (T, B, H): gradient w.r.t. every h_t from ABOVE only.
    Returns: dx (T, B, D), dh0 (B, H), dW_ih, dW_hh, db_ih, db_hh (summed over time).
    """
    # ======================== TODO 4: gru_backward ====================
    raise NotImplementedError("TODO 4: gru_backward")
    # ========================= END TODO 4 =============================
