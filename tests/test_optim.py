"""Tests for scratchrnn.optim: optimisers, clipping and schedules.

Reference values come from torch (those tests are skipped without it) or from
properties stated independently of the implementation (bitwise reproducibility,
untouched gradients, the norm after clipping, ...).
"""
import json
import math

import numpy as np
import pytest

from scratchrnn.nn import Parameter
from scratchrnn.optim import (SGD, Adagrad, Adam, AdamW, CosineLR, RMSprop, StepLR,
                              clip_grad_norm_, clip_grad_value_)

OPTIMIZERS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "Adagrad": Adagrad, "RMSprop": RMSprop}
SHAPES = [(3, 4), (5,), (2, 3, 2)]

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.7, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.2)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, betas=(0.0, 0.5), eps=0.1)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, betas=(0.85, 0.95), weight_decay=0.3)),
    ("AdamW", dict(lr=0.01, weight_decay=0.0)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, eps=1e-6, weight_decay=0.05)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-3, weight_decay=0.05, momentum=0.5)),
]
CONFIG_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
              for name, kw in CONFIGS]


def make_arrays(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def make_params(seed, dtype=np.float64):
    return [Parameter(a) for a in make_arrays(seed, dtype)]


def grad_sequence(seed, steps, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]


def feed(params, grads):
    for p, g in zip(params, grads):
        p.grad[...] = g


def with_lr(name, kw, lr):
    """Same config with another lr (SGD has no default lr, the others do)."""
    return dict(kw, lr=lr)


# ------------------------------------------------------------------ torch parity
def run_against_torch(name, kw, dtype, steps=10):
    torch = pytest.importorskip("torch")
    arrays = make_arrays(0, dtype)
    ours = [Parameter(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = OPTIMIZERS[name](ours, **kw)
    topt = getattr(torch.optim, name)(theirs, **kw, foreach=False)
    for grads in grad_sequence(1, steps, dtype):
        feed(ours, grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.tensor(g)
        opt.step()
        topt.step()
    return arrays, ours, theirs, opt, topt


@pytest.mark.parametrize("name,kw", CONFIGS, ids=CONFIG_IDS)
def test_matches_torch_float64(name, kw):
    arrays, ours, theirs, opt, topt = run_against_torch(name, kw, np.float64)
    for a, p, t in zip(arrays, ours, theirs):
        ref = t.detach().numpy()
        # The comparison only means something if the parameters really moved.
        assert np.max(np.abs(ref - a)) > 1e-3
        np.testing.assert_allclose(p.data, ref, rtol=1e-12, atol=0)
    # The buffers carry torch's names, so they can be compared one by one.
    for buf_name, bufs in opt.state.items():
        for b, t in zip(bufs, theirs):
            ref = topt.state[t][buf_name].numpy()
            np.testing.assert_allclose(b, ref, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name,kw", [CONFIGS[i] for i in (5, 8, 11, 14, 17)],
                         ids=[CONFIG_IDS[i] for i in (5, 8, 11, 14, 17)])
def test_matches_torch_float32_and_stays_float32(name, kw):
    arrays, ours, theirs, opt, _ = run_against_torch(name, kw, np.float32)
    for p, t in zip(ours, theirs):
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=2e-5, atol=1e-6)
    for bufs in opt.state.values():
        assert all(b.dtype == np.float32 for b in bufs)
    assert all(s.dtype == np.float32 for s in opt._scratch.values())


@pytest.mark.parametrize("name,kw,match", [
    ("SGD", dict(lr=-0.1), "learning rate"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "momentum"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov"),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, dampening=0.1), "Nesterov"),
    ("SGD", dict(lr=0.1, weight_decay=-1.0), "weight_decay"),
    ("Adam", dict(betas=(1.0, 0.999)), "beta parameter at index 0"),
    ("Adam", dict(betas=(0.9, -0.1)), "beta parameter at index 1"),
    ("Adam", dict(eps=-1e-8), "epsilon"),
    ("AdamW", dict(lr=-1e-3), "learning rate"),
    ("AdamW", dict(betas=(0.9, 1.5)), "beta parameter at index 1"),
    ("Adagrad", dict(eps=-1.0), "epsilon"),
    ("Adagrad", dict(weight_decay=-0.1), "weight_decay"),
    ("RMSprop", dict(alpha=-0.1), "alpha"),
    ("RMSprop", dict(momentum=-0.1), "momentum"),
    ("RMSprop", dict(lr=-1.0), "learning rate"),
])
def test_bad_arguments_raise(name, kw, match):
    with pytest.raises(ValueError, match=match):
        OPTIMIZERS[name](make_params(0), **kw)
    # torch rejects the same arguments (skipped without torch).
    try:
        import torch
    except ImportError:
        return
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.zeros(3, requires_grad=True)], **kw)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, Adagrad, RMSprop])
def test_empty_and_duplicate_params_raise(cls):
    with pytest.raises(ValueError, match="empty parameter list"):
        cls([], lr=0.1)
    p = make_params(0)
    with pytest.raises(ValueError, match="more than once"):
        cls([p[0], p[1], p[0]], lr=0.1)


def test_rmsprop_alpha_above_one_rejected():
    with pytest.raises(ValueError, match="alpha"):
        RMSprop(make_params(0), alpha=1.5)


# ------------------------------------------------------------------ behaviour without torch
def test_accepts_a_generator_and_keeps_a_list():
    params = make_params(0)
    opt = Adam(p for p in params)
    assert isinstance(opt.params, list) and len(opt.params) == 3
    assert all(a is b for a, b in zip(opt.params, params))


def test_plain_sgd_follows_lr_attribute():
    params = make_params(0)
    start = [p.data.copy() for p in params]
    grads = grad_sequence(1, 2)
    opt = SGD(params, lr=0.1)
    opt.lr = 0.0
    feed(params, grads[0])
    opt.step()
    for p, a in zip(params, start):
        np.testing.assert_array_equal(p.data, a)
    opt.lr = 0.25
    feed(params, grads[1])
    opt.step()
    for p, a, g in zip(params, start, grads[1]):
        np.testing.assert_allclose(p.data, a - 0.25 * g, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("name,kw", CONFIGS, ids=CONFIG_IDS)
def test_step_is_in_place_and_leaves_grad_alone(name, kw):
    params = make_params(0)
    data_arrays = [p.data for p in params]
    grad_arrays = [p.grad for p in params]
    opt = OPTIMIZERS[name](params, **kw)
    for grads in grad_sequence(1, 3):
        feed(params, grads)
        opt.step()
        for p, g in zip(params, grads):
            np.testing.assert_array_equal(p.grad, g)  # weight decay must not leak into .grad
    assert all(p.data is a for p, a in zip(params, data_arrays))
    assert all(p.grad is g for p, g in zip(params, grad_arrays))
    assert opt.step_count == 3


def test_zero_grad_zeroes_in_place():
    params = make_params(0)
    feed(params, grad_sequence(1, 1)[0])
    grads = [p.grad for p in params]
    opt = Adam(params)
    opt.zero_grad()
    assert all(p.grad is g for p, g in zip(params, grads))
    assert all(not p.grad.any() for p in params)


def through_json_and_npz(sd, tmp_path):
    """Save a state dict the way a checkpoint would (scalars -> JSON, arrays -> .npz)."""
    scalars = {}
    arrays = {}
    for k, v in sd.items():
        if isinstance(v, list):
            assert all(isinstance(a, np.ndarray) for a in v), k
            arrays.update({f"{k}.{i}": a for i, a in enumerate(v)})
            scalars[k] = len(v)  # only to rebuild the list
        else:
            assert isinstance(v, (bool, int, float, str)), (k, type(v))
            scalars[k] = v
    text = json.dumps(scalars)
    np.savez(tmp_path / "optim.npz", **arrays)
    loaded = json.loads(text)
    with np.load(tmp_path / "optim.npz") as z:
        for k, v in sd.items():
            if isinstance(v, list):
                loaded[k] = [z[f"{k}.{i}"] for i in range(loaded[k])]
    return loaded


@pytest.mark.parametrize("name,kw", CONFIGS, ids=CONFIG_IDS)
def test_state_dict_round_trip_is_bitwise(name, kw, tmp_path):
    cls = OPTIMIZERS[name]
    grads = grad_sequence(1, 10)
    params_a = make_params(0)
    opt_a = cls(params_a, **kw)
    for g in grads[:3]:
        feed(params_a, g)
        opt_a.step()
    sd = through_json_and_npz(opt_a.state_dict(), tmp_path)

    params_b = [Parameter(p.data) for p in params_a]
    opt_b = cls(params_b, **with_lr(name, kw, 0.123))  # lr must come from the state dict
    opt_b.load_state_dict(sd)
    assert opt_b.lr == opt_a.lr and opt_b.step_count == 3
    for bufs in sd.values():  # the loaded optimiser must not share the dict's arrays
        if isinstance(bufs, list):
            for b in bufs:
                b[...] = np.nan
    for g in grads[3:]:
        feed(params_a, g)
        feed(params_b, g)
        opt_a.step()
        opt_b.step()
    for pa, pb in zip(params_a, params_b):
        assert np.all(np.isfinite(pb.data))
        np.testing.assert_array_equal(pa.data, pb.data)


def test_state_dict_scalars_stay_plain_python():
    params = make_params(0, np.float32)
    opt = Adam(params, lr=np.float32(0.01), betas=(np.float64(0.9), 0.99))
    opt.lr = np.float64(0.02)  # e.g. set by hand from a NumPy computation
    sd = opt.state_dict()
    json.dumps({k: v for k, v in sd.items() if not isinstance(v, list)})
    assert type(sd["lr"]) is float and type(sd["beta1"]) is float
    feed(params, grad_sequence(1, 1, np.float32)[0])
    opt.step()
    assert all(p.data.dtype == np.float32 for p in params)


def test_state_dict_is_a_copy():
    params = make_params(0)
    opt = RMSprop(params, momentum=0.9)
    feed(params, grad_sequence(1, 1)[0])
    opt.step()
    sd = opt.state_dict()
    sd["square_avg"][0][...] = -1.0
    assert np.all(opt.state["square_avg"][0] >= 0)
    assert set(sd) == {"type", "step", "lr", "alpha", "eps", "weight_decay", "momentum",
                       "square_avg", "momentum_buffer"}
    assert sd["type"] == "RMSprop" and sd["step"] == 1


def test_load_state_dict_rejects_mismatches():
    params = make_params(0)
    opt = Adam(params, weight_decay=0.1)
    feed(params, grad_sequence(1, 1)[0])
    opt.step()
    good = opt.state_dict()

    fewer = Adam(params[:2])
    with pytest.raises(ValueError, match=r"exp_avg: expected 2 arrays .* got 3"):
        fewer.load_state_dict(good)

    reshaped = Adam([params[0], Parameter(np.zeros(6)), params[2]])
    with pytest.raises(ValueError, match=r"exp_avg\[1\]: expected shape \(6,\), got \(5,\)"):
        reshaped.load_state_dict(good)

    with pytest.raises(ValueError, match="type: expected 'AdamW', got 'Adam'"):
        AdamW(params).load_state_dict(good)

    missing = dict(good)
    del missing["exp_avg_sq"]
    with pytest.raises(ValueError, match="exp_avg_sq: missing"):
        Adam(params).load_state_dict(missing)

    bad_lr = dict(good, lr=-1.0)
    with pytest.raises(ValueError, match="learning rate"):
        Adam(params).load_state_dict(bad_lr)

    extra = dict(good, momentum_buffer=[np.zeros(s) for s in SHAPES])
    with pytest.raises(ValueError, match="unexpected keys: momentum_buffer"):
        Adam(params).load_state_dict(extra)


def test_failed_load_changes_nothing():
    params = make_params(0)
    opt = SGD(params, lr=0.1, momentum=0.9)
    feed(params, grad_sequence(1, 1)[0])
    opt.step()
    before = opt.state_dict()
    broken = opt.state_dict()
    broken["lr"] = 0.5
    broken["momentum_buffer"][2] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"momentum_buffer\[2\]"):
        opt.load_state_dict(broken)
    assert opt.lr == before["lr"] and opt.step_count == before["step"]
    np.testing.assert_array_equal(opt.state["momentum_buffer"][0], before["momentum_buffer"][0])


def test_load_state_dict_with_other_momentum_rebuilds_buffers():
    params = make_params(0)
    src = SGD(params, lr=0.1, momentum=0.9)
    feed(params, grad_sequence(1, 1)[0])
    src.step()
    dst = SGD(make_params(0), lr=0.1)  # no momentum buffers yet
    dst.load_state_dict(src.state_dict())
    assert dst.momentum == 0.9
    for a, b in zip(dst.state["momentum_buffer"], src.state["momentum_buffer"]):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ clipping
def grads_of(params):
    return [p.grad.copy() for p in params]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("ratio", [0.1, 0.99, 1.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, ratio):
    """max_norm = ratio * the true norm: clipping needed below 1, not above."""
    torch = pytest.importorskip("torch")
    params = make_params(0)
    feed(params, grad_sequence(1, 1)[0])
    flat = np.concatenate([p.grad.ravel() for p in params])
    max_norm = ratio * np.linalg.norm(flat, ord=norm_type)
    tensors = [torch.zeros(p.data.shape, dtype=torch.float64, requires_grad=True) for p in params]
    for t, p in zip(tensors, params):
        t.grad = torch.tensor(p.grad)
    before = grads_of(params)

    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    ref = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type=norm_type).item()

    assert isinstance(total, float)
    assert total == pytest.approx(ref, rel=1e-12)
    for p, t in zip(params, tensors):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=0)
    if max_norm > total:  # no clipping needed: the gradients are bit-for-bit untouched
        for p, b in zip(params, before):
            np.testing.assert_array_equal(p.grad, b)
    else:
        assert not np.allclose(params[0].grad, before[0])


def test_clip_grad_norm_float32_matches_torch():
    torch = pytest.importorskip("torch")
    params = make_params(0, np.float32)
    feed(params, grad_sequence(1, 1, np.float32)[0])
    tensors = [torch.zeros(p.data.shape, dtype=torch.float32, requires_grad=True)
               for p in params]
    for t, p in zip(tensors, params):
        t.grad = torch.tensor(p.grad)
    total = clip_grad_norm_(params, 1.0)
    ref = torch.nn.utils.clip_grad_norm_(tensors, 1.0).item()
    assert total == pytest.approx(ref, rel=1e-6)
    for p, t in zip(params, tensors):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("clip", [0.3, 1.0, 10.0])
def test_clip_grad_value_matches_torch(clip):
    torch = pytest.importorskip("torch")
    params = make_params(0)
    feed(params, grad_sequence(1, 1)[0])
    tensors = [torch.zeros(p.data.shape, dtype=torch.float64, requires_grad=True) for p in params]
    for t, p in zip(tensors, params):
        t.grad = torch.tensor(p.grad)
    clip_grad_value_(params, clip)
    torch.nn.utils.clip_grad_value_(tensors, clip)
    for p, t in zip(params, tensors):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_result_norm_is_max_norm(norm_type):
    params = make_params(0)
    feed(params, grad_sequence(1, 1)[0])
    flat = np.concatenate([p.grad.ravel() for p in params])
    expected_total = np.linalg.norm(flat, ord=norm_type)
    total = clip_grad_norm_(params, 0.5, norm_type=norm_type)
    assert total == pytest.approx(expected_total, rel=1e-12)
    after = np.linalg.norm(np.concatenate([p.grad.ravel() for p in params]), ord=norm_type)
    assert after == pytest.approx(0.5, rel=1e-5)
    assert after <= 0.5


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_clip_grad_norm_nonfinite_returned_and_grads_untouched(bad):
    params = make_params(0)
    feed(params, grad_sequence(1, 1)[0])
    params[1].grad[2] = bad
    before = grads_of(params)
    total = clip_grad_norm_(params, 1.0)
    assert (math.isinf(total) if bad == np.inf else math.isnan(total))
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad, b)


def test_clip_single_parameter_and_empty_list_and_bad_args():
    p = Parameter(np.zeros(4))
    p.grad[...] = [3.0, 4.0, 0.0, 0.0]
    assert clip_grad_norm_(p, 1.0) == pytest.approx(5.0, rel=1e-15)
    assert np.linalg.norm(p.grad) == pytest.approx(1.0, rel=1e-6)
    assert clip_grad_norm_([], 1.0) == 0.0
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_([p], -1.0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_([p], 1.0, norm_type=0)
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_([p], -0.1)


# ------------------------------------------------------------------ schedules
def torch_lrs(make_sched, base_lr, steps):
    """Learning rates of a torch scheduler at t = 0..steps."""
    torch = pytest.importorskip("torch")
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    sched = make_sched(topt)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(steps):
        topt.step()  # no gradients: a no-op that keeps torch's call-order check quiet
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return np.array(lrs)


def our_lrs(make_sched, base_lr, steps):
    opt = SGD(make_params(0), lr=base_lr)
    sched = make_sched(opt)
    lrs = [opt.lr]
    for _ in range(steps):
        sched.step()
        assert sched.get_lr() == opt.lr
        lrs.append(opt.lr)
    return np.array(lrs)


@pytest.mark.parametrize("step_size,gamma", [(3, 0.5), (1, 0.9), (5, 0.1)])
def test_step_lr_matches_torch(step_size, gamma):
    tls = pytest.importorskip("torch").optim.lr_scheduler
    ours = our_lrs(lambda o: StepLR(o, step_size, gamma), 0.2, 25)
    ref = torch_lrs(lambda o: tls.StepLR(o, step_size, gamma), 0.2, 25)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("total,min_lr", [(25, 0.0), (10, 0.01), (1, 0.05)])
def test_cosine_lr_matches_torch(total, min_lr):
    torch = pytest.importorskip("torch")
    ours = our_lrs(lambda o: CosineLR(o, total, min_lr=min_lr), 0.3, total)
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total,
                                                                         eta_min=min_lr),
                    0.3, total)
    # torch updates recursively, so allow round-off relative to the base lr.
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-14)
    assert ours[-1] == min_lr


def test_warmup_then_torch_schedule():
    torch = pytest.importorskip("torch")
    tls = torch.optim.lr_scheduler
    base, w = 0.4, 5
    cases = [
        (lambda o: StepLR(o, 3, 0.5, warmup_steps=w), lambda o: tls.StepLR(o, 3, 0.5), 20),
        (lambda o: CosineLR(o, 30, warmup_steps=w, min_lr=0.01),
         lambda o: tls.CosineAnnealingLR(o, T_max=25, eta_min=0.01), 30),
    ]
    for ours_f, ref_f, steps in cases:
        ours = our_lrs(ours_f, base, steps)
        # Linear rise from exactly 0 to the base lr in w equal increments ...
        assert ours[0] == 0.0
        np.testing.assert_allclose(np.diff(ours[:w + 1]), base / w, rtol=1e-12)
        # ... then torch's schedule started w steps late.
        ref = torch_lrs(ref_f, base, steps - w)
        np.testing.assert_allclose(ours[w:], ref, rtol=1e-10, atol=1e-14)


def test_cosine_stays_at_min_lr_after_total_steps():
    lrs = our_lrs(lambda o: CosineLR(o, 8, warmup_steps=2, min_lr=0.02), 1.0, 15)
    assert lrs[7] > 0.02
    assert np.all(lrs[8:] == 0.02)


def test_schedule_drives_optimizer_like_torch():
    torch = pytest.importorskip("torch")
    arrays = make_arrays(0)
    ours = [Parameter(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = SGD(ours, lr=0.3, momentum=0.9)
    topt = torch.optim.SGD(theirs, lr=0.3, momentum=0.9, foreach=False)
    sched = StepLR(opt, 4, 0.3)
    tsched = torch.optim.lr_scheduler.StepLR(topt, 4, 0.3)
    for grads in grad_sequence(1, 12):
        feed(ours, grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.tensor(g)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("make", [
    lambda o: StepLR(o, 3, 0.5, warmup_steps=4),
    lambda o: CosineLR(o, 20, warmup_steps=3, min_lr=0.001),
])
def test_schedule_state_dict_round_trip(make):
    opt_a = SGD(make_params(0), lr=0.1)
    sched_a = make(opt_a)
    for _ in range(7):
        sched_a.step()
    sd = json.loads(json.dumps(sched_a.state_dict()))
    opt_b = SGD(make_params(0), lr=5.0)
    sched_b = make(opt_b)
    sched_b.load_state_dict(sd)
    assert opt_b.lr == opt_a.lr and sched_b.base_lr == 0.1
    for _ in range(15):
        sched_a.step()
        sched_b.step()
        assert opt_a.lr == opt_b.lr


def test_schedule_load_rejects_mismatches():
    opt = SGD(make_params(0), lr=0.1)
    step_sd = StepLR(opt, 3).state_dict()
    with pytest.raises(ValueError, match="type: expected 'CosineLR', got 'StepLR'"):
        CosineLR(opt, 10).load_state_dict(step_sd)
    with pytest.raises(ValueError, match="missing keys: gamma"):
        StepLR(opt, 3).load_state_dict({k: v for k, v in step_sd.items() if k != "gamma"})
    with pytest.raises(ValueError, match="step_size"):
        StepLR(opt, 3).load_state_dict(dict(step_sd, step_size=0))


@pytest.mark.parametrize("make,match", [
    (lambda o: StepLR(o, 0), "step_size"),
    (lambda o: StepLR(o, 2.5), "step_size"),
    (lambda o: StepLR(o, 2, gamma=0.0), "gamma"),
    (lambda o: StepLR(o, 2, warmup_steps=-1), "warmup_steps"),
    (lambda o: CosineLR(o, 5, warmup_steps=5), "total_steps"),
    (lambda o: CosineLR(o, 0), "total_steps"),
    (lambda o: CosineLR(o, 10, min_lr=-0.1), "min_lr"),
])
def test_schedule_bad_arguments_raise(make, match):
    opt = SGD(make_params(0), lr=0.1)
    with pytest.raises(ValueError, match=match):
        make(opt)
    assert opt.lr == 0.1  # a rejected schedule leaves the optimiser alone
