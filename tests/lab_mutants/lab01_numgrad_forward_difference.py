"""lab01: numerical_gradient uses a forward difference (f(x+h) - f(x)) / h."""
import numpy as np

from labs._reference.lab01 import *  # noqa: F401,F403


def numerical_gradient(f, x, dout=None, h=1e-5):
    F = (lambda: f()) if dout is None else (lambda: np.sum(f() * dout))
    grad = np.zeros_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        base = F()
        flat[i] = old + h
        g[i] = (F() - base) / h                # BUG: one-sided
        flat[i] = old
    return grad
