"""Grader for lab 05. Run:  pytest labs/lab05_char_model   (add -x to stop at the first failure)

Sampling is checked against the softmax formula and observed frequencies; Adam and the
model's forward against fixtures.npz; the model's backward against numerical gradients of
YOUR forward; training and generation by what they must achieve (about 2 s in total).
"""
from pathlib import Path

import numpy as np
import pytest

from labs.grading import (check_array, check_backward, check_close, fail, load_cases, plain,
                          require_forward, unpack)
from scratchrnn.nn import no_grad, softmax_cross_entropy

CASES = load_cases(__file__)
HERE = Path(__file__).resolve().parent


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- TODO 1
@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_softmax_with_temperature_values(impl, temperature):
    logits = 3 * np.random.default_rng(1).standard_normal((3, 5))
    p = impl.softmax_with_temperature(logits, temperature)
    check_close("softmax_with_temperature", "p", p, _softmax(logits / temperature),
                against="softmax(logits / temperature)", label="expected",
                hint="divide the logits by the temperature BEFORE the softmax (a low temperature "
                     "sharpens the distribution, a high one flattens it).")


def test_softmax_with_temperature_large_logits(impl):
    logits = np.array([1000.0, 999.0, -1000.0])
    with np.errstate(all="ignore"):
        p = impl.softmax_with_temperature(logits, 1.0)
    e = np.exp(-1.0)
    check_close("softmax_with_temperature", "p", np.asarray(p), np.array([1 / (1 + e), e / (1 + e), 0.0]),
                against="the exact softmax", label="exact",
                hint="exp(1000) overflows to inf: subtract the row max before np.exp.")


# ----------------------------------------------------------------------------- TODO 2
def test_top_k_filter_keeps_the_k_largest(impl):
    logits = np.array([[0.5, 2.0, -1.0, 1.5, 0.0], [3.0, -2.0, 1.0, 0.2, 2.5]])
    before = logits.copy()
    out = check_array("top_k_filter", "result", impl.top_k_filter(logits, 2), logits.shape)
    expected_kept = np.array([[False, True, False, True, False], [True, False, False, False, True]])
    kept = np.isfinite(out)
    if not np.array_equal(kept, expected_kept) or not np.array_equal(out[kept], logits[kept]) \
            or not np.all(out[~kept] == -np.inf):
        fail(f"top_k_filter(logits, k=2) returned\n{out}\nexpected the two largest of each row "
             f"unchanged and -inf elsewhere:\n{np.where(expected_kept, logits, -np.inf)}\n"
             f"  hint: kth = np.sort(logits, axis=-1)[..., -k][..., None]; out[out < kth] = -np.inf")
    if not np.array_equal(logits, before):
        fail("top_k_filter changed its input: work on a copy (np.array(logits, dtype=float)).")


@pytest.mark.parametrize("k", [None, 5, 9])
def test_top_k_filter_no_filtering(impl, k):
    logits = np.array([0.5, 2.0, -1.0, 1.5, 0.0])
    out = check_array("top_k_filter", "result", impl.top_k_filter(logits, k), logits.shape)
    if not np.array_equal(out, logits):
        fail(f"top_k_filter(logits, k={k}) must keep all {logits.size} logits, got {out}.\n"
             f"  hint: with k None or k >= V there is nothing to remove.")


# ----------------------------------------------------------------------------- TODO 3
def test_sample_greedy(impl):
    rng = np.random.default_rng(2)
    for _ in range(5):
        logits = rng.standard_normal(7)
        got = impl.sample_next(logits, temperature=0.0, rng=rng)
        if got != int(np.argmax(logits)):
            fail(f"sample_next(temperature=0) returned {plain(got)!r}, expected the argmax "
                 f"{int(np.argmax(logits))}.\n  hint: temperature 0 means greedy decoding.")


def _frequencies(impl, logits, n, **kw):
    rng = np.random.default_rng(3)
    draws = [impl.sample_next(logits, rng=rng, **kw) for _ in range(n)]
    for d in draws[:5]:
        if not isinstance(d, (int, np.integer)) or not 0 <= d < logits.size:
            fail(f"sample_next returned {plain(d)!r}; expected an int in [0, {logits.size}).")
    return np.bincount(np.asarray(draws, dtype=int), minlength=logits.size) / n


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
def test_sample_frequencies_follow_the_temperature(impl, temperature):
    logits, n = np.array([1.0, 0.0, -1.0, 2.0]), 3000
    freq = _frequencies(impl, logits, n, temperature=temperature)
    expected = _softmax(logits / temperature)
    worst = int(np.argmax(np.abs(freq - expected)))
    if abs(freq[worst] - expected[worst]) > 0.04:      # ~4.5 standard errors at n = 3000
        fail(f"sample_next(temperature={temperature}): id {worst} was drawn {freq[worst]:.3f} of "
             f"the time over {n} draws, but softmax(logits / {temperature}) gives it "
             f"{expected[worst]:.3f}.\n  frequencies {np.round(freq, 3)}, expected {np.round(expected, 3)}\n"
             f"  hint: p = softmax_with_temperature(filtered, temperature); rng.choice(V, p=p).")


def test_sample_top_k(impl):
    logits, n = np.array([1.0, 0.0, -1.0, 2.0]), 2000
    freq = _frequencies(impl, logits, n, temperature=1.0, top_k=2)
    expected = np.array([_softmax(np.array([1.0, 2.0]))[0], 0, 0, _softmax(np.array([1.0, 2.0]))[1]])
    if freq[1] + freq[2] > 0 or abs(freq[0] - expected[0]) > 0.05:
        fail(f"sample_next(top_k=2): frequencies {np.round(freq, 3)}, expected about "
             f"{np.round(expected, 3)} (only ids 3 and 0, the two largest logits).\n"
             f"  hint: apply top_k_filter before the softmax; exp(-inf) = 0 removes the rest.")


# ----------------------------------------------------------------------------- TODO 4
def test_adam_matches_expected(impl):
    c = CASES["adam"]
    w, config = c.w0.copy(), {"learning_rate": float(c.learning_rate)}
    for step in range(1, 4):
        w, config = unpack("adam_update", impl.adam_update(w, c[f"dw{step}"], config),
                           ["next_w", "config"])
        check_close("adam_update", f"w after step {step}", w, c[f"w{step}"],
                    hint="t += 1 first; m and v are running averages; divide them by (1 - beta^t) "
                         "(bias correction) before the update; epsilon goes OUTSIDE the sqrt.")
    if config.get("t") != 3:
        fail(f"adam_update: config['t'] is {plain(config.get('t'))!r} after 3 steps, expected 3.")


def test_adam_first_step_is_about_lr(impl):
    """With bias correction, m_hat = dw and v_hat = dw^2 at t = 1, so every weight moves by ~lr."""
    w, dw = np.zeros(4), np.array([1e-3, -5.0, 100.0, -0.02])
    next_w, _ = impl.adam_update(w, dw, {"learning_rate": 0.1})
    check_close("adam_update", "first step", np.asarray(next_w) - w, -0.1 * dw / (np.abs(dw) + 1e-8),
                against="-learning_rate * sign(dw) (bias-corrected first step)", label="expected",
                hint="without bias correction the first step is sqrt(1-beta2)/(1-beta1) ~ 0.32 times "
                     "too small. Use m / (1 - beta1**t) and v / (1 - beta2**t).")


def test_adam_defaults_and_dtype(impl):
    w = np.ones((2, 3), dtype=np.float32)
    next_w, config = unpack("adam_update", impl.adam_update(w, np.ones_like(w), None),
                            ["next_w", "config"])
    check_array("adam_update", "next_w", next_w, w.shape, dtype=np.float32)
    missing = [k for k in ("learning_rate", "beta1", "beta2", "epsilon", "m", "v", "t")
               if k not in config]
    if missing or config["learning_rate"] != 1e-3 or config["t"] != 1:
        fail(f"adam_update(w, dw, None) must fill in the defaults; missing {missing}, "
             f"learning_rate {plain(config.get('learning_rate'))!r}, t {plain(config.get('t'))!r}.\n"
             f"  hint: config.setdefault('learning_rate', 1e-3) and so on for each key.")


# ----------------------------------------------------------------------------- TODO 5, 6
def _fixture_model(impl):
    c = CASES["charmodel"]
    model = impl.CharModel(int(c.vocab_size), int(c.embed_dim), int(c.hidden_size), dtype=np.float64)
    model.load_state_dict({k[len("param."):]: v for k, v in c.items() if k.startswith("param.")})
    return model, c


def test_charmodel_forward_values(impl):
    model, c = _fixture_model(impl)
    logits, state = unpack("CharModel.forward", model.forward(c.ids, (c.h0, c.c0)), ["logits", "state"])
    check_close("CharModel.forward", "logits", logits, c.logits,
                hint="logits = self.head(out) where out, state = self.rnn(self.embed(ids), hx=state).")


def test_charmodel_forward_carries_state(impl):
    """Two calls with the state passed along equal one call on the whole sequence."""
    model, c = _fixture_model(impl)
    with no_grad():
        whole, _ = model.forward(c.ids, (c.h0, c.c0))
        first, state = model.forward(c.ids[:2], (c.h0, c.c0))
        second, _ = model.forward(c.ids[2:], state)
    check_close("CharModel.forward", "logits of the second call", second, whole[2:],
                against="the same steps run in one call", label="one call",
                hint="pass state to self.rnn as hx=state and return the rnn's new state.")


def test_charmodel_backward_against_numerical_gradient(impl):
    model, c = _fixture_model(impl)
    require_forward("CharModel.backward", "CharModel.forward",
                    {"logits": model.forward(c.ids, (c.h0, c.c0))[0]}, c,
                    "test_charmodel_forward_values")
    y = np.roll(c.ids, -1, axis=0)
    model.zero_grad()
    logits, _ = model.forward(c.ids, (c.h0, c.c0))
    _, dlogits = softmax_cross_entropy(logits, y)
    model.backward(dlogits)
    params = dict(model.named_parameters())
    grads = {k: p.grad.copy() for k, p in params.items()}

    def loss():
        with no_grad():
            return np.asarray(softmax_cross_entropy(model.forward(c.ids, (c.h0, c.c0))[0], y)[0])

    hints = {"embed.weight": "call self.embed.backward(dx) with the dx returned by self.rnn.backward.",
             "head.weight": "start with dout = self.head.backward(dlogits).",
             "head.bias": "start with dout = self.head.backward(dlogits)."}
    hints.update({k: "dx, dstate = self.rnn.backward(dout): pass the head's dout to the LSTM."
                  for k in params if k.startswith("rnn.")})
    check_backward("CharModel.backward", loss, {k: p.data for k, p in params.items()}, np.ones(()),
                   grads, hints, forward_name="CharModel.forward")


# ----------------------------------------------------------------------------- TODO 7, 8
@pytest.fixture(scope="module")
def trained(impl):
    text = (HERE / "sonnets.txt").read_text(encoding="utf-8")
    return impl.train(text, steps=120, seq_length=16, batch_size=8, hidden_size=32, lr=1e-2)


def test_train_lowers_the_loss(impl, trained):
    model, vocab, losses = unpack("train", trained, ["model", "vocab", "losses"])
    losses = np.asarray(losses, dtype=float)
    if losses.shape != (120,) or not np.all(np.isfinite(losses)):
        fail(f"train(steps=120) must return 120 finite losses, got shape {losses.shape} with "
             f"{int((~np.isfinite(losses)).sum()) if losses.size else 0} non-finite.\n"
             f"  hint: NaN usually means an exploding update: check adam_update and clip_grads.")
    start, end = losses[:10].mean(), losses[-10:].mean()
    if not end < 2.5:
        fail(f"train: the loss went from {start:.3f} (first 10 steps) to {end:.3f} (last 10) in 120 "
             f"steps; a working loop gets below 2.5 (the reference reaches about 1.9).\n"
             f"  hint: zero the gradients every step, carry the state between batches, write the "
             f"Adam result into p.data (p.data[...] = next_w), one config per parameter.")


def test_train_gradients_come_from_the_last_batch_only(impl):
    """With lr = 0 the weights never move, so after 3 steps each p.grad must be the gradient of
    batch 3 alone, computed with the state carried over from batches 1 and 2."""
    from scratchrnn.data import BatchStream, CharVocab
    text = (HERE / "sonnets.txt").read_text(encoding="utf-8")
    kw = dict(seq_length=8, batch_size=4, embed_dim=5, hidden_size=6, seed=3)
    model, vocab, _ = impl.train(text, steps=3, lr=0.0, clip=1e9, **kw)
    stream = BatchStream(vocab.encode(text), kw["batch_size"], kw["seq_length"])
    fresh = impl.CharModel(len(vocab), kw["embed_dim"], kw["hidden_size"], seed=kw["seed"])
    state = None
    with no_grad():
        for _ in range(2):
            _, state = fresh.forward(stream.next_batch()[0], state)
    x, y = stream.next_batch()
    fresh.zero_grad()
    logits, _ = fresh.forward(x, state)
    fresh.backward(softmax_cross_entropy(logits, y)[1])
    trained_grads = dict(model.named_parameters())
    for name, p in fresh.named_parameters():
        check_close("train", f"{name}.grad after 3 steps", trained_grads[name].grad, p.grad,
                    against="the gradient of batch 3 alone (state carried from batches 1-2)",
                    label="expected", rtol=1e-4, atol=1e-6,
                    hint="call model.zero_grad() before every backward (gradients ADD up "
                         "otherwise), build the model with CharModel(len(vocab), embed_dim, "
                         "hidden_size, seed=seed), pass each batch's final state to the next, "
                         "and clip with the clip argument (here 1e9: no clipping).")


def test_generate_greedy_continues_a_memorised_pattern(impl):
    model, vocab, _ = impl.train("hello world! " * 100, steps=150, seq_length=16, batch_size=8,
                                 hidden_size=32, lr=1e-2)
    text = impl.generate(model, vocab, "hello", 24, temperature=0)
    expected = ("hello world! " * 3)[:29]
    if text != expected:
        fail(f"greedy generate after training on 'hello world! ' * 100 gave {text!r}, expected "
             f"{expected!r}.\n  hint: feed the whole prime first, then each sampled id as a (1, 1) "
             f"array WITH the state from the previous call; sample from the last step's logits.")


def test_generate_length_prefix_and_seed(impl, trained):
    model, vocab, _ = trained
    a = impl.generate(model, vocab, "Love", 50, temperature=1.0, rng=np.random.default_rng(7))
    b = impl.generate(model, vocab, "Love", 50, temperature=1.0, rng=np.random.default_rng(7))
    if not isinstance(a, str) or len(a) != 54 or not a.startswith("Love"):
        fail(f"generate(prime='Love', length=50) must return a str of 54 characters starting "
             f"with the prime; got {a!r:.80}")
    if a != b:
        fail("generate with the same rng seed gave two different texts: use the rng argument "
             "for every random draw (pass it to sample_next).")


def test_lower_temperature_is_more_repetitive(impl, trained, capsys):
    model, vocab, _ = trained
    samples = impl.compare_temperatures(model, vocab, "Love", temperatures=(0.3, 1.5), length=300)
    capsys.readouterr()
    bigrams = {t: len(set(zip(s, s[1:]))) for t, s in samples.items()}
    if not bigrams[0.3] < bigrams[1.5]:
        fail(f"samples at temperature 0.3 use {bigrams[0.3]} distinct character pairs, at 1.5 "
             f"{bigrams[1.5]}: a low temperature should be MORE repetitive.\n"
             f"  hint: check that generate passes temperature on to sample_next.")
