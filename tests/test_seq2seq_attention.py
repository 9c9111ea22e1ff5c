"""Seq2Seq with attention: end-to-end gradients (teacher forced and scheduled, with and without input
feeding, every score), the whole-sequence path against the step path, greedy decoding and its
attention weights, beam search (exact on a tiny vocabulary, beam 1 = greedy), attention=None
unchanged."""
import itertools

import numpy as np
import pytest

from scratchrnn import tasks
from scratchrnn.gradcheck import check_gradients
from scratchrnn.kernels.activations import stable_log_softmax
from scratchrnn.models import Seq2Seq


def small(rng, cell="gru", attention="additive", num_layers=1, input_feeding=True, vocab=None,
          hidden_size=3):
    V = tasks.DIGIT_VOCAB if vocab is None else vocab
    return Seq2Seq(tasks.DIGIT_VOCAB, V, cell, embedding_dim=4, hidden_size=hidden_size,
                   num_layers=num_layers, bos=tasks.BOS, eos=tasks.EOS, dtype=np.float64, rng=rng,
                   attention=attention, input_feeding=input_feeding)


def ragged(rng):
    """Three sources of lengths 5, 2, 4 (padded) and targets of 4 steps."""
    lengths = np.array([5, 2, 4])
    src = rng.integers(tasks.DIGIT_OFFSET, tasks.DIGIT_VOCAB, (3, 5))
    src[np.arange(5)[None, :] >= lengths[:, None]] = tasks.DIGIT_PAD
    tgt_in = rng.integers(tasks.DIGIT_OFFSET, tasks.DIGIT_VOCAB, (3, 4))
    tgt_in[:, 0] = tasks.BOS
    return src, lengths, tgt_in


@pytest.mark.parametrize("cell,attention,feeding,ratio,layers", [
    ("gru", "additive", True, 1.0, 1), ("lstm", "general", True, 0.5, 2),
    ("gru", "dot", False, 1.0, 2), ("lstm", "additive", False, 0.3, 1),
    ("lstm", "dot", True, 1.0, 1), ("gru", "general", False, 1.0, 1)])
def test_gradients_end_to_end(cell, attention, feeding, ratio, layers, rng):
    src, lengths, tgt_in = ragged(rng)
    model = small(rng, cell, attention, layers, feeding)
    report = check_gradients(model, src, lengths, tgt_in, teacher_forcing_ratio=ratio,
                             max_entries=20)
    assert report.ok, f"\n{report}"
    names = [row.name for row in report.rows]
    assert "combine.weight" in names and "src_embedding.weight" in names
    assert (attention == "dot") or any(n.startswith("attention.") for n in names)


def test_the_encoder_outputs_receive_the_attention_gradient(rng):
    """Without the gradient through the keys the encoder's input weights would only see the final
    state's; check that dropping it changes them (so the gradient check above is not vacuous)."""
    src, lengths, tgt_in = ragged(rng)
    model = small(rng, "gru", "general")
    logits = model(src, lengths, tgt_in)
    model.zero_grad()
    model.backward(np.ones_like(logits))
    full = model.encoder.weight_ih_l0.grad.copy()
    model.clear_caches()
    logits = model(src, lengths, tgt_in)
    model.zero_grad()
    original = model.encoder.backward

    def without_keys(dout, dhx=None):
        return original(np.zeros_like(dout), dhx)
    model.encoder.backward = without_keys
    model.backward(np.ones_like(logits))
    assert np.abs(model.encoder.weight_ih_l0.grad - full).max() > 1e-6


def test_whole_sequence_path_equals_the_step_path(rng):
    src, lengths, tgt_in, _, _ = tasks.digit_task(4, rng)
    model = small(rng, "lstm", "additive", input_feeding=False)
    whole = model(src, lengths, tgt_in)
    model.clear_caches()
    almost_one = np.nextafter(1.0, 0.0)              # the step path, every coin flip forced
    stepped = model(src, lengths, tgt_in, teacher_forcing_ratio=almost_one)
    np.testing.assert_allclose(stepped, whole, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("feeding", [True, False])
def test_zero_ratio_feeds_back_the_greedy_predictions(feeding, rng):
    src, lengths, tgt_in, _, _ = tasks.digit_task(4, rng)
    model = small(rng, "gru", "general", input_feeding=feeding)
    own = model(src, lengths, tgt_in, teacher_forcing_ratio=0.0).argmax(axis=2)
    model.clear_caches()
    pred = model.greedy_decode(src, lengths, max_len=tgt_in.shape[1])
    for b in range(4):
        stop = np.argmax(own[b] == tasks.EOS) if (own[b] == tasks.EOS).any() else own.shape[1] - 1
        np.testing.assert_array_equal(pred[b, :stop + 1], own[b, :stop + 1])


def test_greedy_attention_weights(rng):
    src, lengths, _, _, _ = tasks.digit_task(5, rng, min_len=2, max_len=6)
    model = small(rng, "gru", "dot")
    tokens, weights = model.greedy_decode(src, lengths, max_len=7, return_weights=True)
    assert weights.shape == (5, 7, src.shape[1])
    for b in range(5):
        n = np.argmax(tokens[b] == tasks.EOS) + 1 if (tokens[b] == tasks.EOS).any() else 7
        np.testing.assert_allclose(weights[b, :n].sum(axis=1), 1, rtol=1e-12)
        assert np.all(weights[b, :, lengths[b]:] == 0) and np.all(weights[b, n:] == 0)
    with pytest.raises(ValueError, match="return_weights needs a model built with attention"):
        small(rng, attention=None).greedy_decode(src, lengths, return_weights=True)


def sequence_log_prob(model, src, lengths, seqs):
    """Total log-probability of each output sequence (scored up to and including its EOS)."""
    seqs = np.asarray(seqs)
    tgt_in = np.concatenate([np.full((len(seqs), 1), tasks.BOS), seqs[:, :-1]], axis=1)
    model.eval()
    logp = stable_log_softmax(model(src, lengths, tgt_in))
    model.clear_caches()
    token_logp = np.take_along_axis(logp, seqs[:, :, None], axis=2)[:, :, 0]
    ended = np.cumsum(seqs == tasks.EOS, axis=1)
    scored = (ended == 0) | ((ended == 1) & (seqs == tasks.EOS))     # up to the first EOS
    return (token_logp * scored).sum(axis=1)


@pytest.mark.parametrize("attention", ["additive", None])
def test_beam_search_is_exact_with_a_wide_beam(attention, rng):
    """V = 5 and 3 steps: a beam of 25 keeps every prefix, so it finds the best of all outputs."""
    V, U = 5, 3
    model = small(rng, "lstm", attention, vocab=V, hidden_size=4)
    src, lengths, _, _, _ = tasks.digit_task(2, rng, min_len=2, max_len=4)
    best, score = model.beam_search(src, lengths, beam_size=V * V, max_len=U, return_scores=True)
    for b in range(2):
        every = {tuple(s[:list(s).index(tasks.EOS) + 1] + (tasks.EOS,) * (U - list(s).index(tasks.EOS) - 1))
                 if tasks.EOS in s else s for s in itertools.product(range(V), repeat=U)}
        every = sorted(every)
        lp = sequence_log_prob(model, np.repeat(src[b:b + 1], len(every), 0),
                               np.repeat(lengths[b:b + 1], len(every)), every)
        assert tuple(best[b]) == every[int(np.argmax(lp))]
        np.testing.assert_allclose(score[b], lp.max(), rtol=1e-12)


@pytest.mark.parametrize("attention", ["general", None])
def test_beam_of_one_is_greedy_and_wider_beams_score_no_worse(attention, rng):
    model = small(rng, "gru", attention, hidden_size=5)
    src, lengths, _, _, _ = tasks.digit_task(6, rng, min_len=2, max_len=6)
    greedy = model.greedy_decode(src, lengths, max_len=8)
    np.testing.assert_array_equal(model.beam_search(src, lengths, beam_size=1, max_len=8), greedy)
    tokens, score = model.beam_search(src, lengths, beam_size=4, max_len=8, return_scores=True)
    np.testing.assert_allclose(score, sequence_log_prob(model, src, lengths, tokens), rtol=1e-10)
    assert np.all(score >= sequence_log_prob(model, src, lengths, greedy) - 1e-12)
    with pytest.raises(ValueError, match="beam_size must be a positive integer"):
        model.beam_search(src, lengths, beam_size=0)


def test_attention_none_is_unchanged(rng):
    model = small(np.random.default_rng(0), attention=None)
    assert [n for n, _ in model.named_parameters()] == [
        "src_embedding.weight", "encoder.weight_ih_l0", "encoder.weight_hh_l0",
        "encoder.bias_ih_l0", "encoder.bias_hh_l0", "tgt_embedding.weight",
        "decoder.weight_ih_l0", "decoder.weight_hh_l0", "decoder.bias_ih_l0",
        "decoder.bias_hh_l0", "out.weight", "out.bias"]
    assert model.decoder.input_size == 4
    with_attention = small(np.random.default_rng(0), attention="dot")
    assert with_attention.decoder.input_size == 4 + 3                # input feeding
    assert small(rng, attention="dot", input_feeding=False).decoder.input_size == 4


def test_bad_attention_is_refused(rng):
    with pytest.raises(ValueError, match="attention must be one of None, 'additive', 'general', "
                                         "'dot', got 'luong'"):
        small(rng, attention="luong")


def test_date_task_matches_the_calendar(rng):
    import datetime
    src, lengths, tgt_in, tgt_out, mask = tasks.date_task(300, rng)
    formats = ("%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y", "%d.%m.%Y")
    seen = set()
    for s, L, ti, to in zip(src, lengths, tgt_in, tgt_out):
        written, iso = tasks.chars_to_str(s[:L]), tasks.chars_to_str(to)
        parsed = set()
        for k, f in enumerate(formats):
            try:
                parsed.add(datetime.datetime.strptime(written, f).date().isoformat())
                seen.add(k)
            except ValueError:
                pass
        assert parsed == {iso}, written
        assert ti[0] == tasks.BOS and np.array_equal(ti[1:], to[:-1]) and to[-1] == tasks.EOS
    assert seen == set(range(len(formats))) and mask.all()
    assert tasks.make_date(np.random.default_rng(0)) == tasks.make_date(np.random.default_rng(0))


def test_length_bins_cover_every_length():
    from scratchrnn.cli.experiments import length_bins
    for lengths in (np.arange(3, 31), np.array([10, 14, 17, 18]), np.array([4, 4])):
        bins = length_bins(lengths)
        covered = [L for lo, hi in bins for L in range(lo, hi + 1)]
        assert covered == list(range(lengths.min(), lengths.max() + 1))
