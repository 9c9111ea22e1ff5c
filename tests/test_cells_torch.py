"""The three cells against torch.nn.RNNCell / LSTMCell / GRUCell in float64, over a
multi-step loop backpropagated through the cell's cache stack (explicit BPTT).

For every step: the forward values, dx_t; and dh_0 (dc_0), every parameter gradient. The
scalar differentiated is L = sum_t <h_t, gh_t> (+ <c_t, gc_t> for LSTM) with random gh, gc.
GRUCell(reset_after=False) has no torch class: it is compared with the textbook equations
written in torch ops (autograd), and checked numerically.
"""
import numpy as np
import pytest

from scratchrnn.gradcheck import check_gradients
from scratchrnn.nn import GRUCell, LSTMCell, Module, RNNCell

T, B, D, H = 6, 3, 4, 5
TOL = dict(rtol=1e-10, atol=1e-10)

CASES = {
    "rnn_tanh": (RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, {}),
    "gru": (GRUCell, {}),
    "rnn_tanh_nobias": (RNNCell, {"nonlinearity": "tanh", "bias": False}),
    "lstm_nobias": (LSTMCell, {"bias": False}),
    "gru_nobias": (GRUCell, {"bias": False}),
}


def _torch_cell(torch, cls, kwargs):
    return {RNNCell: torch.nn.RNNCell, LSTMCell: torch.nn.LSTMCell, GRUCell: torch.nn.GRUCell}[cls](
        D, H, dtype=torch.float64, **kwargs)


def _run_ours(cell, xs, h0, c0, gh, gc):
    """Forward loop, then reversed backward loop. Returns hs, cs, dxs, dh0, dc0."""
    lstm = isinstance(cell, LSTMCell)
    state = None if h0 is None else ((h0, c0) if lstm else h0)
    hs, cs = [], []
    for t in range(T):
        state = cell(xs[t], state)
        if lstm:
            hs.append(state[0])
            cs.append(state[1])
        else:
            hs.append(state)
    dxs = np.empty_like(xs)
    dh, dc = np.zeros((B, H)), np.zeros((B, H))
    for t in reversed(range(T)):
        if lstm:
            dxs[t], (dh, dc) = cell.backward(gh[t] + dh, gc[t] + dc)
        else:
            dxs[t], dh = cell.backward(gh[t] + dh)
    return np.stack(hs), (np.stack(cs) if lstm else None), dxs, dh, (dc if lstm else None)


def _run_torch(torch, ref, xs, h0, c0, gh, gc):
    lstm = isinstance(ref, torch.nn.LSTMCell)
    x_t = torch.tensor(xs, requires_grad=True)
    h0_t = torch.tensor(np.zeros((B, H)) if h0 is None else h0, requires_grad=True)
    c0_t = torch.tensor(np.zeros((B, H)) if c0 is None else c0, requires_grad=True)
    h, c = h0_t, c0_t
    hs, cs, loss = [], [], 0
    for t in range(T):
        if lstm:
            h, c = ref(x_t[t], (h, c))
            cs.append(c)
            loss = loss + (c * torch.from_numpy(gc[t])).sum()
        else:
            h = ref(x_t[t], h)
        hs.append(h)
        loss = loss + (h * torch.from_numpy(gh[t])).sum()
    names = [k for k, _ in ref.named_parameters()]
    inputs = [x_t, h0_t] + ([c0_t] if lstm else []) + [p for _, p in ref.named_parameters()]
    grads = torch.autograd.grad(loss, inputs)
    np_grads = [g.numpy() for g in grads]
    out = {"hs": torch.stack(hs).detach().numpy(), "dx": np_grads[0], "dh0": np_grads[1]}
    k = 2
    if lstm:
        out["cs"] = torch.stack(cs).detach().numpy()
        out["dc0"] = np_grads[2]
        k = 3
    out["params"] = dict(zip(names, np_grads[k:]))
    return out


@pytest.mark.parametrize("zero_state", [False, True], ids=["given-state", "state-None"])
@pytest.mark.parametrize("case", list(CASES))
def test_cell_bptt_matches_torch(case, zero_state, rng, torch):
    cls, kwargs = CASES[case]
    torch.manual_seed(0)
    ref = _torch_cell(torch, cls, kwargs)
    cell = cls(D, H, dtype=np.float64, rng=rng, **kwargs)
    cell.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    xs = rng.standard_normal((T, B, D))
    h0 = None if zero_state else rng.standard_normal((B, H))
    c0 = None if zero_state or cls is not LSTMCell else rng.standard_normal((B, H))
    gh, gc = rng.standard_normal((T, B, H)), rng.standard_normal((T, B, H))

    hs, cs, dxs, dh0, dc0 = _run_ours(cell, xs, h0, c0, gh, gc)
    want = _run_torch(torch, ref, xs, h0, c0, gh, gc)

    np.testing.assert_allclose(hs, want["hs"], **TOL)
    np.testing.assert_allclose(dxs, want["dx"], **TOL)
    np.testing.assert_allclose(dh0, want["dh0"], **TOL)
    if cls is LSTMCell:
        np.testing.assert_allclose(cs, want["cs"], **TOL)
        np.testing.assert_allclose(dc0, want["dc0"], **TOL)
    assert [k for k, _ in cell.named_parameters()] == list(want["params"])
    for name, p in cell.named_parameters():
        np.testing.assert_allclose(p.grad, want["params"][name], err_msg=name, **TOL)
    if case == "rnn_relu":
        assert (hs == 0).any() and (hs > 0).any()   # both branches of relu were exercised
    assert cell._caches == []                      # every forward's cache was used


def test_single_step_dc_only(rng, torch):
    """LSTMCell.backward(dh, dc=None) treats dc as zero; a gradient arriving only through c."""
    torch.manual_seed(3)
    ref = torch.nn.LSTMCell(D, H, dtype=torch.float64)
    cell = LSTMCell(D, H, dtype=np.float64)
    cell.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x, h, c = (rng.standard_normal(s) for s in ((B, D), (B, H), (B, H)))
    gh = rng.standard_normal((B, H))
    x_t, h_t, c_t = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    h1, c1 = ref(x_t, (h_t, c_t))
    dx_ref, dh_ref, dc_ref = torch.autograd.grad((h1 * torch.from_numpy(gh)).sum(), (x_t, h_t, c_t))
    cell(x, (h, c))
    dx, (dh, dc) = cell.backward(gh)
    np.testing.assert_allclose(dx, dx_ref.numpy(), **TOL)
    np.testing.assert_allclose(dh, dh_ref.numpy(), **TOL)
    np.testing.assert_allclose(dc, dc_ref.numpy(), **TOL)


# ---------------------------------------------------------------- GRU reset-before
def _gru_reset_before_torch(torch, w, x, h0):
    """Textbook GRU (Cho et al. 2014) in torch ops, gate order r, z, n."""
    W_ih, W_hh, b_ih, b_hh = w
    h, hs = h0, []
    for t in range(x.shape[0]):
        xr, xz, xn = (x[t] @ W_ih.T + b_ih).chunk(3, dim=1)
        Wr, Wz, Wn = W_hh.chunk(3, dim=0)
        br, bz, bn = b_hh.chunk(3)
        r = torch.sigmoid(xr + h @ Wr.T + br)
        z = torch.sigmoid(xz + h @ Wz.T + bz)
        n = torch.tanh(xn + (r * h) @ Wn.T + bn)
        h = (1 - z) * n + z * h
        hs.append(h)
    return torch.stack(hs)


def test_gru_reset_before_matches_textbook_equations_in_torch(rng, torch):
    cell = GRUCell(D, H, reset_after=False, dtype=np.float64, rng=rng)
    names = [k for k, _ in cell.named_parameters()]
    xs, h0, gh = rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), rng.standard_normal((T, B, H))
    hs, _, dxs, dh0, _ = _run_ours(cell, xs, h0, None, gh, None)

    w = [torch.tensor(cell.state_dict()[k], requires_grad=True) for k in names]
    x_t, h_t = torch.tensor(xs, requires_grad=True), torch.tensor(h0, requires_grad=True)
    hs_ref = _gru_reset_before_torch(torch, w, x_t, h_t)
    grads = torch.autograd.grad((hs_ref * torch.from_numpy(gh)).sum(), [x_t, h_t] + w)
    np.testing.assert_allclose(hs, hs_ref.detach().numpy(), **TOL)
    np.testing.assert_allclose(dxs, grads[0].numpy(), **TOL)
    np.testing.assert_allclose(dh0, grads[1].numpy(), **TOL)
    for name, g in zip(names, grads[2:]):
        np.testing.assert_allclose(getattr(cell, name).grad, g.numpy(),
                                   err_msg=name, **TOL)
    # and it really differs from the reset-after form with the same weights
    after = GRUCell(D, H, dtype=np.float64)
    after.load_state_dict(cell.state_dict())
    assert np.abs(after(xs[0], h0) - hs[0]).max() > 1e-3


class _Unrolled(Module):
    """A cell applied over T steps: the module check_gradients sees is the whole BPTT loop."""

    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x, h0):
        h, hs = h0, []
        for t in range(x.shape[0]):
            h = self.cell(x[t], h)
            hs.append(h)
        return np.stack(hs)

    def backward(self, dout):
        dx = np.empty(dout.shape[:2] + (self.cell.input_size,))
        dh = np.zeros_like(dout[0])
        for t in reversed(range(dout.shape[0])):
            dx[t], dh = self.cell.backward(dout[t] + dh)
        return dx, dh


@pytest.mark.parametrize("bias", [True, False])
def test_gru_reset_before_bptt_gradcheck(bias, rng):
    model = _Unrolled(GRUCell(D, H, bias=bias, reset_after=False, dtype=np.float64, rng=rng))
    report = check_gradients(model, rng.standard_normal((T, B, D)), rng.standard_normal((B, H)),
                             max_entries=80)
    assert report.ok, f"\n{report}"
    assert [r.name for r in report.rows] == [k for k, _ in model.named_parameters()] + \
        ["input[0]", "input[1]"]
