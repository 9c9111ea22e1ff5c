"""Grader for lab 03. Run:  pytest labs/lab03_lstm   (add -x to stop at the first failure)

Forward values are compared with fixtures.npz; backward results with numerical gradients of
YOUR forward functions.
"""
import numpy as np
import pytest

from labs.grading import (check_array, check_backward, check_close, load_cases, part_fails, rand,
                          require_forward, unpack)

CASES = load_cases(__file__)
STEP_NAMES = ["dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db"]
SEQ_NAMES = ["dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"]
SEQ_SHAPES = {"seq_main": (5, 3, 4, 5), "seq_single_step": (1, 2, 3, 4), "seq_batch1": (4, 1, 3, 5)}

FORWARD_HINT = ("a = x @ W_ih.T + h_prev @ W_hh.T + b is (B, 4H): columns 0:H are i, H:2H f, "
                "2H:3H g, 3H:4H o. sigmoid for i, f, o; tanh for g; c = f*c_prev + i*g; "
                "h = o*tanh(c).")
STEP_HINTS = {
    "x": "dx = da @ W_ih; if only dx is wrong, look at how da is assembled from the four blocks.",
    "h_prev": "dh_prev = da @ W_hh.",
    "c_prev": "dc_prev = dct * f where dct = dc + dh * o * (1 - tanh(c)**2) is the TOTAL gradient "
              "of c (the part through h = o*tanh(c) is easy to forget).",
    "W_ih": "dW_ih = da.T @ x with da = [da_i, da_f, da_g, da_o] in the SAME order as the forward.",
    "W_hh": "dW_hh = da.T @ h_prev. Check each gate's derivative: sigmoid' = s(1-s), tanh' = 1-t^2.",
    "b": "db = da.sum(axis=0); each block needs its gate's derivative (i(1-i), f(1-f), 1-g^2, o(1-o)).",
}
SEQ_HINTS = {
    "x": "at each step call lstm_step_backward(dh[t] + dh_next, dc_next, cache_t).",
    "h0": "dh0 is the dh_prev of the step t = 0.",
    "c0": "dc0 is the dc_prev of the step t = 0; dc must be carried from step to step like dh.",
    "W_ih": "dW_ih is the SUM over all steps.",
    "W_hh": "dW_hh is the SUM over all steps; each step uses its own cache (its own h_{t-1}).",
    "b": "db is the SUM over all steps.",
}
# Root causes (labs/grading.py, check_backward): one sentence in place of six hints.
GATE_LOCAL = {
    "i": "da_i = di * i * (1 - i) with di = dct * g (sigmoid' = s(1 - s)).",
    "f": "da_f = df * f * (1 - f) with df = dct * c_prev (sigmoid' = s(1 - s)).",
    "g": "da_g = dg * (1 - g**2) with dg = dct * i (tanh' = 1 - t**2).",
    "o": "da_o = do * o * (1 - o) with do = dh * tanh(c) (sigmoid' = s(1 - s)).",
}
STEP_LOCAL = ("the local derivative in dct = dc + dh * o * (1 - tanh(c)**2), the TOTAL gradient "
              "of c: the path through h = o * tanh(c) needs tanh'(c) = 1 - tanh(c)**2, and every "
              "gate's gradient and dc_prev are built from dct.")
CARRIED = ("at step t call lstm_step_backward(dh[t] + dh_next, dc_next, cache[t]), where dh_next "
           "and dc_next are the dh_prev and dc_prev that step t+1 returned (zeros at t = T-1): "
           "BOTH states carry gradient back in time.")
SUMMED = ("each weight is shared by all T steps, so its gradient is the SUM of every step's "
          "(dW_hh += ..., not dW_hh = ...), each step using its own cache.")
SEQ_LOCAL = ("what lstm_backward passes to lstm_step_backward (which passes its own test): at "
             "step t, dh[t] + dh_next, dc_next, and the cache of that same step t.")


def _step_inputs(rng, B, D=4, H=5):
    return dict(x=rand(rng, (B, D)), h_prev=rand(rng, (B, H)), c_prev=rand(rng, (B, H)),
                W_ih=rand(rng, (4 * H, D), 0.5), W_hh=rand(rng, (4 * H, H), 0.5),
                b=rand(rng, 4 * H, 0.5))


def _seq_inputs(rng, T, B, D, H):
    return dict(x=rand(rng, (T, B, D)), h0=rand(rng, (B, H)), c0=rand(rng, (B, H)),
                W_ih=rand(rng, (4 * H, D), 0.5), W_hh=rand(rng, (4 * H, H), 0.5),
                b=rand(rng, 4 * H, 0.5))


# ----------------------------------------------------------------------------- TODO 1
@pytest.mark.parametrize("case", ["step_main", "step_batch1"])
def test_step_forward_values(impl, case):
    c = CASES[case]
    h, cc, _ = unpack("lstm_step_forward",
                      impl.lstm_step_forward(c.x, c.h_prev, c.c_prev, c.W_ih, c.W_hh, c.b),
                      ["h", "c", "cache"])
    check_close("lstm_step_forward", "c", cc, c.c, hint=FORWARD_HINT)
    check_close("lstm_step_forward", "h", h, c.h, hint=FORWARD_HINT)


def test_step_forward_gate_order(impl):
    """With zero weights the biases alone set the gates: a gate order check you can do by hand.

    Units 0-2: i = 1, f = 0 (forget, write g);  units 3-5: i = 0, f = 1 (keep c_prev); o = 1.
    """
    B, D, H = 2, 3, 6
    big = 30.0                                  # sigmoid(30) = 1 - 1e-13, sigmoid(-30) ~ 1e-13
    v = np.linspace(-1.0, 1.0, H)               # the g pre-activation
    on = np.array([big] * 3 + [-big] * 3)
    b = np.concatenate([on, -on, v, np.full(H, big)])        # i, f, g, o
    rng = np.random.default_rng(3)
    x, h_prev, c_prev = rand(rng, (B, D)), rand(rng, (B, H)), rand(rng, (B, H))
    h, c, _ = impl.lstm_step_forward(x, h_prev, c_prev, np.zeros((4 * H, D)), np.zeros((4 * H, H)), b)
    expected_c = np.where(on > 0, np.tanh(v), c_prev)
    hint = ("gate order must be i, f, g, o: b[0:H] feeds the input gate, b[H:2H] the forget gate, "
            "b[2H:3H] the candidate g (tanh), b[3H:4H] the output gate. Here units 0-2 have i=1, "
            "f=0 (so c = g) and units 3-5 have i=0, f=1 (so c = c_prev).")
    check_close("lstm_step_forward", "c", c, expected_c, against="the value worked out by hand",
                label="by hand", hint=hint)
    check_close("lstm_step_forward", "h", h, np.tanh(expected_c), against="tanh(c) (o = 1)",
                label="by hand", hint=hint)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_forward_shapes_and_dtype(impl, dtype):
    inp = {k: v.astype(dtype) for k, v in _step_inputs(np.random.default_rng(4), 2, 3, 6).items()}
    h, c, _ = unpack("lstm_step_forward", impl.lstm_step_forward(**inp), ["h", "c", "cache"])
    check_array("lstm_step_forward", "h", h, (2, 6), dims="(B, H)", dtype=dtype)
    check_array("lstm_step_forward", "c", c, (2, 6), dims="(B, H)", dtype=dtype)


# ----------------------------------------------------------------------------- TODO 2
@pytest.mark.parametrize("B,upstream", [(3, "dh_and_dc"), (1, "dh_and_dc"), (3, "dh_only"),
                                        (3, "dc_only")])
def test_step_backward_against_numerical_gradient(impl, B, upstream):
    rng = np.random.default_rng(30 + B + len(upstream))
    f = CASES["step_main"]
    got = impl.lstm_step_forward(f.x, f.h_prev, f.c_prev, f.W_ih, f.W_hh, f.b)
    require_forward("lstm_step_backward", "lstm_step_forward", {"h": got[0], "c": got[1]}, f,
                    "test_step_forward_values")
    inp = _step_inputs(rng, B)
    h, c, cache = unpack("lstm_step_forward", impl.lstm_step_forward(**inp), ["h", "c", "cache"])
    dh = rand(rng, h.shape) * (upstream != "dc_only")
    dc = rand(rng, c.shape) * (upstream != "dh_only")
    grads = unpack("lstm_step_backward", impl.lstm_step_backward(dh, dc, cache), STEP_NAMES)
    check_backward("lstm_step_backward", lambda: impl.lstm_step_forward(**inp)[:2], inp, (dh, dc),
                   dict(zip(inp, grads)), STEP_HINTS, forward_name="lstm_step_forward", gates="ifgo",
                   gate_local=GATE_LOCAL, local=STEP_LOCAL)


# ----------------------------------------------------------------------------- TODO 3
@pytest.mark.parametrize("case", list(SEQ_SHAPES))
def test_forward_values(impl, case):
    c = CASES[case]
    h, _ = unpack("lstm_forward", impl.lstm_forward(c.x, c.h0, c.c0, c.W_ih, c.W_hh, c.b),
                  ["h", "cache"])
    check_close("lstm_forward", "h", h, c.h,
                hint="carry BOTH h and c from each step to the next; h[t] is the h of step t.")


def test_forward_float32(impl):
    inp = {k: v.astype(np.float32) for k, v in _seq_inputs(np.random.default_rng(5), 3, 2, 3, 4).items()}
    h, _ = unpack("lstm_forward", impl.lstm_forward(**inp), ["h", "cache"])
    check_array("lstm_forward", "h", h, (3, 2, 4), dims="(T, B, H)", dtype=np.float32)


# ----------------------------------------------------------------------------- TODO 4
@pytest.mark.parametrize("case", list(SEQ_SHAPES))
def test_backward_against_numerical_gradient(impl, case):
    rng = np.random.default_rng(40 + list(SEQ_SHAPES).index(case))
    _require_seq_forward(impl)
    inp = _seq_inputs(rng, *SEQ_SHAPES[case])
    h, cache = unpack("lstm_forward", impl.lstm_forward(**inp), ["h", "cache"])
    dh = rand(rng, h.shape)
    grads = unpack("lstm_backward", impl.lstm_backward(dh, cache), SEQ_NAMES)
    _check_seq_backward(impl, inp, dh, grads)


def test_backward_loss_only_at_the_end(impl):
    """The gradient of a loss on h_{T-1} alone must reach x[0], h0 and c0 through dh AND dc."""
    rng = np.random.default_rng(50)
    _require_seq_forward(impl)
    inp = _seq_inputs(rng, 6, 2, 3, 4)
    h, cache = impl.lstm_forward(**inp)
    dh = np.zeros_like(h)
    dh[-1] = rand(rng, dh[-1].shape)
    grads = unpack("lstm_backward", impl.lstm_backward(dh, cache), SEQ_NAMES)
    _check_seq_backward(impl, inp, dh, grads)


def _require_seq_forward(impl):
    f = CASES["seq_main"]
    require_forward("lstm_backward", "lstm_forward",
                    {"h": impl.lstm_forward(f.x, f.h0, f.c0, f.W_ih, f.W_hh, f.b)[0]}, f,
                    "test_forward_values")


def _step_backward_fails(impl):
    """None, or why lstm_backward cannot be right: the step it runs is wrong."""
    rng = np.random.default_rng(31)
    inp = _step_inputs(rng, 2, D=3, H=4)
    dh, dc = rand(rng, (2, 4)), rand(rng, (2, 4))
    return part_fails("lstm_step_backward", "test_step_backward_against_numerical_gradient",
                      lambda: impl.lstm_step_forward(**inp)[:2], inp, (dh, dc),
                      lambda: dict(zip(inp, impl.lstm_step_backward(
                          dh, dc, impl.lstm_step_forward(**inp)[2]))))


def _check_seq_backward(impl, inp, dh, grads):
    check_backward("lstm_backward", lambda: impl.lstm_forward(**inp)[0], inp, dh,
                   dict(zip(inp, grads)), SEQ_HINTS, forward_name="lstm_forward", gates="ifgo",
                   time_major=("x",), carried=CARRIED, weights_summed=SUMMED, local=SEQ_LOCAL,
                   diagnose=lambda: _step_backward_fails(impl))
