"""lab02: temporal_affine_backward sums db_y and dW_hy over the batch of the last step only."""
import numpy as np

from labs._reference.lab02 import *  # noqa: F401,F403


def temporal_affine_forward(h, W_hy, b_y):
    return h @ W_hy.T + b_y, (h, W_hy)


def temporal_affine_backward(dscores, cache):
    h, W_hy = cache
    dW = dscores[-1].T @ h[-1]                            # BUG: only t = T-1
    return dscores @ W_hy, dW, dscores[-1].sum(axis=0)
