"""``python -m scratchrnn.export``: a trained language model's checkpoint -> a safetensors file.

    python -m scratchrnn.export --checkpoint runs/shakespeare/best --out model.safetensors

The weights go into the file under CharLM's parameter names (safetensors: raw arrays and a
JSON header, no pickle), the model's configuration and vocabulary into its metadata; docs/api.md
("To and from PyTorch") has the three lines that load it into a PyTorch module. Needs the
``export`` extra (``pip install 'scratchrnn[export]'``). Bad input (a missing or damaged
checkpoint, an unwritable --out, no safetensors) ends with one ``error: ...`` line, status 2.
"""
import argparse
import sys
import warnings

from ..interop import export_safetensors
from ._common import Parser, UsageError, one_line, run_main


def build_parser():
    p = Parser(prog="python -m scratchrnn.export",
               description="Write a language model checkpoint's weights as safetensors.")
    p.add_argument("--checkpoint", required=True, metavar="PATH", default=argparse.SUPPRESS,
                   help="a checkpoint (NAME, NAME.npz or NAME.json) or a save dir (its 'last')")
    p.add_argument("--out", required=True, metavar="FILE", default=argparse.SUPPRESS,
                   help="the .safetensors file to write")
    return p


def run(args):
    """Parsed arguments -> the line that says what was written."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            meta = export_safetensors(args.checkpoint, args.out)
        except ImportError as e:
            raise UsageError(str(e)) from None
        except OSError as e:
            raise UsageError(f"cannot write --out {args.out}: {e}") from None
    for w in caught:          # e.g. a stale .json beside the .npz
        print(f"warning: {one_line(w.message)}", file=sys.stderr)
    return (f"wrote {args.out}: the weights of {args.checkpoint} (step {meta['step'] or '?'}), "
            f"config and vocabulary in its metadata")


def main(argv=None):
    """Command-line entry point; returns the exit status (0, or 2 for bad input)."""
    return run_main(lambda: print(run(build_parser().parse_args(argv))))


if __name__ == "__main__":
    sys.exit(main())
