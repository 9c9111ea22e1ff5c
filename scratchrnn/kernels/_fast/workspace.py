"""Recycled work buffers for the sequence kernels (docs/performance.md).

Why: a large NumPy array gets fresh memory from the operating system, which maps and zeroes
it page by page the first time it is touched. On the benchmark machine that page-fault work
cost about as much as all the element-wise work of an LSTM forward at H=128. The sequence
kernels therefore take their large *internal* buffers (state histories, gate buffers,
per-step gradient buffers) from here and hand them back when they are done: a forward's
buffers return when its cache is garbage (after backward, or when an evaluation drops it),
a backward's temporaries at its end. The next call with the same shapes gets them back,
already mapped.

Rules that keep this safe:
* only buffers that never escape to the caller are recycled (outputs, final states and
  gradients are always fresh arrays or copies);
* a recycled buffer is fully written before it is read, so results never depend on it;
* at most ``MAX_IDLE_BYTES`` are kept idle; ``clear()`` drops them all.
"""
import weakref

import numpy as np

MIN_BYTES = 1 << 16            # smaller arrays are cheap to get from malloc's free lists
MAX_IDLE_BYTES = 1 << 30

_idle = {}                     # (shape tuple, np.dtype) -> [idle arrays]
_idle_bytes = 0


def empty(shape, dtype):
    """Like ``np.empty`` (``shape`` a tuple), but reuses an idle buffer of the same shape
    and dtype if there is one."""
    global _idle_bytes
    stack = _idle.get((shape, np.dtype(dtype)))
    if stack:
        a = stack.pop()
        _idle_bytes -= a.nbytes
        return a
    return np.empty(shape, dtype)


def give_back(*arrays):
    """Make ``arrays`` available to later ``empty`` calls. The caller must not use them
    afterwards (nor any view of them)."""
    global _idle_bytes
    for a in arrays:
        if a is None or a.base is not None or a.nbytes < MIN_BYTES:
            continue
        if _idle_bytes + a.nbytes > MAX_IDLE_BYTES:
            continue
        _idle.setdefault((a.shape, a.dtype), []).append(a)
        _idle_bytes += a.nbytes


def give_back_when_dead(owner, *arrays):
    """Give ``arrays`` back once ``owner`` (a forward cache) has been garbage-collected."""
    arrays = [a for a in arrays if a.nbytes >= MIN_BYTES and a.base is None]
    if arrays:
        weakref.finalize(owner, give_back, *arrays)


def clear():
    """Drop every idle buffer (their memory returns to NumPy/the OS)."""
    global _idle_bytes
    _idle.clear()
    _idle_bytes = 0


def idle_bytes():
    return _idle_bytes

