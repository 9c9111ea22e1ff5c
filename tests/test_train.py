"""The trainer (python -m scratchrnn.train): exact resume, outputs, progress, bad input,
divergence, early stopping, vocabularies, scheduled sampling, learning, the entry point.

Everything runs on tiny models (16 hidden units, 4 x 8 batches) and small texts written to
tmp_path, in process through ``train(args, given, out)`` or ``main(argv)``.
"""
import csv
import json
import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import scratchrnn.training as train_mod
from scratchrnn.checkpoint import load_checkpoint
from scratchrnn.gradcheck import compare, numerical_gradient
from scratchrnn.models import CharLM
from scratchrnn.nn import is_grad_enabled, no_grad, softmax_cross_entropy
from scratchrnn.cli.train import main, parse_args
from scratchrnn.training import DEFAULTS, ConfigError as UsageError, Diverged, train

TINY = ["--hidden_size", "16", "--embedding_dim", "8", "--num_layers", "2",
        "--batch_size", "4", "--seq_length", "8", "--sample_length", "5",
        # the recipe these tests were written for (constant rate, no dropout), not the default one
        "--lr_schedule", "constant", "--warmup_steps", "0", "--dropout", "0", "--lr", "2e-3"]

WORDS = ("the king is dead long live the king and all his men went home to sleep "
         "while the queen sat by the fire thinking of the old days").split()


def english(n_chars=3000, seed=0):
    """Plain English-looking text with newlines, about n_chars long."""
    rng = np.random.default_rng(seed)
    lines, size = [], 0
    while size < n_chars:
        line = " ".join(rng.choice(WORDS, size=rng.integers(3, 9))) + "."
        lines.append(line.capitalize())
        size += len(line) + 1
    return "\n".join(lines)[:n_chars]


@pytest.fixture
def real_plots():
    """Asked for by the tests that check loss.png itself."""


@pytest.fixture(autouse=True)
def fast_plots(request, monkeypatch):
    """Drawing loss.png with matplotlib takes most of a tiny run's time; other tests get a
    stub that records what it was asked to draw."""
    if "real_plots" in request.fixturenames:
        return None
    import scratchrnn.figures
    drawn = []

    def stub(history, path, title=None):
        drawn.append(history)
        Path(path).write_bytes(b"stub")
        return path

    monkeypatch.setattr(scratchrnn.figures, "plot_loss_curves", stub)
    return drawn


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(english(), encoding="utf-8")
    return path


def run(corpus, save_dir, *flags, out=None):
    """train() in process with the TINY model; returns (run dict, printed lines)."""
    lines = []
    args, given = parse_args(["--data_file", str(corpus), "--save_dir", str(save_dir),
                              *TINY, *map(str, flags)])
    result = train(args, given, out=out or lines.append)
    return result, lines


def resume(save_dir, *flags, out=None):
    lines = []
    args, given = parse_args(["--resume", str(save_dir), *map(str, flags)])
    result = train(args, given, out=out or lines.append)
    return result, lines


def call_main(capsys, *argv):
    """main(argv) -> (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # the .json must match the .npz
        return load_checkpoint(path)


def snapshot(save_dir):
    """The bytes of every checkpoint file in save_dir."""
    return {p.name: p.read_bytes() for p in sorted(save_dir.glob("*.*"))
            if p.suffix in (".npz", ".json")}


def assert_identical_checkpoints(a, b):
    """Parameters, optimiser buffers, carried state, generator and position: bit for bit."""
    arrays_a, meta_a = load(a)
    arrays_b, meta_b = load(b)
    assert sorted(arrays_a) == sorted(arrays_b)
    assert any(k.startswith("model/") for k in arrays_a)
    for k in arrays_a:
        assert arrays_a[k].dtype == arrays_b[k].dtype, k
        assert arrays_a[k].tobytes() == arrays_b[k].tobytes(), f"{k} differs"
    for k in ("step", "rng", "stream", "optimizer", "schedule", "best_val"):
        assert meta_a[k] == meta_b[k], k
    assert [v[2] for v in meta_a["history"]["val"]] == [v[2] for v in meta_b["history"]["val"]]


# =========================================================================== exact resume

RESUME_CASES = {
    "lstm-adam-dropout": ["--model_type", "lstm", "--dropout", "0.3"],
    "gru-adam-dropout": ["--model_type", "gru", "--dropout", "0.3"],
    "rnn-adamw-clip": ["--model_type", "rnn", "--optimizer", "adamw", "--weight_decay", "0.01",
                       "--dropout", "0.2", "--clip", "0.5"],
    "lstm-sgd-momentum": ["--model_type", "lstm", "--optimizer", "sgd", "--momentum", "0.9",
                          "--lr", "0.5", "--dropout", "0.3", "--clip", "5"],
    "gru-rmsprop-scheduled-sampling": ["--model_type", "gru", "--optimizer", "rmsprop",
                                       "--lr", "0.003", "--dropout", "0.3",
                                       "--teacher_forcing_ratio", "0.5"],
}


@pytest.mark.parametrize("flags", RESUME_CASES.values(), ids=RESUME_CASES.keys())
def test_resume_gives_the_same_parameters_bit_for_bit(corpus, tmp_path, flags):
    """N steps, save, --resume to 2N == 2N steps straight (dropout > 0: the generator matters)."""
    n = 6
    run(corpus, tmp_path / "straight", "--max_steps", 2 * n, "--eval_interval", 3, *flags)
    first, _ = run(corpus, tmp_path / "half", "--max_steps", n, "--eval_interval", 3, *flags)
    assert first["step"] == n
    resumed, lines = resume(tmp_path / "half", "--max_steps", 2 * n,
                            "--save_dir", tmp_path / "resumed")
    assert resumed["step"] == 2 * n
    assert any(f"resumed from {tmp_path / 'half'} at step {n}" in line for line in lines)
    assert_identical_checkpoints(tmp_path / "straight" / "last", tmp_path / "resumed" / "last")


class Killed(Exception):
    """Stands for the process being killed."""


@pytest.mark.parametrize("flags", [
    ["--lr_schedule", "cosine", "--warmup_steps", "4", "--dropout", "0.3"],
    ["--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.5", "--lr_schedule", "cosine",
     "--dropout", "0.3", "--model_type", "gru"],
], ids=["lstm-adam-cosine-warmup", "gru-sgd-momentum-cosine"])
def test_killed_and_resumed_run_matches_the_straight_run(corpus, tmp_path, flags):
    """A schedule depends on the planned length, so here the first run plans 2N steps and is
    killed after its checkpoint at step N (as a real interrupted run would be)."""
    n = 6
    straight, _ = run(corpus, tmp_path / "straight", "--max_steps", 2 * n, "--eval_interval", n,
                      *flags)
    lrs = [row[4] for row in straight["history"]["train"]]
    assert len(set(lrs)) > 1, "the schedule should change the learning rate"
    def out(line):
        if line.startswith("validation:"):
            raise Killed
    with pytest.raises(Killed):
        run(corpus, tmp_path / "killed", "--max_steps", 2 * n, "--eval_interval", n, *flags,
            out=out)
    assert load(tmp_path / "killed" / "last")[1]["step"] == n
    resumed, _ = resume(tmp_path / "killed", "--save_dir", tmp_path / "resumed")
    assert resumed["step"] == 2 * n
    assert_identical_checkpoints(tmp_path / "straight" / "last", tmp_path / "resumed" / "last")


def test_resume_accepts_a_checkpoint_path_and_unchanged_fixed_flags(corpus, tmp_path):
    run(corpus, tmp_path / "a", "--max_steps", 4, "--eval_interval", 2)
    for spelling in ("last.npz", "best"):
        result, _ = resume(tmp_path / "a" / spelling, "--max_steps", 6, "--hidden_size", 16,
                           "--save_dir", tmp_path / f"r-{spelling}")
        assert result["step"] == 6


@pytest.mark.parametrize("flag, value", [("--hidden_size", 32), ("--model_type", "gru"),
                                         ("--num_layers", 1), ("--seq_length", 16)])
def test_resume_refuses_a_changed_model_or_data_flag(corpus, tmp_path, capsys, flag, value):
    run(corpus, tmp_path / "a", "--max_steps", 3)
    code, _, err = call_main(capsys, "--resume", tmp_path / "a", flag, value)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert flag in err and "resum" in err


def test_resume_from_something_that_is_not_a_training_checkpoint(tmp_path, capsys):
    np.savez(tmp_path / "foreign.npz", w=np.zeros(3))
    code, _, err = call_main(capsys, "--resume", tmp_path / "foreign")
    assert code == 2 and err.startswith("error: ") and "foreign.npz" in err
    code, _, err = call_main(capsys, "--resume", tmp_path / "missing")
    assert code == 2 and err.startswith("error: ") and "missing.npz" in err


def test_resume_with_another_optimizer_is_refused_or_handled(corpus, tmp_path, capsys):
    run(corpus, tmp_path / "a", "--max_steps", 3)
    code, _, err = call_main(capsys, "--resume", tmp_path / "a", "--optimizer", "sgd",
                             "--max_steps", 5)
    assert code in (0, 2)
    if code == 2:
        assert "--optimizer" in err and "Traceback" not in err


def test_resume_with_a_new_learning_rate_uses_it_or_refuses(corpus, tmp_path):
    run(corpus, tmp_path / "a", "--max_steps", 3)
    try:
        result, lines = resume(tmp_path / "a", "--lr", "1e-5", "--max_steps", 4)
    except UsageError as e:
        assert "--learning_rate" in str(e)
    else:
        assert result["optimizer"].lr == pytest.approx(1e-5)


def test_resume_cannot_stretch_a_cosine_schedule(corpus, tmp_path, capsys):
    """Extending a cosine run would train the extra steps at the final (zero) rate: refused."""
    run(corpus, tmp_path / "a", "--max_steps", 4, "--lr_schedule", "cosine")
    code, _, err = call_main(capsys, "--resume", tmp_path / "a", "--max_steps", 8)
    assert code == 2 and "cosine schedule was planned for 4 steps" in err


def test_budget_schedule_ends_at_min_lr_when_the_steps_run_out(corpus, tmp_path):
    result, lines = run(corpus, tmp_path / "a", "--max_steps", 30, "--lr_schedule", "budget",
                        "--min_lr", 1e-4, "--warmup_steps", 5, "--max_minutes", 60)
    lrs = [row[4] for row in result["history"]["train"]]
    assert result["optimizer"].lr == pytest.approx(1e-4)
    base = result["schedule"].base_lr                                # warm-up after one step:
    assert lrs[0] == pytest.approx((1e-4 + (base - 1e-4) * (1 + math.cos(math.pi / 30)) / 2) / 5)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:]))            # then only down
    assert result["schedule"].state_dict()["seconds"] == 3600


def test_budget_schedule_follows_the_clock(corpus, tmp_path, monkeypatch):
    """With a time budget shorter than the step budget, the rate falls with the wall clock."""
    import scratchrnn.training as training
    clock = iter(range(10_000))
    monkeypatch.setattr(training.time, "perf_counter", lambda: 6.0 * next(clock))   # 6 s a call
    result, _ = run(corpus, tmp_path / "a", "--max_steps", 10_000, "--lr_schedule", "budget",
                    "--max_minutes", 1, "--eval_interval", 10_000)
    s = result["schedule"]
    assert result["step"] < 100 and s.progress() == 1.0
    assert result["optimizer"].lr == DEFAULTS["min_lr"] > 0


def test_resume_with_a_longer_budget_re_plans_the_schedule(corpus, tmp_path):
    """Stretched on resume, the decay continues as if planned that long from the start."""
    flags = ("--lr_schedule", "budget", "--max_minutes", 0, "--min_lr", 1e-4)
    run(corpus, tmp_path / "a", "--max_steps", 6, *flags)
    resumed, lines = resume(tmp_path / "a", "--max_steps", 12)
    straight, _ = run(corpus, tmp_path / "b", "--max_steps", 12, *flags)
    assert any("re-planned" in line for line in lines)
    assert resumed["history"]["train"][-1][:1] + resumed["history"]["train"][-1][4:] == \
        straight["history"]["train"][-1][:1] + straight["history"]["train"][-1][4:]    # step, lr
    assert resumed["optimizer"].lr == straight["optimizer"].lr == pytest.approx(1e-4)
    assert resumed["schedule"].state_dict()["total_steps"] == 12


def test_min_lr_must_lie_below_the_learning_rate(corpus, tmp_path, capsys):
    code, _, err = call_main(capsys, "--data_file", corpus, "--min_lr", 0.1, "--lr", 0.01)
    assert code == 2 and "--min_lr must be in [0, --learning_rate)" in err


@pytest.mark.parametrize("change", ["new characters", "shorter"])
def test_resume_after_the_data_file_changed_is_a_clear_error(corpus, tmp_path, capsys, change):
    run(corpus, tmp_path / "a", "--max_steps", 3)
    text = corpus.read_text()
    corpus.write_text(text + " QXZ%" if change == "new characters" else text[:-200])
    code, _, err = call_main(capsys, "--resume", tmp_path / "a", "--max_steps", 5)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err


# =========================================================================== outputs

def read_history(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_outputs_of_a_short_run(corpus, tmp_path, real_plots):
    save = tmp_path / "out"
    result, lines = run(corpus, save, "--max_steps", 20, "--eval_interval", 5)
    for name in ("best.npz", "best.json", "last.npz", "last.json", "history.csv", "loss.png"):
        assert (save / name).is_file(), name
    assert (save / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header, rows = read_history(save / "history.csv")
    assert header == ["step", "time_s", "train_loss", "grad_norm", "lr", "val_loss"]
    steps = [int(r[0]) for r in rows]
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] == 20
    train_rows = [r for r in rows if r[2]]
    val_rows = [r for r in rows if r[5]]
    assert [int(r[0]) for r in train_rows] == [1, 10, 20]
    assert [int(r[0]) for r in val_rows] == [5, 10, 15, 20]
    for r in train_rows:
        assert math.isfinite(float(r[2])) and float(r[3]) > 0 and float(r[4]) == 2e-3
    vals = {int(r[0]): float(r[5]) for r in val_rows}
    # best is the lowest validation loss in the history; last is the final step.
    best_arrays, best_meta = load(save / "best")
    last_arrays, last_meta = load(save / "last")
    best_step = min(vals, key=vals.get)
    assert best_meta["best_val"] == pytest.approx(min(vals.values()))
    assert best_meta["step"] == best_step and last_meta["step"] == 20
    assert result["best_val"] == best_meta["best_val"]
    # the .json copies are the metadata people read: config, vocabulary, history
    meta = json.loads((save / "last.json").read_text(encoding="utf-8"))
    assert meta["model"]["hidden_size"] == 16 and meta["vocab"]["type"] == "char"
    assert [v[0] for v in meta["history"]["val"]] == [5, 10, 15, 20]


def test_best_is_the_lowest_validation_loss_not_the_last(corpus, tmp_path, monkeypatch):
    losses = iter([3.0, 2.0, 2.5, 2.7])
    monkeypatch.setattr(train_mod, "evaluate", lambda *a, **k: next(losses))
    save = tmp_path / "out"
    result, lines = run(corpus, save, "--max_steps", 20, "--eval_interval", 5)
    best_arrays, best_meta = load(save / "best")
    last_arrays, last_meta = load(save / "last")
    assert (best_meta["step"], best_meta["best_val"]) == (10, 2.0)
    assert last_meta["step"] == 20 and last_meta["best_val"] == 2.0
    assert any(not np.array_equal(best_arrays[k], last_arrays[k]) for k in best_arrays
               if k.startswith("model/"))
    header, rows = read_history(save / "history.csv")
    assert [(int(r[0]), float(r[5])) for r in rows if r[5]] == [(5, 3.0), (10, 2.0),
                                                                 (15, 2.5), (20, 2.7)]
    saved = [line for line in lines if line.startswith("validation:")]
    assert ["(best, saved)" in line for line in saved] == [True, True, False, False]


def test_history_csv_has_the_time_of_every_validation(corpus, tmp_path):
    save = tmp_path / "out"
    result, lines = run(corpus, save, "--max_steps", 13, "--eval_interval", 4)
    header, rows = read_history(save / "history.csv")
    val_rows = [r for r in rows if r[5]]
    assert [int(r[0]) for r in val_rows] == [4, 8, 12, 13]
    assert [float(r[1]) for r in val_rows] == [v[1] for v in result["history"]["val"]]


def test_logged_training_loss_does_not_depend_on_print_every(corpus, tmp_path):
    a, _ = run(corpus, tmp_path / "a", "--max_steps", 20, "--eval_interval", 20,
               "--print_every", 0)
    b, _ = run(corpus, tmp_path / "b", "--max_steps", 20, "--eval_interval", 20,
               "--print_every", 3600)
    assert [r[2] for r in a["history"]["train"]] == [r[2] for r in b["history"]["train"]]


# =========================================================================== progress output

STEP_LINE = re.compile(r"step\s+(\d+)/(\d+)\s+epoch (\d+)\s+loss (\d+\.\d+)\s+grad norm\s+"
                       r"(\d+\.\d+)\s+([\d,]+) tok/s\s+time left (\d+:)?\d+:\d\d")
VAL_LINE = re.compile(r"validation: loss (\d+\.\d+) nats/token, perplexity (\d+\.\d+)")


def test_progress_lines(corpus, tmp_path):
    result, lines = run(corpus, tmp_path / "out", "--max_steps", 6, "--eval_interval", 3,
                        "--print_every", 0)
    text = "\n".join(lines)
    assert text.startswith("data: ") and "model: LSTM 2x16" in text
    step_lines = [m for m in map(STEP_LINE.search, lines) if m]
    assert [int(m.group(1)) for m in step_lines] == [1, 2, 3, 4, 5, 6]
    for m in step_lines:
        assert int(m.group(2)) == 6 and int(m.group(3)) == 1
        assert 0 < float(m.group(4)) < 10 and float(m.group(5)) > 0
        assert int(m.group(6).replace(",", "")) > 0
    val_lines = [m for m in map(VAL_LINE.search, lines) if m]
    assert len(val_lines) == 2                        # steps 3 and 6
    for m in val_lines:
        assert float(m.group(2)) == pytest.approx(math.exp(float(m.group(1))), rel=1e-3)
    assert "loss curves:" in text and "best validation loss" in text


def test_progress_respects_print_every(corpus, tmp_path):
    result, lines = run(corpus, tmp_path / "out", "--max_steps", 8, "--eval_interval", 8,
                        "--print_every", 3600)
    assert len([line for line in lines if STEP_LINE.search(line)]) == 1   # only step 1


# =========================================================================== bad input

def bad_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return path


BAD_FILES = {
    "empty": (b"", r"empty"),
    "whitespace-only": (b"  \n\t\n   \n", r"no text"),
    "too-short": (b"abc def\n" * 40, r"at least \d+ tokens"),
    "not-utf8": ("café naïve déjà vu\n".encode("latin-1") * 50, r"not valid UTF-8"),
}


def assert_usage_error(code, err, pattern):
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert re.search(pattern, err), err


@pytest.mark.parametrize("content, pattern", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_data_files(tmp_path, capsys, content, pattern):
    path = bad_file(tmp_path, "data.txt", content)
    code, out, err = call_main(capsys, "--data_file", path, "--save_dir", tmp_path / "out",
                               *TINY, "--max_steps", 2)
    assert_usage_error(code, err, pattern)
    if "empty" in pattern or "UTF-8" in pattern:
        assert "data.txt" in err
    assert not (tmp_path / "out" / "last.npz").exists()


def test_missing_and_directory_data_file(tmp_path, capsys):
    code, out, err = call_main(capsys, "--data_file", tmp_path / "nope.txt", *TINY)
    assert_usage_error(code, err, r"not found.*nope\.txt")
    code, out, err = call_main(capsys, "--data_file", tmp_path, *TINY)
    assert_usage_error(code, err, r"directory")


def test_too_short_corpus_message_gives_a_length_that_works(tmp_path, capsys):
    path = bad_file(tmp_path, "short.txt", b"abc def\n" * 40)
    code, out, err = call_main(capsys, "--data_file", path, *TINY, "--max_steps", 1)
    need = int(re.search(r"at least (\d+) tokens", err).group(1))
    assert need > 320
    assert "--batch_size" in err and "--seq_length" in err
    path.write_text(english(need))
    assert len(path.read_text()) == need
    code, out, err = call_main(capsys, "--data_file", path, *TINY, "--max_steps", 1,
                               "--save_dir", tmp_path / "out")
    assert code == 0, err
    path.write_text(english(need - 25))
    code, out, err = call_main(capsys, "--data_file", path, *TINY, "--max_steps", 1,
                               "--save_dir", tmp_path / "out")
    assert code == 2


BAD_FLAGS = {
    "negative-lr": (["--learning_rate", "-0.1"], r"--learning_rate must be positive"),
    "zero-lr-alias": (["--lr", "0"], r"--learning_rate"),
    "dropout-1.5": (["--dropout", "1.5"], r"--dropout must be in \[0, 1\)"),
    "teacher-forcing-2": (["--teacher_forcing_ratio", "2"], r"--teacher_forcing_ratio"),
    "clip-negative": (["--clip", "-1"], r"--clip must be positive"),
    "hidden-zero": (["--hidden_size", "0"], r"--hidden_size must be at least 1"),
    "batch-zero": (["--batch_size", "0"], r"--batch_size"),
    "max-steps-zero": (["--max_steps", "0"], r"--max_steps"),
    "patience-zero": (["--patience", "0"], r"--patience"),
    "vocab-one": (["--max_vocab_size", "1"], r"--max_vocab_size"),
    "lr-decay-2": (["--lr_decay", "2"], r"--lr_decay"),
    "negative-minutes": (["--max_minutes", "-1"], r"--max_minutes"),
    "val-frac": (["--val_frac", "1.5"], r"val_frac"),
}


@pytest.mark.parametrize("flags, pattern", BAD_FLAGS.values(), ids=BAD_FLAGS.keys())
def test_impossible_flag_values(corpus, tmp_path, capsys, flags, pattern):
    code, out, err = call_main(capsys, "--data_file", corpus, "--save_dir", tmp_path / "out",
                               *TINY, "--max_steps", 2, *flags)
    assert_usage_error(code, err, pattern)
    assert not (tmp_path / "out" / "last.npz").exists()


# =========================================================================== divergence

def patch_training_loss(monkeypatch, change):
    """Wrap softmax_cross_entropy in scratchrnn.train: change(call, loss, dlogits) alters the
    result of the call-th training step (validation runs under no_grad and is untouched)."""
    calls = []

    def fake(logits, targets, *a, **k):
        loss, dlogits = softmax_cross_entropy(logits, targets, *a, **k)
        if not is_grad_enabled():
            return loss, dlogits
        calls.append(1)
        return change(len(calls), loss, dlogits)

    monkeypatch.setattr(train_mod, "softmax_cross_entropy", fake)
    return calls


def snapshot_at_each_validation(save_dir, snaps):
    def out(line):
        if line.startswith("validation:"):
            snaps.append(snapshot(save_dir))
    return out


def test_huge_learning_rate_exits_3_with_advice(corpus, tmp_path, capsys):
    code, out, err = call_main(capsys, "--data_file", corpus, "--save_dir", tmp_path / "out",
                               *TINY, "--optimizer", "sgd", "--lr", "1e4", "--max_steps", 50,
                               "--eval_interval", 10)
    assert code == 3
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "--learning_rate" in err and "--clip" in err
    assert "no checkpoint had been saved yet" in err
    assert not (tmp_path / "out" / "last.npz").exists()


def test_climbing_loss_stops_and_keeps_the_last_good_checkpoint(corpus, tmp_path,
                                                               monkeypatch):
    save = tmp_path / "out"
    calls = patch_training_loss(monkeypatch, lambda i, loss, d: (loss + (1000.0 if i > 12 else 0),
                                                                 d))
    snaps = []
    with pytest.raises(Diverged) as info:
        run(corpus, save, "--max_steps", 50, "--eval_interval", 5,
            out=snapshot_at_each_validation(save, snaps))
    message = str(info.value)
    assert "climbed" in message and "--learning_rate" in message and "--clip" in message
    assert f"the last good checkpoint is kept: {save / 'last.npz'}" in message
    assert len(calls) == 13 and len(snaps) == 2          # validations at steps 5 and 10
    assert snapshot(save) == snaps[-1]                    # untouched since step 10
    arrays, meta = load(save / "last")
    assert meta["step"] == 10 and all(np.isfinite(a).all() for a in arrays.values())
    assert not (save / "history.csv").exists()    # the run stopped: no final outputs


def test_nan_loss_stops_immediately(corpus, tmp_path, monkeypatch, capsys):
    save = tmp_path / "out"
    calls = patch_training_loss(monkeypatch, lambda i, loss, d: (float("nan") if i >= 8 else loss,
                                                                 d))
    code, out, err = call_main(capsys, "--data_file", corpus, "--save_dir", save, *TINY,
                               "--max_steps", 50, "--eval_interval", 5)
    assert code == 3
    assert len(calls) == 8                                 # no step after the NaN
    assert "nan at step 8" in err and "--learning_rate" in err
    assert err.startswith("error: ") and err.count("\n") == 1
    arrays, meta = load(save / "last")
    assert meta["step"] == 5 and all(np.isfinite(a).all() for a in arrays.values())


def test_nan_gradient_at_an_eval_step_does_not_overwrite_the_good_checkpoint(
        corpus, tmp_path, monkeypatch):
    save = tmp_path / "out"
    patch_training_loss(monkeypatch, lambda i, loss, d: (loss, d * np.nan if i == 10 else d))
    with pytest.raises(Diverged) as info:
        run(corpus, save, "--max_steps", 50, "--eval_interval", 5)
    assert "last good checkpoint is kept" in str(info.value)
    arrays, meta = load(save / "last")
    assert all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind == "f")
    assert meta["step"] == 5


def test_exploded_validation_loss_is_reported_not_a_traceback(corpus, tmp_path, capsys):
    code, out, err = call_main(capsys, "--data_file", corpus, "--save_dir", tmp_path / "out",
                               *TINY, "--optimizer", "sgd", "--lr", "1e4", "--max_steps", 50,
                               "--eval_interval", 1)
    assert code == 3 and err.startswith("error: ") and "--learning_rate" in err


# =========================================================================== stopping

def test_early_stopping_with_patience(corpus, tmp_path, monkeypatch):
    losses = iter([2.0, 1.5, 1.6, 1.55, 1.7, 1.0, 0.5])
    monkeypatch.setattr(train_mod, "evaluate", lambda *a, **k: next(losses))
    save = tmp_path / "out"
    result, lines = run(corpus, save, "--max_steps", 100, "--eval_interval", 3,
                        "--patience", 3)
    assert result["step"] == 15                           # 5 validations: 2 good, then 3 bad
    assert any("early stopping: no improvement in 3 validations" in line for line in lines)
    assert load(save / "best")[1]["step"] == 6 and load(save / "last")[1]["step"] == 15
    assert (save / "history.csv").is_file() and (save / "loss.png").is_file()


def test_max_minutes_stops_and_still_saves(corpus, tmp_path):
    save = tmp_path / "out"
    result, lines = run(corpus, save, "--max_steps", 100000, "--max_minutes", 0.0002,
                        "--eval_interval", 100000)
    assert 1 <= result["step"] < 1000
    arrays, meta = load(save / "last")
    assert meta["step"] == result["step"] and meta["elapsed"] >= 0.012
    assert (save / "history.csv").is_file() and (save / "loss.png").is_file()


def test_epochs_without_max_steps(corpus, tmp_path):
    result, lines = run(corpus, tmp_path / "out", "--epochs", 1, "--max_minutes", 0,
                        "--eval_interval", 1000)
    assert result["step"] == len(result["stream"]) and result["stream"].epoch == 1


# =========================================================================== vocabularies

def test_word_vocabulary_with_max_vocab_size(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text(english(8000), encoding="utf-8")
    result, lines = run(path, tmp_path / "out", "--vocab_type", "word", "--max_vocab_size", 12,
                        "--max_steps", 4, "--eval_interval", 2)
    vocab = result["vocab"]
    assert vocab.kind == "word" and len(vocab) == 12 and "<unk>" in vocab
    meta = load(tmp_path / "out" / "last")[1]
    assert meta["vocab"]["type"] == "word" and meta["model"]["vocab_size"] == 12
    assert math.isfinite(result["best_val"])


def test_chinese_text_with_max_vocab_size(tmp_path):
    rng = np.random.default_rng(0)
    chars = np.array([chr(0x4E00 + i) for i in range(600)])
    p = 1.0 / np.arange(1, 601)
    text = "".join(rng.choice(chars, size=3000, p=p / p.sum()))
    text = "\n".join(text[i:i + 30] + "。" for i in range(0, 3000, 30))
    assert len(set(text)) > 200
    path = tmp_path / "zh.txt"
    path.write_text(text, encoding="utf-8")
    result, lines = run(path, tmp_path / "out", "--max_vocab_size", 50, "--max_steps", 4,
                        "--eval_interval", 2)
    assert len(result["vocab"]) == 50 and "<unk>" in result["vocab"]
    assert "vocabulary of 50" in lines[0]
    assert math.isfinite(result["best_val"]) and result["best_val"] < math.log(50) + 1
    meta = load(tmp_path / "out" / "best")[1]
    assert "。" in meta["vocab"]["itos"] and len(meta["vocab"]["itos"]) == 50


# =========================================================================== scheduled sampling

def test_teacher_forcing_ratio_half_trains(corpus, tmp_path, monkeypatch):
    used = []
    real = CharLM.forward_scheduled

    def spy(self, ids, state=None, teacher_forcing_ratio=1.0):
        used.append(teacher_forcing_ratio)
        return real(self, ids, state, teacher_forcing_ratio)

    monkeypatch.setattr(CharLM, "forward_scheduled", spy)
    result, lines = run(corpus, tmp_path / "out", "--teacher_forcing_ratio", 0.5,
                        "--max_steps", 6, "--eval_interval", 3)
    assert used == [0.5] * 6
    losses = [row[2] for row in result["history"]["train"]]
    assert all(math.isfinite(v) for v in losses) and math.isfinite(result["best_val"])


@pytest.mark.parametrize("model_type", ["lstm", "gru", "rnn"])
def test_scheduled_sampling_gradient(model_type):
    """CharLM.forward_scheduled/backward against central differences in float64, with the
    model's generator rewound before every evaluation (same samples, same dropout masks)."""
    rng = np.random.default_rng(7)
    V, T, B, H = 6, 5, 3, 4
    model = CharLM(V, model_type, embedding_dim=3, hidden_size=H, num_layers=2, dropout=0.25,
                   dtype=np.float64, rng=np.random.default_rng(3))
    x = rng.integers(0, V, (T, B))
    y = rng.integers(0, V, (T, B))
    h0 = rng.standard_normal((2, B, H)) * 0.5
    state = (h0, rng.standard_normal((2, B, H)) * 0.5) if model_type == "lstm" else h0
    start = model.rng.bit_generator.state

    def loss():
        model.rng.bit_generator.state = start
        with no_grad():
            logits, _ = model.forward_scheduled(x, state, 0.5)
        return softmax_cross_entropy(logits, y)[0]

    model.rng.bit_generator.state = start
    logits, _ = model.forward_scheduled(x, state, 0.5)
    _, dlogits = softmax_cross_entropy(logits, y)
    model.zero_grad()
    model.backward(dlogits)
    assert model.rng.bit_generator.state != start
    for name, p in model.named_parameters():
        idx = rng.choice(p.data.size, size=min(p.data.size, 12), replace=False)
        numeric = numerical_gradient(loss, p.data, eps=1e-5, indices=idx)
        row = compare(name, p.grad, numeric, idx)
        assert row.ok, row
    # the check is not vacuous: at this ratio some inputs really are the model's own samples
    teacher = CharLM(V, model_type, embedding_dim=3, hidden_size=H, num_layers=2,
                     dtype=np.float64, rng=np.random.default_rng(3))
    with no_grad():
        forced, _ = teacher(x, state)
        same, _ = teacher.forward_scheduled(x, state, 1.0)
        mixed, _ = teacher.forward_scheduled(x, state, 0.5)
    np.testing.assert_allclose(same, forced, rtol=1e-12, atol=1e-12)
    assert not np.allclose(mixed, forced)
    np.testing.assert_allclose(mixed[0], forced[0], rtol=1e-12, atol=1e-12)   # step 0 is x[0]


# =========================================================================== it learns

def test_learning_actually_happens(tmp_path):
    path = tmp_path / "rep.txt"
    path.write_text("hello world, the cat sat.\n" * 150, encoding="utf-8")
    lines = []
    args, given = parse_args(["--data_file", str(path), "--save_dir", str(tmp_path / "out"),
                              "--hidden_size", "32", "--embedding_dim", "16", "--num_layers", "1",
                              "--batch_size", "8", "--seq_length", "16", "--lr", "1e-2",
                              "--clip", "5", "--max_steps", "150", "--eval_interval", "50",
                              "--sample_length", "30"])
    result = train(args, given, out=lines.append)
    ln_v = math.log(len(result["vocab"]))
    first_train = result["history"]["train"][0][2]
    assert abs(first_train - ln_v) < 0.3          # starts near uniform guessing
    vals = [v[2] for v in result["history"]["val"]]
    assert vals[-1] < 0.25 * ln_v, vals
    assert result["best_val"] == min(vals)


# =========================================================================== entry point

def test_module_entry_point(corpus, tmp_path):
    help_ = subprocess.run([sys.executable, "-m", "scratchrnn.train", "--help"],
                           capture_output=True, text=True, timeout=120)
    assert help_.returncode == 0
    for flag in ("--model_type", "--batch_size", "--batch", "--learning_rate", "--lr", "--clip",
                 "--teacher_forcing_ratio", "--resume", "--patience", "--vocab_type"):
        assert flag in help_.stdout, flag
    save = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "scratchrnn.train", "--data_file", str(corpus),
                           "--save_dir", str(save), *TINY, "--max_steps", "3"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "step      1/3" in done.stdout and "best validation loss" in done.stdout
    assert load(save / "last")[1]["step"] == 3


# =========================================================================== issue 12: the save folder
def one_line_error(capsys, *argv, status=2):
    code, out, err = call_main(capsys, *argv)
    assert code == status, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "step " not in out          # refused before the first training step
    return err


def test_a_file_given_as_save_dir_is_refused_before_training(corpus, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    err = one_line_error(capsys, "--data_file", corpus, "--save_dir", tmp_path / "file", *TINY)
    assert f"--save_dir {tmp_path / 'file'} is a file, not a folder" in err
    err = one_line_error(capsys, "--data_file", corpus, "--save_dir", tmp_path / "file" / "sub",
                         *TINY)
    assert "cannot create the folder" in err and "Not a directory" in err


def test_an_unwritable_save_dir_is_refused_before_training(corpus, tmp_path, capsys, monkeypatch):
    """As root a read-only folder is still writable, so the refusal of the write is simulated."""
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(train_mod.tempfile, "mkstemp", refuse)
    err = one_line_error(capsys, "--data_file", corpus, "--save_dir", tmp_path / "ro", *TINY)
    assert "cannot write there (Permission denied)" in err


def test_a_full_disk_is_refused_before_training(corpus, tmp_path, capsys, monkeypatch):
    import shutil
    real = shutil.disk_usage
    monkeypatch.setattr(train_mod.shutil, "disk_usage",
                        lambda p: real(p)._replace(free=1 << 20))
    err = one_line_error(capsys, "--data_file", corpus, "--save_dir", tmp_path / "out", *TINY)
    assert "only 1.0 MiB free" in err and "need about" in err


@pytest.mark.parametrize("name", ["last.npz", "best.json", "history.csv", "loss.png"])
def test_outputs_that_exist_as_folders_are_refused_before_training(corpus, tmp_path, capsys, name):
    (tmp_path / "out" / name).mkdir(parents=True)
    err = one_line_error(capsys, "--data_file", corpus, "--save_dir", tmp_path / "out", *TINY)
    assert f"{tmp_path / 'out' / name} is a folder" in err


def test_a_failed_write_later_stops_with_one_line_and_keeps_the_previous_checkpoint(
        corpus, tmp_path, capsys, monkeypatch):
    import errno
    save = tmp_path / "out"
    real_savez = np.savez
    saves = []

    def savez(f, **arrays):
        saves.append(1)
        if len(saves) > 2:          # last and best at step 5 are written; then the disk is full
            f.write(b"PK\x03\x04 part of an archive")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_savez(f, **arrays)

    monkeypatch.setattr(np, "savez", savez)
    code, out, err = call_main(capsys, "--data_file", corpus, "--save_dir", save, *TINY,
                               "--max_steps", 20, "--eval_interval", 5)
    monkeypatch.undo()
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"could not write the checkpoint {save / 'last'}.npz" in err
    assert "No space left on device" in err and "intact" in err
    arrays, meta = load(save / "last")
    assert meta["step"] == 5
    assert not [p for p in save.iterdir() if p.name.endswith(".tmp")]


# =========================================================================== issue 12: flags
@pytest.mark.parametrize("flag, value, message", [
    ("--temperature", "inf", "--temperature must be a finite number, got inf"),
    ("--momentum", "-1", "--momentum must be >= 0, got -1.0"),
    ("--learning_rate", "nan", "--learning_rate must be a finite number, got nan"),
    ("--dropout", "nan", "--dropout must be a finite number"),
    ("--max_grad_norm", "inf", "--max_grad_norm must be a finite number"),
    ("--max_minutes", "inf", "--max_minutes must be a finite number"),
    ("--weight_decay=-inf", None, "--weight_decay must be a finite number"),
    ("--val_frac", "nan", "--val_frac must be a finite number"),
    ("--print_every", "nan", "--print_every must be a finite number"),
])
def test_non_finite_or_negative_float_flags_are_refused_at_the_start(corpus, tmp_path, capsys,
                                                                    flag, value, message):
    err = one_line_error(capsys, "--data_file", corpus, "--save_dir", tmp_path / "out", *TINY,
                         *[a for a in (flag, value) if a is not None])
    assert message in err
    assert not (tmp_path / "out").exists()      # refused before anything was made


def test_the_configuration_line_names_the_teacher_forcing_ratio(corpus, tmp_path):
    _, lines = run(corpus, tmp_path / "a", "--max_steps", 2, "--teacher_forcing_ratio", 0.75)
    assert "teacher forcing 0.75" in next(line for line in lines if line.startswith("model: "))


# =========================================================================== issue 12: divergence
def test_a_diverged_validation_is_never_saved_as_best(corpus, tmp_path, monkeypatch):
    """The second validation is far above the starting loss: it stops the run before it is
    recorded, so best and last stay at step 5 and the message says so."""
    save = tmp_path / "out"
    real = train_mod.evaluate
    vals = []

    def evaluate(*a, **k):
        vals.append(real(*a, **k))
        return vals[-1] + (50.0 if len(vals) == 2 else 0.0)

    monkeypatch.setattr(train_mod, "evaluate", evaluate)
    with pytest.raises(Diverged) as info:
        run(corpus, save, "--max_steps", 30, "--eval_interval", 5)
    message = str(info.value)
    assert "the validation loss" in message and "at step 10 is far above the starting loss" in message
    assert f"the last good checkpoint is kept: {save / 'last.npz'} (step 5, validation loss " \
           f"{vals[0]:.4f})" in message
    assert f"the best is {save / 'best.npz'} (validation loss {vals[0]:.4f})" in message
    for name in ("last", "best"):
        meta = load(save / name)[1]
        assert meta["step"] == 5 and meta["best_val"] == vals[0]


# =========================================================================== issue 12: a newcomer
def test_the_fallback_corpus_gets_its_own_save_dir_and_a_closing_warning(tmp_path, monkeypatch):
    from scratchrnn.data import CorpusDownloadWarning
    monkeypatch.chdir(tmp_path)

    def offline(name):
        warnings.warn("could not download the tinyshakespeare corpus from https://x: offline.\n"
                      "Falling back to the built-in corpus (scratchrnn's own source code and "
                      "docs).\nTo fix this, ...", CorpusDownloadWarning)
        return english(4000)

    monkeypatch.setattr(train_mod, "load_corpus", offline)
    args, given = parse_args([*TINY, "--max_steps", "3"])
    lines = []
    result = train(args, given, out=lines.append)
    assert args.save_dir == str(Path("runs") / "builtin")
    assert (tmp_path / "runs" / "builtin" / "last.npz").exists()
    assert not (tmp_path / "runs" / "shakespeare").exists()
    assert "could not download the tinyshakespeare corpus" in lines[-1]
    assert "learned the built-in corpus, not Tiny Shakespeare" in lines[-1]
    assert result["step"] == 3


def test_a_data_file_without_save_dir_saves_under_its_own_name(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, given = parse_args(["--data_file", str(corpus), *TINY, "--max_steps", "2"])
    train(args, given, out=lambda line: None)
    assert (tmp_path / "runs" / "corpus" / "last.npz").exists()


def test_the_progress_line_ends_at_the_step_the_time_limit_allows():
    """Deterministic: 100 steps in 60 s of a 2-minute limit leave room for 100 more, not for
    the 10,000 the step budget allows; the pace is the session's (validations included)."""
    class Stream:
        epoch = 0
    lines = []
    run_ = {"step": 100, "elapsed": 60.0, "stream": Stream()}
    window = [(2.0, 1.0, 0.01)] * 5          # the last steps were much faster than the average
    train_mod._progress(run_, window, 32, 10_000, 120.0, lines.append, session=(0, 0.0))
    m = STEP_LINE.search(lines[0])
    assert m and (m.group(1), m.group(2)) == ("100", "200")
    assert "time left 1:00" in lines[0] and lines[0].endswith("(--max_minutes)")
    lines.clear()
    train_mod._progress(run_, window, 32, 150, 120.0, lines.append, session=(0, 0.0))
    assert "step    100/150" in lines[0] and "time left 0:30" in lines[0]
    assert "max_minutes" not in lines[0]


def test_help_shows_real_defaults(capsys):
    from scratchrnn.cli.train import build_parser
    text = " ".join(build_parser().format_help().split())
    assert "None" not in text and f"(default: {DEFAULTS['hidden_size']})" in text
    assert "(default: 0.8)" in text and "(default: budget)" in text


@pytest.mark.parametrize("damage, message", [
    ("huge_args", "the model needs (4000000, 1000000)"),
    ("rng", "cannot be resumed: its training state is incomplete or damaged"),
    ("hidden", "the saved hidden state has shapes [(2, 4, 16), (2, 3, 16)]"),
    ("optimizer", "cannot be resumed: its training state is incomplete or damaged"),
    ("renamed_npy", "is damaged or not a scratchrnn checkpoint"),
])
def test_resuming_a_damaged_training_checkpoint_is_one_line(corpus, tmp_path, capsys, damage,
                                                           message):
    """Checkpoints whose checksum is right but whose training state was written by something
    else (re-saved with save_checkpoint): resume refuses them before building anything."""
    from scratchrnn.checkpoint import save_checkpoint
    run(corpus, tmp_path / "a", "--max_steps", 3)
    arrays, meta = load(tmp_path / "a" / "last")
    if damage == "huge_args":
        meta["args"]["hidden_size"] = meta["model"]["hidden_size"] = 10 ** 6
    elif damage == "rng":
        meta["rng"] = "garbage"
    elif damage == "hidden":
        arrays["hidden/1"] = arrays["hidden/1"][:, :3]
    elif damage == "optimizer":
        del arrays["optim/exp_avg/0"]
    if damage == "renamed_npy":
        np.save(tmp_path / "b.npy", np.zeros(3))
        (tmp_path / "b").mkdir()
        (tmp_path / "b.npy").rename(tmp_path / "b" / "last.npz")
    else:
        save_checkpoint(tmp_path / "b" / "last", arrays, meta)
    code, out, err = call_main(capsys, "--resume", tmp_path / "b", "--save_dir", tmp_path / "c")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and message in err
