"""Grader for lab 07. Run:  pytest labs/lab07_attention   (add -x to stop at the first failure)

Forward values are compared with fixtures.npz; backward results with numerical gradients of
YOUR forward functions.
"""
import numpy as np
import pytest

from labs.grading import (check_array, check_backward, check_close, fail, load_cases, part_fails,
                          rand, require_forward, unpack)

CASES = load_cases(__file__)
ATTENTION_CASES = ["attn_full", "attn_ragged", "attn_one_query"]
BACKWARD_NAMES = ["dqueries", "dkeys", "dW_q", "dW_k", "db", "dv"]
PARAMS = ("W_q", "W_k", "b", "v")

SOFTMAX_HINT = ("set the scores of the padded keys (s >= lengths[b]) to -inf BEFORE the softmax, "
                "then weights = exp(scores - max) / sum(exp(scores - max)) over the LAST axis (s).")
ATTENTION_HINT = ("u = (queries @ W_q.T)[:, :, None, :] + (keys @ W_k.T + b).transpose(1, 0, 2)[None] "
                  "is (T, B, S, A); scores = tanh(u) @ v; weights = masked_softmax(scores, lengths); "
                  "context[t, b] = sum_s weights[t, b, s] * keys[s, b].")
HINTS = {
    "queries": "dqueries[t, b] = W_q^T sum_s du[t, b, s] with du = dscores[..., None] * v * (1 - z**2) "
               "(the tanh derivative): sum du over the keys axis before the product.",
    "keys": "the keys are used twice, so dkeys has TWO parts: sum_t weights[t, b, s] * dcontext[t, b] "
            "(through the context) plus W_k^T sum_t du[t, b, s] (through the scores).",
    "W_q": "dW_q = sum over t, b of (sum_s du[t, b, s]) q[t, b]^T.",
    "W_k": "dW_k = sum over s, b of (sum_t du[t, b, s]) k[s, b]^T.",
    "b": "db = du summed over t, b and s.",
    "v": "dv = sum over t, b, s of dscores[t, b, s] * tanh(u[t, b, s]).",
}
LOCAL = ("du = dscores[..., None] * v * (1 - z**2) with z = tanh(u): the tanh derivative, "
         "which every gradient but dv passes through.")


def _attention_inputs(rng, T=3, B=3, S=5, Q=4, K=3, A=6):
    return dict(queries=rand(rng, (T, B, Q)), keys=rand(rng, (S, B, K)),
                W_q=rand(rng, (A, Q), 0.5), W_k=rand(rng, (A, K), 0.5),
                b=rand(rng, A, 0.5), v=rand(rng, A))


def _padded(lengths, S):
    return np.arange(S)[None, :] >= np.asarray(lengths)[:, None]          # (B, S)


# ----------------------------------------------------------------------------- TODO 1
@pytest.mark.parametrize("case", ["softmax_full", "softmax_ragged"])
def test_masked_softmax_values(impl, case):
    c = CASES[case]
    weights, _ = unpack("masked_softmax", impl.masked_softmax(c.scores, c.get("lengths")),
                        ["weights", "cache"])
    check_close("masked_softmax", "weights", weights, c.weights, hint=SOFTMAX_HINT)


def test_masked_softmax_by_hand(impl):
    """exp(scores) = 1, 2, 3 on the three real keys: weights 1/6, 2/6, 3/6, then 0 and 0."""
    scores = np.log(np.array([[[1.0, 2.0, 3.0, 50.0, 0.5], [4.0, 1.0, 1.0, 1.0, 1.0]]]))  # (1, 2, 5)
    weights, _ = unpack("masked_softmax", impl.masked_softmax(scores, np.array([3, 5])),
                        ["weights", "cache"])
    expected = np.array([[[1 / 6, 2 / 6, 3 / 6, 0, 0], [0.5, 0.125, 0.125, 0.125, 0.125]]])
    check_close("masked_softmax", "weights", weights, expected, against="the value worked out by hand",
                label="by hand", hint="row 0 has 3 real keys: the 4th score (log 50) must not "
                "count; the softmax runs over s (the last axis), one row per (t, b).")


def test_masked_softmax_padding_is_exactly_zero_and_rows_sum_to_one(impl):
    rng = np.random.default_rng(71)
    scores, lengths = rand(rng, (4, 3, 6), 3.0), np.array([6, 1, 4])
    weights, _ = unpack("masked_softmax", impl.masked_softmax(scores, lengths), ["weights", "cache"])
    check_array("masked_softmax", "weights", weights, scores.shape, dims="(T, B, S)")
    leak = weights[:, _padded(lengths, 6)]
    if np.any(leak != 0):
        fail(f"masked_softmax: the weights of padded keys must be exactly 0, found values up to "
             f"{np.abs(leak).max():.3g}.\n  hint: masking the scores by subtracting a large number "
             f"is not exact, and zeroing weights after the softmax breaks the sum: put -np.inf "
             f"into the padded scores before the softmax (exp(-inf) = 0).")
    sums = weights.sum(axis=2)
    if not np.allclose(sums, 1, rtol=0, atol=1e-12):
        fail(f"masked_softmax: every row weights[t, b, :] must sum to 1, found sums from "
             f"{sums.min():.6f} to {sums.max():.6f}.\n  hint: {SOFTMAX_HINT}")


def test_masked_softmax_large_scores(impl):
    rng = np.random.default_rng(72)
    scores, lengths = rand(rng, (2, 3, 4), 1000.0), np.array([4, 2, 3])
    weights, _ = unpack("masked_softmax", impl.masked_softmax(scores, lengths), ["weights", "cache"])
    check_array("masked_softmax", "weights", weights, scores.shape, dims="(T, B, S)")
    if not np.all(np.isfinite(weights)):
        fail("masked_softmax: scores of size 1000 give NaN or inf: exp overflowed.\n"
             "  hint: subtract each row's maximum (over the real keys) before np.exp.")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_softmax_shape_and_dtype(impl, dtype):
    scores = rand(np.random.default_rng(73), (2, 3, 4)).astype(dtype)
    weights, _ = unpack("masked_softmax", impl.masked_softmax(scores, np.array([4, 1, 2])),
                        ["weights", "cache"])
    check_array("masked_softmax", "weights", weights, (2, 3, 4), dims="(T, B, S)", dtype=dtype)


# ----------------------------------------------------------------------------- TODO 2
def _require_softmax(impl, func):
    c = CASES["softmax_ragged"]
    require_forward(func, "masked_softmax", {"weights": impl.masked_softmax(c.scores, c.lengths)[0]},
                    c, "test_masked_softmax_values")


@pytest.mark.parametrize("lengths", [None, [5, 2, 3]], ids=["full", "ragged"])
def test_masked_softmax_backward_against_numerical_gradient(impl, lengths):
    _require_softmax(impl, "masked_softmax_backward")
    rng = np.random.default_rng(74)
    inp = {"scores": rand(rng, (3, 3, 5))}
    lengths = None if lengths is None else np.array(lengths)
    weights, cache = unpack("masked_softmax", impl.masked_softmax(inp["scores"], lengths),
                            ["weights", "cache"])
    dweights = rand(rng, weights.shape)
    dscores = impl.masked_softmax_backward(dweights, cache)
    check_backward("masked_softmax_backward", lambda: impl.masked_softmax(inp["scores"], lengths)[0],
                   inp, dweights, {"scores": dscores},
                   {"scores": "de_s = w_s * (dw_s - sum_j w_j dw_j): the sum runs over the last "
                              "axis (keepdims=True), and both terms are multiplied by w_s."},
                   forward_name="masked_softmax")


# ----------------------------------------------------------------------------- TODO 3
@pytest.mark.parametrize("case", ATTENTION_CASES)
def test_attention_forward_values(impl, case):
    c = CASES[case]
    context, weights, _ = unpack(
        "additive_attention_forward",
        impl.additive_attention_forward(c.queries, c["keys"], c.W_q, c.W_k, c.b, c.v, c.get("lengths")),
        ["context", "weights", "cache"])
    check_close("additive_attention_forward", "weights", weights, c.weights, hint=ATTENTION_HINT)
    check_close("additive_attention_forward", "context", context, c.context,
                hint="context = np.einsum('tbs,sbk->tbk', weights, keys): a weighted sum of keys.")


def test_attention_ignores_what_is_in_the_padding(impl):
    rng = np.random.default_rng(75)
    inp, lengths = _attention_inputs(rng), np.array([5, 2, 3])
    context, weights, _ = impl.additive_attention_forward(**inp, lengths=lengths)
    noisy = dict(inp, keys=inp["keys"].copy())
    noisy["keys"][_padded(lengths, 5).T] = 1e3
    context2, weights2, _ = impl.additive_attention_forward(**noisy, lengths=lengths)
    check_close("additive_attention_forward", "context", context2, context,
                against="the context with ordinary numbers in the padding", label="before",
                hint="padded keys must have weight exactly 0, so their values cannot matter; "
                     "pass lengths on to masked_softmax.")


def test_attention_forward_float32(impl):
    inp = {k: v.astype(np.float32) for k, v in _attention_inputs(np.random.default_rng(76)).items()}
    context, weights, _ = unpack("additive_attention_forward",
                                 impl.additive_attention_forward(**inp, lengths=np.array([5, 1, 2])),
                                 ["context", "weights", "cache"])
    check_array("additive_attention_forward", "context", context, (3, 3, 3), dims="(T, B, K)",
                dtype=np.float32)
    check_array("additive_attention_forward", "weights", weights, (3, 3, 5), dims="(T, B, S)",
                dtype=np.float32)


# ----------------------------------------------------------------------------- TODO 4
def _require_attention(impl):
    c = CASES["attn_ragged"]
    context, weights, _ = impl.additive_attention_forward(c.queries, c["keys"], c.W_q, c.W_k, c.b,
                                                          c.v, c.lengths)
    require_forward("additive_attention_backward", "additive_attention_forward",
                    {"weights": weights, "context": context}, c, "test_attention_forward_values")


def _softmax_backward_fails(impl):
    rng = np.random.default_rng(77)
    inp, lengths = {"scores": rand(rng, (2, 3, 4))}, np.array([4, 1, 3])
    dweights = rand(rng, (2, 3, 4))
    return part_fails("masked_softmax_backward",
                      "test_masked_softmax_backward_against_numerical_gradient",
                      lambda: impl.masked_softmax(inp["scores"], lengths)[0], inp, dweights,
                      lambda: {"scores": impl.masked_softmax_backward(
                          dweights, impl.masked_softmax(inp["scores"], lengths)[1])})


@pytest.mark.parametrize("with_dweights", [True, False], ids=["dweights", "no_dweights"])
@pytest.mark.parametrize("lengths", [None, [5, 2, 3]], ids=["full", "ragged"])
def test_attention_backward_against_numerical_gradient(impl, lengths, with_dweights):
    _require_attention(impl)
    rng = np.random.default_rng(78 + with_dweights)
    inp = _attention_inputs(rng)
    lengths = None if lengths is None else np.array(lengths)
    context, weights, cache = unpack("additive_attention_forward",
                                     impl.additive_attention_forward(**inp, lengths=lengths),
                                     ["context", "weights", "cache"])
    dcontext = rand(rng, context.shape)
    dweights = rand(rng, weights.shape) if with_dweights else None
    grads = unpack("additive_attention_backward",
                   impl.additive_attention_backward(dcontext, dweights, cache), BACKWARD_NAMES)
    if with_dweights:
        def forward():
            return impl.additive_attention_forward(**inp, lengths=lengths)[:2]
        dout = (dcontext, dweights)
    else:
        def forward():
            return impl.additive_attention_forward(**inp, lengths=lengths)[0]
        dout = dcontext
    check_backward("additive_attention_backward", forward, inp, dout, dict(zip(inp, grads)), HINTS,
                   forward_name="additive_attention_forward", local=LOCAL,
                   diagnose=lambda: _softmax_backward_fails(impl))


def test_padded_keys_get_exactly_zero_gradient(impl):
    _require_attention(impl)
    rng = np.random.default_rng(80)
    inp, lengths = _attention_inputs(rng), np.array([5, 2, 3])
    context, weights, cache = impl.additive_attention_forward(**inp, lengths=lengths)
    grads = unpack("additive_attention_backward",
                   impl.additive_attention_backward(rand(rng, context.shape), rand(rng, weights.shape),
                                                    cache), BACKWARD_NAMES)
    dkeys = check_array("additive_attention_backward", "dkeys", grads[1], inp["keys"].shape,
                        dims="(S, B, K)")
    leak = dkeys[_padded(lengths, 5).T]
    if np.any(leak != 0):
        fail(f"additive_attention_backward: padded keys must get exactly zero gradient, found "
             f"values up to {np.abs(leak).max():.3g}.\n  hint: both paths into dkeys are "
             f"multiplied by the weight (context) or by dscores = w * (...) (scores), and both are "
             f"0 where the weight is exactly 0.")
