"""lab06: reverse_within_length reverses the whole padded sequence (x[::-1])."""
from labs._reference.lab06 import *  # noqa: F401,F403
from labs._reference.lab06 import K, length_mask, np


def reverse_within_length(x, lengths):
    return x[::-1].copy()                                                 # BUG


def birnn_forward(x, lengths, params):
    T, B, _ = x.shape
    H = params["weight_hh"].shape[1]
    mask = length_mask(lengths, T)
    h0 = np.zeros((B, H), dtype=x.dtype)
    w = [params[n] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    wr = [params[n + "_reverse"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    (out_f, _), cf = K.rnn_forward(x, h0, *w, mask=mask)
    (out_r, _), cr = K.rnn_forward(reverse_within_length(x, lengths), h0, *wr, mask=mask)
    return np.concatenate([out_f, reverse_within_length(out_r, lengths)], -1), (cf, cr, lengths, H)


def birnn_backward(dout, cache):
    cf, cr, lengths, H = cache
    dx_f, _, g_f = K.rnn_backward(dout[..., :H], None, cf)
    dx_r, _, g_r = K.rnn_backward(reverse_within_length(dout[..., H:], lengths), None, cr)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    grads = dict(zip(names, g_f))
    grads.update({n + "_reverse": g for n, g in zip(names, g_r)})
    return dx_f + reverse_within_length(dx_r, lengths), grads
