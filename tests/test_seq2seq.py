"""Seq2Seq: gradients (teacher forced and scheduled), teacher-forcing semantics, greedy decoding,
the digit task and the seq2seq experiment."""
import numpy as np
import pytest

from scratchrnn import tasks
from scratchrnn.cli import experiments
from scratchrnn.gradcheck import check_gradients
from scratchrnn.models import Seq2Seq


def small(rng, cell="gru", num_layers=1):
    return Seq2Seq(tasks.DIGIT_VOCAB, tasks.DIGIT_VOCAB, cell, embedding_dim=4, hidden_size=3,
                   num_layers=num_layers, bos=tasks.BOS, eos=tasks.EOS, dtype=np.float64, rng=rng)


@pytest.mark.parametrize("cell,ratio,layers", [("gru", 1.0, 1), ("lstm", 1.0, 2), ("gru", 0.5, 2),
                                               ("lstm", 0.3, 1)])
def test_gradients_end_to_end(cell, ratio, layers, rng):
    src, lengths, tgt_in, _, _ = tasks.digit_task(3, rng, min_len=2, max_len=4)
    model = small(rng, cell, layers)
    report = check_gradients(model, src, lengths, tgt_in, teacher_forcing_ratio=ratio, max_entries=20)
    assert report.ok, f"\n{report}"


def test_step_by_step_decoder_with_full_forcing_equals_the_whole_sequence(rng):
    src, lengths, tgt_in, _, _ = tasks.digit_task(4, rng)
    model = small(rng, "lstm")
    forced = model(src, lengths, tgt_in)
    model.clear_caches()
    _, state = model.encode(src, lengths)
    stepped = model._forward_scheduled(tgt_in, state, ratio=1.0)
    np.testing.assert_allclose(stepped, forced, rtol=1e-12)


def test_zero_ratio_feeds_back_the_greedy_predictions(rng):
    """With ratio 0 the decoder reads its own argmax: its logits are greedy decoding's."""
    src, lengths, tgt_in, _, _ = tasks.digit_task(4, rng)
    model = small(rng, "gru")
    logits = model(src, lengths, tgt_in, teacher_forcing_ratio=0.0)
    model.clear_caches()
    pred = model.greedy_decode(src, lengths, max_len=tgt_in.shape[1])
    own = logits.argmax(axis=2)
    for b in range(4):                 # equal up to (and including) the first EOS
        stop = np.argmax(own[b] == tasks.EOS) if (own[b] == tasks.EOS).any() else own.shape[1] - 1
        np.testing.assert_array_equal(pred[b, :stop + 1], own[b, :stop + 1])


def test_digit_task():
    src, lengths, tgt_in, tgt_out, mask = tasks.digit_task(50, np.random.default_rng(0), "sort")
    for s, L, ti, to, m in zip(src, lengths, tgt_in, tgt_out, mask):
        digits = s[:L] - tasks.DIGIT_OFFSET
        assert np.array_equal(to[:L] - tasks.DIGIT_OFFSET, np.sort(digits)) and to[L] == tasks.EOS
        assert ti[0] == tasks.BOS and np.array_equal(ti[1:L + 1], to[:L]) and m.sum() == L + 1
    src, lengths, _, tgt_out, _ = tasks.digit_task(5, np.random.default_rng(0), "reverse")
    assert tasks.digits_to_str(tgt_out[0]) == tasks.digits_to_str(src[0][:lengths[0]][::-1])


def test_teacher_forcing_schedules():
    f = experiments.teacher_forcing_schedule
    assert f("constant", 0.7, 5, 10) == 0.7
    assert f("linear", 1.0, 0, 5) == 1.0 and f("linear", 1.0, 4, 5) == 0.0
    assert f("exponential", 1.0, 2, 5, decay=0.5) == 0.25
    vals = [f("inverse_sigmoid", 1.0, e, 10) for e in range(10)]
    assert all(a > b for a, b in zip(vals, vals[1:]))


def test_seq2seq_experiment_runs(tmp_path, capsys):
    argv = ["seq2seq", "--epochs", "2", "--train_size", "128", "--val_size", "32", "--hidden_size",
            "16", "--max_len", "4", "--teacher_forcing_ratio", "1", "--tf_schedule", "linear",
            "--num_examples", "2", "--out_dir", str(tmp_path), "--cell", "lstm"]
    assert experiments.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("val exact match") == 2 and "teacher forcing 1.00" in out
    assert "teacher forcing 0.00" in out
    assert (tmp_path / "seq2seq_reverse_linear.png").stat().st_size > 1000
