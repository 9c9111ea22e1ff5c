"""scratchrnn.gradcheck itself: rel_error, numerical_gradient, check_gradients and its report."""
import numpy as np
import pytest

from scratchrnn.gradcheck import GradCheckReport, check_gradients, numerical_gradient, rel_error
from scratchrnn.nn import Linear, LSTM, Module, Parameter


# ====================================================================== rel_error
def test_rel_error_definition():
    assert rel_error(1.0, 1.1) == pytest.approx(0.1 / 2.1, rel=1e-12)
    assert rel_error(np.array([1.0, 2.0, -3.0]), np.array([1.0, 2.5, -3.0])) == \
        pytest.approx(0.5 / 4.5, rel=1e-12)                          # the max over entries
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(0.0, 1e-10) == pytest.approx(1e-10 / 1e-8, rel=1e-12)   # floor 1e-8
    assert rel_error(1.0, -1.0) == 1.0
    assert rel_error(2.0, 3.0) == rel_error(3.0, 2.0)
    assert rel_error(np.array([]), np.array([])) == 0.0
    assert isinstance(rel_error(np.ones(2), np.ones(2)), float)
    a = np.array([1e-3, 5.0], np.float32)
    b = np.array([2e-3, 5.0], np.float32)
    assert rel_error(a, b) == pytest.approx(1 / 3, rel=1e-6)


# ====================================================================== numerical_gradient
def test_numerical_gradient_of_sum_of_cubes(rng):
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    num = numerical_gradient(lambda: np.sum(x ** 3), x)
    np.testing.assert_allclose(num, 3 * x0 ** 2, rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, x0)        # perturbed in place, then restored exactly
    assert num.shape == x.shape and num.dtype == np.float64


def test_numerical_gradient_of_a_matrix_product(rng):
    A, Bm = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    W = rng.standard_normal((3, 2))
    num = numerical_gradient(lambda: np.sum((A @ Bm) * W), A)
    np.testing.assert_allclose(num, W @ Bm.T, rtol=1e-8, atol=1e-9)   # ~1e-10 round-off


def test_numerical_gradient_with_dout_for_array_valued_f(rng):
    x = rng.standard_normal(5)
    dout = rng.standard_normal((2, 5))
    num = numerical_gradient(lambda: np.stack([x ** 2, np.sin(x)]), x, dout=dout)
    np.testing.assert_allclose(num, 2 * x * dout[0] + np.cos(x) * dout[1], rtol=1e-8, atol=1e-10)


def test_numerical_gradient_on_a_subset_of_indices(rng):
    x = rng.standard_normal((4, 5))
    idx = np.array([0, 7, 19])
    num = numerical_gradient(lambda: np.sum(np.exp(x)), x, indices=idx)
    flat = num.reshape(-1)
    np.testing.assert_allclose(flat[idx], np.exp(x).reshape(-1)[idx], rtol=1e-8)
    rest = np.setdiff1d(np.arange(20), idx)
    assert not flat[rest].any()


def test_numerical_gradient_eps_controls_truncation(rng):
    x = np.array([1.0])
    # central difference of x^3 has error exactly eps^2 (the third derivative is 6)
    num = numerical_gradient(lambda: np.sum(x ** 3), x, eps=1e-2)
    np.testing.assert_allclose(num, 3 + 1e-4, rtol=1e-10)


def test_numerical_gradient_refuses_float32_and_non_contiguous(rng):
    with pytest.raises(TypeError, match=r"float64.*float32"):
        numerical_gradient(lambda: 0.0, np.ones(3, np.float32))
    x = np.ones((4, 4))[:, ::2]
    with pytest.raises(ValueError, match=r"C-contiguous"):
        numerical_gradient(lambda: np.sum(x), x)


# ====================================================================== check_gradients
class _Scale(Module):
    """y = x * w + b (w, b of shape (D,)); optionally with a wrong backward."""

    def __init__(self, D, rng, wrong=None):
        super().__init__()
        self.w = Parameter(rng.standard_normal(D))
        self.b = Parameter(rng.standard_normal(D))
        self.wrong = wrong

    def forward(self, x):
        self._push(x)
        return x * self.w.data + self.b.data

    def backward(self, dy):
        x = self._pop()
        dw = (dy * x).sum(axis=0)
        if self.wrong == "w":
            dw = dw * 1.01                 # 1% off: must be caught
        self.w.grad += dw
        self.b.grad += dy.sum(axis=0)
        dx = dy * self.w.data
        if self.wrong == "x":
            dx = dx + 1e-4 * np.sign(dx)   # a small error in the input gradient
        return dx


def test_check_gradients_passes_a_correct_module(rng):
    report = check_gradients(_Scale(4, rng), rng.standard_normal((3, 4)))
    assert report.ok
    assert [r.name for r in report.rows] == ["w", "b", "input[0]"]
    assert [r.shape for r in report.rows] == [(4,), (4,), (3, 4)]
    assert all(r.ok and r.checked == np.prod(r.shape) for r in report.rows)
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["name", "shape"]
    for name in ("w", "b", "input[0]"):
        row = next(line for line in lines if line.startswith(name + " "))
        assert row.rstrip().endswith("pass"), row
    assert "FAIL" not in text and "all passed" in text
    assert repr(report) == text


@pytest.mark.parametrize("wrong,bad_row", [("w", "w"), ("x", "input[0]")])
def test_check_gradients_catches_a_wrong_backward(wrong, bad_row, rng):
    report = check_gradients(_Scale(4, rng, wrong=wrong), rng.standard_normal((3, 4)))
    assert not report.ok
    rows = {r.name: r for r in report.rows}
    assert not rows[bad_row].ok
    assert all(r.ok for name, r in rows.items() if name != bad_row)
    lines = str(report).splitlines()
    bad = next(line for line in lines if line.startswith(bad_row + " "))
    assert bad.rstrip().endswith("FAIL")
    assert lines[-1].startswith("FAILED")
    if wrong == "w":
        assert rows["w"].max_rel > 1e-3      # about 0.01 / 2.01
        assert rows["w"].max_rel < 1e-2


def test_check_gradients_uses_the_absolute_rule_for_tiny_entries(rng):
    m = _Scale(3, rng)
    x = 1e-6 * rng.standard_normal((2, 3))   # dw = sum(dy * x) is tiny
    report = check_gradients(m, x)
    row = report.rows[0]
    assert row.name == "w" and row.ok
    assert row.max_rel == 0.0                # every entry was judged absolutely


def test_check_gradients_refuses_float32_modules(rng):
    with pytest.raises(TypeError, match=r"float64.*weight_ih_l0 is float32.*dtype=np\.float64"):
        check_gradients(LSTM(2, 3, rng=rng), np.zeros((2, 1, 2), np.float32))


def test_check_gradients_subsamples_big_arrays(rng):
    m = Linear(30, 20, dtype=np.float64, rng=rng)
    report = check_gradients(m, rng.standard_normal((4, 30)), max_entries=50)
    assert report.ok, f"\n{report}"
    checked = {r.name: r.checked for r in report.rows}
    assert checked == {"weight": 50, "bias": 20, "input[0]": 50}


def test_check_gradients_leaves_no_caches_and_passes_kwargs(rng):
    m = LSTM(2, 3, dtype=np.float64, rng=rng)
    report = check_gradients(m, rng.standard_normal((4, 2, 2)), lengths=np.array([4, 2]),
                             max_entries=20)
    assert report.ok
    assert m._caches == []


def test_empty_report_is_not_ok():
    assert not GradCheckReport().ok
