"""The house rules of the layout (docs: README "What is inside").

kernels -> nn -> models -> training library -> programs, one way only: the library never
imports a program and never parses a command line; every program lives in scratchrnn/cli/ and
``python -m scratchrnn.<name>`` is a shim of a few lines that runs it.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "scratchrnn"
PROGRAMS = ("train", "generate", "classify", "experiments", "plot", "bench", "torch_reference",
            "export")
SHIMS = {PKG / f"{name}.py" for name in PROGRAMS}


def _imports(path):
    """Absolute module names a file imports (relative imports resolved against the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(PKG.parent).parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names += [base] + [f"{base}.{a.name}" for a in node.names]
    return names


def _library_files():
    return [p for p in PKG.rglob("*.py") if "cli" not in p.relative_to(PKG).parts and p not in SHIMS]


def test_the_library_imports_no_program_and_no_argparse():
    offenders = {}
    for path in _library_files():
        bad = [n for n in _imports(path) if n == "argparse" or n.startswith("scratchrnn.cli")
               or n in {f"scratchrnn.{p}" for p in PROGRAMS}]
        if bad:
            offenders[str(path.relative_to(PKG))] = bad
    assert not offenders, offenders


def test_every_argparse_user_is_a_program():
    users = [p for p in PKG.rglob("*.py") if "argparse" in _imports(p)]
    assert users and all("cli" in p.relative_to(PKG).parts for p in users), users


@pytest.mark.parametrize("shim", sorted(p.name for p in SHIMS if p.exists()))
def test_shims_are_a_few_lines_that_run_their_program(shim):
    text = (PKG / shim).read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 8
    assert f'"scratchrnn.cli.{shim[:-3]}"' in text


def test_programs_share_one_usage_error():
    defined = [p for p in PKG.rglob("*.py") if "class UsageError" in p.read_text(encoding="utf-8")]
    assert [p.relative_to(PKG).as_posix() for p in defined] == ["cli/_common.py"]


def test_the_fast_kernels_machinery_is_private_to_them():
    assert [p.name for p in (PKG / "kernels").glob("_*.py")] == ["__init__.py"]
    users = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py")
             if any(n.startswith("scratchrnn.kernels._fast") for n in _imports(p))}
    assert users <= {"kernels/rnn.py", "kernels/lstm.py", "kernels/gru.py", "kernels/inference.py",
                     "kernels/_fast/layout.py"}, users


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_program_answers_help(program):
    proc = subprocess.run([sys.executable, "-m", f"scratchrnn.{program}", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"python -m scratchrnn.{program}" in proc.stdout
