"""Element-wise activations used by the cells.

Speed note (docs/performance.md): in NumPy every call is one pass over memory, and the
transcendental functions (exp, tanh) cost 10-30 times a multiply. ``sigmoid`` therefore
uses one exp and three cheap passes, and the LSTM computes tanh(a_g) as 2 sigma(2 a_g) - 1
so that a single ``sigmoid`` call covers all four gates.
"""
import numpy as np


def sigmoid(x, out=None):
    """Logistic sigmoid sigma(x) = 1 / (1 + exp(-x)), any shape, ``out`` may be ``x`` itself.

    Overflow-free in the sense that matters: for x below about -88 (float32) or -709
    (float64) exp(-x) overflows to inf and the result is 1 / inf = 0, the correct limit;
    the overflow (and, for large x, underflow) warnings are silenced. Nothing else can
    overflow or produce nan.
    """
    out = np.negative(x, out=out)
    with np.errstate(over="ignore", under="ignore"):
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def tanh_via_sigmoid_(a):
    """In place: a <- tanh(a), given that ``a`` already holds sigma(2 a).

    tanh(x) = 2 sigma(2x) - 1, so a gate block whose pre-activation was doubled can go
    through the same ``sigmoid`` call as its neighbours and be fixed up afterwards.
    """
    a *= 2
    a -= 1
    return a


def stable_log_softmax(logits):
    """log softmax over the last axis, shifted by the max so exp never overflows."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits):
    """softmax over the last axis (max-shifted)."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e
