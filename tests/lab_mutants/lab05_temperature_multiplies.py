"""lab05: softmax(logits * temperature) instead of softmax(logits / temperature)."""
import numpy as np

from labs._reference.lab05 import *  # noqa: F401,F403
from labs._reference.lab05 import top_k_filter


def softmax_with_temperature(logits, temperature=1.0):
    z = np.asarray(logits, dtype=np.float64) * temperature             # BUG: * instead of /
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sample_next(logits, temperature=1.0, top_k=None, rng=None):
    if temperature == 0:
        return int(np.argmax(logits))
    rng = np.random.default_rng() if rng is None else rng
    p = softmax_with_temperature(top_k_filter(logits, top_k), temperature)
    return int(rng.choice(len(p), p=p))
