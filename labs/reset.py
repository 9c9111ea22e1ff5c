"""Back to a clean start: restore a lab's stub, or export all labs to a folder for a class.

    python -m labs.reset lab03            # restore labs/lab03_lstm/lstm.py and its notebooks
                                          #   (your files are kept as lstm.py.<time>.bak etc.)
    python -m labs.reset --all            # every lab
    python -m labs.reset --export DIR     # copy the labs (stubs, handouts, graders, fixtures)
                                          #   into DIR/labs, ready for `pytest labs/lab01_rnn_step`
    python labs/reset.py lab03            # the same without -m

Each lab keeps its pristine stub and notebooks (no outputs) in labs/<lab>/.pristine/, so this
needs no git; the notebooks' pristine copies are written by ``python -m labs.notebooks``.
Maintainers who change a stub on purpose run ``python -m labs.reset --refresh lab03``.
"""
import argparse
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):       # run as a script: make `labs` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labs.grading import LABS, LABS_DIR  # noqa: E402

PRISTINE = ".pristine"
# Files at the top of labs/ that a class needs (make_fixtures.py needs the reference: not exported).
TOP_FILES = ["__init__.py", "conftest.py", "grading.py", "reset.py", "README.md", "README.zh.md",
             "_notebook_support.py"]
# notebook.py is a notebook's source (labs/notebooks.py makes the .ipynb from it): not for a class.
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.bak", "*.png", ".pytest_cache",
                              ".ipynb_checkpoints", "notebook.py")


def lab_id(name):
    """'lab03', 'lab03_lstm', '3' or 'labs/lab03_lstm/' -> 'lab03'."""
    name = Path(str(name)).name.lower()
    if name.isdigit():
        name = f"lab{int(name):02d}"
    lab = name[:5]
    if lab not in LABS:
        raise SystemExit(f"unknown lab {name!r}; the labs are: {', '.join(LABS)}")
    return lab


def reset(lab, labs_dir=None):
    """Copy the pristine stub over the lab's stub. Returns the backup of the old file (or None
    when it was already pristine or missing)."""
    labs_dir = Path(labs_dir or LABS_DIR)
    folder, stub = LABS[lab]
    target = labs_dir / folder / stub
    pristine = labs_dir / folder / PRISTINE / stub
    if not pristine.is_file():
        raise SystemExit(f"{pristine} is missing: cannot restore {target}")
    return _restore(target, pristine)


def reset_notebooks(lab, labs_dir=None):
    """Copy the lab's pristine notebooks over its notebooks (outputs and all). Returns the
    backups of the ones that had changed."""
    folder = Path(labs_dir or LABS_DIR) / LABS[lab][0]
    backups = [_restore(folder / p.name, p) for p in sorted((folder / PRISTINE).glob("*.ipynb"))]
    return [b for b in backups if b]


def _restore(target, pristine):
    backup = None
    if target.is_file() and target.read_bytes() != pristine.read_bytes():
        backup = target.with_name(f"{target.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
        n = 1
        while backup.exists():
            backup = target.with_name(f"{target.name}.{time.strftime('%Y%m%d-%H%M%S')}-{n}.bak")
            n += 1
        shutil.copy2(target, backup)
    shutil.copyfile(pristine, target)
    return backup


def refresh(lab, labs_dir=None):
    """Maintainers: make the current stub the pristine copy."""
    labs_dir = Path(labs_dir or LABS_DIR)
    folder, stub = LABS[lab]
    (labs_dir / folder / PRISTINE).mkdir(exist_ok=True)
    shutil.copyfile(labs_dir / folder / stub, labs_dir / folder / PRISTINE / stub)


def export(dest):
    """Copy all labs, with PRISTINE stubs and notebooks, into dest/labs (plus a pytest.ini)."""
    dest = Path(dest)
    out = dest / "labs"
    if out.exists():
        raise SystemExit(f"{out} already exists; choose an empty folder")
    out.mkdir(parents=True)
    for name in TOP_FILES:
        if (LABS_DIR / name).is_file():
            shutil.copy2(LABS_DIR / name, out / name)
    for lab, (folder, stub) in LABS.items():
        shutil.copytree(LABS_DIR / folder, out / folder, ignore=SKIP)
        shutil.copyfile(LABS_DIR / folder / PRISTINE / stub, out / folder / stub)
        for notebook in (LABS_DIR / folder / PRISTINE).glob("*.ipynb"):    # without outputs
            shutil.copyfile(notebook, out / folder / notebook.name)
    ini = dest / "pytest.ini"
    if not ini.exists():
        ini.write_text("[pytest]\naddopts = -ra\n", encoding="utf-8")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="Restore lab stubs or export the labs for a class.")
    p.add_argument("labs", nargs="*", help="labs to restore, e.g. lab03 (or 3)")
    p.add_argument("--all", action="store_true", help="restore every lab")
    p.add_argument("--export", metavar="DIR", help="copy all labs into DIR/labs")
    p.add_argument("--refresh", action="store_true",
                   help="maintainers: save the current stubs as the pristine copies")
    args = p.parse_args(argv)
    labs = list(LABS) if args.all else [lab_id(n) for n in args.labs]
    if args.export:
        out = export(args.export)
        print(f"exported {len(LABS)} labs to {out}; students run: cd {args.export} && "
              f"pytest labs/lab01_rnn_step")
    elif args.refresh:
        for lab in labs or list(LABS):
            refresh(lab)
            print(f"{lab}: pristine copy updated")
    elif labs:
        for lab in labs:
            backup = reset(lab)
            kept = f" (your version is kept as {backup.name})" if backup else ""
            print(f"{lab}: restored {LABS[lab][0]}/{LABS[lab][1]}{kept}")
            backups = reset_notebooks(lab)
            if backups:
                print(f"{lab}: restored its notebooks (yours are kept as "
                      f"{', '.join(b.name for b in backups)})")
    else:
        p.print_usage(sys.stderr)
        sys.exit("labs.reset: say which lab to restore (e.g. lab03 or 3), or --all, or --export DIR")


if __name__ == "__main__":
    main()
