"""lab06: birnn_forward leaves the reverse direction's outputs in reversed time order."""
import numpy as np

from labs._reference.lab06 import *  # noqa: F401,F403
from labs._reference.lab06 import K, length_mask, reverse_within_length

_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def birnn_forward(x, lengths, params):
    T, B, _ = x.shape
    H = params["weight_hh"].shape[1]
    mask = length_mask(lengths, T)
    h0 = np.zeros((B, H), dtype=x.dtype)
    (out_f, _), cf = K.rnn_forward(x, h0, *[params[n] for n in _NAMES], mask=mask)
    (out_r, _), cr = K.rnn_forward(reverse_within_length(x, lengths), h0,
                                   *[params[n + "_reverse"] for n in _NAMES], mask=mask)
    return np.concatenate([out_f, out_r], -1), (cf, cr, lengths, H)      # BUG: out_r not reversed back


def birnn_backward(dout, cache):
    cf, cr, lengths, H = cache
    dx_f, _, g_f = K.rnn_backward(dout[..., :H], None, cf)
    dx_r, _, g_r = K.rnn_backward(dout[..., H:], None, cr)
    grads = dict(zip(_NAMES, g_f))
    grads.update({n + "_reverse": g for n, g in zip(_NAMES, g_r)})
    return dx_f + reverse_within_length(dx_r, lengths), grads
