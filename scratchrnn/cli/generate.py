"""``python -m scratchrnn.generate``: sample text from a trained language model checkpoint.

    python -m scratchrnn.generate                                  # runs/shakespeare/best
    python -m scratchrnn.generate --prime "ROMEO:" --temperature 0.5 --seed 1
    python -m scratchrnn.generate --top_p 0.9 --length 1000
    python -m scratchrnn.generate --beam_size 5 --length 100       # most likely continuation

Bad input (a missing or damaged checkpoint, impossible flag values, characters the vocabulary
lacks, an unreadable prime file) ends with one ``error: ...`` line on stderr and exit status 2.
"""
import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from ..checkpoint import CheckpointError, checkpoint_paths, load_model
from ..sampling import beam_search, check_sampling_args, encode_prime, generate_text
from ._common import Parser, UsageError, one_line, run_main

# The trainer saves into runs/shakespeare by default; its best checkpoint is the natural choice.
DEFAULT_CHECKPOINT = Path("runs") / "shakespeare" / "best"
DEFAULT_TEMPERATURE = 0.8


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    return parse


def _float(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def build_parser():
    # Each help text states its default (argparse's own would print "None" for most).
    p = Parser(prog="python -m scratchrnn.generate",
               description="Generate text from a scratchrnn language model checkpoint.",
               formatter_class=argparse.HelpFormatter)
    p.add_argument("--checkpoint", metavar="PATH",
                   help="a checkpoint (NAME, NAME.npz or NAME.json) or a save dir (its 'last'); "
                        f"default: {DEFAULT_CHECKPOINT} if it exists")
    p.add_argument("--length", "--max_length", type=_int_at_least(0), default=500,
                   help="tokens (characters, or words for a word model) to generate (default 500)")
    p.add_argument("--temperature", type=_float, default=None,
                   help=f"divide the logits by this before sampling: lower is safer, higher more "
                        f"varied, 0 is greedy (default {DEFAULT_TEMPERATURE})")
    p.add_argument("--top_k", type=_int_at_least(1), default=None, metavar="K",
                   help="sample only among the K most likely tokens (default: all)")
    p.add_argument("--top_p", type=_float, default=None, metavar="P",
                   help="nucleus sampling: only among the most likely tokens whose total "
                        "probability reaches P, 0 < P <= 1 (default: 1, all)")
    p.add_argument("--beam_size", type=_int_at_least(1), default=None, metavar="N",
                   help="beam search with N hypotheses instead of sampling (deterministic; "
                        "default: sampling)")
    prime = p.add_mutually_exclusive_group()
    prime.add_argument("--prime", default="", metavar="TEXT",
                       help="text to start from (default: none). Before it the model runs on its "
                            "own output for a while, ending at a line break, so that the "
                            "prime meets a state like those of training")
    prime.add_argument("--prime_file", metavar="FILE", help="read the prime text from a UTF-8 "
                       "file (default: none)")
    p.add_argument("--seed", type=_int_at_least(0), default=None,
                   help="random seed: the same seed gives the same text (default: fresh randomness)")
    p.add_argument("--greedy", action="store_true",
                   help="always take the most likely token (same as --temperature 0)")
    return p


def _check_combinations(args):
    """Refuse flags that the chosen decoding would silently ignore."""
    sampling_flags = [name for name, value in (("--temperature", args.temperature),
                                               ("--top_k", args.top_k), ("--top_p", args.top_p))
                      if value is not None]
    for mode, flag in (("--beam_size", args.beam_size is not None), ("--greedy", args.greedy)):
        if flag and sampling_flags:
            raise UsageError(f"{mode} does not sample, so {', '.join(sampling_flags)} would be "
                             f"ignored; drop one or the other")
    if args.beam_size is not None and args.greedy:
        raise UsageError("--greedy and --beam_size are different decoders; choose one "
                         "(--beam_size 1 is greedy)")
    if args.temperature is None:
        args.temperature = DEFAULT_TEMPERATURE
    try:
        check_sampling_args(args.temperature, args.top_k, args.top_p)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _checkpoint_path(args):
    if args.checkpoint is not None:
        return args.checkpoint
    if checkpoint_paths(DEFAULT_CHECKPOINT)[0].is_file():
        return str(DEFAULT_CHECKPOINT)
    raise UsageError(f"no --checkpoint given and {DEFAULT_CHECKPOINT}.npz does not exist: train a "
                     f"model first with `python -m scratchrnn.train --clip 5`, or pass "
                     f"--checkpoint PATH")


def _load(path):
    """load_model, with its warnings (e.g. a stale .json) shown as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model, vocab, _ = load_model(path)
        except (CheckpointError, OSError) as e:
            raise UsageError(str(e)) from None
    for w in caught:
        print(f"warning: {one_line(w.message)}", file=sys.stderr)
    return model, vocab


def _read_prime(args):
    if args.prime_file is None:
        return args.prime
    try:
        return Path(args.prime_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read --prime_file {args.prime_file}: {e}") from None


def run(args):
    """Parsed arguments -> the generated text (raises UsageError for bad input)."""
    _check_combinations(args)
    model, vocab = _load(_checkpoint_path(args))
    try:
        check_sampling_args(args.temperature, args.top_k, args.top_p, vocab_size=len(vocab))
    except ValueError as e:          # only now is the vocabulary size known
        raise UsageError(str(e)) from None
    prime = _read_prime(args)
    try:
        encode_prime(vocab, prime)
    except ValueError as e:          # the vocabulary's message lists the unknown characters
        raise UsageError(f"the prime text has {e}") from None
    if args.beam_size is not None:
        return beam_search(model, vocab, args.length, prime, beam_size=args.beam_size)
    return generate_text(model, vocab, args.length, prime, temperature=args.temperature,
                         top_k=args.top_k, top_p=args.top_p, greedy=args.greedy,
                         rng=np.random.default_rng(args.seed))


def main(argv=None):
    """Command-line entry point; returns the exit status (0, or 2 for bad input)."""
    return run_main(lambda: print(run(build_parser().parse_args(argv))))


if __name__ == "__main__":
    sys.exit(main())
