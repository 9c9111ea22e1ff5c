"""lab01: rel_error averages the entries instead of taking the worst one."""
import numpy as np

from labs._reference.lab01 import *  # noqa: F401,F403


def rel_error(a, b):
    return float(np.mean(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))   # BUG: mean
