"""Proof that the lab graders grade (issue 4).

For every lab in labs/, its grader is run in-process (pytest.main with a collecting plugin)
against three kinds of implementation, chosen with the graders' own ``--impl`` switch:

* the reference solution (labs/_reference/labNN.py): every test must pass;
* the untouched stub (labs/labNN_*/<stub>.py): every test must fail;
* each deliberately wrong implementation in tests/lab_mutants/labNN_*.py: at least one test
  must fail (run with -x: the first failure is enough).

A summary line per lab is added to pytest's terminal summary, e.g.
``lab03: reference passes (14/14), stub fails (14/14 graded), mutants caught (6/6)``.
Also checked: the pristine copies used by ``labs/reset.py`` equal the stubs, the export works
and an export whose stubs are replaced by the reference solution passes in a fresh process
(what a student does: paste a solution, run pytest), and labs/ stays out of a plain ``pytest``.
"""
import configparser
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:           # `import labs` however pytest was started
    sys.path.insert(0, str(ROOT))

from labs.grading import LABS, load_impl, stub_path  # noqa: E402

MUTANTS_DIR = Path(__file__).resolve().parent / "lab_mutants"
MUTANTS = sorted(p for p in MUTANTS_DIR.glob("lab[0-9][0-9]_*.py"))

# {lab: {"reference": (passed, total), "stub": (failed, total), "mutants": {name: caught}}}
SUMMARY = {lab: {"mutants": {}} for lab in LABS}


# --------------------------------------------------------------------------- running a grader
class _Collector:
    """pytest plugin: the final outcome of every test item of one grader run."""

    def __init__(self):
        self.outcomes = {}     # nodeid -> "passed" | "failed" | "skipped"
        self.texts = {}        # nodeid -> failure text
        self.collect_errors = []

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
            self.texts.setdefault(report.nodeid, report.longreprtext)
        elif report.when == "call" or report.skipped:
            self.outcomes.setdefault(report.nodeid, report.outcome)

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(report.longreprtext)

    def failed(self):
        return [n for n, o in self.outcomes.items() if o == "failed"]

    def passed(self):
        return [n for n, o in self.outcomes.items() if o == "passed"]


def run_grader(lab, impl, stop_at_first=False, select=None):
    """Run labs/<lab>/'s grader against ``impl`` in this process; returns the _Collector.
    select: a pytest -k expression (only those tests)."""
    collector = _Collector()
    args = [str(ROOT / "labs" / LABS[lab][0]), f"--impl={impl}", "-p", "no:cacheprovider",
            "-o", "addopts=", "-qq", "--tb=no", f"--rootdir={ROOT}"]
    if stop_at_first:
        args.append("-x")
    if select:
        args += ["-k", select]
    code = pytest.main(args, plugins=[collector])
    if collector.collect_errors or code not in (0, 1):
        pytest.fail(f"grader of {lab} did not run (exit code {code}) with --impl={impl}:\n"
                    + "\n".join(collector.collect_errors))
    return collector


def _first_lines(collector, n=6):
    return "\n".join(f"  {nid}: {collector.texts.get(nid, '').strip()[:400]}"
                     for nid in collector.failed()[:n])


# --------------------------------------------------------------------------- the proof
@pytest.mark.parametrize("lab", list(LABS))
def test_reference_passes_every_test(lab):
    c = run_grader(lab, "reference")
    total = len(c.outcomes)
    SUMMARY[lab]["reference"] = (len(c.passed()), total)
    assert total > 0, f"{lab}: the grader collected no tests"
    assert not c.failed(), f"{lab}: the reference solution fails:\n{_first_lines(c)}"
    assert len(c.passed()) == total, f"{lab}: some tests were skipped: {c.outcomes}"


@pytest.mark.parametrize("lab", list(LABS))
def test_untouched_stub_fails_every_test(lab):
    c = run_grader(lab, str(stub_path(lab)))
    total = len(c.outcomes)
    SUMMARY[lab]["stub"] = (len(c.failed()), total)
    assert total > 0
    passing = [n for n, o in c.outcomes.items() if o != "failed"]
    assert not passing, (f"{lab}: these tests do not fail on the untouched stub, so they "
                         f"grade nothing: {passing}")


@pytest.mark.parametrize("lab", list(LABS))
def test_each_lab_has_at_least_five_mutants(lab):
    mine = [m for m in MUTANTS if m.name.startswith(lab + "_")]
    assert len(mine) >= 5, f"{lab} has {len(mine)} wrong implementations in {MUTANTS_DIR}, needs 5"


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda p: p.stem)
def test_mutant_is_caught(mutant):
    lab = mutant.stem[:5]
    load_impl(str(mutant), lab)       # a mutant that cannot even be imported proves nothing
    c = run_grader(lab, str(mutant), stop_at_first=True)
    caught = bool(c.failed())
    SUMMARY[lab]["mutants"][mutant.stem] = caught
    _assert_no_numpy_repr(c)
    SUMMARY[lab].setdefault("caught_by", {})[mutant.stem] = \
        c.failed()[0].split("::")[-1] if caught else None
    assert caught, (f"no test of {lab}'s grader fails on {mutant.name}: "
                    f"{_docline(mutant)}; add a test that catches it")


def _docline(path):
    import ast
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return doc.splitlines()[0] if doc else path.stem


# --------------------------------------------------------------------------- reset, export, config
def test_pristine_copies_equal_the_stubs():
    """labs/reset.py restores from labs/<lab>/.pristine/: those must be the stubs as shipped."""
    for lab, (folder, stub) in LABS.items():
        pristine = ROOT / "labs" / folder / ".pristine" / stub
        assert pristine.is_file(), f"{pristine} is missing (run `python -m labs.reset --refresh`)"
        assert pristine.read_bytes() == stub_path(lab).read_bytes(), (
            f"{stub_path(lab)} differs from its pristine copy {pristine}: if the stub was changed "
            f"on purpose, run `python -m labs.reset --refresh {lab}`")


def test_reset_restores_a_stub_and_keeps_a_backup(tmp_path):
    from labs import reset
    reset.export(tmp_path / "class")
    labs_dir = tmp_path / "class" / "labs"
    folder, stub = LABS["lab03"]
    target = labs_dir / folder / stub
    original = target.read_bytes()
    target.write_text("# my half-finished work\n", encoding="utf-8")
    backup = reset.reset("lab03", labs_dir=labs_dir)
    assert target.read_bytes() == original
    assert backup is not None and backup.read_text(encoding="utf-8") == "# my half-finished work\n"


def test_export_with_reference_pasted_passes_in_a_fresh_process(tmp_path):
    """What a student does: put a correct solution into each stub, run pytest in the export."""
    from labs import reset
    dest = tmp_path / "class"
    reset.export(dest)
    for lab, (folder, stub) in LABS.items():
        src = ROOT / "labs" / "_reference" / f"{lab}.py"
        shutil.copyfile(src, dest / "labs" / folder / stub)
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHRNN_LAB_IMPL"}
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "labs"],
                          cwd=dest, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_plain_pytest_run_keeps_labs_out():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    testpaths = cfg.get("tool:pytest", "testpaths", fallback="").split()
    assert testpaths and all(not p.startswith("labs") for p in testpaths), testpaths


# --------------------------------------------------------------------------- summary in CI output
class _ProofSummary:
    def pytest_terminal_summary(self, terminalreporter):
        lines = [summary_line(lab) for lab in LABS]
        lines = [line for line in lines if line]
        if lines:
            terminalreporter.write_sep("=", "lab graders: proof that they grade")
            for line in lines:
                terminalreporter.write_line(line)
            if terminalreporter.verbosity > 0:       # -v: which test caught each mutant
                for lab in LABS:
                    for mutant, test in SUMMARY[lab].get("caught_by", {}).items():
                        terminalreporter.write_line(f"  {mutant}: {_docline(MUTANTS_DIR / (mutant + '.py'))}"
                                                    f" -> caught by {test or 'NOTHING'}")


def summary_line(lab):
    s = SUMMARY[lab]
    parts = []
    if "reference" in s:
        p, t = s["reference"]
        parts.append(f"reference {'passes' if p == t else 'FAILS'} ({p}/{t})")
    if "stub" in s:
        f, t = s["stub"]
        parts.append(f"stub {'fails' if f == t else 'PASSES SOME'} ({f}/{t} graded)")
    if s["mutants"]:
        caught = sum(s["mutants"].values())
        missed = [m for m, c in s["mutants"].items() if not c]
        parts.append(f"mutants caught ({caught}/{len(s['mutants'])})"
                     + (f" MISSED: {', '.join(missed)}" if missed else ""))
    return f"{lab}: " + ", ".join(parts) if parts else ""


@pytest.fixture(scope="module", autouse=True)
def _register_summary(request):
    pm = request.config.pluginmanager
    if not pm.has_plugin("scratchrnn-lab-proof"):
        pm.register(_ProofSummary(), "scratchrnn-lab-proof")
    yield


# --------------------------------------------------------------------------- the answer key stays home
def test_export_ships_no_solution_and_cannot_grade_against_one(tmp_path):
    from labs import reset
    dest = tmp_path / "class"
    reset.export(dest)
    shipped = [p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()]
    assert not [p for p in shipped if "_reference" in p or "make_fixtures" in p], shipped
    reference_code = {p.read_bytes() for p in (ROOT / "labs" / "_reference").glob("lab*.py")}
    assert not [p for p in dest.rglob("*.py") if p.read_bytes() in reference_code]
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHRNN_LAB_IMPL"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "labs/lab01_rnn_step", "--impl", "reference"],
                          cwd=dest, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "the reference solution is not shipped" in proc.stdout, proc.stdout[-3000:]
    assert " passed" not in proc.stdout


def test_pytest_banner_does_not_advertise_the_reference():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "labs" / "lab01_rnn_step")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "SCRATCHRNN_LAB_IMPL"})
    proc_help = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider",
                                "--rootdir", str(ROOT / "labs")], cwd=ROOT / "labs",
                               capture_output=True, text=True, timeout=300)
    assert "--impl" in proc_help.stdout
    assert "reference" not in (proc.stdout + proc_help.stdout).lower()


def test_reset_without_a_lab_exits_non_zero():
    proc = subprocess.run([sys.executable, "-m", "labs.reset"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "say which lab" in proc.stderr


def test_wheel_holds_no_lab_material(tmp_path):
    """The installed package is the library only: no stub, grader, handout or answer key."""
    import zipfile
    src = tmp_path / "src"          # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT / "scratchrnn", src / "scratchrnn", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--quiet", "-w", str(tmp_path), str(src)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {proc.stderr[-500:]}")
    wheel, = tmp_path.glob("scratchrnn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("scratchrnn/kernels/") for n in names)
    lab_files = [n for n in names if n.split("/")[0] == "labs" or "labs_reference" in n
                 or re.search(r"lab\d\d", n)]
    assert not lab_files, lab_files


# --------------------------------------------------------------------------- root causes (issue 11)
# A student reads one failure; it must name the mistake, not list symptoms. For each wrong
# implementation: the grader tests to run (pytest -k) and what each of their failures must say.
ROOT_CAUSES = [
    # the forward is wrong: a backward test says so instead of showing gradient numbers
    ("lab01_forward_W_hh_not_transposed", "step_backward", "your forward fails: fix it first"),
    ("lab02_off_by_one_in_time", "rnn_backward", "your forward fails: fix it first"),
    ("lab03_forward_forget_gate_tanh", "backward", "your forward fails: fix it first"),
    ("lab04_update_gate_swapped", "backward_against", "your forward fails: fix it first"),
    # right at the last time step only: the gradient carried back in time is missing
    ("lab02_no_gradient_through_time", "rnn_backward", "root cause: dx is right at the last time "
                                                       "step"),
    ("lab03_seq_dh_next_missing", "test_backward", "carried back in time is missing"),
    ("lab03_seq_dc_not_carried", "test_backward", "carried back in time is missing"),
    ("lab04_seq_dh_not_carried", "test_backward", "carried back in time is missing"),
    # every gradient wrong: the local derivative, once
    ("lab01_no_tanh_derivative", "step_backward_against", "every gradient is wrong"),
    ("lab03_cell_no_tanh_derivative", "step_backward_against", "every gradient is wrong"),
    ("lab04_no_tanh_derivative", "step_backward_against", "every gradient is wrong"),
    # one gate's block, the weights only, the step underneath
    ("lab03_forget_gate_no_sigmoid_derivative", "step_backward_against", "is in the f block"),
    ("lab03_backward_blocks_ifog", "step_backward_against", "in the g, o blocks only"),
    ("lab03_seq_grads_overwritten", "test_backward", "but every weight gradient is wrong"),
    ("lab02_dW_not_summed_over_time", "rnn_backward", "but every weight gradient is wrong"),
    ("lab03_dc_prev_not_times_f", "test_backward", "your lstm_step_backward is wrong too"),
]
# Where the cause is a local derivative, the root-cause line itself names it.
LOCAL_DERIVATIVE = {"lab01_no_tanh_derivative": "tanh'", "lab03_cell_no_tanh_derivative": "tanh'",
                    "lab04_no_tanh_derivative": "tanh'",
                    "lab03_forget_gate_no_sigmoid_derivative": "sigmoid'"}
NUMPY_REPR = re.compile(r"np\.(float|int|uint|bool|complex|str)\w*\(|np\.(True|False)_")


def _assert_no_numpy_repr(collector):
    for nodeid, text in collector.texts.items():
        found = NUMPY_REPR.search(text)
        assert not found, (f"{nodeid}: the message shows a NumPy repr ({found.group(0)}...); "
                           f"format numbers as plain Python (labs.grading.plain):\n{text[:1500]}")


@pytest.mark.parametrize("mutant,select,says", ROOT_CAUSES, ids=[m for m, _, _ in ROOT_CAUSES])
def test_grader_names_the_root_cause(mutant, select, says):
    lab = mutant[:5]
    c = run_grader(lab, str(MUTANTS_DIR / f"{mutant}.py"), select=select)
    failed = c.failed()
    assert failed, f"no {select} test of {lab} fails on {mutant}"
    for nodeid in failed:
        text = c.texts[nodeid]
        assert says in text, f"{nodeid} on {mutant} should say {says!r}:\n{text[:2500]}"
        if "your forward fails" not in says:
            assert "root cause:" in text and "  hint:" not in text, (
                f"{nodeid} on {mutant}: one root cause, not a hint per array:\n{text[:2500]}")
        if mutant in LOCAL_DERIVATIVE:
            cause = next(line for line in text.splitlines() if "root cause:" in line)
            assert LOCAL_DERIVATIVE[mutant] in cause, cause
        if "your forward fails" in says:
            assert "numerical gradient of your" in text and "worst entry d" not in text, (
                f"{nodeid} on {mutant}: gradient numbers shown although the forward is wrong:\n"
                f"{text[:2500]}")
    _assert_no_numpy_repr(c)



def test_grader_messages_show_plain_numbers():
    # the message prints entries of x, which are NumPy scalars (np.float64(...) under NumPy 2)
    c = run_grader("lab01", str(MUTANTS_DIR / "lab01_numgrad_not_restored.py"), select="restores_x")
    assert c.failed()
    _assert_no_numpy_repr(c)


def test_fail_turns_numpy_scalars_into_plain_numbers():
    import numpy as np
    from labs.grading import fail, plain
    assert repr(plain(np.int64(3))) == "3" and repr(plain(np.array(0.5))) == "0.5"
    with pytest.raises(pytest.fail.Exception) as e:
        fail(f"got {np.float64(0.25)!r} and {[np.int64(0), np.bool_(True)]!r}")
    assert str(e.value.msg) == "got 0.25 and [0, True]"


def test_lab03_defines_what_the_backward_uses():
    """lab03's stub and handouts say what T, dh_next and dc_next are, where they use them."""
    folder, stub = LABS["lab03"]
    for f in (stub, "README.md", "README.zh.md"):
        text = (ROOT / "labs" / folder / f).read_text(encoding="utf-8")
        assert re.search(r"`?T`? (time steps|为时间步数)", text), f"{f} uses T without saying what it is"
        for name in ("dh_next", "dc_next"):
            assert any(name in line and "t+1" in line for line in text.splitlines()), (
                f"{f} uses {name} without saying that it is what step t+1 sends back")


def test_lab03_handouts_warn_cs231n_readers():
    folder = ROOT / "labs" / LABS["lab03"][0]
    for f in ("README.md", "README.zh.md"):
        text = folder.joinpath(f).read_text(encoding="utf-8")
        assert "CS231n" in text and "i, f, o, g" in text and "(D, 4H)" in text and "(4H, D)" in text, f


def test_lab_handouts_point_at_the_reference_kernels():
    """The labs mirror the readable reference kernels, not the fast ones."""
    for lab, kernel in (("lab01", "rnn"), ("lab02", "rnn"), ("lab03", "lstm"), ("lab04", "gru")):
        for f in ("README.md", "README.zh.md"):
            text = (ROOT / "labs" / LABS[lab][0] / f).read_text(encoding="utf-8")
            assert f"scratchrnn/kernels/reference/{kernel}.py" in text, f"{lab}/{f}"
            assert (ROOT / "scratchrnn" / "kernels" / "reference" / f"{kernel}.py").is_file()
