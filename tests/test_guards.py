"""Guards where a bad value enters, not where it does damage later (issue 12, item 4).

Each test gives a module, optimiser or checker one bad value and expects a clear error
naming the problem, and that nothing changed on the way.
"""
import math

import numpy as np
import pytest

from scratchrnn import optim
from scratchrnn.gradcheck import numerical_gradient
from scratchrnn.models import CharLM
from scratchrnn.nn import LSTM, Dropout, Linear, Parameter


def params():
    return [Parameter(np.ones((2, 3))), Parameter(np.zeros(3))]


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-3),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5),
}


# ------------------------------------------------------------------ optimisers
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("bad", [-5, math.nan, math.inf, -math.inf])
def test_a_bad_learning_rate_set_after_construction_is_refused(name, bad):
    ps = params()
    opt = OPTIMIZERS[name](ps)
    lr = opt.lr
    with pytest.raises(ValueError, match=rf"{type(opt).__name__}\.lr = {bad!r} refused: "
                                         rf"Invalid learning rate"):
        opt.lr = bad
    assert opt.lr == lr
    for p in ps:
        p.grad[...] = 1.0
    opt.step()                      # still steps with the old rate, parameters finite
    assert all(np.isfinite(p.data).all() for p in ps)


@pytest.mark.parametrize("name,attr,bad", [
    ("sgd", "momentum", -1), ("sgd", "momentum", math.nan), ("sgd", "weight_decay", -0.1),
    ("adam", "beta1", 1.0), ("adam", "eps", -1e-8), ("adam", "weight_decay", math.inf),
    ("rmsprop", "alpha", 1.5), ("rmsprop", "momentum", math.inf), ("adagrad", "eps", math.nan),
])
def test_every_hyper_parameter_is_checked_when_set(name, attr, bad):
    opt = OPTIMIZERS[name](params())
    before = getattr(opt, attr)
    with pytest.raises(ValueError, match=rf"\.{attr} = .* refused"):
        setattr(opt, attr, bad)
    assert getattr(opt, attr) == before


def test_a_hyper_parameter_that_is_not_a_number_is_refused():
    opt = optim.SGD(params(), lr=0.1)
    with pytest.raises(TypeError, match=r"SGD\.lr must be a number, got str '0\.1'"):
        opt.lr = "0.1"
    assert opt.lr == 0.1


def test_good_values_set_by_hand_or_by_a_schedule_still_work():
    opt = optim.Adam(params(), lr=1e-3)
    opt.lr = np.float32(0.5)              # a NumPy scalar is stored as a Python float
    assert opt.lr == 0.5 and type(opt.lr) is float
    sched = optim.CosineLR(opt, total_steps=10, warmup_steps=2)
    for _ in range(10):
        opt.step()
        sched.step()
    assert 0 <= opt.lr <= 0.5


def test_load_state_dict_still_sets_pairs_that_are_only_valid_together():
    """nesterov=True needs momentum > 0: set one by one from an SGD without momentum, the
    first would be refused; load_state_dict validates the whole set, then sets it."""
    src = optim.SGD(params(), lr=0.1, momentum=0.9, nesterov=True)
    dst = optim.SGD(params(), lr=0.1)
    dst.load_state_dict(src.state_dict())
    assert dst.nesterov and dst.momentum == 0.9


# ------------------------------------------------------------------ layers
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, bool])
def test_dropout_refuses_integer_input(dtype):
    drop = Dropout(0.5, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match=rf"Dropout: x must be a floating-point array, got dtype "
                                        rf"{np.dtype(dtype)}: pass x\.astype\(np\.float32\)"):
        drop(np.ones((4, 4), dtype=dtype))
    with pytest.raises(TypeError, match="floating-point"):
        drop.eval()(np.ones(3, dtype=dtype))      # in eval mode too: a bug either way
    assert drop(np.ones(3)).dtype == np.float64   # floats still pass


def test_linear_refuses_a_0d_array():
    lin = Linear(1, 2, dtype=np.float64)
    with pytest.raises(ValueError, match=r"Linear: x must have at least one dimension "
                                         r"\(\.\.\., in_features=1\), got a 0-d array"):
        lin(np.float64(3.0))
    with pytest.raises(ValueError, match="0-d"):
        lin(np.array(3.0))
    assert lin(np.array([3.0])).shape == (2,)


# ------------------------------------------------------------------ numerical_gradient
def test_numerical_gradient_of_an_array_without_dout_is_refused():
    x = np.arange(3.0)
    with pytest.raises(ValueError, match=r"f\(\) returned an array of shape \(3,\) but no dout "
                                         r"was given.*pass dout="):
        numerical_gradient(lambda: x * 2, x)
    np.testing.assert_array_equal(x, np.arange(3.0))     # x is left as it was


def test_numerical_gradient_of_a_function_returning_none_is_refused():
    x = np.arange(3.0)
    with pytest.raises(TypeError, match=r"f\(\) returned None; it must return the value"):
        numerical_gradient(lambda: None, x)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_numerical_gradient_of_a_non_finite_function_is_refused(bad):
    x = np.array([0.5, 1.0])
    with pytest.raises(ValueError, match=r"f\(\) is not finite .* at x\[\(0,\)\]"):
        numerical_gradient(lambda: float(x.sum()) * bad, x)
    np.testing.assert_array_equal(x, [0.5, 1.0])


def test_numerical_gradient_with_a_mismatched_dout_is_refused():
    x = np.arange(3.0)
    with pytest.raises(ValueError, match=r"f\(\) returned shape \(3,\) but dout has shape \(1,\)"):
        numerical_gradient(lambda: x * 2, x, dout=np.ones(1))
    # and the right dout still works
    np.testing.assert_allclose(numerical_gradient(lambda: x * 2, x, dout=np.ones(3)), 2.0)


def test_numerical_gradient_of_a_non_number_is_refused():
    x = np.arange(3.0)
    with pytest.raises(TypeError, match=r"must return a number.*got str"):
        numerical_gradient(lambda: "loss", x)


# ------------------------------------------------------------------ load_state_dict
def small_model():
    return CharLM(5, "gru", embedding_dim=3, hidden_size=4, num_layers=2,
                  dtype=np.float64, rng=np.random.default_rng(0))


@pytest.mark.parametrize("given", [[("decoder.bias", np.zeros(5))], "weights", None, 3])
def test_load_state_dict_needs_a_mapping(given):
    with pytest.raises(TypeError, match=r"load_state_dict expects a mapping \{name: array\} "
                                        rf"such as module\.state_dict\(\).*got {type(given).__name__}"):
        small_model().load_state_dict(given)


@pytest.mark.parametrize("bad", [np.array(["a", "b", "c", "d", "e"]), np.array([None] * 5),
                                 np.array([1j] * 5)], ids=["strings", "objects", "complex"])
def test_a_bad_value_in_the_last_key_leaves_the_module_unchanged(bad):
    model = small_model()
    before = model.state_dict()
    state = {k: v + 1 for k, v in before.items()}
    last = list(state)[-1]
    assert last == "decoder.bias"
    state[last] = bad
    with pytest.raises(ValueError, match=rf"decoder\.bias: dtype {bad.dtype} cannot become the "
                                         rf"parameter's float64"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_a_ragged_value_is_reported_with_the_other_problems():
    model = small_model()
    before = model.state_dict()
    state = dict(before)
    state["embedding.weight"] = [[1.0, 2.0], [3.0]]
    state["decoder.weight"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"(?s)embedding\.weight: not an array.*decoder\.weight: "
                                         r"expected shape \(5, 4\), got \(2, 2\)"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_integer_and_float32_values_are_still_cast_to_the_parameter_dtype():
    lstm = LSTM(2, 3, dtype=np.float64)
    state = {k: np.ones(v.shape, dtype=np.int64 if "weight" in k else np.float32)
             for k, v in lstm.state_dict().items()}
    lstm.load_state_dict(state)
    assert all(p.dtype == np.float64 and (p.data == 1).all() for p in lstm.parameters())
