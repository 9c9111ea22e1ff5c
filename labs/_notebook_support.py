"""What the lab notebooks share: the student's file through the graders' switch, checks
printed CS231n-style, and the quick mode the CI runs them in.

    from labs import _notebook_support as nb
    impl = nb.load("lab01")        # SCRATCHRNN_LAB_IMPL: your stub by default, as the graders
    nb.check("rnn_step_forward: h", h, expected, below=1e-8)
    nb.check_backward("rnn_step_backward", forward, inputs, dout, analytic)
    nb.summary()                   # the last cell: every check passed, or which did not

A function of the student's that still raises NotImplementedError stops the cell with the
graders' words, ``not written yet: TODO n: ...``. A check that misses its target is printed
(with the graders' description of the worst entry) and remembered; ``summary()`` fails if any
did, so a notebook executed top to bottom fails exactly when one of its checks failed.
"""
import functools
import inspect
import math
import os
import types

import numpy as np

from labs import grading
from scratchrnn.gradcheck import rel_error

QUICK_VAR = "SCRATCHRNN_NOTEBOOK_QUICK"
# The CI runs every notebook with this set: fewer steps, smaller models, the same cells.
QUICK = os.environ.get(QUICK_VAR, "").strip().lower() not in ("", "0", "false", "no")

_failed = []       # (what, message) of every check that missed its target
_passed = []


class NotWrittenYet(NotImplementedError):
    """A TODO block of the student's file that still raises NotImplementedError."""

    def _render_traceback_(self):
        # IPython shows these lines instead of a traceback into this module: the graders' words
        return [f"{type(self).__name__}: {self}"]


class ChecksMissed(AssertionError):
    """summary(): some checks of the notebook missed their target."""

    _render_traceback_ = NotWrittenYet._render_traceback_


def quick(full, small):
    """``small`` in quick mode (SCRATCHRNN_NOTEBOOK_QUICK=1), else ``full``."""
    return small if QUICK else full


# --------------------------------------------------------------------------- the student's code
def load(lab):
    """The implementation the graders would grade (``SCRATCHRNN_LAB_IMPL``, stub by default),
    wrapped so that an unwritten TODO stops with the graders' message."""
    spec = os.environ.get(grading.ENV_VAR) or "stub"
    module = grading.load_impl(spec, lab)
    print(f"using {grading.describe_impl(spec, lab)}  ({grading.ENV_VAR}={spec})")
    if QUICK:
        print(f"quick mode ({QUICK_VAR}=1): fewer steps, smaller models")
    _failed.clear()
    _passed.clear()
    return StudentCode(module, grading.LABS[lab][1])


class StudentCode:
    """The student's module seen through a wrapper: every function and every method of its
    classes turns a NotImplementedError into ``NotWrittenYet("not written yet: TODO n: ...")``."""

    def __init__(self, module, filename):
        self._module, self._filename = module, filename
        self._wrapped = {}

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if name not in self._wrapped:
            if inspect.isclass(value) and value.__module__ == self._module.__name__:
                self._wrapped[name] = self._wrap_class(value)
            elif callable(value):
                self._wrapped[name] = self._wrap(value)
            else:
                return value
        return self._wrapped[name]

    def __dir__(self):
        return dir(self._module)

    def _wrap(self, func):
        filename = self._filename

        @functools.wraps(func)
        def call(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except NotWrittenYet:
                raise
            except NotImplementedError as e:
                raise NotWrittenYet(f"not written yet: {e or 'NotImplementedError'}\n"
                                    f"  fill in that TODO block in {filename}, then run this "
                                    f"cell again.") from None
        return call

    def _wrap_class(self, cls):
        methods = {k: self._wrap(v) for k, v in vars(cls).items()
                   if isinstance(v, types.FunctionType) and not k.startswith("__")}
        return type(cls.__name__, (cls,), {**methods, "__module__": cls.__module__,
                                            "__doc__": cls.__doc__})


def fixtures(lab):
    """{case: arrays} from the lab's fixtures.npz (made by the reference solution)."""
    return grading.load_cases(grading.stub_path(lab))


# --------------------------------------------------------------------------- checks
def _record(what, ok, line, detail=""):
    print(line + ("" if ok else "   <-- NOT MET") + (f"\n{detail}" if detail and not ok else ""))
    (_passed if ok else _failed).append((what, detail or line))


def check(what, actual, expected, below=1e-8):
    """Print the relative error of ``actual`` against ``expected`` and its target."""
    actual = np.asarray(actual)
    if np.shape(actual) != np.shape(expected):
        _record(what, False, f"{what}: shape {np.shape(actual)}, expected "
                                    f"{np.shape(expected)}")
        return
    err = rel_error(actual, expected)
    _record(what, err < below, f"{what}: relative error {err:.2e} (should be below {below:g})")


def check_value(what, value, target, ok, detail=""):
    """Print a number and its target; ``ok`` says whether it is met."""
    _record(what, bool(ok), f"{what}: {value} ({target})", detail)


def check_backward(func, forward, inputs, dout, analytic, below=1e-6):
    """The numerical gradient check of a backward pass, one line per input.

    forward: no-argument closure over ``inputs`` (float64 arrays, perturbed in place) that
    returns the output(s) ``dout`` is the gradient of; analytic: {name: your gradient}.
    The judgement is the graders' (relative error below ``below``; entries below 1e-3 in
    magnitude are compared absolutely), and a miss prints the worst entry.
    """
    numeric = grading.numerical_gradients(forward, inputs, dout)
    for k in inputs:
        what = f"{func}: d{k}"
        got = np.asarray(analytic[k])
        if got.shape != numeric[k].shape:
            _record(what, False, f"{what}: shape {got.shape}, expected {numeric[k].shape}")
            continue
        problem = grading.mismatch("d" + k, got, numeric[k], "numerical", rtol=below, func=func)
        err = rel_error(got, numeric[k])
        note = ""
        if not problem and err >= below:
            note = " (the larger errors are on entries below 1e-3: absolutely tiny, fine)"
        _record(what, problem is None,
                f"{what}: relative error {err:.2e} (should be below {below:g}){note}", problem or "")


def expect_near_log(what, loss, n_classes, within=0.1):
    """Loss at initialisation: with small random weights every class is about equally likely,
    so the loss is about ln(n_classes)."""
    target = math.log(n_classes)
    check_value(what, f"{loss:.4f}", f"should be near ln({n_classes}) = {target:.4f}",
                       abs(loss - target) < within * target)


def summary():
    """The notebook's verdict; raises ChecksMissed (an AssertionError) naming every missed check."""
    if _failed:
        raise ChecksMissed(f"{len(_failed)} of {len(_failed) + len(_passed)} checks missed "
                             f"their target:\n" + "\n".join(f"  {w}" for w, _ in _failed))
    print(f"all {len(_passed)} checks passed")

