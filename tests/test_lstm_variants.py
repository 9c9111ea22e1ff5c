"""Peephole and coupled-gate LSTMs: equations against a plain-NumPy reference, gradients over a
grid {peephole, coupled, both} x {1, 2 layers} x {uni, bi} x {equal, ragged}, names, shapes,
options of the cells, and the runnable blocks of docs/theory/lstm_variants.md."""
import itertools
from pathlib import Path

import numpy as np
import pytest

from scratchrnn.gradcheck import check_gradients
from scratchrnn.kernels import lstm_forward
from scratchrnn.kernels.lstm_variants import (lstm_variant_backward, lstm_variant_forward,
                                              lstm_variant_step_backward, lstm_variant_step_forward)
from scratchrnn.nn import LSTM, LSTMCell

OPTIONS = {"peephole": dict(peephole=True), "coupled": dict(coupled=True),
           "both": dict(peephole=True, coupled=True)}
GRID = list(itertools.product(OPTIONS, (1, 2), (False, True), (False, True)))
T, B, D, H = 5, 3, 4, 3
RAGGED = np.array([5, 2, 4])


def sig(z):
    return 1 / (1 + np.exp(-z))


def reference_step(x, h, c, W_ih, W_hh, b, w_ci=None, w_cf=None, w_co=None, coupled=False):
    """The equations of docs/theory/lstm_variants.md, written out one gate at a time."""
    a = x @ W_ih.T + h @ W_hh.T + b
    blocks = np.split(a, 3 if coupled else 4, axis=1)
    a_i, a_g, a_o = (blocks[0], blocks[1], blocks[2]) if coupled else (blocks[0], blocks[2], blocks[3])
    i = sig(a_i + (0 if w_ci is None else w_ci * c))
    f = 1 - i if coupled else sig(blocks[1] + (0 if w_cf is None else w_cf * c))
    c_new = f * c + i * np.tanh(a_g)
    o = sig(a_o + (0 if w_co is None else w_co * c_new))
    return o * np.tanh(c_new), c_new


def random_weights(rng, coupled, peephole):
    G = (3 if coupled else 4) * H
    w = [rng.standard_normal((G, D)), rng.standard_normal((G, H)), rng.standard_normal(G),
         rng.standard_normal(G)]
    peep = [rng.standard_normal(H), None if coupled else rng.standard_normal(H),
            rng.standard_normal(H)] if peephole else [None] * 3
    return w, peep


@pytest.mark.parametrize("option", OPTIONS)
def test_sequence_kernel_matches_reference_equations(option, rng):
    opts = OPTIONS[option]
    coupled = opts.get("coupled", False)
    w, peep = random_weights(rng, coupled, opts.get("peephole", False))
    x = rng.standard_normal((T, B, D))
    h, c = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    mask = np.arange(T)[:, None] < RAGGED[None, :]
    (out, h_T, c_T), _ = lstm_variant_forward(x, h, c, *w, *peep, mask=mask, coupled=coupled)
    for t in range(T):
        h_new, c_new = reference_step(x[t], h, c, w[0], w[1], w[2] + w[3], *peep, coupled=coupled)
        m = mask[t][:, None]
        h, c = np.where(m, h_new, h), np.where(m, c_new, c)
        np.testing.assert_allclose(out[t], np.where(m, h, 0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_T, h, rtol=1e-12)
    np.testing.assert_allclose(c_T, c, rtol=1e-12)


def test_without_options_the_variant_kernel_is_the_plain_lstm(rng):
    w, _ = random_weights(rng, False, False)
    x = rng.standard_normal((T, B, D))
    h0, c0 = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    mask = np.arange(T)[:, None] < RAGGED[None, :]
    (o1, h1, c1), cache = lstm_variant_forward(x, h0, c0, *w, mask=mask)
    (o2, h2, c2), _ = lstm_forward(x, h0, c0, *w, mask=mask)
    for a, b in ((o1, o2), (h1, h2), (c1, c2)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    dx, dh0, dc0, grads = lstm_variant_backward(np.ones_like(o1), None, None, cache)
    assert len(grads) == 4 and dx.shape == x.shape


@pytest.mark.parametrize("option", OPTIONS)
def test_step_kernel_is_the_sequence_kernel_at_T1(option, rng):
    opts = OPTIONS[option]
    coupled = opts.get("coupled", False)
    w, peep = random_weights(rng, coupled, opts.get("peephole", False))
    x = rng.standard_normal((1, B, D))
    h0, c0 = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    (h, c), step_cache = lstm_variant_step_forward(x[0], h0, c0, *w, *peep, coupled=coupled)
    (out, h_T, c_T), seq_cache = lstm_variant_forward(x, h0, c0, *w, *peep, coupled=coupled)
    np.testing.assert_allclose(h, h_T, rtol=1e-13)
    dh, dc = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    dx, (dh_prev, dc_prev), g_step = lstm_variant_step_backward(dh, dc, step_cache)
    dx_s, dh0, dc0, g_seq = lstm_variant_backward(np.zeros_like(out), dh, dc, seq_cache)
    np.testing.assert_allclose(dx, dx_s[0], rtol=1e-12)
    np.testing.assert_allclose(dc_prev, dc0, rtol=1e-12)
    for a, b in zip(g_step, g_seq):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def _grid_id(case):
    option, layers, bi, ragged = case
    return f"{option}-L{layers}-{'bi' if bi else 'uni'}-{'ragged' if ragged else 'equal'}"


@pytest.mark.parametrize("case", GRID, ids=_grid_id)
def test_layer_gradients(case, rng):
    option, layers, bi, ragged = case
    layer = LSTM(D, H, num_layers=layers, bidirectional=bi, dtype=np.float64, rng=rng,
                 **OPTIONS[option])
    shape = (layers * (2 if bi else 1), B, H)
    hx = (rng.standard_normal(shape), rng.standard_normal(shape))
    x = rng.standard_normal((T, B, D))
    report = check_gradients(layer, x, hx, lengths=RAGGED if ragged else None, max_entries=15)
    assert report.ok, f"\n{report}"
    assert len(report.rows) == len(list(layer.parameters())) + 3


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_gradients(option, bias, rng):
    cell = LSTMCell(D, H, bias=bias, dtype=np.float64, rng=rng, **OPTIONS[option])
    state = (rng.standard_normal((B, H)), rng.standard_normal((B, H)))
    report = check_gradients(cell, rng.standard_normal((B, D)), state)
    assert report.ok, f"\n{report}"


def test_names_and_shapes():
    peep = LSTM(D, H, num_layers=2, bidirectional=True, peephole=True)
    names = dict((n, p.shape) for n, p in peep.named_parameters())
    assert names["weight_ih_l0"] == (4 * H, D)
    for sfx in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
        for g in "ifo":
            assert names[f"weight_c{g}{sfx}"] == (H,)
    # the PyTorch-named weights come first, in PyTorch's order; peepholes after them
    assert list(names)[:16] == list(dict(LSTM(D, H, num_layers=2, bidirectional=True)
                                         .named_parameters()))
    cifg = dict((n, p.shape) for n, p in LSTM(D, H, coupled=True, peephole=True).named_parameters())
    assert cifg == {"weight_ih_l0": (3 * H, D), "weight_hh_l0": (3 * H, H), "bias_ih_l0": (3 * H,),
                    "bias_hh_l0": (3 * H,), "weight_ci_l0": (H,), "weight_co_l0": (H,)}
    cell = LSTMCell(D, H, peephole=True, coupled=True)
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih",
                                                       "bias_hh", "weight_ci", "weight_co"]
    assert "peephole=True, coupled=True" in repr(cell) and "coupled=True" in repr(
        LSTM(D, H, coupled=True))


def test_defaults_unchanged(rng):
    """Without options the layer is the PyTorch LSTM: same names, same initial draws."""
    a = LSTM(D, H, rng=np.random.default_rng(5))
    b = LSTM(D, H, peephole=False, coupled=False, rng=np.random.default_rng(5))
    assert a.gates == 4 and not a.peephole and not a.coupled
    for (n1, p1), (n2, p2) in zip(a.named_parameters(), b.named_parameters()):
        assert n1 == n2 and np.array_equal(p1.data, p2.data)


def test_cell_loop_equals_layer(rng):
    """A variant cell called T times and backpropagated in reverse gives the layer's grads."""
    layer = LSTM(D, H, dtype=np.float64, rng=rng, peephole=True, coupled=True)
    cell = LSTMCell(D, H, dtype=np.float64, rng=rng, peephole=True, coupled=True)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x, dout = rng.standard_normal((T, B, D)), rng.standard_normal((T, B, H))
    out, _ = layer(x)
    dx_layer, _ = layer.backward(dout)
    state, dx = None, np.empty_like(x)
    for t in range(T):
        state = cell(x[t], state)
        np.testing.assert_allclose(state[0], out[t], rtol=1e-12)
    dh, dc = np.zeros((B, H)), np.zeros((B, H))
    for t in reversed(range(T)):
        dx[t], (dh, dc) = cell.backward(dh + dout[t], dc)
    np.testing.assert_allclose(dx, dx_layer, rtol=1e-10)
    for name, p in cell.named_parameters():
        np.testing.assert_allclose(p.grad, getattr(layer, name + "_l0").grad, rtol=1e-10)


def test_forget_bias_and_other_inits():
    H2 = 5
    lstm = LSTM(D, H2, coupled=True, rng=np.random.default_rng(0))
    lstm.reset_parameters(forget_bias=1.0)
    # f = 1 - sigma(b_i) = sigma(1): the input gate's bias is -1
    assert np.all(lstm.bias_ih_l0.data[:H2] == -1) and np.all(lstm.bias_hh_l0.data[:H2] == 0)
    plain = LSTM(D, H2, rng=np.random.default_rng(0))
    plain.reset_parameters(forget_bias=1.0)
    assert np.all(plain.bias_ih_l0.data[H2:2 * H2] == 1)
    peep = LSTM(D, H2, peephole=True, rng=np.random.default_rng(0))
    assert np.abs(peep.weight_ci_l0.data).max() > 0
    peep.reset_parameters(init="orthogonal")
    assert np.all(peep.weight_ci_l0.data == 0)
    with pytest.raises(ValueError, match="bias=True"):
        LSTMCell(D, H2, bias=False, coupled=True).reset_parameters(forget_bias=1.0)


def test_wrong_weights_for_the_options_are_rejected(rng):
    w, peep = random_weights(rng, False, True)
    x = rng.standard_normal((T, B, D))
    h0 = np.zeros((B, H))
    with pytest.raises(ValueError, match="rows"):
        lstm_variant_forward(x, h0, h0, *w, coupled=True)
    with pytest.raises(ValueError, match="peepholes"):
        lstm_variant_forward(x, h0, h0, *w, peep[0], None, None)


def test_theory_page_blocks_and_citations_run(tmp_path, monkeypatch):
    from test_docs import citations, code_blocks, read, resolve_citation, run_block
    page = Path(__file__).resolve().parents[1] / "docs" / "theory" / "lstm_variants.md"
    text = read(page)
    assert len(citations(text)) >= 6
    for path, attr in citations(text):
        resolve_citation(path, attr)
    blocks = code_blocks(text)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for line, source in blocks:
        run_block(source, f"lstm_variants.md:{line}")
