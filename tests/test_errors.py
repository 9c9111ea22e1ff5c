"""Every misuse raises a clear error that names what was expected (and the fix, for dtypes).

Any test marked xfail(strict=True) documents a known library bug; it turns into a failure
(XPASS) once the bug is fixed, and the mark must then be removed.
"""
import numpy as np
import pytest

from scratchrnn.nn import (GRU, LSTM, RNN, Dropout, Embedding, GRUCell, Linear, LSTMCell, RNNCell,
                           softmax_cross_entropy)

F64 = np.float64
T, B, D, H = 6, 3, 4, 5


def bug(reason):
    return pytest.mark.xfail(strict=True, reason="BUG: " + reason)


@pytest.fixture
def lstm():
    return LSTM(D, H, num_layers=2, dtype=F64, rng=np.random.default_rng(0))


@pytest.fixture
def x():
    return np.random.default_rng(1).standard_normal((T, B, D))


# ====================================================================== inputs: rank, size, dtype
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_wrong_x_rank(cls):
    with pytest.raises(ValueError, match=r"x must have 3 dimensions \(T, B, input_size\), got shape \(3, 4\)"):
        cls(D, H, dtype=F64)(np.zeros((3, D)))
    with pytest.raises(ValueError, match=r"3 dimensions \(B, T, input_size\).*\(1, 2, 3, 4\)"):
        cls(D, H, batch_first=True, dtype=F64)(np.zeros((1, 2, 3, D)))


@pytest.mark.parametrize("cls", [RNNCell, LSTMCell, GRUCell])
def test_cell_wrong_x_rank(cls):
    with pytest.raises(ValueError, match=r"x must have 2 dimensions \(B, input_size\), got shape \(2, 3, 4\)"):
        cls(D, H, dtype=F64)(np.zeros((2, 3, D)))
    with pytest.raises(ValueError, match=r"x must have 2 dimensions"):
        cls(D, H, dtype=F64)(np.zeros(D))


@pytest.mark.parametrize("make,shape", [
    (lambda: LSTM(D, H, dtype=F64), (T, B, 7)),
    (lambda: GRU(D, H, batch_first=True, dtype=F64), (B, T, 7)),
    (lambda: RNNCell(D, H, dtype=F64), (B, 7)),
    (lambda: Linear(D, H, dtype=F64), (2, B, 7)),
], ids=["lstm", "gru-batch-first", "rnncell", "linear"])
def test_wrong_input_size(make, shape):
    with pytest.raises(ValueError, match=rf"last dimension {D}.*got shape \({shape[0]}, "):
        make()(np.zeros(shape))


@pytest.mark.parametrize("make,shape", [
    (lambda: LSTM(D, H, dtype=F64), (T, B, D)),
    (lambda: RNN(D, H, dtype=F64), (T, B, D)),
    (lambda: GRUCell(D, H, dtype=F64), (B, D)),
    (lambda: Linear(D, H, dtype=F64), (B, D)),
], ids=["lstm", "rnn", "grucell", "linear"])
def test_float32_input_into_float64_module(make, shape):
    m = make()
    with pytest.raises(TypeError) as info:
        m(np.zeros(shape, np.float32))
    msg = str(info.value)
    assert type(m).__name__ in msg
    assert "float32" in msg and "float64" in msg
    assert "x.astype(np.float64)" in msg and "dtype=np.float32" in msg     # both fixes


def test_float64_input_into_default_float32_module():
    with pytest.raises(TypeError, match=r"x is float64 but the parameters are float32: pass "
                                        r"x\.astype\(np\.float32\)"):
        LSTM(D, H)(np.zeros((T, B, D)))


@pytest.mark.parametrize("make,shape,expected", [
    (lambda: LSTM(D, H, dtype=F64), (T, B, D), "float64"),
    (lambda: RNNCell(D, H), (B, D), "float32"),
    (lambda: Linear(D, H, dtype=F64), (B, D), "float64"),
], ids=["lstm", "rnncell-f32", "linear"])
def test_int_input_names_expected_dtype(make, shape, expected):
    with pytest.raises(TypeError, match=rf"x must be a floating-point array \({expected}\), got dtype int64"):
        make()(np.zeros(shape, np.int64))


@pytest.mark.parametrize("make,shape", [
    (lambda: LSTM(D, H, dtype=F64), (T, B, D)),
    (lambda: Linear(D, H, dtype=F64), (B, D)),
], ids=["lstm", "linear"])
def test_int_input_message_names_the_fix(make, shape):
    with pytest.raises(TypeError, match=r"astype\(np\.float64\)"):
        make()(np.zeros(shape, np.int64))


def test_state_dtype_must_match(lstm, x):
    with pytest.raises(TypeError, match=r"h_0 is float32 but the parameters are float64"):
        lstm(x, (np.zeros((2, B, H), np.float32), np.zeros((2, B, H))))
    with pytest.raises(TypeError, match=r"h is float32 but the parameters are float64"):
        RNNCell(D, H, dtype=F64)(np.zeros((B, D)), np.zeros((B, H), np.float32))


def test_empty_sequence_or_batch(lstm):
    with pytest.raises(ValueError, match=r"no time steps or no batch entries \(shape \(0, 3, 4\)\)"):
        lstm(np.zeros((0, B, D)))
    with pytest.raises(ValueError, match=r"no time steps or no batch entries"):
        lstm(np.zeros((T, 0, D)))


# ====================================================================== initial states
def test_lstm_hx_wrong_shape_names_expected_shape(lstm, x):
    good = np.zeros((2, B, H))
    with pytest.raises(ValueError, match=r"LSTM: h_0 must have shape \(2, 3, 5\), got \(2, 3, 4\)"):
        lstm(x, (np.zeros((2, B, 4)), good))
    with pytest.raises(ValueError, match=r"LSTM: c_0 must have shape \(2, 3, 5\), got \(1, 3, 5\)"):
        lstm(x, (good, np.zeros((1, B, H))))
    with pytest.raises(ValueError, match=r"h_0 must have 3 dimensions"):
        lstm(x, (np.zeros((B, H)), good))


@pytest.mark.parametrize("cls,layers,bi", [(GRU, 1, False), (RNN, 2, True)])
def test_hx_wrong_shape_names_expected_shape(cls, layers, bi, x):
    m = cls(D, H, num_layers=layers, bidirectional=bi, dtype=F64)
    L = layers * (2 if bi else 1)
    with pytest.raises(ValueError, match=rf"hx must have shape \({L}, 3, 5\), got \({L + 1}, 3, 5\)"):
        m(x, np.zeros((L + 1, B, H)))
    with pytest.raises(ValueError, match=rf"hx must have shape \({L}, 3, 5\), got \({L}, 2, 5\)"):
        m(x, np.zeros((L, 2, H)))     # the batch size must match x's


@pytest.mark.parametrize("hx", [np.zeros((2, B, H)), (np.zeros((2, B, H)),),
                                (np.zeros((2, B, H)),) * 3],
                         ids=["array", "1-tuple", "3-tuple"])
def test_lstm_hx_not_a_pair(hx, lstm, x):
    with pytest.raises(TypeError, match=r"hx must be a pair \(h_0, c_0\), each of shape \(2, 3, 5\)"):
        lstm(x, hx)


def test_lstm_hx_as_list_pair_is_accepted(lstm, x):
    out1, _ = lstm(x, [np.zeros((2, B, H)), np.zeros((2, B, H))])
    out2, _ = lstm(x)
    np.testing.assert_array_equal(out1, out2)


@pytest.mark.parametrize("cls", [RNNCell, GRUCell])
def test_cell_state_wrong_shape(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: h must have shape \(3, 5\), got \(3, 4\)"):
        cls(D, H, dtype=F64)(np.zeros((B, D)), np.zeros((B, 4)))


def test_lstm_cell_state_wrong_shape():
    with pytest.raises(ValueError, match=r"LSTMCell: c must have shape \(3, 5\), got \(2, 5\)"):
        LSTMCell(D, H, dtype=F64)(np.zeros((B, D)), (np.zeros((B, H)), np.zeros((2, H))))


@pytest.mark.parametrize("state", [np.zeros((B, H)), (np.zeros((B, H)),), [np.zeros((B, H))] * 3],
                         ids=["array", "1-tuple", "3-list"])
def test_lstm_cell_state_not_a_pair(state):
    with pytest.raises(TypeError, match=r"LSTMCell: state must be a pair \(h, c\), each \(B, 5\), or None"):
        LSTMCell(D, H, dtype=F64)(np.zeros((B, D)), state)


# ====================================================================== lengths
@pytest.mark.parametrize("lengths,match", [
    ([0, 2, 3], r"lengths must lie in \[1, T=6\], got values from 0 to 3"),
    ([7, 2, 3], r"lengths must lie in \[1, T=6\], got values from 2 to 7"),
    ([-1, 6, 6], r"lengths must lie in \[1, T=6\]"),
    ([6, 2], r"lengths must be 3 integers \(one per sequence\), got shape \(2,\)"),
    ([6, 2, 3, 1], r"lengths must be 3 integers.*got shape \(4,\)"),
    ([[6, 2, 3]], r"lengths must be 3 integers.*got shape \(1, 3\)"),
    (np.array([6.0, 2.0, 3.0]), r"lengths must be 3 integers.*dtype float64"),
], ids=["zero", "too-long", "negative", "too-few", "too-many", "2d", "float"])
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_bad_lengths(cls, lengths, match, x):
    with pytest.raises(ValueError, match=match):
        cls(D, H, dtype=F64)(x, lengths=lengths)


# ====================================================================== backward
def test_dout_wrong_shape_names_expected_shape(lstm, x):
    lstm(x)
    with pytest.raises(ValueError, match=r"LSTM.backward: dout must have the shape of the forward's "
                                         r"output, \(6, 3, 5\), got \(6, 3, 4\)"):
        lstm.backward(np.zeros((T, B, 4)))


def test_dout_wrong_shape_batch_first():
    gru = GRU(D, H, batch_first=True, bidirectional=True, dtype=F64)
    gru(np.zeros((B, T, D)))
    with pytest.raises(ValueError, match=r"GRU.backward: dout .*\(3, 6, 10\), got \(6, 3, 10\)"):
        gru.backward(np.zeros((T, B, 2 * H)))


def test_dhx_wrong_shape(lstm, x):
    lstm(x)
    with pytest.raises(ValueError, match=r"LSTM.backward: dc_n .*\(2, 3, 5\), got \(2, 3, 4\)"):
        lstm.backward(np.zeros((T, B, H)), (np.zeros((2, B, H)), np.zeros((2, B, 4))))
    gru = GRU(D, H, dtype=F64)
    gru(x)
    with pytest.raises(ValueError, match=r"GRU.backward: dh_n .*\(1, 3, 5\), got \(2, 3, 5\)"):
        gru.backward(np.zeros((T, B, H)), np.zeros((2, B, H)))
    gru.backward(np.zeros((T, B, H)), np.zeros((1, B, H)))     # the refused call kept the forward


@pytest.mark.parametrize("dhx", [np.zeros((2, B, H)), (np.zeros((2, B, H)),),
                                (np.zeros((2, B, H)),) * 3], ids=["array", "1-tuple", "3-tuple"])
def test_lstm_dhx_not_a_pair(dhx, lstm, x):
    lstm(x)
    with pytest.raises(TypeError, match=r"LSTM.backward: dhx must be a pair \(dh_n, dc_n\) or None"):
        lstm.backward(np.zeros((T, B, H)), dhx)


def test_failed_backward_keeps_the_forward(lstm, x):
    out, _ = lstm(x)
    with pytest.raises(ValueError, match="dout must have the shape"):
        lstm.backward(np.zeros((T, B, 4)))
    dx, _ = lstm.backward(np.ones_like(out))
    assert dx.shape == x.shape


@pytest.mark.parametrize("make,inputs,bad,name,shape", [
    # each wrong shape broadcasts (or reshapes) against the right one, so without the check
    # the backward would return a silently wrong answer
    (lambda: RNNCell(3, 2, dtype=F64), (np.ones((4, 3)),), (np.ones(2),), "dh", (4, 2)),
    (lambda: GRUCell(3, 2, dtype=F64), (np.ones((4, 3)),), (np.ones((1, 2)),), "dh", (4, 2)),
    (lambda: LSTMCell(3, 2, dtype=F64), (np.ones((4, 3)),), (np.ones(2), np.ones(2)), "dh", (4, 2)),
    (lambda: LSTMCell(3, 2, dtype=F64), (np.ones((4, 3)),), (np.ones((4, 2)), np.ones((1, 2))),
     "dc", (4, 2)),
    (lambda: Linear(3, 2, dtype=F64), (np.ones((1, 3)),), (np.ones(2),), "dy", (1, 2)),
    (lambda: Dropout(0.5), (np.ones((3, 4)),), (np.ones(4),), "dout", (3, 4)),
    (lambda: Embedding(5, 2, dtype=F64), (np.array([[1, 2, 3], [0, 1, 2]]),), (np.ones((3, 2, 2)),),
     "dout", (2, 3, 2)),
], ids=["rnncell", "grucell", "lstmcell-dh", "lstmcell-dc", "linear", "dropout", "embedding"])
def test_step_modules_check_dout_shape(make, inputs, bad, name, shape):
    m = make()
    m(*inputs)
    with pytest.raises(ValueError, match=rf"{type(m).__name__}.backward: {name} must have the shape "
                                         rf"of the forward's output, \({shape[0]}, "):
        m.backward(*bad)
    m.backward(*(np.ones(shape),) * len(bad))     # the refused call kept the forward


@pytest.mark.parametrize("make", [lambda: LSTM(D, H, dtype=F64), lambda: GRU(D, H, dtype=F64),
                                  lambda: RNN(D, H, dtype=F64), lambda: LSTMCell(D, H, dtype=F64),
                                  lambda: RNNCell(D, H, dtype=F64), lambda: Linear(D, H, dtype=F64),
                                  lambda: Embedding(D, H, dtype=F64), lambda: Dropout(0.2)],
                         ids=["lstm", "gru", "rnn", "lstmcell", "rnncell", "linear", "embedding",
                              "dropout"])
def test_backward_without_forward(make):
    m = make()
    with pytest.raises(RuntimeError, match=rf"{type(m).__name__}\.backward\(\) called without a "
                                           r"matching forward\(\)"):
        m.backward(np.zeros((T, B, H)))


# ====================================================================== constructor arguments
@pytest.mark.parametrize("make", [lambda: RNN(D, H, nonlinearity="sigmoid"),
                                  lambda: RNNCell(D, H, nonlinearity="sigmoid"),
                                  lambda: RNN(D, H, nonlinearity="Tanh")],
                         ids=["rnn", "rnncell", "capitalised"])
def test_invalid_nonlinearity(make):
    with pytest.raises(ValueError, match=r"nonlinearity must be 'tanh' or 'relu', got '(sigmoid|Tanh)'"):
        make()


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_invalid_dropout(p):
    with pytest.raises(ValueError, match=rf"LSTM: dropout must be in \[0, 1\), got {p}"):
        LSTM(D, H, num_layers=2, dropout=p)
    with pytest.raises(ValueError, match=rf"GRU: dropout must be in \[0, 1\)"):
        GRU(D, H, num_layers=2, dropout=p)
    with pytest.raises(ValueError, match=rf"Dropout: p must be in \[0, 1\), got {p}"):
        Dropout(p)


@pytest.mark.parametrize("kwargs,name", [({"input_size": 0}, "input_size"),
                                         ({"hidden_size": -1}, "hidden_size"),
                                         ({"num_layers": 0}, "num_layers"),
                                         ({"num_layers": 1.5}, "num_layers")])
def test_invalid_sizes(kwargs, name):
    args = {"input_size": D, "hidden_size": H, **kwargs}
    with pytest.raises(ValueError, match=rf"{name} must be a positive integer"):
        LSTM(**args)


def test_invalid_init_and_forget_bias():
    with pytest.raises(ValueError, match=r"init must be 'uniform', 'xavier' or 'orthogonal', got 'he'"):
        GRU(D, H).reset_parameters("he")
    with pytest.raises(ValueError, match=r"forget_bias applies to LSTM layers only"):
        GRU(D, H).reset_parameters(forget_bias=1.0)
    with pytest.raises(ValueError, match=r"forget_bias needs bias=True"):
        LSTM(D, H, bias=False).reset_parameters(forget_bias=1.0)


# ====================================================================== loss
def test_targets_out_of_range():
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 5\).*from 1 to 5"):
        softmax_cross_entropy(np.zeros((2, 5)), np.array([1, 5]))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 5\).*from -1 to 2"):
        softmax_cross_entropy(np.zeros((2, 5)), np.array([-1, 2]))


def test_loss_argument_errors():
    logits = np.zeros((2, 3, 5))
    with pytest.raises(TypeError, match=r"targets must be integers.*float64"):
        softmax_cross_entropy(logits, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"need targets of shape \(2, 3\), got \(3, 2\)"):
        softmax_cross_entropy(logits, np.zeros((3, 2), int))
    with pytest.raises(ValueError, match=r"mask must have the targets' shape \(2, 3\), got \(2,\)"):
        softmax_cross_entropy(logits, np.zeros((2, 3), int), mask=np.ones(2))
    with pytest.raises(ValueError, match=r"reduction must be 'mean' or 'sum', got 'none'"):
        softmax_cross_entropy(logits, np.zeros((2, 3), int), reduction="none")
    with pytest.raises(TypeError, match=r"logits must be floating point"):
        softmax_cross_entropy(np.zeros((2, 5), int), np.zeros(2, int))


# ====================================================================== embedding ids
@pytest.mark.parametrize("ids,match", [
    (np.array([1, 10]), r"ids must lie in \[0, 10\); found values from 1 to 10"),
    (np.array([[-1, 2]]), r"ids must lie in \[0, 10\); found values from -1 to 2"),
])
def test_embedding_id_out_of_range(ids, match):
    with pytest.raises(IndexError, match=match):
        Embedding(10, 3)(ids)


def test_embedding_float_ids():
    with pytest.raises(TypeError, match=r"ids must be integers, got dtype float64"):
        Embedding(10, 3)(np.array([1.0, 2.0]))


# ====================================================================== array-likes
def test_array_likes_are_accepted_like_arrays():
    np.testing.assert_array_equal(Embedding(5, 2, dtype=F64, rng=np.random.default_rng(0))([[1, 2]]),
                                  Embedding(5, 2, dtype=F64, rng=np.random.default_rng(0))(np.array([[1, 2]])))
    lin = Linear(2, 3, dtype=F64)
    np.testing.assert_array_equal(lin([[1.0, 2.0]]), lin(np.array([[1.0, 2.0]])))


@pytest.mark.parametrize("training", [True, False])
def test_dropout_accepts_array_likes(training):
    d = Dropout(0.5, rng=np.random.default_rng(0)).train(training)
    y = d([1.0, 2.0, 3.0])
    assert isinstance(y, np.ndarray) and y.shape == (3,)


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_nan_in_padding_never_reaches_outputs_or_gradients(kind, rng):
    """Padding (t >= length) may hold anything, even nan, in x and in dout."""
    from grid import make_case
    layer, x, hx, lengths = make_case((kind, 2, True, True, False), rng)
    padding = np.arange(x.shape[0])[:, None] >= lengths[None, :]
    x[padding] = np.nan
    out, _ = layer(x, hx, lengths=lengths)
    dout = rng.standard_normal(out.shape)
    dout[padding] = np.nan
    dx, _ = layer.backward(dout)
    assert np.isfinite(out).all() and np.isfinite(dx[~padding]).all() and (dx[padding] == 0).all()
    assert all(np.isfinite(p.grad).all() for p in layer.parameters())
