"""Lab 02 reference: BPTT, temporal affine, masked temporal softmax loss, gradient norms
through time, clip-by-norm, and the vanishing/exploding experiment.

The recurrence is the library's reference kernel (scratchrnn/kernels/reference/rnn.py, the
readable twin of the fast kernels/rnn.py); the affine layer and the loss are library kernels."""
import numpy as np

from scratchrnn import kernels as K
from scratchrnn.kernels import reference as ref

__all__ = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
           "temporal_affine_forward", "temporal_affine_backward", "temporal_softmax_loss",
           "hidden_grad_norms", "clip_by_norm", "vanishing_exploding_experiment",
           "plot_grad_norms"]


def rnn_step_forward(x, h_prev, W_ih, W_hh, b):
    return ref.rnn_step_forward(x, h_prev, W_ih, W_hh, b, np.zeros_like(b))


def rnn_step_backward(dh, cache):
    dx, dh_prev, (dW_ih, dW_hh, db, _) = ref.rnn_step_backward(dh, cache)
    return dx, dh_prev, dW_ih, dW_hh, db


def rnn_forward(x, h0, W_ih, W_hh, b):
    """x (T, B, D), h0 (B, H) -> h (T, B, H), cache."""
    (h, _), cache = ref.rnn_forward(x, h0, W_ih, W_hh, b, np.zeros_like(b))
    return h, cache


def rnn_backward(dh, cache):
    """dh (T, B, H) -> dx (T, B, D), dh0 (B, H), dW_ih, dW_hh, db."""
    dx, dh0, (dW_ih, dW_hh, db, _) = ref.rnn_backward(dh, None, cache)
    return dx, dh0, dW_ih, dW_hh, db


def temporal_affine_forward(h, W_hy, b_y):
    """h (T, B, H), W_hy (V, H), b_y (V,) -> scores (T, B, V), cache."""
    return K.linear_forward(h, W_hy, b_y)


def temporal_affine_backward(dscores, cache):
    """dscores (T, B, V) -> dh (T, B, H), dW_hy (V, H), db_y (V,)."""
    return K.linear_backward(dscores, cache)


def temporal_softmax_loss(scores, y, mask):
    """scores (T, B, V), y (T, B) ints, mask (T, B) 0/1 -> loss (float), dscores.

    loss = sum over unmasked (t, b) of -log softmax(scores[t, b])[y[t, b]], divided by the
    number of unmasked positions (1 if there are none)."""
    return K.softmax_cross_entropy(scores, y, mask=mask, reduction="mean")


def hidden_grad_norms(x, h0, W_ih, W_hh, b, dh_last):
    """norms (T,): norms[t] = ||dL/dh_t|| for L = sum(h_{T-1} * dh_last) (loss at the end)."""
    caches, h = [], h0
    for t in range(x.shape[0]):
        h, cache = rnn_step_forward(x[t], h, W_ih, W_hh, b)
        caches.append(cache)
    norms = np.empty(x.shape[0])
    dh = dh_last
    for t in reversed(range(x.shape[0])):
        norms[t] = np.linalg.norm(dh)
        _, dh, _, _, _ = rnn_step_backward(dh, caches[t])
    return norms


def clip_by_norm(grads, max_norm):
    """grads {name: array} -> ({name: clipped array}, total_norm before clipping).

    Rescales all gradients together by max_norm / (total_norm + 1e-6) when total_norm > max_norm
    (torch.nn.utils.clip_grad_norm_'s rule); returns new arrays, the inputs stay as they were."""
    total = float(np.sqrt(sum(float(np.sum(np.square(g))) for g in grads.values())))
    scale = min(1.0, max_norm / (total + 1e-6))
    return {k: g * scale for k, g in grads.items()}, total


def plot_grad_norms(results, png_path):
    """results {rho: norms (T,)} -> a semilog plot of ||dL/dh_t|| against t, saved as PNG."""
    import matplotlib
    matplotlib.use("Agg")
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
    """For W_hh = rho * Q (Q random orthogonal), x = 0, h0 tiny: print and plot ||dL/dh_t||.

    Returns {rho: norms (T,)}. With x = 0 and a tiny h0, tanh stays in its linear range, so
    ||dL/dh_t|| = rho^(T-1-t) ||dL/dh_{T-1}||.
    """
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((H, H)))
    W_ih = 0.1 * rng.standard_normal((H, D))
    b = np.zeros(H)
    x = np.zeros((T, 1, D))
    h0 = 1e-8 * rng.standard_normal((1, H))
    dh_last = rng.standard_normal((1, H))
    dh_last /= np.linalg.norm(dh_last)
    results = {}
    for rho in rhos:
        W_hh = rho * Q
        norms = hidden_grad_norms(x, h0, W_ih, W_hh, b, dh_last)
        results[rho] = norms
        h, cache = rnn_forward(x, h0, W_ih, W_hh, b)
        dh = np.zeros_like(h)
        dh[-1] = dh_last
        _, _, dW_ih, dW_hh, db = rnn_backward(dh, cache)
        clipped, total = clip_by_norm({"W_ih": dW_ih, "W_hh": dW_hh, "b": db}, max_norm)
        after = np.sqrt(sum(np.sum(g ** 2) for g in clipped.values()))
        print(f"rho={rho}: ||dL/dh_0|| = {norms[0]:.3e}, ||dL/dh_{T - 1}|| = {norms[-1]:.3e}, "
              f"gradient norm {total:.3e} -> {after:.3e} after clip_by_norm({max_norm})")
    plot_grad_norms(results, png_path)
    return results
