"""Grader for lab 01. Run:  pytest labs/lab01_rnn_step   (add -x to stop at the first failure)

Forward values are compared with fixtures.npz; backward results with numerical gradients of
YOUR rnn_step_forward; numerical_gradient and rel_error with values worked out by hand.
"""
import numpy as np
import pytest

from labs.grading import (check_array, check_backward, check_close, fail, load_cases, plain, rand,
                          require_forward, unpack)

CASES = load_cases(__file__)

FORWARD_HINT = ("h = tanh(x @ W_ih.T + h_prev @ W_hh.T + b). Check both transposes (W_ih is "
                "(H, D), W_hh is (H, H)), that the bias is added, and that tanh is applied.")
BACKWARD_HINTS = {
    "x": "dx = da @ W_ih, with da = dh * (1 - h**2). A wrong dx usually means da is wrong.",
    "h_prev": "dh_prev = da @ W_hh (not W_hh.T: in the forward, h_prev was multiplied by W_hh.T).",
    "W_ih": "dW_ih = da.T @ x, shape (H, D).",
    "W_hh": "dW_hh = da.T @ h_prev: the PREVIOUS state, not the new h.",
    "b": "db = da.sum(axis=0): the bias is shared by every row of the batch, so sum (not average).",
}
# Every gradient is a product with da, so when all five are wrong, da is: tanh's local derivative.
LOCAL_DERIVATIVE = ("the local derivative in da = dh * (1 - h**2), the upstream dh times tanh' "
                    "(tanh'(a) = 1 - tanh(a)**2 = 1 - h**2, with the NEW h from the cache); dx, "
                    "dh_prev, dW_ih, dW_hh and db are all built from da.")


def _inputs(rng, B, D=5, H=4):
    return dict(x=rand(rng, (B, D)), h_prev=rand(rng, (B, H)), W_ih=rand(rng, (H, D), 0.5),
                W_hh=rand(rng, (H, H), 0.5), b=rand(rng, H, 0.5))


# ----------------------------------------------------------------------------- TODO 1
@pytest.mark.parametrize("case", ["main", "batch1"])
def test_step_forward_values(impl, case):
    """h for fixed inputs (a batch of 3, and a batch of one) equals the stored values."""
    c = CASES[case]
    h, _ = unpack("rnn_step_forward", impl.rnn_step_forward(c.x, c.h_prev, c.W_ih, c.W_hh, c.b),
                  ["h", "cache"])
    check_close("rnn_step_forward", "h", h, c.h, hint=FORWARD_HINT)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_forward_shape_and_dtype(impl, dtype):
    rng = np.random.default_rng(1)
    inp = {k: v.astype(dtype) for k, v in _inputs(rng, B=2, D=3, H=7).items()}
    h, _ = unpack("rnn_step_forward", impl.rnn_step_forward(**inp), ["h", "cache"])
    check_array("rnn_step_forward", "h", h, (2, 7), dims="(B, H)", dtype=dtype)


def test_step_forward_leaves_inputs_alone(impl):
    """In-place operations on the inputs (x += ..., np.tanh(a, out=h_prev)) corrupt the caller's data."""
    inp = _inputs(np.random.default_rng(2), B=3)
    before = {k: v.copy() for k, v in inp.items()}
    impl.rnn_step_forward(**inp)
    for k in inp:
        if not np.array_equal(inp[k], before[k]):
            fail(f"rnn_step_forward changed its input {k}.\n  hint: use a = x @ W_ih.T + ... "
                 f"(a new array) instead of modifying {k} in place.")


# ----------------------------------------------------------------------------- TODO 2
def test_numerical_gradient_of_a_scalar_function(impl):
    """f(x) = sum(sin(x) * w) has gradient cos(x) * w."""
    rng = np.random.default_rng(3)
    x, w = rand(rng, (3, 4)), rand(rng, (3, 4))
    grad = impl.numerical_gradient(lambda: float(np.sum(np.sin(x) * w)), x)
    check_close("numerical_gradient", "grad", grad, np.cos(x) * w,
                against="the exact gradient cos(x) * w", label="exact", rtol=1e-7, atol=1e-9,
                hint="grad[i] = (f() with x[i] + h  -  f() with x[i] - h) / (2 h); change x in "
                     "place (f reads x), one entry at a time. A forward difference "
                     "(f(x + h) - f(x)) / h is only accurate to about h and fails here.")


def test_numerical_gradient_with_dout(impl):
    """f(x) = tanh(x) (an array): the result is the gradient of sum(f() * dout), (1 - tanh^2) * dout."""
    rng = np.random.default_rng(4)
    x, dout = rand(rng, (2, 5)), rand(rng, (2, 5))
    grad = impl.numerical_gradient(lambda: np.tanh(x), x, dout)
    check_close("numerical_gradient", "grad", grad, (1 - np.tanh(x) ** 2) * dout,
                against="the exact gradient (1 - tanh(x)^2) * dout", label="exact",
                rtol=1e-7, atol=1e-9,
                hint="with dout given, use np.sum(f() * dout) in place of f() in the difference.")


def test_numerical_gradient_restores_x(impl):
    rng = np.random.default_rng(5)
    x = rand(rng, (4, 3))
    before = x.copy()
    impl.numerical_gradient(lambda: float(np.sum(x ** 3)), x)
    if not np.array_equal(x, before):
        idx = tuple(np.argwhere(x != before)[0])
        fail(f"numerical_gradient left x changed, first at x{list(idx)}: {plain(x[idx])!r} instead of "
             f"{plain(before[idx])!r}.\n  hint: save old = x[i], evaluate at old + h and old - h, then "
             f"set x[i] = old (not x[i] += h; x[i] -= h, which leaves round-off behind).")


# ----------------------------------------------------------------------------- TODO 3
@pytest.mark.parametrize("a,b,expected,why", [
    ([1.0, 2.0], [1.0, 3.0], 0.2, "max over entries of |a-b|/(|a|+|b|): 0 and 1/5"),
    ([-1.0, 0.5], [1.0, 0.5], 1.0, "|-1 - 1| / (|-1| + |1|) = 1: use absolute values"),
    ([0.0, 0.0], [0.0, 0.0], 0.0, "both zero: the floor max(1e-8, ...) avoids 0/0 = nan"),
    ([1e-9], [0.0], 0.1, "|1e-9| / max(1e-8, 1e-9) = 0.1: the floor is 1e-8"),
], ids=["max-over-entries", "absolute-values", "both-zero", "floor"])
def test_rel_error_values(impl, a, b, expected, why):
    got = impl.rel_error(np.array(a), np.array(b))
    if not isinstance(got, (float, np.floating)) or not np.isfinite(got) or \
            abs(got - expected) > 1e-12 * max(1.0, expected):
        fail(f"rel_error({a}, {b}) returned {plain(got)!r}, expected {expected}.\n  hint: {why}.")


# ----------------------------------------------------------------------------- TODO 4
@pytest.mark.parametrize("B", [3, 1], ids=["batch3", "batch1"])
def test_step_backward_against_numerical_gradient(impl, B):
    """Every gradient equals the numerical gradient of your forward (relative error < 1e-6)."""
    rng = np.random.default_rng(10 + B)
    c = CASES["main"]
    require_forward("rnn_step_backward", "rnn_step_forward",
                    {"h": impl.rnn_step_forward(c.x, c.h_prev, c.W_ih, c.W_hh, c.b)[0]}, c,
                    "test_step_forward_values")
    inp = _inputs(rng, B)
    h, cache = unpack("rnn_step_forward", impl.rnn_step_forward(**inp), ["h", "cache"])
    dh = rand(rng, h.shape)
    grads = unpack("rnn_step_backward", impl.rnn_step_backward(dh, cache),
                   ["dx", "dh_prev", "dW_ih", "dW_hh", "db"])
    check_backward("rnn_step_backward", lambda: impl.rnn_step_forward(**inp)[0], inp, dh,
                   dict(zip(inp, grads)), BACKWARD_HINTS, forward_name="rnn_step_forward",
                   local=LOCAL_DERIVATIVE)


def test_step_backward_dtype(impl):
    rng = np.random.default_rng(6)
    inp = {k: v.astype(np.float32) for k, v in _inputs(rng, B=2).items()}
    h, cache = impl.rnn_step_forward(**inp)
    grads = unpack("rnn_step_backward", impl.rnn_step_backward(np.ones_like(h), cache),
                   ["dx", "dh_prev", "dW_ih", "dW_hh", "db"])
    for (k, v), g in zip(inp.items(), grads):
        check_array("rnn_step_backward", "d" + k, g, v.shape, dims=f"the shape of {k}",
                    dtype=np.float32)
