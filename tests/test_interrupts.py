"""Ctrl-C, SIGTERM and SIGKILL sent to real training processes (python -m scratchrnn.train).

On SIGINT or SIGTERM the trainer finishes the step it is in, writes ``last`` at that step
(atomically, with everything resume needs), history.csv and loss.png, says where they are and
how to resume, and exits with status 130. A resumed run then logs exactly what the
uninterrupted run logs. SIGKILL cannot be caught: it may land anywhere, also in the middle of
a save, and the last checkpoint must still load and resume.

Each process trains a tiny model (a few thousand parameters) for a few seconds at most.
"""
import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from scratchrnn.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

TINY = ["--hidden_size", "16", "--embedding_dim", "8", "--num_layers", "1", "--batch_size", "4",
        "--seq_length", "8", "--sample_length", "5", "--print_every", "0", "--max_minutes", "0"]

# The trainer, with a hook that sends the process a real signal once step N is done (the
# progress line of step N is printed right after the step): so "interrupted after N steps"
# is exact. STUB_PLOTS swaps matplotlib for a stub (a second of import and drawing).
DRIVER = textwrap.dedent("""
    import os, signal, sys
    # As in a terminal: a runner started in the background (CI under nohup or &) hands its
    # children SIGINT ignored, and the trainer rightly leaves an ignored SIGINT alone.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import scratchrnn.training as training
    at, name = int(os.environ.get("SIGNAL_AT_STEP", "0")), os.environ.get("SIGNAL", "SIGINT")
    progress = training._progress
    def hooked(run, *args, **kwargs):
        progress(run, *args, **kwargs)
        if run["step"] == at:
            os.kill(os.getpid(), getattr(signal, name))
    training._progress = hooked
    if os.environ.get("STUB_PLOTS"):
        import scratchrnn.figures
        def stub(history, path, title=None):
            open(path, "wb").write(b"stub")
        scratchrnn.figures.plot_loss_curves = stub
    from scratchrnn.cli.train import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    words = "the king is dead long live the queen and all his men went home".split()
    text = "\n".join(" ".join(rng.choice(words, 6)) + "." for _ in range(150))
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return path


def trainer(corpus, save_dir, *flags, at=None, sig="SIGINT", stub_plots=True, popen=False):
    env = dict(os.environ, PYTHONUNBUFFERED="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    if at is not None:
        env.update(SIGNAL_AT_STEP=str(at), SIGNAL=sig)
    if stub_plots:
        env["STUB_PLOTS"] = "1"
    argv = [sys.executable, "-c", DRIVER, "--data_file", str(corpus), "--save_dir", str(save_dir),
            *TINY, *map(str, flags)]
    if popen:
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def history_rows(path):
    """history.csv without its time column."""
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(f)]


def load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # a .json left from the save before: still loads
        return load_checkpoint(path)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_after_n_steps_keeps_last_at_step_n_and_the_history(corpus, tmp_path, sig):
    save = tmp_path / "run"
    done = trainer(corpus, save, "--max_steps", 60, "--eval_interval", 5, at=7, sig=sig,
                   stub_plots=sig == "SIGTERM")          # one of the two draws the real loss.png
    assert done.returncode == 130, done.stderr
    assert f"{sig}: stopped at step 7; saved {save / 'last'}" in done.stdout
    assert f"--resume {save}" in done.stdout
    assert "Traceback" not in done.stderr and done.stderr.strip().startswith("interrupted")
    arrays, meta = load(save / "last")
    assert meta["step"] == 7 and meta["stream"]["position"] == 7
    assert len(meta["recent"]) == 7 and meta["guard"]["start"] is not None
    rows = history_rows(save / "history.csv")
    assert [r["step"] for r in rows] == ["1", "5"]       # train rows every 10 steps, val at 5
    assert rows[1]["val_loss"] != ""
    png = (save / "loss.png").read_bytes()
    assert png.startswith(b"\x89PNG") if sig == "SIGINT" else png == b"stub"
    assert not list(save.glob("*.tmp")) and not list(save.glob(".*.tmp"))


@pytest.mark.parametrize("at", [12, 10])
def test_interrupted_and_resumed_logs_what_the_straight_run_logs(corpus, tmp_path, at):
    """20 straight steps vs `at` steps, SIGINT, --resume to 20: the same history rows (time
    aside) and bit-identical final checkpoints; 12 is no validation or logging step, 10 is both."""
    flags = ["--max_steps", 20, "--eval_interval", 5, "--dropout", 0.2]
    straight = trainer(corpus, tmp_path / "straight", *flags)
    assert straight.returncode == 0, straight.stderr
    first = trainer(corpus, tmp_path / "resumed", *flags, at=at)
    assert first.returncode == 130 and f"stopped at step {at}" in first.stdout, first.stderr
    second = trainer(corpus, tmp_path / "ignored", "--resume", tmp_path / "resumed",
                     "--save_dir", tmp_path / "resumed")
    assert second.returncode == 0, second.stderr
    assert f"resumed from {tmp_path / 'resumed'} at step {at}" in second.stdout
    want = history_rows(tmp_path / "straight" / "history.csv")
    assert [r["step"] for r in want] == ["1", "5", "10", "15", "20"]
    assert history_rows(tmp_path / "resumed" / "history.csv") == want
    a, meta_a = load(tmp_path / "straight" / "last")
    b, meta_b = load(tmp_path / "resumed" / "last")
    assert sorted(a) == sorted(b) and meta_a["step"] == meta_b["step"] == 20
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def wait_for_step(proc, step):
    """Read the child's progress lines until it has done `step` steps (or it ended)."""
    for line in proc.stdout:
        if line.startswith("step") and int(line.split()[1].split("/")[0]) >= step:
            return True
    return False


def test_sigint_and_sigkill_at_random_moments_while_saving_leave_a_resumable_last(corpus, tmp_path):
    """A checkpoint is written at every step here (--eval_interval 1), so a signal after a
    random delay often lands inside a save. Whatever it hits, the last checkpoint loads, a new
    run in the folder removes what a killed save left, and resuming from it continues."""
    rng = np.random.default_rng(12)
    save = tmp_path / "run"
    step_before = 0
    for round_, sig in enumerate([signal.SIGKILL, signal.SIGINT, signal.SIGKILL, signal.SIGKILL,
                                  signal.SIGINT]):
        flags = ["--max_steps", 400, "--eval_interval", 1]
        if round_:
            flags += ["--resume", save]
        proc = trainer(corpus, save, *flags, popen=True)
        try:
            assert wait_for_step(proc, step_before + 2), proc.stderr.read()
            time.sleep(rng.uniform(0, 0.05))
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        if sig == signal.SIGINT:
            assert proc.returncode == 130, err
            assert "Traceback" not in err
        else:
            assert proc.returncode == -signal.SIGKILL
        arrays, meta = load(save / "last")
        assert meta["step"] > step_before and all(np.isfinite(a).all() for a in arrays.values()
                                                  if a.dtype.kind == "f")
        if sig == signal.SIGINT:
            assert f"stopped at step {meta['step']}" in out
        step_before = meta["step"]
    # The last round resumes to the end; no temporary file survives a run in the folder.
    done = trainer(corpus, save, "--resume", save, "--max_steps", step_before + 3)
    assert done.returncode == 0, done.stderr
    assert load(save / "last")[1]["step"] == step_before + 3
    assert not [p.name for p in save.iterdir() if p.name.endswith(".tmp")]


def test_a_killed_save_leaves_temporary_files_that_the_next_run_removes(corpus, tmp_path):
    save = tmp_path / "run"
    done = trainer(corpus, save, "--max_steps", 3, "--eval_interval", 3)
    assert done.returncode == 0
    for name in (".last.npz.abc123.tmp", ".best.json.x.tmp", "history.csv.tmp"):
        (save / name).write_bytes(b"half a save")
    (save / "notes.tmp").write_text("not ours")
    again = trainer(corpus, save, "--resume", save, "--max_steps", 6)
    assert again.returncode == 0, again.stderr
    assert "removed 3 temporary file(s)" in again.stdout
    assert sorted(p.name for p in save.iterdir() if p.name.endswith(".tmp")) == ["notes.tmp"]
