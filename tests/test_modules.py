"""Module machinery: parameter names and order, state dicts, modes, gradient accumulation,
the cache stack, and parameter initialisation.

Reference numbers come from torch (names, shapes, forward values after loading its
state_dict) or are computed by hand here; nothing is compared with scratchrnn itself.
"""
import numpy as np
import pytest

from scratchrnn.nn import (GRU, LSTM, RNN, Dropout, Embedding, GRUCell, Linear, LSTMCell, Module,
                           Parameter, RNNCell, is_grad_enabled, no_grad)

F64 = np.float64


def _torch_state(torch_module):
    return {k: v.detach().numpy().copy() for k, v in torch_module.state_dict().items()}


class _Net(Module):
    """A small nested model: Embedding -> LSTM -> Dropout -> Linear."""

    def __init__(self, dtype=np.float32, rng=None):
        super().__init__()
        rng = np.random.default_rng(0) if rng is None else rng
        self.emb = Embedding(7, 3, dtype=dtype, rng=rng)
        self.rnn = LSTM(3, 4, num_layers=2, dropout=0.5, dtype=dtype, rng=rng)
        self.drop = Dropout(0.3, rng=rng)
        self.head = Linear(4, 7, dtype=dtype, rng=rng)


# ====================================================================== names and order
def test_lstm_named_parameters_follow_torch_names_and_order(torch):
    ref = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    ours = LSTM(3, 4, num_layers=2, bidirectional=True, dtype=F64, rng=np.random.default_rng(0))
    ref_items = [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    our_items = [(k, p.shape) for k, p in ours.named_parameters()]
    assert our_items == ref_items
    assert list(ours.state_dict()) == [k for k, _ in ref_items]


@pytest.mark.parametrize("make_ours,make_ref", [
    (lambda: GRU(3, 4, num_layers=2, bidirectional=True, dtype=F64),
     lambda t: t.nn.GRU(3, 4, num_layers=2, bidirectional=True)),
    (lambda: RNN(3, 4, num_layers=3, bias=False, dtype=F64),
     lambda t: t.nn.RNN(3, 4, num_layers=3, bias=False)),
    (lambda: LSTM(3, 4, bias=False, bidirectional=True, dtype=F64),
     lambda t: t.nn.LSTM(3, 4, bias=False, bidirectional=True)),
    (lambda: RNNCell(3, 4, dtype=F64), lambda t: t.nn.RNNCell(3, 4)),
    (lambda: LSTMCell(3, 4, dtype=F64), lambda t: t.nn.LSTMCell(3, 4)),
    (lambda: GRUCell(3, 4, bias=False, dtype=F64), lambda t: t.nn.GRUCell(3, 4, bias=False)),
    (lambda: Linear(3, 4, dtype=F64), lambda t: t.nn.Linear(3, 4)),
    (lambda: Linear(3, 4, bias=False, dtype=F64), lambda t: t.nn.Linear(3, 4, bias=False)),
    (lambda: Embedding(5, 2, dtype=F64), lambda t: t.nn.Embedding(5, 2)),
], ids=["gru", "rnn-nobias", "lstm-nobias-bi", "rnncell", "lstmcell", "grucell-nobias",
        "linear", "linear-nobias", "embedding"])
def test_named_parameters_match_torch(make_ours, make_ref, torch):
    ours, ref = make_ours(), make_ref(torch)
    assert [(k, p.shape) for k, p in ours.named_parameters()] == \
        [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]


def test_nested_module_names_are_dotted_like_torch(torch):
    class RefNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(7, 3)
            self.rnn = torch.nn.LSTM(3, 4, num_layers=2, dropout=0.5)
            self.drop = torch.nn.Dropout(0.3)
            self.head = torch.nn.Linear(4, 7)

    ours = _Net()
    assert [(k, p.shape) for k, p in ours.named_parameters()] == \
        [(k, tuple(v.shape)) for k, v in RefNet().state_dict().items()]


def test_parameters_are_the_named_ones_in_the_same_stable_order():
    net = _Net()
    named = list(net.named_parameters())
    params = list(net.parameters())
    assert len(params) == len(named) == 2 + 8 + 1   # head: weight+bias, emb: weight, rnn: 8
    assert all(p is q for p, (_, q) in zip(params, named))
    assert all(p is q for p, q in zip(params, net.parameters()))   # stable across calls
    assert all(isinstance(p, Parameter) for p in params)
    assert net.num_parameters() == 7 * 3 + (16 * 3 + 16 * 4 + 32) + (16 * 4 + 16 * 4 + 32) + 7 * 4 + 7


def test_reassigning_an_attribute_replaces_the_parameter_in_place_of_order():
    m = Linear(2, 3, dtype=F64)
    m.bias = None                              # no longer a parameter
    assert [k for k, _ in m.named_parameters()] == ["weight"]
    m.bias = Parameter(np.ones(3))
    assert [k for k, _ in m.named_parameters()] == ["weight", "bias"]


def test_parameter_grad_starts_at_zero_and_rejects_integers():
    p = Parameter(np.arange(6.0).reshape(2, 3))
    assert p.grad.shape == (2, 3) and not p.grad.any()
    src = np.ones(3)
    q = Parameter(src)
    src[0] = 5.0
    assert q.data[0] == 1.0                    # Parameter copies its data
    with pytest.raises(TypeError, match="floating-point"):
        Parameter(np.arange(3))


def test_module_subclass_must_call_super_init():
    class Bad(Module):
        def __init__(self):
            self.w = Parameter(np.zeros(2))

    with pytest.raises(RuntimeError, match=r"super\(\).__init__\(\)"):
        Bad()


# ====================================================================== zero_grad
def test_zero_grad_resets_every_grad(rng):
    net = _Net(dtype=F64)
    for p in net.parameters():
        p.grad[...] = rng.standard_normal(p.shape)
    net.zero_grad()
    for name, p in net.named_parameters():
        assert p.grad.shape == p.shape and not p.grad.any(), name


# ====================================================================== state_dict
def test_state_dict_is_a_copy(rng):
    m = LSTM(3, 4, dtype=F64, rng=rng)
    before = m.weight_ih_l0.data.copy()
    sd = m.state_dict()
    sd["weight_ih_l0"][...] = 123.0
    np.testing.assert_array_equal(m.weight_ih_l0.data, before)
    m.weight_hh_l0.data[...] = -7.0
    assert not (sd["weight_hh_l0"] == -7.0).any()


def test_loaded_arrays_are_not_aliased(rng):
    m = Linear(3, 2, dtype=F64, rng=rng)
    sd = {"weight": rng.standard_normal((2, 3)), "bias": rng.standard_normal(2)}
    m.load_state_dict(sd)
    np.testing.assert_array_equal(m.weight.data, sd["weight"])
    sd["weight"][...] = 0.0
    assert m.weight.data.any()


def _run_layer_torch(ref, x, torch):
    out, state = ref(torch.from_numpy(x))
    if isinstance(state, tuple):
        return out.detach().numpy(), tuple(s.detach().numpy() for s in state)
    return out.detach().numpy(), state.detach().numpy()


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_relu"])
def test_torch_state_dict_loads_and_gives_torch_forward(kind, rng, torch):
    torch.manual_seed(0)
    kw = dict(num_layers=2, bidirectional=True, dtype=torch.float64)
    ref, ours = {
        "lstm": (torch.nn.LSTM(3, 4, **kw), LSTM(3, 4, num_layers=2, bidirectional=True, dtype=F64)),
        "gru": (torch.nn.GRU(3, 4, **kw), GRU(3, 4, num_layers=2, bidirectional=True, dtype=F64)),
        "rnn_relu": (torch.nn.RNN(3, 4, nonlinearity="relu", **kw),
                     RNN(3, 4, num_layers=2, bidirectional=True, nonlinearity="relu", dtype=F64)),
    }[kind]
    ours.load_state_dict(_torch_state(ref))
    x = rng.standard_normal((5, 2, 3))
    out_ref, state_ref = _run_layer_torch(ref, x, torch)
    out, state = ours(x)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-14)
    if kind == "lstm":
        np.testing.assert_allclose(state[0], state_ref[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(state[1], state_ref[1], rtol=1e-12, atol=1e-14)
    else:
        np.testing.assert_allclose(state, state_ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_torch_cell_state_dict_loads_and_gives_torch_forward(kind, rng, torch):
    torch.manual_seed(1)
    ref = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind](
        3, 4, dtype=torch.float64)
    ours = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}[kind](3, 4, dtype=F64)
    ours.load_state_dict(_torch_state(ref))
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    if kind == "lstm":
        c = rng.standard_normal((2, 4))
        h_ref, c_ref = ref(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c)))
        h_new, c_new = ours(x, (h, c))
        np.testing.assert_allclose(c_new, c_ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    else:
        h_ref = ref(torch.from_numpy(x), torch.from_numpy(h))
        h_new = ours(x, h)
    np.testing.assert_allclose(h_new, h_ref.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_torch_linear_and_embedding_state_dicts_load(rng, torch):
    torch.manual_seed(2)
    lin_ref, emb_ref = torch.nn.Linear(3, 5, dtype=torch.float64), torch.nn.Embedding(6, 3, dtype=torch.float64)
    lin, emb = Linear(3, 5, dtype=F64), Embedding(6, 3, dtype=F64)
    lin.load_state_dict(_torch_state(lin_ref))
    emb.load_state_dict(_torch_state(emb_ref))
    ids = np.array([[0, 5, 2], [2, 2, 1]])
    e = emb(ids)
    e_ref = emb_ref(torch.from_numpy(ids)).detach().numpy()
    np.testing.assert_array_equal(e, e_ref)
    np.testing.assert_allclose(lin(e), lin_ref(torch.from_numpy(e_ref)).detach().numpy(),
                               rtol=1e-12, atol=1e-14)


def test_strict_load_reports_every_mismatch_in_one_message(rng):
    m = LSTM(3, 4, num_layers=2, dtype=F64, rng=rng)
    sd = m.state_dict()
    del sd["bias_hh_l1"]                       # missing
    del sd["weight_ih_l0"]                     # missing
    sd["weight_ih_l7"] = np.zeros((16, 3))     # unexpected
    sd["running_mean"] = np.zeros(3)           # unexpected
    sd["weight_hh_l0"] = np.zeros((16, 5))     # wrong shape
    sd["bias_ih_l1"] = np.zeros(12)            # wrong shape
    with pytest.raises(ValueError) as info:
        m.load_state_dict(sd)
    msg = str(info.value)
    for name in ("bias_hh_l1", "weight_ih_l0", "weight_ih_l7", "running_mean", "weight_hh_l0",
                 "bias_ih_l1"):
        assert name in msg, (name, msg)
    assert "missing" in msg and "unexpected" in msg
    assert "(16, 4)" in msg and "(16, 5)" in msg     # expected and given shape
    assert "(16,)" in msg and "(12,)" in msg
    # keys that were fine are not blamed
    assert "weight_hh_l1" not in msg and "bias_ih_l0" not in msg


@pytest.mark.parametrize("strict", [True, False])
def test_failed_load_leaves_module_unchanged(strict, rng):
    m = GRU(3, 4, num_layers=2, bidirectional=True, dtype=F64, rng=rng)
    before = m.state_dict()
    sd = {k: v + 1.0 for k, v in before.items()}
    sd["weight_hh_l1_reverse"] = np.zeros((12, 3))       # one bad shape among good arrays
    with pytest.raises(ValueError, match="weight_hh_l1_reverse"):
        m.load_state_dict(sd, strict=strict)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_non_strict_load_skips_missing_and_unexpected(rng):
    m = Linear(3, 2, dtype=F64, rng=rng)
    bias_before = m.bias.data.copy()
    w = rng.standard_normal((2, 3))
    missing, unexpected = m.load_state_dict({"weight": w, "extra": np.zeros(1)}, strict=False)
    assert list(missing) == ["bias"] and list(unexpected) == ["extra"]
    np.testing.assert_array_equal(m.weight.data, w)
    np.testing.assert_array_equal(m.bias.data, bias_before)


@pytest.mark.parametrize("make", [lambda: LSTM(3, 4, dtype=np.float32), lambda: GRUCell(3, 4),
                                  lambda: Linear(3, 4), lambda: Embedding(5, 3)])
def test_load_keeps_the_module_dtype(make, rng):
    m = make()
    sd = {k: rng.standard_normal(v.shape) for k, v in m.state_dict().items()}   # float64
    m.load_state_dict(sd)
    for k, p in m.named_parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32, k
        np.testing.assert_array_equal(p.data, sd[k].astype(np.float32))


# ====================================================================== train / eval
def test_train_and_eval_recurse_into_submodules():
    class Outer(Module):
        def __init__(self):
            super().__init__()
            self.net = _Net()
            self.drop = Dropout(0.1)

    m = Outer()
    assert all(sub.training for sub in m.modules())
    assert len(list(m.modules())) == 7          # outer, net, emb, rnn, drop, head, drop
    assert m.eval() is m
    assert not any(sub.training for sub in m.modules())
    assert not m.net.drop.training and not m.net.rnn.training
    m.train()
    assert all(sub.training for sub in m.modules())
    m.train(False)
    assert not m.drop.training


def test_eval_turns_off_dropout_in_layers_and_modules(rng):
    lstm = LSTM(3, 4, num_layers=2, dropout=0.6, dtype=F64, rng=rng)
    plain = LSTM(3, 4, num_layers=2, dtype=F64)
    plain.load_state_dict(lstm.state_dict())
    x = rng.standard_normal((5, 2, 3))
    out_train, _ = lstm(x)
    ref, _ = plain(x)
    assert np.abs(out_train - ref).max() > 1e-3        # dropout changed the second layer
    lstm.eval()
    out_eval, _ = lstm(x)
    np.testing.assert_array_equal(out_eval, ref)


# ====================================================================== accumulation
def test_backward_accumulates_into_grad(rng):
    m = LSTM(3, 4, num_layers=2, bidirectional=True, dtype=F64, rng=rng)
    x, dout = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 8))
    m(x)
    m.backward(dout)
    once = {k: p.grad.copy() for k, p in m.named_parameters()}
    assert all(g.any() for g in once.values())
    m.zero_grad()
    for _ in range(2):
        m(x)
        m.backward(dout)
    for k, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[k], rtol=1e-13, atol=1e-15, err_msg=k)


def test_linear_backward_accumulates_by_hand(rng):
    m = Linear(3, 2, dtype=F64, rng=rng)
    x1, x2 = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    d1, d2 = rng.standard_normal((4, 2)), rng.standard_normal((5, 2))
    m(x1)
    m(x2)
    m.backward(d2)                              # LIFO: pairs with x2
    m.backward(d1)
    np.testing.assert_allclose(m.weight.grad, d1.T @ x1 + d2.T @ x2, rtol=1e-13)
    np.testing.assert_allclose(m.bias.grad, d1.sum(0) + d2.sum(0), rtol=1e-13)


@pytest.mark.parametrize("make,args,dout", [
    (lambda: Linear(3, 2, dtype=F64), (np.ones((1, 3)),), np.ones((1, 2))),
    (lambda: LSTM(3, 2, dtype=F64), (np.ones((2, 1, 3)),), np.ones((2, 1, 2))),
    (lambda: GRUCell(3, 2, dtype=F64), (np.ones((1, 3)),), np.ones((1, 2))),
    (lambda: Embedding(4, 2, dtype=F64), (np.array([1, 2]),), np.ones((2, 2))),
    (lambda: Dropout(0.5), (np.ones(3),), np.ones(3)),
], ids=["linear", "lstm", "grucell", "embedding", "dropout"])
def test_backward_without_forward_raises(make, args, dout):
    m = make()
    with pytest.raises(RuntimeError, match="without a matching forward"):
        m.backward(dout)
    m(*args)
    m.backward(dout)
    with pytest.raises(RuntimeError, match=type(m).__name__ + r".*without a matching forward"):
        m.backward(dout)                        # the one forward was used up


def test_no_grad_keeps_no_caches(rng):
    net_lstm = LSTM(3, 4, dtype=F64, rng=rng)
    cell = LSTMCell(3, 4, dtype=F64, rng=rng)
    lin = Linear(3, 4, dtype=F64, rng=rng)
    x = rng.standard_normal((5, 2, 3))
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        out, _ = net_lstm(x)
        state = None
        for t in range(5):
            state = cell(x[t], state)
        lin(x)
    assert is_grad_enabled()
    for m in (net_lstm, cell, lin):
        assert m._caches == []
    with pytest.raises(RuntimeError, match="no_grad"):
        net_lstm.backward(out)
    # the forward values are the same as with gradients on (to round-off: under no_grad the
    # cache-free kernels of kernels/inference.py compute the same function, arranged differently)
    out2, _ = net_lstm(x)
    np.testing.assert_allclose(out, out2, rtol=0, atol=1e-12)


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError
    assert is_grad_enabled()
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_clear_caches_drops_pending_forwards(rng):
    net = _Net(dtype=F64)
    net.head(rng.standard_normal((2, 4)))
    net.rnn(rng.standard_normal((3, 2, 3)))
    net.clear_caches()
    with pytest.raises(RuntimeError):
        net.head.backward(np.ones((2, 7)))


# ====================================================================== cell cache stack
def _rnn_step_by_hand(cell, x, h):
    return np.tanh(x @ cell.weight_ih.data.T + cell.bias_ih.data + h @ cell.weight_hh.data.T
                   + cell.bias_hh.data)


def test_cell_cache_stack_is_lifo(rng):
    """Two forwards on unrelated inputs; the first backward must use the second forward's cache.
    The expected gradients are written out by hand for a tanh RNN step."""
    cell = RNNCell(3, 4, dtype=F64, rng=rng)
    xa, ha = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    xb, hb = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))   # different batch size
    cell(xa, ha)
    yb = cell(xb, hb)
    np.testing.assert_allclose(yb, _rnn_step_by_hand(cell, xb, hb), rtol=1e-13)
    db = rng.standard_normal((5, 4))
    dx_b, dh_b = cell.backward(db)
    da = db * (1 - yb ** 2)
    np.testing.assert_allclose(dx_b, da @ cell.weight_ih.data, rtol=1e-12)
    np.testing.assert_allclose(dh_b, da @ cell.weight_hh.data, rtol=1e-12)
    ya = _rnn_step_by_hand(cell, xa, ha)
    d_a = rng.standard_normal((2, 4))
    dx_a, _ = cell.backward(d_a)
    np.testing.assert_allclose(dx_a, (d_a * (1 - ya ** 2)) @ cell.weight_ih.data, rtol=1e-12)
    da_a = d_a * (1 - ya ** 2)
    np.testing.assert_allclose(cell.weight_ih.grad, da.T @ xb + da_a.T @ xa, rtol=1e-12)
    np.testing.assert_allclose(cell.bias_hh.grad, da.sum(0) + da_a.sum(0), rtol=1e-12)
    with pytest.raises(RuntimeError, match="without a matching forward"):
        cell.backward(d_a)


def test_forward_and_backward_do_not_modify_their_arguments(rng):
    for cell in (RNNCell(3, 4, dtype=F64, rng=rng), GRUCell(3, 4, dtype=F64, rng=rng),
                 GRUCell(3, 4, reset_after=False, dtype=F64, rng=rng)):
        x, h, dh = (rng.standard_normal(s) for s in ((2, 3), (2, 4), (2, 4)))
        copies = [a.copy() for a in (x, h, dh)]
        cell(x, h)
        cell.backward(dh)
        for a, c in zip((x, h, dh), copies):
            np.testing.assert_array_equal(a, c)
    cell = LSTMCell(3, 4, dtype=F64, rng=rng)
    args = [rng.standard_normal(s) for s in ((2, 3), (2, 4), (2, 4), (2, 4), (2, 4))]
    copies = [a.copy() for a in args]
    cell(args[0], (args[1], args[2]))
    cell.backward(args[3], args[4])
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)
    lstm = LSTM(3, 4, bidirectional=True, dtype=F64, rng=rng)
    args = [rng.standard_normal(s) for s in ((5, 2, 3), (2, 2, 4), (2, 2, 4), (5, 2, 8),
                                            (2, 2, 4), (2, 2, 4))]
    copies = [a.copy() for a in args]
    lstm(args[0], (args[1], args[2]), lengths=np.array([5, 3]))
    lstm.backward(args[3], (args[4], args[5]))
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)


# ====================================================================== initialisation
@pytest.mark.parametrize("make,gates", [
    (lambda rng: LSTM(10, 50, num_layers=2, bidirectional=True, rng=rng), 4),
    (lambda rng: GRU(10, 50, rng=rng), 3),
    (lambda rng: RNN(10, 50, rng=rng), 1),
    (lambda rng: LSTMCell(10, 50, rng=rng), 4),
    (lambda rng: GRUCell(10, 50, rng=rng), 3),
    (lambda rng: RNNCell(10, 50, rng=rng), 1),
], ids=["lstm", "gru", "rnn", "lstmcell", "grucell", "rnncell"])
def test_default_recurrent_init_is_uniform_1_over_sqrt_hidden(make, gates, rng):
    m = make(rng)
    bound = 1 / np.sqrt(50)
    for name, p in m.named_parameters():
        assert p.dtype == np.float32
        a = p.data.astype(F64)
        assert np.abs(a).max() <= bound + 1e-7, name
        # at least 50 entries each: the extreme ones sit near the bound, the spread is uniform
        assert a.max() > 0.85 * bound and a.min() < -0.85 * bound, name
        assert abs(a.mean()) < 0.25 * bound, name
        # the std of U(-b, b) is b / sqrt(3)
        assert abs(a.std() - bound / np.sqrt(3)) < 0.2 * bound / np.sqrt(3), name


def test_default_linear_and_embedding_init(rng):
    lin = Linear(64, 200, rng=rng)
    bound = 1 / np.sqrt(64)
    for p in (lin.weight, lin.bias):
        assert np.abs(p.data).max() <= bound + 1e-7
        assert p.data.max() > 0.9 * bound and p.data.min() < -0.9 * bound
    emb = Embedding(500, 40, rng=rng)
    w = emb.weight.data.astype(F64)
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02      # N(0, 1), 20000 draws


def test_xavier_init_per_gate_block(rng):
    D, H = 6, 30
    m = LSTM(D, H, num_layers=2, dtype=F64, rng=rng)
    m.reset_parameters("xavier", rng=rng)
    for layer, d_in in ((0, D), (1, H)):
        w_ih, w_hh = m.state_dict()[f"weight_ih_l{layer}"], m.state_dict()[f"weight_hh_l{layer}"]
        for g in range(4):
            for w, fan_in in ((w_ih, d_in), (w_hh, H)):
                block = w[g * H:(g + 1) * H]
                b = np.sqrt(6.0 / (fan_in + H))
                assert np.abs(block).max() <= b
                assert block.max() > 0.8 * b and block.min() < -0.8 * b
        assert not m.state_dict()[f"bias_ih_l{layer}"].any()
        assert not m.state_dict()[f"bias_hh_l{layer}"].any()


@pytest.mark.parametrize("make,gates", [
    (lambda rng: LSTM(5, 7, num_layers=2, bidirectional=True, dtype=F64, rng=rng), 4),
    (lambda rng: GRU(5, 7, dtype=F64, rng=rng), 3),
    (lambda rng: RNN(5, 7, dtype=F64, rng=rng), 1),
    (lambda rng: GRUCell(5, 7, dtype=F64, rng=rng), 3),
    (lambda rng: LSTM(5, 7, rng=rng), 4),          # float32
], ids=["lstm", "gru", "rnn", "grucell", "lstm-f32"])
def test_orthogonal_init_gives_orthogonal_hh_blocks(make, gates, rng):
    m = make(rng)
    m.reset_parameters("orthogonal", rng=rng)
    H = 7
    hh = [p.data for k, p in m.named_parameters() if k.startswith("weight_hh")]
    assert hh
    for w in hh:
        tol = 1e-12 if w.dtype == F64 else 1e-6
        for g in range(gates):
            q = w[g * H:(g + 1) * H].astype(F64)
            np.testing.assert_allclose(q.T @ q, np.eye(H), atol=tol)
            np.testing.assert_allclose(q @ q.T, np.eye(H), atol=tol)
    # blocks differ from each other (not one matrix repeated)
    assert gates == 1 or not np.allclose(hh[0][:H], hh[0][H:2 * H])
    # weight_ih gets Xavier, not orthogonal (it is not square)
    ih = m.state_dict()[[k for k, _ in m.named_parameters() if k.startswith("weight_ih")][0]]
    assert np.abs(ih[:H]).max() <= np.sqrt(6.0 / (5 + H)) + 1e-7


@pytest.mark.parametrize("init", ["uniform", "xavier", "orthogonal"])
def test_forget_bias_sets_the_forget_block(init, rng):
    H = 6
    m = LSTM(4, H, num_layers=2, bidirectional=True, dtype=F64, rng=rng)
    m.reset_parameters(init, forget_bias=1.5, rng=rng)
    names = [k for k, _ in m.named_parameters()]
    for k in names:
        a = m.state_dict()[k]
        if k.startswith("bias_ih"):
            np.testing.assert_array_equal(a[H:2 * H], 1.5)
            assert not np.any(a[:H] == 1.5)
        elif k.startswith("bias_hh"):
            np.testing.assert_array_equal(a[H:2 * H], 0.0)
    # the gate really starts at sigma(1.5) when weights are zeroed
    cell = LSTMCell(4, H, dtype=F64, rng=rng)
    cell.reset_parameters(init, forget_bias=1.5, rng=rng)
    np.testing.assert_array_equal(cell.bias_ih.data[H:2 * H], 1.5)
    np.testing.assert_array_equal(cell.bias_hh.data[H:2 * H], 0.0)
    cell.weight_ih.data[...] = 0
    cell.weight_hh.data[...] = 0
    cell.bias_ih.data[:H] = 50.0          # i = 1
    cell.bias_ih.data[2 * H:3 * H] = 0.0  # g = 0
    cell.bias_hh.data[:H] = 0.0
    cell.bias_hh.data[2 * H:3 * H] = 0.0
    c_prev = np.ones((1, H))
    _, c = cell(np.zeros((1, 4)), (np.zeros((1, H)), c_prev))
    np.testing.assert_allclose(c, 1 / (1 + np.exp(-1.5)), rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda rng: LSTM(3, 5, num_layers=2, bidirectional=True, rng=rng),
    lambda rng: GRU(3, 5, rng=rng),
    lambda rng: RNNCell(3, 5, rng=rng),
    lambda rng: LSTMCell(3, 5, rng=rng),
    lambda rng: Linear(3, 5, rng=rng),
    lambda rng: Embedding(9, 5, rng=rng),
    lambda rng: _Net(rng=rng),
], ids=["lstm", "gru", "rnncell", "lstmcell", "linear", "embedding", "net"])
def test_same_seed_same_weights(make):
    a = make(np.random.default_rng(42)).state_dict()
    b = make(np.random.default_rng(42)).state_dict()
    c = make(np.random.default_rng(43)).state_dict()
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_reset_parameters_with_seed_reproduces(rng):
    m1, m2 = LSTM(3, 5, rng=rng), LSTM(3, 5, rng=rng)
    for init in ("uniform", "xavier", "orthogonal"):
        m1.reset_parameters(init, rng=np.random.default_rng(5))
        m2.reset_parameters(init, rng=np.random.default_rng(5))
        for k, v in m1.state_dict().items():
            np.testing.assert_array_equal(v, m2.state_dict()[k])


def test_torch_state_dict_of_tensors_loads_directly(rng, torch):
    """No .numpy() needed: CPU tensors convert through np.asarray."""
    ref = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float32)
    m = LSTM(3, 4, num_layers=2, bidirectional=True, rng=rng)
    m.load_state_dict(ref.state_dict())
    for k, v in ref.state_dict().items():
        assert getattr(m, k).dtype == np.float32
        np.testing.assert_array_equal(getattr(m, k).data, v.numpy())
