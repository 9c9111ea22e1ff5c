"""Training a character (or word) language model: the loop and what every program shares.

    from scratchrnn.training import make_config, train
    run = train(make_config(max_steps=200, hidden_size=128))     # returns the run's state

``python -m scratchrnn.train`` (scratchrnn/cli/train.py) is this module behind a parser; the
classifier and experiment programs share ``make_optimizer`` and ``DivergenceGuard`` from here.
A run's settings are one namespace with the fields of ``DEFAULTS`` (the command line's flags).

Each step: a (seq_length, batch_size) batch from B parallel streams over the text, the
hidden state carried over from the previous batch (truncated BPTT), softmax cross-entropy,
backward, clip-by-norm, one optimiser step. Every --eval_interval steps: validation loss and
perplexity, a short sample, ``last`` (and ``best``, when validation improved) checkpoints.
At the end: ``loss.png`` and ``history.csv`` in --save_dir.
"""
import csv
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import types
import warnings
from pathlib import Path

import numpy as np

from . import optim
from .checkpoint import (CheckpointError, check_model_arrays, checkpoint_paths, load_checkpoint,
                         save_checkpoint)
from .data import (BatchStream, CharVocab, CorpusDownloadWarning, WordVocab, load_corpus,
                   split_corpus, vocab_from_dict)
from .distributed import data_parallel
from .models import CharLM
from .nn import no_grad, softmax_cross_entropy

OPTIMIZERS = {"adam": optim.Adam, "adamw": optim.AdamW, "sgd": optim.SGD,
              "adagrad": optim.Adagrad, "rmsprop": optim.RMSprop}

# The default recipe was chosen by ten-minute runs on Tiny Shakespeare (docs/results.md, "The
# default recipe"): dropout against the overfitting that flattened validation from minute 4.5,
# a budget schedule that ends at min_lr when --max_minutes runs out, and the largest model
# whose steps still fit the ten minutes.
DEFAULTS = dict(
    data_file=None, vocab_type="char", max_vocab_size=None, val_frac=0.05, test_frac=0.05,
    model_type="lstm", hidden_size=320, num_layers=2, embedding_dim=96, dropout=0.3,
    dtype="float32", epochs=20, max_steps=None, max_minutes=10.0, batch_size=32, seq_length=64,
    learning_rate=3e-3, optimizer="adam", momentum=0.9, weight_decay=0.0, max_grad_norm=None,
    teacher_forcing_ratio=1.0, lr_schedule="budget", lr_decay=1.0, warmup_steps=100, min_lr=1e-4,
    eval_interval=500, patience=None, save_dir="runs/shakespeare", resume=None, seed=42,
    sample_length=200, temperature=0.8, print_every=5.0)
# What a resumed run takes from the checkpoint and may not change: the model and its data.
FIXED_ON_RESUME = ("data_file", "vocab_type", "max_vocab_size", "val_frac", "test_frac",
                   "model_type", "hidden_size", "num_layers", "embedding_dim", "dtype",
                   "batch_size", "seq_length", "seed", "lr_schedule", "lr_decay", "warmup_steps",
                   "min_lr")


class ConfigError(ValueError):
    """A setting or a corpus that a run cannot use; the message names it and the fix."""


class Diverged(Exception):
    """The loss became non-finite or climbed far above its start."""


class SaveFailed(ConfigError):
    """A checkpoint or output file could not be written (disk full, permissions); the previous
    checkpoint is intact (every file is written to a temporary name and renamed into place)."""


# ------------------------------------------------------------------ settings
def make_config(**settings):
    """A run's settings: ``DEFAULTS`` with ``settings`` replacing some (unknown names refused)."""
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; the settings are: "
                          f"{', '.join(DEFAULTS)}")
    return types.SimpleNamespace(**{**DEFAULTS, **settings})


def check_args(args):
    """Impossible values get a message that names the flag."""
    positive = ("hidden_size", "num_layers", "embedding_dim", "batch_size", "seq_length",
                "epochs", "eval_interval", "sample_length")
    for k in positive:
        if getattr(args, k) < 1:
            raise ConfigError(f"--{k} must be at least 1, got {getattr(args, k)}")
    for k, default in DEFAULTS.items():      # NaN passes every comparison below as False or True
        v = getattr(args, k, None)
        if isinstance(v, float) or isinstance(default, float) and isinstance(v, (int, float)):
            if not math.isfinite(v):
                raise ConfigError(f"--{k} must be a finite number, got {v}")
    checks = [
        (args.learning_rate > 0, f"--learning_rate must be positive, got {args.learning_rate}"),
        (0 <= args.dropout < 1, f"--dropout must be in [0, 1), got {args.dropout}"),
        (0 <= args.teacher_forcing_ratio <= 1,
         f"--teacher_forcing_ratio must be in [0, 1], got {args.teacher_forcing_ratio}"),
        (0 < args.lr_decay <= 1, f"--lr_decay must be in (0, 1], got {args.lr_decay}"),
        (args.max_grad_norm is None or args.max_grad_norm > 0,
         f"--max_grad_norm/--clip must be positive, got {args.max_grad_norm}"),
        (args.max_steps is None or args.max_steps >= 1, f"--max_steps must be at least 1, got {args.max_steps}"),
        (args.max_minutes >= 0, f"--max_minutes must be >= 0, got {args.max_minutes}"),
        (args.patience is None or args.patience >= 1, f"--patience must be at least 1, got {args.patience}"),
        (args.max_vocab_size is None or args.max_vocab_size >= 2,
         f"--max_vocab_size must be at least 2, got {args.max_vocab_size}"),
        (args.warmup_steps >= 0, f"--warmup_steps must be >= 0, got {args.warmup_steps}"),
        (0 <= args.min_lr < args.learning_rate,
         f"--min_lr must be in [0, --learning_rate), got {args.min_lr}"),
        (args.weight_decay >= 0, f"--weight_decay must be >= 0, got {args.weight_decay}"),
        (args.temperature >= 0, f"--temperature must be >= 0, got {args.temperature}"),
        (args.momentum >= 0, f"--momentum must be >= 0, got {args.momentum}"),
        (args.print_every >= 0, f"--print_every must be >= 0, got {args.print_every}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


# ------------------------------------------------------------------ building blocks
def make_optimizer(name, params, lr, momentum=0.9, weight_decay=0.0):
    """An optimiser from scratchrnn.optim by its command-line name."""
    cls = OPTIMIZERS[name]
    kwargs = {"lr": lr, "weight_decay": weight_decay}
    if name in ("sgd", "rmsprop"):
        kwargs["momentum"] = momentum
    return cls(params, **kwargs)


def make_schedule(args, optimizer, steps_per_epoch, total_steps):
    kind = "step" if args.lr_schedule == "constant" and args.lr_decay < 1 else args.lr_schedule
    if kind == "step":
        return optim.StepLR(optimizer, steps_per_epoch, args.lr_decay, args.warmup_steps)
    if kind == "cosine":
        return optim.CosineLR(optimizer, total_steps, args.warmup_steps, args.min_lr)
    if kind == "budget":     # down to min_lr when --max_minutes or the step budget runs out
        return optim.BudgetCosineLR(optimizer, total_steps, args.max_minutes * 60 or None,
                                    args.warmup_steps, args.min_lr)
    if args.warmup_steps:
        return optim.StepLR(optimizer, total_steps + 1, 1.0, args.warmup_steps)
    return None


def evaluate(model, ids, batch_size, seq_length, rows=slice(None)):
    """Mean cross-entropy (nats per token) of the model over ids, state carried across batches;
    ``rows``: of each batch only these sequences (one rank's share)."""
    stream = BatchStream(ids, batch_size, seq_length, name="the validation split")
    model.eval()
    total, state = 0.0, None
    with no_grad():
        for x, y in stream:
            logits, state = model(x[:, rows], state)
            total += softmax_cross_entropy(logits, y[:, rows])[0]
    model.train()
    return total / len(stream)


class DivergenceGuard:
    """Stops a run whose loss is not finite, or whose smoothed loss climbs `margin` nats
    above where it started (a learning rate too high for the model)."""

    def __init__(self, margin=2.0, smoothing=0.9):
        self.margin, self.smoothing = margin, smoothing
        self.start = self.ema = None

    def check(self, loss, step):
        if not math.isfinite(loss):
            raise Diverged(f"the training loss became {loss} at step {step}")
        self.ema = loss if self.ema is None else self.smoothing * self.ema + (1 - self.smoothing) * loss
        self.start = self.ema if self.start is None else self.start
        if self.ema > self.start + self.margin:
            raise Diverged(f"the training loss climbed from {self.start:.2f} to {self.ema:.2f} "
                           f"(smoothed) by step {step}")

    def too_high(self, loss):
        """Whether a loss (e.g. a validation's) is `margin` nats above the starting loss."""
        return self.start is not None and loss > self.start + self.margin

    def state_dict(self):
        return {"start": self.start, "ema": self.ema}

    def load_state_dict(self, state):
        self.start, self.ema = state["start"], state["ema"]


# ------------------------------------------------------------------ data
def load_data(args, vocab=None, notes=None):
    """Corpus -> (vocab, train_ids, val_ids); the vocabulary is built unless given (resume).
    ``notes``, a list, receives the corpus's warnings (e.g. offline: the built-in corpus)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            text = load_corpus(args.data_file or "tinyshakespeare")
    except (OSError, ValueError) as e:
        raise ConfigError(str(e)) from None
    for w in caught:     # e.g. offline: said plainly, without Python's source-line noise
        print(f"warning: {w.message}", file=sys.stderr)
        if notes is not None:
            notes.append(w)
    if not text.strip():
        raise ConfigError(f"the corpus {args.data_file or 'tinyshakespeare'} has no text to learn from")
    if vocab is None:
        cls = WordVocab if args.vocab_type == "word" else CharVocab
        vocab = cls.from_text(text, max_vocab_size=args.max_vocab_size)
    try:
        ids = vocab.encode(text)
        train_ids, val_ids, _ = split_corpus(ids, args.val_frac, args.test_frac)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    need = args.batch_size * args.seq_length + 1
    if val_ids.size < need:
        raise ConfigError(
            f"the validation split has {val_ids.size} tokens but batch_size={args.batch_size} x "
            f"seq_length={args.seq_length} needs at least {need}: the corpus ({ids.size} tokens) "
            f"should have at least {math.ceil(need / max(args.val_frac, 1e-9))} tokens, or use "
            f"smaller --batch_size/--seq_length, or a larger --val_frac")
    return vocab, train_ids, val_ids


# ------------------------------------------------------------------ checkpoints
def _state_arrays(state):
    if state is None:
        return {}
    parts = state if isinstance(state, tuple) else (state,)
    return {f"hidden/{i}": s for i, s in enumerate(parts)}


def _state_from_arrays(arrays):
    parts = [arrays[f"hidden/{i}"] for i in range(2) if f"hidden/{i}" in arrays]
    if not parts:
        return None
    return tuple(parts) if len(parts) == 2 else parts[0]


def save(path, run):
    """Everything needed to continue bit for bit: parameters, optimiser buffers, the carried
    hidden state, the model's generator, the stream position, schedule and history."""
    opt_state = run["optimizer"].state_dict()
    arrays = {"model/" + k: v for k, v in run["model"].state_dict().items()}
    scalars = {}
    for k, v in opt_state.items():
        if isinstance(v, list):
            arrays.update({f"optim/{k}/{i}": a for i, a in enumerate(v)})
        else:
            scalars[k] = v
    arrays.update(_state_arrays(run["state"]))
    meta = {
        "model": run["model"].config(), "vocab": run["vocab"].to_dict(), "args": vars(run["args"]),
        "optimizer": scalars,
        "schedule": run["schedule"].state_dict() if run["schedule"] else None,
        "rng": run["model"].rng.bit_generator.state, "stream": run["stream"].state_dict(),
        "step": run["step"], "elapsed": run["elapsed"], "best_val": run["best_val"],
        "bad_evals": run["bad_evals"], "history": run["history"],
        # what the logged (smoothed) train loss and the divergence guard carry between steps,
        # so that a run resumed from any step logs what the uninterrupted run logs
        "recent": run["recent"], "guard": run["guard"].state_dict(),
    }
    try:
        save_checkpoint(path, arrays, meta)
    except OSError as e:
        raise SaveFailed(f"could not write the checkpoint {path}.npz ({e}); the previous "
                         f"checkpoint there, if any, is intact. Free some space or fix the "
                         f"folder's permissions, then resume from it") from None


def restore(run, arrays, meta, given, out):
    """Put a saved run back. A different --optimizer starts with fresh optimiser state; a new
    --learning_rate replaces the saved one; everything else continues exactly."""
    args, opt = run["args"], run["optimizer"]
    run["model"].load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model/")})
    if meta["optimizer"].get("type") == type(opt).__name__:
        opt_state = dict(meta["optimizer"])
        for name in opt.state:
            opt_state[name] = [arrays[f"optim/{name}/{i}"] for i in range(len(opt.params))]
        opt.load_state_dict(opt_state)
    else:
        out(f"note: the optimiser changed from {meta['optimizer'].get('type')} to "
            f"{type(opt).__name__}: its state starts fresh")
    if "learning_rate" in given:
        opt.lr = args.learning_rate
    schedule = run["schedule"]
    if schedule and meta.get("schedule"):
        saved, planned = dict(meta["schedule"]), schedule.state_dict()
        if isinstance(schedule, optim.BudgetCosineLR):
            # A longer (or shorter) budget re-plans the decay: the rate continues as if the
            # run had been planned that long from the start.
            if (saved.get("total_steps"), saved.get("seconds")) != \
                    (planned["total_steps"], planned["seconds"]):
                out(f"note: the budget schedule is re-planned for the new budget (was "
                    f"{saved.get('total_steps')} steps / {(saved.get('seconds') or 0) / 60:g} "
                    f"minutes)")
                saved.update(total_steps=planned["total_steps"], seconds=planned["seconds"])
        elif saved.get("total_steps") not in (None, planned.get("total_steps")):
            raise ConfigError(f"this run's cosine schedule was planned for {saved['total_steps']} "
                             f"steps; it cannot be stretched on resume (resume with the same "
                             f"--max_steps/--epochs, use --lr_schedule budget, or start a new run)")
        schedule.load_state_dict(saved)
        if "learning_rate" in given:
            schedule.base_lr = args.learning_rate
            opt.lr = schedule.get_lr()
    run["model"].rng.bit_generator.state = meta["rng"]
    try:
        run["stream"].load_state_dict(meta["stream"])
    except ValueError as e:
        raise ConfigError(f"the training data changed since the checkpoint was saved ({e})") from None
    run["state"] = _state_from_arrays(arrays)
    for k in ("step", "elapsed", "best_val", "bad_evals", "history"):
        run[k] = meta[k]
    run["recent"] = list(meta.get("recent", []))      # absent in checkpoints before 2026-12
    if meta.get("guard"):
        run["guard"].load_state_dict(meta["guard"])


def _check_resumed_state(run):
    """The carried hidden state must fit the model and batch (it is fed straight in)."""
    args, state = run["args"], run["state"]
    want = (args.num_layers, args.batch_size, args.hidden_size)
    parts = state if isinstance(state, tuple) else () if state is None else (state,)
    if len(parts) not in (0, 2 if args.model_type == "lstm" else 1) or any(
            np.shape(s) != want for s in parts):
        raise ValueError(f"the saved hidden state has shapes {[np.shape(s) for s in parts]}, "
                         f"the model needs {want}")
    if not isinstance(run["step"], int) or not isinstance(run["history"], dict):
        raise ValueError("the saved step or history is not what train writes")


def resume_args(args, given):
    """Flags of a resumed run: the checkpoint's, except those the user set that may change."""
    arrays, meta = load_checkpoint(args.resume)
    saved = meta.get("args")
    if not isinstance(saved, dict) or not isinstance(meta.get("optimizer"), dict):
        raise CheckpointError(f"{args.resume} is not a training checkpoint (no saved training "
                              f"state): resume from a 'last' checkpoint of python -m scratchrnn.train")
    # The model is built from the saved flags: they must describe the arrays that are there
    # (checked without building anything), or a damaged file could ask for any amount of memory.
    config = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    check_model_arrays(checkpoint_paths(args.resume)[0], config,
                        {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")})
    differ = [k for k in ("model_type", "hidden_size", "num_layers", "embedding_dim", "dtype")
              if saved.get(k) != config.get(k)]
    if differ:
        raise CheckpointError(f"{args.resume} is damaged: its saved flags "
                              f"({', '.join('--' + k for k in differ)}) do not describe its model")
    changed = [k for k in FIXED_ON_RESUME if k in given and getattr(args, k) != saved.get(k)]
    if changed:
        raise ConfigError("cannot change " + ", ".join("--" + k for k in changed) +
                         " when resuming (the checkpoint's model and data are fixed)")
    for k, v in saved.items():
        if k not in given and k != "resume" and hasattr(args, k):
            setattr(args, k, v)
    return arrays, meta


# ------------------------------------------------------------------ the loop
def train(args, given=frozenset(), out=print):
    """Run training as the flags say; returns the run dict (model, history, best_val...)."""
    resumed = resume_args(args, given) if args.resume else None
    check_args(args)
    dp = data_parallel()
    if args.batch_size % dp.size:
        raise ConfigError(f"--batch_size {args.batch_size} does not split into {dp.size} equal "
                          f"shares, one per rank: use a multiple of {dp.size}")
    out = out if dp.is_root else (lambda *a, **k: None)      # rank 0 speaks for all
    vocab = vocab_from_dict(resumed[1]["vocab"]) if resumed else None
    notes = []
    vocab, train_ids, val_ids = load_data(args, vocab, notes)
    fallback = [w for w in notes if issubclass(w.category, CorpusDownloadWarning)
                and "built-in corpus" in str(w.message)]
    if "save_dir" not in given and args.save_dir == DEFAULTS["save_dir"] and not resumed:
        # named after the corpus actually used: the built-in text must not fill runs/shakespeare
        args.save_dir = str(Path("runs") / ("builtin" if fallback else
                                            Path(args.data_file).stem if args.data_file else
                                            "shakespeare"))
    save_dir = Path(args.save_dir)
    dp.on_root(prepare_save_dir, save_dir, out)      # a refusal stops every rank
    try:
        stream = BatchStream(train_ids, args.batch_size, args.seq_length, name="the training split")
    except ValueError as e:
        raise ConfigError(str(e)) from None
    rng = np.random.default_rng(args.seed)
    model = CharLM(len(vocab), args.model_type, args.embedding_dim, args.hidden_size,
                   args.num_layers, args.dropout, dtype=np.dtype(args.dtype), rng=rng)
    dp.share_draws(model, args.batch_size)
    params = list(model.parameters())
    opt = make_optimizer(args.optimizer, params, args.learning_rate, args.momentum, args.weight_decay)
    total_steps = args.max_steps or args.epochs * len(stream)
    run = dict(args=args, model=model, vocab=vocab, optimizer=opt, stream=stream, val_ids=val_ids,
               schedule=make_schedule(args, opt, len(stream), total_steps), state=None, step=0,
               elapsed=0.0, best_val=None, bad_evals=0,
               history={"train": [], "val": []}, recent=[], guard=DivergenceGuard(),
               last_saved=None, corpus_warnings=[str(w.message).split("\n")[0] for w in fallback])
    if resumed:
        try:
            restore(run, *resumed, given, out)
            _check_resumed_state(run)
        except ConfigError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise CheckpointError(f"{args.resume} cannot be resumed: its training state is "
                                  f"incomplete or damaged ({type(e).__name__}: {e})") from None
        run["state"] = dp.take_rows(run["state"])     # saved for the global batch
    dp.on_root(check_free_space, save_dir, run)
    if dp.size > 1:
        out(f"data parallel: {dp.size} ranks x {args.batch_size // dp.size} sequences")
    out(f"data: {len(train_ids):,} training and {len(val_ids):,} validation tokens, vocabulary "
        f"of {len(vocab)}; {len(stream)} batches of {args.batch_size}x{args.seq_length} per epoch")
    out(f"model: {args.model_type.upper()} {args.num_layers}x{args.hidden_size}, embedding "
        f"{args.embedding_dim}, dropout {args.dropout:g}, {model.num_parameters():,} parameters, "
        f"{args.dtype}; {args.optimizer} lr {args.learning_rate:g} ({args.lr_schedule} schedule), "
        f"clip {args.max_grad_norm}, teacher forcing {args.teacher_forcing_ratio:g}")
    if resumed:
        out(f"resumed from {args.resume} at step {run['step']}")
    try:
        with _DeferredInterrupts(enabled=dp.size == 1) as interrupts:
            _loop(run, total_steps, save_dir, out, interrupts)
    except KeyboardInterrupt as e:
        # At a step boundary (a deferred Ctrl-C/SIGTERM, or the ranks' agreed Ctrl-C) the
        # run is whole and is kept; a second Ctrl-C mid-step leaves the last checkpoint as it is.
        if isinstance(e, Interrupted) or dp.size > 1:
            _save_interrupted(run, save_dir, out, getattr(e, "signal_name", "SIGINT"))
        raise
    except Diverged as e:
        last = save_dir / "last.npz"
        kept = (f"the last good checkpoint is kept: {last}" if last.exists()
                else "no checkpoint had been saved yet")
        if run["last_saved"] is not None and last.exists():
            step, val = run["last_saved"]
            kept += f" (step {step}" + (f", validation loss {val:.4f})" if val is not None else ")")
        if run["best_val"] is not None and (save_dir / "best.npz").exists():
            kept += f"; the best is {save_dir / 'best.npz'} (validation loss {run['best_val']:.4f})"
        clip = (f"a smaller --clip than {args.max_grad_norm:g}" if args.max_grad_norm
                else "gradient clipping with --clip 5")
        raise Diverged(f"{e}: stopping; {kept}. Try a lower --learning_rate (e.g. "
                       f"{args.learning_rate / 3:g}) or {clip}.") from None
    _finish(run, save_dir, out)
    return run


def _loop(run, total_steps, save_dir, out, interrupts=None):
    args, model, opt, stream = run["args"], run["model"], run["optimizer"], run["stream"]
    params = list(model.parameters())
    dp = data_parallel()
    rows = dp.rows(args.batch_size)      # this rank's share of every batch
    guard, recent = run["guard"], run["recent"]
    tokens = args.batch_size * args.seq_length
    t_last_print, window = time.perf_counter(), []
    limit = args.max_minutes * 60 if args.max_minutes else math.inf
    model.train()
    # Wall clock since the run began (validations included), continued across a resume.
    t_start = time.perf_counter() - run["elapsed"]
    session = (run["step"], run["elapsed"])      # for the pace: this process's steps and time
    while run["step"] < total_steps and run["elapsed"] < limit and \
            (args.max_steps or stream.epoch < args.epochs):
        t0 = time.perf_counter()
        x, y = stream.next_batch()
        x, y = x[:, rows], y[:, rows]        # this rank's share (all of it in one process)
        if args.teacher_forcing_ratio < 1:
            logits, state = model.forward_scheduled(x, run["state"], args.teacher_forcing_ratio)
        else:
            logits, state = model(x, run["state"])
        loss, dlogits = softmax_cross_entropy(logits, y)
        opt.zero_grad()
        model.backward(dlogits)
        loss = dp.allreduce_gradients(params, loss, y.size)    # the whole batch's, on every rank
        guard.check(loss, run["step"] + 1)
        if args.max_grad_norm:
            gnorm = optim.clip_grad_norm_(params, args.max_grad_norm)
        else:
            gnorm = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params))
        if not math.isfinite(gnorm):      # checked before the update: parameters stay finite
            raise Diverged(f"the gradient norm became {gnorm} at step {run['step'] + 1}")
        opt.step()
        run["state"] = state     # carried into the next batch; the gradient stops here
        run["step"] += 1
        window.append((loss, gnorm, time.perf_counter() - t0))
        recent[:] = recent[-9:] + [float(loss)]
        run["elapsed"] = dp.agree(time.perf_counter() - t_start)   # all ranks stop together
        if run["schedule"]:      # after the agreed clock: a budget schedule reads it
            run["schedule"].step(run["elapsed"])
        step = run["step"]
        if step % 10 == 0 or step == 1:
            run["history"]["train"].append([step, round(run["elapsed"], 3),
                                            float(np.mean(recent)),
                                            float(gnorm), float(opt.lr)])
        now = time.perf_counter()
        if step == 1 or now - t_last_print >= args.print_every:
            _progress(run, window, tokens, total_steps, limit, out, session)
            t_last_print, window = now, []
        if step % args.eval_interval == 0 and step < total_steps:
            stop = _validate(run, save_dir, out)
            run["elapsed"] = dp.agree(time.perf_counter() - t_start)
            if stop:
                out(f"early stopping: no improvement in {args.patience} validations")
                break
        if interrupts is not None:
            interrupts.check()        # a Ctrl-C or SIGTERM during this step stops here


def _progress(run, window, tokens, total_steps, limit, out, session=(0, 0.0)):
    """One progress line. The end shown is the step the run will really reach: the step budget,
    or the last step that fits in --max_minutes, whichever comes first. Both it and the time
    left come from this process's average pace (validations included), which is steady, not
    from the last few steps."""
    loss = np.mean([w[0] for w in window])
    step_time = np.mean([w[2] for w in window])
    done = run["step"] - session[0]
    pace = max(run["elapsed"] - session[1], 1e-9) / max(done, 1)
    end, left = total_steps, (total_steps - run["step"]) * pace
    if limit - run["elapsed"] < left:
        end = min(total_steps, run["step"] + int(max(limit - run["elapsed"], 0) / pace))
        left = limit - run["elapsed"]
    out(f"step {run['step']:>6}/{end}  epoch {run['stream'].epoch + 1}  loss {loss:.4f}  "
        f"grad norm {window[-1][1]:7.3f}  {tokens / step_time:8,.0f} tok/s  "
        f"time left {format_clock(max(left, 0))}" + ("  (--max_minutes)" if end < total_steps else ""))


def format_clock(seconds):
    """Seconds as m:ss or h:mm:ss (negative as 0:00), for progress lines."""
    m, s = divmod(int(max(seconds, 0)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def _validate(run, save_dir, out):
    """Validation loss, a sample, checkpoints; returns True when early stopping triggers."""
    args, model, dp = run["args"], run["model"], data_parallel()
    val = dp.mean(evaluate(model, run["val_ids"], args.batch_size, args.seq_length,
                           rows=dp.rows(args.batch_size)))
    dp.check_replicas(model.parameters(), run["step"])
    if not math.isfinite(val):
        raise Diverged(f"the validation loss became {val} at step {run['step']}")
    if run["guard"].too_high(val):     # judged before "best": a diverged model is never saved
        raise Diverged(f"the validation loss {val:.2f} at step {run['step']} is far above the "
                       f"starting loss {run['guard'].start:.2f}")
    run["history"]["val"].append([run["step"], round(run["elapsed"], 3), val])
    improved = run["best_val"] is None or val < run["best_val"]
    run["bad_evals"] = 0 if improved else run["bad_evals"] + 1
    if improved:
        run["best_val"] = val
    snapshot = dict(run, state=dp.gather_rows(run["state"]))    # the global batch's state
    dp.on_root(save, save_dir / "last", snapshot)      # a failed write stops every rank
    if improved:
        dp.on_root(save, save_dir / "best", snapshot)
    run["last_saved"] = (run["step"], val)
    out(f"validation: loss {val:.4f} nats/token, perplexity {math.exp(min(val, 700)):.2f}"
        f"{'  (best, saved)' if improved else ''}")
    if dp.is_root:
        out(_sample(run))
    return args.patience is not None and run["bad_evals"] >= args.patience


def _sample(run):
    """A short sample; its own generator, so printing one never changes the training run."""
    from .sampling import generate_text
    args = run["args"]
    text = generate_text(run["model"], run["vocab"], args.sample_length,
                         temperature=args.temperature, rng=np.random.default_rng(run["step"]))
    run["model"].train()
    return "-" * 60 + "\n" + text + "\n" + "-" * 60


def _finish(run, save_dir, out):
    if not run["history"]["val"] or run["history"]["val"][-1][0] != run["step"]:
        _validate(run, save_dir, out)
    data_parallel().on_root(_write_outputs, run, save_dir)
    out(f"loss curves: {save_dir / 'loss.png'}")
    out(f"best validation loss {run['best_val']:.4f} nats/token; checkpoints in {save_dir} "
        f"(sample with: python -m scratchrnn.generate --checkpoint {save_dir / 'best'})")
    for w in run["corpus_warnings"]:        # said again where a newcomer looks: at the end
        out(f"warning: {w} This run learned the built-in corpus, not Tiny Shakespeare.")


def _write_outputs(run, save_dir):
    """history.csv and loss.png; a failed write is one clear error, the checkpoints stay."""
    from . import figures    # here, not at the top: matplotlib is slow to import
    try:
        write_history_csv(run["history"], save_dir / "history.csv")
        figures.plot_loss_curves(run["history"], save_dir / "loss.png")
    except OSError as e:
        raise SaveFailed(f"could not write history.csv / loss.png in {save_dir} ({e}); the "
                         f"checkpoints there are intact") from None


def _save_interrupted(run, save_dir, out, signal_name):
    """Interrupted at a step boundary: keep everything (last, history.csv, loss.png) and say
    how to go on."""
    dp = data_parallel()
    snapshot = dict(run, state=dp.gather_rows(run["state"]))
    dp.on_root(save, save_dir / "last", snapshot)
    dp.on_root(_write_outputs, run, save_dir)
    out(f"{signal_name}: stopped at step {run['step']}; saved {save_dir / 'last'} (.npz/.json), "
        f"{save_dir / 'history.csv'} and {save_dir / 'loss.png'}. Continue with: python -m "
        f"scratchrnn.train --resume {save_dir}")


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C or SIGTERM, raised between two training steps (the run is whole)."""

    def __init__(self, signal_name):
        super().__init__(signal_name)
        self.signal_name = signal_name


class _DeferredInterrupts:
    """While training, SIGINT and SIGTERM are noted and raised as ``Interrupted`` at the end of
    the step (``check()``), so the run is never saved halfway through an update. A second
    Ctrl-C before then interrupts at once. Installed only in the main thread and only over
    the default handlers (under MPI, distributed.py owns SIGINT)."""

    def __init__(self, enabled=True):
        self.enabled, self.pending, self.saved = enabled, None, {}

    def __enter__(self):
        if self.enabled and threading.current_thread() is threading.main_thread():
            for sig, default in ((signal.SIGINT, signal.default_int_handler),
                                 (signal.SIGTERM, signal.SIG_DFL)):
                if signal.getsignal(sig) == default:
                    self.saved[sig] = signal.signal(sig, self._note)
        return self

    def _note(self, signum, frame):
        if self.pending is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.pending = signal.Signals(signum).name

    def check(self):
        if self.pending is not None:
            name, self.pending = self.pending, None
            raise Interrupted(name)

    def __exit__(self, *exc):
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        self.saved = {}


# ------------------------------------------------------------------ the save folder
OUTPUT_FILES = ("last.npz", "last.json", "best.npz", "best.json", "history.csv", "loss.png")


def prepare_save_dir(save_dir, out=print):
    """Check, before any training, that the run can write its outputs in save_dir (creating
    it), and remove the temporary files a killed save left there. Raises ConfigError."""
    save_dir = Path(save_dir)
    where = f"--save_dir {save_dir}"
    if save_dir.exists() and not save_dir.is_dir():
        raise ConfigError(f"{where} is a file, not a folder: choose another --save_dir")
    try:
        save_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:          # a path through a file, permissions, a read-only disk
        raise ConfigError(f"{where}: cannot create the folder ({e.strerror or e}): choose "
                          f"another --save_dir") from None
    for name in OUTPUT_FILES:
        if (save_dir / name).is_dir():
            raise ConfigError(f"{save_dir / name} is a folder, so the run cannot write its "
                              f"{name} there: remove it or choose another --save_dir")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", suffix=".tmp", dir=save_dir)
        try:
            os.write(fd, b"scratchrnn")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"{where}: cannot write there ({e.strerror or e}): fix its "
                          f"permissions or choose another --save_dir") from None
    stray = [f for pattern in (".last.*.tmp", ".best.*.tmp", "history.csv.tmp",
                               ".write-test.*.tmp") for f in save_dir.glob(pattern) if f.is_file()]
    for f in stray:
        f.unlink(missing_ok=True)
    if stray:
        out(f"removed {len(stray)} temporary file(s) an interrupted save had left in {save_dir}")


def check_free_space(save_dir, run):
    """Refuse to start when the disk cannot hold the run's checkpoints (last, best, and the
    temporary copy each save writes before renaming it into place)."""
    params = sum(p.data.nbytes for p in run["model"].parameters())
    buffers = len(run["optimizer"].state)
    need = 3 * params * (1 + buffers) + (8 << 20)
    free = shutil.disk_usage(save_dir).free
    if free < need:
        raise ConfigError(f"--save_dir {save_dir}: only {free / 2**20:.1f} MiB free on its disk, "
                          f"and this run's checkpoints need about {need / 2**20:.1f} MiB: free "
                          f"some space or choose another --save_dir")


def write_history_csv(history, path):
    """One row per logged step: step, time_s, train_loss, grad_norm, lr, val_loss."""
    val = {row[0]: row for row in history["val"]}
    rows = {row[0]: row + [val.pop(row[0])[2] if row[0] in val else ""] for row in history["train"]}
    for step, (_, time_s, loss) in val.items():
        rows[step] = [step, time_s, "", "", "", loss]
    tmp = Path(path).with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "time_s", "train_loss", "grad_norm", "lr", "val_loss"])
        w.writerows(rows[k] for k in sorted(rows))
    tmp.replace(path)
