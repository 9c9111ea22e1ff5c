"""Same numbers as torch.nn.RNN/LSTM/GRU after loading torch's state_dict (float64).

Ragged lengths are compared against torch's packed sequences. Skipped without torch.
"""
import numpy as np
import pytest

from grid import GRID, grid_id, make_case

PARITY_GRID = [c for c in GRID if c[0] != "gru_reset_before"]    # torch has no reset-before GRU
TOL = 1e-10


def _torch_layer(torch, layer):
    kind = type(layer).__name__
    kwargs = dict(num_layers=layer.num_layers, bidirectional=layer.bidirectional,
                  batch_first=layer.batch_first)
    if kind == "RNN":
        kwargs["nonlinearity"] = layer.nonlinearity
    t = getattr(torch.nn, kind)(layer.input_size, layer.hidden_size, **kwargs)
    layer.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return t


def _run_torch(torch, t, x, hx, lengths, batch_first):
    xt = torch.tensor(x, requires_grad=True)
    hxt = tuple(torch.tensor(h, requires_grad=True) for h in (hx if isinstance(hx, tuple) else (hx,)))
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                      batch_first=batch_first, enforce_sorted=False)
    out, hn = t(inp, hxt if len(hxt) == 2 else hxt[0])
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first,
                                                        total_length=x.shape[1 if batch_first else 0])
    return xt, hxt, out, (hn if isinstance(hn, tuple) else (hn,))


def _close(name, ours, theirs):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} vs torch {theirs.shape}"
    err = np.max(np.abs(ours - theirs), initial=0.0)
    assert err < TOL, f"{name}: max abs difference from torch {err:.2e}"


@pytest.mark.parametrize("case", PARITY_GRID, ids=grid_id)
def test_layer_matches_torch(case, rng, torch):
    layer, x, hx, lengths = make_case(case, rng)
    t = _torch_layer(torch, layer)
    out, hn = layer(x, hx, lengths=lengths)
    hn = hn if isinstance(hn, tuple) else (hn,)
    xt, hxt, tout, thn = _run_torch(torch, t, x, hx, lengths, layer.batch_first)
    _close("out", out, tout)
    for i, (a, b) in enumerate(zip(hn, thn)):
        _close(f"final state {i}", a, b)
    if lengths is not None:    # padding outputs are exactly zero, as pad_packed_sequence gives
        out_tm = out.transpose(1, 0, 2) if layer.batch_first else out
        padding = np.arange(out_tm.shape[0])[:, None] >= lengths[None, :]
        assert padding.any() and np.all(out_tm[padding] == 0)

    dout = rng.standard_normal(out.shape)
    dhn = tuple(rng.standard_normal(h.shape) for h in hn)
    loss = (tout * torch.tensor(dout)).sum() + sum((a * torch.tensor(d)).sum() for a, d in zip(thn, dhn))
    loss.backward()
    dx, dh0 = layer.backward(dout, dhn if len(dhn) == 2 else dhn[0])
    dh0 = dh0 if isinstance(dh0, tuple) else (dh0,)
    _close("dx", dx, xt.grad)
    for i, (a, b) in enumerate(zip(dh0, hxt)):
        _close(f"d initial state {i}", a, b.grad)
    named = dict(t.named_parameters())
    assert [n for n, _ in layer.named_parameters()] == list(named)
    for name, p in layer.named_parameters():
        _close(f"grad {name}", p.grad, named[name].grad)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_float32_default_close_to_torch(kind, rng, torch):
    """The default dtype is float32 and agrees with torch's float32 to float32 precision."""
    layer, x, hx, lengths = make_case((kind, 2, True, False, False), rng, dtype=np.float32)
    assert layer.weight_ih_l0.dtype == np.float32
    t = _torch_layer(torch, layer).float()
    out, _ = layer(x.astype(np.float32))
    tout, _ = t(torch.tensor(x, dtype=torch.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, tout.detach().numpy(), atol=2e-6)


def test_hx_none_still_returns_initial_state_gradient(rng, torch):
    layer, x, hx, lengths = make_case(("lstm", 2, True, True, False), rng)
    t = _torch_layer(torch, layer)
    zeros = tuple(np.zeros_like(h) for h in hx)
    out, _ = layer(x, None, lengths=lengths)
    xt, hxt, tout, thn = _run_torch(torch, t, x, zeros, lengths, False)
    dout = rng.standard_normal(out.shape)
    (tout * torch.tensor(dout)).sum().backward()
    _, (dh0, dc0) = layer.backward(dout)
    _close("dh0", dh0, hxt[0].grad)
    _close("dc0", dc0, hxt[1].grad)
    assert np.abs(dh0).max() > 0
