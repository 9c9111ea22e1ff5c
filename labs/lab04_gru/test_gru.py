"""Grader for lab 04. Run:  pytest labs/lab04_gru   (add -x to stop at the first failure)

Forward values are compared with fixtures.npz; backward results with numerical gradients of
YOUR forward functions.
"""
import numpy as np
import pytest

from labs.grading import (check_array, check_backward, check_close, load_cases, part_fails, rand,
                          require_forward, unpack)

CASES = load_cases(__file__)
STEP_NAMES = ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"]
SEQ_NAMES = ["dx", "dh0", "dW_ih", "dW_hh", "db_ih", "db_hh"]
SEQ_SHAPES = {"seq_main": (5, 3, 4, 5), "seq_single_step": (1, 2, 3, 4), "seq_batch1": (4, 1, 3, 5)}

FORWARD_HINT = ("ax = x @ W_ih.T + b_ih and ah = h_prev @ W_hh.T + b_hh, each (B, 3H) in the order "
                "r, z, n; r = sigmoid(ax_r + ah_r), z = sigmoid(ax_z + ah_z), "
                "n = tanh(ax_n + r * ah_n), h = (1 - z) * n + z * h_prev.")
STEP_HINTS = {
    "x": "dx = dax @ W_ih with dax = [dar, daz, dan].",
    "h_prev": "dh_prev has a DIRECT part dh * z (from h = ... + z * h_prev) plus dah @ W_hh.",
    "W_ih": "dW_ih = dax.T @ x; the n block of dax is dan = dn * (1 - n**2), WITHOUT the factor r.",
    "W_hh": "dW_hh = dah.T @ h_prev; the n block of dah is dan * r (r multiplies ah_n).",
    "b_ih": "db_ih = dax.sum(axis=0).",
    "b_hh": "db_hh = dah.sum(axis=0); its n block carries the factor r, its r and z blocks do not.",
}
SEQ_HINTS = {
    "x": "at each step call gru_step_backward(dh[t] + dh_next, cache_t).",
    "h0": "dh0 is the dh_prev of the step t = 0.",
    "W_ih": "dW_ih is the SUM over all steps.",
    "W_hh": "dW_hh is the SUM over all steps; each step uses its own h_{t-1}.",
    "b_ih": "db_ih is the SUM over all steps.",
    "b_hh": "db_hh is the SUM over all steps.",
}
# Root causes (labs/grading.py, check_backward): one sentence in place of six hints.
GATE_LOCAL = {
    "r": "dar = dr * r * (1 - r) with dr = dan * ah_n, ah_n = h_prev @ W_hn.T + b_hn (sigmoid').",
    "z": "daz = dz * z * (1 - z) with dz = dh * (h_prev - n) (sigmoid').",
    "n": "dan = dn * (1 - n**2) with dn = dh * (1 - z) (tanh'); in dW_hh and db_hh the n block "
         "also carries the factor r (dah_n = dan * r), in dW_ih and db_ih it does not.",
}
STEP_LOCAL = ("the local derivative dan = dn * (1 - n**2), tanh' of the candidate: apart from "
              "the direct dh * z into dh_prev, every gradient passes through the n block "
              "(dax_n = dan, dah_n = dan * r) or the reset gate (dr = dan * ah_n).")
CARRIED = ("at step t call gru_step_backward(dh[t] + dh_next, cache[t]), where dh_next is the "
           "dh_prev that step t+1 returned (zeros at t = T-1): h_t feeds the loss AND step t+1.")
SUMMED = ("each weight is shared by all T steps, so its gradient is the SUM of every step's "
          "(dW_hh += ..., not dW_hh = ...), each step using its own cache.")
SEQ_LOCAL = ("what gru_backward passes to gru_step_backward (which passes its own test): at "
             "step t, dh[t] + dh_next and the cache of that same step t.")


def _step_inputs(rng, B, D=4, H=5):
    return dict(x=rand(rng, (B, D)), h_prev=rand(rng, (B, H)),
                W_ih=rand(rng, (3 * H, D), 0.5), W_hh=rand(rng, (3 * H, H), 0.5),
                b_ih=rand(rng, 3 * H, 0.5), b_hh=rand(rng, 3 * H, 0.5))


def _seq_inputs(rng, T, B, D, H):
    inp = _step_inputs(rng, B, D, H)
    inp["x"] = rand(rng, (T, B, D))
    inp["h0"] = inp.pop("h_prev")
    return {k: inp[k] for k in ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")}


# ----------------------------------------------------------------------------- TODO 1
@pytest.mark.parametrize("case", ["step_main", "step_batch1"])
def test_step_forward_values(impl, case):
    c = CASES[case]
    h, _ = unpack("gru_step_forward",
                  impl.gru_step_forward(c.x, c.h_prev, c.W_ih, c.W_hh, c.b_ih, c.b_hh),
                  ["h", "cache"])
    check_close("gru_step_forward", "h", h, c.h, hint=FORWARD_HINT)


def test_step_forward_gates_by_hand(impl):
    """Zero weights: the biases alone set the gates.

    Units 0-1: r = 1, z = 0  -> h = tanh(b_in + b_hn)
    Units 2-3: r = 0, z = 0  -> h = tanh(b_in)          (r multiplies W_hn h + b_hn)
    Units 4-5: z = 1         -> h = h_prev              (z keeps the old state)
    """
    B, D, H = 2, 3, 6
    big = 30.0
    r_pre = np.array([big, big, -big, -big, 0.0, 0.0])
    z_pre = np.array([-big, -big, -big, -big, big, big])
    b_in, b_hn = np.linspace(-0.8, 0.8, H), np.linspace(0.5, -0.5, H)
    b_ih = np.concatenate([r_pre, z_pre, b_in])
    b_hh = np.concatenate([np.zeros(H), np.zeros(H), b_hn])
    rng = np.random.default_rng(6)
    x, h_prev = rand(rng, (B, D)), rand(rng, (B, H))
    h, _ = impl.gru_step_forward(x, h_prev, np.zeros((3 * H, D)), np.zeros((3 * H, H)), b_ih, b_hh)
    expected = np.empty((B, H))
    expected[:, :2] = np.tanh(b_in[:2] + b_hn[:2])
    expected[:, 2:4] = np.tanh(b_in[2:4])
    expected[:, 4:] = h_prev[:, 4:]
    check_close("gru_step_forward", "h", h, expected, against="the value worked out by hand",
                label="by hand",
                hint="gate order r, z, n; z = 1 KEEPS h_prev: h = (1 - z) * n + z * h_prev; "
                     "r multiplies the whole recurrent part of n, bias included: "
                     "n = tanh(ax_n + r * (h_prev @ W_hn.T + b_hn)).")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_forward_shape_and_dtype(impl, dtype):
    inp = {k: v.astype(dtype) for k, v in _step_inputs(np.random.default_rng(7), 2, 3, 6).items()}
    h, _ = unpack("gru_step_forward", impl.gru_step_forward(**inp), ["h", "cache"])
    check_array("gru_step_forward", "h", h, (2, 6), dims="(B, H)", dtype=dtype)


# ----------------------------------------------------------------------------- TODO 2
@pytest.mark.parametrize("B", [3, 1], ids=["batch3", "batch1"])
def test_step_backward_against_numerical_gradient(impl, B):
    rng = np.random.default_rng(60 + B)
    f = CASES["step_main"]
    require_forward("gru_step_backward", "gru_step_forward",
                    {"h": impl.gru_step_forward(f.x, f.h_prev, f.W_ih, f.W_hh, f.b_ih, f.b_hh)[0]},
                    f, "test_step_forward_values")
    inp = _step_inputs(rng, B)
    h, cache = unpack("gru_step_forward", impl.gru_step_forward(**inp), ["h", "cache"])
    dh = rand(rng, h.shape)
    grads = unpack("gru_step_backward", impl.gru_step_backward(dh, cache), STEP_NAMES)
    check_backward("gru_step_backward", lambda: impl.gru_step_forward(**inp)[0], inp, dh,
                   dict(zip(inp, grads)), STEP_HINTS, forward_name="gru_step_forward", gates="rzn",
                   gate_local=GATE_LOCAL, local=STEP_LOCAL)


# ----------------------------------------------------------------------------- TODO 3
@pytest.mark.parametrize("case", list(SEQ_SHAPES))
def test_forward_values(impl, case):
    c = CASES[case]
    h, _ = unpack("gru_forward", impl.gru_forward(c.x, c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh),
                  ["h", "cache"])
    check_close("gru_forward", "h", h, c.h, hint="h[t] is the output of step t, fed into step t+1.")


def test_forward_float32(impl):
    inp = {k: v.astype(np.float32) for k, v in _seq_inputs(np.random.default_rng(8), 3, 2, 3, 4).items()}
    h, _ = unpack("gru_forward", impl.gru_forward(**inp), ["h", "cache"])
    check_array("gru_forward", "h", h, (3, 2, 4), dims="(T, B, H)", dtype=np.float32)


# ----------------------------------------------------------------------------- TODO 4
@pytest.mark.parametrize("case", list(SEQ_SHAPES))
def test_backward_against_numerical_gradient(impl, case):
    rng = np.random.default_rng(70 + list(SEQ_SHAPES).index(case))
    _require_seq_forward(impl)
    inp = _seq_inputs(rng, *SEQ_SHAPES[case])
    h, cache = unpack("gru_forward", impl.gru_forward(**inp), ["h", "cache"])
    dh = rand(rng, h.shape)
    grads = unpack("gru_backward", impl.gru_backward(dh, cache), SEQ_NAMES)
    _check_seq_backward(impl, inp, dh, grads)


def test_backward_loss_only_at_the_end(impl):
    rng = np.random.default_rng(80)
    _require_seq_forward(impl)
    inp = _seq_inputs(rng, 6, 2, 3, 4)
    h, cache = impl.gru_forward(**inp)
    dh = np.zeros_like(h)
    dh[-1] = rand(rng, dh[-1].shape)
    grads = unpack("gru_backward", impl.gru_backward(dh, cache), SEQ_NAMES)
    _check_seq_backward(impl, inp, dh, grads)


def _require_seq_forward(impl):
    f = CASES["seq_main"]
    require_forward("gru_backward", "gru_forward",
                    {"h": impl.gru_forward(f.x, f.h0, f.W_ih, f.W_hh, f.b_ih, f.b_hh)[0]}, f,
                    "test_forward_values")


def _step_backward_fails(impl):
    """None, or why gru_backward cannot be right: the step it runs is wrong."""
    rng = np.random.default_rng(61)
    inp = _step_inputs(rng, 2, D=3, H=4)
    dh = rand(rng, (2, 4))
    return part_fails("gru_step_backward", "test_step_backward_against_numerical_gradient",
                      lambda: impl.gru_step_forward(**inp)[0], inp, dh,
                      lambda: dict(zip(inp, impl.gru_step_backward(
                          dh, impl.gru_step_forward(**inp)[1]))))


def _check_seq_backward(impl, inp, dh, grads):
    check_backward("gru_backward", lambda: impl.gru_forward(**inp)[0], inp, dh,
                   dict(zip(inp, grads)), SEQ_HINTS, forward_name="gru_forward", gates="rzn",
                   time_major=("x",), carried=CARRIED, weights_summed=SUMMED, local=SEQ_LOCAL,
                   diagnose=lambda: _step_backward_fails(impl))
