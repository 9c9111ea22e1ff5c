"""python -m scratchrnn.torch_reference: the trainer's configuration, trained with PyTorch.

    python -m scratchrnn.torch_reference --model_type lstm --clip 5 --minutes 10 \\
        --save_dir runs/torch_lstm
    python -m scratchrnn.train --model_type lstm --clip 5 --max_minutes 10 --epochs 1000 \\
        --save_dir runs/numpy_lstm

The yardstick for docs/results.md: the same model, data and optimiser as
``python -m scratchrnn.train`` with the same flags, so that a loss curve of ours can be put
beside PyTorch's on the same machine for the same wall time. What is the same:

* data: ``scratchrnn.train.load_data`` (same corpus, vocabulary, contiguous split) and
  ``scratchrnn.data.BatchStream``, so every step sees exactly the batch ours sees;
* model: ``nn.Embedding -> nn.LSTM/GRU/RNN (time-major, dropout between layers) -> nn.Dropout
  -> nn.Linear``, the structure (and parameter names) of ``scratchrnn.models.CharLM``;
* training: mean cross-entropy over the (seq_length, batch_size) batch, the hidden state
  carried from batch to batch and detached (truncated BPTT), ``clip_grad_norm_`` when
  ``--clip`` is given, the same optimiser and learning rate (constant);
* validation every ``--eval_interval`` steps and at the end: the mean over the validation
  split's batches of their mean cross-entropy, state carried across batches, dropout off
  (``scratchrnn.train.evaluate``);
* time: ``time_s`` and the ``--minutes`` budget count training steps only, not validation,
  as in scratchrnn.train's ``--max_minutes``.

What differs: the initial weights (PyTorch's own initialisers and generator, seeded with
``--seed``), and by default no epoch limit (``--epochs``), so the budget is the wall time.
torch.set_num_threads(--threads, default 2).

Writes ``history.csv`` (step,time_s,train_loss,grad_norm,lr,val_loss: the columns of
scratchrnn.train), ``loss.png`` and ``summary.json`` to ``--save_dir``.
Exit codes: 0 done, 2 bad flags or data or no PyTorch, 3 the loss became NaN or infinite.
"""
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ..data import BatchStream
from ..optim import BudgetCosineLR
from ..training import DEFAULTS, load_data, write_history_csv
from ..training import format_clock
from ._common import EXIT_DIVERGED, EXIT_USAGE, Parser, UsageError, run_main

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")


def build_parser():
    d = DEFAULTS
    p = Parser(prog="python -m scratchrnn.torch_reference", description=__doc__.split("\n\n")[0])
    g = p.add_argument_group("data (as python -m scratchrnn.train)")
    g.add_argument("--data_file", default=d["data_file"],
                   help="a UTF-8 text file (default: Tiny Shakespeare)")
    g.add_argument("--vocab_type", choices=("char", "word"), default=d["vocab_type"])
    g.add_argument("--max_vocab_size", type=int, default=d["max_vocab_size"])
    g.add_argument("--val_frac", type=float, default=d["val_frac"])
    g.add_argument("--test_frac", type=float, default=d["test_frac"])
    g = p.add_argument_group("model (as python -m scratchrnn.train)")
    g.add_argument("--model_type", choices=("rnn", "lstm", "gru"), default=d["model_type"])
    g.add_argument("--hidden_size", type=int, default=d["hidden_size"])
    g.add_argument("--num_layers", type=int, default=d["num_layers"])
    g.add_argument("--embedding_dim", type=int, default=d["embedding_dim"])
    g.add_argument("--dropout", type=float, default=d["dropout"])
    g.add_argument("--dtype", choices=("float32", "float64"), default=d["dtype"])
    g = p.add_argument_group("training")
    g.add_argument("--batch_size", "--batch", type=int, default=d["batch_size"])
    g.add_argument("--seq_length", type=int, default=d["seq_length"])
    g.add_argument("--learning_rate", "--lr", type=float, default=d["learning_rate"])
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d["optimizer"])
    g.add_argument("--momentum", type=float, default=d["momentum"], help="for sgd and rmsprop")
    g.add_argument("--weight_decay", type=float, default=d["weight_decay"])
    g.add_argument("--max_grad_norm", "--clip", type=float, default=d["max_grad_norm"],
                   help="clip the global gradient norm to this")
    g.add_argument("--lr_schedule", choices=("constant", "budget"), default=d["lr_schedule"],
                   help="budget: warm-up, then cosine decay to --min_lr by the end of --minutes "
                        "or the step budget, as python -m scratchrnn.train --lr_schedule budget")
    g.add_argument("--warmup_steps", type=int, default=d["warmup_steps"])
    g.add_argument("--min_lr", type=float, default=d["min_lr"])
    g.add_argument("--minutes", "--max_minutes", type=float, default=d["max_minutes"],
                   help="training-time budget (validation not counted); 0 means no limit")
    g.add_argument("--max_steps", type=int, default=None, help="stop after this many steps")
    g.add_argument("--epochs", type=int, default=None, help="stop after this many epochs "
                   "(default: no limit, the time budget decides)")
    g.add_argument("--eval_interval", type=int, default=d["eval_interval"])
    g.add_argument("--seed", type=int, default=d["seed"])
    g.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    g = p.add_argument_group("output")
    g.add_argument("--save_dir", default="runs/torch_reference")
    g.add_argument("--print_every", type=float, default=d["print_every"],
                   help="seconds between progress lines")
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def check_args(args):
    for k in ("hidden_size", "num_layers", "embedding_dim", "batch_size", "seq_length",
              "eval_interval", "threads"):
        if getattr(args, k) < 1:
            raise UsageError(f"--{k} must be at least 1, got {getattr(args, k)}")
    checks = [
        (args.learning_rate > 0, f"--learning_rate must be positive, got {args.learning_rate}"),
        (0 <= args.dropout < 1, f"--dropout must be in [0, 1), got {args.dropout}"),
        (args.max_grad_norm is None or args.max_grad_norm > 0,
         f"--max_grad_norm/--clip must be positive, got {args.max_grad_norm}"),
        (args.minutes >= 0, f"--minutes must be >= 0, got {args.minutes}"),
        (args.max_steps is None or args.max_steps >= 1,
         f"--max_steps must be at least 1, got {args.max_steps}"),
        (args.epochs is None or args.epochs >= 1, f"--epochs must be at least 1, got {args.epochs}"),
        (args.weight_decay >= 0, f"--weight_decay must be >= 0, got {args.weight_decay}"),
        (args.warmup_steps >= 0, f"--warmup_steps must be >= 0, got {args.warmup_steps}"),
        (0 <= args.min_lr < args.learning_rate,
         f"--min_lr must be in [0, --learning_rate), got {args.min_lr}"),
        (args.max_vocab_size is None or args.max_vocab_size >= 2,
         f"--max_vocab_size must be at least 2, got {args.max_vocab_size}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)


# ------------------------------------------------------------------ model and evaluation
def make_model(torch, vocab_size, args):
    """CharLM's structure in PyTorch: Embedding -> RNN/LSTM/GRU -> Dropout -> Linear, with
    CharLM's parameter names (embedding.weight, rnn.weight_ih_l0, ..., decoder.bias)."""
    nn = torch.nn
    dtype = getattr(torch, args.dtype)
    recurrent = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[args.model_type]

    class TorchCharLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, args.embedding_dim, dtype=dtype)
            self.rnn = recurrent(args.embedding_dim, args.hidden_size, args.num_layers,
                                 dropout=args.dropout if args.num_layers > 1 else 0.0,
                                 dtype=dtype)
            self.dropout = nn.Dropout(args.dropout)
            self.decoder = nn.Linear(args.hidden_size, vocab_size, dtype=dtype)

        def forward(self, ids, state=None):
            """ids (T, B) int64 -> logits (T, B, V), state."""
            out, state = self.rnn(self.embedding(ids), state)
            return self.decoder(self.dropout(out)), state

    return TorchCharLM()


def detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def evaluate(torch, model, ids, batch_size, seq_length):
    """scratchrnn.train.evaluate in PyTorch: mean over the batches of ids of each batch's mean
    cross-entropy (nats per token), state carried across batches, dropout off."""
    stream = BatchStream(ids, batch_size, seq_length, name="the validation split")
    model.eval()
    total, state = 0.0, None
    with torch.no_grad():
        for x, y in stream:
            logits, state = model(torch.from_numpy(x), state)
            total += torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y).reshape(-1)).item()
    model.train()
    return total / len(stream)


def make_optimizer(torch, name, params, args):
    """The torch.optim twin of scratchrnn.train.make_optimizer."""
    o = torch.optim
    if name == "sgd":
        return o.SGD(params, lr=args.learning_rate, momentum=args.momentum,
                     weight_decay=args.weight_decay)
    if name == "rmsprop":
        return o.RMSprop(params, lr=args.learning_rate, momentum=args.momentum,
                         weight_decay=args.weight_decay)
    cls = {"adam": o.Adam, "adamw": o.AdamW, "adagrad": o.Adagrad}[name]
    return cls(params, lr=args.learning_rate, weight_decay=args.weight_decay)


class _TorchLR:
    """A torch optimiser's learning rate as the ``.lr`` that scratchrnn's schedules write, so
    that both trainers follow the very same schedule code."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    @property
    def lr(self):
        return self.optimizer.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        for group in self.optimizer.param_groups:
            group["lr"] = value


def make_schedule(args, optimizer, steps_per_epoch):
    """scratchrnn.optim.BudgetCosineLR on the torch optimiser for --lr_schedule budget."""
    if args.lr_schedule != "budget":
        return None
    steps = args.max_steps or (args.epochs * steps_per_epoch if args.epochs else 10 ** 12)
    return BudgetCosineLR(_TorchLR(optimizer), steps, args.minutes * 60 or None,
                          args.warmup_steps, args.min_lr)


# ------------------------------------------------------------------ training
class NonFinite(Exception):
    """The training loss became NaN or infinite."""


def run(args, out=print):
    """Train as the flags say; returns a dict with history, best_val, step, elapsed."""
    import torch
    check_args(args)
    torch.set_num_threads(args.threads)
    vocab, train_ids, val_ids = load_data(args)
    try:
        stream = BatchStream(train_ids, args.batch_size, args.seq_length, name="the training split")
    except ValueError as e:
        raise UsageError(str(e)) from None
    torch.manual_seed(args.seed)
    model = make_model(torch, len(vocab), args)
    params = list(model.parameters())
    opt = make_optimizer(torch, args.optimizer, params, args)
    clip = args.max_grad_norm if args.max_grad_norm else math.inf
    schedule = make_schedule(args, opt, len(stream))
    save_dir = Path(args.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    n_params = sum(p.numel() for p in params)
    out(f"data: {len(train_ids):,} training and {len(val_ids):,} validation tokens, vocabulary "
        f"of {len(vocab)}; {len(stream)} batches of {args.batch_size}x{args.seq_length} per epoch")
    out(f"model (PyTorch {torch.__version__}, {torch.get_num_threads()} threads): "
        f"{args.model_type.upper()} {args.num_layers}x{args.hidden_size}, embedding "
        f"{args.embedding_dim}, {n_params:,} parameters, {args.dtype}; {args.optimizer} lr "
        f"{args.learning_rate:g}{' (budget schedule)' if args.lr_schedule == 'budget' else ''}, "
        f"clip {args.max_grad_norm}")

    limit = args.minutes * 60 if args.minutes else math.inf
    max_steps = args.max_steps or math.inf
    res = dict(history={"train": [], "val": []}, step=0, elapsed=0.0, best_val=None,
               vocab_size=len(vocab), num_parameters=n_params, stopped="")
    tokens = args.batch_size * args.seq_length
    state, window, recent = None, [], []
    t_print = time.perf_counter()
    wall0 = time.perf_counter()
    model.train()

    def validate():
        val = evaluate(torch, model, val_ids, args.batch_size, args.seq_length)
        res["history"]["val"].append([res["step"], round(res["elapsed"], 3), val])
        best = res["best_val"] is None or val < res["best_val"]
        if best:
            res["best_val"] = val
        out(f"validation: loss {val:.4f} nats/token, perplexity {_safe_exp(val):.2f}"
            f"{'  (best)' if best else ''}")

    while True:
        if res["step"] >= max_steps:
            res["stopped"] = f"--max_steps {args.max_steps}"
            break
        if res["elapsed"] >= limit:
            res["stopped"] = f"time budget of {args.minutes:g} minutes"
            break
        if args.epochs is not None and stream.epoch >= args.epochs:
            res["stopped"] = f"--epochs {args.epochs}"
            break
        t0 = time.perf_counter()
        x, y = stream.next_batch()
        logits, state = model(torch.from_numpy(x), state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 torch.from_numpy(y).reshape(-1))
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise NonFinite(f"the training loss became {loss_value} at step {res['step'] + 1}")
        opt.zero_grad()
        loss.backward()
        gnorm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        opt.step()
        state = detach(state)      # carried into the next batch; the gradient stops here
        res["step"] += 1
        dt = time.perf_counter() - t0
        res["elapsed"] += dt
        if schedule:
            schedule.step(res["elapsed"])
        window.append((loss_value, dt))
        recent = (recent + [loss_value])[-10:]
        step = res["step"]
        if step % 10 == 0 or step == 1:
            res["history"]["train"].append([step, round(res["elapsed"], 3),
                                            float(np.mean(recent)), gnorm,
                                            float(opt.param_groups[0]["lr"])])
        now = time.perf_counter()
        if step == 1 or now - t_print >= args.print_every:
            step_time = np.mean([w[1] for w in window])
            left = min((max_steps - step) * step_time, limit - res["elapsed"])
            out(f"step {step:>6}  epoch {stream.epoch + 1}  loss "
                f"{np.mean([w[0] for w in window]):.4f}  grad norm {gnorm:7.3f}  "
                f"{tokens / step_time:8,.0f} tok/s  "
                f"time left {format_clock(left) if math.isfinite(left) else '-'}")
            t_print, window = now, []
        if step % args.eval_interval == 0:
            validate()
    if not res["history"]["val"] or res["history"]["val"][-1][0] != res["step"]:
        validate()
    res["wall_s"] = time.perf_counter() - wall0
    _write_outputs(res, args, torch, save_dir, out)
    return res


def _write_outputs(res, args, torch, save_dir, out):
    write_history_csv(res["history"], save_dir / "history.csv")
    from .. import figures    # here, not at the top: matplotlib is slow to import
    figures.plot_loss_curves(res["history"], save_dir / "loss.png",
                             title=f"PyTorch {args.model_type.upper()} reference")
    tokens = res["step"] * args.batch_size * args.seq_length
    summary = {
        "args": vars(args), "torch_version": torch.__version__,
        "threads": torch.get_num_threads(), "python": platform.python_version(),
        "machine": platform.machine(), "vocab_size": res["vocab_size"],
        "num_parameters": res["num_parameters"], "steps": res["step"],
        "train_seconds": round(res["elapsed"], 3), "wall_seconds": round(res["wall_s"], 3),
        "tokens_per_second": round(tokens / res["elapsed"], 1) if res["elapsed"] else None,
        "best_val": res["best_val"], "final_val": res["history"]["val"][-1][2],
        "stopped_by": res["stopped"],
    }
    (save_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    out(f"stopped by {res['stopped']} after {res['step']} steps ({res['elapsed']:.0f} s of "
        f"training, {summary['tokens_per_second']} tok/s); best validation loss "
        f"{res['best_val']:.4f} nats/token; {save_dir / 'history.csv'}")


def _safe_exp(x):
    return math.exp(x) if x < 700 else math.inf


def main(argv=None):
    try:
        import torch  # noqa: F401  (only this reference needs it; scratchrnn itself does not)
    except ImportError:
        print("error: PyTorch is not installed, and this reference trainer needs it: "
              "pip install torch (scratchrnn itself does not need it)", file=sys.stderr)
        return EXIT_USAGE
    try:
        return run_main(lambda: run(parse_args(argv)))
    except NonFinite as e:
        print(f"error: {e}: try a lower --learning_rate or --clip 5", file=sys.stderr)
        return EXIT_DIVERGED


if __name__ == "__main__":
    sys.exit(main())
