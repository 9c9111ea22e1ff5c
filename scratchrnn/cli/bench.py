"""Benchmark: scratchrnn's NumPy kernels against PyTorch on this CPU.

    python -m scratchrnn.bench                       # everything, three configurations
    python -m scratchrnn.bench --models lstm --config 64,64,128,512,2 --repeats 9
    python -m scratchrnn.bench --quick --json        # tiny sizes (what the test suite runs)

Workload (the same for both frameworks, float32, vocabulary 65): a character language
model, Embedding(V, E) -> RNN/LSTM/GRU(E, H, num_layers=L) -> Linear(H, V).

* train: tokens/s of one full training step on a (T, B) batch: forward, softmax
  cross-entropy, backward, clip_grad_norm_(1.0), Adam.step (ours built from scratchrnn.nn
  and scratchrnn.optim, theirs from torch.nn and torch.optim with their defaults).
* eval: tokens/s of the forward pass and the loss, no gradients (no_grad / inference_mode).
* gen: latency per token at B=1, one token at a time carrying the state, greedy (the next
  input is the argmax of the logits). Ours is the Stepper that generate_text uses; its
  one-off weight packing is not timed, as the building of the torch modules is not.
* memory: the peak number of bytes held in arrays (ours: tracemalloc, which sees every NumPy
  allocation) or tensors (theirs: the CPU allocator's running total reported by
  torch.profiler) during one training step, counting parameters, gradients, Adam state,
  activations and temporaries. ``--rss`` adds a cross-check from the operating system:
  each framework in a fresh subprocess, the rise of the resident-set high-water mark from
  just before the model is built to the end of two training steps.
* profile (ours only): the step is run with np.matmul timed inside the kernels; reported are
  the fraction of the step spent in matrix products, the step's FLOPs (2mnk summed over
  every product), the machine's matrix-product rate (a large float32 product) and the
  GEMM-bound floor: FLOPs / that rate, the time a step would take if it were nothing but
  matrix products running at full speed. "replay" times the same products (shapes and
  memory layouts recorded from the step) back to back, without anything between them.

Timing: for each measurement the two frameworks run in alternating blocks (ours, theirs,
ours, theirs, ...; ``--repeats`` blocks each, each block ~``--block-seconds`` long), so slow
drift of a shared machine hits both alike; medians over all timed steps are reported, and
the ratio ours/theirs in tokens/s (above 1 means we are faster). Both use the same number
of threads: torch.set_num_threads is set to OpenBLAS's thread count (or ``--threads``).
No number from this module is used in a test assertion.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
import types
from dataclasses import dataclass

import numpy as np

from ..kernels import activations as _k_act
from ..kernels import gru as _k_gru
from ..kernels import layers as _k_layers
from ..kernels import lstm as _k_lstm
from ..kernels import rnn as _k_rnn
from ..models.charlm import CharLM
from ..models.stepper import Stepper
from ..nn import GRU, LSTM, RNN, Embedding, Linear, no_grad, softmax_cross_entropy
from ..optim import Adam, clip_grad_norm_
from ._common import Parser, UsageError, run_main

VOCAB = 65
MODELS = ("lstm", "gru", "rnn")
LAYERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
SECTIONS = ("train", "eval", "gen", "charlm", "memory", "profile")


@dataclass(frozen=True)
class Config:
    B: int
    T: int
    E: int
    H: int
    L: int

    @classmethod
    def parse(cls, text):
        try:
            values = [int(v) for v in text.split(",")]
        except ValueError:
            values = []
        if len(values) != 5 or min(values) < 1:
            raise argparse.ArgumentTypeError(
                f"--config wants five positive integers B,T,E,H,L, got {text!r}")
        return cls(*values)

    @property
    def tokens(self):
        return self.B * self.T

    def __str__(self):
        return f"B{self.B} T{self.T} E{self.E} H{self.H} L{self.L}"


DEFAULT_CONFIGS = (Config(32, 64, 64, 128, 1), Config(32, 64, 128, 256, 2),
                   Config(64, 64, 128, 512, 2))
QUICK_CONFIG = Config(4, 6, 8, 12, 2)
DEFAULT_GEN = (128, 256, 2)          # E, H, L at B=1
QUICK_GEN = (8, 12, 1)


# ============================================================== threads and machine
def _openblas():
    """(get, set) for the OpenBLAS that NumPy loaded, via ctypes, or (None, None)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln}
    except OSError:
        return None, None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                               ("openblas", "64_"), ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype = ctypes.c_int
                set_.argtypes = [ctypes.c_int]
                return get, set_
    return None, None


def blas_threads(requested=None):
    """Set (if requested) and return NumPy's BLAS thread count, or None if unknown."""
    get, set_ = _openblas()
    if get is None:
        return None
    if requested:
        set_(int(requested))
    return int(get())


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "platform": platform.platform()}


def load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def import_torch(threads):
    try:
        import torch
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
    return torch


# ============================================================== the workloads
class Ours:
    """The char-LM built from scratchrnn modules and optimiser."""

    name = "scratchrnn"

    def __init__(self, kind, E, H, L, seed=0):
        rng = np.random.default_rng(seed)
        self.emb = Embedding(VOCAB, E, rng=rng)
        self.rnn = LAYERS[kind](E, H, num_layers=L, rng=rng)
        self.head = Linear(H, VOCAB, rng=rng)
        self.params = [p for m in (self.emb, self.rnn, self.head) for p in m.parameters()]
        self.opt = Adam(self.params, lr=1e-3)
        self.stepper = None         # made by the first (warm-up) generation

    def batch(self, x, y):
        return x, y

    def train_step(self, x, y):
        self.opt.zero_grad()
        out, _ = self.rnn(self.emb(x))
        loss, dlogits = softmax_cross_entropy(self.head(out), y)
        dx, _ = self.rnn.backward(self.head.backward(dlogits))
        self.emb.backward(dx)
        clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        return loss

    def eval_step(self, x, y):
        with no_grad():
            out, _ = self.rnn(self.emb(x))
            loss, _ = softmax_cross_entropy(self.head(out), y)
        return loss

    def generate(self, n, first=1):
        # The Stepper packs its weights once, when made (in the untimed warm-up call, as the
        # torch modules are made once); each generation starts from a zero state, as theirs.
        if self.stepper is None:
            self.stepper = Stepper(self.emb, self.rnn, self.head)
        self.stepper.reset()
        tok = first
        for _ in range(n):
            tok = self.stepper.step([tok]).argmax()
        return int(tok)

    def generate_modules(self, n, first=1):
        """The same greedy loop through the modules themselves, T = 1 calls under no_grad()
        (what a seq2seq or classifier decoder or a user's own loop does)."""
        tok, state = np.array([[first]]), None
        with no_grad():
            for _ in range(n):
                out, state = self.rnn(self.emb(tok), state)
                tok = self.head(out).argmax(axis=-1)
        return int(tok[0, 0])

    def persistent_bytes(self):
        return sum(p.data.nbytes + p.grad.nbytes for p in self.params) + sum(
            a.nbytes for bufs in self.opt.state.values() for a in bufs)


class Theirs:
    """The same char-LM in PyTorch (default modules, Adam and clipping)."""

    name = "torch"

    def __init__(self, torch, kind, E, H, L, seed=0):
        self.torch = torch
        torch.manual_seed(seed)
        nn = torch.nn
        self.emb = nn.Embedding(VOCAB, E)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](E, H, num_layers=L)
        self.head = nn.Linear(H, VOCAB)
        self.params = [p for m in (self.emb, self.rnn, self.head) for p in m.parameters()]
        self.opt = torch.optim.Adam(self.params, lr=1e-3)

    def batch(self, x, y):
        return self.torch.from_numpy(x), self.torch.from_numpy(y).reshape(-1)

    def load_from(self, ours):
        """Our weights into these modules (the same names: torch's)."""
        for mine, theirs in ((ours.emb, self.emb), (ours.rnn, self.rnn), (ours.head, self.head)):
            theirs.load_state_dict({k: self.torch.from_numpy(v) for k, v in mine.state_dict().items()})

    def train_step(self, x, y):
        self.opt.zero_grad()
        out, _ = self.rnn(self.emb(x))
        loss = self.torch.nn.functional.cross_entropy(self.head(out).reshape(-1, VOCAB), y)
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        return loss

    def eval_step(self, x, y):
        with self.torch.inference_mode():
            out, _ = self.rnn(self.emb(x))
            return self.torch.nn.functional.cross_entropy(self.head(out).reshape(-1, VOCAB), y)

    def generate(self, n, first=1):
        torch = self.torch
        tok, state = torch.tensor([[first]]), None
        with torch.inference_mode():
            for _ in range(n):
                out, state = self.rnn(self.emb(tok), state)
                tok = self.head(out).argmax(dim=-1)
        return int(tok[0, 0])

    def persistent_bytes(self):
        """Parameters and optimiser state (gradients are freed by zero_grad)."""
        n = sum(p.numel() * p.element_size() for p in self.params)
        for st in self.opt.state.values():
            n += sum(v.numel() * v.element_size() for v in st.values()
                     if self.torch.is_tensor(v) and v.dim() > 0)
        return n


def make_batch(cfg, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, VOCAB, (cfg.T, cfg.B)), rng.integers(0, VOCAB, (cfg.T, cfg.B)))


# ============================================================== alternated timing
def _time_calls(fn, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def alternate(fns, repeats, block_seconds, warmup=1):
    """Time each function in ``fns`` ({name: fn}) in alternating blocks.

    Each function is warmed up, then ``repeats`` rounds run one block of each in turn;
    a block repeats its function enough times to last about ``block_seconds``.
    Returns {name: [seconds per call, ...]} and the per-round block medians.
    """
    per_block = {}
    for name, fn in fns.items():
        warm = _time_calls(fn, warmup)
        per_block[name] = max(1, math.ceil(block_seconds / max(min(warm), 1e-6)))
    samples = {name: [] for name in fns}
    rounds = []
    for _ in range(repeats):
        rnd = {}
        for name, fn in fns.items():
            t = _time_calls(fn, per_block[name])
            samples[name] += t
            rnd[name] = statistics.median(t)
        rounds.append(rnd)
    return samples, rounds


def _summary(samples, rounds, scale):
    """scale / median seconds for each side; ratio ours/theirs (and the median of the
    per-round ratios, which is robust to drift between rounds)."""
    out = {name: {"median_s": statistics.median(t), "per_s": scale / statistics.median(t),
                  "n": len(t)} for name, t in samples.items()}
    if "torch" in samples:
        out["ratio"] = out["scratchrnn"]["per_s"] / out["torch"]["per_s"]
        out["ratio_paired"] = statistics.median(r["torch"] / r["scratchrnn"] for r in rounds)
    return out


def bench_throughput(kind, cfg, torch, repeats, block_seconds, what):
    x, y = make_batch(cfg)
    sides = {"scratchrnn": Ours(kind, cfg.E, cfg.H, cfg.L)}
    if torch is not None:
        sides["torch"] = Theirs(torch, kind, cfg.E, cfg.H, cfg.L)
    losses = {}
    if what == "eval" and torch is not None:    # the same weights, so the same loss
        sides["torch"].load_from(sides["scratchrnn"])
    fns = {}
    for name, m in sides.items():
        bx, by = m.batch(x, y)
        step = m.train_step if what == "train" else m.eval_step
        fns[name] = (lambda step=step, bx=bx, by=by: step(bx, by))
        if what == "eval":
            losses[name] = float(fns[name]())
    samples, rounds = alternate(fns, repeats, block_seconds, warmup=2)
    res = _summary(samples, rounds, cfg.tokens)
    if "torch" in losses:
        res["loss"], res["loss_diff"] = losses["scratchrnn"], abs(losses["scratchrnn"] - losses["torch"])
    return res


def bench_generation(kind, gen, torch, repeats, block_seconds, tokens):
    E, H, L = gen
    ours = Ours(kind, E, H, L)
    fns = {"scratchrnn": lambda: ours.generate(tokens),               # the Stepper
           "modules": lambda: ours.generate_modules(tokens)}          # T = 1 module calls
    if torch is not None:
        theirs = Theirs(torch, kind, E, H, L)
        fns["torch"] = lambda: theirs.generate(tokens)
    samples, rounds = alternate(fns, repeats, block_seconds, warmup=1)
    res = _summary(samples, rounds, tokens)            # per_s = tokens/s
    for name in fns:
        res[name]["us_per_token"] = 1e6 * res[name]["median_s"] / tokens
    if torch is not None:
        res["ratio_modules"] = res["modules"]["per_s"] / res["torch"]["per_s"]
    return res


class OursCharLM(Ours):
    """The same workload through scratchrnn.models.CharLM, with the embedding folded into
    layer 0 or not (``fold``; CharLM.folds decides when left to its rule)."""

    def __init__(self, kind, E, H, L, fold, seed=0):
        self.model = CharLM(VOCAB, kind, embedding_dim=E, hidden_size=H, num_layers=L,
                            rng=np.random.default_rng(seed))
        self.model.fold_embedding = fold
        self.params = list(self.model.parameters())
        self.opt = Adam(self.params, lr=1e-3)

    def train_step(self, x, y):
        self.opt.zero_grad()
        logits, _ = self.model(x)
        loss, dlogits = softmax_cross_entropy(logits, y)
        self.model.backward(dlogits)
        clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        return loss


def bench_charlm(kind, cfg, torch, repeats, block_seconds):
    """CharLM's training step with the folded embedding, without it, and PyTorch's."""
    x, y = make_batch(cfg)
    sides = {"folded": OursCharLM(kind, cfg.E, cfg.H, cfg.L, True),
             "unfolded": OursCharLM(kind, cfg.E, cfg.H, cfg.L, False)}
    if torch is not None:
        sides["torch"] = Theirs(torch, kind, cfg.E, cfg.H, cfg.L)
    fns = {}
    for name, m in sides.items():
        bx, by = m.batch(x, y)
        fns[name] = (lambda m=m, bx=bx, by=by: m.train_step(bx, by))
    samples, rounds = alternate(fns, repeats, block_seconds, warmup=2)
    res = {name: {"median_s": statistics.median(t), "per_s": cfg.tokens / statistics.median(t),
                  "n": len(t)} for name, t in samples.items()}
    probe = sides["unfolded"].model
    probe.fold_embedding = "auto"                       # what CharLM's rule would choose
    res["rule_folds"] = bool(probe.folds(cfg.tokens, training=True))
    probe.fold_embedding = False
    res["fold_speedup"] = res["folded"]["per_s"] / res["unfolded"]["per_s"]
    res["fold_speedup_paired"] = statistics.median(r["unfolded"] / r["folded"] for r in rounds)
    if torch is not None:
        res["ratio"] = res["folded"]["per_s"] / res["torch"]["per_s"]
        res["ratio_unfolded"] = res["unfolded"]["per_s"] / res["torch"]["per_s"]
    return res


# ============================================================== memory
def memory_ours(kind, cfg):
    """Peak bytes of NumPy arrays alive during one training step (tracemalloc)."""
    x, y = make_batch(cfg)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        base0 = tracemalloc.get_traced_memory()[0]
        m = Ours(kind, cfg.E, cfg.H, cfg.L)
        m.train_step(x, y)                     # steady state: every buffer exists once
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        m.train_step(x, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return {"peak_bytes": peak - base0, "at_start_bytes": start - base0,
            "persistent_bytes": m.persistent_bytes()}


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C-level stderr (Kineto prints start/stop lines when profiling)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def memory_torch(torch, kind, cfg):
    """Peak bytes of tensors alive during one training step: parameters and Adam state
    (alive before the step) plus the peak of the CPU allocator's running total during the
    step, from torch.profiler's memory events."""
    import tempfile
    from torch.profiler import ProfilerActivity, profile

    x, y = make_batch(cfg)
    m = Theirs(torch, kind, cfg.E, cfg.H, cfg.L)
    bx, by = m.batch(x, y)
    m.train_step(bx, by)
    m.opt.zero_grad()                        # frees the gradients before profiling starts
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        m.train_step(bx, by)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "trace.json")
        with _quiet_stderr():
            prof.export_chrome_trace(path)
        with open(path) as f:
            trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    totals = [e["args"]["Total Allocated"] for e in events
              if e.get("name") == "[memory]" and "Total Allocated" in e.get("args", {})]
    persistent = m.persistent_bytes()
    return {"peak_bytes": persistent + max(totals, default=0), "at_start_bytes": persistent,
            "persistent_bytes": persistent, "events": len(totals)}


_RSS_CHILD = r"""
import sys, json
sys.path.insert(0, {root!r})
from scratchrnn.cli import bench
print(json.dumps(bench._rss_child({side!r}, {kind!r}, bench.Config(*{cfg!r}), {threads!r})))
"""


def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _rss_child(side, kind, cfg, threads):
    """In a fresh process, after the imports: reset the RSS high-water mark, build the model
    and optimiser, run two training steps; return how far the high-water mark rose above
    the RSS before the model was built (parameters, gradients, optimiser state, activations,
    temporaries, plus whatever the allocators keep)."""
    torch = import_torch(threads) if side == "torch" else None
    blas_threads(threads)
    x, y = make_batch(cfg)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                         # resets VmHWM to the current RSS
    before = _status_kib("VmRSS")
    m = Ours(kind, cfg.E, cfg.H, cfg.L) if side == "scratchrnn" else Theirs(torch, kind, cfg.E, cfg.H, cfg.L)
    bx, by = m.batch(x, y)
    m.train_step(bx, by)
    m.train_step(bx, by)
    return {"rss_rise_bytes": (_status_kib("VmHWM") - before) * 1024,
            "rss_before_bytes": before * 1024}


def memory_rss(side, kind, cfg, threads):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = _RSS_CHILD.format(root=root, side=side, kind=kind,
                             cfg=(cfg.B, cfg.T, cfg.E, cfg.H, cfg.L), threads=threads)
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=600, check=True)
        return json.loads(res.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError, OSError) as e:
        return {"error": str(e)[:200]}


# ============================================================== profile: matrix products
_KERNEL_MODULES = (_k_rnn, _k_lstm, _k_gru, _k_layers, _k_act)


class _MatmulRecorder:
    """Stands in for ``np`` inside the kernel modules: np.matmul is timed and its operand
    shapes and strides recorded; every other attribute is NumPy's own."""

    def __init__(self):
        self.seconds = 0.0
        self.flops = 0
        self.calls = []
        ns = types.ModuleType("numpy_with_timed_matmul")

        def fallback(name):                  # PEP 562: first lookup copies NumPy's attribute
            value = getattr(np, name)
            setattr(ns, name, value)
            return value
        ns.__getattr__ = fallback
        ns.matmul = self.matmul
        self.namespace = ns

    def matmul(self, a, b, out=None, **kw):
        t0 = time.perf_counter()
        r = np.matmul(a, b, out=out, **kw)
        self.seconds += time.perf_counter() - t0
        a, b = np.asarray(a), np.asarray(b)
        m = a.shape[-2] if a.ndim > 1 else 1
        k = a.shape[-1]
        n = b.shape[-1] if b.ndim > 1 else 1
        batch = int(np.prod(r.shape[:-2])) if r.ndim > 2 else 1
        self.flops += 2 * m * k * n * batch
        self.calls.append(((a.shape, a.strides, a.dtype.str), (b.shape, b.strides, b.dtype.str),
                           out is not None))
        return r

    @contextlib.contextmanager
    def installed(self):
        saved = [mod.np for mod in _KERNEL_MODULES]
        for mod in _KERNEL_MODULES:
            mod.np = self.namespace
        try:
            yield self
        finally:
            for mod, orig in zip(_KERNEL_MODULES, saved):
                mod.np = orig

    def reset(self):
        self.seconds, self.flops, self.calls = 0.0, 0, []


def _strided_like(shape, strides, dtype, rng):
    dtype = np.dtype(dtype)
    if any(s < 0 for s in strides):
        return rng.standard_normal(shape).astype(dtype)
    span = 1 + sum((n - 1) * s for n, s in zip(shape, strides)) // dtype.itemsize
    base = rng.standard_normal(max(span, 1)).astype(dtype)
    return np.lib.stride_tricks.as_strided(base, shape, strides)


def replay_seconds(calls, repeats=3):
    """Run the recorded products back to back (same shapes and memory layouts)."""
    rng = np.random.default_rng(0)
    ops = []
    for (ash, ast, adt), (bsh, bst, bdt), with_out in calls:
        a, b = _strided_like(ash, ast, adt, rng), _strided_like(bsh, bst, bdt, rng)
        out = np.matmul(a, b) if with_out else None
        ops.append((a, b, out))
    best = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for a, b, out in ops:
            np.matmul(a, b, out=out)
        best.append(time.perf_counter() - t0)
    return statistics.median(best)


def gemm_rate(n=1024, dtype=np.float32, repeats=10):
    """FLOP/s of one large square product, the best of ``repeats``: the machine's
    matrix-product rate (the best, because the floor it defines should be a bound)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    out = np.empty((n, n), dtype)
    np.matmul(a, b, out=out)
    times = _time_calls(lambda: np.matmul(a, b, out=out), repeats)
    return 2 * n ** 3 / min(times)


def profile_step(kind, cfg, rate, steps=3):
    """Fraction of our training step spent in matrix products, FLOPs and the GEMM floor."""
    x, y = make_batch(cfg)
    m = Ours(kind, cfg.E, cfg.H, cfg.L)
    m.train_step(x, y)
    rec = _MatmulRecorder()
    runs = []
    with rec.installed():
        for _ in range(steps):
            rec.reset()
            t0 = time.perf_counter()
            m.train_step(x, y)
            runs.append((time.perf_counter() - t0, rec.seconds, rec.flops, rec.calls))
    step_s, mm_s, flops, calls = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    replay = replay_seconds(calls)
    return {"step_s": step_s, "matmul_s": mm_s, "matmul_fraction": mm_s / step_s,
            "matmul_calls": len(calls), "flops": flops, "gemm_rate": rate,
            "matmul_gflops": flops / mm_s / 1e9 if mm_s else None,
            "floor_s": flops / rate, "floor_fraction": flops / rate / step_s,
            "replay_s": replay, "replay_fraction": replay / step_s}


# ============================================================== report
def _fmt_rate(v):
    return "-" if v is None else (f"{v / 1e3:,.1f}k" if v >= 1e4 else f"{v:,.0f}")


def _row(cells, widths):
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def print_report(res, out=None):
    out = sys.stdout if out is None else out
    meta = res["meta"]
    p = lambda s="": print(s, file=out)            # noqa: E731
    p(f"scratchrnn.bench: {meta['cpu']}, {meta['cores']} cores; numpy {meta['numpy']} "
      f"(BLAS threads {meta['blas_threads']}); torch {meta.get('torch') or 'not installed'}"
      + (f" (threads {meta['torch_threads']})" if meta.get("torch") else ""))
    p(f"command: {meta['command']}")
    p(f"load average {meta['load_start']} at start, {meta['load_end']} at end; float32, vocab {VOCAB}; "
      f"{meta['repeats']} alternated blocks per measurement, medians")
    has_torch = bool(meta.get("torch"))
    for what, title in (("train", "Training step (tokens/s)"), ("eval", "Forward-only evaluation (tokens/s)")):
        rows = [r for r in res["results"] if r["section"] == what]
        if not rows:
            continue
        p()
        p(title + (" (modules under no_grad; torch under inference_mode with our weights, "
                   "|dloss| = the two losses' difference)" if what == "eval" else ""))
        loss = what == "eval" and has_torch
        w = (6, 22, 12, 12, 7, 7) + ((8,) if loss else ())
        p(_row(("model", "config", "scratchrnn", "torch", "ratio", "paired")
               + (("|dloss|",) if loss else ()), w))
        for r in rows:
            p(_row((r["model"], r["config"], _fmt_rate(r["scratchrnn"]["per_s"]),
                    _fmt_rate(r["torch"]["per_s"]) if has_torch else "-",
                    f"{r['ratio']:.2f}x" if has_torch else "-",
                    f"{r['ratio_paired']:.2f}x" if has_torch else "-")
                   + ((f"{r['loss_diff']:.1e}",) if loss else ()), w))
    rows = [r for r in res["results"] if r["section"] == "gen"]
    if rows:
        p()
        p(f"Generation at B=1 (E{rows[0]['E']} H{rows[0]['H']} L{rows[0]['L']}), one token at a time "
          f"carrying the state (us/token; stepper = CharLM's fast path, modules = T = 1 calls "
          f"of Embedding, the layer, Linear under no_grad)")
        w = (6, 9, 9, 9, 9, 9)
        p(_row(("model", "stepper", "modules", "torch", "stepper", "modules"), w))
        p(_row(("", "", "", "", "speedup", "speedup"), w))
        for r in rows:
            p(_row((r["model"], f"{r['scratchrnn']['us_per_token']:.0f}",
                    f"{r['modules']['us_per_token']:.0f}",
                    f"{r['torch']['us_per_token']:.0f}" if has_torch else "-",
                    f"{r['ratio']:.1f}x" if has_torch else "-",
                    f"{r['ratio_modules']:.1f}x" if has_torch else "-"), w))
    rows = [r for r in res["results"] if r["section"] == "charlm"]
    if rows:
        p()
        p("CharLM training step, embedding folded into layer 0 or not (tokens/s; torch: the same "
          "model from torch.nn)")
        w = (6, 22, 10, 10, 10, 8, 8, 9, 10)
        p(_row(("model", "config", "folded", "unfolded", "torch", "fold", "paired", "folded/",
                "unfolded/"), w))
        p(_row(("", "", "", "", "", "speedup", "", "torch", "torch"), w))
        for r in rows:
            p(_row((r["model"], r["config"], _fmt_rate(r["folded"]["per_s"]),
                    _fmt_rate(r["unfolded"]["per_s"]),
                    _fmt_rate(r["torch"]["per_s"]) if has_torch else "-",
                    f"{r['fold_speedup']:.2f}x", f"{r['fold_speedup_paired']:.2f}x",
                    f"{r['ratio']:.2f}x" if has_torch else "-",
                    f"{r['ratio_unfolded']:.2f}x" if has_torch else "-"), w))
    rows = [r for r in res["results"] if r["section"] == "memory"]
    if rows:
        p()
        p("Peak memory of one training step (MiB; all live arrays/tensors incl. parameters, "
          "gradients, Adam state)")
        rss = any("rss" in r for r in rows)
        w = (6, 22, 11, 11, 7) + ((12, 12) if rss else ())
        p(_row(("model", "config", "scratchrnn", "torch", "ratio")
               + (("RSS ours", "RSS torch") if rss else ()), w))
        mib = lambda b: f"{b / 2**20:.1f}"          # noqa: E731
        for r in rows:
            cells = [r["model"], r["config"], mib(r["scratchrnn"]["peak_bytes"]),
                     mib(r["torch"]["peak_bytes"]) if has_torch else "-",
                     f"{r['scratchrnn']['peak_bytes'] / r['torch']['peak_bytes']:.2f}" if has_torch else "-"]
            if rss:
                cells += [mib(r["rss"][s]["rss_rise_bytes"]) if "rss_rise_bytes" in r["rss"].get(s, {})
                          else "-" for s in ("scratchrnn", "torch")]
            p(_row(cells, w))
    rows = [r for r in res["results"] if r["section"] == "profile"]
    if rows:
        p()
        p(f"Where our training step goes (np.matmul timed inside the kernels; matrix-product "
          f"rate {rows[0]['gemm_rate'] / 1e9:.0f} GFLOP/s on a 1024^3 float32 product)")
        w = (6, 22, 9, 10, 8, 7, 10, 9, 10, 9)
        p(_row(("model", "config", "step ms", "matmul ms", "matmul", "GFLOP", "GFLOP/s",
                "floor ms", "floor/step", "replay ms"), w))
        for r in rows:
            p(_row((r["model"], r["config"], f"{r['step_s'] * 1e3:.1f}", f"{r['matmul_s'] * 1e3:.1f}",
                    f"{100 * r['matmul_fraction']:.0f}%", f"{r['flops'] / 1e9:.2f}",
                    f"{r['matmul_gflops']:.0f}", f"{r['floor_s'] * 1e3:.1f}",
                    f"{100 * r['floor_fraction']:.0f}%", f"{r['replay_s'] * 1e3:.1f}"), w))


# ============================================================== data parallel (--mpi N)
MPI_CONFIG = Config(32, 64, 64, 256, 2)      # python -m scratchrnn.train's default model


def mpi_rank(kind, cfg, steps):
    """One rank of ``--mpi``, started by mpiexec: the training step of scratchrnn.training on
    this rank's share of a (T, B) batch (scratchrnn.distributed), timed in three parts:
    forward+backward, the gradient Allreduce (which includes waiting for the slowest rank)
    and clip+Adam; then, after a barrier, the same Allreduce alone (the communication itself).
    Rank 0 returns the medians; the other ranks None."""
    from ..distributed import data_parallel
    from ..models import CharLM
    dp = data_parallel()
    if cfg.B % dp.size:
        raise UsageError(f"--config batch {cfg.B} does not split into {dp.size} equal shares")
    model = CharLM(VOCAB, kind, cfg.E, cfg.H, cfg.L, rng=np.random.default_rng(0))
    params = list(model.parameters())
    opt = Adam(params, lr=1e-3)
    rows = dp.rows(cfg.B)
    x, y = (a[:, rows] for a in make_batch(cfg))
    parts = []
    for step in range(steps + 1):                      # the first is a warm-up
        if dp.comm:
            dp.comm.Barrier()
        t0 = time.perf_counter()
        logits, _ = model(x)
        loss, dlogits = softmax_cross_entropy(logits, y)
        opt.zero_grad()
        model.backward(dlogits)
        t1 = time.perf_counter()
        dp.allreduce_gradients(params, loss, y.size)
        t2 = time.perf_counter()
        clip_grad_norm_(params, 5.0)
        opt.step()
        t3 = time.perf_counter()
        if dp.comm:
            dp.comm.Barrier()
        t4 = time.perf_counter()
        dp.allreduce_gradients(params, loss, y.size)
        t5 = time.perf_counter()
        if step:
            parts.append((t3 - t0, t1 - t0, t2 - t1, t3 - t2, t5 - t4))
    if not dp.is_root:
        return None
    step_s, compute_s, allreduce_s, update_s, pure_s = (statistics.median(v) for v in zip(*parts))
    return {"section": "mpi", "model": kind, "config": str(cfg), "ranks": dp.size,
            "rows_per_rank": cfg.B // dp.size, "steps": steps,
            "gradient_bytes": sum(p.data.nbytes for p in params),
            "tokens_per_s": cfg.tokens / step_s, "step_s": step_s, "compute_s": compute_s,
            "allreduce_s": allreduce_s, "update_s": update_s, "allreduce_alone_s": pure_s}


def bench_mpi(args, log):
    """``--mpi N``: the data-parallel step on 1 and N ranks (and the powers of two between),
    each rank with one BLAS thread, through mpiexec."""
    from ..distributed import mpi_available
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = beside if os.path.exists(beside) else shutil.which("mpiexec")
    if mpiexec is None or not mpi_available():
        raise UsageError("--mpi needs mpi4py and mpiexec: pip install 'scratchrnn[mpi]'")
    counts = sorted({1, args.mpi} | {2 ** k for k in range(1, 8) if 2 ** k < args.mpi})
    cfg = args.config[0] if args.config else (QUICK_CONFIG if args.quick else MPI_CONFIG)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    results = []
    for n in counts:
        log(f"mpi {args.models[0]} {cfg} on {n} rank(s)")
        cmd = [mpiexec, "-n", str(n), sys.executable, "-m", "scratchrnn.bench", "--mpi-rank",
               "--models", args.models[0], "--config", ",".join(map(str, (cfg.B, cfg.T, cfg.E, cfg.H, cfg.L))),
               "--repeats", str(args.repeats)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise UsageError(f"mpiexec -n {n} failed: {proc.stderr.strip()[-500:]}")
        results.append(json.loads(proc.stdout))
    meta = machine_info()
    meta.update(blas_threads=1, load_start=None, load_end=load_average(),
                command="python -m scratchrnn.bench " + " ".join(args.argv))
    return {"meta": meta, "results": results}


def print_mpi_report(res, out=None):
    out = out or sys.stdout
    rows = res["results"]
    one = rows[0]["tokens_per_s"]
    print(f"data-parallel training step, {rows[0]['model'].upper()} {rows[0]['config']}, "
          f"{rows[0]['gradient_bytes'] / 2**20:.2f} MiB of gradients, one BLAS thread per rank", file=out)
    w = (6, 10, 10, 9, 11, 12, 12, 13)
    print(_row(("ranks", "rows/rank", "tok/s", "speed-up", "step ms", "compute ms",
                "allreduce ms", "alone ms"), w), file=out)
    for r in rows:
        print(_row((r["ranks"], r["rows_per_rank"], f"{r['tokens_per_s']:,.0f}",
                    f"{r['tokens_per_s'] / one:.2f}x", f"{r['step_s'] * 1e3:.1f}",
                    f"{r['compute_s'] * 1e3:.1f}", f"{r['allreduce_s'] * 1e3:.2f}",
                    f"{r['allreduce_alone_s'] * 1e3:.3f}"), w), file=out)
    print("allreduce ms: in the step, waiting for the slowest rank included; alone ms: the same "
          "Allreduce right after a barrier", file=out)


# ============================================================== main
def parse_args(argv=()):
    ap = Parser(prog="python -m scratchrnn.bench", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated subset of lstm,gru,rnn (default: all)")
    ap.add_argument("--config", type=Config.parse, action="append", metavar="B,T,E,H,L",
                    help="batch, steps, embedding, hidden, layers; repeat for several "
                         "(default: 32,64,64,128,1 32,64,128,256,2 64,64,128,512,2)")
    ap.add_argument("--gen", default=None, metavar="E,H,L",
                    help="generation model at B=1 (default 128,256,2)")
    ap.add_argument("--gen-tokens", type=int, default=None, help="tokens per generation block (200)")
    ap.add_argument("--repeats", type=int, default=None, help="alternated blocks per measurement (5)")
    ap.add_argument("--block-seconds", type=float, default=None,
                    help="approximate length of one timed block (0.3)")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help="comma-separated subset of " + ",".join(SECTIONS))
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for both frameworks (default: NumPy's OpenBLAS count)")
    ap.add_argument("--no-torch", action="store_true", help="do not compare with PyTorch")
    ap.add_argument("--rss", action="store_true",
                    help="also measure the RSS high-water rise of a step in subprocesses")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one block: a smoke test")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--mpi", type=int, default=None, metavar="N",
                    help="instead: the data-parallel training step on 1..N ranks through mpiexec "
                         "(one BLAS thread each; --config, first of --models; default "
                         f"{','.join(map(str, (MPI_CONFIG.B, MPI_CONFIG.T, MPI_CONFIG.E, MPI_CONFIG.H, MPI_CONFIG.L)))})")
    ap.add_argument("--mpi-rank", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mpi is not None and args.mpi < 1:
        ap.error(f"--mpi wants a number of ranks >= 1, got {args.mpi}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    bad_s = [s for s in sections if s not in SECTIONS]
    if bad or not models:
        ap.error(f"--models: unknown {bad}; choose from {', '.join(MODELS)}")
    if bad_s:
        ap.error(f"--sections: unknown {bad_s}; choose from {', '.join(SECTIONS)}")
    args.models, args.sections, args.argv = models, sections, list(argv)
    if args.gen is not None:
        try:
            args.gen = tuple(int(v) for v in args.gen.split(","))
            assert len(args.gen) == 3 and min(args.gen) >= 1
        except (ValueError, AssertionError):
            ap.error(f"--gen wants three positive integers E,H,L, got {args.gen!r}")
    q = args.quick
    args.configs = args.config or ([QUICK_CONFIG] if q else list(DEFAULT_CONFIGS))
    args.gen = args.gen or (QUICK_GEN if q else DEFAULT_GEN)
    args.gen_tokens = args.gen_tokens if args.gen_tokens is not None else (5 if q else 200)
    args.repeats = args.repeats if args.repeats is not None else (1 if q else 5)
    args.block_seconds = args.block_seconds if args.block_seconds is not None else (0.0 if q else 0.3)
    if args.repeats < 1 or args.gen_tokens < 1 or args.block_seconds < 0:
        ap.error("--repeats and --gen-tokens must be >= 1, --block-seconds >= 0")
    return args


def run(args, log=None):
    """Run the benchmark described by parsed ``args``; returns the results dict."""
    log = log or (lambda s: None)
    threads = blas_threads(args.threads)
    torch = None if args.no_torch else import_torch(threads or args.threads)
    meta = machine_info()
    meta.update(blas_threads=threads, torch=None if torch is None else torch.__version__,
                torch_threads=None if torch is None else torch.get_num_threads(),
                repeats=args.repeats, block_seconds=args.block_seconds, load_start=load_average(),
                command="python -m scratchrnn.bench " + " ".join(args.argv))
    results = []
    rate = None
    for kind in args.models:
        for cfg in args.configs:
            common = {"model": kind, "config": str(cfg), "B": cfg.B, "T": cfg.T, "E": cfg.E,
                      "H": cfg.H, "L": cfg.L}
            for what in ("train", "eval"):
                if what in args.sections:
                    log(f"{what} {kind} {cfg}")
                    r = bench_throughput(kind, cfg, torch, args.repeats, args.block_seconds, what)
                    results.append({"section": what, **common, **r})
            if "charlm" in args.sections:
                log(f"charlm {kind} {cfg}")
                r = bench_charlm(kind, cfg, torch, args.repeats, args.block_seconds)
                results.append({"section": "charlm", **common, **r})
            if "memory" in args.sections:
                log(f"memory {kind} {cfg}")
                r = {"section": "memory", **common, "scratchrnn": memory_ours(kind, cfg)}
                if torch is not None:
                    r["torch"] = memory_torch(torch, kind, cfg)
                if args.rss:
                    r["rss"] = {s: memory_rss(s, kind, cfg, threads)
                                for s in (("scratchrnn", "torch") if torch is not None else ("scratchrnn",))}
                results.append(r)
            if "profile" in args.sections:
                log(f"profile {kind} {cfg}")
                # re-measured each time; the best of all is used below (a bound, robust
                # to a busy moment)
                rate = max(rate or 0.0, gemm_rate(n=256 if args.quick else 1024))
                results.append({"section": "profile", **common, **profile_step(kind, cfg, rate)})
        if "gen" in args.sections:
            log(f"gen {kind}")
            E, H, L = args.gen
            r = bench_generation(kind, args.gen, torch, args.repeats, args.block_seconds,
                                 args.gen_tokens)
            results.append({"section": "gen", "model": kind, "E": E, "H": H, "L": L, **r})
    for r in results:               # every floor with the best matrix-product rate seen
        if r["section"] == "profile":
            r["gemm_rate"] = rate
            r["floor_s"] = r["flops"] / rate
            r["floor_fraction"] = r["floor_s"] / r["step_s"]
    meta["load_end"] = load_average()
    return {"meta": meta, "results": results}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    result = {}

    def work():
        args = parse_args(argv)
        log = (lambda s: None) if args.json else (lambda s: print(f"  ... {s}", file=sys.stderr, flush=True))
        if args.mpi_rank:         # one rank of --mpi
            r = mpi_rank(args.models[0], args.configs[0], 5 * args.repeats)
            if r is not None:
                print(json.dumps(r))
            return
        if args.mpi:
            result.update(bench_mpi(args, log))
            if args.json:
                print(json.dumps(result, indent=1))
            else:
                print_mpi_report(result)
            return
        result.update(run(args, log))
        if args.json:
            print(json.dumps(result, indent=1, default=float))
        else:
            print_report(result)

    return run_main(work)


if __name__ == "__main__":
    sys.exit(main())
