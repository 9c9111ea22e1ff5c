"""lab02: temporal_softmax_loss averages over all T*B positions, padded ones included."""
import numpy as np

from labs._reference.lab02 import temporal_softmax_loss as _ref_loss
from labs._reference.lab02 import *  # noqa: F401,F403


def temporal_softmax_loss(scores, y, mask):
    loss, ds = _ref_loss(scores, y, mask)
    n = max(1.0, float(np.sum(mask)))
    return loss * n / mask.size, ds * n / mask.size     # BUG: / (T*B)
