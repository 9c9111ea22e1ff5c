"""lab01: rel_error divides by |a| + |b| with no 1e-8 floor (0/0 = nan for equal zeros)."""
import numpy as np

from labs._reference.lab01 import *  # noqa: F401,F403


def rel_error(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))   # BUG: no floor
