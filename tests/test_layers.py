"""Linear, Embedding, Dropout, softmax_cross_entropy and the stable sigmoid:
against torch where it has the same function, by hand otherwise, and numerically."""
import warnings

import numpy as np
import pytest

from scratchrnn.gradcheck import check_gradients, numerical_gradient
from scratchrnn.kernels import sigmoid
from scratchrnn.nn import Dropout, Embedding, Linear, softmax_cross_entropy

F64 = np.float64
TOL = dict(rtol=1e-10, atol=1e-12)


# ====================================================================== Linear
@pytest.mark.parametrize("lead", [(5,), (2, 3), (2, 3, 4), ()], ids=["2d", "3d", "4d", "1d"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(lead, bias, rng, torch):
    torch.manual_seed(0)
    ref = torch.nn.Linear(6, 4, bias=bias, dtype=torch.float64)
    m = Linear(6, 4, bias=bias, dtype=F64)
    m.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = rng.standard_normal(lead + (6,))
    dy = rng.standard_normal(lead + (4,))
    x_t = torch.tensor(x, requires_grad=True)
    y_t = ref(x_t)
    (y_t * torch.from_numpy(dy)).sum().backward()
    y = m(x)
    dx = m.backward(dy)
    assert y.shape == lead + (4,) and dx.shape == x.shape
    np.testing.assert_allclose(y, y_t.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **TOL)
    np.testing.assert_allclose(m.weight.grad, ref.weight.grad.numpy(), **TOL)
    if bias:
        np.testing.assert_allclose(m.bias.grad, ref.bias.grad.numpy(), **TOL)


def test_linear_by_hand_float32(rng):
    m = Linear(3, 2, rng=rng)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    y = m(x)
    assert y.dtype == np.float32
    want = x.astype(F64) @ m.weight.data.T.astype(F64) + m.bias.data
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    dy = np.ones((2, 4, 2), np.float32)
    dx = m.backward(dy)
    assert dx.dtype == np.float32 and m.weight.grad.dtype == np.float32
    np.testing.assert_allclose(m.bias.grad, [8, 8])
    np.testing.assert_allclose(m.weight.grad, np.tile(x.reshape(-1, 3).sum(0), (2, 1)), rtol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(bias, rng):
    m = Linear(5, 3, bias=bias, dtype=F64, rng=rng)
    report = check_gradients(m, rng.standard_normal((2, 4, 5)))
    assert report.ok, f"\n{report}"
    assert [r.name for r in report.rows] == (["weight", "bias"] if bias else ["weight"]) + ["input[0]"]


# ====================================================================== Embedding
def test_embedding_matches_torch_with_repeated_ids(rng, torch):
    torch.manual_seed(0)
    ref = torch.nn.Embedding(6, 3, dtype=torch.float64)
    m = Embedding(6, 3, dtype=F64)
    m.load_state_dict({"weight": ref.weight.detach().numpy()})
    ids = np.array([[1, 4, 1, 1], [0, 4, 5, 1]])
    dout = rng.standard_normal((2, 4, 3))
    out_t = ref(torch.from_numpy(ids))
    (out_t * torch.from_numpy(dout)).sum().backward()
    out = m(ids)
    assert m.backward(dout) is None
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    np.testing.assert_allclose(m.weight.grad, ref.weight.grad.numpy(), **TOL)
    # by hand: id 1 appears four times, id 2 and 3 never
    np.testing.assert_allclose(m.weight.grad[1], dout[0, 0] + dout[0, 2] + dout[0, 3] + dout[1, 3],
                               rtol=1e-14)
    assert not m.weight.grad[2].any() and not m.weight.grad[3].any()


def test_embedding_scalar_and_1d_ids(rng):
    m = Embedding(4, 2, dtype=F64, rng=rng)
    np.testing.assert_array_equal(m(np.array([3, 0])), m.weight.data[[3, 0]])
    m.backward(np.ones((2, 2)))
    out = m(np.int64(2))
    np.testing.assert_array_equal(out, m.weight.data[2])
    m.backward(np.full(2, 5.0))
    np.testing.assert_array_equal(m.weight.grad, [[1, 1], [0, 0], [5, 5], [1, 1]])


def test_embedding_gradcheck(rng):
    m = Embedding(5, 3, dtype=F64, rng=rng)
    report = check_gradients(m, np.array([[0, 2, 2], [4, 2, 0]]))
    assert report.ok, f"\n{report}"
    assert [r.name for r in report.rows] == ["weight"]     # integer ids are not checked


# ====================================================================== Dropout
def test_dropout_eval_is_identity(rng):
    d = Dropout(0.7, rng=rng).eval()
    x = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(d(x), x)
    dy = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(d.backward(dy), dy)


def test_dropout_zero_p_is_identity_in_training(rng):
    d = Dropout(0.0, rng=rng)
    x = rng.standard_normal(10)
    np.testing.assert_array_equal(d(x), x)
    np.testing.assert_array_equal(d.backward(x), x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, F64])
def test_dropout_training_is_inverted_and_mean_preserving(p, dtype, rng):
    d = Dropout(p, rng=rng)
    n = 200_000
    x = (1.0 + rng.random(n)).astype(dtype)              # strictly positive, not all equal
    y = d(x)
    assert y.dtype == dtype and y.shape == x.shape
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / dtype(1 - p), rtol=1e-6)
    # fraction dropped ~ Binomial(n, p) / n: within 5 standard deviations
    sd = np.sqrt(p * (1 - p) / n)
    assert abs((1 - kept.mean()) - p) < 5 * sd
    # mean preserved: E[y] = E[x]; sd of the sample mean of y/x is sqrt(p / (1 - p) / n)
    ratio = (y.astype(F64) / x).mean()
    assert abs(ratio - 1) < 5 * np.sqrt(p / (1 - p) / n)


def test_dropout_backward_uses_the_forward_mask(rng):
    d = Dropout(0.5, rng=rng)
    x1, x2 = np.ones((50, 40)), np.ones((50, 40))
    y1, y2 = d(x1), d(x2)
    assert not np.array_equal(y1, y2)                 # two draws, two masks
    dy = rng.standard_normal((50, 40))
    # LIFO: the first backward pairs with y2's mask, the second with y1's
    np.testing.assert_array_equal(d.backward(dy), dy * y2)
    np.testing.assert_array_equal(d.backward(dy), dy * y1)


def test_dropout_seeded_rng_reproduces():
    x = np.ones(1000)
    a = Dropout(0.3, rng=np.random.default_rng(9))(x)
    b = Dropout(0.3, rng=np.random.default_rng(9))(x)
    np.testing.assert_array_equal(a, b)


def test_dropout_gradcheck(rng):
    report = check_gradients(Dropout(0.4, rng=rng), rng.standard_normal((6, 5)))
    assert report.ok, f"\n{report}"


# ====================================================================== softmax cross-entropy
def _torch_ce(torch, logits, targets, **kw):
    lt = torch.tensor(logits, requires_grad=True)
    tt = torch.from_numpy(targets)
    if logits.ndim == 3:                      # (B, T, V) -> torch's (B, V, T)
        loss = torch.nn.functional.cross_entropy(lt.permute(0, 2, 1), tt, **kw)
    else:
        loss = torch.nn.functional.cross_entropy(lt, tt, **kw)
    return loss, lt


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 6)], ids=["2d", "3d"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_matches_torch(shape, reduction, rng, torch):
    logits = 3 * rng.standard_normal(shape)
    targets = rng.integers(0, shape[-1], shape[:-1])
    loss_t, lt = _torch_ce(torch, logits, targets, reduction=reduction)
    loss_t.backward()
    loss, dlogits = softmax_cross_entropy(logits, targets, reduction=reduction)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, loss_t.item(), **TOL)
    np.testing.assert_allclose(dlogits, lt.grad.numpy(), **TOL)


@pytest.mark.parametrize("shape", [(9, 5), (3, 4, 6)], ids=["2d", "3d"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_mask_matches_torch_weighting(shape, reduction, rng, torch):
    logits = rng.standard_normal(shape)
    targets = rng.integers(0, shape[-1], shape[:-1])
    mask = rng.random(shape[:-1]) < 0.6
    mask.flat[0], mask.flat[1] = True, False
    per, lt = _torch_ce(torch, logits, targets, reduction="none")
    m_t = torch.from_numpy(mask.astype(F64))
    loss_t = (per * m_t).sum() / (m_t.sum() if reduction == "mean" else 1)
    loss_t.backward()
    for m in (mask, mask.astype(np.int64), mask.astype(F64)):
        loss, dlogits = softmax_cross_entropy(logits, targets, mask=m, reduction=reduction)
        np.testing.assert_allclose(loss, loss_t.item(), **TOL)
        np.testing.assert_allclose(dlogits, lt.grad.numpy(), **TOL)
    assert not dlogits[~mask].any()


@pytest.mark.parametrize("shape", [(9, 5), (3, 4, 6)], ids=["2d", "3d"])
def test_cross_entropy_mask_matches_torch_ignore_index(shape, rng, torch):
    logits = rng.standard_normal(shape)
    targets = rng.integers(0, shape[-1], shape[:-1])
    mask = rng.random(shape[:-1]) < 0.5
    mask.flat[0] = True
    ignored = np.where(mask, targets, -100)
    loss_t, lt = _torch_ce(torch, logits, ignored, ignore_index=-100, reduction="mean")
    loss_t.backward()
    loss, dlogits = softmax_cross_entropy(logits, targets, mask=mask)
    np.testing.assert_allclose(loss, loss_t.item(), **TOL)
    np.testing.assert_allclose(dlogits, lt.grad.numpy(), **TOL)


def test_cross_entropy_by_hand():
    logits = np.array([[0.0, np.log(3.0)], [np.log(2.0), np.log(2.0)]])
    targets = np.array([1, 0])
    loss, d = softmax_cross_entropy(logits, targets, reduction="sum")
    np.testing.assert_allclose(loss, -np.log(0.75) - np.log(0.5), rtol=1e-14)
    np.testing.assert_allclose(d, [[0.25, -0.25], [-0.5, 0.5]], rtol=1e-14)
    loss_m, d_m = softmax_cross_entropy(logits, targets)
    np.testing.assert_allclose(loss_m, loss / 2, rtol=1e-14)
    np.testing.assert_allclose(d_m, d / 2, rtol=1e-14)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_numerical_gradient(masked, reduction, rng):
    logits = rng.standard_normal((2, 3, 4))
    targets = rng.integers(0, 4, (2, 3))
    mask = (rng.random((2, 3)) < 0.5) if masked else None
    _, d = softmax_cross_entropy(logits, targets, mask=mask, reduction=reduction)
    num = numerical_gradient(
        lambda: softmax_cross_entropy(logits, targets, mask=mask, reduction=reduction)[0], logits)
    np.testing.assert_allclose(d, num, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, F64])
def test_cross_entropy_huge_logits_are_finite_without_warnings(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]],
                      dtype)
    targets = np.array([1, 2, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Underflow (exp(-2e4) -> 0) is exact here and numpy ignores it by default.
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            loss, d = softmax_cross_entropy(logits, targets, reduction="sum")
            loss_mean, _ = softmax_cross_entropy(logits, targets)
    assert d.dtype == dtype and np.isfinite(d).all() and np.isfinite(loss)
    # by hand: 2e4 + 0 + log 2 + log 3
    np.testing.assert_allclose(loss, 2e4 + np.log(2) + np.log(3), rtol=1e-6)
    np.testing.assert_allclose(loss_mean, loss / 4, rtol=1e-6)
    want = np.array([[1, -1, 0], [0, 0, 0], [-0.5, 0.5, 0], [1 / 3, -2 / 3, 1 / 3]])
    np.testing.assert_allclose(d, want, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_all_masked_is_zero(reduction, rng):
    logits = rng.standard_normal((3, 4, 5))
    targets = rng.integers(0, 5, (3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            loss, d = softmax_cross_entropy(logits, targets, mask=np.zeros((3, 4)),
                                            reduction=reduction)
    assert loss == 0.0
    assert d.shape == logits.shape and not d.any()


def test_cross_entropy_float32_gives_float32_grad(rng):
    logits = rng.standard_normal((4, 7)).astype(np.float32)
    targets = rng.integers(0, 7, 4)
    loss, d = softmax_cross_entropy(logits, targets)
    ref_loss, ref_d = softmax_cross_entropy(logits.astype(F64), targets)
    assert d.dtype == np.float32
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(d, ref_d, rtol=1e-5, atol=1e-7)


# ====================================================================== sigmoid
@pytest.mark.parametrize("dtype", [np.float32, F64])
def test_sigmoid_huge_inputs_no_warning_right_limits(dtype):
    x = np.array([1e4, -1e4, 800.0, -800.0, 100.0, -100.0, 0.0], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            s = sigmoid(x)
    assert s.dtype == dtype
    np.testing.assert_allclose(s, [1, 0, 1, 0, 1, 0, 0.5], atol=1e-30)
    assert ((s >= 0) & (s <= 1)).all()


def test_sigmoid_matches_the_formula_and_torch(rng, torch):
    x = np.concatenate([np.linspace(-30, 30, 601), 5 * rng.standard_normal(100)])
    s = sigmoid(x)
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-x)), rtol=0, atol=5e-16)   # 2 ulp of 1
    np.testing.assert_allclose(s, torch.sigmoid(torch.from_numpy(x)).numpy(), rtol=0, atol=5e-16)   # 2 ulp of 1
    # in place
    y = x.copy()
    out = sigmoid(y, out=y)
    assert out is y
    np.testing.assert_array_equal(y, s)
