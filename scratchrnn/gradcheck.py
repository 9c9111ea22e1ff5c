"""Numerical gradient checking: the only proof that a backward pass is right.

    num = numerical_gradient(f, x)              # central differences of scalar f() w.r.t. x
    report = check_gradients(module, x, hx)     # every parameter and every float input
    print(report); assert report.ok

The check is  df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps),  whose error is
O(eps^2) truncation plus about 1e-16 |f| / eps round-off: with eps = 1e-6 in float64, about
1e-10 absolute. So entries whose gradients are both below ``tiny`` (1e-3) are judged by
absolute error (``atol``), the rest by relative error (``rtol``). ``check_gradients`` uses
eps = 1e-5, where truncation (about eps^2 |f'''| / 6) and round-off (1e-16 / eps) are
both near 1e-11; measured on the layer grid, the worst relative error falls from 2e-7 at
eps = 1e-6 to 3e-8.
"""
from dataclasses import dataclass, field

import numpy as np

from .nn.module import no_grad


def rel_error(a, b):
    """max(|a - b| / max(1e-8, |a| + |b|)) over all entries."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f, x, eps=1e-6, dout=None, indices=None):
    """Central-difference gradient of f() w.r.t. the array x, which is perturbed in place.

    f takes no arguments and returns a scalar, or an array when ``dout`` (its gradient)
    is given, in which case the result is the gradient of sum(f() * dout).
    indices: flat indices to check (the rest stay 0); default all of them.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical gradients need float64 (central differences lose about half "
                        f"the digits), got {x.dtype}: use x.astype(np.float64) and dtype=np.float64")
    if not x.flags.c_contiguous:
        raise ValueError("numerical_gradient perturbs x in place, so x must be C-contiguous: "
                         "pass np.ascontiguousarray(x) and use that same array inside f")
    grad = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)

    def value():
        y = f()
        if y is None:
            raise TypeError("numerical_gradient: f() returned None; it must return the value "
                            "to differentiate (e.g. the loss), not only compute it")
        try:
            y = np.array(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"numerical_gradient: f() must return a number (or an array with "
                            f"dout=), got {type(y).__name__}") from None
        if dout is None and y.ndim:
            raise ValueError(f"numerical_gradient: f() returned an array of shape {y.shape} but "
                             f"no dout was given: return a scalar, or pass dout= (the gradient "
                             f"of the output, same shape) to check sum(f() * dout)")
        if dout is not None and y.shape != np.shape(dout):
            raise ValueError(f"numerical_gradient: f() returned shape {y.shape} but dout has "
                             f"shape {np.shape(dout)}; they must match")
        if not np.all(np.isfinite(y)):
            where = tuple(int(j) for j in np.unravel_index(i, x.shape))
            raise ValueError(f"numerical_gradient: f() is not finite (it returned "
                             f"{y.ravel()[:3]}...) at x[{where}] +- {eps:g}: check the function "
                             f"and x")
        return y

    for i in (range(flat_x.size) if indices is None else indices):
        old = flat_x[i]
        flat_x[i] = old + eps
        try:
            plus = value()
            flat_x[i] = old - eps
            minus = value()
        finally:
            flat_x[i] = old
        # Differencing outputs before weighting by dout: outputs that x_i does not reach
        # cancel exactly instead of adding their round-off to the sum.
        diff = plus - minus if dout is None else np.sum((plus - minus) * dout)
        flat_g[i] = diff / (2 * eps)
    return grad


@dataclass
class GradCheckRow:
    name: str
    shape: tuple
    checked: int
    max_rel: float      # worst relative error over entries above `tiny`
    max_abs: float      # worst absolute error over entries below `tiny`
    ok: bool


@dataclass
class GradCheckReport:
    rows: list = field(default_factory=list)
    rtol: float = 1e-6
    atol: float = 1e-8

    @property
    def ok(self):
        return bool(self.rows) and all(r.ok for r in self.rows)

    def __str__(self):
        w = max([len("name")] + [len(r.name) for r in self.rows])
        lines = [f"{'name':<{w}}  {'shape':<16} {'checked':>7}  {'max rel err':>11}  "
                 f"{'max abs err':>11}  result"]
        for r in self.rows:
            lines.append(f"{r.name:<{w}}  {str(r.shape):<16} {r.checked:>7}  {r.max_rel:11.2e}  "
                         f"{r.max_abs:11.2e}  {'pass' if r.ok else 'FAIL'}")
        lines.append(f"{'all passed' if self.ok else 'FAILED'} (relative error < {self.rtol:g} "
                     f"for entries above 1e-3, absolute < {self.atol:g} below)")
        return "\n".join(lines)

    __repr__ = __str__


def compare(name, analytic, numeric, idx=None, rtol=1e-6, atol=1e-8, tiny=1e-3):
    """One report row: analytic vs numeric gradient, on the flat entries idx (default all)."""
    a = np.asarray(analytic, np.float64).reshape(-1)
    n = np.asarray(numeric, np.float64).reshape(-1)
    if idx is not None:
        a, n = a[idx], n[idx]
    small = np.maximum(np.abs(a), np.abs(n)) < tiny
    max_rel = rel_error(a[~small], n[~small])
    max_abs = float(np.max(np.abs(a[small] - n[small]), initial=0.0))
    return GradCheckRow(name, tuple(np.shape(analytic)), a.size, max_rel, max_abs,
                        max_rel < rtol and max_abs < atol)


def _leaves(obj):
    """Arrays in a nest of tuples/lists, in order (None and non-arrays skipped)."""
    if isinstance(obj, (tuple, list)):
        return [leaf for o in obj for leaf in _leaves(o)]
    return [obj] if isinstance(obj, np.ndarray) else []


def _random_like(obj, rng):
    if isinstance(obj, (tuple, list)):
        return type(obj)(_random_like(o, rng) for o in obj)
    return rng.standard_normal(obj.shape) if isinstance(obj, np.ndarray) else obj


def check_gradients(module, *inputs, eps=1e-5, rtol=1e-6, atol=1e-8, max_entries=200,
                    seed=0, **forward_kwargs):
    """Check every parameter and every float64 input of ``module`` numerically.

    The scalar checked is L = sum over outputs of sum(output * R) for fixed random R, so
    backward receives R as the gradient of each output (its structure mirrors the output:
    ``backward(dout, dh_n)`` for ``out, h_n = m(x, h0)``). Inputs may be nested tuples, such
    as LSTM's (h0, c0); integer inputs (ids, lengths) are passed along unchecked, and so are
    ``forward_kwargs``. Arrays with more than ``max_entries`` entries are checked on that many
    random entries. Generators named ``rng`` on submodules are rewound before every forward
    so that dropout draws the same mask each time.
    """
    params = list(module.named_parameters())
    for name, p in params:
        if p.dtype != np.float64:
            raise TypeError(f"check_gradients needs float64 parameters, but {name} is {p.dtype}: "
                            f"build the module with dtype=np.float64")
    rng = np.random.default_rng(seed)
    gens = [m.rng for m in module.modules() if isinstance(getattr(m, "rng", None), np.random.Generator)]
    gen_states = [g.bit_generator.state for g in gens]

    def run():
        for g, s in zip(gens, gen_states):
            g.bit_generator.state = s
        return module(*inputs, **forward_kwargs)

    module.clear_caches()
    out = run()
    douts = _random_like(out, rng)

    flat_dout = np.concatenate([d.ravel() for d in _leaves(douts)])

    def outputs():
        with no_grad():
            return np.concatenate([a.ravel() for a in _leaves(run())])

    module.zero_grad()
    grads_in = module.backward(*douts) if isinstance(out, tuple) else module.backward(douts)
    report = GradCheckReport(rtol=rtol, atol=atol)
    float_inputs = [a for a in _leaves(inputs) if np.issubdtype(a.dtype, np.floating)]
    targets = [(name, p.data, p.grad) for name, p in params]
    targets += [(f"input[{i}]", a, g) for i, (a, g) in
                enumerate(zip(float_inputs, _leaves(grads_in)))]
    for name, array, analytic in targets:
        idx = None
        if array.size > max_entries:
            idx = rng.choice(array.size, size=max_entries, replace=False)
        numeric = numerical_gradient(outputs, array, eps=eps, dout=flat_dout, indices=idx)
        report.rows.append(compare(name, analytic, numeric, idx, rtol, atol))
    return report
