"""Grader for lab 02. Run:  pytest labs/lab02_bptt   (add -x to stop at the first failure)

Forward values are compared with fixtures.npz; backward results with numerical gradients of
YOUR forward functions; the experiment with what theory predicts (rho^(T-1-t)).
"""
import numpy as np
import pytest

from labs.grading import (check_array, check_backward, check_close, fail, load_cases, part_fails,
                          plain, rand, require_forward, unpack)

CASES = load_cases(__file__)
SHAPES = {"main": (5, 3, 4, 6), "single_step": (1, 2, 3, 4), "batch1": (4, 1, 3, 5)}

RNN_HINTS = {
    "x": "dx[t] comes from rnn_step_backward at step t; is the total dh of step t right?",
    "h0": "dh0 is the dh_prev returned by the step at t = 0 (after all later steps sent theirs back).",
    "W_ih": "dW_ih must be the SUM over t of every step's dW_ih (the weight is shared in time).",
    "W_hh": "dW_hh is a sum over ALL steps; each step uses its own h_{t-1} (its own cache). "
            "Off by one in time, or only the last step kept, gives this error.",
    "b": "db is a sum over all steps (and the batch).",
}
# Root causes (labs/grading.py, check_backward): one sentence in place of five hints.
CARRIED = ("at step t call rnn_step_backward(dh[t] + dh_next, cache[t]), where dh_next is the "
           "dh_prev that step t+1 returned (zeros at t = T-1): h_t feeds the loss AND step t+1.")
SUMMED = ("each weight is shared by all T steps, so its gradient is the SUM of every step's "
          "(dW_hh += ..., not dW_hh = ...), each step using its own cache.")
ALL_WRONG = ("what rnn_backward passes to rnn_step_backward (given, and right): at "
             "step t the TOTAL dh[t] + dh_next, and the cache of that same step t.")


def _rnn_inputs(rng, T, B, D, H):
    return dict(x=rand(rng, (T, B, D)), h0=rand(rng, (B, H)), W_ih=rand(rng, (H, D), 0.5),
                W_hh=rand(rng, (H, H), 0.4), b=rand(rng, H, 0.5))


def _rnn_args(c):
    return c.x, c.h0, c.W_ih, c.W_hh, c.b


# ----------------------------------------------------------------------------- TODO 1
@pytest.mark.parametrize("case", list(SHAPES))
def test_rnn_forward_values(impl, case):
    c = CASES[case]
    h, _ = unpack("rnn_forward", impl.rnn_forward(*_rnn_args(c)), ["h", "cache"])
    check_close("rnn_forward", "h", h, c.h,
                hint="h[0] comes from h0, h[t] from h[t-1]; store h_t at index t (not t+1).")


def test_rnn_forward_float32(impl):
    inp = {k: v.astype(np.float32) for k, v in _rnn_inputs(np.random.default_rng(1), 3, 2, 3, 4).items()}
    h, _ = unpack("rnn_forward", impl.rnn_forward(**inp), ["h", "cache"])
    check_array("rnn_forward", "h", h, (3, 2, 4), dims="(T, B, H)", dtype=np.float32)


# ----------------------------------------------------------------------------- TODO 2
@pytest.mark.parametrize("case", list(SHAPES))
def test_rnn_backward_against_numerical_gradient(impl, case):
    """Checked in single steps (T=1), a batch of one, and a general case."""
    rng = np.random.default_rng(20 + list(SHAPES).index(case))
    _require_rnn_forward(impl)
    inp = _rnn_inputs(rng, *SHAPES[case])
    h, cache = unpack("rnn_forward", impl.rnn_forward(**inp), ["h", "cache"])
    dh = rand(rng, h.shape)
    grads = unpack("rnn_backward", impl.rnn_backward(dh, cache),
                   ["dx", "dh0", "dW_ih", "dW_hh", "db"])
    _check_rnn_backward(impl, inp, dh, grads)


def test_rnn_backward_only_last_step_has_a_loss(impl):
    """dh is zero except at the last step: the gradient must still reach h0 and every x[t]."""
    rng = np.random.default_rng(7)
    inp = _rnn_inputs(rng, 6, 2, 3, 4)
    _require_rnn_forward(impl)
    h, cache = impl.rnn_forward(**inp)
    dh = np.zeros_like(h)
    dh[-1] = rand(rng, dh[-1].shape)
    grads = unpack("rnn_backward", impl.rnn_backward(dh, cache),
                   ["dx", "dh0", "dW_ih", "dW_hh", "db"])
    _check_rnn_backward(impl, inp, dh, grads)


def _require_rnn_forward(impl):
    c = CASES["main"]
    require_forward("rnn_backward", "rnn_forward", {"h": impl.rnn_forward(*_rnn_args(c))[0]}, c,
                    "test_rnn_forward_values")


def _step_backward_fails(impl):
    """None, or why rnn_backward cannot be right: the step it runs is wrong (if you pasted yours)."""
    rng = np.random.default_rng(21)
    inp = dict(x=rand(rng, (2, 3)), h_prev=rand(rng, (2, 4)), W_ih=rand(rng, (4, 3), 0.5),
               W_hh=rand(rng, (4, 4), 0.4), b=rand(rng, 4, 0.5))
    dh = rand(rng, (2, 4))
    return part_fails("rnn_step_backward", "pytest labs/lab01_rnn_step",
                      lambda: impl.rnn_step_forward(**inp)[0], inp, dh,
                      lambda: dict(zip(inp, impl.rnn_step_backward(
                          dh, impl.rnn_step_forward(**inp)[1]))))


def _check_rnn_backward(impl, inp, dh, grads):
    check_backward("rnn_backward", lambda: impl.rnn_forward(**inp)[0], inp, dh,
                   dict(zip(inp, grads)), RNN_HINTS, forward_name="rnn_forward",
                   time_major=("x",), carried=CARRIED, weights_summed=SUMMED, local=ALL_WRONG,
                   diagnose=lambda: _step_backward_fails(impl))


# ----------------------------------------------------------------------------- TODO 3, 4
@pytest.mark.parametrize("case", ["main", "batch1"])
def test_temporal_affine_forward_values(impl, case):
    c = CASES[case]
    s, _ = unpack("temporal_affine_forward", impl.temporal_affine_forward(c.h, c.W_hy, c.b_y),
                  ["scores", "cache"])
    check_close("temporal_affine_forward", "scores", s, c.scores,
                hint="scores = h @ W_hy.T + b_y works on (T, B, H) directly (matmul broadcasts).")


def test_temporal_affine_backward_against_numerical_gradient(impl):
    c = CASES["main"]
    require_forward("temporal_affine_backward", "temporal_affine_forward",
                    {"scores": impl.temporal_affine_forward(c.h, c.W_hy, c.b_y)[0]}, c,
                    "test_temporal_affine_forward_values")
    rng = np.random.default_rng(8)
    inp = dict(h=rand(rng, (4, 3, 5)), W_hy=rand(rng, (6, 5)), b_y=rand(rng, 6))
    s, cache = impl.temporal_affine_forward(**inp)
    ds = rand(rng, s.shape)
    grads = unpack("temporal_affine_backward", impl.temporal_affine_backward(ds, cache),
                   ["dh", "dW_hy", "db_y"])
    hints = {"h": "dh = dscores @ W_hy.",
             "W_hy": "dW_hy sums over time AND batch: reshape dscores to (T*B, V), h to (T*B, H).",
             "b_y": "db_y = dscores.sum(axis=(0, 1))."}
    check_backward("temporal_affine_backward", lambda: impl.temporal_affine_forward(**inp)[0],
                   inp, ds, dict(zip(inp, grads)), hints, forward_name="temporal_affine_forward")


# ----------------------------------------------------------------------------- TODO 5
LOSS_HINT = ("L = sum over positions with mask 1 of -log softmax(scores)[y], divided by the "
             "number of such positions (not by T*B, not by B).")


@pytest.mark.parametrize("case", ["main", "single_step", "batch1"])
def test_softmax_loss_value(impl, case):
    c = CASES[case]
    loss, _ = unpack("temporal_softmax_loss", impl.temporal_softmax_loss(c.scores, c.y, c.mask),
                     ["loss", "dscores"])
    check_close("temporal_softmax_loss", "loss", np.asarray(loss, dtype=float), c.loss,
                hint=LOSS_HINT)


def test_softmax_loss_gradient_against_numerical(impl):
    c = CASES["main"]
    require_forward("the gradient of temporal_softmax_loss", "temporal_softmax_loss",
                    {"loss": np.asarray(impl.temporal_softmax_loss(c.scores, c.y, c.mask)[0],
                                        dtype=float)}, c, "test_softmax_loss_value")
    scores = np.ascontiguousarray(c.scores.copy())
    _, ds = impl.temporal_softmax_loss(scores, c.y, c.mask)
    check_backward("temporal_softmax_loss",
                   lambda: np.asarray(impl.temporal_softmax_loss(scores, c.y, c.mask)[0]),
                   {"scores": scores}, np.ones(()), {"scores": ds},
                   {"scores": "dscores = mask * (softmax(scores) - onehot(y)) / N, with the same "
                              "N as the loss; padded positions get exactly 0."},
                   forward_name="temporal_softmax_loss")


def test_softmax_loss_ignores_padding(impl):
    """Changing scores where mask = 0 must change neither the loss nor the gradient elsewhere."""
    c = CASES["main"]
    loss, ds = impl.temporal_softmax_loss(c.scores, c.y, c.mask)
    noisy = c.scores + 50.0 * (1 - c.mask)[:, :, None] * np.random.default_rng(9).standard_normal(c.scores.shape)
    loss2, ds2 = impl.temporal_softmax_loss(noisy, c.y, c.mask)
    if abs(loss - loss2) > 1e-10 or np.abs(ds[c.mask == 0]).max() > 0:
        fail(f"temporal_softmax_loss: padded positions (mask = 0) affect the result: loss {loss:.6f} "
             f"became {loss2:.6f} when only padded scores changed, and dscores at padded positions "
             f"has max |.| = {np.abs(ds[c.mask == 0]).max():.3g} (must be 0).\n"
             f"  hint: multiply each position's loss and its gradient by mask[t, b].")


def test_softmax_loss_zero_length_mask(impl):
    """All positions padded: loss 0 and a zero gradient, not nan (0/0)."""
    c = CASES["main"]
    mask = np.zeros_like(c.mask)
    loss, ds = unpack("temporal_softmax_loss", impl.temporal_softmax_loss(c.scores, c.y, mask),
                      ["loss", "dscores"])
    if not np.isfinite(loss) or loss != 0 or not np.all(ds == 0):
        hint = ("divide by N = max(1, mask.sum()), never by mask.sum() itself (0/0 = nan)."
                if not np.isfinite(loss) else
                "with every position padded nothing may count: multiply each position's loss and "
                "gradient by mask[t, b].")
        fail(f"temporal_softmax_loss with an all-zero mask returned loss {plain(loss)!r} and dscores with "
             f"max |.| {np.nanmax(np.abs(ds)) if np.size(ds) else 'n/a'}; expected 0 and all zeros.\n"
             f"  hint: {hint}")


def test_softmax_loss_large_scores(impl):
    """Scores around 1000 must not overflow exp (the softmax is shift-invariant)."""
    c = CASES["main"]
    big = c.scores * 1000.0
    with np.errstate(all="ignore"):
        loss, ds = impl.temporal_softmax_loss(big, c.y, c.mask)
    if not np.isfinite(loss) or not np.all(np.isfinite(ds)):
        fail(f"temporal_softmax_loss overflows for large scores (loss = {plain(loss)!r}).\n"
             f"  hint: subtract scores.max(axis=-1, keepdims=True) before np.exp, and compute "
             f"log softmax as shifted - log(sum(exp(shifted))).")
    check_close("temporal_softmax_loss", "row sums of dscores", ds.sum(axis=-1), np.zeros(c.y.shape),
                against="0 (each row of p - onehot sums to 0)", label="expected",
                hint="dscores = mask * (p - onehot(y)) / N.")


# ----------------------------------------------------------------------------- TODO 6
@pytest.mark.parametrize("case", ["main", "single_step", "batch1"])
def test_hidden_grad_norms_values(impl, case):
    c = CASES[case]
    norms = impl.hidden_grad_norms(*_rnn_args(c), c.dh_last)
    check_close("hidden_grad_norms", "norms", norms, c.norms,
                hint="norms[T-1] = ||dh_last||; norms[t-1] = ||dh_prev|| returned by the backward "
                     "of step t. Record the norm BEFORE stepping back, at index t.")


# ----------------------------------------------------------------------------- TODO 7
def test_clip_by_norm_rescales_all_together(impl):
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0], [4.0]])}
    before = {k: v.copy() for k, v in grads.items()}
    clipped, total = unpack("clip_by_norm", impl.clip_by_norm(grads, 1.0), ["clipped", "total_norm"])
    if not np.isclose(total, 5.0, rtol=1e-12):
        fail(f"clip_by_norm: total_norm is {plain(total)!r}, expected 5.0 = sqrt(3^2 + 4^2) over ALL arrays.")
    scale = 1.0 / (5.0 + 1e-6)
    for k in grads:
        check_close("clip_by_norm", f"clipped['{k}']", clipped[k], before[k] * scale,
                    against="grads * max_norm / (total_norm + 1e-6)", label="expected",
                    hint="one common scale for every array (joint norm), not one per array.")
        if not np.array_equal(grads[k], before[k]):
            fail(f"clip_by_norm changed its input grads['{k}']: return new arrays (g * scale).")


def test_clip_by_norm_leaves_small_gradients(impl):
    grads = {"a": np.array([0.3, -0.4]), "b": np.array([0.0])}
    clipped, total = impl.clip_by_norm(grads, 1.0)
    for k in grads:
        check_close("clip_by_norm", f"clipped['{k}']", clipped[k], grads[k],
                    against="the unchanged gradient (its norm 0.5 is below max_norm 1)",
                    label="expected", hint="scale = min(1, max_norm / (total_norm + 1e-6)).")


def test_clip_by_norm_is_joint_not_per_array(impl):
    grads = {"big": np.array([30.0]), "small": np.array([0.5])}
    clipped, total = impl.clip_by_norm(grads, 1.0)
    expected = 0.5 / (np.hypot(30.0, 0.5) + 1e-6)
    check_close("clip_by_norm", "clipped['small']", clipped["small"], np.array([expected]),
                against="0.5 * max_norm / (joint norm + 1e-6)", label="expected",
                hint="the small gradient must shrink too: clipping rescales all arrays by one "
                     "factor so that the direction of the whole gradient is kept.")


# ----------------------------------------------------------------------------- TODO 8
def test_vanishing_exploding_experiment(impl, tmp_path, capsys):
    T, rhos = 20, (0.5, 1.0, 1.5)
    png = tmp_path / "grad_norms.png"
    results = impl.vanishing_exploding_experiment(rhos=rhos, T=T, H=16, png_path=str(png))
    printed = capsys.readouterr().out
    if not isinstance(results, dict) or sorted(results) != sorted(rhos):
        fail(f"vanishing_exploding_experiment must return {{rho: norms}} for rhos {rhos}; "
             f"got {type(results).__name__} with keys {list(results) if isinstance(results, dict) else ''}")
    for rho in rhos:
        norms = check_array("vanishing_exploding_experiment", f"results[{rho}]",
                            np.asarray(results[rho]), (T,), dims="(T,)")
        rate = np.log(norms[0] / norms[-1]) / (T - 1)
        if not np.isfinite(rate) or abs(rate - np.log(rho)) > 0.02:
            fail(f"vanishing_exploding_experiment: for rho = {rho}, ||dL/dh_0|| / ||dL/dh_{T-1}|| = "
                 f"{norms[0] / norms[-1]:.4g}, but with W_hh = rho * Q (Q orthogonal), x = 0 and a "
                 f"tiny h0 it should be rho^{T - 1} = {rho ** (T - 1):.4g}.\n"
                 f"  hint: follow the set-up in the docstring exactly (W_hh = rho * Q, x = 0, "
                 f"h0 = 1e-8 * noise), and use hidden_grad_norms.")
    if not png.is_file() or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"vanishing_exploding_experiment did not save a PNG at png_path ({png}).\n"
             f"  hint: call plot_grad_norms(results, png_path).")
    if str(rhos[-1]) not in printed:
        fail("vanishing_exploding_experiment printed nothing about rho = 1.5: print one line per "
             "rho with the norms, and the gradient norm before/after clipping.")
