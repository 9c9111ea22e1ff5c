"""The generation fast path (Stepper, kernels/inference.py) against the modules' own step."""
import tracemalloc

import numpy as np
import pytest

from scratchrnn.models import CharLM, Stepper
from scratchrnn.nn import GRU, LSTM, RNN, Embedding, Linear, no_grad

KINDS = ["lstm", "gru", "rnn", "rnn_relu"]


def make(kind, num_layers=2, dtype=np.float64, seed=0, V=11, E=5, H=7):
    model = CharLM(V, kind.split("_")[0], embedding_dim=E, hidden_size=H, num_layers=num_layers,
                   dtype=dtype, rng=np.random.default_rng(seed))
    if kind == "rnn_relu":
        model.rnn.nonlinearity = "relu"
    # Non-trivial biases everywhere (the default init has them, but make sure none is zero).
    for p in model.parameters():
        p.data += np.random.default_rng(seed + 1).normal(0, 0.1, p.shape).astype(dtype)
    return model.eval()


def states(s):
    return list(s) if isinstance(s, tuple) else [s]


@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_stepper_equals_the_modules_step_by_step(kind, num_layers):
    model = make(kind, num_layers)
    ids = np.random.default_rng(3).integers(0, 11, (8, 4))
    with no_grad():
        _, state = model.forward(ids[:3])          # a non-zero starting state, B = 4
        stepper = model.stepper()
        stepper.reset(state)
        for t in range(3, 8):
            want, state = model.step(ids[t], state)
            got = stepper.step(ids[t])
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
            for a, b in zip(states(stepper.state), states(state)):
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_stepper_from_zeros_and_in_float32(kind):
    model = make(kind, dtype=np.float32)
    stepper = model.stepper(batch_size=3)
    state = None
    with no_grad():
        for tok in ([1, 2, 3], [4, 0, 10], [7, 7, 7]):
            want, state = model.step(np.array(tok), state)
            got = stepper.step(tok)
            assert got.dtype == np.float32 and got.shape == (3, 11)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_select_reorders_duplicates_and_resizes_rows(kind):
    model = make(kind)
    ids = np.random.default_rng(5).integers(0, 11, (4, 3))
    index = np.array([2, 0, 2, 1, 1])             # B 3 -> 5, a row twice, order changed
    with no_grad():
        _, state = model.forward(ids[:3])
        stepper = model.stepper()
        stepper.reset(state)
        stepper.select(index)
        picked = tuple(s[:, index] for s in states(state))
        want, _ = model.step(np.arange(5), picked if kind == "lstm" else picked[0])
        np.testing.assert_allclose(stepper.step(np.arange(5)), want, rtol=0, atol=1e-12)


def test_the_stepper_is_a_snapshot_and_leaves_the_model_alone():
    model = make("lstm")
    before = {k: v.copy() for k, v in model.state_dict().items()}
    stepper = model.stepper()
    first = stepper.step([1]).copy()
    for p in model.parameters():
        p.data *= 2
    stepper.reset()
    np.testing.assert_array_equal(stepper.step([1]), first)
    for p in model.parameters():
        p.data /= 2
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_a_step_allocates_nothing_the_size_of_a_layer():
    # A step makes small Python objects (views, a few hundred bytes each) but no array
    # data: at H = 1024 a single (1, H) float32 row would be 4 KiB.
    model = make("lstm", num_layers=1, H=1024, E=16, dtype=np.float32)
    stepper = model.stepper()
    tok = np.array([1])
    stepper.step(tok)
    tracemalloc.start()
    for _ in range(20):
        stepper.step(tok)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1024 * 4, f"20 steps allocated up to {peak} bytes at once"


def test_unsupported_layers_and_bad_states_are_refused_with_the_reason():
    emb, dec = Embedding(5, 3), Linear(4, 5)
    cases = [(LSTM(3, 4, bidirectional=True), "bidirectional"),
             (LSTM(3, 4, peephole=True), "peephole"),
             (LSTM(3, 4, coupled=True), "coupled"),
             (GRU(3, 4, reset_after=False), "reset-before")]
    for rnn, word in cases:
        with pytest.raises(ValueError, match=word):
            Stepper(emb, rnn, dec)
    with pytest.raises(TypeError, match="must be a scratchrnn.nn RNN, LSTM or GRU"):
        Stepper(emb, Linear(3, 4), dec)
    stepper = Stepper(emb, RNN(3, 4, num_layers=2), dec)
    with pytest.raises(ValueError, match=r"state must be \(2, B, 4\)"):
        stepper.reset(np.zeros((1, 3, 4)))
    with pytest.raises(IndexError):
        stepper.step([5])                       # outside the vocabulary of 5
    with pytest.raises(ValueError, match=r"ids must be \(1,\) token indices.*got shape \(2,\)"):
        stepper.step([1, 2])
    lstm = Stepper(emb, LSTM(3, 4, num_layers=2), dec)
    with pytest.raises(ValueError, match=r"the tuple \(h, c\)"):
        lstm.reset(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"c must have h's shape \(2, 3, 4\)"):
        lstm.reset((np.zeros((2, 3, 4)), np.zeros((2, 1, 4))))


@pytest.mark.parametrize("kind", KINDS)
def test_layers_without_biases(kind):
    rnn = {"lstm": LSTM, "gru": GRU}.get(kind, RNN)(5, 7, num_layers=2, bias=False,
                                                      dtype=np.float64)
    emb, dec = Embedding(11, 5, dtype=np.float64), Linear(7, 11, bias=False, dtype=np.float64)
    if kind == "rnn_relu":
        rnn.nonlinearity = "relu"
    stepper, state = Stepper(emb, rnn, dec, batch_size=2), None
    with no_grad():
        for tok in ([1, 2], [3, 4], [5, 6]):
            out, state = rnn(emb(np.array([tok])), state)
            np.testing.assert_allclose(stepper.step(tok), dec(out)[0], rtol=0, atol=1e-12)


def test_reset_after_select_keeps_the_new_number_of_rows():
    stepper = make("gru").stepper()
    stepper.select([0, 0, 0])
    stepper.reset()
    assert stepper.step([1, 2, 3]).shape == (3, 11)
