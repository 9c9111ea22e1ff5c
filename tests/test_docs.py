"""Keep the docs honest.

* Every function the theory pages cite as `scratchrnn/<path>.py: name` (or `Class.method`)
  exists: the file is there, the module imports, the attribute resolves to something callable.
* Every ```python block in docs/api.md and docs/theory/*.md runs, each in a fresh namespace
  (blocks that import torch are skipped when torch is absent). The blocks assert what the text
  claims, so a behaviour change in the library makes them fail.
* Relative links between the pages point at files that exist.
* Every code name in a symbol table (the "reference", "fast kernel" or "in the code" column)
  is a name in one of the functions the page cites before the table, so prose drift fails.

The last tests check the checkers themselves: a wrong citation and a failing block are caught.
"""
import ast
import builtins
import importlib
import inspect
import keyword
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
THEORY = DOCS / "theory"
REQUIRED_THEORY_PAGES = ["README.md", "rnn.md", "lstm.md", "gru.md", "softmax_cross_entropy.md",
                         "gradient_checking.md"]
# Every page in docs/theory is checked, also pages added later.
THEORY_PAGES = sorted(set(REQUIRED_THEORY_PAGES) | {p.name for p in THEORY.glob("*.md")})
RUNNABLE_PAGES = [DOCS / "api.md"] + [THEORY / p for p in THEORY_PAGES]

CITATION = re.compile(r"`(scratchrnn/[\w/]+\.py): ([A-Za-z_][\w.]*)`")
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$", re.M)

# Functions whose equations the theory pages derive: each must be cited by at least one page.
MUST_CITE = {
    "scratchrnn/kernels/rnn.py": ["rnn_step_forward", "rnn_step_backward", "rnn_forward",
                                  "rnn_backward"],
    "scratchrnn/kernels/lstm.py": ["lstm_pointwise_forward", "lstm_pointwise_backward",
                                   "lstm_step_forward", "lstm_step_backward", "lstm_forward",
                                   "lstm_backward"],
    "scratchrnn/kernels/gru.py": ["gru_pointwise_forward", "gru_pointwise_backward",
                                  "gru_step_forward", "gru_step_backward", "gru_forward",
                                  "gru_backward", "_reset_before_forward", "_reset_before_backward",
                                  "_reset_before_dW_hh"],
    "scratchrnn/kernels/reference/rnn.py": ["rnn_step_forward", "rnn_step_backward",
                                            "rnn_forward", "rnn_backward"],
    "scratchrnn/kernels/reference/lstm.py": ["lstm_step_forward", "lstm_step_backward",
                                             "lstm_forward", "lstm_backward"],
    "scratchrnn/kernels/reference/gru.py": ["gru_step_forward", "gru_step_backward",
                                            "gru_forward", "gru_backward"],
    "scratchrnn/kernels/layers.py": ["softmax_cross_entropy"],
    "scratchrnn/kernels/activations.py": ["stable_log_softmax", "sigmoid"],
    "scratchrnn/gradcheck.py": ["numerical_gradient", "rel_error", "check_gradients", "compare"],
}


# ------------------------------------------------------------------ helpers
def read(path):
    return Path(path).read_text(encoding="utf-8")


def citations(text):
    """[(file path, dotted attribute)] cited in a page."""
    return CITATION.findall(text)


def resolve_citation(path, attr):
    """Import the module at `path` and follow the dotted `attr`; raise if anything is missing."""
    if not (ROOT / path).is_file():
        raise FileNotFoundError(f"cited file {path} does not exist")
    module = importlib.import_module(path[:-3].replace("/", "."))
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AttributeError(f"{path} has no {attr!r} (missing {part!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{path}: {attr} is not a function or class")
    return obj


def code_blocks(text, language="python"):
    """[(line number, source)] of the fenced blocks in `language`."""
    return [(text[:m.start()].count("\n") + 1, m.group(2))
            for m in FENCE.finditer(text) if m.group(1) == language]


def run_block(source, name):
    """Execute one block in a fresh namespace (skipped if it needs torch and torch is absent)."""
    if re.search(r"^\s*(import torch|from torch)", source, re.M):
        pytest.importorskip("torch")
    namespace = {"__name__": "__docs__"}
    exec(compile(source, name, "exec"), namespace)
    return namespace


def _all_citations():
    out = []
    for page in THEORY_PAGES:
        if not (THEORY / page).is_file():      # reported by test_page_exists_and_math_is_balanced
            continue
        for path, attr in citations(read(THEORY / page)):
            out.append((page, path, attr))
    return sorted(set(out))


def _all_blocks():
    out = []
    for page in RUNNABLE_PAGES:
        if not page.is_file():                 # reported by test_page_exists_and_math_is_balanced
            continue
        for line, source in code_blocks(read(page)):
            out.append(pytest.param(source, f"{page.relative_to(ROOT)}:{line}",
                                    id=f"{page.relative_to(DOCS)}:{line}"))
    return out


# ------------------------------------------------------------------ the pages exist
@pytest.mark.parametrize("page", THEORY_PAGES + ["../api.md"])
def test_page_exists_and_math_is_balanced(page):
    """The required pages exist (and are not stubs); display math is balanced on every page."""
    text = read(THEORY / page)
    assert len(text) > 500, f"{page} is (nearly) empty"
    prose = FENCE.sub("", text)                          # $ inside code blocks does not count
    assert prose.count("$$") % 2 == 0, f"{page}: unbalanced $$ display math"


# ------------------------------------------------------------------ citations
@pytest.mark.parametrize("page,path,attr", _all_citations(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_cited_function_exists(page, path, attr):
    resolve_citation(path, attr)


@pytest.mark.parametrize("page", [p for p in THEORY_PAGES if p != "README.md"])
def test_every_theory_page_points_at_code(page):
    assert citations(read(THEORY / page)), f"{page} cites no function"


REFERENCE_DIR = "scratchrnn/kernels/reference/"


def late_fast_citations(text):
    """Fast kernels cited before their reference twin: on the page, or within a section that
    cites both (a section about the fast kernel alone may cite only it)."""
    fast_name = lambda path: path.replace(REFERENCE_DIR, "scratchrnn/kernels/")
    twins = {(fast_name(p), a) for p, a in citations(text) if p.startswith(REFERENCE_DIR)}
    seen_on_page, late = set(), []
    for section in re.split(r"^#{1,6} ", FENCE.sub("", text), flags=re.M):
        cited = citations(section)
        for k, (path, attr) in enumerate(cited):
            if path.startswith(REFERENCE_DIR):
                seen_on_page.add((fast_name(path), attr))
            elif (path, attr) in twins and ((path, attr) not in seen_on_page or any(
                    p.startswith(REFERENCE_DIR) and (fast_name(p), a) == (path, attr)
                    for p, a in cited[k + 1:])):
                late.append(f"{path}: {attr} (section '{section.splitlines()[0]}')")
    return sorted(set(late))


@pytest.mark.parametrize("page", THEORY_PAGES)
def test_the_reference_kernel_is_cited_first(page):
    late = late_fast_citations(read(THEORY / page))
    assert not late, f"{page}: cited before its reference twin: {late}"


def test_a_fast_kernel_cited_first_is_caught():
    ref, fast = ("`scratchrnn/kernels/reference/rnn.py: rnn_forward`",
                 "`scratchrnn/kernels/rnn.py: rnn_forward`")
    assert late_fast_citations(f"# A\n{ref}, {fast}\n## Fast only\n{fast}\n") == []
    assert late_fast_citations(f"# A\n{fast}, {ref}\n")                  # same section
    assert late_fast_citations(f"# A\n{fast}\n## B\n{ref}\n")            # earlier section


def test_every_derived_kernel_is_cited():
    cited = {(path, attr) for _, path, attr in _all_citations()}
    missing = [f"{path}: {name}" for path, names in MUST_CITE.items() for name in names
               if (path, name) not in cited]
    assert not missing, f"not cited by any theory page: {missing}"


# Inline code that is an assignment statement (`dh = da[t] @ W_hh + ...`) quotes the library.
ASSIGNMENT = re.compile(r"^[\w\[\]:, .]+ [+\-*/]?= (?!=)")
INLINE_CODE = re.compile(r"`([^`\n]+)`")


def _normalise(code):
    return re.sub(r"\s+", " ", code).strip()


def quoted_statements(text):
    """Inline code spans that are assignment statements, except abbreviated ones (with ...)."""
    return [span for span in INLINE_CODE.findall(FENCE.sub("", text))
            if ASSIGNMENT.match(span) and "..." not in span]


@pytest.mark.parametrize("page", THEORY_PAGES)
def test_quoted_code_lines_exist_in_the_source(page):
    """A line of code the theory quotes (`dh += dout[t]`) must still be in one of the files the
    page cites: when the kernels change, the page has to be updated with them."""
    text = read(THEORY / page)
    files = sorted({path for path, _ in citations(text)}) or \
        [str(p.relative_to(ROOT)) for p in (ROOT / "scratchrnn").rglob("*.py")]
    source = _normalise("\n".join((ROOT / f).read_text(encoding="utf-8") for f in files))
    stale = [q for q in quoted_statements(text) if _normalise(q) not in source]
    assert not stale, f"{page} quotes code that is no longer in {files}: {stale}"


# ------------------------------------------------------------------ symbol tables
# A symbol table maps the page's symbols to names in the code. Each of its code columns is
# checked against the functions the page cites above the table: a "reference" column
# against those in scratchrnn/kernels/reference/, a "fast kernel" column against the others,
# an "in the code" column against all of them. Every identifier in a code span of such a
# column must be a name in one of those functions (an argument, a variable, an attribute, a
# function it calls, a dict key it uses).
CODE_COLUMNS = {"in the code": None, "name in the code": None, "reference": True,
                "fast kernel": False}
TABLE = re.compile(r"^\|.*\|[ \t]*\n\|[ \t:|-]+\|[ \t]*\n(?:\|.*\|[ \t]*(?:\n|$))*", re.M)
IDENTIFIER = re.compile(r"(?<!\w)[A-Za-z_]\w*")
NOT_CODE_NAMES = set(keyword.kwlist) | set(dir(builtins))


def table_cells(row):
    """The cells of one table row; a | inside `code` or $math$, or escaped as \\|, does not
    split."""
    cells, cell, quote = [], "", None
    for ch in row.strip().strip("|"):
        if ch in "`$" and quote in (None, ch):
            quote = None if quote else ch
        if ch == "|" and quote is None and not cell.endswith("\\"):
            cells.append(cell.strip())
            cell = ""
        else:
            cell += ch
    return cells + [cell.strip()]


def symbol_tables(text):
    """[(line number, {code column header: [code spans]}, citations above the table)] of the
    tables on a page that have a code column."""
    out = []
    for m in TABLE.finditer(FENCE.sub(lambda f: "\n" * f.group(0).count("\n"), text)):
        rows = m.group(0).strip("\n").split("\n")
        header = [h.lower() for h in table_cells(rows[0])]
        columns = {k: h for k, h in enumerate(header) if h in CODE_COLUMNS}
        if not columns:
            continue
        spans = {h: [] for h in columns.values()}
        for row in rows[2:]:
            for k, cell in enumerate(table_cells(row)):
                if k in columns:
                    spans[columns[k]] += INLINE_CODE.findall(cell)
        out.append((text[:m.start()].count("\n") + 1, spans, citations(text[:m.start()])))
    return out


def code_names(obj):
    """The names in a function's (or class's) source: arguments, variables, attributes, the
    functions it calls, keyword arguments and string keys."""
    names = set()
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(obj)))):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.isidentifier():
            names.add(node.value)
    return names


def span_names(span):
    """The identifiers of a code span. Skipped: string literals, subscripts (in `hs[t + 1]`
    the name is `hs`; `t` is the page's index), keywords and builtins."""
    span = re.sub(r"\"[^\"]*\"|'[^']*'", "", span)
    while re.search(r"\[[^\[\]]*\]", span):
        span = re.sub(r"\[[^\[\]]*\]", "", span)
    return [n for n in IDENTIFIER.findall(span) if n not in NOT_CODE_NAMES]


def symbol_table_problems(text):
    """What a page's symbol tables name that the cited functions do not contain."""
    problems = []
    for line, spans, cited in symbol_tables(text):
        for header, code in spans.items():
            wanted = CODE_COLUMNS[header]
            functions = [(path, attr) for path, attr in cited
                         if wanted is None or ("/reference/" in path) == wanted]
            if not functions:
                problems.append(f"table at line {line}: no function cited above it for its "
                                f"{header!r} column")
                continue
            known = set().union(*(code_names(resolve_citation(*f)) for f in functions))
            missing = sorted({n for span in code for n in span_names(span)} - known)
            if missing:
                where = ", ".join(f"{p}: {a}" for p, a in functions)
                problems.append(f"table at line {line}, column {header!r}: {missing} not in {where}")
    return problems


@pytest.mark.parametrize("page", THEORY_PAGES)
def test_symbol_tables_name_code_that_exists(page):
    problems = symbol_table_problems(read(THEORY / page))
    assert not problems, f"{page}: " + "; ".join(problems)


def test_the_kernel_pages_have_checked_symbol_tables():
    """The table parser finds the rnn/lstm/gru symbol tables, with both code columns (guards
    against a format change making the check above vacuous)."""
    for page in ("rnn.md", "lstm.md", "gru.md"):
        tables = symbol_tables(read(THEORY / page))
        assert tables, f"{page}: no symbol table with a code column"
        for column in ("reference", "fast kernel"):
            assert sum(len(spans.get(column, [])) for _, spans, _ in tables) >= 8, (page, column)


# ------------------------------------------------------------------ runnable examples
@pytest.mark.parametrize("source,name", _all_blocks())
def test_code_block_runs(source, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # blocks that save files write them here
    run_block(source, name)


def test_there_are_enough_examples():
    """The block extractor finds the examples (guards against a fence-format change making
    the tests above vacuous)."""
    assert len(code_blocks(read(DOCS / "api.md"))) >= 8
    for page in ("rnn.md", "lstm.md", "gru.md", "softmax_cross_entropy.md", "gradient_checking.md"):
        assert code_blocks(read(THEORY / page)), f"{page} has no runnable check"


def test_no_python_block_hides_under_another_label():
    for page in RUNNABLE_PAGES:
        labels = {m.group(1) for m in FENCE.finditer(read(page))}
        assert not labels & {"py", "python3", "pycon", "Python"}, \
            f"{page.name}: use ```python so the block is run by test_code_block_runs"


# ------------------------------------------------------------------ links
@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_relative_links_resolve(page):
    for target, anchor in LINK.findall(FENCE.sub("", read(page))):
        if "://" in target or target.startswith("mailto:"):
            continue
        path = page.parent / target if target else page
        assert path.exists(), f"{page.name} links to missing {target}"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(read(path)), f"{page.name} links to missing #{anchor} in {path.name}"


def anchors(text):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-")
            for h in HEADING.findall(FENCE.sub("", text))}


def test_anchor_rule():
    assert anchors("## Variable lengths: masks\n## Forward, backward and the cache stack\n") == \
        {"variable-lengths-masks", "forward-backward-and-the-cache-stack"}


# ------------------------------------------------------------------ the checkers can fail
def test_a_wrong_citation_is_caught():
    text = ("`scratchrnn/kernels/lstm.py: lstm_pointwise_backward` and "
            "`scratchrnn/kernels/lstm.py: lstm_no_such_function`, "
            "`scratchrnn/no_such_file.py: f`, `scratchrnn/nn/recurrent.py: _RNNBase.nope`")
    found = citations(text)
    assert len(found) == 4
    resolve_citation(*found[0])
    for bad in found[1:]:
        with pytest.raises((AttributeError, FileNotFoundError)):
            resolve_citation(*bad)


def test_a_stale_quote_is_caught():
    quotes = quoted_statements("`dh = da[t] @ W_hh + np.where(m, 0, dh)` and `dh += dout[t]`, "
                               "`dc = f(...)` `eps=1e-5` `x == y` `np.where(m, 0, dh)`")
    assert quotes == ["dh = da[t] @ W_hh + np.where(m, 0, dh)", "dh += dout[t]"]


def test_a_renamed_variable_is_caught():
    """A name the cited function does not have fails, and each column is checked against
    its own kernel: `hs` is in the fast rnn_forward, not in the reference."""
    page = ("Names: `scratchrnn/kernels/reference/rnn.py: rnn_step_backward`, "
            "`scratchrnn/kernels/rnn.py: rnn_forward`.\n\n"
            "| symbol | meaning | reference | fast kernel |\n|---|---|---|---|\n"
            "| $a$ | pre-activation | `da`, `dW_ih` | `a[t]` |\n"
            "| $h$ | state \\| stack | `{ref}` | `hs[t + 1]` |\n")
    assert symbol_tables(page.format(ref="h"))[0][1] == {"reference": ["da", "dW_ih", "h"],
                                         "fast kernel": ["a[t]", "hs[t + 1]"]}
    assert symbol_table_problems(page.format(ref="h")) == []
    for bad in ("d_a", "hs[t]"):
        problems = symbol_table_problems(page.format(ref=bad))
        assert len(problems) == 1 and repr(bad.split("[")[0]) in problems[0], problems
    uncited = "| symbol | in the code |\n|---|---|\n| $x$ | `x` |\n"
    assert "no function cited" in symbol_table_problems(uncited)[0]


def test_a_failing_block_is_caught():
    text = "intro\n\n```python\nx = 1\nassert x == 2, 'docs claim x == 2'\n```\n\n```text\nnot run\n```\n"
    blocks = code_blocks(text)
    assert len(blocks) == 1 and blocks[0][0] == 3
    with pytest.raises(AssertionError, match="docs claim"):
        run_block(blocks[0][1], "fake.md:3")


def test_blocks_do_not_share_a_namespace():
    first = run_block("value = 41", "a")
    assert first["value"] == 41
    with pytest.raises(NameError):
        run_block("value + 1", "b")
