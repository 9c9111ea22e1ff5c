"""python -m scratchrnn.classify: classify name-like strings by their made-up origin.

    python -m scratchrnn.classify --model_type lstm --epochs 1 --data_size 2000
    python -m scratchrnn.classify --model_type gru --bidirectional

Many-to-one classification over ragged batches: each batch is padded to its longest name and
the recurrent layer is given ``lengths``, so every name is read to its own end and padding
never reaches the classifier (``scratchrnn.models.SequenceClassifier``). The data
(``scratchrnn.tasks.make_names``) are 3-20 letter names from five origins that share some
syllables, so a name's class is in its letters but not in any single one of them.
Prints training and validation loss and accuracy each epoch, then a few predictions.
"""
if __name__ == "__main__":
    from scratchrnn import prefer_one_blas_thread
    prefer_one_blas_thread()      # before NumPy loads

import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from .. import optim, tasks  # noqa: E402
from ..models import SequenceClassifier  # noqa: E402
from ..nn import no_grad, softmax_cross_entropy  # noqa: E402
from ..training import DivergenceGuard, make_optimizer  # noqa: E402
from ._common import Parser, UsageError, run_main  # noqa: E402


def build_parser():
    p = Parser(prog="python -m scratchrnn.classify", description=__doc__.split("\n\n")[0])
    p.add_argument("--model_type", choices=("rnn", "lstm", "gru"), default="lstm")
    p.add_argument("--bidirectional", action="store_true", help="read each name both ways")
    p.add_argument("--hidden_size", type=int, default=64)
    p.add_argument("--embedding_dim", type=int, default=16)
    p.add_argument("--num_layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--data_size", type=int, default=4000, help="names generated in all")
    p.add_argument("--val_frac", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--learning_rate", "--lr", type=float, default=5e-3)
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd", "rmsprop", "adagrad"), default="adam")
    p.add_argument("--clip", "--max_grad_norm", dest="clip", type=float, default=5.0,
                   help="max global gradient norm (0: none); --max_grad_norm as in train")
    p.add_argument("--num_predictions", type=int, default=8, help="predictions shown at the end")
    p.add_argument("--seed", type=int, default=0)
    return p


def check_args(args):
    for k in ("hidden_size", "embedding_dim", "num_layers", "epochs", "batch_size"):
        if getattr(args, k) < 1:
            raise UsageError(f"--{k} must be at least 1, got {getattr(args, k)}")
    for k in ("dropout", "val_frac", "learning_rate", "clip"):
        if not math.isfinite(getattr(args, k)):        # NaN would pass the range checks below
            raise UsageError(f"--{k} must be a finite number, got {getattr(args, k)}")
    if args.data_size < 10:
        raise UsageError(f"--data_size must be at least 10, got {args.data_size}")
    if not 0 < args.val_frac < 1:
        raise UsageError(f"--val_frac must be in (0, 1), got {args.val_frac}")
    if not 0 <= args.dropout < 1:
        raise UsageError(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.learning_rate <= 0:
        raise UsageError(f"--learning_rate must be positive, got {args.learning_rate}")
    if args.clip < 0 or args.num_predictions < 0:
        raise UsageError("--clip and --num_predictions must be >= 0")


def batches(names, labels, batch_size, rng=None):
    """Yield (ids (B, T), lengths (B,), labels (B,)), each batch padded to its own longest name;
    shuffled when rng is given."""
    order = np.arange(len(names)) if rng is None else rng.permutation(len(names))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids, lengths = tasks.encode_names([names[i] for i in idx])
        yield ids, lengths, labels[idx]


def run_epoch(model, names, labels, batch_size, optimizer=None, clip=0.0, rng=None, guard=None):
    """One pass; trains when an optimizer is given. Returns (mean loss, accuracy)."""
    total_loss = correct = 0.0
    for k, (ids, lengths, y) in enumerate(batches(names, labels, batch_size, rng)):
        logits = model(ids, lengths) if optimizer else _eval_logits(model, ids, lengths)
        loss, dlogits = softmax_cross_entropy(logits, y)
        if optimizer is not None:
            if guard:
                guard.check(loss, k + 1)
            optimizer.zero_grad()
            model.backward(dlogits)
            if clip:
                optim.clip_grad_norm_(list(model.parameters()), clip)
            optimizer.step()
        pred = logits.argmax(axis=1)
        total_loss += loss * len(y)
        correct += (pred == y).sum()
    return total_loss / len(names), correct / len(names)


def _eval_logits(model, ids, lengths):
    model.eval()
    with no_grad():
        logits = model(ids, lengths)
    model.train()
    return logits


def train_classifier(args, out=print):
    """Generate the data, train, print per-epoch metrics and predictions; returns (model, history)."""
    check_args(args)
    rng = np.random.default_rng(args.seed)
    names, labels = tasks.make_names(args.data_size, rng)
    n_val = max(1, int(round(args.val_frac * len(names))))
    train_x, train_y = names[n_val:], labels[n_val:]
    val_x, val_y = names[:n_val], labels[:n_val]
    model = SequenceClassifier(len(tasks.ALPHABET) + 1, len(tasks.CLASS_NAMES), args.model_type,
                               args.embedding_dim, args.hidden_size, args.num_layers,
                               args.bidirectional, args.dropout, rng=rng)
    opt = make_optimizer(args.optimizer, list(model.parameters()), args.learning_rate)
    out(f"data: {len(train_x)} training and {len(val_x)} validation names, "
        f"{len(tasks.CLASS_NAMES)} classes ({', '.join(tasks.CLASS_NAMES)}), lengths 3-20")
    out(f"model: {'bidirectional ' if args.bidirectional else ''}{args.model_type.upper()} "
        f"{args.num_layers}x{args.hidden_size}, embedding {args.embedding_dim}, "
        f"{model.num_parameters():,} parameters; chance accuracy {1 / len(tasks.CLASS_NAMES):.0%}")
    history, guard = [], DivergenceGuard(margin=3.0)
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        tr_loss, tr_acc = run_epoch(model, train_x, train_y, args.batch_size, opt, args.clip, rng, guard)
        va_loss, va_acc = run_epoch(model, val_x, val_y, args.batch_size)
        history.append((epoch, tr_loss, tr_acc, va_loss, va_acc))
        out(f"epoch {epoch:>2}/{args.epochs}  train loss {tr_loss:.4f} acc {tr_acc:6.1%}  "
            f"val loss {va_loss:.4f} acc {va_acc:6.1%}  ({time.perf_counter() - t0:.1f} s)")
    show_predictions(model, val_x[:args.num_predictions], val_y[:args.num_predictions], out)
    return model, history


def show_predictions(model, names, labels, out=print):
    if not names:
        return
    ids, lengths = tasks.encode_names(names)
    logits = _eval_logits(model, ids, lengths).astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    out("predictions (validation names):")
    for name, y, probs in zip(names, labels, p):
        k = int(probs.argmax())
        mark = "ok" if k == y else f"WRONG, is {tasks.CLASS_NAMES[y]}"
        out(f"  {name.capitalize():<22} -> {tasks.CLASS_NAMES[k]:<7} ({probs[k]:.0%})  {mark}")


def main(argv=None):
    return run_main(lambda: train_classifier(build_parser().parse_args(argv)),
                    diverged_advice="try a lower --learning_rate")


if __name__ == "__main__":
    sys.exit(main())
