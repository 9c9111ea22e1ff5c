"""The inference path: under no_grad() the recurrent layers and cells run the cache-free
kernels of kernels/inference.py, which must give the training kernels' forward to round-off,
keep nothing, and see every change of the parameters (nothing is cached between calls)."""
import itertools
import tracemalloc

import numpy as np
import pytest

from scratchrnn import kernels as K
from scratchrnn.kernels import inference as KI
from scratchrnn.models import CharLM, SequenceClassifier, Seq2Seq
from scratchrnn.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, no_grad
from scratchrnn.optim import SGD

KINDS = {"rnn": (RNN, {}), "rnn_relu": (RNN, {"nonlinearity": "relu"}), "lstm": (LSTM, {}),
         "gru": (GRU, {})}
D, H, B = 5, 7, 3


def make(kind, num_layers=2, bidirectional=False, seed=0, **kw):
    cls, opts = KINDS[kind]
    m = cls(D, H, num_layers=num_layers, bidirectional=bidirectional, dtype=np.float64,
            rng=np.random.default_rng(seed), **opts, **kw)
    for p in m.parameters():        # non-trivial biases everywhere
        p.data += np.random.default_rng(seed + 1).normal(0, 0.2, p.shape)
    return m


def as_list(s):
    return list(s) if isinstance(s, tuple) else [s]


def training_forward(m, *args, **kw):
    """The training kernels' forward (grad mode), cache dropped."""
    res = m(*args, **kw)
    m.clear_caches()
    return res


def assert_same(a, b, atol=1e-12):
    for u, v in zip(as_list(a), as_list(b)):
        assert u.shape == v.shape
        np.testing.assert_allclose(u, v, rtol=0, atol=atol)


@pytest.fixture
def no_training_kernels(monkeypatch):
    """Make the training kernels' sequence forwards fail, so a test proves it did not use them."""
    def refuse(*a, **k):
        raise AssertionError("a training kernel ran under no_grad()")
    for name in ("rnn_forward", "lstm_forward", "gru_forward", "rnn_step_forward",
                 "lstm_step_forward", "gru_step_forward"):
        monkeypatch.setattr(K, name, refuse)


# T = 1: the one-step path; T = 2 (T B <= H): few rows, row-major; T = 6: feature-major
GRID = list(itertools.product(KINDS, [1, 2], [False, True], [False, True], [False, True], [1, 2, 6]))


@pytest.mark.parametrize("kind,num_layers,bidirectional,with_lengths,with_hx,T", GRID)
def test_layers_equal_the_training_kernels(kind, num_layers, bidirectional, with_lengths,
                                           with_hx, T, monkeypatch):
    m = make(kind, num_layers, bidirectional)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(T, B, D))
    lengths = np.array([T, max(1, T - 4), max(1, T // 2)]) if with_lengths else None
    hx = None
    if with_hx:
        shape = (num_layers * (2 if bidirectional else 1), B, H)
        hx = rng.normal(size=shape) if kind != "lstm" else (rng.normal(size=shape),
                                                              rng.normal(size=shape))
    want_out, want_h = training_forward(m, x, hx, lengths=lengths)
    calls = []
    for name in ("rnn_infer", "lstm_infer", "gru_infer"):
        real = getattr(KI, name)
        monkeypatch.setattr(KI, name, lambda *a, real=real, **k: calls.append(1) or real(*a, **k))
    with no_grad():
        out, h = m(x, hx, lengths=lengths)
    assert len(calls) == num_layers * (2 if bidirectional else 1)    # the fast path ran
    assert not m._caches
    assert_same(out, want_out)
    assert_same(h, want_h)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_first_and_float32(kind):
    cls, opts = KINDS[kind]
    m = cls(D, H, num_layers=2, batch_first=True, rng=np.random.default_rng(0), **opts)
    x = np.random.default_rng(1).normal(size=(B, 9, D)).astype(np.float32)
    want_out, want_h = training_forward(m, x)
    with no_grad():
        out, h = m(x)
    assert out.dtype == np.float32 and out.shape == (B, 9, H)
    assert_same(out, want_out, atol=1e-5)
    assert_same(h, want_h, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_state", [False, True])
def test_cells_equal_the_training_kernels(kind, with_state):
    cls = {"rnn": RNNCell, "rnn_relu": RNNCell, "lstm": LSTMCell, "gru": GRUCell}[kind]
    kw = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    cell = cls(D, H, dtype=np.float64, rng=np.random.default_rng(0), **kw)
    for p in cell.parameters():
        p.data += np.random.default_rng(1).normal(0, 0.2, p.shape)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(B, D))
    state = None
    if with_state:
        state = (rng.normal(size=(B, H)), rng.normal(size=(B, H))) if kind == "lstm" \
            else rng.normal(size=(B, H))
    want = cell(x, state)
    cell.clear_caches()
    with no_grad():
        got = cell(x, state)
    assert not cell._caches
    assert_same(got, want)


@pytest.mark.parametrize("make_layer", [
    lambda: LSTM(D, H, num_layers=2, peephole=True, dtype=np.float64),
    lambda: LSTM(D, H, num_layers=2, coupled=True, bidirectional=True, dtype=np.float64),
    lambda: GRU(D, H, num_layers=2, reset_after=False, dtype=np.float64),
])
def test_layer_variants_without_a_fast_kernel_run_the_training_one_and_keep_nothing(make_layer):
    m = make_layer()
    x = np.random.default_rng(0).normal(size=(4, B, D))
    want_out, want_h = training_forward(m, x)
    with no_grad():
        out, h = m(x)
    assert not m._caches
    assert_same(out, want_out)
    assert_same(h, want_h)


@pytest.mark.parametrize("make_cell", [
    lambda: LSTMCell(D, H, peephole=True, coupled=True, dtype=np.float64),
    lambda: GRUCell(D, H, reset_after=False, dtype=np.float64),
])
def test_cell_variants_without_a_fast_kernel(make_cell):
    cell = make_cell()
    x = np.random.default_rng(0).normal(size=(B, D))
    want = cell(x)
    cell.clear_caches()
    with no_grad():
        got = cell(x)
    assert not cell._caches
    assert_same(got, want)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_backward_after_a_no_grad_forward_is_a_clear_error(kind):
    m = make(kind)
    x = np.random.default_rng(0).normal(size=(4, B, D))
    with no_grad():
        out, _ = m(x)
    with pytest.raises(RuntimeError, match="without a matching forward"):
        m.backward(np.ones_like(out))
    cell = {"lstm": LSTMCell, "gru": GRUCell, "rnn": RNNCell}[kind](D, H)
    with no_grad():
        h = cell(np.ones((B, D), np.float32))
    with pytest.raises(RuntimeError, match="without a matching forward"):
        cell.backward(np.ones_like(h[0] if kind == "lstm" else h))


# ------------------------------------------------------------------ nothing goes stale
def _changes(m):
    """Every way a parameter can change: (label, function) pairs applied in turn."""
    p = m.weight_hh_l0
    held = m.bias_ih_l0.data                 # a reference kept across calls (as gradcheck does)
    rng = np.random.default_rng(5)

    def optimiser_step():
        for q in m.parameters():
            q.grad[...] = rng.normal(size=q.shape)
        SGD(list(m.parameters()), lr=0.1).step()

    def load():
        m.load_state_dict({k: v + 0.05 for k, v in m.state_dict().items()})

    def assign():
        p.data = p.data * 0.9

    def setitem():
        p.data[0, :] = 0.3

    def iadd():
        p.data += 0.01

    def through_held_reference():
        held[1] += 0.5

    return [("optimiser step", optimiser_step), ("load_state_dict", load),
            ("p.data = ...", assign), ("p.data[...] = ...", setitem), ("p.data += ...", iadd),
            ("write through a held reference", through_held_reference)]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("T", [1, 6])
def test_every_parameter_change_is_seen_by_the_next_inference_call(kind, T):
    m = make(kind, num_layers=2).eval()
    x = np.random.default_rng(0).normal(size=(T, B, D))
    h0 = np.random.default_rng(1).normal(size=(2, B, H))    # W_hh matters already at T = 1
    hx = (h0, h0) if kind == "lstm" else h0
    with no_grad():
        before = m(x, hx)[0]
    for label, change in _changes(m):
        change()
        with no_grad():
            got = m(x, hx)[0]
        want = training_forward(m, x, hx)[0]
        assert np.abs(got - before).max() > 1e-6, label        # the change mattered ...
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=label)   # ... and was seen
        before = got


def test_no_history_is_kept_inside_a_call():
    """The training forward keeps c_t, tanh(c_t) and the gates of every step; the inference
    path only the input projections, the state buffer and the output."""
    T, B_, H_ = 200, 8, 32
    m = LSTM(16, H_, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(T, B_, 16)).astype(np.float32)

    def peak(grad):
        from scratchrnn.kernels._fast import workspace
        workspace.clear()
        tracemalloc.start()
        try:
            if grad:
                m(x)
            else:
                with no_grad():
                    m(x)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            m.clear_caches()

    f4 = np.dtype(np.float32).itemsize
    proj, states, out = T * B_ * 4 * H_ * f4, (T + 1) * B_ * (H_ + 1) * f4, T * B_ * H_ * f4
    inference = peak(grad=False)
    assert inference < 1.1 * (proj + states + 2 * out) + 64 * 1024
    assert inference < peak(grad=True)


# ------------------------------------------------------------------ the models use it
def test_models_decode_and_evaluate_through_the_fast_path(monkeypatch, no_training_kernels):
    from scratchrnn import tasks
    from scratchrnn.training import evaluate

    lm = CharLM(11, "lstm", embedding_dim=4, hidden_size=6, rng=np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(0, 11, 300)
    assert np.isfinite(evaluate(lm, ids, batch_size=4, seq_length=8))
    with no_grad():
        logits, state = lm.step([1, 2], None)
        lm.step([3, 4], state)
    assert logits.shape == (2, 11)
    for cell in ("gru", "lstm"):
        s2s = Seq2Seq(tasks.DIGIT_VOCAB, tasks.DIGIT_VOCAB, cell, embedding_dim=4, hidden_size=3,
                      rng=np.random.default_rng(0))
        src = np.random.default_rng(2).integers(3, tasks.DIGIT_VOCAB, (5, 2))
        s2s.greedy_decode(src, max_len=4)
        s2s.beam_search(src, beam_size=2, max_len=4)
    clf = SequenceClassifier(11, 3, "gru", embedding_dim=4, hidden_size=5, bidirectional=True,
                             rng=np.random.default_rng(0))
    clf.predict(np.random.default_rng(3).integers(0, 11, (2, 6)), lengths=np.array([6, 3]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_one_row_one_step_the_generation_case(kind, bias):
    """B = 1, T = 1 runs its own few-call arithmetic (kernels/inference.py _one_step, and the
    LSTM's one-tanh pointwise): the same numbers as the training kernels."""
    m = make(kind, num_layers=2, bias=bias)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 1, D))
    h0 = rng.normal(size=(2, 1, H))
    hx = (h0, rng.normal(size=(2, 1, H))) if kind == "lstm" else h0
    want_out, want_h = training_forward(m, x, hx)
    with no_grad():
        out, h = m(x, hx)
    assert_same(out, want_out)
    assert_same(h, want_h)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_lengths", [False, True])
def test_one_row_many_steps_and_the_inputs_are_left_alone(kind, with_lengths):
    """B = 1 with T B > H takes the feature-major path, whose (H, 1) transposes are
    contiguous views: the caller's hx must not be written through them."""
    m = make(kind, num_layers=2)
    rng = np.random.default_rng(5)
    T = 3 * H
    x = rng.normal(size=(T, 1, D))
    lengths = np.array([T - 4]) if with_lengths else None
    h0 = rng.normal(size=(2, 1, H))
    hx = (h0, rng.normal(size=(2, 1, H))) if kind == "lstm" else h0
    saved = [a.copy() for a in as_list(hx)] + [x.copy()]
    want_out, want_h = training_forward(m, x, hx, lengths=lengths)
    with no_grad():
        out, h = m(x, hx, lengths=lengths)
        out_again, _ = m(x, hx, lengths=lengths)         # pooled buffers reused: same answer
    assert_same(out, want_out)
    assert_same(h, want_h)
    assert_same(out_again, want_out)
    for a, b in zip(as_list(hx) + [x], saved):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_inference_path_equals_pytorch(kind, with_lengths):
    torch = pytest.importorskip("torch")
    m = make(kind, num_layers=2, bidirectional=True)
    theirs = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](
        D, H, num_layers=2, bidirectional=True).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    rng = np.random.default_rng(6)
    T = 9                                              # T B > H: the feature-major path
    x = rng.normal(size=(T, B, D))
    lengths = np.array([T, 3, 6]) if with_lengths else None
    with no_grad():
        out, h = m(x, lengths=lengths)
    with torch.no_grad():
        tx = torch.from_numpy(x)
        if with_lengths:
            packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.from_numpy(lengths),
                                                             enforce_sorted=False)
            tout, th = theirs(packed)
            tout = torch.nn.utils.rnn.pad_packed_sequence(tout, total_length=T)[0]
        else:
            tout, th = theirs(tx)
    assert_same(out, tout.numpy(), atol=1e-10)
    assert_same(h, tuple(t.numpy() for t in th) if kind == "lstm" else th.numpy(), atol=1e-10)
