"""lab02: temporal_softmax_loss ignores the mask (padding counts in the loss)."""
import numpy as np

from labs._reference.lab02 import temporal_softmax_loss as _ref_loss
from labs._reference.lab02 import *  # noqa: F401,F403


def temporal_softmax_loss(scores, y, mask):
    return _ref_loss(scores, y, np.ones_like(mask))      # BUG: mask not used
