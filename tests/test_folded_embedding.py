"""The embedding folded into layer 0 (models/charlm.py, kernels/_fast/folding.py): the
gathered kernels equal the reference kernels run on x = E[ids] (with the chain rule through
W_ih E^T), and a folded CharLM has the unfolded one's loss, state and every gradient."""
import numpy as np
import pytest

import scratchrnn.kernels.gru as fast_gru
import scratchrnn.kernels.lstm as fast_lstm
import scratchrnn.kernels.rnn as fast_rnn
import scratchrnn.kernels.reference.gru as ref_gru
import scratchrnn.kernels.reference.lstm as ref_lstm
import scratchrnn.kernels.reference.rnn as ref_rnn
from scratchrnn.models import CharLM
from scratchrnn.nn import GRU, no_grad, softmax_cross_entropy
from scratchrnn.training import evaluate

KERNELS = {"rnn": (fast_rnn, ref_rnn, 1, {}), "rnn_relu": (fast_rnn, ref_rnn, 1, {"nonlinearity": "relu"}),
           "lstm": (fast_lstm, ref_lstm, 4, {}), "gru": (fast_gru, ref_gru, 3, {})}


def per_id_sum(ids, V, rows):
    out = np.zeros((V, rows.shape[-1]))
    np.add.at(out, ids.reshape(-1), rows.reshape(-1, rows.shape[-1]))
    return out


# (T, B, H): T * B > H puts the bias in the recurrent product, T * B <= H adds it to the rows
@pytest.mark.parametrize("T,B,H", [(5, 4, 6), (3, 2, 13)])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("kind", KERNELS)
def test_gathered_kernels_equal_the_reference_on_embedded_ids(kind, masked, T, B, H):
    fast, ref, gates, opts = KERNELS[kind]
    name = kind.split("_")[0]
    V, E, G = 7, 3, gates * H
    rng = np.random.default_rng(0)
    Emb, W_ih, W_hh = rng.normal(size=(V, E)), rng.normal(size=(G, E)) * 0.5, rng.normal(size=(G, H)) * 0.5
    b_ih, b_hh = rng.normal(size=G) * 0.3, rng.normal(size=G) * 0.3
    ids = rng.integers(0, V, (T, B))
    h0 = rng.normal(size=(B, H))
    state = (h0, rng.normal(size=(B, H))) if name == "lstm" else (h0,)
    mask = None
    if masked:
        lengths = np.array([T] + [1] + [T - 1] * (B - 2))
        mask = np.arange(T)[:, None] < lengths[None, :]
    table = Emb @ W_ih.T
    got, gcache = getattr(fast, f"{name}_forward_gathered")(ids, table, *state, W_hh, b_ih, b_hh,
                                                            mask=mask, **opts)
    want, rcache = getattr(ref, f"{name}_forward")(Emb[ids], *state, W_ih, W_hh, b_ih, b_hh,
                                                   mask=mask, **opts)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    dout = rng.normal(size=(T, B, H))
    dfinal = [rng.normal(size=(B, H)) for _ in state]
    g = getattr(fast, f"{name}_backward")(dout, *dfinal, gcache)
    r = getattr(ref, f"{name}_backward")(dout, *dfinal, rcache)
    dtable, (dW_ih, *rest) = g[0], g[-1]
    assert dW_ih is None and dtable.shape == (V, G)
    dx_ref, (dW_ih_ref, *rest_ref) = r[0], r[-1]
    np.testing.assert_allclose(dtable.T @ Emb, dW_ih_ref, rtol=1e-12, atol=1e-12)     # dW_ih
    np.testing.assert_allclose(dtable @ W_ih, per_id_sum(ids, V, dx_ref), rtol=1e-12, atol=1e-12)   # dE
    for a, b in zip(list(g[1:-1]) + rest, list(r[1:-1]) + rest_ref):   # dh0 (dc0), dW_hh, db
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def make(kind, dropout, fold, V=11, E=5, H=7, num_layers=2):
    m = CharLM(V, kind, embedding_dim=E, hidden_size=H, num_layers=num_layers, dropout=dropout,
               dtype=np.float64, rng=np.random.default_rng(0))
    m.fold_embedding = fold
    return m


def step(m, ids, y, state):
    logits, state = m(ids, state)
    loss, dlogits = softmax_cross_entropy(logits, y)
    m.zero_grad()
    m.backward(dlogits)
    return loss, state, {k: p.grad.copy() for k, p in m.named_parameters()}


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_folded_charlm_has_the_unfolded_loss_and_gradients(kind, dropout, with_state, monkeypatch):
    rng = np.random.default_rng(1)
    ids, y = rng.integers(0, 11, (6, 4)), rng.integers(0, 11, (6, 4))
    state = None
    if with_state:
        h = rng.normal(size=(2, 4, 7))
        state = (h, rng.normal(size=(2, 4, 7))) if kind == "lstm" else h
    calls = []
    kern = {"lstm": fast_lstm, "gru": fast_gru, "rnn": fast_rnn}[kind]
    real = getattr(kern, f"{kind}_forward_gathered")
    monkeypatch.setattr(kern, f"{kind}_forward_gathered",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    loss0, state0, grads0 = step(make(kind, dropout, False), ids, y, state)
    assert not calls
    loss1, state1, grads1 = step(make(kind, dropout, True), ids, y, state)
    assert calls                                    # the folded kernel ran
    assert abs(loss1 - loss0) < 1e-10
    for a, b in zip(state1 if kind == "lstm" else [state1], state0 if kind == "lstm" else [state0]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    assert grads1.keys() == grads0.keys()
    for k in grads0:
        assert np.abs(grads0[k]).max() > 0, k      # every gradient is exercised
        np.testing.assert_allclose(grads1[k], grads0[k], rtol=0, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_folded_evaluation_equals_unfolded(kind):
    ids = np.random.default_rng(2).integers(0, 11, (9, 3))
    out = []
    for fold in (False, True):
        m = make(kind, 0.25, fold).eval()
        with no_grad():
            out.append(m(ids)[0])
        assert not m._caches and not m.rnn._caches
    np.testing.assert_allclose(out[1], out[0], rtol=0, atol=1e-12)
    text = np.random.default_rng(3).integers(0, 11, 400)
    vals = [evaluate(make(kind, 0.0, fold), text, batch_size=4, seq_length=10) for fold in (False, True)]
    assert abs(vals[0] - vals[1]) < 1e-12


def test_the_rule():
    char = CharLM(65, "lstm", embedding_dim=128, hidden_size=256)
    assert char.folds(32 * 64, training=True) and char.folds(32 * 64, training=False)
    assert not char.folds(1, training=False) and not char.folds(4, training=True)   # generation
    words = CharLM(10_000, "lstm", embedding_dim=128, hidden_size=16)
    assert not words.folds(32 * 64, training=True)                # a word vocabulary
    assert not words.folds(32 * 64, training=False)
    gru = CharLM(65, "gru", embedding_dim=128, hidden_size=16)
    gru.rnn = GRU(128, 16, reset_after=False)                      # no gathered kernel
    gru.fold_embedding = True
    assert not gru.folds(32 * 64)
    char.fold_embedding = False
    assert not char.folds(32 * 64, training=True)
    char.fold_embedding = True
    assert char.folds(1, training=False)


def test_folding_changes_no_names_or_config_and_checks_ids():
    a, b = make("lstm", 0.0, False), make("lstm", 0.0, True)
    assert list(a.state_dict()) == list(b.state_dict()) and a.config() == b.config()
    with pytest.raises(IndexError, match=r"ids must lie in \[0, 11\)"):
        b(np.full((3, 2), 11))
    with pytest.raises(TypeError, match="ids must be integers"):
        b(np.zeros((3, 2)))


def test_gathered_kernels_refuse_ids_outside_the_table():
    table, h0, W_hh = np.zeros((5, 4)), np.zeros((2, 4)), np.zeros((4, 4))
    with pytest.raises(IndexError, match=r"ids must lie in \[0, 5\)"):
        fast_rnn.rnn_forward_gathered(np.array([[0, 5]]), table, h0, W_hh)
    with pytest.raises(ValueError, match=r"ids must be \(T, B\) integers"):
        fast_rnn.rnn_forward_gathered(np.zeros((1, 2)), table, h0, W_hh)
