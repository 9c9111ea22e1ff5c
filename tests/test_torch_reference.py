"""python -m scratchrnn.torch_reference: the trainer's configuration in PyTorch, for
docs/results.md. Run tiny here; skipped where torch is not installed (except the test that
it says so)."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchrnn import data as data_mod
from scratchrnn.cli import torch_reference as ref
from scratchrnn import training as train_mod
from scratchrnn.cli import train as train_cli
from scratchrnn.models import CharLM

TINY = ["--hidden_size", "16", "--embedding_dim", "8", "--num_layers", "2",
        "--batch_size", "4", "--seq_length", "8",
        # the recipe these tests were written for (constant rate, no dropout), not the default one
        "--lr_schedule", "constant", "--warmup_steps", "0", "--dropout", "0", "--lr", "2e-3"]
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
        "\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n") * 30


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def fast_plots(request, monkeypatch):
    """loss.png is drawn for real only where a test asks for real_plots."""
    if "real_plots" in request.fixturenames:
        return
    import scratchrnn.figures
    monkeypatch.setattr(scratchrnn.figures, "plot_loss_curves",
                        lambda history, path, title=None: Path(path).write_bytes(b"stub"))


@pytest.fixture
def real_plots():
    pass


@pytest.fixture
def torch():
    """torch, or skip; its thread count (which the reference sets) is put back afterwards."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    yield torch
    torch.set_num_threads(threads)


def reference(corpus, save_dir, *flags):
    # one thread: on a busy 2-core machine a second one mostly waits (tiny matrices)
    args = ref.parse_args(["--data_file", str(corpus), "--save_dir", str(save_dir), *TINY,
                           "--threads", "1", *map(str, flags)])
    lines = []
    return ref.run(args, out=lines.append), lines


def ours(corpus, save_dir, *flags):
    args, given = train_cli.parse_args(["--data_file", str(corpus), "--save_dir", str(save_dir),
                                        *TINY, "--sample_length", "5", *map(str, flags)])
    return train_mod.train(args, given, out=lambda line: None)


def test_tiny_run_writes_our_history_columns(torch, corpus, tmp_path, capsys, real_plots):
    save = tmp_path / "ref"
    code = ref.main(["--data_file", str(corpus), "--save_dir", str(save), *TINY,
                     "--max_steps", "20", "--eval_interval", "8", "--threads", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "PyTorch" in out and "validation: loss" in out
    with open(save / "history.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "time_s", "train_loss", "grad_norm", "lr", "val_loss"]
    assert [int(r[0]) for r in rows[1:] if r[2]] == [1, 10, 20]
    assert [int(r[0]) for r in rows[1:] if r[5]] == [8, 16, 20]
    for r in rows[1:]:
        if r[2]:
            assert float(r[1]) >= 0
            assert 0 < float(r[2]) < 10 and float(r[3]) > 0 and float(r[4]) == 2e-3
    assert (save / "loss.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((save / "summary.json").read_text())
    assert summary["steps"] == 20 and summary["threads"] == 1
    assert summary["torch_version"] == torch.__version__
    assert summary["best_val"] == min(float(r[5]) for r in rows[1:] if r[5])
    assert summary["stopped_by"] == "--max_steps 20"


def test_budget_schedule_is_the_trainers(torch, corpus, tmp_path, capsys):
    """--lr_schedule budget: the learning rates of PyTorch's run are ours, step for step."""
    flags = ["--data_file", str(corpus), *TINY, "--max_steps", "20", "--eval_interval", "50",
             "--lr_schedule", "budget", "--warmup_steps", "4", "--min_lr", "1e-4"]
    assert ref.main([*flags, "--save_dir", str(tmp_path / "ref"), "--threads", "1"]) == 0
    ours = train_mod.train(*train_cli.parse_args([*flags, "--save_dir", str(tmp_path / "ours"),
                                                  "--max_minutes", "0"]), out=lambda line: None)
    with open(tmp_path / "ref" / "history.csv", newline="") as f:
        theirs = [float(r[4]) for r in list(csv.reader(f))[1:] if r[4]]
    assert theirs == pytest.approx([row[4] for row in ours["history"]["train"]], rel=1e-12)
    assert theirs[-1] == pytest.approx(1e-4) and theirs[0] < theirs[1]


def test_defaults_are_the_trainers(torch):
    args = ref.parse_args([])
    d = train_mod.DEFAULTS
    for k in ("model_type", "hidden_size", "num_layers", "embedding_dim", "dropout", "dtype",
              "batch_size", "seq_length", "learning_rate", "optimizer", "max_grad_norm",
              "eval_interval", "seed", "val_frac", "test_frac", "vocab_type"):
        assert getattr(args, k) == d[k], k
    assert args.minutes == d["max_minutes"] and args.threads == 2 and args.data_file is None
    model = ref.make_model(torch, 65, args)
    ours_model = CharLM(65, d["model_type"], d["embedding_dim"], d["hidden_size"],
                        d["num_layers"], d["dropout"], rng=np.random.default_rng(0))
    assert sum(p.numel() for p in model.parameters()) == ours_model.num_parameters()


def test_same_batches_as_our_trainer(torch, corpus, tmp_path, monkeypatch):
    seen = []
    real = data_mod.BatchStream.next_batch

    def spy(self):
        x, y = real(self)
        seen.append((self.num_tokens, x.copy(), y.copy()))
        return x, y

    monkeypatch.setattr(data_mod.BatchStream, "next_batch", spy)
    reference(corpus, tmp_path / "ref", "--max_steps", 7, "--eval_interval", 5)
    theirs = list(seen)
    seen.clear()
    ours(corpus, tmp_path / "ours", "--max_steps", 7, "--eval_interval", 5)
    mine = list(seen)

    def training_batches(records):
        n = max(r[0] for r in records)          # the training split is the longest stream
        return [(x, y) for m, x, y in records if m == n]

    a, b = training_batches(theirs), training_batches(mine)
    assert len(a) == len(b) == 7
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    val_a = [r for r in theirs if r[0] != max(t[0] for t in theirs)]
    val_b = [r for r in mine if r[0] != max(t[0] for t in mine)]
    assert len(val_a) == len(val_b) > 0 and all(np.array_equal(p[1], q[1])
                                                for p, q in zip(val_a, val_b))


def copy_into_charlm(tmodel, args, vocab_size):
    model = CharLM(vocab_size, args.model_type, args.embedding_dim, args.hidden_size,
                   args.num_layers, args.dropout, dtype=np.float64, rng=np.random.default_rng(0))
    tstate = {k: v.detach().numpy() for k, v in tmodel.state_dict().items()}
    assert sorted(tstate) == sorted(name for name, _ in model.named_parameters())
    model.load_state_dict(tstate)
    return model


@pytest.mark.parametrize("model_type", ["lstm", "gru", "rnn"])
def test_validation_is_our_evaluate(torch, corpus, model_type):
    """Same weights (float64, dropout 0.3 that evaluation must switch off): the reference's
    validation loss is scratchrnn.train.evaluate's."""
    args = ref.parse_args(["--data_file", str(corpus), *TINY, "--model_type", model_type,
                           "--dtype", "float64", "--dropout", "0.3"])
    vocab, train_ids, val_ids = train_mod.load_data(args)
    torch.manual_seed(0)
    tmodel = ref.make_model(torch, len(vocab), args)
    model = copy_into_charlm(tmodel, args, len(vocab))
    theirs = ref.evaluate(torch, tmodel, val_ids, args.batch_size, args.seq_length)
    mine = train_mod.evaluate(model, val_ids, args.batch_size, args.seq_length)
    assert theirs == pytest.approx(mine, rel=1e-11)
    assert tmodel.training and model.training            # both put back in training mode


@pytest.mark.parametrize("flags", [
    ["--model_type", "lstm", "--clip", "0.05"],
    ["--model_type", "gru", "--optimizer", "sgd", "--lr", "0.5"],
], ids=["lstm-adam-clipped", "gru-sgd-momentum"])
def test_same_weights_train_the_same_as_ours(torch, corpus, tmp_path, monkeypatch, flags):
    """Given our trainer's initial weights, the reference follows our trainer step for step
    (float64): the same loss, gradient norm, clipping, optimiser and carried state."""
    common = ["--dtype", "float64", "--max_steps", 9, "--eval_interval", 3, *flags]
    mine = ours(corpus, tmp_path / "ours", *common)
    args = ref.parse_args(["--data_file", str(corpus), *TINY, *map(str, common)])
    real_make_model = ref.make_model

    def with_our_init(torch_, vocab_size, args_):
        tmodel = real_make_model(torch_, vocab_size, args_)
        init = CharLM(vocab_size, args_.model_type, args_.embedding_dim, args_.hidden_size,
                      args_.num_layers, args_.dropout, dtype=np.float64,
                      rng=np.random.default_rng(args_.seed))     # as scratchrnn.train builds it
        tmodel.load_state_dict({k: torch_.from_numpy(v.copy())
                                for k, v in init.state_dict().items()})
        return tmodel

    monkeypatch.setattr(ref, "make_model", with_our_init)
    theirs, _ = reference(corpus, tmp_path / "ref", *common)
    step1_ours, step1_ref = mine["history"]["train"][0], theirs["history"]["train"][0]
    assert step1_ref[2] == pytest.approx(step1_ours[2], rel=1e-12)      # loss
    assert step1_ref[3] == pytest.approx(step1_ours[3], rel=1e-10)      # grad norm
    vals_ours = [v[2] for v in mine["history"]["val"]]
    vals_ref = [v[2] for v in theirs["history"]["val"]]
    assert len(vals_ours) == len(vals_ref) == 3
    np.testing.assert_allclose(vals_ref, vals_ours, rtol=1e-9)
    assert vals_ref[-1] < vals_ref[0]


def test_time_budget_stops_the_run(torch, corpus, tmp_path):
    res, lines = reference(corpus, tmp_path / "ref", "--minutes", 0.0002, "--eval_interval", 1000)
    assert res["step"] >= 1 and res["elapsed"] >= 0.012
    assert res["stopped"].startswith("time budget")
    assert res["history"]["val"][-1][0] == res["step"]              # validated at the end
    assert (tmp_path / "ref" / "history.csv").is_file()


def test_bad_input_is_a_usage_error(torch, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert ref.main(["--data_file", str(empty), *TINY, "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "empty" in err and "Traceback" not in err
    assert ref.main(["--data_file", str(empty), "--lr", "-1", "--threads", "1"]) == 2
    assert "--learning_rate" in capsys.readouterr().err


def test_without_torch_it_says_so(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)      # import torch now raises ImportError
    code = ref.main(["--data_file", str(corpus), "--save_dir", str(tmp_path / "ref"), *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "PyTorch is not installed" in err and "pip install torch" in err
    assert not (tmp_path / "ref").exists()


def test_help_works_without_importing_torch():
    done = subprocess.run([sys.executable, "-c",
                           "import sys; sys.argv = ['x', '--help']\n"
                           "import scratchrnn.cli.torch_reference as r\n"
                           "assert 'torch' not in sys.modules\n"
                           "r.main()"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--model_type" in done.stdout and "--minutes" in done.stdout
