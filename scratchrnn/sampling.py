"""Turning a language model's logits into text: temperature, top-k, top-p, greedy, beam search.

Two layers:

* pure functions on arrays -- ``filter_probs`` (logits -> the distribution actually sampled
  from) and ``sample`` (one draw per row by inverse CDF, so a seeded generator reproduces);
* thin loops over a model -- ``generate_text`` and ``beam_search``. They need only
  ``model.forward(ids (T, B), state)`` (to read a prime in one call), ``model.stepper()`` (the
  one-token fast path, ``scratchrnn.models.Stepper``), ``model.eval()``/``model.train(mode)``
  and a vocabulary with ``encode``/``decode``.

    probs = filter_probs(logits, temperature=0.8, top_k=20, top_p=0.95)   # (V,) or (B, V)
    ids = sample(logits, np.random.default_rng(0), temperature=0.8)         # () or (B,)
    text = generate_text(model, vocab, 200, prime="ROMEO:", rng=np.random.default_rng(0))
"""
import math
import numbers

import numpy as np

from .nn import no_grad

__all__ = ["check_sampling_args", "filter_probs", "sample", "encode_prime", "generate_text",
           "beam_search"]

BURN_IN = (50, 200)     # tokens the model runs on its own before the prime, (min, max)


# --------------------------------------------------------------------------- validation

def check_sampling_args(temperature=1.0, top_k=None, top_p=None, vocab_size=None):
    """Raise a ValueError naming the first impossible value; ``vocab_size`` (if known) bounds top_k."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 means greedy), "
                         f"got {temperature!r}")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
            raise ValueError(f"top_k must be an integer >= 1 (or None for no limit), got {top_k!r}")
        if vocab_size is not None and top_k > vocab_size:
            raise ValueError(f"top_k={top_k} is larger than the vocabulary ({vocab_size} tokens)")
    if top_p is not None:
        # `not (0 < p <= 1)` also rejects NaN, which every comparison fails.
        if isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (1 keeps every token), got {top_p!r}")


def _as_logits(logits):
    """(V,) or (B, V) -> float64 (B, V) plus whether the input was a single row."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim not in (1, 2) or z.shape[-1] == 0:
        raise ValueError(f"logits must have shape (V,) or (B, V) with V >= 1, got {z.shape}")
    if np.isnan(z).any() or (z == np.inf).any():
        raise ValueError("logits contain NaN or +inf (a diverged model?); -inf is allowed")
    rows = z.reshape(-1, z.shape[-1])
    if (rows == -np.inf).all(axis=1).any():
        raise ValueError("a row of logits is all -inf: no token is possible")
    return rows, z.ndim == 1


# --------------------------------------------------------------------------- distributions

def _descending(p):
    """(B, V) -> (B, V) column order from most to least probable; ties go to the lower id
    (a stable sort of -p), so top-k always keeps exactly k tokens and is reproducible."""
    return np.argsort(-p, axis=1, kind="stable")


def _keep_top_k(p, k):
    """Zero all but the k most probable entries of each row of p (B, V)."""
    order = _descending(p)
    keep = np.zeros(p.shape, dtype=bool)
    np.put_along_axis(keep, order[:, :k], True, axis=1)
    return np.where(keep, p, 0.0)


def _keep_top_p(p, top_p):
    """Zero all but the nucleus of each row of p (B, V), rows summing to 1: the smallest set of
    most probable tokens whose mass is >= top_p. A token is needed exactly when the mass of the
    tokens ranked before it is still < top_p; the first token always is."""
    order = _descending(p)
    sorted_p = np.take_along_axis(p, order, axis=1)
    # An exclusive cumsum built by shifting, not as cumsum - p, whose rounding could flip a
    # decision at the boundary.
    mass_before = np.zeros_like(sorted_p)
    mass_before[:, 1:] = np.cumsum(sorted_p, axis=1)[:, :-1]
    keep = np.zeros(p.shape, dtype=bool)
    np.put_along_axis(keep, order, mass_before < top_p, axis=1)
    return np.where(keep, p, 0.0)


def filter_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """logits (V,) or (B, V) -> probabilities of the same shape, float64, rows summing to 1.

    softmax(logits / temperature), then keep the ``top_k`` most probable tokens, then the
    nucleus of mass ``top_p`` among those, renormalised. ``temperature == 0`` is greedy: a
    one-hot on the argmax (the lowest id among ties).
    """
    rows, single = _as_logits(logits)
    check_sampling_args(temperature, top_k, top_p, vocab_size=rows.shape[1])
    if temperature == 0:
        p = np.zeros_like(rows)
        p[np.arange(len(rows)), rows.argmax(axis=1)] = 1.0
    else:
        # Shift before dividing: (z - max) <= 0, so even a tiny temperature gives -inf, never
        # inf - inf = NaN, and exp never overflows.
        shifted = (rows - rows.max(axis=1, keepdims=True)) / temperature
        p = np.exp(shifted)
        p /= p.sum(axis=1, keepdims=True)
        if top_k is not None and top_k < p.shape[1]:
            p = _keep_top_k(p, top_k)
            p /= p.sum(axis=1, keepdims=True)
        if top_p is not None and top_p < 1:
            p = _keep_top_p(p, top_p)
            p /= p.sum(axis=1, keepdims=True)
    return p[0] if single else p


def _generator(rng):
    """A seed or None -> a new numpy Generator; a generator (or look-alike) passes through."""
    if rng is None or isinstance(rng, numbers.Integral):
        return np.random.default_rng(rng)
    return rng


def sample(logits, rng, temperature=1.0, top_k=None, top_p=None):
    """logits (V,) or (B, V) -> sampled ids: an int64 scalar or (B,) int64.

    One ``rng.random(B)`` call per draw (inverse CDF), so the same generator state always gives
    the same ids. ``rng``: a numpy Generator (anything with ``random(shape)``), or a seed or
    None for ``np.random.default_rng``.
    """
    p = filter_probs(logits, temperature, top_k, top_p)
    rows = p.reshape(-1, p.shape[-1])
    rng = _generator(rng)
    cdf = np.cumsum(rows, axis=1)
    cdf /= cdf[:, -1:]          # the last entry is now exactly 1.0, above every u in [0, 1)
    u = rng.random((len(rows), 1))
    # Token i is drawn when cdf[i-1] <= u < cdf[i]: probability p[i], and a zero-probability
    # token (cdf[i] == cdf[i-1]) can never be drawn, not even at u == 0.
    ids = (cdf <= u).sum(axis=1).astype(np.int64)
    return ids[0] if p.ndim == 1 else ids


# --------------------------------------------------------------------------- model loops

def encode_prime(vocab, prime):
    """prime (str) -> (context ids (N,) int64, whether they are the prime itself).

    Unknown tokens raise the vocabulary's ValueError, which lists them. An empty prime (or one
    with no tokens, e.g. only spaces for a word vocabulary) starts from a newline, if the
    vocabulary has one, else from token 0; that start token is not part of the output.
    """
    if not isinstance(prime, str):
        raise TypeError(f"prime must be a str, got {type(prime).__name__}")
    ids = vocab.encode(prime, strict=True)
    if len(ids):
        return ids, True
    return np.array([start_token(vocab)], dtype=np.int64), False


def start_token(vocab):
    """Where text starts: the line break, if the vocabulary has one, else token 0."""
    return vocab.stoi.get("\n", 0)


def _warm_up(model, vocab, context, primed, rng):
    """A Stepper that has read the prime, and its logits (1, V) for the next token. Call under
    no_grad.

    A zero state is one that training never shows the model (the trainer carries the state
    from batch to batch), and from it the first tokens are noise, even after a short prime. So
    the state is first burnt in on the model's own output, sampled at temperature 1 with
    ``rng`` (typical text, not a greedy loop): from a line break, at least ``BURN_IN[0]``
    tokens and then up to its next line break, at most ``BURN_IN[1]`` in all. A vocabulary
    without a line break starts from token 0 and runs exactly ``BURN_IN[0]`` tokens. The
    prime, if any, is read after that, in one forward call for all but its last token.
    """
    newline = vocab.stoi.get("\n")
    first, most = BURN_IN if newline is not None else (BURN_IN[0], BURN_IN[0])
    stepper = model.stepper()
    logits = stepper.step([start_token(vocab)])
    for n in range(most):
        tok = int(sample(logits[0], rng))
        logits = stepper.step([tok])
        if n + 1 >= first and tok == newline:
            break
    if primed:
        if len(context) > 1:
            _, state = model.forward(context[:-1].reshape(-1, 1), stepper.state)
            stepper.reset(state)
        logits = stepper.step(context[-1:])
    return logits, stepper


def _continuation(vocab, context, generated):
    """The text that ``generated`` ids add after ``context`` ids. Decoding the whole and cutting
    off the context's own decoding lets a word vocabulary put the joining space right."""
    whole = vocab.decode(np.concatenate([context, np.asarray(generated, dtype=np.int64)]))
    return whole[len(vocab.decode(context)):]


def _check_length(length):
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
        raise ValueError(f"length must be an integer >= 0 (tokens to generate), got {length!r}")


class _evaluating:
    """Context: eval mode and no_grad inside, the model's previous mode restored after (the
    trainer samples mid-training and must get its model back in training mode)."""

    def __init__(self, model):
        self.model, self.no_grad = model, no_grad()

    def __enter__(self):
        self.was_training = getattr(self.model, "training", False)
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)


def generate_text(model, vocab, length, prime="", temperature=1.0, top_k=None, top_p=None,
                  greedy=False, rng=None):
    """Return ``prime`` followed by ``length`` generated tokens, decoded by ``vocab``.

    The state is burnt in on the model's own output (not returned) and then reads the prime
    (``_warm_up``). ``greedy=True`` (or ``temperature=0``) always takes the most likely token.
    ``rng`` (a Generator or seed) makes sampling reproducible; leave it None for fresh
    randomness. Greedy decoding burns in with a fixed seed, so it is deterministic. The
    model's ``rng`` is never touched.
    """
    _check_length(length)
    check_sampling_args(temperature, top_k, top_p, vocab_size=len(vocab))
    context, primed = encode_prime(vocab, prime)
    if length == 0:
        return prime
    greedy = greedy or temperature == 0
    rng = np.random.default_rng(0) if greedy else _generator(rng)
    generated = []
    with _evaluating(model):
        logits, stepper = _warm_up(model, vocab, context, primed, rng)
        for t in range(length):
            if greedy:
                tok = int(np.argmax(logits[0]))
            else:
                tok = int(sample(logits[0], rng, temperature, top_k, top_p))
            generated.append(tok)
            if t + 1 < length:      # the last token's logits are never needed
                logits = stepper.step([tok])
    return prime + _continuation(vocab, context, generated)


def _log_softmax(logits):
    """(B, V) -> (B, V) log-probabilities, float64."""
    logits = np.asarray(logits, dtype=np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def beam_search(model, vocab, length, prime="", beam_size=5):
    """Return ``prime`` followed by the ``length``-token continuation with the highest total
    log-probability found by beam search.

    Keeps ``beam_size`` hypotheses; each is extended by its ``beam_size`` most likely tokens and
    the best ``beam_size`` of all those candidates survive. ``beam_size=1`` is greedy decoding.
    Ties go to the earlier hypothesis and the lower token id, so the result is deterministic.
    The state is burnt in before the prime is read, as in ``generate_text`` (with a fixed
    seed, so the result stays deterministic).
    """
    _check_length(length)
    if isinstance(beam_size, bool) or not isinstance(beam_size, numbers.Integral) or beam_size < 1:
        raise ValueError(f"beam_size must be an integer >= 1, got {beam_size!r}")
    context, primed = encode_prime(vocab, prime)
    if length == 0:
        return prime
    tokens = np.zeros((1, 0), dtype=np.int64)       # (beams, t) hypotheses so far
    scores = np.zeros(1)                             # (beams,) total log-probabilities
    with _evaluating(model):
        logits, stepper = _warm_up(model, vocab, context, primed, np.random.default_rng(0))
        for t in range(length):
            tokens, scores, beam, tok = _beam_step(tokens, scores, logits, beam_size)
            if t + 1 < length:
                stepper.select(beam)
                logits = stepper.step(tok)
    return prime + _continuation(vocab, context, tokens[0])


def _beam_step(tokens, scores, logits, beam_size):
    """One expansion. tokens (N, t), scores (N,), logits (N, V) -> tokens (M, t+1), scores (M,)
    best first, plus for each survivor its parent beam (M,) and new token (M,)."""
    k = min(beam_size, logits.shape[1])
    # Rank candidates by the raw logits (same order as log-probs, and the same tie-break as
    # np.argmax, so beam_size=1 is exactly greedy), then score them by log-probability.
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]                 # (N, k)
    cand = scores[:, None] + np.take_along_axis(_log_softmax(logits), top, axis=1)
    best = np.argsort(-cand.ravel(), kind="stable")[:beam_size]             # (M,)
    beam, tok = best // k, top.ravel()[best]
    return np.concatenate([tokens[beam], tok[:, None]], axis=1), cand.ravel()[best], beam, tok
