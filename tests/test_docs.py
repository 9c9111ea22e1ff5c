"""Keep the docs honest.

* Every function the theory pages cite as `scratchrnn/<path>.py: name` (or `Class.method`)
  exists: the file is there, the module imports, the attribute resolves to something callable.
* Every ```python block in docs/api.md and docs/theory/*.md runs, each in a fresh namespace
  (blocks that import torch are skipped when torch is absent). The blocks assert what the text
  claims, so a behaviour change in the library makes them fail.
* Relative links between the pages point at files that exist.

The last tests check the checkers themselves: a wrong citation and a failing block are caught.
"""
import importlib
import re
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
