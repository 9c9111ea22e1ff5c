"""Element-wise activations used by the cells."""
import numpy as np


def sigmoid(x, out=None):
    """Logistic sigmoid, overflow-free: sigma(x) = (1 + tanh(x / 2)) / 2.

    ``1 / (1 + exp(-x))`` overflows (with a warning) for x < -710 in float64 and
    x < -89 in float32; tanh saturates instead. ``out`` may be ``x`` itself.
    """
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def stable_log_softmax(logits):
    """log softmax over the last axis, shifted by the max so exp never overflows."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits):
    """softmax over the last axis (max-shifted)."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
