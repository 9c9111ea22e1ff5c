"""Lab 02: backpropagation through time (BPTT), a temporal affine layer, a masked temporal
softmax loss; then why gradients vanish or explode, and clip-by-norm.

Fill in TODO 1-8 in order. Check your work with

    pytest labs/lab02_bptt

Run the experiment (TODO 8) with  python labs/lab02_bptt/bptt.py  (it writes grad_norms.png).

Notation (the same as README.md): T time steps, B batch, D input size, H hidden size,
V number of classes (vocabulary size). Sequences are time-major: x[t] is the batch at step t.

    h_t      = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b)          t = 0 .. T-1, h_{-1} = h0
    s_t      = h_t W_hy^T + b_y                               scores (T, B, V)
    L        = (1/N) sum_{t,b} m_{t,b} * (-log softmax(s_{t,b})[y_{t,b}]),  N = max(1, sum m)

Only NumPy is allowed here (matplotlib for the plot).
"""
import numpy as np

# The library's reference kernel (scratchrnn/kernels/reference/rnn.py): your lab 01 step,
# written the same way, with PyTorch's two biases (ours is b_ih = b, b_hh = 0).
from scratchrnn.kernels.reference import rnn_step_backward as _kernel_step_backward
from scratchrnn.kernels.reference import rnn_step_forward as _kernel_step_forward


# ----------------------------------------------------------------------------- GIVEN
def rnn_step_forward(x, h_prev, W_ih, W_hh, b):
    """GIVEN (you wrote it in lab01; paste yours here if you like).
    x (B, D), h_prev (B, H), W_ih (H, D), W_hh (H, H), b (H,) -> h (B, H), cache."""
    return _kernel_step_forward(x, h_prev, W_ih, W_hh, b, np.zeros_like(b))


def rnn_step_backward(dh, cache):
    """GIVEN. dh (B, H) -> dx (B, D), dh_prev (B, H), dW_ih (H, D), dW_hh (H, H), db (H,)."""
    dx, dh_prev, (dW_ih, dW_hh, db, _) = _kernel_step_backward(dh, cache)
    return dx, dh_prev, dW_ih, dW_hh, db


# ----------------------------------------------------------------------------- BPTT
def rnn_forward(x, h0, W_ih, W_hh, b):
    """Run the RNN over a whole sequence.

    Inputs:  x (T, B, D), h0 (B, H), W_ih (H, D), W_hh (H, H), b (H,)
    Returns: h (T, B, H) with h[t] = h_t (same dtype as x), and cache.
    """
    # ====================== TODO 1: rnn_forward =======================
    # Call rnn_step_forward T times, feeding each step's h into the next;
    # keep every step's cache (a list) for the backward pass.
    raise NotImplementedError("TODO 1: rnn_forward")
    # ========================= END TODO 1 =============================


def rnn_backward(dh, cache):
    """Backward pass through the whole sequence.

    Inputs:  dh (T, B, H): the gradient of the loss w.r.t. every h_t coming from ABOVE
             (from the scores s_t), NOT including the part that flows back from step t+1.
    Returns: dx (T, B, D), dh0 (B, H), dW_ih (H, D), dW_hh (H, H), db (H,)

    At step t the total gradient of h_t is dh[t] + (what step t+1 sent back as dh_prev).
    The weights are shared by all steps, so their gradients are SUMS over t.
    """
    # ====================== TODO 2: rnn_backward ======================
    # Loop t = T-1 down to 0 with rnn_step_backward.
    raise NotImplementedError("TODO 2: rnn_backward")
    # ========================= END TODO 2 =============================


# ----------------------------------------------------------------------------- output layer
def temporal_affine_forward(h, W_hy, b_y):
    """Scores at every step: s = h W_hy^T + b_y.

    Inputs:  h (T, B, H), W_hy (V, H), b_y (V,)
    Returns: scores (T, B, V), cache
    """
    # ================= TODO 3: temporal_affine_forward ================
    raise NotImplementedError("TODO 3: temporal_affine_forward")
    # ========================= END TODO 3 =============================


def temporal_affine_backward(dscores, cache):
    """Inputs: dscores (T, B, V). Returns dh (T, B, H), dW_hy (V, H), db_y (V,)."""
    # ================= TODO 4: temporal_affine_backward ===============
    # W_hy and b_y are used at every (t, b): sum their gradients over both axes
    # (reshaping to (T*B, .) makes this one matrix product).
    raise NotImplementedError("TODO 4: temporal_affine_backward")
    # ========================= END TODO 4 =============================


def temporal_softmax_loss(scores, y, mask):
    """Masked softmax cross-entropy over all steps, averaged over unmasked positions.

    Inputs:  scores (T, B, V) float, y (T, B) ints in [0, V), mask (T, B) of 0/1 (or bool):
             1 where the position counts, 0 for padding.
    Returns: loss (a Python float) and dscores (T, B, V), the gradient of loss.

        p_{t,b}  = softmax(s_{t,b})          (subtract the row max before exp!)
        L        = (1/N) sum m_{t,b} (-log p_{t,b}[y_{t,b}]),   N = max(1, sum of m)
        dscores  = m_{t,b} (p_{t,b} - onehot(y_{t,b})) / N
    """
    # ================== TODO 5: temporal_softmax_loss =================
    raise NotImplementedError("TODO 5: temporal_softmax_loss")
    # ========================= END TODO 5 =============================


# ----------------------------------------------------------------------------- vanishing / exploding
def hidden_grad_norms(x, h0, W_ih, W_hh, b, dh_last):
    """How large is dL/dh_t at each step, when the loss depends only on the LAST state?

    L = sum(h_{T-1} * dh_last), so dL/dh_{T-1} = dh_last, and each step back multiplies by
    W_hh^T diag(1 - h_t^2).

    Inputs:  x (T, B, D), h0 (B, H), W_ih, W_hh, b as in rnn_forward, dh_last (B, H)
    Returns: norms (T,) float64: norms[t] = ||dL/dh_t|| (Frobenius norm over the batch),
             so norms[T-1] = ||dh_last||.
    """
    # ==================== TODO 6: hidden_grad_norms ===================
    # Forward with rnn_step_forward (keep the caches), then walk back with
    # rnn_step_backward, recording np.linalg.norm(dh) BEFORE each step back.
    raise NotImplementedError("TODO 6: hidden_grad_norms")
    # ========================= END TODO 6 =============================


def clip_by_norm(grads, max_norm):
    """Rescale ALL gradients together so that their joint norm is at most max_norm.

    Inputs:  grads {name: array}, max_norm > 0
    Returns: (clipped {name: new array}, total_norm) where
             total_norm = sqrt(sum over all arrays of sum(g^2))   (before clipping) and
             clipped[k] = grads[k] * min(1, max_norm / (total_norm + 1e-6)).
    Do not change the input arrays.
    """
    # ====================== TODO 7: clip_by_norm ======================
    raise NotImplementedError("TODO 7: clip_by_norm")
    # ========================= END TODO 7 =============================


def plot_grad_norms(results, png_path):
    """GIVEN. results {rho: norms (T,)} -> semilog plot of ||dL/dh_t|| vs t saved as PNG."""
    import matplotlib
    matplotlib.use("Agg")            # no window: works on servers and in pytest
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for rho, norms in results.items():
        ax.semilogy(np.arange(len(norms)), norms, marker=".", label=f"spectral radius {rho}")
    ax.set_xlabel("time step t")
    ax.set_ylabel("||dL/dh_t||")
    ax.set_title("Gradient norm through time (loss at the last step)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)


def vanishing_exploding_experiment(rhos=(0.5, 1.0, 1.5), T=30, H=32, D=4, seed=0,
                                   png_path="grad_norms.png", max_norm=1.0):
    """Measure ||dL/dh_t|| for recurrent weights of spectral radius rho (below, at, above 1).

    Set-up (so that the answer is predictable, README.md "Experiment"):
        rng = np.random.default_rng(seed); Q = the Q of np.linalg.qr(rng.standard_normal((H, H)))
        W_hh = rho * Q      (Q is orthogonal, so every eigenvalue of W_hh has modulus rho)
        W_ih = 0.1 * rng.standard_normal((H, D)), b = 0, batch B = 1
        x = zeros (T, 1, D), h0 = 1e-8 * rng.standard_normal((1, H))  (tanh stays linear)
        dh_last = a random (1, H) vector of norm 1
    For each rho: norms = hidden_grad_norms(...); print one line with norms[0] and norms[-1];
    then compute the full gradients with rnn_forward / rnn_backward (dh zero except
    dh[-1] = dh_last), clip them with clip_by_norm(..., max_norm) and print the norm before
    and after. Finally plot_grad_norms(results, png_path).

    Returns {rho: norms (T,)}.
    """
    # ============= TODO 8: vanishing_exploding_experiment =============
    raise NotImplementedError("TODO 8: vanishing_exploding_experiment")
    # ========================= END TODO 8 =============================


if __name__ == "__main__":
    vanishing_exploding_experiment(png_path="grad_norms.png")
    print("plot saved to grad_norms.png")
