"""Lab 06: many-to-one classification of variable-length sequences, with masks, and a
bidirectional RNN.

A batch holds sequences of different lengths, padded to a common T. You write the mask,
two ways of summarising a sequence into one vector (its last VALID state, or the mean over
its valid steps), the within-length reversal that a bidirectional RNN needs, and the
classifier's forward and backward. The recurrence itself is the library's kernel
(scratchrnn.kernels.rnn_forward / rnn_backward with a mask: you wrote it in lab02).
Fill in TODO 1-8 in order. Check your work with

    pytest labs/lab06_classify

Then compare the four models (a few seconds):  python labs/lab06_classify/classify.py

Notation (README.md): T steps, B batch, D input size, H hidden size, C classes,
L_b = lengths[b], m_{t,b} = 1 if t < L_b else 0.
    last_b = h_{L_b - 1, b}                mean_b = sum_t m_{t,b} h_{t,b} / max(1, L_b)
    reverse within length: xr_{t,b} = x_{L_b - 1 - t, b} for t < L_b (padding stays put)
    bidirectional: out_t = [hf_t, hr_t] (T, B, 2H), hr = reverse(RNN_rev(reverse(x)))
    logits = feats W_cls^T + b_cls         (B, C)
"""
import numpy as np

from scratchrnn.kernels import rnn_backward, rnn_forward, softmax_cross_entropy

RNN_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


# ----------------------------------------------------------------------------- masks and pooling
def length_mask(lengths, T):
    """Inputs: lengths (B,) ints in [0, T], T. Returns mask (T, B) bool: mask[t, b] = t < lengths[b]."""
    # ======================= TODO 1: length_mask ======================
    raise NotImplementedError("TODO 1: length_mask")
    # ========================= END TODO 1 =============================


def last_state_forward(h, lengths):
    """The state at each sequence's last valid step.

    Inputs:  h (T, B, H), lengths (B,) ints in [0, T]
    Returns: last (B, H) with last[b] = h[lengths[b] - 1, b] (zeros if lengths[b] == 0), cache
    """
    # ==================== TODO 2a: last_state_forward =================
    # Fancy indexing picks one row per column: h[t_index, np.arange(B)].
    # Careful: lengths[b] - 1 = -1 would silently pick the LAST step.
    raise NotImplementedError("TODO 2a: last_state_forward")
    # ========================= END TODO 2a ============================


def last_state_backward(dlast, cache):
    """Inputs: dlast (B, H). Returns dh (T, B, H): dlast[b] at (lengths[b] - 1, b), zero elsewhere."""
    # ==================== TODO 2b: last_state_backward ================
    raise NotImplementedError("TODO 2b: last_state_backward")
    # ========================= END TODO 2b ============================


def masked_mean_forward(h, mask):
    """Mean over the valid steps.

    Inputs:  h (T, B, H), mask (T, B) bool or 0/1
    Returns: pooled (B, H) = sum_t mask[t, b] h[t, b] / max(1, sum_t mask[t, b]), cache
             (a sequence of length 0 gives zeros, never nan)
    """
    # ==================== TODO 3a: masked_mean_forward ================
    raise NotImplementedError("TODO 3a: masked_mean_forward")
    # ========================= END TODO 3a ============================


def masked_mean_backward(dpooled, cache):
    """Inputs: dpooled (B, H). Returns dh (T, B, H)."""
    # ==================== TODO 3b: masked_mean_backward ===============
    raise NotImplementedError("TODO 3b: masked_mean_backward")
    # ========================= END TODO 3b ============================


# ----------------------------------------------------------------------------- bidirectional
def reverse_within_length(x, lengths):
    """Reverse each sequence in time WITHIN its own length.

    Inputs:  x (T, B, ...) any trailing shape, lengths (B,)
    Returns: out of x's shape: out[t, b] = x[lengths[b] - 1 - t, b] for t < lengths[b],
             out[t, b] = x[t, b] for the padding. Applying it twice gives x back.
    """
    # ================== TODO 4: reverse_within_length =================
    # x[::-1] is wrong: it would move the padding to the FRONT of short sequences.
    raise NotImplementedError("TODO 4: reverse_within_length")
    # ========================= END TODO 4 =============================


def birnn_forward(x, lengths, params):
    """A bidirectional tanh RNN over padded sequences, both directions starting from h0 = 0.

    Inputs:  x (T, B, D), lengths (B,), params with "weight_ih" (H, D), "weight_hh" (H, H),
             "bias_ih", "bias_hh" (H,) and the same four names + "_reverse" for the other direction.
    Returns: out (T, B, 2H): out[..., :H] forward outputs, out[..., H:] reverse outputs put back
             in the original time order; zeros at padding. And cache.

    rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, mask=mask) returns ((out, h_last), cache).
    """
    # ====================== TODO 5a: birnn_forward ====================
    raise NotImplementedError("TODO 5a: birnn_forward")
    # ========================= END TODO 5a ============================


def birnn_backward(dout, cache):
    """Inputs: dout (T, B, 2H). Returns dx (T, B, D) and grads {name: array} for the 8 weights.

    rnn_backward(dout, None, cache) returns (dx, dh0, (dW_ih, dW_hh, db_ih, db_hh)).
    """
    # ====================== TODO 5b: birnn_backward ===================
    raise NotImplementedError("TODO 5b: birnn_backward")
    # ========================= END TODO 5b ============================


# ----------------------------------------------------------------------------- the classifier
def classify_forward(x, lengths, params, pool="last"):
    """Sequence -> class scores.

    Inputs:  x (T, B, D), lengths (B,), params: the RNN weights (bidirectional when
             "weight_ih_reverse" is in params) and "W_cls" (C, F), "b_cls" (C,);
             pool "last" or "mean".
    Returns: logits (B, C), cache.

    Unidirectional: out = the RNN's outputs (rnn_forward with the mask, h0 = 0), F = H.
    Bidirectional:  out = birnn_forward(...), F = 2H.
    pool "mean": feats = masked_mean_forward(out, mask).
    pool "last", unidirectional: feats = last_state_forward(out, lengths).
    pool "last", bidirectional: feats = [forward half at its last valid step,
             reverse half at t = 0] (the reverse direction ENDS at t = 0).
    logits = feats @ W_cls.T + b_cls
    """
    # ===================== TODO 6: classify_forward ===================
    raise NotImplementedError("TODO 6: classify_forward")
    # ========================= END TODO 6 =============================


def classify_backward(dlogits, cache):
    """Inputs: dlogits (B, C). Returns grads {name: array}, one for every key of params."""
    # ===================== TODO 7: classify_backward ==================
    raise NotImplementedError("TODO 7: classify_backward")
    # ========================= END TODO 7 =============================


# ----------------------------------------------------------------------------- training
def make_first_token_task(n, T=12, n_classes=4, rng=None):
    """GIVEN. The label is the FIRST token of a random sequence of random length in [1, T].

    Returns x (T, n, n_classes) one-hot float64 (zeros at padding), lengths (n,), y (n,)."""
    rng = np.random.default_rng() if rng is None else rng
    lengths = rng.integers(1, T + 1, size=n)
    tokens = rng.integers(0, n_classes, size=(T, n))
    x = np.eye(n_classes)[tokens] * (np.arange(T)[:, None] < lengths[None, :])[:, :, None]
    return x, lengths, tokens[0].copy()


def init_params(D, H, C, bidirectional=False, rng=None):
    """GIVEN. RNN weights ~ U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's), a small classifier."""
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
    """GIVEN (your lab05 Adam, for a dict of arrays): updates params in place."""
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
    """Train on the first-token task; return (params, accuracy on 1000 new sequences).

    rng = np.random.default_rng(seed); params = init_params(n_classes, hidden_size, n_classes,
    bidirectional, rng). Each step: a new batch from make_first_token_task(batch_size, T,
    n_classes, rng); classify_forward; softmax_cross_entropy(logits, y); classify_backward;
    adam_step(params, grads, state, lr). Then the accuracy (argmax of the logits == y) on
    make_first_token_task(1000, T, n_classes, np.random.default_rng(seed + 1)).
    """
    # ===================== TODO 8: train_classifier ===================
    raise NotImplementedError("TODO 8: train_classifier")
    # ========================= END TODO 8 =============================


def compare_models(steps=150, seed=0):
    """GIVEN. Accuracy of every (pool, direction) combination; printed and returned."""
    results = {}
    for bidirectional in (False, True):
        for pool in ("last", "mean"):
            _, acc = train_classifier(pool, bidirectional, steps=steps, seed=seed)
            results[(pool, bidirectional)] = acc
            print(f"{'bidirectional' if bidirectional else 'unidirectional':>14}, pool={pool}: "
                  f"accuracy {acc:.3f}")
    return results


if __name__ == "__main__":
    compare_models()
