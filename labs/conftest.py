"""pytest set-up for the lab graders: ``pytest labs/lab01_rnn_step``.

Adds ``--impl`` (same as the environment variable SCRATCHRNN_LAB_IMPL): which implementation
the graders load through the ``impl`` fixture, ``stub`` (default: the file you edit) or another
module / file path (see labs/grading.py).
"""
import os
import sys
from pathlib import Path

import pytest

# Make ``import labs.grading`` work however pytest was started (``pytest``, ``python -m
# pytest``, from the repository root or from inside a lab folder, or in an exported copy).
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

os.environ.setdefault("MPLBACKEND", "Agg")   # lab02 plots; never open a window
# The graders' matrices are tiny: one BLAS thread is faster, and far faster on a busy machine
# (threads spinning against each other). Takes effect only if numpy is not imported yet.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from labs import grading  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--impl", default=None,
                     help="what the lab graders grade: 'stub' (default, your file in the lab "
                          "folder), or another .py file or module path. "
                          f"Same as the environment variable {grading.ENV_VAR}.")


def _spec(config):
    return config.getoption("--impl", default=None) or os.environ.get(grading.ENV_VAR) or "stub"


def pytest_report_header(config):
    spec = _spec(config)
    what = "your files in the lab folders" if spec == "stub" else repr(spec)
    return f"scratchrnn labs: grading {what}"


@pytest.fixture(scope="module")
def impl(request):
    """The module under test for the lab this test file belongs to."""
    lab = grading.lab_of(request.module.__file__)
    spec = _spec(request.config)
    try:
        return grading.load_impl(spec, lab)
    except grading.ReferenceNotShipped as e:
        problem, not_shipped = str(e), True
    except Exception as e:  # a syntax error in the student's file is the usual cause
        problem, not_shipped = f"{type(e).__name__}: {e}", False
    # Failing outside the except block keeps pytest from printing the grader's traceback.
    if not_shipped:
        grading.fail(f"cannot grade {spec!r}: {problem}")
    target = grading.stub_path(lab) if spec == "stub" else spec
    grading.fail(f"could not import {grading.describe_impl(spec, lab)}: {problem}\n"
                 f"  hint: run `python {target}` to see the full error.")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A function still raising NotImplementedError gets a one-line report, not a traceback."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        lab = grading.lab_of(str(item.path))
        where = grading.LABS[lab][1]
        report.longrepr = (f"{item.name}: not written yet: {call.excinfo.value or 'NotImplementedError'}"
                           f"\n  fill in that TODO block in {where}, then run pytest again.")
