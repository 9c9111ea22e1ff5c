"""python -m scratchrnn.experiments memory|gradients|seq2seq|attention|forecast: the course's experiments.

    python -m scratchrnn.experiments memory       # adding + copy-memory at T = 10, 50, 100, 200
    python -m scratchrnn.experiments gradients    # |dL/dh_t| against t, at init and trained
    python -m scratchrnn.experiments seq2seq --task reverse --teacher_forcing_ratio 1 \\
        --tf_schedule linear
    python -m scratchrnn.experiments seq2seq --attention additive   # + attention heat maps
    python -m scratchrnn.experiments attention    # with vs without attention against length
    python -m scratchrnn.experiments forecast     # noisy multi-frequency sines

Each writes its figure (PNG) and table into --out_dir (default runs/experiments) and prints the
numbers; docs/experiments.md shows what they teach. All data are generated (scratchrnn.tasks).
"""
import os

if __name__ == "__main__":
    from scratchrnn import prefer_one_blas_thread
    prefer_one_blas_thread()      # before NumPy loads

import argparse  # noqa: E402
import csv  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from .. import optim, tasks  # noqa: E402
from ..models import Forecaster, Seq2Seq, mse_loss  # noqa: E402
from ..nn import GRUCell, LSTMCell, RNNCell, no_grad, softmax_cross_entropy  # noqa: E402
from ..training import DivergenceGuard, make_optimizer  # noqa: E402
from ._common import Parser, UsageError, run_main  # noqa: E402

KINDS = ("rnn", "lstm", "gru")
# what `memory --models` accepts: name -> (layer kind, layer options); the variants are LSTMs
MODELS = {"rnn": ("rnn", {}), "lstm": ("lstm", {}), "gru": ("gru", {}),
          "peephole": ("lstm", {"peephole": True}), "cifg": ("lstm", {"coupled": True})}
COLORS = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green", "peephole": "tab:purple",
          "cifg": "tab:orange"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# ------------------------------------------------------------------ equal parameter budgets
def count_parameters(kind, input_size, output_size, hidden_size):
    """Parameters of the Forecaster that train_memory builds for this kind (see MODELS): one
    recurrent layer and a linear readout."""
    base, options = MODELS[kind]
    gates = 3 if options.get("coupled") else {"rnn": 1, "lstm": 4, "gru": 3}[base]
    H = hidden_size
    peepholes = (2 if options.get("coupled") else 3) * H if options.get("peephole") else 0
    return gates * (H * input_size + H * H + 2 * H) + peepholes + H * output_size + output_size


def hidden_for_budget(kind, budget, input_size, output_size):
    """The hidden size whose parameter count is closest to budget."""
    H = 1
    while count_parameters(kind, input_size, output_size, H + 1) <= budget:
        H += 1
    over = count_parameters(kind, input_size, output_size, H + 1)
    return H + 1 if over - budget < budget - count_parameters(kind, input_size, output_size, H) else H


# ------------------------------------------------------------------ long-memory tasks
MEMORY_TASKS = {
    # name: (input size, output size, chance error, error that counts as solved, what error is)
    "adding": (2, 1, tasks.ADDING_CHANCE_MSE, 0.01, "MSE"),
    "copy": (None, None, 1 - 1 / 8, 0.02, "symbol error"),
}
COPY_SYMBOLS = 8


def memory_sizes(task, copy_length):
    if task == "adding":
        return 2, 1
    return COPY_SYMBOLS + 2, COPY_SYMBOLS + 1        # one-hot tokens in, symbol logits out


def memory_batch(task, n, T, rng, copy_length=3, dtype=np.float32):
    """Inputs x (L, n, D) and a scoring function f(out) -> (loss, dout, error)."""
    if task == "adding":
        x, y = tasks.adding_problem(n, T, rng)
        y = y.astype(dtype)

        def score(out):
            loss, dpred = mse_loss(out[-1, :, 0], y)
            dout = np.zeros_like(out)
            dout[-1, :, 0] = dpred                      # many-to-one: only the last step is scored
            return loss, dout, loss
        return x.astype(dtype), score
    ids, y, mask = tasks.copy_memory(n, T, rng, copy_length, COPY_SYMBOLS)
    x = np.eye(COPY_SYMBOLS + 2, dtype=dtype)[ids]

    def score(out):
        loss, dout = softmax_cross_entropy(out, y, mask=mask)
        error = 1 - (out.argmax(-1) == y)[mask].mean()
        return loss, dout.astype(dtype), error
    return x, score


def train_memory(task, kind, T, hidden_size, steps=600, batch_size=64, lr=1e-2, clip=1.0,
                 eval_every=50, eval_size=256, copy_length=3, seed=0):
    """Train one model on one task at one length; stops early once solved.

    Returns a dict: final_error (on a fixed held-out batch), steps run, curve [(step, error)],
    seconds, solved (bool), and the trained model.
    """
    rng = np.random.default_rng(seed)
    D, O = memory_sizes(task, copy_length)
    base, options = MODELS[kind]
    model = Forecaster(D, O, base, hidden_size, rng=rng, **options)
    if base == "lstm":
        model.rnn.reset_parameters(forget_bias=1.0, rng=rng)   # remember by default at the start
    params = list(model.parameters())
    opt = make_optimizer("adam", params, lr)
    x_val, score_val = memory_batch(task, eval_size, T, np.random.default_rng(seed + 10_000), copy_length)
    solved_at = MEMORY_TASKS[task][3]
    curve, t0, step = [], time.perf_counter(), 0

    def validate():
        model.eval()
        with no_grad():
            err = float(score_val(model(x_val)[0])[2])
        model.train()
        curve.append((step, err))
        return err

    err = validate()
    while step < steps and err >= solved_at:
        x, score = memory_batch(task, batch_size, T, rng, copy_length)
        out, _ = model(x)
        loss, dout, _ = score(out)
        if not math.isfinite(loss):
            break
        opt.zero_grad()
        model.backward(dout)
        optim.clip_grad_norm_(params, clip)
        opt.step()
        step += 1
        if step % eval_every == 0 or step == steps:
            err = validate()
    return {"task": task, "kind": kind, "T": T, "hidden_size": hidden_size,
            "parameters": model.num_parameters(), "final_error": err, "steps": step,
            "solved": err < solved_at, "curve": curve, "seconds": time.perf_counter() - t0,
            "model": model}


def _memory_job(kwargs):
    result = train_memory(**kwargs)
    result.pop("model")                # keep what goes back between processes small
    return result


def run_jobs(jobs, n_workers, fn, out=print):
    """fn(kwargs) for each job, in n_workers processes (1: in this one), longest first."""
    order = sorted(range(len(jobs)), key=lambda k: -jobs[k].get("T", 0))
    results = [None] * len(jobs)
    if n_workers <= 1:
        for k in order:
            results[k] = fn(jobs[k])
            out(_job_line(results[k]))
        return results
    with ProcessPoolExecutor(n_workers) as pool:
        futures = {k: pool.submit(fn, jobs[k]) for k in order}
        for k in order:
            results[k] = futures[k].result()
            out(_job_line(results[k]))
    return results


def _job_line(r):
    return (f"  {r['task']:<6} T={r['T']:<4} {r['kind'].upper():<4} H={r['hidden_size']:<4} "
            f"error {r['final_error']:.4f} after {r['steps']} steps "
            f"{'(solved)' if r['solved'] else ''} [{r['seconds']:.0f} s]")


def run_memory(args, out=print):
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs, sizes = [], {}
    for task in args.tasks:
        D, O = memory_sizes(task, args.copy_length)
        budget = count_parameters("lstm", D, O, args.hidden_size)
        for kind in args.models:
            sizes[task, kind] = hidden_for_budget(kind, budget, D, O)
            for T in args.lengths:
                jobs.append(dict(task=task, kind=kind, T=T, hidden_size=sizes[task, kind],
                                 steps=args.steps, batch_size=args.batch_size, lr=args.learning_rate,
                                 copy_length=args.copy_length, seed=args.seed))
    out("same parameter budget (that of an LSTM with hidden size "
        f"{args.hidden_size}): " + "; ".join(
            f"{task}: " + ", ".join(f"{k.upper()} H={sizes[task, k]} "
                                    f"({count_parameters(k, *memory_sizes(task, args.copy_length), sizes[task, k])} params)"
                                    for k in args.models) for task in args.tasks))
    out(f"{len(jobs)} runs of up to {args.steps} steps (batch {args.batch_size}, Adam lr "
        f"{args.learning_rate:g}, clip 1), {args.jobs} at a time:")
    results = run_jobs(jobs, args.jobs, _memory_job, out)
    table = memory_table(results, args.tasks, args.lengths, args.models)
    out(table)
    (out_dir / "memory.md").write_text(table + "\n")
    write_csv(out_dir / "memory.csv", results, ["task", "kind", "T", "hidden_size", "parameters",
                                                 "final_error", "steps", "solved", "seconds"])
    path = plot_memory(results, args.tasks, args.lengths, args.models, out_dir / "memory.png")
    out(f"figure: {path}\ntable: {out_dir / 'memory.md'}")
    return results


def memory_table(results, task_names, lengths, models=KINDS):
    """A Markdown table: one row per (task, model), one column per T; solved runs marked *."""
    by = {(r["task"], r["kind"], r["T"]): r for r in results}
    lines = ["| task (error; chance) | model | " + " | ".join(f"T={T}" for T in lengths) + " |",
             "|---|---|" + "---|" * len(lengths)]
    for task in task_names:
        name = MEMORY_TASKS[task][4]
        for kind in models:
            cells = []
            for T in lengths:
                r = by[task, kind, T]
                cells.append(f"{r['final_error']:.3f}{'*' if r['solved'] else ''}")
            lines.append(f"| {task} ({name}; {MEMORY_TASKS[task][2]:.3f}) | "
                         f"{kind.upper()} H={by[task, kind, lengths[0]]['hidden_size']} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_memory(results, task_names, lengths, models, path):
    plt = _plt()
    fig, axes = plt.subplots(1, len(task_names), figsize=(5.2 * len(task_names), 3.8), dpi=90,
                             squeeze=False)
    for ax, task in zip(axes[0], task_names):
        _, _, chance, solved, name = MEMORY_TASKS[task]
        for kind in models:
            rs = sorted((r for r in results if r["task"] == task and r["kind"] == kind),
                        key=lambda r: r["T"])
            ax.plot([r["T"] for r in rs], [r["final_error"] for r in rs], "o-", color=COLORS[kind],
                    label=f"{kind.upper()} (H={rs[0]['hidden_size']})")
        ax.axhline(chance, color="gray", ls="--", lw=1, label="chance")
        ax.axhline(solved, color="gray", ls=":", lw=1, label="counted as solved")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(lengths)
        ax.set_xticklabels([str(T) for T in lengths])
        ax.set_xlabel("sequence length T (gap to remember)")
        ax.set_ylabel(f"final {name} (held-out)")
        ax.set_title({"adding": "adding problem", "copy": "copy memory"}[task])
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_csv(path, rows, columns):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow([r[c] for c in columns])


# ------------------------------------------------------------------ gradients through time
CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


def hidden_gradient_norms(model, x, score):
    """Mean over the batch of |dl_b/dh_t| for t = 1..T, computed by explicit BPTT with a cell.

    The model's single-layer RNN/LSTM/GRU weights are loaded into the matching cell, which is
    stepped forward over x (T, B, D) and backward from the loss (scored at the last step only):
    the gradient that arrives at h_t is exactly dL/dh_t. The loss is the batch mean, so each
    example's own gradient is B times its share.
    """
    rnn = model.rnn
    # float64 throughout: a vanishing gradient falls below float32's range (1e-45) within
    # a few dozen steps, and a zero cannot be drawn on a log scale
    cell = CELLS[model.model_type](rnn.input_size, rnn.hidden_size, dtype=np.float64)
    cell.load_state_dict({k[:-3]: v for k, v in rnn.state_dict().items()})    # drop "_l0"
    W, b = model.head.weight.data.astype(np.float64), model.head.bias.data.astype(np.float64)
    x = np.asarray(x, dtype=np.float64)
    T, B, _ = x.shape
    state, hs = None, []
    for t in range(T):
        state = cell(x[t], state)
        hs.append(state[0] if isinstance(state, tuple) else state)
    _, dout, _ = score(np.stack(hs) @ W.T + b)      # the readout, written out in float64
    dh_out = dout @ W                              # (T, B, H): the loss's direct gradient of each h_t
    norms = np.empty(T)
    dh = np.zeros_like(dh_out[0])
    dc = np.zeros_like(dh) if model.model_type == "lstm" else None
    for t in reversed(range(T)):
        dh = dh + dh_out[t]
        norms[t] = np.linalg.norm(dh * B, axis=1).mean()
        if dc is None:
            _, dh = cell.backward(dh)
        else:
            _, (dh, dc) = cell.backward(dh, dc)
    return norms


def run_gradients(args, out=print):
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    D, O = memory_sizes("adding", 0)
    budget = count_parameters("lstm", D, O, args.hidden_size)
    x, score = _gradient_data(args.eval_size, args.length, args.seed)
    jobs = [dict(task="adding", kind=k, T=args.length, hidden_size=hidden_for_budget(k, budget, D, O),
                 steps=0, lr=args.learning_rate, seed=args.seed) for k in KINDS]
    curves = {}
    for job in jobs:
        init = train_memory(**job)
        curves[job["kind"], "init"] = hidden_gradient_norms(init["model"], x, score)
    out(f"adding problem, T={args.length}: training each model for up to {args.steps} steps "
        f"({args.jobs} at a time)")
    for job in jobs:
        job["steps"] = args.steps
    with ProcessPoolExecutor(args.jobs) if args.jobs > 1 else _Inline() as pool:
        trained = list(pool.map(_gradient_job, [(job, args.eval_size) for job in jobs]))
    for job, (norms, result) in zip(jobs, trained):
        curves[job["kind"], "trained"] = norms
        out(_job_line(result))
    T = args.length
    out("mean |dL/dh_t| (per example):")
    out(f"  {'model':<6} {'when':<8} " + " ".join(f"{'t=' + str(t):>9}" for t in _probe_steps(T)))
    for kind in KINDS:
        for when in ("init", "trained"):
            c = curves[kind, when]
            out(f"  {kind.upper():<6} {when:<8} " + " ".join(f"{c[t - 1]:9.2e}" for t in _probe_steps(T)))
    path = plot_gradients(curves, T, out_dir / "gradients.png")
    out(f"figure: {path}")
    return curves


class _Inline:
    """A stand-in for a process pool that runs in this process (--jobs 1)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, items):
        return map(fn, items)


def _gradient_data(n, T, seed):
    """The fixed batch the gradient norms are measured on (the same in every process)."""
    return memory_batch("adding", n, T, np.random.default_rng(seed + 1))


def _gradient_job(item):
    job, eval_size = item
    result = train_memory(**job)
    x, score = _gradient_data(eval_size, job["T"], job["seed"])
    norms = hidden_gradient_norms(result.pop("model"), x, score)
    return norms, result


def _probe_steps(T):
    return sorted({1, max(1, T // 4), max(1, T // 2), max(1, 3 * T // 4), T})


def plot_gradients(curves, T, path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=90)
    t = np.arange(1, T + 1)
    for kind in KINDS:
        ax.plot(t, curves[kind, "init"], "--", color=COLORS[kind], lw=1.2, label=f"{kind.upper()} at init")
        ax.plot(t, curves[kind, "trained"], "-", color=COLORS[kind], lw=1.8, label=f"{kind.upper()} trained")
    ax.set_yscale("log")
    ax.set_xlabel("time step t (the loss is at t = T)")
    ax.set_ylabel(r"mean $\|\partial L / \partial h_t\|$")
    ax.set_title(f"Gradient reaching each step, adding problem T={T}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ seq2seq
def teacher_forcing_schedule(kind, start, epoch, epochs, final=0.0, decay=0.8, k=3.0):
    """The teacher-forcing ratio for epoch (0-based).

    constant: start; linear: from start to final over the epochs; exponential: start * decay^epoch;
    inverse_sigmoid: start * k / (k + exp(epoch / k)) (Bengio et al., 2015, in epochs).
    """
    if kind == "constant":
        return start
    if kind == "linear":
        return start + (final - start) * (epoch / max(1, epochs - 1))
    if kind == "exponential":
        return start * decay ** epoch
    if kind == "inverse_sigmoid":
        return start * k / (k + math.exp(epoch / k))
    raise ValueError(f"unknown schedule {kind!r}")


def exact_match(model, src, lengths, tgt_out, tgt_mask, batch_size=256):
    """Fraction of sequences whose greedy decoding equals the target exactly (EOS included)."""
    U = tgt_out.shape[1]
    hits = 0
    for s in range(0, len(src), batch_size):
        pred = model.greedy_decode(src[s:s + batch_size], lengths[s:s + batch_size], max_len=U)
        ok = (pred == tgt_out[s:s + batch_size]) | ~tgt_mask[s:s + batch_size]
        hits += ok.all(axis=1).sum()
    return hits / len(src)


def run_seq2seq(args, out=print):
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    train = tasks.digit_task(args.train_size, rng, args.task, args.min_len, args.max_len)
    val = tasks.digit_task(args.val_size, np.random.default_rng(args.seed + 1), args.task,
                           args.min_len, args.max_len)
    attention = None if args.attention == "none" else args.attention
    model = Seq2Seq(tasks.DIGIT_VOCAB, tasks.DIGIT_VOCAB, args.cell, args.embedding_dim,
                    args.hidden_size, bos=tasks.BOS, eos=tasks.EOS, rng=rng, attention=attention)
    params = list(model.parameters())
    opt = make_optimizer("adam", params, args.learning_rate)
    out(f"{args.task} digit strings of length {args.min_len}-{args.max_len}: {args.train_size} "
        f"training, {args.val_size} validation; {args.cell.upper()} encoder-decoder "
        f"H={args.hidden_size}, {'no' if attention is None else attention} attention, "
        f"{model.num_parameters():,} parameters; teacher forcing "
        f"{args.tf_schedule} from {args.teacher_forcing_ratio:g}")
    history, guard = [], DivergenceGuard(margin=3.0)
    for epoch in range(args.epochs):
        ratio = teacher_forcing_schedule(args.tf_schedule, args.teacher_forcing_ratio, epoch,
                                         args.epochs, args.tf_final, args.tf_decay)
        t0, losses = time.perf_counter(), []
        for idx in np.array_split(rng.permutation(args.train_size),
                                  max(1, args.train_size // args.batch_size)):
            src, lengths, tgt_in, tgt_out, mask = (a[idx] for a in train)
            U = lengths.max() + 1                      # trim the batch's padding columns
            logits = model(src[:, :U - 1], lengths, tgt_in[:, :U], teacher_forcing_ratio=ratio)
            loss, dlogits = softmax_cross_entropy(logits, tgt_out[:, :U], mask=mask[:, :U])
            guard.check(loss, epoch + 1)
            opt.zero_grad()
            model.backward(dlogits)
            optim.clip_grad_norm_(params, args.clip)
            opt.step()
            losses.append(loss)
        acc = exact_match(model, val[0], val[1], val[3], val[4])
        history.append((epoch + 1, ratio, float(np.mean(losses)), acc))
        out(f"epoch {epoch + 1:>2}/{args.epochs}  teacher forcing {ratio:.2f}  train loss "
            f"{np.mean(losses):.4f}  val exact match {acc:6.1%}  ({time.perf_counter() - t0:.1f} s)")
    pred = model.greedy_decode(val[0][:args.num_examples], val[1][:args.num_examples],
                               max_len=val[3].shape[1])
    for s, L, p, t in zip(val[0], val[1], pred, val[3]):
        got, want = tasks.digits_to_str(p), tasks.digits_to_str(t)
        out(f"  {tasks.digits_to_str(s[:L]):>{args.max_len}} -> {got:<{args.max_len}} "
            f"{'ok' if got == want else 'WRONG, want ' + want}")
    path = plot_seq2seq(history, args, out_dir / f"seq2seq_{args.task}_{args.tf_schedule}.png")
    write_csv(out_dir / f"seq2seq_{args.task}_{args.tf_schedule}.csv",
              [dict(zip(("epoch", "teacher_forcing", "train_loss", "exact_match"), h)) for h in history],
              ["epoch", "teacher_forcing", "train_loss", "exact_match"])
    out(f"figure: {path}")
    if attention is not None:
        n = min(args.num_heatmaps, args.val_size)
        tokens, weights = model.greedy_decode(val[0][:n], val[1][:n], max_len=val[3].shape[1],
                                              return_weights=True)
        maps = [heat_map_data(s[:L], p, w, tasks.digits_to_str)
                for s, L, p, w in zip(val[0][:n], val[1][:n], tokens, weights)]
        path = plot_heat_maps(maps, f"{attention} attention, {args.task} digits",
                              out_dir / f"seq2seq_{args.task}_{args.tf_schedule}_attention.png")
        out(f"attention heat maps: {path}")
    return model, history


def plot_seq2seq(history, args, path):
    plt = _plt()
    epochs, ratios, losses, accs = zip(*history)
    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=90)
    ax.plot(epochs, accs, "o-", color="tab:blue", label="val exact match (greedy)")
    ax.plot(epochs, ratios, "s--", color="tab:gray", label="teacher-forcing ratio")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("epoch")
    ax.set_title(f"{args.cell.upper()} seq2seq, {args.task} digits ({args.min_len}-{args.max_len}), "
                 f"{args.tf_schedule} teacher forcing", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ attention
ATTENTION_TASKS = {
    # name: (what it is, vocabulary size, tokens -> text)
    "reverse": ("reverse a digit string", tasks.DIGIT_VOCAB, tasks.digits_to_str),
    "sort": ("sort a digit string", tasks.DIGIT_VOCAB, tasks.digits_to_str),
    "dates": ('normalise a date, "3 December 2026" -> "2026-12-03"', tasks.DATE_VOCAB,
              tasks.chars_to_str),
}


def attention_task_data(task, n, rng, min_len, max_len):
    if task == "dates":
        return tasks.date_task(n, rng)
    return tasks.digit_task(n, rng, task, min_len, max_len)


def train_seq2seq_run(task, attention, cell="gru", hidden_size=64, embedding_dim=16, epochs=12,
                      train_size=4000, val_size=600, min_len=3, max_len=30, batch_size=64,
                      lr=5e-3, clip=5.0, num_heatmaps=2, seed=0):
    """Train one encoder-decoder (attention None or a score) with teacher forcing; returns the
    validation sources' lengths, which of them greedy decoding gets exactly right, the loss and
    accuracy per epoch, the seconds, and heat-map data for the first num_heatmaps examples."""
    rng = np.random.default_rng(seed)
    train = attention_task_data(task, train_size, rng, min_len, max_len)
    val = attention_task_data(task, val_size, np.random.default_rng(seed + 1), min_len, max_len)
    _, V, to_str = ATTENTION_TASKS[task]
    model = Seq2Seq(V, V, cell, embedding_dim, hidden_size, bos=tasks.BOS, eos=tasks.EOS,
                    rng=np.random.default_rng(seed), attention=attention)
    params = list(model.parameters())
    opt = make_optimizer("adam", params, lr)
    guard, history, t0 = DivergenceGuard(margin=3.0), [], time.perf_counter()
    for epoch in range(epochs):
        losses = []
        for idx in np.array_split(rng.permutation(train_size), max(1, train_size // batch_size)):
            src, lengths, tgt_in, tgt_out, mask = (a[idx] for a in train)
            S, U = lengths.max(), mask.sum(axis=1).max()     # trim the batch's padding
            logits = model(src[:, :S], lengths, tgt_in[:, :U])
            loss, dlogits = softmax_cross_entropy(logits, tgt_out[:, :U], mask=mask[:, :U])
            guard.check(loss, epoch + 1)
            opt.zero_grad()
            model.backward(dlogits)
            optim.clip_grad_norm_(params, clip)
            opt.step()
            losses.append(loss)
        history.append((epoch + 1, float(np.mean(losses))))
    correct = exact_matches(model, *val)
    result = {"task": task, "attention": attention or "none", "parameters": model.num_parameters(),
              "lengths": val[1], "correct": correct, "exact_match": float(correct.mean()),
              "history": history, "seconds": time.perf_counter() - t0, "heat_maps": []}
    if attention is not None and num_heatmaps:
        order = np.argsort(-val[1], kind="stable")[:num_heatmaps]     # the longest sources
        tokens, weights = model.greedy_decode(val[0][order], val[1][order],
                                              max_len=val[3].shape[1], return_weights=True)
        result["heat_maps"] = [heat_map_data(val[0][i][:val[1][i]], p, w, to_str)
                               for i, p, w in zip(order, tokens, weights)]
    return result


def exact_matches(model, src, lengths, tgt_in, tgt_out, tgt_mask, batch_size=256):
    """(N,) bool: greedy decoding equals the target exactly (EOS included)."""
    U = tgt_out.shape[1]
    hits = []
    for s in range(0, len(src), batch_size):
        pred = model.greedy_decode(src[s:s + batch_size], lengths[s:s + batch_size], max_len=U)
        hits.append(((pred == tgt_out[s:s + batch_size]) | ~tgt_mask[s:s + batch_size]).all(axis=1))
    return np.concatenate(hits)


def heat_map_data(src_tokens, out_tokens, weights, to_str):
    """Source and output as character lists and the weights (output steps incl. EOS, source)."""
    source = list(to_str(src_tokens))
    output = list(to_str(out_tokens))
    n = min(len(output) + 1, len(weights))            # the EOS step too
    return {"source": source, "output": output + ["<eos>"][:n - len(output)],
            "weights": np.asarray(weights[:n, :len(source)], np.float64)}


def plot_heat_maps(maps, title, path):
    """One panel per example: output steps down, source positions across, weight as shade."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(maps), figsize=(4.6 * len(maps), 4.4), dpi=90, squeeze=False)
    for ax, m in zip(axes[0], maps):
        ax.imshow(m["weights"], cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(len(m["source"])))
        ax.set_xticklabels(m["source"], fontsize=7, family="monospace")
        ax.set_yticks(range(len(m["output"])))
        ax.set_yticklabels(m["output"], fontsize=7, family="monospace")
        ax.set_xlabel("source position")
        ax.set_ylabel("output step (greedy)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def length_bins(lengths, n_bins=4):
    """Up to n_bins contiguous ranges (lo, hi) of source length covering the values present."""
    lo, hi = int(lengths.min()), int(lengths.max())
    edges = np.unique(np.round(np.linspace(lo, hi + 1, min(n_bins, hi - lo + 1) + 1)).astype(int))
    return [(int(a), int(b) - 1) for a, b in zip(edges[:-1], edges[1:])]


def accuracy_by_length(result, bins):
    return [float(result["correct"][(result["lengths"] >= lo) & (result["lengths"] <= hi)].mean())
            for lo, hi in bins]


def _attention_job(kwargs):
    return train_seq2seq_run(**kwargs)


def run_attention(args, out=print):
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [dict(task=task, attention=attention, cell=args.cell, hidden_size=args.hidden_size,
                 embedding_dim=args.embedding_dim, epochs=args.epochs, train_size=args.train_size,
                 val_size=args.val_size, min_len=args.min_len, max_len=args.max_len,
                 batch_size=args.batch_size, lr=args.learning_rate, clip=args.clip,
                 num_heatmaps=args.num_heatmaps, seed=args.seed)
            for task in args.tasks for attention in (args.score, None)]
    out(f"{len(jobs)} runs: {args.cell.upper()} encoder-decoder H={args.hidden_size}, "
        f"{args.score} attention (input feeding) or none; {args.epochs} epochs of "
        f"{args.train_size} examples (batch {args.batch_size}, Adam lr {args.learning_rate:g}, "
        f"teacher forcing); digit strings of length {args.min_len}-{args.max_len}; "
        f"{args.jobs} at a time")
    with ProcessPoolExecutor(args.jobs) if args.jobs > 1 else _Inline() as pool:
        results = list(pool.map(_attention_job, jobs))
    for r in results:
        out(f"  {r['task']:<8} {r['attention']:<9} {r['parameters']:>7,} params  final train loss "
            f"{r['history'][-1][1]:.4f}  val exact match {r['exact_match']:6.1%}  "
            f"[{r['seconds']:.0f} s]")
    table = attention_table(results, args.tasks)
    out(table)
    (out_dir / "attention.md").write_text(table + "\n")
    rows = [dict(task=r["task"], attention=r["attention"], lo=lo, hi=hi, exact_match=acc,
                 examples=int(((r["lengths"] >= lo) & (r["lengths"] <= hi)).sum()))
            for r in results
            for (lo, hi), acc in zip(length_bins(r["lengths"]),
                                     accuracy_by_length(r, length_bins(r["lengths"])))]
    write_csv(out_dir / "attention.csv", rows, ["task", "attention", "lo", "hi", "examples",
                                                "exact_match"])
    path = plot_attention_accuracy(results, args.tasks, out_dir / "attention.png")
    out(f"figure: {path}")
    for task in args.tasks:
        maps = [m for r in results if r["task"] == task for m in r["heat_maps"]]
        if maps:
            heat = plot_heat_maps(maps, f"{args.score} attention: {ATTENTION_TASKS[task][0]}",
                                  out_dir / f"attention_{task}.png")
            out(f"heat maps: {heat}")
    out(f"table: {out_dir / 'attention.md'}")
    return results


def attention_table(results, task_names):
    """Markdown: one block of rows per task, one column per source-length range, plus overall."""
    lines = []
    for task in task_names:
        rs = [r for r in results if r["task"] == task]
        bins = length_bins(rs[0]["lengths"])
        lines += [f"| {task} | " + " | ".join(f"length {lo}-{hi}" if lo != hi else f"length {lo}"
                                              for lo, hi in bins) + " | all |",
                  "|---|" + "---|" * (len(bins) + 1)]
        for r in rs:
            lines.append(f"| {'no' if r['attention'] == 'none' else r['attention']} attention | "
                         + " | ".join(f"{a:.1%}" for a in accuracy_by_length(r, bins))
                         + f" | {r['exact_match']:.1%} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def plot_attention_accuracy(results, task_names, path):
    plt = _plt()
    fig, axes = plt.subplots(1, len(task_names), figsize=(4.6 * len(task_names), 3.8), dpi=90,
                             squeeze=False)
    for ax, task in zip(axes[0], task_names):
        for r in (r for r in results if r["task"] == task):
            lengths = np.unique(r["lengths"])
            acc = [r["correct"][r["lengths"] == L].mean() for L in lengths]
            none = r["attention"] == "none"
            ax.plot(lengths, acc, "o-" if not none else "s--", ms=3,
                    color="tab:gray" if none else "tab:blue",
                    label=f"{'no' if none else r['attention']} attention")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("source length")
        ax.set_ylabel("exact match (greedy, held-out)")
        ax.set_title(ATTENTION_TASKS[task][0], fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ forecasting
def run_forecast(args, out=print):
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    model = Forecaster(1, 1, args.model_type, args.hidden_size, rng=rng)
    params = list(model.parameters())
    opt = make_optimizer("adam", params, args.learning_rate)
    test_noisy, test_clean = sine_batch(args.test_size, args.seq_length + args.horizon,
                                        np.random.default_rng(args.seed + 1), args.noise)
    out(f"sines with periods {', '.join(f'{p:g}' for p in tasks.SINE_PERIODS)} steps + noise "
        f"{args.noise:g}; {args.model_type.upper()} H={args.hidden_size}, "
        f"{model.num_parameters():,} parameters; {args.steps} steps of {args.batch_size} windows "
        f"of {args.seq_length}")
    guard, t0 = DivergenceGuard(margin=3.0), time.perf_counter()
    for step in range(1, args.steps + 1):
        noisy, _ = sine_batch(args.batch_size, args.seq_length, rng, args.noise)
        pred, _ = model(noisy[:-1])
        loss, dpred = mse_loss(pred, noisy[1:])
        guard.check(loss, step)
        opt.zero_grad()
        model.backward(dpred)
        optim.clip_grad_norm_(params, args.clip)
        opt.step()
        if step % max(1, args.steps // 6) == 0 or step == args.steps:
            out(f"step {step:>5}/{args.steps}  train MSE {loss:.4f}  ({time.perf_counter() - t0:.0f} s)")
    metrics, curves = forecast_metrics(model, test_noisy, test_clean, args)
    for k, v in metrics.items():
        out(f"  {k:<46} {v:.4f}")
    path = plot_forecast(curves, args, out_dir / "forecast.png")
    (out_dir / "forecast.md").write_text("\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items()) + "\n")
    out(f"figure: {path}")
    return model, metrics


def sine_batch(n, T, rng, noise, dtype=np.float32):
    noisy, clean = tasks.sine_mixture(n, T, rng, noise=noise)
    return noisy[:, :, None].astype(dtype), clean[:, :, None].astype(dtype)


def forecast_metrics(model, noisy, clean, args):
    """One-step-ahead MSE over the first seq_length steps, and a free-running forecast of the
    next `horizon` steps from there, each against baselines."""
    W, Hz = args.seq_length, args.horizon
    with no_grad():
        pred, _ = model(noisy[:W])
    rollout = model.rollout(noisy[:W + 1], Hz)                       # predicts steps W+1 ..
    future = clean[W + 1:W + 1 + Hz]
    metrics = {
        "one-step MSE vs the noisy next value": mse_loss(pred, noisy[1:W + 1])[0],
        "one-step MSE vs the clean next value": mse_loss(pred, clean[1:W + 1])[0],
        "  noise floor (noise variance)": args.noise ** 2,
        "  persistence baseline (next = this), vs clean": mse_loss(noisy[:W], clean[1:W + 1])[0],
        f"free-running {Hz}-step forecast MSE vs clean": mse_loss(rollout, future)[0],
        "  zero baseline (predict the mean), vs clean": mse_loss(np.zeros_like(future), future)[0],
    }
    curves = dict(noisy=noisy[:, 0, 0], clean=clean[:, 0, 0], pred=pred[:, 0, 0],
                  rollout=rollout[:, 0, 0], W=W)
    return metrics, curves


def plot_forecast(c, args, path):
    plt = _plt()
    W = c["W"]
    fig, ax = plt.subplots(figsize=(9, 3.8), dpi=90)
    t = np.arange(len(c["clean"]))
    ax.plot(t, c["noisy"], ".", ms=2.5, color="0.6", label="observed (noisy)")
    ax.plot(t, c["clean"], "-", lw=1, color="k", label="true signal")
    ax.plot(np.arange(1, W + 1), c["pred"], "-", lw=1.4, color="tab:blue", label="one-step prediction")
    ax.plot(np.arange(W + 1, W + 1 + len(c["rollout"])), c["rollout"], "-", lw=1.6, color="tab:orange",
            label="free-running forecast")
    ax.axvline(W + 0.5, color="tab:orange", ls=":", lw=1)
    ax.set_xlabel("time step")
    ax.set_title(f"{args.model_type.upper()} forecaster on a held-out series", fontsize=10)
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ command line
def _int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(f"lengths must be integers >= 2, got {text!r}")
    return sorted(set(values))


def _model_list(text):
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [n for n in names if n not in MODELS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"models are {', '.join(MODELS)}, got {text!r}")
    return list(dict.fromkeys(names))


def _attention_task_list(text):
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [n for n in names if n not in ATTENTION_TASKS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"tasks are {', '.join(ATTENTION_TASKS)}, got {text!r}")
    return list(dict.fromkeys(names))


def _task_list(text):
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [n for n in names if n not in MEMORY_TASKS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"tasks are adding and copy, got {text!r}")
    return names


def build_parser():
    p = Parser(prog="python -m scratchrnn.experiments", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="experiment",
                           metavar="{memory,gradients,seq2seq,attention,forecast}")
    sub.required = True
    fmt = argparse.ArgumentDefaultsHelpFormatter

    def common(q, seed=0):
        q.add_argument("--out_dir", default="runs/experiments", help="where figures and tables go")
        q.add_argument("--seed", type=int, default=seed)

    q = sub.add_parser("memory", help="adding and copy-memory problems against T", formatter_class=fmt)
    q.add_argument("--lengths", type=_int_list, default=[10, 50, 100, 200], help="e.g. 10,50,100,200")
    q.add_argument("--tasks", type=_task_list, default=["adding", "copy"], help="adding,copy")
    q.add_argument("--models", type=_model_list, default=list(KINDS), help="any of rnn, lstm, "
                   "gru, peephole (LSTM with peepholes), cifg (LSTM with coupled input-forget gate)")
    q.add_argument("--hidden_size", type=int, default=32,
                   help="the LSTM's; the others get the hidden size with the same parameter count")
    q.add_argument("--steps", type=int, default=1000, help="training steps per run at most "
                   "(a run stops early once solved)")
    q.add_argument("--batch_size", type=int, default=64)
    q.add_argument("--learning_rate", "--lr", type=float, default=1e-2)
    q.add_argument("--copy_length", type=int, default=3, help="symbols to remember (copy task)")
    q.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes")
    common(q)

    q = sub.add_parser("gradients", help="|dL/dh_t| against t, at init and after training",
                       formatter_class=fmt)
    q.add_argument("--length", type=int, default=100)
    q.add_argument("--hidden_size", type=int, default=32, help="the LSTM's (equal parameter budget)")
    q.add_argument("--steps", type=int, default=1000, help="training steps at most (stops once solved)")
    q.add_argument("--learning_rate", "--lr", type=float, default=1e-2)
    q.add_argument("--eval_size", type=int, default=64, help="examples the norms are averaged over")
    q.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    common(q)

    q = sub.add_parser("seq2seq", help="encoder-decoder on digit strings", formatter_class=fmt)
    q.add_argument("--task", choices=("reverse", "sort"), default="reverse")
    q.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    q.add_argument("--epochs", type=int, default=10)
    q.add_argument("--train_size", type=int, default=4000)
    q.add_argument("--val_size", type=int, default=500)
    q.add_argument("--min_len", type=int, default=3)
    q.add_argument("--max_len", type=int, default=8)
    q.add_argument("--hidden_size", type=int, default=128)
    q.add_argument("--embedding_dim", type=int, default=16)
    q.add_argument("--batch_size", type=int, default=64)
    q.add_argument("--learning_rate", "--lr", type=float, default=5e-3)
    q.add_argument("--clip", type=float, default=5.0)
    q.add_argument("--teacher_forcing_ratio", type=float, default=1.0,
                   help="probability of feeding the true previous token (at the first epoch)")
    q.add_argument("--tf_schedule", choices=("constant", "linear", "exponential", "inverse_sigmoid"),
                   default="constant", help="how the ratio decays over the epochs")
    q.add_argument("--tf_final", type=float, default=0.0, help="last epoch's ratio (linear)")
    q.add_argument("--tf_decay", type=float, default=0.8, help="factor per epoch (exponential)")
    q.add_argument("--num_examples", type=int, default=6)
    q.add_argument("--attention", choices=("none", "additive", "general", "dot"), default="none",
                   help="Luong-style attention over the encoder outputs (with input feeding)")
    q.add_argument("--num_heatmaps", type=int, default=3,
                   help="validation examples whose attention weights are drawn (with --attention)")
    common(q)

    q = sub.add_parser("attention", help="the same encoder-decoder with and without attention, "
                       "exact match against source length", formatter_class=fmt)
    q.add_argument("--tasks", type=_attention_task_list, default=list(ATTENTION_TASKS),
                   help="any of " + ", ".join(ATTENTION_TASKS))
    q.add_argument("--score", choices=("additive", "general", "dot"), default="general",
                   help="the attention model's score")
    q.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    q.add_argument("--epochs", type=int, default=12)
    q.add_argument("--train_size", type=int, default=4000)
    q.add_argument("--val_size", type=int, default=600)
    q.add_argument("--min_len", type=int, default=3, help="digit strings' shortest length")
    q.add_argument("--max_len", type=int, default=30, help="digit strings' longest length")
    q.add_argument("--hidden_size", type=int, default=64)
    q.add_argument("--embedding_dim", type=int, default=16)
    q.add_argument("--batch_size", type=int, default=64)
    q.add_argument("--learning_rate", "--lr", type=float, default=5e-3)
    q.add_argument("--clip", type=float, default=5.0)
    q.add_argument("--num_heatmaps", type=int, default=2, help="heat maps per task")
    q.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes")
    common(q)

    q = sub.add_parser("forecast", help="many-to-many regression on noisy sines", formatter_class=fmt)
    q.add_argument("--model_type", choices=KINDS, default="gru")
    q.add_argument("--hidden_size", type=int, default=32)
    q.add_argument("--steps", type=int, default=800)
    q.add_argument("--batch_size", type=int, default=32)
    q.add_argument("--seq_length", type=int, default=100, help="training window (and warm-up)")
    q.add_argument("--horizon", type=int, default=100, help="free-running forecast length")
    q.add_argument("--noise", type=float, default=0.1, help="std of the observation noise")
    q.add_argument("--learning_rate", "--lr", type=float, default=5e-3)
    q.add_argument("--clip", type=float, default=1.0)
    q.add_argument("--test_size", type=int, default=64)
    common(q)
    return p


def check_args(args):
    positive = [k for k in ("hidden_size", "steps", "batch_size", "epochs", "train_size", "val_size",
                            "min_len", "jobs", "length", "eval_size", "seq_length", "horizon",
                            "copy_length", "test_size")
                if isinstance(getattr(args, k, None), int) and getattr(args, k) < 1]
    if positive:
        raise UsageError(f"--{positive[0]} must be at least 1, got {getattr(args, positive[0])}")
    if getattr(args, "learning_rate", 1) <= 0:
        raise UsageError(f"--learning_rate must be positive, got {args.learning_rate}")
    if args.experiment in ("seq2seq", "attention"):
        if args.num_heatmaps < 0:
            raise UsageError(f"--num_heatmaps must be >= 0, got {args.num_heatmaps}")
        if args.max_len < args.min_len:
            raise UsageError(f"--max_len ({args.max_len}) must be >= --min_len ({args.min_len})")
        for k in ("teacher_forcing_ratio", "tf_final"):
            if hasattr(args, k) and not 0 <= getattr(args, k) <= 1:
                raise UsageError(f"--{k} must be in [0, 1], got {getattr(args, k)}")
        if hasattr(args, "tf_decay") and not 0 < args.tf_decay <= 1:
            raise UsageError(f"--tf_decay must be in (0, 1], got {args.tf_decay}")
    if args.experiment == "gradients" and args.length < 2:
        raise UsageError(f"--length must be at least 2, got {args.length}")
    if args.experiment == "forecast" and args.noise < 0:
        raise UsageError(f"--noise must be >= 0, got {args.noise}")


RUNNERS = {"memory": run_memory, "gradients": run_gradients, "seq2seq": run_seq2seq,
           "forecast": run_forecast, "attention": run_attention}


def main(argv=None):
    def work():
        args = build_parser().parse_args(argv)
        check_args(args)
        t0 = time.perf_counter()
        RUNNERS[args.experiment](args)
        print(f"done in {time.perf_counter() - t0:.0f} s")
    return run_main(work, diverged_advice="try a lower --learning_rate")


if __name__ == "__main__":
    sys.exit(main())
