"""What every lab grader shares: which implementation to grade, and comparisons whose
failure messages say which function, which array, which entry, how far off, and what to try.

Graders never need the solution:

* forward results are compared with expected values stored in each lab's ``fixtures.npz``
  (made once from the reference solution by ``python -m labs.make_fixtures``);
* backward results are compared with numerical gradients of the student's OWN forward
  (central differences in float64), so a backward is judged against the forward it belongs to.

Choosing the implementation (``SCRATCHRNN_LAB_IMPL`` or ``pytest --impl``):

    stub        the student's file in the lab folder (default)
    reference   the answer key ``labs/_reference/labNN.py`` (maintainers only: it is not
                shipped to students, and grading against it fails where it is absent)
    a.b.c       any importable module; ``{lab}`` in it is replaced by ``lab01`` ... ``lab06``
    x/y.py      any Python file
"""
import importlib
import importlib.util
import itertools
import os
import re
from pathlib import Path

import numpy as np
import pytest

ENV_VAR = "SCRATCHRNN_LAB_IMPL"
LABS_DIR = Path(__file__).resolve().parent
REFERENCE_DIR = LABS_DIR / "_reference"      # the answer key: in the repository, never exported

# lab id -> (folder, the one file the student edits). The order is the order to take them.
LABS = {
    "lab01": ("lab01_rnn_step", "rnn_step.py"),
    "lab02": ("lab02_bptt", "bptt.py"),
    "lab03": ("lab03_lstm", "lstm.py"),
    "lab04": ("lab04_gru", "gru.py"),
    "lab05": ("lab05_char_model", "char_model.py"),
    "lab06": ("lab06_classify", "classify.py"),
    "lab07": ("lab07_attention", "attention.py"),
}

# Gradients: relative error below RTOL, except where both numbers are below TINY, where
# central differences carry ~1e-10 absolute round-off and the absolute error must be < ATOL.
RTOL, ATOL, TINY = 1e-6, 1e-8, 1e-3


# --------------------------------------------------------------------------- which code
def lab_of(path):
    """'lab03' for any file inside labs/lab03_lstm/."""
    for part in Path(path).resolve().parts[::-1]:
        if part[:3] == "lab" and part[3:5].isdigit():
            return part[:5]
    raise ValueError(f"{path} is not inside a labNN_* folder")


def stub_path(lab):
    folder, stub = LABS[lab]
    return LABS_DIR / folder / stub


def describe_impl(spec, lab):
    """Human-readable 'what is being graded'."""
    spec = spec or "stub"
    if spec == "stub":
        return f"your stub {stub_path(lab).relative_to(LABS_DIR.parent)}"
    if spec == "reference":
        return f"the reference solution labs/_reference/{lab}.py"
    return spec.replace("{lab}", lab)


class ReferenceNotShipped(ImportError):
    """``--impl reference`` where the answer key is absent (an exported class folder)."""


_counter = itertools.count()


def _load_file(path):
    """Import a .py file under a fresh module name, so each grading run sees the file as it
    is now (a student edits it between runs; the CI loads several wrong versions)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"implementation file {path} does not exist")
    name = f"_graded_{path.stem}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_impl(spec, lab):
    """The module to grade for ``lab`` (see the module docstring for ``spec``)."""
    spec = (spec or "stub").strip()
    if spec == "stub":
        return _load_file(stub_path(lab))
    if spec == "reference":
        if not (REFERENCE_DIR / f"{lab}.py").is_file():
            raise ReferenceNotShipped(
                f"the reference solution is not shipped with these labs ({REFERENCE_DIR.name}/ is "
                f"absent); grade your own file: pytest labs/{LABS[lab][0]}")
        return importlib.import_module(f"labs._reference.{lab}")
    spec = spec.replace("{lab}", lab)
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        return _load_file(spec)
    return importlib.import_module(spec)


# --------------------------------------------------------------------------- fixtures
class Case(dict):
    """One fixture case: a dict of arrays that also allows ``case.x``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def load_cases(test_file):
    """{case name: Case} from fixtures.npz beside ``test_file`` (keys are 'case/array')."""
    path = Path(test_file).resolve().parent / "fixtures.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: remake it with `python -m labs.make_fixtures`")
    cases = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            case, name = key.split("/", 1)
            cases.setdefault(case, Case())[name] = data[key]
    return cases


def rand(rng, shape, scale=1.0):
    """float64 C-contiguous normal(0, scale^2): what numerical gradients need."""
    return np.ascontiguousarray(scale * rng.standard_normal(shape))


# --------------------------------------------------------------------------- checks
def plain(value):
    """``value`` as plain Python for a message: a NumPy scalar (or 0-d array) becomes the int,
    float or bool it holds, because NumPy 2 prints ``np.float64(0.5)`` where a student expects 0.5."""
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    return value


# What NumPy 2's repr of a scalar looks like, e.g. np.int64(0), np.float64(-1.5), np.True_
_NUMPY_REPR = re.compile(r"\bnp\.(?:float|int|uint|complex|bool|str)\w*\(([^()]*)\)")


def fail(msg):
    """Fail the test with ``msg`` only (no traceback into the grader: it is not the bug).

    A NumPy scalar repr that slipped in (through ``!r`` or inside a list) is shown as the
    plain number; format values with ``plain()`` or a format spec in the first place."""
    msg = _NUMPY_REPR.sub(r"\1", msg).replace("np.True_", "True").replace("np.False_", "False")
    pytest.fail(msg, pytrace=False)


def _fmt_index(name, idx):
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]" if idx else name


def unpack(func, result, names):
    """Check that ``func`` returned a tuple of len(names) values and return it."""
    if not isinstance(result, tuple) or len(result) != len(names):
        got = f"a {type(result).__name__}" if not isinstance(result, tuple) else \
            f"{len(result)} values"
        fail(f"{func} must return {len(names)} values ({', '.join(names)}); it returned {got}.\n"
             f"  hint: end the function with `return {', '.join(names)}`")
    return result


def check_array(func, name, actual, shape=None, dims="", dtype=None):
    """``actual`` is an ndarray with the given shape (``dims`` names the axes) and dtype."""
    if not isinstance(actual, np.ndarray):
        fail(f"{func}: {name} should be a numpy array, got {type(actual).__name__} ({plain(actual)!r:.60}).\n"
             f"  hint: did you forget a return value, or return a list instead of an array?")
    if shape is not None and actual.shape != tuple(shape):
        fail(f"{func}: {name} has shape {actual.shape}, expected {dims + ' = ' if dims else ''}"
             f"{tuple(shape)}.\n  hint: print the shapes of the arrays you combine; a transposed "
             f"weight or a sum over the wrong axis changes the shape.")
    if dtype is not None and actual.dtype != dtype:
        fail(f"{func}: {name} has dtype {actual.dtype} but the inputs were {np.dtype(dtype)}.\n"
             f"  hint: arrays made with np.zeros(shape) or np.ones(shape) are float64; use "
             f"np.zeros_like(x) or np.zeros(shape, dtype=x.dtype) so float32 stays float32.")
    return actual


def check_close(func, name, actual, expected, against="the expected value (fixtures.npz, made by "
                "the reference solution)", label="expected", hint="", rtol=RTOL, atol=ATOL, tiny=TINY):
    """Entry-wise comparison with the message a student can act on.

    Entries where both values are below ``tiny`` in magnitude are compared absolutely
    (< atol), all others relatively (< rtol); the failure names the worst entry.
    """
    problem = mismatch(name, actual, expected, label, hint, rtol, atol, tiny, func=func)
    if problem:
        fail(f"{func}: {name} does not match {against}.\n{problem}")


def mismatch(name, actual, expected, label="expected", hint="", rtol=RTOL, atol=ATOL, tiny=TINY,
             func="", gates=None):
    """None if ``actual`` matches ``expected``, else lines describing the worst entry.

    gates: e.g. "ifgo" when axis 0 of the array stacks one block per gate (LSTM weights):
    the message then counts the wrong entries in each block.
    """
    expected = np.asarray(expected, dtype=np.float64)
    check_array(func, name, actual, expected.shape)
    a = actual.astype(np.float64)
    hint = f"\n  hint: {hint}" if hint else ""
    if not np.all(np.isfinite(a)):
        idx = tuple(np.argwhere(~np.isfinite(a))[0])
        return (f"  {_fmt_index(name, idx)} = {float(a[idx])} ({int((~np.isfinite(a)).sum())} "
                f"non-finite entries): NaN/inf usually means exp() overflowed (shift by the max "
                f"first), a division by zero (an empty mask?) or log(0).{hint}")
    badness, err, rel, small = _badness(a, expected, rtol, atol, tiny)
    n_bad = int((badness >= 1).sum())
    if n_bad == 0:
        return None
    idx = np.unravel_index(int(np.argmax(badness)), a.shape) if a.ndim else ()
    if small[idx]:
        how = f"absolute error = {err[idx]:.2e} (must be < {atol:g} for entries below {tiny:g})"
    else:
        how = f"relative error = {rel[idx]:.2e} (must be < {rtol:g})"
    per_gate = ""
    if gates and a.ndim and a.shape[0] % len(gates) == 0:
        blocks = np.split(badness >= 1, len(gates), axis=0)
        per_gate = "\n  wrong entries per gate block: " + ", ".join(
            f"{g}: {int(blk.sum())}/{blk.size}" for g, blk in zip(gates, blocks))
    return (f"  worst entry {_fmt_index(name, idx)}: yours = {a[idx]:.10g}, {label} = "
            f"{expected[idx]:.10g}, {how}; {n_bad} of {a.size} entries are off.{per_gate}{hint}")


def _badness(a, expected, rtol, atol, tiny):
    """(badness, err, rel, small) of float64 arrays; an entry is wrong where badness >= 1
    (a non-finite entry always is)."""
    with np.errstate(invalid="ignore"):
        err = np.abs(a - expected)
        rel = err / np.maximum(1e-8, np.abs(a) + np.abs(expected))
        small = np.maximum(np.abs(a), np.abs(expected)) < tiny
        badness = np.where(small, err / atol, rel / rtol)
    return np.where(np.isfinite(badness), badness, np.inf), err, rel, small


def wrong_entries(actual, expected, rtol=RTOL, atol=ATOL, tiny=TINY):
    """Boolean array of ``expected``'s shape: True where ``actual`` is off (as ``mismatch`` judges)."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return _badness(a, e, rtol, atol, tiny)[0] >= 1


def numerical_gradients(f, inputs, dout, eps=1e-5):
    """{name: d sum(f() * dout) / d inputs[name]} by central differences (float64).

    ``f`` takes no arguments and reads the arrays in ``inputs``, which are perturbed in
    place one entry at a time; it may return an array or a tuple of arrays (``dout`` then is
    a tuple of the same shapes).
    """
    from scratchrnn.gradcheck import numerical_gradient

    def flat():
        out = f()
        return np.concatenate([np.ravel(o) for o in (out if isinstance(out, tuple) else (out,))])

    flat_dout = np.concatenate([np.ravel(d) for d in (dout if isinstance(dout, tuple) else (dout,))])
    return {k: numerical_gradient(flat, x, eps=eps, dout=flat_dout) for k, x in inputs.items()}


def _is_weight(name):
    return name.startswith(("W_", "b", "weight"))


def require_forward(func, forward_name, outputs, case, forward_test):
    """Grade the backward ``func`` only once its forward is right.

    outputs: {name: array} that the student's forward returned for the fixture ``case``
    (which stores the right values under the same names). A backward is judged against the
    numerical gradient of the student's OWN forward, so while that forward is wrong every
    gradient number would mislead: fail with "your forward fails: fix it first" instead.
    """
    for name, actual in outputs.items():
        try:
            problem = mismatch(name, actual, case[name], func=forward_name)
        except pytest.fail.Exception as e:          # not an array, or the wrong shape
            problem = "  " + str(e.msg).replace("\n", "\n  ")
        if problem:
            fail(f"{func}: not graded yet, because your forward fails: fix it first.\n"
                 f"  {forward_name}: {name} does not match fixtures.npz (see {forward_test}):\n"
                 f"{problem}\n"
                 f"  {func} is checked against the numerical gradient of your {forward_name}; "
                 f"until that forward is right, no gradient number here would mean anything.")


def part_fails(part, part_test, forward, inputs, dout, backward):
    """For ``check_backward(diagnose=...)``: None when ``part`` (a function the graded one is
    built on, e.g. the step backward inside the sequence backward) passes a gradient check on
    ``inputs``, else a sentence saying to fix it first.

    backward: no-argument function returning ``part``'s gradients {name in inputs: array}.
    """
    try:
        analytic = backward()
        numeric = numerical_gradients(forward, inputs, dout)
    except Exception as e:       # noqa: BLE001 -- whatever it is, the part is broken
        return f"your {part} raises {type(e).__name__}: {e}; fix it first ({part_test})."
    wrong = [k for k in inputs
             if not isinstance(analytic.get(k), np.ndarray) or analytic[k].shape != inputs[k].shape
             or wrong_entries(analytic[k], numeric[k]).any()]
    if not wrong:
        return None
    return (f"your {part} is wrong too ({', '.join('d' + k for k in wrong)}; {part_test} shows "
            f"how): fix it first, since this function runs it at every step.")


def check_backward(func, forward, inputs, dout, analytic, hints=None, forward_name=None,
                   gates=None, time_major=(), carried=None, gate_local=None, weights_summed=None,
                   local=None, diagnose=None):
    """Compare each analytic gradient with the numerical gradient of ``forward``.

    func: the backward's name; forward: no-argument closure over ``inputs`` (a dict of
    float64 arrays) returning the output(s) that ``dout`` is the gradient of; analytic:
    {name: your gradient of that input}; hints: {name: what to check when it is wrong};
    gates: e.g. "ifgo", to count wrong entries per gate block of the stacked weights.
    Every gradient is checked; one failure lists all wrong ones and names the right ones.

    When the pattern of wrong entries points at one mistake, the failure names it once
    ("root cause") in place of one hint per array. The lab says what to write for each
    pattern, tried in this order:

    diagnose:       no-argument function -> sentence or None, e.g. ``part_fails(...)``;
    carried:        for an input in ``time_major`` (axis 0 is time) whose gradient is right at
                    the last step only: what carries the gradient back in time (dh_next, ...);
    gate_local:     {gate: hint} when every wrong entry of the stacked weights is in one gate's
                    block: that gate's local derivative;
    weights_summed: when every input's gradient is right and every weight's is wrong;
    local:          when every gradient is wrong: the local derivative they all pass through.
    """
    hints = hints or {}
    missing = [k for k in inputs if k not in analytic]
    if missing:
        fail(f"{func} returned no gradient for {', '.join(missing)} (it returned "
             f"{', '.join(analytic) or 'nothing'}).")
    for k, x in inputs.items():
        check_array(func, "d" + k, analytic[k], x.shape, dims=f"the shape of {k}")
    numeric = numerical_gradients(forward, inputs, dout)
    bad = {k: wrong_entries(analytic[k], numeric[k]) for k in inputs}
    wrong = [k for k in inputs if bad[k].any()]
    if not wrong:
        return
    right = [k for k in inputs if k not in wrong]
    cause = _root_cause(bad, wrong, right, gates, time_major, carried, gate_local,
                        weights_summed, local, diagnose)
    problems = [mismatch("d" + k, analytic[k], numeric[k], "numerical",
                         "" if cause else hints.get(k, ""), func=func,
                         gates=gates if _is_weight(k) else None) for k in wrong]
    fail(f"{func}: {', '.join('d' + k for k in wrong)} "
         f"{'does' if len(wrong) == 1 else 'do'} not match the numerical gradient of your "
         f"{forward_name or 'forward'}"
         + (f" ({', '.join('d' + k for k in right)} correct)" if right else "") + ".\n"
         + (f"  root cause: {cause}\n" if cause else "")
         + "\n".join(problems))


def _root_cause(bad, wrong, right, gates, time_major, carried, gate_local, weights_summed, local,
                diagnose):
    """The one mistake that the wrong entries ``bad`` {name: bool array} point at, or None."""
    if diagnose is not None:
        found = diagnose()
        if found:
            return found
    for k in time_major:
        if carried and k in wrong and bad[k].ndim and bad[k].shape[0] > 1 and not bad[k][-1].any():
            T = bad[k].shape[0]
            return (f"d{k} is right at the last time step (t = {T - 1}) only and wrong at every "
                    f"step before it, so the gradient carried back in time is missing: {carried}")
    weights = [k for k in bad if _is_weight(k)]
    stacked, blocks = [], []
    if gates and gate_local:
        stacked = [k for k in wrong if _is_weight(k) and bad[k].shape[0] % len(gates) == 0]
        blocks = [g for g in gates if any(np.split(bad[k], len(gates), axis=0)[gates.index(g)].any()
                                          for k in stacked)]
        if stacked and len(blocks) == 1:
            return (f"every wrong entry of {', '.join('d' + k for k in stacked)} is in the "
                    f"{blocks[0]} block, so look at that gate's local derivative: "
                    f"{gate_local[blocks[0]]}")
    if weights_summed and weights and sorted(wrong) == sorted(weights) and right:
        return (f"{', '.join('d' + k for k in right)} {'is' if len(right) == 1 else 'are'} right "
                f"but every weight gradient is wrong: {weights_summed}")
    if local and not right and len(wrong) > 1:
        return f"every gradient is wrong, so the mistake is in what they all pass through: {local}"
    if stacked and 1 < len(blocks) < len(gates):
        fine = [g for g in gates if g not in blocks]
        return (f"the wrong entries of {', '.join('d' + k for k in stacked)} are in the "
                f"{', '.join(blocks)} blocks only ({', '.join(fine)} right), so look at how those "
                f"blocks of the stacked gradient are made, and that they are stacked in the order "
                f"{', '.join(gates)} as in the forward: "
                + " ".join(gate_local[g] for g in blocks))
    return None
