"""The experiments: data generators, equal parameter budgets, the gradient probe against the
layer's own backward, the forecaster, and each command at a tiny size."""
import numpy as np
import pytest

from scratchrnn import tasks
from scratchrnn.cli import experiments
from scratchrnn.gradcheck import check_gradients, numerical_gradient
from scratchrnn.models import Forecaster, mse_loss


def test_adding_problem(rng):
    x, y = tasks.adding_problem(50, 20, rng)
    assert x.shape == (20, 50, 2) and np.all(x[:, :, 1].sum(0) == 2)
    for b in range(50):
        marks = np.nonzero(x[:, b, 1])[0]
        assert marks[0] < 10 <= marks[1]
        assert np.isclose(y[b], x[marks, b, 0].sum())


def test_copy_memory(rng):
    x, y, mask = tasks.copy_memory(4, 10, rng, copy_length=3, n_symbols=8)
    assert x.shape == y.shape == mask.shape == (16, 4)
    np.testing.assert_array_equal(y[-3:], x[:3])
    assert np.all(x[12] == 9) and np.all(x[3:12] == 0) and np.all(x[13:] == 0)
    assert mask.sum() == 12 and mask[-3:].all()


def test_sine_mixture(rng):
    noisy, clean = tasks.sine_mixture(3, 200, rng, noise=0.1)
    assert noisy.shape == clean.shape == (201, 3)
    assert 0.05 < np.std(noisy - clean) < 0.15 and 0.3 < clean.std() < 1.2


@pytest.mark.parametrize("kind", list(experiments.MODELS))
def test_parameter_counts_and_budget(kind):
    base, options = experiments.MODELS[kind]
    for D, O, H in ((2, 1, 32), (10, 9, 7)):
        assert experiments.count_parameters(kind, D, O, H) == \
            Forecaster(D, O, base, H, **options).num_parameters()
    budget = experiments.count_parameters("lstm", 2, 1, 32)
    H = experiments.hidden_for_budget(kind, budget, 2, 1)
    assert abs(experiments.count_parameters(kind, 2, 1, H) - budget) <= \
        abs(experiments.count_parameters(kind, 2, 1, H + 1) - budget)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_gradient_probe_is_dL_dh_t(kind, rng):
    """The cell-loop's gradient at h_t equals the layer's gradient w.r.t. its initial state when
    the same loss is computed by running the layer from h_t (and c_t) over x[t:]."""
    model = Forecaster(2, 1, kind, 5, dtype=np.float64, rng=rng)
    T, B = 8, 3
    x, y = tasks.adding_problem(B, T, rng)

    def score(out):
        loss, d = mse_loss(out[-1, :, 0], y)
        dout = np.zeros_like(out)
        dout[-1, :, 0] = d
        return loss, dout, loss
    norms = experiments.hidden_gradient_norms(model, x, score)
    t = 3                                      # h_t after reading x[:t]
    _, state = model.rnn(x[:t])
    model.rnn.clear_caches()
    out, _ = model(x[t:], state)
    _, dout, _ = score(out)
    _, dstate = model.backward(dout)
    dh = dstate[0] if isinstance(dstate, tuple) else dstate
    np.testing.assert_allclose(norms[t - 1], np.linalg.norm(dh[0] * B, axis=1).mean(), rtol=1e-10)


def test_mse_loss_gradient(rng):
    pred, target = rng.standard_normal((4, 3, 1)), rng.standard_normal((4, 3, 1))
    mask = rng.random((4, 3, 1)) < 0.6
    loss, d = mse_loss(pred, target, mask)
    num = numerical_gradient(lambda: mse_loss(pred, target, mask)[0], pred)
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)
    assert np.isclose(loss, ((pred - target) ** 2)[mask].mean())


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_forecaster_gradients(kind, rng):
    model = Forecaster(2, 2, kind, 3, num_layers=2, dtype=np.float64, rng=rng)
    report = check_gradients(model, rng.standard_normal((5, 3, 2)), max_entries=25)
    assert report.ok, f"\n{report}"
    assert model.rollout(rng.standard_normal((4, 3, 2)), 6).shape == (6, 3, 2)


def test_memory_command(tmp_path, capsys):
    argv = ["memory", "--lengths", "4,8", "--steps", "4", "--batch_size", "8", "--jobs", "1",
            "--hidden_size", "4", "--out_dir", str(tmp_path)]
    assert experiments.main(argv) == 0
    out = capsys.readouterr().out
    assert "| adding (MSE; 0.167) | LSTM H=4 |" in out and "T=8" in out
    assert "copy (symbol error" in out
    assert (tmp_path / "memory.png").stat().st_size > 1000
    rows = (tmp_path / "memory.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 3 * 2


def test_memory_command_with_lstm_variants(tmp_path, capsys):
    argv = ["memory", "--lengths", "5", "--steps", "2", "--batch_size", "4", "--jobs", "1",
            "--hidden_size", "3", "--tasks", "adding", "--models", "peephole,cifg",
            "--out_dir", str(tmp_path)]
    assert experiments.main(argv) == 0
    out = capsys.readouterr().out
    assert "| PEEPHOLE H=" in out and "| CIFG H=" in out and "RNN" not in out


def test_gradients_command(tmp_path, capsys):
    argv = ["gradients", "--length", "6", "--steps", "3", "--hidden_size", "4", "--eval_size", "8",
            "--jobs", "1", "--out_dir", str(tmp_path)]
    assert experiments.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("init") >= 3 and out.count("trained") >= 3
    assert (tmp_path / "gradients.png").stat().st_size > 1000


def test_forecast_command(tmp_path, capsys):
    argv = ["forecast", "--steps", "6", "--hidden_size", "6", "--seq_length", "20", "--horizon",
            "10", "--test_size", "4", "--out_dir", str(tmp_path)]
    assert experiments.main(argv) == 0
    out = capsys.readouterr().out
    assert "one-step MSE vs the clean next value" in out and "free-running 10-step" in out
    assert (tmp_path / "forecast.png").stat().st_size > 1000


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["memory", "--lengths", "1,x"],
                                  ["memory", "--tasks", "adding,sorting"],
                                  ["memory", "--models", "lstm,transformer"],
                                  ["seq2seq", "--teacher_forcing_ratio", "2"],
                                  ["seq2seq", "--min_len", "5", "--max_len", "3"],
                                  ["forecast", "--steps", "0"], ["gradients", "--bogus", "1"],
                                  ["seq2seq", "--attention", "luong"],
                                  ["attention", "--tasks", "reverse,poems"],
                                  ["attention", "--min_len", "5", "--max_len", "3"],
                                  ["seq2seq", "--attention", "dot", "--num_heatmaps", "-1"]])
def test_bad_flags(argv, capsys):
    assert experiments.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_seq2seq_with_attention_writes_heat_maps(tmp_path, capsys):
    argv = ["seq2seq", "--attention", "additive", "--epochs", "1", "--train_size", "64",
            "--val_size", "16", "--out_dir", str(tmp_path)]
    assert experiments.main(argv) == 0
    assert "additive attention" in capsys.readouterr().out
    assert (tmp_path / "seq2seq_reverse_constant_attention.png").stat().st_size > 1000
    assert not list(tmp_path.glob("*attention*.csv"))


def test_attention_command(tmp_path, capsys):
    argv = ["attention", "--tasks", "reverse,dates", "--epochs", "1", "--train_size", "32",
            "--val_size", "16", "--max_len", "6", "--hidden_size", "8", "--jobs", "1",
            "--out_dir", str(tmp_path)]
    assert experiments.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("general attention |") == 2 and out.count("no attention |") == 2
    for name in ("attention.png", "attention_reverse.png", "attention_dates.png"):
        assert (tmp_path / name).stat().st_size > 1000
    table = (tmp_path / "attention.md").read_text()
    assert "| reverse | length 3 | length 4 |" in table and "| dates | length 1" in table
    assert len((tmp_path / "attention.csv").read_text().splitlines()) > 4
