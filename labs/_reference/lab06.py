"""Lab 06 reference: many-to-one classification of variable-length sequences (masks, last
valid state, masked mean, within-length reversal, a bidirectional RNN) with library kernels."""
import numpy as np

from scratchrnn import kernels as K

__all__ = ["length_mask", "last_state_forward", "last_state_backward", "masked_mean_forward",
           "masked_mean_backward", "reverse_within_length", "birnn_forward", "birnn_backward",
           "classify_forward", "classify_backward", "make_first_token_task", "init_params",
           "adam_step", "train_classifier", "compare_models"]


def length_mask(lengths, T):
    """lengths (B,) -> mask (T, B) bool, True where t < lengths[b]."""
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]


def last_state_forward(h, lengths):
    """h (T, B, H) -> last (B, H): h[lengths[b] - 1, b], zeros for a zero length."""
    lengths = np.asarray(lengths)
    B = h.shape[1]
    last = h[np.maximum(lengths - 1, 0), np.arange(B)] * (lengths > 0)[:, None]
    return last, (h.shape, lengths)


def last_state_backward(dlast, cache):
    """dlast (B, H) -> dh (T, B, H), non-zero only at each sequence's last valid step."""
    shape, lengths = cache
    dh = np.zeros(shape, dtype=dlast.dtype)
    valid = np.flatnonzero(lengths > 0)
    dh[lengths[valid] - 1, valid] = dlast[valid]
    return dh


def masked_mean_forward(h, mask):
    """h (T, B, H), mask (T, B) -> mean over the valid steps (B, H); zeros when none."""
    m = np.asarray(mask).astype(h.dtype)[:, :, None]
    count = np.maximum(m.sum(axis=0), 1)                   # (B, 1)
    return (h * m).sum(axis=0) / count, (m, count)


def masked_mean_backward(dpooled, cache):
    """dpooled (B, H) -> dh (T, B, H)."""
    m, count = cache
    return m * (dpooled / count)[None]


def reverse_within_length(x, lengths):
    """x (T, B, ...) -> the first lengths[b] steps of each column reversed, padding unchanged."""
    T, B = x.shape[:2]
    t = np.arange(T)[:, None]
    L = np.asarray(lengths)[None, :]
    src = np.where(t < L, L - 1 - t, t)
    return x[src, np.arange(B)[None, :]]


def _direction(params, suffix):
    return [params[n + suffix] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def birnn_forward(x, lengths, params):
    """x (T, B, D) -> out (T, B, 2H) = [forward outputs, reverse outputs], zeros at padding."""
    T, B, _ = x.shape
    H = params["weight_hh"].shape[1]
    mask = length_mask(lengths, T)
    h0 = np.zeros((B, H), dtype=x.dtype)
    (out_f, _), cache_f = K.rnn_forward(x, h0, *_direction(params, ""), mask=mask)
    (out_r, _), cache_r = K.rnn_forward(reverse_within_length(x, lengths), h0,
                                        *_direction(params, "_reverse"), mask=mask)
    out = np.concatenate([out_f, reverse_within_length(out_r, lengths)], axis=-1)
    return out, (cache_f, cache_r, lengths, H)


def birnn_backward(dout, cache):
    """dout (T, B, 2H) -> dx (T, B, D), grads {name: array} for the eight RNN weights."""
    cache_f, cache_r, lengths, H = cache
    dx_f, _, g_f = K.rnn_backward(dout[..., :H], None, cache_f)
    dx_r, _, g_r = K.rnn_backward(reverse_within_length(dout[..., H:], lengths), None, cache_r)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    grads = dict(zip(names, g_f))
    grads.update({n + "_reverse": g for n, g in zip(names, g_r)})
    return dx_f + reverse_within_length(dx_r, lengths), grads


def _is_bidirectional(params):
    return "weight_ih_reverse" in params


def classify_forward(x, lengths, params, pool="last"):
    """x (T, B, D), lengths (B,) -> logits (B, C), cache. pool: "last" or "mean"."""
    T, B, _ = x.shape
    H = params["weight_hh"].shape[1]
    mask = length_mask(lengths, T)
    if _is_bidirectional(params):
        out, rnn_cache = birnn_forward(x, lengths, params)
    else:
        (out, _), rnn_cache = K.rnn_forward(x, np.zeros((B, H), x.dtype), *_direction(params, ""),
                                            mask=mask)
    if pool == "mean":
        feats, pool_cache = masked_mean_forward(out, mask)
    elif _is_bidirectional(params):
        # forward direction: its last valid step; reverse direction: its final state is at t = 0
        last_f, pool_cache = last_state_forward(out[..., :H], lengths)
        feats = np.concatenate([last_f, out[0, :, H:]], axis=-1)
    else:
        feats, pool_cache = last_state_forward(out, lengths)
    logits, lin_cache = K.linear_forward(feats, params["W_cls"], params["b_cls"])
    return logits, (rnn_cache, pool_cache, lin_cache, pool, out.shape, H, _is_bidirectional(params))


def classify_backward(dlogits, cache):
    """dlogits (B, C) -> grads {name: array}, one per parameter."""
    rnn_cache, pool_cache, lin_cache, pool, out_shape, H, bi = cache
    dfeats, dW, db = K.linear_backward(dlogits, lin_cache)
    if pool == "mean":
        dout = masked_mean_backward(dfeats, pool_cache)
    elif bi:
        dout = np.zeros(out_shape, dtype=dlogits.dtype)
        dout[..., :H] = last_state_backward(dfeats[:, :H], pool_cache)
        dout[0, :, H:] = dfeats[:, H:]
    else:
        dout = last_state_backward(dfeats, pool_cache)
    if bi:
        _, grads = birnn_backward(dout, rnn_cache)
    else:
        _, _, g = K.rnn_backward(dout, None, rnn_cache)
        grads = dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), g))
    grads.update(W_cls=dW, b_cls=db)
    return grads


def make_first_token_task(n, T=12, n_classes=4, rng=None):
    """The label is the FIRST token of a random sequence of random length in [1, T].

    Returns x (T, n, n_classes) one-hot float64 (zeros at padding), lengths (n,), y (n,)."""
    rng = np.random.default_rng() if rng is None else rng
    lengths = rng.integers(1, T + 1, size=n)
    tokens = rng.integers(0, n_classes, size=(T, n))
    x = np.eye(n_classes)[tokens] * length_mask(lengths, T)[:, :, None]
    return x, lengths, tokens[0].copy()


def init_params(D, H, C, bidirectional=False, rng=None):
    """U(-1/sqrt(H), 1/sqrt(H)) RNN weights (PyTorch's), and a small classifier."""
    rng = np.random.default_rng() if rng is None else rng
    k = 1 / np.sqrt(H)
    params = {}
    for sfx in ("", "_reverse") if bidirectional else ("",):
        params["weight_ih" + sfx] = rng.uniform(-k, k, (H, D))
        params["weight_hh" + sfx] = rng.uniform(-k, k, (H, H))
        params["bias_ih" + sfx] = rng.uniform(-k, k, H)
        params["bias_hh" + sfx] = rng.uniform(-k, k, H)
    F = 2 * H if bidirectional else H
    params["W_cls"] = rng.uniform(-1 / np.sqrt(F), 1 / np.sqrt(F), (C, F))
    params["b_cls"] = np.zeros(C)
    return params


def adam_step(params, grads, state, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam on a dict of arrays, in place; state is a dict kept between calls."""
    state["t"] = state.get("t", 0) + 1
    for k, g in grads.items():
        m = state.setdefault("m_" + k, np.zeros_like(g))
        v = state.setdefault("v_" + k, np.zeros_like(g))
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** state["t"])
        v_hat = v / (1 - beta2 ** state["t"])
        params[k] -= lr * m_hat / (np.sqrt(v_hat) + eps)


def train_classifier(pool="last", bidirectional=False, steps=300, batch_size=32, T=12,
                     n_classes=4, hidden_size=16, lr=1e-2, seed=0):
    """Train on make_first_token_task; returns (params, accuracy on 1000 new sequences)."""
    rng = np.random.default_rng(seed)
    params = init_params(n_classes, hidden_size, n_classes, bidirectional, rng)
    state = {}
    for _ in range(steps):
        x, lengths, y = make_first_token_task(batch_size, T, n_classes, rng)
        logits, cache = classify_forward(x, lengths, params, pool)
        _, dlogits = K.softmax_cross_entropy(logits, y)
        adam_step(params, classify_backward(dlogits, cache), state, lr)
    x, lengths, y = make_first_token_task(1000, T, n_classes, np.random.default_rng(seed + 1))
    logits, _ = classify_forward(x, lengths, params, pool)
    return params, float(np.mean(np.argmax(logits, axis=1) == y))


def compare_models(steps=150, seed=0):
    """Accuracy of every (pool, direction) combination; printed and returned."""
    results = {}
    for bidirectional in (False, True):
        for pool in ("last", "mean"):
            _, acc = train_classifier(pool, bidirectional, steps=steps, seed=seed)
            results[(pool, bidirectional)] = acc
            print(f"{'bidirectional' if bidirectional else 'unidirectional':>14}, pool={pool}: "
                  f"accuracy {acc:.3f}")
    return results
