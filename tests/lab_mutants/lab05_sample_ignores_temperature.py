"""lab05: sample_next always samples at temperature 1 (greedy still works)."""
import numpy as np

from labs._reference.lab05 import sample_next as _ref_sample
from labs._reference.lab05 import *  # noqa: F401,F403


def sample_next(logits, temperature=1.0, top_k=None, rng=None):
    return _ref_sample(logits, 0 if temperature == 0 else 1.0, top_k, rng)     # BUG
