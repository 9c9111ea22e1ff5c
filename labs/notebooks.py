"""python -m labs.notebooks: write every notebook from its one source.

    labs/labNN_*/notebook.py  ->  notebook.ipynb, notebook.zh.ipynb  (and the same two in the
                                  lab's .pristine/, which labs.reset restores and exports)
    notebooks/NAME.py         ->  NAME.ipynb, NAME.zh.ipynb

A source is a percent script (jupytext's format) holding the text in both languages:

    # %% [markdown]
    # ## One step of an RNN            <- English text: lines start with "# " (or are "#")
    # %% [markdown] zh
    # ## RNN 的一步                      <- its Chinese twin, always right after it
    # %%
    h, cache = impl.rnn_step_forward(x, h_prev, W_ih, W_hh, b)     <- code: in both notebooks

so a code cell exists once. The notebooks are written without outputs; tests/test_notebooks.py
fails when a committed notebook differs from what its source gives.

    python -m labs.notebooks           # write them all
    python -m labs.notebooks --check   # list the notebooks that differ from their source; exit 1
"""
import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = {"en": "", "zh": ".zh"}          # language -> file-name suffix
PRISTINE = ".pristine"
_HEADER = re.compile(r"^# %%(.*)$")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


class SourceError(ValueError):
    """A notebook source that does not follow the format above."""


def sources(root=ROOT):
    """Every notebook source: the labs' in lab order, then notebooks/*.py."""
    root = Path(root)
    found = sorted(root.glob("labs/lab[0-9][0-9]_*/notebook.py"))
    return found + sorted((root / "notebooks").glob("*.py"))


def parse(text, name="the source"):
    """[("code", str) | ("markdown", {"en": str, "zh": str})] from a source's text."""
    cells, lines = [], text.splitlines()
    starts = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    if not starts or any(line.strip() for line in lines[:starts[0]]
                         if not line.startswith("#")):
        raise SourceError(f"{name}: code before the first '# %%' line; every cell starts with "
                          f"'# %%' (code) or '# %% [markdown]' (text)")
    for n, (i, j) in enumerate(zip(starts, starts[1:] + [len(lines)])):
        kind = _HEADER.match(lines[i]).group(1).strip()
        body = lines[i + 1:j]
        where = f"{name}, line {i + 1}"
        if kind == "":
            code = "\n".join(body).strip("\n")
            if not code.strip():
                raise SourceError(f"{where}: an empty code cell")
            cells.append(("code", code))
        elif kind in ("[markdown]", "[markdown] zh"):
            md = []
            for k, line in enumerate(body, start=i + 2):
                if line.strip() and not (line == "#" or line.startswith("# ")):
                    raise SourceError(f"{name}, line {k}: a text line must start with '# ' "
                                      f"(or be '#'), got {line[:40]!r}")
                md.append(line[2:])
            md = "\n".join(md).strip("\n")
            if kind == "[markdown]":
                cells.append(("markdown", {"en": md}))
            elif not cells or cells[-1][0] != "markdown" or "zh" in cells[-1][1]:
                raise SourceError(f"{where}: a Chinese text cell must follow an English one")
            else:
                cells[-1][1]["zh"] = md
        else:
            raise SourceError(f"{where}: unknown cell header {lines[i]!r}; use '# %%', "
                              f"'# %% [markdown]' or '# %% [markdown] zh'")
        if kind == "[markdown]" and (n + 1 == len(starts) or
                                     _HEADER.match(lines[starts[n + 1]]).group(1).strip()
                                     != "[markdown] zh"):
            raise SourceError(f"{where}: this English text cell has no Chinese twin; add a "
                              f"'# %% [markdown] zh' cell right after it")
    return cells


def build(source, lang):
    """The notebook (an nbformat NotebookNode, no outputs) for ``lang`` from ``source``."""
    source = Path(source)
    cells = parse(source.read_text(encoding="utf-8"), source.name)
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"},
                   "scratchrnn": {"generated_from": source.name, "language": lang,
                                  "regenerate": "python -m labs.notebooks"}}
    for n, (kind, content) in enumerate(cells):
        cell_id = f"cell-{n:02d}"      # fixed ids: regenerating gives the same file
        if kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(content, id=cell_id))
        else:
            nb.cells.append(nbformat.v4.new_markdown_cell(content[lang], id=cell_id))
    nbformat.validate(nb)
    return nb


def render(nb):
    return nbformat.writes(nb) + "\n"


def targets(source):
    """{path of a notebook: its text} for everything ``source`` gives."""
    source = Path(source)
    out = {}
    for lang, suffix in LANGUAGES.items():
        text = render(build(source, lang))
        name = f"{source.stem}{suffix}.ipynb"
        out[source.with_name(name)] = text
        if source.parent.parent.name == "labs":          # a lab's: labs.reset's copy too
            out[source.parent / PRISTINE / name] = text
    return out


def stale(root=ROOT):
    """Notebooks (paths) that are missing or differ from their source."""
    return [path for src in sources(root) for path, text in targets(src).items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text]


def main(argv=None):
    p = argparse.ArgumentParser(description="Write the notebooks from their sources.")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if a notebook differs from its source")
    args = p.parse_args(argv)
    if args.check:
        bad = stale()
        for path in bad:
            print(f"{path.relative_to(ROOT)} differs from its source: run python -m labs.notebooks")
        return 1 if bad else 0
    for src in sources():
        for path, text in targets(src).items():
            path.parent.mkdir(exist_ok=True)
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
