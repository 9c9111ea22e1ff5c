"""Learning-rate schedules: step decay, cosine decay over steps, and cosine decay over a time
budget, all with optional linear warm-up.

A schedule owns a step counter t (0 at construction) and writes
``optimizer.lr = get_lr()`` at construction and after every ``step()``. Call
``schedule.step()`` once after each ``optimizer.step()``, as with torch.

Warm-up (``warmup_steps`` = W > 0) rises linearly from 0 to the base learning rate γ_0
(the optimiser's ``lr`` when the schedule was built)::

    γ_t = γ_0 · t / W      (t < W)

so the very first step runs with ``lr = 0`` (the common "warm-up from zero"
convention); the decay then starts at t = W from γ_0, as if the schedule without
warm-up had been started W steps late.

Learning rates are computed in closed form from t, so a value assigned to
``optimizer.lr`` by hand is overwritten at the next ``step()``.
"""
from __future__ import annotations

import math


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


class _Schedule:
    """Base: warm-up, step counter, state dict. Subclasses give ``_decayed(s)``,
    the learning rate ``s`` steps after the warm-up."""

    _hyper: tuple = ()

    def __init__(self, optimizer, warmup_steps: int):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"{type(self).__name__} needs an optimizer with an .lr attribute, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.warmup_steps = _check_int("warmup_steps", warmup_steps, 0)
        self.last_step = 0
        self.optimizer.lr = self.get_lr()

    def _decayed(self, s: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> float:
        """The learning rate for the current step counter."""
        t = self.last_step
        if t < self.warmup_steps:
            return self.base_lr * t / self.warmup_steps
        return self._decayed(t - self.warmup_steps)

    def step(self, elapsed=None):
        """Advance by one step and set the optimiser's learning rate. ``elapsed``: seconds of
        wall time since the run began; only a schedule over a time budget uses it."""
        self.last_step += 1
        self.optimizer.lr = self.get_lr()

    def state_dict(self) -> dict:
        """Plain Python scalars only (JSON friendly)."""
        d = {"type": type(self).__name__, "last_step": self.last_step,
             "base_lr": self.base_lr, "warmup_steps": self.warmup_steps}
        d.update({k: getattr(self, k) for k in self._hyper})
        return d

    def load_state_dict(self, d: dict):
        """Restore a ``state_dict()`` and set the optimiser's learning rate to match."""
        keys = ("last_step", "base_lr", "warmup_steps", *self._hyper)
        problems = []
        if d.get("type") != type(self).__name__:
            problems.append(f"type: expected {type(self).__name__!r}, got {d.get('type')!r}")
        missing = [k for k in keys if k not in d]
        if missing:
            problems.append("missing keys: " + ", ".join(missing))
        unexpected = [k for k in d if k not in ("type", *keys)]
        if unexpected:
            problems.append("unexpected keys: " + ", ".join(map(str, unexpected)))
        if not problems:
            try:
                _check_int("last_step", d["last_step"], 0)
                self._validate({k: d[k] for k in ("warmup_steps", *self._hyper)})
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise ValueError(f"cannot load state_dict into {type(self).__name__}:\n  "
                             + "\n  ".join(problems))
        for k in keys:
            setattr(self, k, d[k])
        self.base_lr = float(self.base_lr)
        self.optimizer.lr = self.get_lr()

    def _validate(self, h: dict):
        _check_int("warmup_steps", h["warmup_steps"], 0)

    def __repr__(self):
        return f"{type(self).__name__}({self.state_dict()})"


class StepLR(_Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps::

        γ_t = γ_0 · gamma ^ floor((t - W) / step_size)      (t ≥ W)

    With ``warmup_steps=0`` this is ``torch.optim.lr_scheduler.StepLR``.
    """

    _hyper = ("step_size", "gamma")

    def __init__(self, optimizer, step_size, gamma=0.1, warmup_steps=0):
        self._validate({"warmup_steps": warmup_steps, "step_size": step_size, "gamma": gamma})
        self.step_size = step_size
        self.gamma = float(gamma)
        super().__init__(optimizer, warmup_steps)

    def _validate(self, h):
        super()._validate(h)
        _check_int("step_size", h["step_size"], 1)
        if not h["gamma"] > 0:
            raise ValueError(f"gamma must be > 0, got {h['gamma']!r}")

    def _decayed(self, s):
        return self.base_lr * self.gamma ** (s // self.step_size)


class CosineLR(_Schedule):
    """Cosine decay from the base learning rate to ``min_lr`` at ``total_steps``::

        γ_t = η_min + (γ_0 - η_min) · (1 + cos(π (t - W) / (T - W))) / 2     (W ≤ t ≤ T)
        γ_t = η_min                                                         (t > T)

    with T = ``total_steps`` (warm-up included) and η_min = ``min_lr``. With
    ``warmup_steps=0`` and t ≤ T this is the closed form of
    ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=total_steps, eta_min=min_lr)``;
    past T it stays at ``min_lr`` instead of rising again as torch's does.
    """

    _hyper = ("total_steps", "min_lr")

    def __init__(self, optimizer, total_steps, warmup_steps=0, min_lr=0.0):
        self._validate({"warmup_steps": warmup_steps, "total_steps": total_steps,
                        "min_lr": min_lr})
        self.total_steps = total_steps
        self.min_lr = float(min_lr)
        super().__init__(optimizer, warmup_steps)

    def _validate(self, h):
        super()._validate(h)
        _check_int("total_steps", h["total_steps"], h["warmup_steps"] + 1)
        if not h["min_lr"] >= 0:
            raise ValueError(f"min_lr must be >= 0, got {h['min_lr']!r}")

    def _decayed(self, s):
        span = self.total_steps - self.warmup_steps
        if s >= span:
            return self.min_lr
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + math.cos(s * math.pi / span)) / 2


class BudgetCosineLR(_Schedule):
    """Cosine decay to ``min_lr`` by the end of the run's budget, whichever part of it ends
    first: ``total_steps`` steps or ``seconds`` of wall time (None: no time limit)::

        p   = min(1, max(t / T, e / S))                        the fraction of the budget used
        γ_t = (η_min + (γ_0 - η_min) · (1 + cos(π p)) / 2) · min(1, t / W)

    with e the wall time elapsed (validations included, as the trainer's ``--max_minutes``
    counts it), S = ``seconds``, T = ``total_steps``, W = ``warmup_steps`` (the last factor is 1
    without warm-up). A run that stops at its time limit thus ends at η_min however fast the
    machine was, which a step-counted cosine cannot promise. Pass ``elapsed`` to every
    ``step``; it is part of the state, so a resumed run continues on the same curve.
    """

    _hyper = ("total_steps", "seconds", "min_lr", "elapsed")

    def __init__(self, optimizer, total_steps, seconds=None, warmup_steps=0, min_lr=0.0):
        self._validate({"warmup_steps": warmup_steps, "total_steps": total_steps,
                        "seconds": seconds, "min_lr": min_lr, "elapsed": 0.0})
        self.total_steps, self.min_lr = total_steps, float(min_lr)
        self.seconds = None if seconds is None else float(seconds)
        self.elapsed = 0.0
        super().__init__(optimizer, warmup_steps)

    def _validate(self, h):
        super()._validate(h)
        _check_int("total_steps", h["total_steps"], 1)
        if h["seconds"] is not None and not (isinstance(h["seconds"], (int, float))
                                             and 0 < h["seconds"] < math.inf):
            raise ValueError(f"seconds must be a positive number or None, got {h['seconds']!r}")
        if not h["min_lr"] >= 0:
            raise ValueError(f"min_lr must be >= 0, got {h['min_lr']!r}")
        if not (isinstance(h["elapsed"], (int, float)) and h["elapsed"] >= 0):
            raise ValueError(f"elapsed must be a number >= 0, got {h['elapsed']!r}")

    def step(self, elapsed=None):
        if elapsed is None:
            raise TypeError("BudgetCosineLR.step needs elapsed: the seconds since the run began")
        self.elapsed = float(elapsed)
        super().step()

    def progress(self):
        """The fraction of the budget used, in [0, 1]."""
        p = self.last_step / self.total_steps
        if self.seconds is not None:
            p = max(p, self.elapsed / self.seconds)
        return min(p, 1.0)

    def get_lr(self):
        warm = min(1.0, self.last_step / self.warmup_steps) if self.warmup_steps else 1.0
        cosine = (1 + math.cos(math.pi * self.progress())) / 2
        return (self.min_lr + (self.base_lr - self.min_lr) * cosine) * warm


__all__ = ["StepLR", "CosineLR", "BudgetCosineLR"]
