"""lab01: numerical_gradient restores x by x[i] += h after x[i] -= 2h (round-off left behind)."""
import numpy as np

from labs._reference.lab01 import *  # noqa: F401,F403


def numerical_gradient(f, x, dout=None, h=1e-5):
    F = (lambda: f()) if dout is None else (lambda: np.sum(f() * dout))
    grad = np.zeros_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        flat[i] += h
        plus = F()
        flat[i] -= 2 * h
        minus = F()
        flat[i] += h                           # BUG: not exactly the old value
        g[i] = (plus - minus) / (2 * h)
    return grad
