"""Synchronous data-parallel training over MPI (mpi4py), and its single-process stand-in.

    mpiexec -n 2 python -m scratchrnn.train --batch_size 32 ...     # 2 ranks x 16 sequences

Every rank holds the whole model, corpus and batch stream, built from the same seed, so they
start identical. At each step rank r takes rows r*B/N ... (r+1)*B/N of the global (T, B)
batch, runs forward and backward on them, and ONE Allreduce sums the gradients, each rank's
weighted by its token count (its loss is a mean over its own tokens): afterwards every rank
holds the gradient of the mean loss over the whole batch, exactly what one process computes,
so clipping and the optimiser step run identically and the parameters stay identical
(``check_replicas`` checks that at every validation). Draws from the model's generator
(dropout masks, scheduled sampling) are this rank's rows of what one process draws for the
global batch, the other ranks' numbers skipped (``RowShareGenerator``): N ranks compute what
one process computes.

Without mpi4py, or when not started by an MPI launcher (mpiexec, mpirun, srun), ``data_parallel()``
is a ``DataParallel`` of size 1 whose every method is the identity and MPI is never imported.

Faults: a rank that dies is noticed by the launcher (mpiexec ends the others); an unexpected
exception on one rank calls MPI Abort (``abort_on_error``), as the others would otherwise wait
for it forever. Ctrl-C and SIGTERM are turned into a flag that travels with ``agree``, so every
rank stops at the same step, as one process does (training.Interrupted: last saved, exit 130).
"""
import contextlib
import functools
import hashlib
import importlib.util
import os
import pickle
import signal
import sys
import time
import traceback

import numpy as np

# Variables that launchers set in each process they start: MPICH/Intel (hydra), Open MPI, PMIx
# (Open MPI 5, srun --mpi=pmix), Slurm's srun.
_LAUNCHER_SIZE = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS")
_LAUNCHER_RANK = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


def _launcher_env():
    """(rank, size) as the launcher's environment tells them, or None when no launcher is seen."""
    size = next((os.environ[k] for k in _LAUNCHER_SIZE if k in os.environ), None)
    rank = next((os.environ[k] for k in _LAUNCHER_RANK if k in os.environ), None)
    if rank is None:
        return None
    return int(rank), int(size) if size is not None else None


def mpi_available():
    """True when mpi4py can be imported (it is not imported here)."""
    return importlib.util.find_spec("mpi4py") is not None


@functools.lru_cache(maxsize=None)
def data_parallel():
    """The data-parallel world of this process (one per process: MPI's world is global)."""
    launched = _launcher_env()
    if launched is None or launched[1] == 1:
        return DataParallel(None)
    try:
        from mpi4py import MPI
    except ImportError:
        from .training import ConfigError
        rank, size = launched
        if rank != 0:          # every rank fails alike; rank 0 alone says so
            sys.stderr = open(os.devnull, "w")
        raise ConfigError(f"started as one of {size or 'several'} processes by an MPI launcher, "
                          f"but mpi4py is not installed: pip install 'scratchrnn[mpi]' (mpi4py "
                          f"and an MPI), or run without mpiexec") from None
    return DataParallel(MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None)


class DataParallel:
    """``comm`` an mpi4py communicator of several ranks, or None: one process, every method
    the identity."""

    def __init__(self, comm):
        self.comm = comm
        self.rank = comm.Get_rank() if comm else 0
        self.size = comm.Get_size() if comm else 1
        self.is_root = self.rank == 0
        self.stop_signal = 0      # the strongest stop signal seen: 0, or an index in _STOPS
        self._buffer = None
        if comm:
            self._exit_comm = comm.Dup()       # for _all_here alone
            # Ctrl-C and SIGTERM (mpiexec forwards both to every rank, srun and scancel send
            # them to every task) become a flag that agree() shares
            for sig in _STOPS[1:]:
                signal.signal(sig, self._on_signal)

    def __repr__(self):
        return f"DataParallel(rank={self.rank}, size={self.size})"

    def _on_signal(self, signum, frame):
        self.stop_signal = max(self.stop_signal, _STOPS.index(signum))

    # ------------------------------------------------------------ the batch split
    def rows(self, batch_size):
        """This rank's rows of a global batch: a slice, the same length on every rank."""
        share = batch_size // self.size
        return slice(self.rank * share, (self.rank + 1) * share)

    def share_draws(self, model, batch_size):
        """Make every module of ``model`` that draws from the model's generator draw through a
        RowShareGenerator: what one process would draw for the global batch, this rank's rows."""
        if self.size == 1:
            return
        shared = RowShareGenerator(model.rng, self.rows(batch_size), batch_size)
        for m in model.modules():
            if getattr(m, "rng", None) is model.rng and m is not model:
                m.rng = shared
        model.rng = shared

    def take_rows(self, state):
        """A hidden state of the global batch, (num_layers, B, H) (LSTM: a pair) -> this rank's
        rows of it."""
        if self.size == 1 or state is None:
            return state
        if isinstance(state, tuple):
            return tuple(self.take_rows(s) for s in state)
        return np.ascontiguousarray(state[:, self.rows(state.shape[1])])

    def gather_rows(self, state):
        """The inverse of take_rows, on rank 0 (None elsewhere); every rank must call it."""
        if self.size == 1 or state is None:
            return state
        if isinstance(state, tuple):
            parts = tuple(self.gather_rows(s) for s in state)
            return parts if self.is_root else None
        state = np.ascontiguousarray(state)
        received = np.empty((self.size,) + state.shape, state.dtype) if self.is_root else None
        self.comm.Gather(state, received, root=0)
        # (N, L, B/N, H) -> (L, B, H): rank r's rows come r-th
        return np.concatenate(list(received), axis=1) if self.is_root else None

    # ------------------------------------------------------------ the step
    def allreduce_gradients(self, params, loss, tokens):
        """Sum ``tokens`` x (each parameter's .grad, the loss) over the ranks with one Allreduce
        of a single flat buffer, then divide by the total token count: every rank ends with the
        gradient of the mean loss over the global batch in .grad. Returns that mean loss."""
        if self.size == 1:
            return loss
        from mpi4py import MPI
        sizes = [p.grad.size for p in params]
        n, dtype = sum(sizes), params[0].grad.dtype
        if self._buffer is None or self._buffer.shape != (n + 2,) or self._buffer.dtype != dtype:
            self._buffer = np.empty(n + 2, dtype)      # made once, reused every step
        buf = self._buffer
        np.concatenate([p.grad.ravel() for p in params], out=buf[:n])
        buf[:n] *= tokens
        buf[n], buf[n + 1] = loss * tokens, tokens
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        total = buf[n + 1]
        offset = 0
        for p, k in zip(params, sizes):
            np.divide(buf[offset:offset + k], total, out=p.grad.reshape(-1))
            offset += k
        return float(buf[n]) / float(total)

    def agree(self, elapsed):
        """Rank 0's clock, and a Ctrl-C or SIGTERM on any rank, shared by all: every rank then
        stops at the same step (time limit), or raises training.Interrupted at the same point."""
        if self.size == 1:
            return elapsed
        from mpi4py import MPI
        values = np.array([elapsed if self.is_root else 0.0, float(self.stop_signal)])
        self.comm.Allreduce(values.copy(), values, op=MPI.MAX)
        if values[1]:
            from .training import Interrupted
            self.stop_signal = 0
            raise Interrupted(_STOPS[int(values[1])].name)
        return float(values[0])

    def mean(self, value):
        """The mean of a float over the ranks (e.g. validation: each rank's mean over its rows)."""
        if self.size == 1:
            return value
        return self.comm.allreduce(float(value)) / self.size

    def check_replicas(self, params, step):
        """Raise ReplicasDiffer on every rank unless all hold the same parameters, bit for bit
        (one SHA-256 of them per rank, gathered: a few milliseconds)."""
        if self.size == 1:
            return
        h = hashlib.sha256()
        for p in params:
            h.update(np.ascontiguousarray(p.data).tobytes())
        digests = self.comm.allgather(h.hexdigest())
        if len(set(digests)) > 1:
            differ = [r for r, d in enumerate(digests) if d != digests[0]]
            raise ReplicasDiffer(f"at step {step} the parameters of rank(s) {differ} differ from "
                                 f"rank 0's: the {self.size} ranks no longer train one model. "
                                 f"This is a bug in the data-parallel step (or a hardware fault); "
                                 f"the last checkpoint was written before it was seen")

    # ------------------------------------------------------------ output and faults
    def on_root(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` on rank 0 alone (writing files); an exception there is raised
        on every rank, so that all of them stop together. Returns fn's result on rank 0."""
        if self.size == 1:
            return fn(*args, **kwargs)
        result = error = None
        if self.is_root:
            try:
                result = fn(*args, **kwargs)
            except Exception as e:
                error = e
            try:
                pickle.dumps(error)
            except Exception:             # an exception that cannot travel: its text can
                error = RuntimeError(f"{type(error).__name__}: {error}")
        error = self.comm.bcast(error, root=0)
        if error is not None:
            raise error
        return result

    def quiet_unless_root(self):
        """Ranks other than 0 write nothing to stdout and stderr (rank 0 speaks for all);
        abort_on_error still reports their unexpected errors."""
        if not self.is_root:
            sys.stdout = sys.stderr = open(os.devnull, "w")

    @contextlib.contextmanager
    def abort_on_error(self, collective=(), wait=15.0):
        """Exceptions of the ``collective`` types are those every rank raises at the same point
        (a refused flag, a divergence seen in reduced numbers, an agreed Ctrl-C): they pass,
        once every rank has arrived here within ``wait`` seconds. Any other exception, or a
        collective one that only this rank raised, ends the whole run with MPI Abort, since the
        other ranks would otherwise wait for this one forever."""
        try:
            yield
        except BaseException as e:
            if self.size == 1 or isinstance(e, SystemExit) and e.code in (0, None):
                raise
            if isinstance(e, collective) and self._all_here(wait):
                raise
            report = ("".join(traceback.format_exception(type(e), e, e.__traceback__))
                      if not isinstance(e, collective) else f"error: {e}\n")
            sys.__stderr__.write(f"rank {self.rank} of {self.size} failed, ending the run "
                                 f"(MPI Abort):\n{report}")
            sys.__stderr__.flush()
            self.comm.Abort(1)

    def _all_here(self, wait):
        """Whether every rank reaches this point within ``wait`` seconds: a barrier on a
        communicator of its own, so that ranks stuck in a collective of the training loop
        cannot match it."""
        request = self._exit_comm.Ibarrier()
        deadline = time.monotonic() + wait
        while not request.Test():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True


_STOPS = (None, signal.SIGINT, signal.SIGTERM)      # agree() shares the strongest


class ReplicasDiffer(RuntimeError):
    """The ranks' parameters are no longer identical (raised on every rank at once)."""


class RowShareGenerator:
    """Stands in for a model's ``np.random.Generator`` on one rank. ``random(shape)``, the
    generator's only use while training, returns this rank's rows of what one process would
    draw for the global batch: the batch axis is CharLM's, axis 1 of a time-major (T, B, .)
    array (dropout masks), axis 0 of (B,) and (B, 1) (scheduled sampling).

    A PCG64 generator (``np.random.default_rng``'s) makes one 64-bit output per float64, and
    ``advance(n)`` skips n outputs in O(log n) time, so the rank skips the other ranks' rows
    instead of drawing them: its cost does not grow with the number of ranks. Any other
    generator draws the whole global batch and keeps its rows. Either way the generator ends
    where one process's would, on every rank. Everything else (``bit_generator``, for
    checkpoints) is the wrapped generator's."""

    def __init__(self, rng, rows, global_rows):
        self.rng, self.share, self.global_rows = rng, rows, global_rows
        self.skips = isinstance(rng.bit_generator, (np.random.PCG64, np.random.PCG64DXSM))

    def random(self, size, dtype=np.float64):
        shape = tuple(np.atleast_1d(size).tolist())
        axis = 1 if len(shape) == 3 else 0
        want = self.share.stop - self.share.start
        if len(shape) > 3 or shape[axis] != want:
            raise RuntimeError(f"RowShareGenerator: a draw of shape {shape} does not have this "
                               f"rank's {want} batch rows on axis {axis}; only CharLM's dropout "
                               f"and scheduled-sampling draws can be split across ranks")
        if not self.skips or np.dtype(dtype) != np.float64:
            full = shape[:axis] + (self.global_rows,) + shape[axis + 1:]
            return self.rng.random(full, dtype=dtype)[(slice(None),) * axis + (self.share,)]
        # In C order the global draw is `outer` blocks of global_rows x `inner` numbers; this
        # rank's rows are one run of want x inner numbers inside each block.
        outer, inner = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1:]))
        before, after = self.share.start * inner, (self.global_rows - self.share.stop) * inner
        out = np.empty((outer, want * inner))
        for block in out:
            self.rng.bit_generator.advance(before)
            self.rng.random(out=block)
            self.rng.bit_generator.advance(after)
        return out.reshape(shape)

    def __getattr__(self, name):
        return getattr(self.rng, name)
