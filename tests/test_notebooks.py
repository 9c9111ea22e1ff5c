"""The notebooks: each lab's (labs/labNN_*/notebook*.ipynb) and notebooks/*.ipynb.

* every committed notebook is exactly what its one bilingual source gives (labs/notebooks.py),
  and holds no outputs or execution counts;
* every notebook runs top to bottom with nbclient (the reference solution, quick mode: fewer
  steps, smaller models), and every cell that draws shows its picture;
* on the untouched stub, each lab's notebook stops at its first cell that needs the student's
  code, with the graders' "not written yet: TODO 1: ..." message;
* labs.reset --export ships the notebooks without outputs, loading the class folder's stubs;
  labs.reset restores them.
"""
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from labs import notebooks as generator  # noqa: E402
from labs import reset  # noqa: E402
from labs.grading import LABS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCES = generator.sources(ROOT)
NOTEBOOKS = [p for src in SOURCES for p in generator.targets(src) if generator.PRISTINE not in p.parts]
COMMITTED = [p for p in sorted(ROOT.glob("labs/lab*/**/*.ipynb")) + sorted(ROOT.glob("notebooks/*.ipynb"))
             if ".ipynb_checkpoints" not in p.parts]        # JupyterLab's autosaves are not committed


def _name(path):
    return path.relative_to(ROOT).as_posix()


def execute(path, timeout=600):
    """Run a notebook top to bottom in a fresh python3 kernel, in its own folder; returns it
    with its outputs (CellExecutionError on the first failing cell)."""
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=timeout,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


@pytest.fixture
def kernel_env(monkeypatch):
    """What the kernels inherit: the inline backend (MPLBACKEND=Agg would hide every picture),
    one BLAS thread (the notebooks' matrices are small), quick mode, the reference. The
    "python3" kernel is this interpreter's (ipykernel's spec in this environment comes before
    any in the user's ~/.local/share/jupyter)."""
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(
        [os.path.join(sys.prefix, "share", "jupyter")] + [p for p in [os.environ.get("JUPYTER_PATH")] if p]))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("SCRATCHRNN_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("SCRATCHRNN_LAB_IMPL", "reference")
    return monkeypatch


# --------------------------------------------------------------------------- one source each
def test_every_lab_and_both_library_notebooks_have_a_source():
    have = {src.relative_to(ROOT).as_posix() for src in SOURCES}
    want = {f"labs/{folder}/notebook.py" for folder, _ in LABS.values()}
    want |= {"notebooks/visualize.py", "notebooks/char_lm.py"}
    assert want <= have, f"missing notebook sources: {sorted(want - have)}"
    for src in SOURCES:      # an English and a Chinese notebook from each
        assert {p.name for p in generator.targets(src)} >= {f"{src.stem}.ipynb", f"{src.stem}.zh.ipynb"}


def test_committed_notebooks_are_what_their_sources_give():
    stale = [_name(p) for p in generator.stale(ROOT)]
    assert not stale, (f"{stale} differ from their sources (or are missing): edit the source "
                       f"(notebook.py), then run `python -m labs.notebooks`")


def test_a_drifted_notebook_is_caught(tmp_path):
    """The check above can fail: a code cell edited in one language's notebook, or a source
    edited without regenerating."""
    lab = tmp_path / "labs" / "lab01_rnn_step"
    shutil.copytree(ROOT / "labs" / "lab01_rnn_step", lab,
                    ignore=shutil.ignore_patterns("__pycache__", "*.bak"))
    assert generator.stale(tmp_path) == []
    zh = lab / "notebook.zh.ipynb"
    nb = nbformat.read(zh, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.source += "\nprint('only in the Chinese notebook')"
    nbformat.write(nb, zh)
    assert generator.stale(tmp_path) == [zh]
    src = lab / "notebook.py"
    src.write_text(src.read_text(encoding="utf-8") + "\n# %%\nprint('new')\n", encoding="utf-8")
    assert len(generator.stale(tmp_path)) == 4          # both languages and their pristine copies


@pytest.mark.parametrize("text, problem", [
    ("# %% [markdown]\n# Hello\n# %%\nx = 1\n", "no Chinese twin"),
    ("# %%\nx = 1\n# %% [markdown] zh\n# 你好\n", "must follow an English one"),
    ("# %% [markdown]\n# Hello\nnot text\n# %% [markdown] zh\n# 你好\n", "must start with '# '"),
    ("x = 1\n# %%\ny = 2\n", "code before the first"),
    ("# %% [raw]\nx\n", "unknown cell header"),
], ids=["no-chinese", "chinese-alone", "bare-text-line", "code-before-cells", "unknown-header"])
def test_a_source_must_give_both_languages(text, problem):
    with pytest.raises(generator.SourceError, match=problem):
        generator.parse(text, "notebook.py")


def test_both_languages_share_the_code_and_differ_in_the_text():
    for src in SOURCES:
        en, zh = (generator.build(src, lang) for lang in ("en", "zh"))
        assert [c.source for c in en.cells if c.cell_type == "code"] == \
               [c.source for c in zh.cells if c.cell_type == "code"]
        for a, b in zip(en.cells, zh.cells):
            if a.cell_type == "markdown":
                assert a.source != b.source, f"{src}: a text cell is the same in both languages"


@pytest.mark.parametrize("path", COMMITTED, ids=_name)
def test_committed_notebooks_hold_no_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{_name(path)}: cells {dirty} hold outputs or execution counts; "
                       f"regenerate with `python -m labs.notebooks`")


# --------------------------------------------------------------------------- they run
def test_the_python3_kernel_is_this_interpreter(kernel_env, tmp_path):
    """nbclient's kernel_name "python3" is ipykernel in this environment (with scratchrnn), not
    some other Python's kernel."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    nbformat.write(nb, tmp_path / "prefix.ipynb")
    out = execute(tmp_path / "prefix.ipynb").cells[0].outputs[0].text.strip()
    assert Path(out).resolve() == Path(sys.prefix).resolve()


def _images(cell):
    return [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_runs_top_to_bottom(path, kernel_env):
    nb = execute(path)
    drawing = [c for c in nb.cells if c.cell_type == "code" and "plt.show()" in c.source]
    blank = [c.source.splitlines()[0] for c in drawing if not _images(c)]
    assert drawing and not blank, f"cells that draw but showed no picture: {blank}"
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "NOT MET" not in text
    if path.name.startswith("visualize"):      # curves, gates, saturation, gradients; units, samples
        outputs = [o for c in nb.cells for o in c.get("outputs", [])]
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4
        assert sum("text/html" in o.get("data", {}) for o in outputs) >= 2


@pytest.mark.parametrize("lab, mutant, missed", [
    ("lab01_rnn_step", "lab01_dW_hh_uses_new_h", "rnn_step_backward: dW_hh"),
    ("lab05_char_model", "lab05_adam_no_bias_correction", "adam_update: w after step 1"),
])
def test_a_wrong_implementation_fails_its_notebook(lab, mutant, missed, kernel_env):
    """The checks can fail: a deliberately wrong solution runs to the end and nb.summary()
    names the check it missed."""
    kernel_env.setenv("SCRATCHRNN_LAB_IMPL", str(ROOT / "tests" / "lab_mutants" / f"{mutant}.py"))
    with pytest.raises(nbclient.exceptions.CellExecutionError) as err:
        execute(ROOT / "labs" / lab / "notebook.ipynb")
    assert "checks missed their target" in str(err.value) and missed in str(err.value)


def test_visualize_reads_a_saved_run(tmp_path, kernel_env):
    """With runs/shakespeare/best beside notebooks/, visualize shows that model (full size: the
    quick mode always trains its own)."""
    from scratchrnn.training import make_config, train
    kernel_env.delenv("SCRATCHRNN_NOTEBOOK_QUICK")
    run = tmp_path / "runs" / "shakespeare"
    train(make_config(save_dir=str(run), max_steps=20, hidden_size=16, num_layers=2, embedding_dim=8,
                      seq_length=16, batch_size=8, eval_interval=10, print_every=1e9, val_frac=0.002,
                      test_frac=0.001),
          out=lambda *args: None)
    (tmp_path / "notebooks").mkdir()
    shutil.copyfile(ROOT / "notebooks" / "visualize.ipynb", tmp_path / "notebooks" / "visualize.ipynb")
    nb = execute(tmp_path / "notebooks" / "visualize.ipynb")
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"using the trained model in {run}" in text and "LSTM 2 x 16" in text


def _first_error(nb):
    for i, c in enumerate(nb.cells):
        if any(o.output_type == "error" for o in c.get("outputs", [])):
            return i, next(o for o in c.outputs if o.output_type == "error")
    return None, None


def _stops_at_todo_1(path, marker):
    """Execute; the first cell that calls the student's code must stop with the graders' words."""
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(path.parent)}})
    with pytest.raises(nbclient.exceptions.CellExecutionError) as err:
        client.execute()
    assert f"not written yet: {marker}" in str(err.value)
    stub = LABS[_lab_of(path)][1]
    assert f"fill in that TODO block in {stub}" in str(err.value)
    index, error = _first_error(nb)
    first_student_cell = next(i for i, c in enumerate(nb.cells)
                              if c.cell_type == "code" and "impl." in c.source)
    assert index == first_student_cell
    assert error.ename == "NotWrittenYet"
    return nb


def _lab_of(path):
    return next(lab for lab, (folder, _) in LABS.items() if folder in path.parts)


@pytest.mark.parametrize("lab", list(LABS))
def test_each_lab_on_the_untouched_stub_stops_at_todo_1(lab, kernel_env):
    kernel_env.delenv("SCRATCHRNN_LAB_IMPL")
    folder, stub = LABS[lab]
    nb = _stops_at_todo_1(ROOT / "labs" / folder / "notebook.ipynb", "TODO 1: ")
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert f"using your stub labs/{folder}/{stub}" in setup.outputs[0].text


# --------------------------------------------------------------------------- export and reset
def test_export_ships_clean_notebooks_that_load_the_class_folders_stub(tmp_path, kernel_env):
    kernel_env.delenv("SCRATCHRNN_LAB_IMPL")
    out = reset.export(tmp_path / "class")
    for folder, _ in LABS.values():
        for name in ("notebook.ipynb", "notebook.zh.ipynb"):
            path = out / folder / name
            text = path.read_text(encoding="utf-8")
            assert text == (ROOT / "labs" / folder / ".pristine" / name).read_text(encoding="utf-8")
            assert "reference" not in text.lower(), f"{path} mentions the answer key"
            nb = json.loads(text)
            assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
        assert not (out / folder / "notebook.py").exists()       # sources stay home
    stub = out / "lab01_rnn_step" / "rnn_step.py"
    stub.write_text(stub.read_text(encoding="utf-8").replace(
        'raise NotImplementedError("TODO 1: rnn_step_forward")',
        'raise NotImplementedError("TODO 1: rnn_step_forward (the class folder\'s copy)")'),
        encoding="utf-8")
    _stops_at_todo_1(out / "lab01_rnn_step" / "notebook.ipynb",
                     "TODO 1: rnn_step_forward (the class folder's copy)")


def test_reset_restores_the_notebooks_and_keeps_a_backup(tmp_path):
    out = reset.export(tmp_path / "class")
    path = out / "lab03_lstm" / "notebook.ipynb"
    original = path.read_text(encoding="utf-8")
    nb = json.loads(original)
    nb["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "mine\n"}]
    nb["cells"][2]["execution_count"] = 1
    path.write_text(json.dumps(nb), encoding="utf-8")
    backups = reset.reset_notebooks("lab03", labs_dir=out)
    assert path.read_text(encoding="utf-8") == original
    assert [b.name.split(".ipynb")[0] for b in backups] == ["notebook"]
    assert "mine" in backups[0].read_text(encoding="utf-8")
    assert reset.reset_notebooks("lab03", labs_dir=out) == []       # already clean: no backup
