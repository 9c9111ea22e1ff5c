"""SequenceClassifier over ragged batches: gradients, padding invariance, the features it reads,
the name data set and the classify command."""
import numpy as np
import pytest

from scratchrnn import tasks
from scratchrnn.cli import classify
from scratchrnn.gradcheck import check_gradients
from scratchrnn.models import SequenceClassifier

LENGTHS = np.array([6, 2, 4, 1])


def make(rng, model_type="lstm", bidirectional=False, num_layers=1, dtype=np.float64):
    return SequenceClassifier(7, 3, model_type, embedding_dim=4, hidden_size=3,
                              num_layers=num_layers, bidirectional=bidirectional, dtype=dtype, rng=rng)


@pytest.mark.parametrize("model_type,bidirectional,num_layers", [
    ("rnn", False, 1), ("lstm", True, 2), ("gru", True, 1), ("lstm", False, 1)])
def test_gradients_end_to_end(model_type, bidirectional, num_layers, rng):
    model = make(rng, model_type, bidirectional, num_layers)
    ids = rng.integers(1, 7, (4, 6))
    report = check_gradients(model, ids, LENGTHS, max_entries=25)
    assert report.ok, f"\n{report}"


@pytest.mark.parametrize("model_type", ["rnn", "lstm", "gru"])
def test_padding_never_matters(model_type, rng):
    """Each row's logits are those of its unpadded sequence alone, whatever the padding holds."""
    model = make(rng, model_type, bidirectional=True)
    ids = rng.integers(1, 7, (4, 6))
    logits = model(ids, LENGTHS)
    noisy = ids.copy()
    noisy[np.arange(6)[None, :] >= LENGTHS[:, None]] = 5
    np.testing.assert_allclose(model(noisy, LENGTHS), logits, rtol=1e-12)
    for b, L in enumerate(LENGTHS):
        np.testing.assert_allclose(model(ids[b:b + 1, :L])[0], logits[b], rtol=1e-10)


def test_features_are_last_valid_forward_and_first_reverse_states(rng):
    model = make(rng, "gru", bidirectional=True)
    ids = rng.integers(1, 7, (4, 6))
    out, _ = model.rnn(model.embedding(ids), lengths=LENGTHS)
    H = 3
    features = np.stack([np.concatenate([out[b, L - 1, :H], out[b, 0, H:]])
                         for b, L in enumerate(LENGTHS)])
    expected = features @ model.classifier.weight.data.T + model.classifier.bias.data
    np.testing.assert_allclose(model(ids, LENGTHS), expected, rtol=1e-12)


def test_names_data(rng):
    names, labels = tasks.make_names(400, rng)
    assert all(3 <= len(n) <= 20 and n.isalpha() and n.islower() for n in names)
    assert set(labels) == set(range(len(tasks.CLASS_NAMES)))
    ids, lengths = tasks.encode_names(names[:5])
    assert ids.shape == (5, lengths.max()) and tasks.decode_name(ids[0]) == names[0]
    again = tasks.make_names(400, np.random.default_rng(1234))
    assert again[0] == names and np.array_equal(again[1], labels)


def test_cli_trains_and_reports(capsys):
    assert classify.main(["--model_type", "lstm", "--epochs", "2", "--data_size", "300",
                          "--hidden_size", "16", "--num_predictions", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("train loss") == 2 and "val loss" in out and "acc" in out
    assert out.count(" -> ") == 3
    acc = [float(line.split("acc")[-1].split("%")[0]) for line in out.splitlines()
           if line.startswith("epoch")]
    assert acc[-1] > 30          # better than chance (20%) after two short epochs


def test_cli_bidirectional_gru(capsys):
    assert classify.main(["--model_type", "gru", "--bidirectional", "--epochs", "1",
                          "--data_size", "120", "--hidden_size", "8", "--num_predictions", "1"]) == 0
    assert "bidirectional GRU" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--model_type", "cnn"], ["--bogus"],
                                  ["--val_frac", "1.5"], ["--learning_rate", "nan"],
                                  ["--clip", "inf"], ["--dropout", "nan"], ["--val_frac", "nan"]])
def test_cli_bad_flags(argv, capsys):
    assert classify.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_cli_divergence_exits_3(capsys):
    assert classify.main(["--learning_rate", "100", "--epochs", "1", "--data_size", "300",
                          "--hidden_size", "8", "--clip", "0"]) == 3
    assert "try a lower --learning_rate" in capsys.readouterr().err


def test_cli_accepts_max_grad_norm_as_train_does(capsys):
    """The course's flag name: --max_grad_norm is --clip, as in python -m scratchrnn.train."""
    assert classify.build_parser().parse_args(["--max_grad_norm", "2.5"]).clip == 2.5
    assert classify.main(["--learning_rate", "100", "--epochs", "1", "--data_size", "300",
                          "--hidden_size", "8", "--max_grad_norm", "0"]) == 3
    assert "try a lower --learning_rate" in capsys.readouterr().err
    assert "None" not in classify.build_parser().format_help()
