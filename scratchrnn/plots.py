"""Figures, drawn headless (matplotlib's Agg backend): nothing opens a window."""
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def plot_loss_curves(history, path, title="Character language model"):
    """Training and validation loss (nats/token) against step; perplexity on the right axis.

    history: {"train": [[step, time_s, loss, grad_norm, lr], ...], "val": [[step, time_s, loss], ...]}
    """
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    if history["train"]:
        steps, losses = zip(*[(r[0], r[2]) for r in history["train"]])
        ax.plot(steps, losses, lw=1, alpha=0.8, label="training (mean of 10 steps)")
    if history["val"]:
        steps, losses = zip(*[(r[0], r[2]) for r in history["val"]])
        ax.plot(steps, losses, "o-", ms=3, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    right = ax.secondary_yaxis("right", functions=(np.exp, _log))
    right.set_ylabel("perplexity")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _log(x):
    return np.log(np.maximum(x, 1e-12))   # the inverse of exp, safe for the axis' zero
