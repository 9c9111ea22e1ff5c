"""Sampling: the filtered distributions (temperature, top-k, top-p, greedy), draws that follow
them, reproducibility, validation, and the generation loops (prime warm-up, beam search)."""
import itertools

import numpy as np
import pytest

from scratchrnn.checkpoint import save_checkpoint
from scratchrnn.data import CharVocab, WordVocab, tokenize_words
from scratchrnn.models import CharLM
from scratchrnn.nn import no_grad
from scratchrnn import sampling
from scratchrnn.sampling import beam_search, filter_probs, generate_text, sample

TEXT = "hello world\n"


def softmax(z):
    """Reference softmax of (V,) logits, written independently of the library."""
    e = np.exp(np.asarray(z, float) - np.max(z))
    return e / e.sum()


def tiny_model(model_type="gru", vocab=None, seed=0):
    """An untrained CharLM over the characters of TEXT (V = 9): near-uniform but deterministic.
    float64, so that the Stepper and the modules' own step agree to round-off and the tests
    that compare their token choices exactly cannot flip on a near-tie."""
    vocab = CharVocab.from_text(TEXT) if vocab is None else vocab
    return CharLM(len(vocab), model_type, 8, 16, 1, dtype=np.float64,
                  rng=np.random.default_rng(seed)), vocab


def save_tiny_checkpoint(path, model_type="gru"):
    """Save an untrained tiny model as a language model checkpoint at ``path`` (NAME)."""
    model, vocab = tiny_model(model_type)
    save_checkpoint(path, {"model/" + k: a for k, a in model.state_dict().items()},
                    {"model": model.config(), "vocab": vocab.to_dict()})
    return model, vocab


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """Path (str) of a saved tiny GRU checkpoint, tmp_path/run/best."""
    path = tmp_path / "run" / "best"
    save_tiny_checkpoint(path)
    return str(path)


# --------------------------------------------------------------------------- filter_probs

def test_top_k_never_puts_mass_outside_the_k_best():
    rng = np.random.default_rng(0)
    for _ in range(300):
        V = int(rng.integers(2, 40))
        k = int(rng.integers(1, V + 1))
        # Rounded logits make ties common, the case where "the k best" needs a rule.
        logits = np.round(rng.normal(size=(3, V)) * 2, 1)
        p = filter_probs(logits, temperature=float(rng.uniform(0.3, 2)), top_k=k)
        for row, z in zip(p, logits):
            kth_best = np.sort(z)[::-1][k - 1]
            assert np.count_nonzero(row) <= k
            assert np.all(row[z < kth_best] == 0)
            assert row.sum() == pytest.approx(1.0, abs=1e-12)
        ids = sample(logits, rng, top_k=k)
        assert all(z[i] >= np.sort(z)[::-1][k - 1] for i, z in zip(ids, logits))


def test_top_k_with_ties_keeps_exactly_k_lowest_ids():
    p = filter_probs(np.zeros(6), top_k=2)
    np.testing.assert_array_equal(p, [0.5, 0.5, 0, 0, 0, 0])


def nucleus_reference(probs, top_p):
    """Indices of the smallest set of most probable tokens with mass >= top_p (a plain loop)."""
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
    kept, mass = [], 0.0
    for i in order:
        kept.append(i)
        mass += probs[i]
        if mass >= top_p:
            break
    return sorted(kept)


def test_top_p_keeps_the_smallest_prefix_reaching_p():
    rng = np.random.default_rng(1)
    for _ in range(300):
        V = int(rng.integers(1, 30))
        z = rng.normal(size=V) * rng.uniform(0.5, 4)
        top_p = float(rng.uniform(0.01, 1))
        p = filter_probs(z, top_p=top_p)
        full = softmax(z)
        expected = nucleus_reference(full, top_p)
        assert list(np.flatnonzero(p)) == expected
        assert full[expected].sum() >= top_p - 1e-12
        # Smallest: without its least probable member the set falls short of top_p.
        assert full[expected].sum() - full[expected].min() < top_p
        np.testing.assert_allclose(p[expected], full[expected] / full[expected].sum(), rtol=1e-12)


def test_top_p_always_keeps_the_most_probable_token():
    p = filter_probs(np.array([0.0, 5.0, 1.0]), top_p=1e-9)
    np.testing.assert_array_equal(p, [0, 1, 0])


def test_top_k_then_top_p_is_nucleus_of_the_renormalised_top_k():
    z = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    # top_k=3 -> (4, 3, 2)/9; top_p=0.7 needs 4/9 + 3/9 = 0.78 >= 0.7, so two tokens.
    np.testing.assert_allclose(filter_probs(z, top_k=3, top_p=0.7), [4 / 7, 3 / 7, 0, 0])


def test_no_filter_and_full_filters_are_plain_softmax():
    z = np.random.default_rng(2).normal(size=10)
    for kwargs in ({}, {"top_k": 10}, {"top_p": 1.0}):
        np.testing.assert_allclose(filter_probs(z, **kwargs), softmax(z), rtol=1e-12)


def test_low_temperature_approaches_argmax_and_high_approaches_uniform():
    z = np.random.default_rng(3).permutation(np.arange(12) * 0.1)   # a gap of 0.1 at the top
    cold = filter_probs(z, temperature=1e-3)
    assert cold[np.argmax(z)] > 1 - 1e-12
    hot = filter_probs(z, temperature=1e6)
    np.testing.assert_allclose(hot, np.full(12, 1 / 12), atol=1e-6)
    entropies = [-(p * np.log(p)).sum() for p in (filter_probs(z, temperature=t) for t in
                                                  (0.1, 0.5, 1, 2, 10))]
    assert np.all(np.diff(entropies) > 0)


def test_temperature_zero_is_greedy_with_ties_to_the_lower_id():
    z = np.array([[0.1, 3.0, 3.0, -1.0], [5.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(filter_probs(z, temperature=0), [[0, 1, 0, 0], [1, 0, 0, 0]])
    big = np.random.default_rng(4).normal(size=(50, 9))
    ids = sample(big, np.random.default_rng(0), temperature=0)
    np.testing.assert_array_equal(ids, big.argmax(axis=1))


def test_tiny_temperature_does_not_overflow_to_nan():
    p = filter_probs(np.array([1e3, -1e3, 0.0]), temperature=1e-300)
    np.testing.assert_array_equal(p, [1, 0, 0])


# --------------------------------------------------------------------------- sample

@pytest.mark.parametrize("kwargs", [{}, {"temperature": 0.5}, {"top_k": 4},
                                    {"top_p": 0.8}, {"temperature": 1.5, "top_k": 6, "top_p": 0.9}])
def test_sample_frequencies_match_filter_probs(kwargs):
    n = 20000
    z = np.random.default_rng(5).normal(size=8)
    p = filter_probs(z, **kwargs)
    ids = sample(np.tile(z, (n, 1)), np.random.default_rng(6), **kwargs)
    counts = np.bincount(ids, minlength=8)
    assert np.all(counts[p == 0] == 0)                     # filtered tokens are never drawn
    kept = p > 0
    expected = n * p[kept]
    chi2 = ((counts[kept] - expected) ** 2 / expected).sum()
    dof = max(kept.sum() - 1, 1)
    # Mean dof, sd sqrt(2 dof): 6 sd above is astronomically unlikely for a correct sampler.
    assert chi2 < dof + 6 * np.sqrt(2 * dof), (chi2, counts, expected)


def test_sample_same_seed_same_ids_and_scalar_form():
    z = np.random.default_rng(7).normal(size=(100, 12))
    a = sample(z, np.random.default_rng(42), temperature=0.9, top_p=0.95)
    b = sample(z, np.random.default_rng(42), temperature=0.9, top_p=0.95)
    c = sample(z, np.random.default_rng(43), temperature=0.9, top_p=0.95)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (100,) and a.dtype == np.int64 and not np.array_equal(a, c)
    one = sample(z[0], np.random.default_rng(42), temperature=0.9, top_p=0.95)
    assert np.ndim(one) == 0 and one == a[0]


def test_sample_never_draws_a_zero_probability_token_even_at_u_zero():
    class ZeroRng:              # the edge of inverse-CDF sampling: u == 0 exactly
        def random(self, shape):
            return np.zeros(shape)
    z = np.array([-np.inf, -np.inf, 0.0, 1.0])
    assert sample(z, ZeroRng()) == 2
    assert sample(np.array([0.0, 9.0, 9.0]), ZeroRng(), top_k=1) == 1


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": -0.5}, "temperature must be a finite number >= 0"),
    ({"temperature": float("nan")}, "temperature"),
    ({"temperature": float("inf")}, "temperature"),
    ({"top_k": 0}, "top_k must be an integer >= 1"),
    ({"top_k": 2.5}, "top_k must be an integer"),
    ({"top_k": 100}, r"top_k=100 is larger than the vocabulary \(65 tokens\)"),
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ({"top_p": float("nan")}, "top_p"),
])
def test_bad_sampling_arguments_raise_clear_errors(kwargs, message):
    z = np.zeros(65)
    with pytest.raises(ValueError, match=message):
        filter_probs(z, **kwargs)
    with pytest.raises(ValueError, match=message):
        sample(z, np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize("logits, message", [
    (np.zeros((2, 3, 4)), "shape"), (np.zeros(0), "shape"),
    (np.array([0.0, np.nan]), "NaN"), (np.array([0.0, np.inf]), "inf"),
    (np.array([-np.inf, -np.inf]), "all -inf"),
])
def test_bad_logits_raise_clear_errors(logits, message):
    with pytest.raises(ValueError, match=message):
        filter_probs(logits)


# --------------------------------------------------------------------------- generate_text

def test_generate_text_starts_with_prime_and_has_the_right_length():
    model, vocab = tiny_model()
    out = generate_text(model, vocab, 40, prime="hel", rng=np.random.default_rng(0))
    assert out.startswith("hel") and len(out) == 43
    # Empty prime: the start token is not part of the output.
    assert len(generate_text(model, vocab, 25, rng=np.random.default_rng(0))) == 25
    assert generate_text(model, vocab, 0, prime="wo") == "wo"


def test_generate_text_is_reproducible_with_a_seed():
    model, vocab = tiny_model()
    runs = [generate_text(model, vocab, 60, "he", temperature=1.2, top_k=6,
                          rng=np.random.default_rng(seed)) for seed in (1, 1, 2)]
    assert runs[0] == runs[1] != runs[2]


def test_generate_text_unknown_prime_characters_are_listed():
    model, vocab = tiny_model()
    with pytest.raises(ValueError, match=r"'z', 'Q'"):
        generate_text(model, vocab, 5, prime="hezQz")


def test_generate_text_validates_before_running():
    model, vocab = tiny_model()
    with pytest.raises(ValueError, match=r"top_k=10 is larger than the vocabulary \(9 tokens\)"):
        generate_text(model, vocab, 5, top_k=10)
    with pytest.raises(ValueError, match="length"):
        generate_text(model, vocab, -1)


def by_steps(model, vocab, prime, length, rng=None):
    """Reference through the modules, one token at a time: from a line break (token 0 if the
    vocabulary has none), a burn-in sampled at temperature 1 (at least BURN_IN[0] tokens, then
    up to the next line break, at most BURN_IN[1]; exactly BURN_IN[0] without line breaks),
    then the prime, then ``length`` tokens: sampled with ``rng``, or greedy if it is None
    (whose burn-in uses seed 0)."""
    first, most = sampling.BURN_IN
    newline = vocab.stoi.get("\n")
    if newline is None:
        most = first
    burn_rng = np.random.default_rng(0) if rng is None else rng

    def choose(logits):
        return int(logits[0].argmax()) if rng is None else int(sample(logits[0], rng))

    with no_grad():
        logits, state = model.step(np.array([0 if newline is None else newline]), None)
        for n in range(most):
            tok = int(sample(logits[0], burn_rng))
            logits, state = model.step(np.array([tok]), state)
            if n + 1 >= first and tok == newline:
                break
        for i in vocab.encode(prime, strict=True):
            logits, state = model.step(np.array([i]), state)
        out = []
        for _ in range(length):
            out.append(choose(logits))
            logits, state = model.step(np.array([out[-1]]), state)
    return prime + vocab.decode(out)


def greedy_by_steps(model, vocab, prime, length):
    return by_steps(model, vocab, prime, length)


@pytest.mark.parametrize("burn_in", [(3, 40), (0, 1), (10, 10), (0, 0), (50, 200)])
def test_the_state_is_burnt_in_before_the_prime(monkeypatch, burn_in):
    # From a zero state the model's first tokens are noise (training never starts from one),
    # so generation first runs the model on its own output; by_steps is the reference.
    monkeypatch.setattr(sampling, "BURN_IN", burn_in)
    model, vocab = tiny_model("lstm", seed=5)
    for prime in ("", "wo", "hello wor"):
        for seed in (0, 1):
            assert generate_text(model, vocab, 30, prime, rng=np.random.default_rng(seed)) == \
                by_steps(model, vocab, prime, 30, np.random.default_rng(seed))
        want = greedy_by_steps(model, vocab, prime, 30)
        assert generate_text(model, vocab, 30, prime, greedy=True) == want
        assert beam_search(model, vocab, 30, prime, beam_size=1) == want


def test_a_vocabulary_without_line_breaks_burns_in_a_fixed_number_of_tokens():
    vocab = CharVocab(list("abc"))
    model, _ = tiny_model("gru", vocab=vocab, seed=6)
    for prime in ("", "ab"):
        assert generate_text(model, vocab, 20, prime, rng=np.random.default_rng(3)) == \
            by_steps(model, vocab, prime, 20, np.random.default_rng(3))


@pytest.mark.parametrize("model_type", ["rnn", "lstm", "gru"])
def test_prime_warm_up_equals_feeding_the_prime_step_by_step(model_type):
    model, vocab = tiny_model(model_type, seed=3)
    prime = "hello wor"
    assert generate_text(model, vocab, 30, prime, greedy=True) == \
        greedy_by_steps(model, vocab, prime, 30)
    assert generate_text(model, vocab, 30, prime, temperature=0) == \
        greedy_by_steps(model, vocab, prime, 30)


def test_prime_warm_up_changes_the_continuation():
    # Same last character, different history: if the state were not warmed up on the whole
    # prime, the same seed would always draw the same next character.
    model, vocab = tiny_model(seed=1)
    firsts = [(generate_text(model, vocab, 1, "hello wo", rng=np.random.default_rng(s))[-1],
               generate_text(model, vocab, 1, "o", rng=np.random.default_rng(s))[-1])
              for s in range(200)]
    assert sum(a != b for a, b in firsts) > 0


def test_generate_text_restores_training_mode_and_leaves_the_model_rng_alone():
    # The trainer samples mid-training: it must get its model back as it was (exact resume).
    model, vocab = tiny_model("lstm")
    model.train()
    before = model.rng.bit_generator.state
    generate_text(model, vocab, 20, "he", rng=np.random.default_rng(0))
    assert model.training and model.rng.bit_generator.state == before
    model.eval()
    generate_text(model, vocab, 5)
    assert not model.training


def test_generate_text_with_a_word_vocabulary():
    vocab = WordVocab.from_text("the cat sat on the mat .\nthe dog sat , too .\n")
    model, _ = tiny_model("lstm", vocab=vocab)
    out = generate_text(model, vocab, 12, "the cat", rng=np.random.default_rng(0))
    assert out.startswith("the cat")
    assert len(tokenize_words(out.replace("<unk>", "UNK"))) == 2 + 12
    assert "  " not in out              # words are joined by single spaces
    assert not generate_text(model, vocab, 5, rng=np.random.default_rng(0)).startswith(" ")


# --------------------------------------------------------------------------- beam_search

@pytest.mark.parametrize("model_type", ["gru", "lstm"])
def test_beam_size_one_is_greedy(model_type):
    model, vocab = tiny_model(model_type, seed=2)
    for prime in ("", "w", "hello"):
        assert beam_search(model, vocab, 25, prime, beam_size=1) == \
            generate_text(model, vocab, 25, prime, greedy=True)


def sequence_log_probs(model, context, seqs):
    """Total log-probability of each continuation seqs (N, T) after context (C,) ids, by one
    teacher-forced forward pass over all N at once (an independent scorer)."""
    n, T = seqs.shape
    ids = np.concatenate([np.tile(context, (n, 1)), seqs], axis=1).T          # (C+T, N)
    with no_grad():
        logits, _ = model.eval().forward(ids[:-1])
    logits = logits[len(context) - 1:].astype(np.float64)                       # (T, N, V)
    logp = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    return np.take_along_axis(logp, seqs.T[..., None], axis=2)[..., 0].sum(axis=0)


@pytest.mark.parametrize("model_type", ["gru", "lstm"])
def test_wide_beam_finds_the_exhaustive_best(model_type, monkeypatch):
    # With beam_size >= V**(T-1) no prefix is ever pruned, so beam search is exact; any mistake
    # in reordering the per-beam state would score hypotheses with another's history.
    # No burn-in: the state has read the start token (0 here, there is no line break) and "ab".
    monkeypatch.setattr(sampling, "BURN_IN", (0, 0))
    vocab = CharVocab(list("abc"))
    model, _ = tiny_model(model_type, vocab=vocab, seed=4)
    T = 4
    seqs = np.array(list(itertools.product(range(3), repeat=T)))
    context = np.concatenate([[sampling.start_token(vocab)], vocab.encode("ab")])
    best = seqs[np.argmax(sequence_log_probs(model, context, seqs))]
    assert beam_search(model, vocab, T, "ab", beam_size=27) == "ab" + vocab.decode(best)


def test_beam_search_output_shape_and_errors():
    model, vocab = tiny_model("lstm")
    out = beam_search(model, vocab, 30, "he", beam_size=4)
    assert out.startswith("he") and len(out) == 32
    assert len(beam_search(model, vocab, 10, beam_size=3)) == 10
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model, vocab, 5, beam_size=0)
    with pytest.raises(ValueError, match="'q'"):
        beam_search(model, vocab, 5, prime="q")
