"""lab07: the softmax backward forgets the sum term: de = w * dw (the diagonal of the Jacobian)."""
from labs._reference.lab07 import *  # noqa: F401,F403


def masked_softmax_backward(dweights, cache):
    weights = cache
    return weights * dweights                                  # BUG: - sum_j w_j dw_j missing
