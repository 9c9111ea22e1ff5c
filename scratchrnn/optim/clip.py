"""Gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``.

Both work in place on ``p.grad`` of each Parameter, so call them between
``backward`` and ``optimizer.step()``.
"""
from __future__ import annotations

import math

import numpy as np


def _grads(params) -> list:
    # A single Parameter is accepted like torch accepts a single tensor.
    if hasattr(params, "grad"):
        params = [params]
    return [p.grad for p in params]


def clip_grad_norm_(params, max_norm, norm_type=2.0) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``::

        total = ‖(‖g_1‖_p, ..., ‖g_n‖_p)‖_p    (the p-norm of all gradients as one
                                                vector; p = inf: the largest |entry|)
        c = max_norm / (total + 1e-6)
        if c < 1:  g_i ← c g_i  for every i

    Returns ``total``, the norm *before* clipping, as a Python float.

    If ``total`` is inf or nan it is returned as it is and the gradients are left
    untouched (torch would multiply them by 0 or nan): the caller decides, typically
    by skipping the step.
    """
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not max_norm >= 0:
        raise ValueError(f"max_norm must be >= 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"norm_type must be > 0 or inf, got {norm_type}")
    grads = _grads(params)
    if not grads:
        return 0.0
    # The norm of the per-gradient norms equals the norm of the concatenation, and
    # needs no concatenated copy of all gradients.
    norms = np.array([np.linalg.norm(g.ravel(), ord=norm_type) if g.size else 0.0
                      for g in grads], dtype=np.float64)
    total = float(np.linalg.norm(norms, ord=norm_type))
    if not math.isfinite(total):
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(params, clip_value) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` in place::

        g ← min(max(g, -clip_value), clip_value)
    """
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_value must be >= 0, got {clip_value}")
    for g in _grads(params):
        np.clip(g, -clip_value, clip_value, out=g)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
