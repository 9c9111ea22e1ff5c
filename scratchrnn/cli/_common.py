"""What every command-line program shares: one parser, one usage error, one set of exit codes.

    0    done
    2    bad input: a flag, the data, a checkpoint (one ``error: ...`` line on stderr)
    3    the training run diverged (the message says what to change)
    130  interrupted (Ctrl-C)

Programs parse with ``Parser`` (a bad flag is a ``UsageError``, not argparse's usage block and
``SystemExit``) and run their work inside ``run_main``, which turns the errors above into their
line and status. The library under the programs raises ``ConfigError`` (bad settings or data),
``CheckpointError`` and ``Diverged``; it never prints usage and never exits.
"""
import argparse
import sys

from ..checkpoint import CheckpointError
from ..training import ConfigError, Diverged

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130


class UsageError(ConfigError):
    """Bad command-line input: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse with the defaults shown in --help and bad flags raised as UsageError."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(message)


def one_line(message):
    """A message on one line: a wrapped library message must not break ``error: ...``."""
    return " ".join(str(message).split())


def run_main(work, interrupted=None, diverged_advice=None):
    """Run ``work()`` and return the exit status, printing any expected failure as one line.

    ``interrupted``: a function saying what to tell on Ctrl-C (e.g. where the last checkpoint
    is); ``diverged_advice``: what to add to a divergence message (e.g. which flag to lower).
    """
    try:
        work()
    except (ConfigError, CheckpointError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except Diverged as e:
        print(f"error: {e}" + (f": {diverged_advice}" if diverged_advice else ""), file=sys.stderr)
        return EXIT_DIVERGED
    except KeyboardInterrupt:
        print("\ninterrupted" + (f": {interrupted()}" if interrupted else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
