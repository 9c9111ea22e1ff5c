"""First-order optimisers whose update rules match ``torch.optim`` of the same name.

Every optimiser updates ``p.data`` in place from ``p.grad`` for each Parameter it was
given. The equations in the docstrings use the symbols of the PyTorch documentation:
θ the parameter, g_t its gradient at step t (t = 1, 2, ...), γ the learning rate,
λ the weight decay, ε the small constant that keeps divisions finite.

``state_dict()`` returns a flat dict that is JSON/npz friendly:

* ``"type"`` (the class name), ``"step"`` (int) and every hyper-parameter are plain
  Python scalars (Adam's ``betas`` are stored as ``"beta1"`` and ``"beta2"``);
* every per-parameter buffer is a list of NumPy arrays, one per parameter, in the
  order the parameters were given (e.g. ``"exp_avg": [array, array, ...]``), under
  torch's state names.

So a checkpoint writer can put the scalars into JSON and the arrays into an ``.npz``.
"""
from __future__ import annotations

import numpy as np


def _as_param_list(params) -> list:
    """Materialise ``params`` (a generator is consumed only once) and check it."""
    if hasattr(params, "data") and hasattr(params, "grad"):
        params = [params]
    params = list(params)
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    for i, p in enumerate(params):
        if not (isinstance(getattr(p, "data", None), np.ndarray)
                and isinstance(getattr(p, "grad", None), np.ndarray)):
            raise TypeError(f"params[{i}] is not a Parameter (needs ndarray .data and .grad), "
                            f"got {type(p).__name__}")
    if len({id(p) for p in params}) != len(params):
        # A duplicate would be updated twice per step.
        raise ValueError("optimizer got the same parameter more than once")
    return params


def _check(ok: bool, message: str):
    if not ok:
        raise ValueError(message)


def _plain(x):
    return x.item() if isinstance(x, np.generic) else x


def _is_scalar(x) -> bool:
    return isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating))


class Optimizer:
    """Base class: parameter list, step counter, per-parameter buffers and scratch space.

    A subclass declares ``_hyper`` (the hyper-parameter attribute names kept in the
    state dict), implements ``_validate(h)`` (raise ValueError on a bad value),
    ``_buffer_names(h)`` (the per-parameter buffers those hyper-parameters need) and
    ``_update(i, p)`` (one parameter's update; ``self.step_count`` is already ``t``).
    """

    _hyper: tuple = ()

    def __init__(self, params, **hyper):
        self.params = _as_param_list(params)
        self._validate(hyper)
        self._set_hyper(hyper)
        self.step_count = 0
        # Buffers live in the parameter's dtype, so float32 training stays float32.
        self.state = {name: [np.zeros_like(p.data) for p in self.params]
                      for name in self._buffer_names(hyper)}
        self._scratch = {}

    # ------------------------------------------------------------ subclass hooks
    def _validate(self, h: dict):
        raise NotImplementedError

    def _buffer_names(self, h: dict) -> tuple:
        raise NotImplementedError

    def _update(self, i: int, p):
        raise NotImplementedError

    def _hyper_values(self) -> dict:
        # .item(): a NumPy scalar assigned to .lr by hand would not be JSON friendly.
        return {k: _plain(getattr(self, k)) for k in self._hyper}

    def _set_hyper(self, h: dict):
        for k in self._hyper:
            # NumPy scalars (e.g. read back from an .npz) would upcast float32 updates.
            # All at once and already validated: one by one, a pair that is only valid
            # together (nesterov and momentum) would be refused halfway.
            object.__setattr__(self, k, _plain(h[k]))

    def __setattr__(self, name, value):
        """``opt.lr = -5`` (or any hyper-parameter set by hand or by a schedule) is checked
        as the constructor checks it, so a bad value is refused where it is set."""
        if name in type(self)._hyper and name in self.__dict__:
            if not _is_scalar(value):
                raise TypeError(f"{type(self).__name__}.{name} must be a number, got "
                                f"{type(value).__name__} {value!r}")
            h = self._hyper_values()
            h[name] = _plain(value)
            try:
                self._validate(h)
            except ValueError as e:
                raise ValueError(f"{type(self).__name__}.{name} = {value!r} refused: {e}") from None
            value = h[name]
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------ public API
    def step(self):
        """Apply one update to every parameter from its current ``.grad``."""
        self.step_count += 1
        for i, p in enumerate(self.params):
            self._update(i, p)

    def zero_grad(self):
        """Set every parameter's ``.grad`` to zero (in place: modules hold the same arrays)."""
        for p in self.params:
            p.grad[...] = 0

    def state_dict(self) -> dict:
        """Copy of the full state: scalars plus one list of arrays per buffer (see module doc)."""
        d = {"type": type(self).__name__, "step": int(self.step_count)}
        d.update(self._hyper_values())
        for name, bufs in self.state.items():
            d[name] = [b.copy() for b in bufs]
        return d

    def load_state_dict(self, d: dict):
        """Restore a ``state_dict()``; every mismatch is reported, nothing changes on error."""
        problems = self._state_problems(d)
        if problems:
            raise ValueError(f"cannot load state_dict into {type(self).__name__}:\n  "
                             + "\n  ".join(problems))
        hyper = {k: d[k] for k in self._hyper}
        self._set_hyper(hyper)
        self.step_count = int(d["step"])
        # Copies, so that the source dict and this optimiser never share memory.
        self.state = {name: [np.array(a, dtype=p.data.dtype, copy=True)
                             for a, p in zip(d[name], self.params)]
                      for name in self._buffer_names(hyper)}

    def _state_problems(self, d: dict) -> list:
        if not isinstance(d, dict):
            return [f"expected a dict, got {type(d).__name__}"]
        problems = []
        if d.get("type") != type(self).__name__:
            problems.append(f"type: expected {type(self).__name__!r}, got {d.get('type')!r}")
        step = d.get("step")
        if not (isinstance(step, (int, np.integer)) and not isinstance(step, bool) and step >= 0):
            problems.append(f"step: expected a non-negative int, got {step!r}")
        missing = [k for k in self._hyper if k not in d]
        if missing:
            return problems + ["missing hyper-parameters: " + ", ".join(missing)]
        hyper = {k: d[k] for k in self._hyper}
        bad = [k for k in self._hyper if not _is_scalar(hyper[k])]
        if bad:
            return problems + ["hyper-parameters must be scalars: " + ", ".join(bad)]
        try:
            self._validate(hyper)
        except ValueError as e:
            problems.append(str(e))
            return problems
        names = self._buffer_names(hyper)
        known = {"type", "step", *self._hyper, *names}
        unexpected = [k for k in d if k not in known]
        if unexpected:
            problems.append("unexpected keys: " + ", ".join(map(str, unexpected)))
        for name in names:
            problems += self._buffer_problems(name, d.get(name))
        return problems

    def _buffer_problems(self, name: str, bufs) -> list:
        if bufs is None:
            return [f"{name}: missing"]
        if not isinstance(bufs, (list, tuple)):
            return [f"{name}: expected a list of arrays, got {type(bufs).__name__}"]
        if len(bufs) != len(self.params):
            return [f"{name}: expected {len(self.params)} arrays (one per parameter), "
                    f"got {len(bufs)}"]
        return [f"{name}[{i}]: expected shape {p.data.shape}, got {np.shape(a)}"
                for i, (a, p) in enumerate(zip(bufs, self.params))
                if np.shape(a) != p.data.shape]

    # ------------------------------------------------------------ helpers
    def _tmp(self, p, slot: int) -> np.ndarray:
        """A scratch array shaped like ``p``: a view into one flat buffer per (dtype, slot).

        The buffer is sized for the largest parameter of that dtype, so the temporaries
        cost one parameter's worth of memory per slot, allocated once.
        """
        key = (p.data.dtype, slot)
        buf = self._scratch.get(key)
        if buf is None or buf.size < p.data.size:
            size = max(q.data.size for q in self.params if q.data.dtype == p.data.dtype)
            buf = self._scratch[key] = np.empty(size, dtype=p.data.dtype)
        return buf[:p.data.size].reshape(p.data.shape)

    def _decayed_grad(self, p, weight_decay: float) -> np.ndarray:
        """g + λθ in scratch slot 0 (``p.grad`` itself is never changed, as in torch)."""
        if weight_decay == 0:
            return p.grad
        g = self._tmp(p, 0)
        np.multiply(p.data, weight_decay, out=g)
        g += p.grad
        return g

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper_values().items())
        return f"{type(self).__name__}({len(self.params)} params, {args})"


def _check_common(h: dict):
    # Finite as well as >= 0 (NaN fails every comparison; inf would turn the parameters to inf).
    _check(0 <= h["lr"] < np.inf, f"Invalid learning rate: lr={h['lr']} (must be >= 0 and finite)")
    _check(0 <= h["weight_decay"] < np.inf,
           f"Invalid weight_decay value: {h['weight_decay']} (must be >= 0 and finite)")
    if "eps" in h:
        _check(0 <= h["eps"] < np.inf, f"Invalid epsilon value: eps={h['eps']} (must be >= 0 "
                                       f"and finite)")


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    With momentum μ and dampening τ::

        if λ ≠ 0:  g_t ← g_t + λ θ_{t-1}
        if μ ≠ 0:  b_t ← g_t                          (t = 1)
                   b_t ← μ b_{t-1} + (1 - τ) g_t      (t > 1)
                   g_t ← g_t + μ b_t   if nesterov,  else  g_t ← b_t
        θ_t ← θ_{t-1} - γ g_t

    The first momentum buffer is the gradient itself, not (1 - τ) g_1, as in torch.
    """

    _hyper = ("lr", "momentum", "dampening", "nesterov", "weight_decay")

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0,
                 dampening=0.0):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         nesterov=nesterov, weight_decay=weight_decay)

    def _validate(self, h):
        _check_common(h)
        _check(0 <= h["momentum"] < np.inf,
               f"Invalid momentum value: {h['momentum']} (must be >= 0 and finite)")
        _check(not h["nesterov"] or (h["momentum"] > 0 and h["dampening"] == 0),
               "Nesterov momentum requires a momentum > 0 and zero dampening")

    def _buffer_names(self, h):
        return ("momentum_buffer",) if h["momentum"] != 0 else ()

    def _update(self, i, p):
        g = self._decayed_grad(p, self.weight_decay)
        tmp = self._tmp(p, 1)
        if self.momentum != 0:
            buf = self.state["momentum_buffer"][i]
            if self.step_count == 1:
                np.copyto(buf, g)
            else:
                buf *= self.momentum
                np.multiply(g, 1 - self.dampening, out=tmp)
                buf += tmp
            if self.nesterov:
                np.multiply(buf, self.momentum, out=tmp)
                tmp += g
                g = tmp
            else:
                g = buf
        np.multiply(g, -self.lr, out=tmp)
        p.data += tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba) with L2 weight decay added to the gradient, as ``torch.optim.Adam``.

    With betas (β1, β2) and m_0 = v_0 = 0::

        if λ ≠ 0:  g_t ← g_t + λ θ_{t-1}
        m_t ← β1 m_{t-1} + (1 - β1) g_t
        v_t ← β2 v_{t-1} + (1 - β2) g_t²
        θ_t ← θ_{t-1} - γ / (1 - β1^t) · m_t / (sqrt(v_t) / sqrt(1 - β2^t) + ε)

    ε is added after the bias correction of sqrt(v_t): this is the paper's
    m̂_t / (sqrt(v̂_t) + ε) and torch's order, not the paper's cheaper variant that
    folds the corrections into the step size and so adds ε to the uncorrected sqrt(v_t).
    """

    _hyper = ("lr", "beta1", "beta2", "eps", "weight_decay")
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        betas = tuple(betas)
        _check(len(betas) == 2, f"betas must be a pair (beta1, beta2), got {betas!r}")
        super().__init__(params, lr=lr, beta1=betas[0], beta2=betas[1], eps=eps,
                         weight_decay=weight_decay)

    @property
    def betas(self):
        return (self.beta1, self.beta2)

    def _validate(self, h):
        _check_common(h)
        for k in (1, 2):
            b = h[f"beta{k}"]
            _check(0 <= b < 1, f"Invalid beta parameter at index {k - 1}: {b} "
                               f"(must be in [0, 1))")

    def _buffer_names(self, h):
        return ("exp_avg", "exp_avg_sq")

    def _update(self, i, p):
        m, v = self.state["exp_avg"][i], self.state["exp_avg_sq"][i]
        if self._decoupled and self.weight_decay != 0:
            p.data *= 1 - self.lr * self.weight_decay
        g = p.grad if self._decoupled else self._decayed_grad(p, self.weight_decay)
        tmp = self._tmp(p, 1)
        # m += (1 - beta1) (g - m): torch's lerp form of beta1 m + (1 - beta1) g.
        np.subtract(g, m, out=tmp)
        tmp *= 1 - self.beta1
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.beta2
        v *= self.beta2
        v += tmp
        t = self.step_count
        step_size = self.lr / (1 - self.beta1 ** t)
        bias_correction2_sqrt = (1 - self.beta2 ** t) ** 0.5
        np.sqrt(v, out=tmp)
        tmp /= bias_correction2_sqrt
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= -step_size
        p.data += tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``::

        θ_{t-1} ← θ_{t-1} (1 - γ λ)
        m_t, v_t, θ_t ← the Adam update above with λ = 0

    The decay shrinks the parameter before the Adam step and never enters m_t or v_t.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), as ``torch.optim.Adagrad`` with ``lr_decay=0`` and
    ``initial_accumulator_value=0``.

    With the state sum s_0 = 0 (state key ``"sum"``)::

        if λ ≠ 0:  g_t ← g_t + λ θ_{t-1}
        s_t ← s_{t-1} + g_t²
        θ_t ← θ_{t-1} - γ g_t / (sqrt(s_t) + ε)
    """

    _hyper = ("lr", "eps", "weight_decay")

    def __init__(self, params, lr=1e-2, eps=1e-10, weight_decay=0.0):
        super().__init__(params, lr=lr, eps=eps, weight_decay=weight_decay)

    def _validate(self, h):
        _check_common(h)

    def _buffer_names(self, h):
        return ("sum",)

    def _update(self, i, p):
        s = self.state["sum"][i]
        g = self._decayed_grad(p, self.weight_decay)
        tmp = self._tmp(p, 1)
        np.multiply(g, g, out=tmp)
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= -self.lr
        p.data += tmp


class RMSprop(Optimizer):
    """RMSprop (Hinton), the non-centred form of ``torch.optim.RMSprop``.

    With smoothing α, momentum μ and v_0 = b_0 = 0 (state keys ``"square_avg"``
    and ``"momentum_buffer"``)::

        if λ ≠ 0:  g_t ← g_t + λ θ_{t-1}
        v_t ← α v_{t-1} + (1 - α) g_t²
        if μ > 0:  b_t ← μ b_{t-1} + g_t / (sqrt(v_t) + ε)
                   θ_t ← θ_{t-1} - γ b_t
        else:      θ_t ← θ_{t-1} - γ g_t / (sqrt(v_t) + ε)

    Unlike SGD's, this momentum buffer starts at zero rather than at the first update.
    """

    _hyper = ("lr", "alpha", "eps", "weight_decay", "momentum")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum)

    def _validate(self, h):
        _check_common(h)
        _check(0 <= h["momentum"] < np.inf,
               f"Invalid momentum value: {h['momentum']} (must be >= 0 and finite)")
        # torch only checks alpha >= 0; alpha > 1 would give a negative weight to g^2
        # and a square root of a negative average.
        _check(0 <= h["alpha"] <= 1, f"Invalid alpha value: {h['alpha']} (must be in [0, 1])")

    def _buffer_names(self, h):
        return ("square_avg", "momentum_buffer") if h["momentum"] > 0 else ("square_avg",)

    def _update(self, i, p):
        v = self.state["square_avg"][i]
        g = self._decayed_grad(p, self.weight_decay)
        tmp = self._tmp(p, 1)
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.alpha
        v *= self.alpha
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        if self.momentum > 0:
            buf = self.state["momentum_buffer"][i]
            buf *= self.momentum
            buf += tmp
            np.multiply(buf, -self.lr, out=tmp)
        else:
            tmp *= -self.lr
        p.data += tmp


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop"]
