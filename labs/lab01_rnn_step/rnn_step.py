"""Lab 01: one step of a vanilla RNN, forward and backward, and the tools to check it.

Fill in the four TODO blocks, in order. Check your work with

    pytest labs/lab01_rnn_step

Notation (the same as README.md). B = batch size, D = input size, H = hidden size.
A row of x is one example: x is (B, D), so "W x" in the equations is ``x @ W.T`` in code.

    a      = x W_ih^T + h_prev W_hh^T + b          (B, H)   pre-activation
    h      = tanh(a)                               (B, H)   new hidden state

Only NumPy is allowed here.
"""
import numpy as np


def rnn_step_forward(x, h_prev, W_ih, W_hh, b):
    """One time step of a tanh RNN.

    Inputs:
        x      (B, D)  input at this step
        h_prev (B, H)  hidden state from the previous step
        W_ih   (H, D)  input-to-hidden weights
        W_hh   (H, H)  hidden-to-hidden weights
        b      (H,)    bias
    Returns:
        h      (B, H)  next hidden state, same dtype as x
        cache          whatever rnn_step_backward needs (a tuple is fine)
    """
    # ======================== TODO 1: forward ========================
    # Compute a and h as in the equations above; store in cache what the
    # backward pass will need (hint: tanh'(a) can be written with h).
    raise NotImplementedError("TODO 1: rnn_step_forward")
    # ========================== END TODO 1 ============================


def numerical_gradient(f, x, dout=None, h=1e-5):
    """Central-difference gradient of f with respect to the array x.

    f is a function of NO arguments that reads x; perturb x IN PLACE, one entry at a time:

        grad[i] = (F(x + h e_i) - F(x - h e_i)) / (2 h)

    where F = f() if dout is None (f returns a scalar), else F = sum(f() * dout)
    (f returns an array of dout's shape: then grad is the gradient of that sum).
    Put every entry back exactly as it was.

    Inputs:
        f     function () -> float, or () -> array of dout's shape
        x     (any shape) float64 array that f reads
        dout  None, or the upstream gradient of f's output
        h     step size
    Returns:
        grad  array of x's shape
    """
    # ==================== TODO 2: numerical gradient ====================
    # Loop over every index of x (np.nditer with flags=["multi_index"], or
    # range(x.size) on x.reshape(-1), which is a view of x).
    raise NotImplementedError("TODO 2: numerical_gradient")
    # =========================== END TODO 2 =============================


def rel_error(a, b):
    """Largest relative error between two arrays of the same shape:

        max over entries of |a - b| / max(1e-8, |a| + |b|)

    Returns a Python float (0.0 when a == b, also when both are zero).
    """
    # ======================== TODO 3: rel_error =========================
    raise NotImplementedError("TODO 3: rel_error")
    # =========================== END TODO 3 =============================


def rnn_step_backward(dh, cache):
    """Backward pass of rnn_step_forward.

    Inputs:
        dh     (B, H)  gradient of the loss with respect to h
        cache          from rnn_step_forward
    Returns a tuple:
        dx      (B, D)
        dh_prev (B, H)
        dW_ih   (H, D)
        dW_hh   (H, H)
        db      (H,)

    Equations (README.md, "Backward"):
        da      = dh * (1 - h^2)
        dx      = da W_ih           dh_prev = da W_hh
        dW_ih   = da^T x            dW_hh   = da^T h_prev       db = sum over the batch of da
    """
    # ======================== TODO 4: backward ==========================
    raise NotImplementedError("TODO 4: rnn_step_backward")
    # =========================== END TODO 4 =============================


if __name__ == "__main__":
    # A quick self-check you can run with `python labs/lab01_rnn_step/rnn_step.py`
    # once TODO 1-4 are done (pytest does the real grading).
    rng = np.random.default_rng(0)
    B, D, H = 3, 5, 4
    x, h_prev = rng.standard_normal((B, D)), rng.standard_normal((B, H))
    W_ih, W_hh, b = rng.standard_normal((H, D)), rng.standard_normal((H, H)), rng.standard_normal(H)
    h, cache = rnn_step_forward(x, h_prev, W_ih, W_hh, b)
    dh = rng.standard_normal(h.shape)
    dx, dh_prev, dW_ih, dW_hh, db = rnn_step_backward(dh, cache)
    num = numerical_gradient(lambda: rnn_step_forward(x, h_prev, W_ih, W_hh, b)[0], W_hh, dh)
    print("dW_hh relative error:", rel_error(dW_hh, num), "(should be < 1e-6)")
