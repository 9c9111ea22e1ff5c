"""lab07: the backward ignores dweights (the gradient arriving at the weights themselves)."""
from labs._reference.lab07 import *  # noqa: F401,F403
from labs._reference import lab07 as _ref


def additive_attention_backward(dcontext, dweights, cache):
    return _ref.additive_attention_backward(dcontext, None, cache)   # BUG: dweights dropped
