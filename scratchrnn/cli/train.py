"""python -m scratchrnn.train: train a character (or word) language model.

    python -m scratchrnn.train --clip 5                       # Tiny Shakespeare, 2x256 LSTM
    python -m scratchrnn.train --data_file my.txt --model_type gru --clip 5
    python -m scratchrnn.train --resume runs/shakespeare --max_steps 8000
    OPENBLAS_NUM_THREADS=1 mpiexec -n 2 python -m scratchrnn.train --clip 5   # 2 ranks x 16 rows

Under mpiexec (``pip install 'scratchrnn[mpi]'``) the same flags train data-parallel
(scratchrnn/distributed.py): each rank runs its share of every batch, rank 0 prints and writes.

The flags are the settings of ``scratchrnn.training`` (its ``DEFAULTS``), which runs the loop:
truncated BPTT over B parallel streams, clipping, validation, samples, ``best``/``last``
checkpoints, ``history.csv`` and ``loss.png`` in --save_dir.
"""
import argparse
import sys

from ..checkpoint import CheckpointError
from ..distributed import ReplicasDiffer, data_parallel
from ..training import DEFAULTS, OPTIMIZERS, ConfigError, Diverged, train
from ._common import Parser, run_main


def build_parser():
    # Flags default to None so that a resumed run can tell what the user set (``given``);
    # --help shows the real defaults, from DEFAULTS, instead of argparse's "None".
    p = Parser(prog="python -m scratchrnn.train", description=__doc__.split("\n\n")[0],
               formatter_class=argparse.HelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--data_file", help="a UTF-8 text file (default: Tiny Shakespeare, downloaded "
                   "and cached; SCRATCHRNN_DATA_DIR points at a folder that already has it)")
    g.add_argument("--vocab_type", choices=("char", "word"))
    g.add_argument("--max_vocab_size", type=int, help="keep the most frequent tokens; the rest "
                   "become <unk>")
    g.add_argument("--val_frac", type=float)
    g.add_argument("--test_frac", type=float)
    g = p.add_argument_group("model")
    g.add_argument("--model_type", choices=("rnn", "lstm", "gru"))
    g.add_argument("--hidden_size", type=int)
    g.add_argument("--num_layers", type=int)
    g.add_argument("--embedding_dim", type=int)
    g.add_argument("--dropout", type=float, help="between layers and before the output layer")
    g.add_argument("--dtype", choices=("float32", "float64"))
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int)
    g.add_argument("--max_steps", type=int, help="stop after this many steps (overrides --epochs)")
    g.add_argument("--max_minutes", type=float, help="stop (and save) after this much wall-clock "
                   "time, validations included; 0 means no limit")
    g.add_argument("--batch_size", "--batch", type=int)
    g.add_argument("--seq_length", type=int, help="truncated-BPTT length")
    g.add_argument("--learning_rate", "--lr", type=float)
    g.add_argument("--optimizer", choices=sorted(OPTIMIZERS))
    g.add_argument("--momentum", type=float, help="for sgd and rmsprop")
    g.add_argument("--weight_decay", type=float)
    g.add_argument("--max_grad_norm", "--clip", type=float,
                   help="clip the global gradient norm to this (recommended: 5)")
    g.add_argument("--teacher_forcing_ratio", type=float, help="below 1, feed the model its "
                   "own sampled prediction at rate 1 - ratio (scheduled sampling)")
    g.add_argument("--lr_schedule", choices=("constant", "step", "cosine", "budget"),
                   help="cosine: decay to --min_lr over the steps of --epochs/--max_steps; "
                   "budget: decay to --min_lr by the end of --max_minutes or the step budget, "
                   "whichever comes first")
    g.add_argument("--lr_decay", type=float, help="with --lr_schedule step: multiply the rate "
                   "by this after every epoch (setting it below 1 implies step)")
    g.add_argument("--warmup_steps", type=int)
    g.add_argument("--min_lr", type=float, help="where cosine and budget schedules end")
    g.add_argument("--eval_interval", type=int, help="steps between validations and checkpoints")
    g.add_argument("--patience", type=int, help="stop after this many validations without "
                   "improvement (early stopping)")
    g = p.add_argument_group("output")
    g.add_argument("--save_dir")
    g.add_argument("--resume", help="continue from a checkpoint (NAME, NAME.npz or a save dir)")
    g.add_argument("--seed", type=int)
    g.add_argument("--sample_length", type=int, help="characters sampled at each validation")
    g.add_argument("--temperature", type=float, help="for the samples printed while training")
    g.add_argument("--print_every", type=float, help="seconds between progress lines")
    for action in p._actions:
        if DEFAULTS.get(action.dest) is not None:
            action.help = f"{action.help or ''} (default: {DEFAULTS[action.dest]})".lstrip()
    return p


def parse_args(argv=None):
    """Parse flags; returns (args, given) where given is the set of flags set on the command line."""
    ns = build_parser().parse_args(argv)
    given = {k for k, v in vars(ns).items() if v is not None}
    for k, v in DEFAULTS.items():
        if getattr(ns, k) is None:
            setattr(ns, k, v)
    return ns, given


def main(argv=None):
    status = {}

    def work():
        dp = data_parallel()         # under mpiexec: one of several ranks (scratchrnn/distributed.py)
        dp.quiet_unless_root()
        # errors that every rank raises at the same point pass; any other ends all ranks
        with dp.abort_on_error(collective=(ConfigError, CheckpointError, Diverged,
                                           KeyboardInterrupt, ReplicasDiffer)):
            args, given = parse_args(argv)
            status["args"] = args       # train() settles the save dir (named after the corpus)
            train(args, given)

    return run_main(work, interrupted=lambda: "the last checkpoint written is in "
                    + getattr(status.get("args"), "save_dir", DEFAULTS["save_dir"]))


if __name__ == "__main__":
    sys.exit(main())
