"""Lab 03: the LSTM, one step and a whole sequence, forward and backward.

Fill in TODO 1-4 in order. Check your work with

    pytest labs/lab03_lstm

Notation (the same as README.md). B batch, D input size, H hidden size, T time steps
(a sequence is time first: x (T, B, D), x[t] is the batch at step t = 0 .. T-1).
The four gates share one weight matrix, stacked in the order i, f, g, o (as in PyTorch):

    a   = x W_ih^T + h_prev W_hh^T + b             (B, 4H)
    a_i = a[:, 0:H]   a_f = a[:, H:2H]   a_g = a[:, 2H:3H]   a_o = a[:, 3H:4H]
    i = sigmoid(a_i)  f = sigmoid(a_f)   g = tanh(a_g)       o = sigmoid(a_o)
    c = f * c_prev + i * g                          (B, H)  cell state
    h = o * tanh(c)                                 (B, H)  hidden state

Only NumPy is allowed here.
"""
import numpy as np


def sigmoid(x):
    """GIVEN. A sigmoid that never overflows: 1 / (1 + exp(-x)) overflows for x < -710."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b):
    """One LSTM step.

    Inputs:
        x      (B, D)
        h_prev (B, H), c_prev (B, H)
        W_ih   (4H, D), W_hh (4H, H), b (4H,)    gate blocks in the order i, f, g, o
    Returns:
        h (B, H), c (B, H), cache
    """
    # ====================== TODO 1: lstm_step_forward =================
    raise NotImplementedError("TODO 1: lstm_step_forward")
    # ========================= END TODO 1 =============================


def lstm_step_backward(dh, dc, cache):
    """Backward pass of one LSTM step.

    Inputs:
        dh (B, H)   gradient of the loss w.r.t. h (from above and from step t+1)
        dc (B, H)   gradient w.r.t. c from step t+1 (zeros at the last step)
        cache       from lstm_step_forward
    Returns:
        dx (B, D), dh_prev (B, H), dc_prev (B, H), dW_ih (4H, D), dW_hh (4H, H), db (4H,)

    Equations (README.md, "Backward"):
        do  = dh * tanh(c)
        dct = dc + dh * o * (1 - tanh(c)^2)          total gradient of c
        di  = dct * g     df = dct * c_prev     dg = dct * i     dc_prev = dct * f
        da_i = di * i (1 - i)   da_f = df * f (1 - f)   da_g = dg * (1 - g^2)   da_o = do * o (1 - o)
        da  = [da_i, da_f, da_g, da_o]   (B, 4H), then as in the RNN:
        dx = da W_ih    dh_prev = da W_hh    dW_ih = da^T x    dW_hh = da^T h_prev    db = sum_b da
    """
    # ====================== TODO 2: lstm_step_backward ================
    raise NotImplementedError("TODO 2: lstm_step_backward")
    # ========================= END TODO 2 =============================


def lstm_forward(x, h0, c0, W_ih, W_hh, b):
    """An LSTM over a whole sequence.

    Inputs:  x (T, B, D), h0 (B, H), c0 (B, H), W_ih (4H, D), W_hh (4H, H), b (4H,)
    Returns: h (T, B, H) with h[t] = h_t, and cache.
    """
    # ======================= TODO 3: lstm_forward =====================
    raise NotImplementedError("TODO 3: lstm_forward")
    # ========================= END TODO 3 =============================


def lstm_backward(dh, cache):
    """Backward through the whole sequence.

    Inputs:  dh (T, B, H): gradient w.r.t. every h_t from ABOVE only (not from step t+1).
    Returns: dx (T, B, D), dh0 (B, H), dc0 (B, H), dW_ih (4H, D), dW_hh (4H, H), db (4H,)

    Two gradients flow back in time. dh_next and dc_next (B, H) are what step t+1 sends
    back to step t: the dh_prev and dc_prev its lstm_step_backward returned (zeros at the
    last step t = T-1). Going from t = T-1 down to 0, step t gets

        lstm_step_backward(dh[t] + dh_next, dc_next, cache_t)

    (h_t feeds the loss above it AND step t+1; c_t feeds only step t+1). The weight
    gradients are sums over t; dh0 and dc0 are what step 0 sends back.
    """
    # ======================= TODO 4: lstm_backward ====================
    raise NotImplementedError("TODO 4: lstm_backward")
    # ========================= END TODO 4 =============================
