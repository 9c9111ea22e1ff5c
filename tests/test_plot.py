"""python -m scratchrnn.plot: the traced states equal the layers' outputs, the features, and the
files it writes from a tiny checkpoint."""
import numpy as np
import pytest

from scratchrnn import tracing
from scratchrnn.cli import plot
from scratchrnn.checkpoint import save_checkpoint
from scratchrnn.data import CharVocab
from scratchrnn.nn import GRU, LSTM, RNN

TEXT = 'def f(x):\n    return "a <b>" + x\n'


def tiny_checkpoint(path, model_type="lstm", num_layers=2):
    from scratchrnn.models import CharLM
    vocab = CharVocab.from_text(TEXT)
    model = CharLM(len(vocab), model_type, 6, 8, num_layers, rng=np.random.default_rng(0))
    save_checkpoint(path, {"model/" + k: a for k, a in model.state_dict().items()},
                    {"model": model.config(), "vocab": vocab.to_dict()})
    return path


@pytest.mark.parametrize("layer_cls,kwargs", [(RNN, {}), (RNN, {"nonlinearity": "relu"}),
                                              (LSTM, {}), (GRU, {}), (GRU, {"reset_after": False})])
def test_trace_reproduces_the_layer(layer_cls, kwargs, rng):
    rnn = layer_cls(3, 4, num_layers=2, dtype=np.float64, rng=rng, **kwargs)
    x = rng.standard_normal((7, 3))
    layers = tracing.trace(rnn, x)
    out, _ = rnn(x[:, None])
    np.testing.assert_allclose(layers[-1]["h"], out[:, 0], rtol=1e-12, atol=1e-14)
    for gates in layers[0]["gates"].values():
        assert gates.shape == (7, 4)
    if layer_cls is LSTM:
        assert layers[0]["c"].shape == (7, 4)


def test_trace_refuses_what_it_cannot_draw(rng):
    for layer in (LSTM(3, 4, peephole=True), LSTM(3, 4, coupled=True), GRU(3, 4, bidirectional=True)):
        with pytest.raises(ValueError):
            tracing.trace(layer, rng.standard_normal((5, 3)))


def test_text_features():
    f = tracing.text_features('ab "cd"\n  x\n')
    assert f["inside quotes"].tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert tracing.text_features('f(a[1], "(")\n')["bracket depth"].tolist() == \
        [0, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0]
    assert f["column"].tolist() == [1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 0]
    assert f["indentation"].tolist() == [0] * 8 + [1, 2, 2, 0]


def test_best_units_finds_a_planted_unit(rng):
    acts = rng.standard_normal((50, 6)) * 0.1
    feature = np.arange(50.0)
    acts[:, 4] += feature / 50
    ranking = tracing.best_units(acts, {"column": feature, "constant": np.ones(50)})
    assert ranking["column"][0][0] == 4 and "constant" not in ranking


def test_command_writes_html_and_pngs(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "tiny")
    out_dir = tmp_path / "plots"
    assert plot.main(["--checkpoint", str(ckpt), "--text", TEXT * 2, "--unit", "3",
                      "--out_dir", str(out_dir), "--heat_units", "5"]) == 0
    printed = capsys.readouterr().out
    assert "units that track column" in printed and "unit_3.html" in printed
    page = (out_dir / "unit_3.html").read_text()
    assert page.count("<span") == len(TEXT * 2) and "&lt;" in page and "&gt;" in page and "&quot;" in page
    for name in ("gates.png", "unit_3.png"):
        size = (out_dir / name).stat().st_size
        assert 1000 < size < 300_000


def test_command_cell_state_and_default_unit(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "tiny", num_layers=1)
    assert plot.main(["--checkpoint", str(ckpt), "--text", TEXT, "--state", "cell",
                      "--out_dir", str(tmp_path / "p")]) == 0
    assert "tanh(c)" in (next((tmp_path / "p").glob("unit_*.html"))).read_text()


@pytest.mark.parametrize("extra", [["--unit", "99"], ["--layer", "5"], ["--text", "ZZZ"],
                                   ["--state", "cell"], ["--bogus"]])
def test_command_errors(extra, tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "tiny", model_type="gru")
    argv = ["--checkpoint", str(ckpt), "--out_dir", str(tmp_path / "p")]
    if "--text" not in extra:
        argv += ["--text", TEXT]
    assert plot.main(argv + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_missing_checkpoint(tmp_path, capsys):
    assert plot.main(["--checkpoint", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
