"""Grader for lab 06. Run:  pytest labs/lab06_classify   (add -x to stop at the first failure)

Forward values are compared with fixtures.npz; backward results with numerical gradients of
YOUR forward functions; training by the accuracy it reaches (about 1 s).
"""
import numpy as np
import pytest

from labs.grading import (check_array, check_backward, check_close, fail, load_cases, plain, rand,
                          require_forward, unpack)

CASES = load_cases(__file__)
LENGTHS = np.array([5, 2, 0, 3])           # a full, a short, an EMPTY and a middle sequence


def _params(case):
    return {k[len("param."):]: np.ascontiguousarray(v) for k, v in case.items() if k.startswith("param.")}


# ----------------------------------------------------------------------------- TODO 1
def test_length_mask(impl):
    mask = check_array("length_mask", "mask", np.asarray(impl.length_mask(LENGTHS, 5)), (5, 4),
                       dims="(T, B)")
    expected = np.array([[t < L for L in LENGTHS] for t in range(5)])
    if mask.dtype != bool or not np.array_equal(mask, expected):
        fail(f"length_mask({LENGTHS.tolist()}, 5) returned\n{mask.astype(int)}\nexpected (as bool)\n"
             f"{expected.astype(int)}\n  hint: np.arange(T)[:, None] < lengths[None, :] "
             f"(time down the rows, one column per sequence).")


# ----------------------------------------------------------------------------- TODO 2
def test_last_state_forward_values(impl):
    c = CASES["pool"]
    last, _ = unpack("last_state_forward", impl.last_state_forward(c.h, c.lengths), ["last", "cache"])
    check_close("last_state_forward", "last", last, c.last,
                hint="last[b] = h[lengths[b] - 1, b]; a zero-length sequence gives zeros (index -1 "
                     "would wrongly pick the final, padded step).")


def test_last_state_backward_against_numerical_gradient(impl):
    c = CASES["pool"]
    require_forward("last_state_backward", "last_state_forward",
                    {"last": impl.last_state_forward(c.h, c.lengths)[0]}, c,
                    "test_last_state_forward_values")
    rng = np.random.default_rng(1)
    h = rand(rng, (5, 4, 3))
    last, cache = impl.last_state_forward(h, LENGTHS)
    dlast = rand(rng, last.shape)
    (dh,) = (impl.last_state_backward(dlast, cache),)
    check_backward("last_state_backward", lambda: impl.last_state_forward(h, LENGTHS)[0], {"h": h},
                   dlast, {"h": dh},
                   {"h": "dh is zero except dh[lengths[b] - 1, b] = dlast[b] (nothing for length 0)."},
                   forward_name="last_state_forward")


# ----------------------------------------------------------------------------- TODO 3
def test_masked_mean_forward_values(impl):
    c = CASES["pool"]
    pooled, _ = unpack("masked_mean_forward", impl.masked_mean_forward(c.h, c.mask), ["pooled", "cache"])
    check_close("masked_mean_forward", "pooled", pooled, c.mean,
                hint="sum only the valid steps and divide by the number of valid steps "
                     "max(1, lengths[b]), not by T; an empty sequence gives 0, not nan.")


def test_masked_mean_backward_against_numerical_gradient(impl):
    c = CASES["pool"]
    require_forward("masked_mean_backward", "masked_mean_forward",
                    {"mean": impl.masked_mean_forward(c.h, c.mask)[0]}, c,
                    "test_masked_mean_forward_values")
    rng = np.random.default_rng(2)
    h = rand(rng, (5, 4, 3))
    mask = np.arange(5)[:, None] < LENGTHS[None, :]
    pooled, cache = impl.masked_mean_forward(h, mask)
    dp = rand(rng, pooled.shape)
    dh = impl.masked_mean_backward(dp, cache)
    check_backward("masked_mean_backward", lambda: impl.masked_mean_forward(h, mask)[0], {"h": h},
                   dp, {"h": dh},
                   {"h": "dh[t, b] = mask[t, b] * dpooled[b] / max(1, lengths[b]); padding gets 0."},
                   forward_name="masked_mean_forward")


# ----------------------------------------------------------------------------- TODO 4
def test_reverse_within_length(impl):
    c = CASES["pool"]
    out = check_array("reverse_within_length", "out", impl.reverse_within_length(c.h, c.lengths),
                      c.h.shape)
    check_close("reverse_within_length", "out", out, c.reversed,
                hint="out[t, b] = x[lengths[b] - 1 - t, b] for t < lengths[b]; padded steps stay "
                     "where they are. x[::-1] moves the padding to the front.")
    back = impl.reverse_within_length(out, c.lengths)
    check_close("reverse_within_length", "reverse(reverse(x))", back, c.h,
                against="x (reversing twice must give x back)", label="x")


# ----------------------------------------------------------------------------- TODO 5
def test_birnn_forward_values(impl):
    c = CASES["birnn"]
    out, _ = unpack("birnn_forward", impl.birnn_forward(c.x, c.lengths, _params(c)), ["out", "cache"])
    check_close("birnn_forward", "out", out, c.out,
                hint="out[..., :H]: rnn_forward on x with the mask; out[..., H:]: rnn_forward on "
                     "reverse_within_length(x) with the _reverse weights, then reversed back.")


def test_birnn_backward_against_numerical_gradient(impl):
    c = CASES["birnn"]
    require_forward("birnn_backward", "birnn_forward",
                    {"out": impl.birnn_forward(c.x, c.lengths, _params(c))[0]}, c,
                    "test_birnn_forward_values")
    x = np.ascontiguousarray(c.x.copy())
    params = {k: v for k, v in _params(c).items() if k.startswith(("weight", "bias"))}
    out, cache = impl.birnn_forward(x, c.lengths, params)
    dout = rand(np.random.default_rng(3), out.shape)
    dx, grads = unpack("birnn_backward", impl.birnn_backward(dout, cache), ["dx", "grads"])
    inputs = {"x": x, **params}
    hints = {k: "the reverse direction's dout must be put in ITS time order "
                "(reverse_within_length) before rnn_backward." for k in params if k.endswith("reverse")}
    hints["x"] = ("dx = dx_forward + reverse_within_length(dx_reverse): the reverse direction "
                  "saw x reversed.")
    check_backward("birnn_backward", lambda: impl.birnn_forward(x, c.lengths, params)[0], inputs, dout,
                   {"x": dx, **grads}, hints, forward_name="birnn_forward")


# ----------------------------------------------------------------------------- TODO 6, 7
CONFIGS = ["uni_last", "uni_mean", "bi_last", "bi_mean"]


@pytest.mark.parametrize("config", CONFIGS)
def test_classify_forward_values(impl, config):
    c = CASES[f"classify_{config}"]
    pool = config.split("_")[1]
    logits, _ = unpack("classify_forward", impl.classify_forward(c.x, c.lengths, _params(c), pool),
                       ["logits", "cache"])
    hint = {"uni_last": "feats = the RNN output at each sequence's last VALID step.",
            "uni_mean": "feats = masked mean of the RNN outputs over the valid steps.",
            "bi_last": "feats = [forward half at its last valid step, reverse half at t = 0]: the "
                       "reverse direction reads the sequence backwards, so it ENDS at t = 0.",
            "bi_mean": "feats = masked mean of the (T, B, 2H) bidirectional outputs."}[config]
    check_close("classify_forward", "logits", logits, c.logits, hint=hint)


@pytest.mark.parametrize("config", CONFIGS)
def test_classify_backward_against_numerical_gradient(impl, config):
    c = CASES[f"classify_{config}"]
    pool = config.split("_")[1]
    params = _params(c)
    require_forward("classify_backward", "classify_forward",
                    {"logits": impl.classify_forward(c.x, c.lengths, params, pool)[0]}, c,
                    "test_classify_forward_values")
    logits, cache = impl.classify_forward(c.x, c.lengths, params, pool)
    dlogits = rand(np.random.default_rng(4), logits.shape)
    grads = impl.classify_backward(dlogits, cache)
    if not isinstance(grads, dict) or sorted(grads) != sorted(params):
        fail(f"classify_backward must return a dict with one gradient per parameter "
             f"{sorted(params)}; got {sorted(grads) if isinstance(grads, dict) else type(grads).__name__}")
    hints = {"W_cls": "dW_cls = dlogits.T @ feats.", "b_cls": "db_cls = dlogits.sum(axis=0)."}
    hints.update({k: f"the pooling's backward ({pool}) gives dout for the RNN's backward."
                  for k in params if k.startswith(("weight", "bias"))})
    check_backward("classify_backward", lambda: impl.classify_forward(c.x, c.lengths, params, pool)[0],
                   params, dlogits, grads, hints, forward_name="classify_forward")


# ----------------------------------------------------------------------------- TODO 8
def test_train_bidirectional_classifier(impl):
    params, acc = unpack("train_classifier", impl.train_classifier("last", True, steps=150),
                         ["params", "accuracy"])
    if not np.isfinite(acc) or acc < 0.9:
        fail(f"train_classifier(pool='last', bidirectional=True, steps=150) reached accuracy "
             f"{plain(acc)!r}; a working version gets above 0.9 (the first token is the reverse "
             f"direction's last input).\n  hint: a new batch every step, "
             f"softmax_cross_entropy -> classify_backward -> adam_step; accuracy on 1000 "
             f"fresh sequences.")
