"""BudgetCosineLR: cosine decay to a floor by the end of a step or wall-time budget."""
import math

import numpy as np
import pytest

from scratchrnn.nn import Parameter
from scratchrnn.optim import Adam, BudgetCosineLR


def _opt(lr=1.0):
    return Adam([Parameter(np.zeros(3))], lr=lr)


def _expected(base, floor, p, warm):
    return (floor + (base - floor) * (1 + math.cos(math.pi * min(p, 1))) / 2) * warm


def test_time_budget_decays_to_the_floor_when_the_time_runs_out():
    opt = _opt(2.0)
    s = BudgetCosineLR(opt, total_steps=10_000, seconds=100.0, min_lr=0.1)
    for step, elapsed in enumerate([10.0, 25.0, 50.0, 75.0, 99.0, 100.0, 130.0], start=1):
        s.step(elapsed)
        assert opt.lr == pytest.approx(_expected(2.0, 0.1, elapsed / 100, 1.0), rel=1e-12)
    assert opt.lr == pytest.approx(0.1)


def test_the_step_budget_wins_when_it_ends_first():
    opt = _opt(1.0)
    s = BudgetCosineLR(opt, total_steps=4, seconds=1000.0, min_lr=0.0)
    lrs = []
    for _ in range(4):
        s.step(1.0)
        lrs.append(opt.lr)
    assert lrs == pytest.approx([_expected(1, 0, t / 4, 1) for t in (1, 2, 3, 4)])
    assert lrs[-1] == pytest.approx(0.0, abs=1e-15)


def test_warm_up_rises_linearly_from_zero_then_follows_the_curve():
    opt = _opt(1.0)
    s = BudgetCosineLR(opt, total_steps=100, seconds=None, warmup_steps=4)
    assert opt.lr == 0.0
    got = []
    for t in range(1, 7):
        s.step(0.5 * t)
        got.append(opt.lr)
    assert got == pytest.approx([_expected(1, 0, t / 100, min(1, t / 4)) for t in range(1, 7)])


def test_resume_continues_on_the_same_curve():
    a, b = _opt(), _opt()
    sa = BudgetCosineLR(a, total_steps=50, seconds=60.0, warmup_steps=3, min_lr=0.01)
    for t in range(1, 11):
        sa.step(2.0 * t)
    sb = BudgetCosineLR(b, total_steps=50, seconds=60.0, warmup_steps=3, min_lr=0.01)
    sb.load_state_dict(sa.state_dict())
    assert b.lr == a.lr
    for t in range(11, 20):
        sa.step(2.0 * t)
        sb.step(2.0 * t)
        assert b.lr == a.lr


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="seconds"):
        BudgetCosineLR(_opt(), total_steps=10, seconds=-1)
    with pytest.raises(ValueError, match="seconds"):
        BudgetCosineLR(_opt(), total_steps=10, seconds=math.inf)
    with pytest.raises(ValueError, match="total_steps"):
        BudgetCosineLR(_opt(), total_steps=0)
    with pytest.raises(TypeError, match="elapsed"):
        BudgetCosineLR(_opt(), total_steps=10).step()
