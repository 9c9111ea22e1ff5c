"""Every parameter, input and initial state of every layer kind is checked numerically."""
import numpy as np
import pytest

from scratchrnn.gradcheck import check_gradients
from scratchrnn.nn import GRUCell, LSTMCell, RNNCell

from grid import GRID, grid_id, make_case


@pytest.mark.parametrize("case", GRID, ids=grid_id)
def test_layer_gradients(case, rng):
    layer, x, hx, lengths = make_case(case, rng)
    report = check_gradients(layer, x, hx, lengths=lengths, max_entries=60)
    assert report.ok, f"\n{report}"
    # every parameter, x and each initial state were checked
    assert len(report.rows) == len(list(layer.parameters())) + 1 + (2 if isinstance(hx, tuple) else 1)


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_dropout_between_layers_gradients(kind, rng):
    """Dropout masks are part of the function being differentiated: the check rewinds the
    layer's generator so each evaluation draws the same mask."""
    layer, x, hx, lengths = make_case((kind, 2, True, True, False), rng, dropout=0.4)
    report = check_gradients(layer, x, hx, lengths=lengths, max_entries=60)
    assert report.ok, f"\n{report}"


@pytest.mark.parametrize("cell_cls,kwargs", [
    (RNNCell, {"nonlinearity": "tanh"}), (RNNCell, {"nonlinearity": "relu"}), (LSTMCell, {}),
    (GRUCell, {"reset_after": True}), (GRUCell, {"reset_after": False}),
    (LSTMCell, {"bias": False}), (GRUCell, {"bias": False})])
def test_cell_gradients(cell_cls, kwargs, rng):
    cell = cell_cls(4, 3, dtype=np.float64, rng=rng, **kwargs)
    x, h = rng.standard_normal((3, 4)), rng.standard_normal((3, 3))
    state = (h, rng.standard_normal((3, 3))) if cell_cls is LSTMCell else h
    report = check_gradients(cell, x, state)
    assert report.ok, f"\n{report}"


def test_bptt_with_a_cell_loop(rng):
    """A cell called T times and backpropagated in reverse gives the sequence layer's grads."""
    from scratchrnn.nn import LSTM
    D, H, T, B = 3, 4, 6, 2
    layer = LSTM(D, H, dtype=np.float64, rng=rng)
    cell = LSTMCell(D, H, dtype=np.float64, rng=rng)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = rng.standard_normal((T, B, D))
    dout = rng.standard_normal((T, B, H))
    out, _ = layer(x)
    dx_layer, (dh0_layer, _) = layer.backward(dout)
    state, hs = None, []
    for t in range(T):
        state = cell(x[t], state)
        hs.append(state[0])
    dh, dc = np.zeros((B, H)), np.zeros((B, H))
    dx = np.empty_like(x)
    for t in reversed(range(T)):
        dx[t], (dh, dc) = cell.backward(dh + dout[t], dc)
    np.testing.assert_allclose(np.stack(hs), out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, dx_layer, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dh, dh0_layer[0], rtol=1e-10, atol=1e-13)
    for name, p in cell.named_parameters():
        np.testing.assert_allclose(p.grad, getattr(layer, name + "_l0").grad, rtol=1e-10, atol=1e-13)


def test_check_gradients_catches_a_wrong_backward(rng, monkeypatch):
    """The checker must fail when a backward is wrong: drop the forget-gate term."""
    import scratchrnn.kernels.lstm as lstm_kernels
    real = lstm_kernels.lstm_pointwise_backward

    def wrong(dh, dc, gates, c_prev, tanh_c, da):
        return real(dh, dc, gates, c_prev, tanh_c, da) * 0.5   # dc_{t-1} halved
    monkeypatch.setattr(lstm_kernels, "lstm_pointwise_backward", wrong)
    layer, x, hx, lengths = make_case(("lstm", 1, False, False, False), rng)
    report = check_gradients(layer, x, hx)
    assert not report.ok
    assert "FAIL" in str(report)
