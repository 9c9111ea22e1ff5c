"""lab05: softmax_with_temperature without the max shift (exp overflows)."""
import numpy as np

from labs._reference.lab05 import *  # noqa: F401,F403


def softmax_with_temperature(logits, temperature=1.0):
    e = np.exp(np.asarray(logits, dtype=np.float64) / temperature)      # BUG: no shift
    return e / e.sum(axis=-1, keepdims=True)
