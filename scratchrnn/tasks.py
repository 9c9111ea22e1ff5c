"""Synthetic data sets the examples and experiments generate themselves (no downloads).

Every generator takes a ``np.random.Generator`` and returns NumPy arrays, so the same seed gives
the same data on every machine:

* ``make_names``      name-like strings whose class ("origin") depends on their letters
* ``adding_problem``  sum the two marked numbers of a long sequence (Hochreiter & Schmidhuber, 1997)
* ``copy_memory``     recall a few symbols after a long blank gap (Arjovsky et al., 2016)
* ``digit_task``      reverse or sort a string of digits (a seq2seq task)
* ``date_task``       normalise a written date, "3 December 2026" -> "2026-12-03" (seq2seq with
                      a non-monotone alignment)
* ``sine_mixture``    noisy sums of sines at a few frequencies (forecasting)
"""
import numpy as np

# ------------------------------------------------------------------ names -> origin
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
PAD = 0                                   # index 0 is padding; letter k is k + 1
# Each made-up "origin" builds names from its own syllables and endings. Some syllables are
# shared between origins, so a name's class shows in its letters but not always in one of them.
NAME_ORIGINS = {
    "kelvar": (["kel", "var", "dor", "grim", "bal", "ri", "ko", "mar", "la"], ["in", "ar", "ia", "ov"]),
    "sunari": (["sa", "na", "ri", "mi", "ko", "ta", "bal", "lo", "ve"], ["a", "i", "in", "ano"]),
    "lumbre": (["lu", "ve", "ra", "sel", "mel", "ri", "na", "dor", "lo"], ["elle", "ine", "a", "ar"]),
    "ostrov": (["os", "tro", "vik", "zla", "mir", "ko", "lav", "ra", "ta"], ["ov", "ski", "ine", "etti"]),
    "pellan": (["pe", "lla", "qua", "ro", "bel", "mar", "ra", "sel", "la"], ["ini", "etti", "ia", "ski"]),
}
CLASS_NAMES = list(NAME_ORIGINS)


def make_name(origin, rng, min_len=3, max_len=20):
    """One name of this origin: 1-4 syllables and an ending, 3-20 letters."""
    syllables, endings = NAME_ORIGINS[origin]
    while True:
        n = rng.integers(1, 5)
        name = "".join(rng.choice(syllables, n)) + rng.choice(endings)
        if min_len <= len(name) <= max_len:
            return name


def make_names(n, rng, classes=None):
    """n names with balanced random classes -> (list of str, labels (n,) ints into classes)."""
    classes = CLASS_NAMES if classes is None else classes
    labels = rng.integers(0, len(classes), n)
    return [make_name(classes[k], rng) for k in labels], labels


def encode_names(names):
    """Strings of a-z -> ids (N, T_max) int (letter k -> k + 1, padding 0), lengths (N,)."""
    lengths = np.array([len(s) for s in names])
    ids = np.full((len(names), lengths.max()), PAD, dtype=np.int64)
    for row, s in enumerate(names):
        ids[row, :len(s)] = [ALPHABET.index(ch) + 1 for ch in s]
    return ids, lengths


def decode_name(ids):
    return "".join(ALPHABET[i - 1] for i in ids if i != PAD)


# ------------------------------------------------------------------ long memory
def adding_problem(n, T, rng):
    """x (T, n, 2): channel 0 uniform in [0, 1], channel 1 marks two steps, one in each half.
    y (n,): the sum of the two marked values. Predicting the mean, 1, gives MSE 1/6 (chance)."""
    x = np.zeros((T, n, 2))
    x[:, :, 0] = rng.random((T, n))
    first = rng.integers(0, T // 2, n)
    second = rng.integers(T // 2, T, n)
    cols = np.arange(n)
    x[first, cols, 1] = 1
    x[second, cols, 1] = 1
    return x, x[first, cols, 0] + x[second, cols, 0]


ADDING_CHANCE_MSE = 1 / 6     # Var(u1 + u2) for two independent U(0, 1)


def copy_memory(n, T, rng, copy_length=5, n_symbols=8):
    """The copy-memory task: remember copy_length symbols across a gap of T blanks.

    Tokens: 0 blank, 1..n_symbols symbols, n_symbols + 1 the "recall now" marker.
    x (T + 2S, n): S symbols, T - 1 blanks, the marker, S blanks.
    y (T + 2S, n): blanks, then the S symbols in the last S steps.
    mask (T + 2S, n): True on the last S steps, the only ones that are scored.
    Guessing gives an error of 1 - 1/n_symbols on the recalled symbols (chance).
    """
    S = copy_length
    symbols = rng.integers(1, n_symbols + 1, (S, n))
    x = np.zeros((T + 2 * S, n), dtype=np.int64)
    y = np.zeros_like(x)
    x[:S] = symbols
    x[S + T - 1] = n_symbols + 1
    y[-S:] = symbols
    mask = np.zeros(x.shape, dtype=bool)
    mask[-S:] = True
    return x, y, mask


# ------------------------------------------------------------------ seq2seq
DIGIT_PAD, BOS, EOS = 0, 1, 2
DIGIT_OFFSET = 3                 # digit d is token d + 3
DIGIT_VOCAB = 13


def digit_task(n, rng, task="reverse", min_len=3, max_len=8):
    """Digit strings and their reversal (or sorted order), as padded token arrays.

    Returns src (n, S) with lengths (n,), tgt_in (n, S + 1) = [BOS, y...],
    tgt_out (n, S + 1) = [y..., EOS], tgt_mask (n, S + 1) True on the real target tokens.
    """
    if task not in ("reverse", "sort"):
        raise ValueError(f"task must be 'reverse' or 'sort', got {task!r}")
    lengths = rng.integers(min_len, max_len + 1, n)
    S = lengths.max()
    src = np.full((n, S), DIGIT_PAD, dtype=np.int64)
    tgt_in = np.full((n, S + 1), DIGIT_PAD, dtype=np.int64)
    tgt_out = np.full((n, S + 1), DIGIT_PAD, dtype=np.int64)
    for row, L in enumerate(lengths):
        digits = rng.integers(0, 10, L)
        out = digits[::-1] if task == "reverse" else np.sort(digits)
        src[row, :L] = digits + DIGIT_OFFSET
        tgt_in[row, 0], tgt_in[row, 1:L + 1] = BOS, out + DIGIT_OFFSET
        tgt_out[row, :L], tgt_out[row, L] = out + DIGIT_OFFSET, EOS
    tgt_mask = np.arange(S + 1)[None, :] <= lengths[:, None]
    return src, lengths, tgt_in, tgt_out, tgt_mask


def digits_to_str(tokens):
    """Tokens up to the first EOS -> '3141'."""
    out = []
    for t in tokens:
        if t == EOS:
            break
        out.append(str(t - DIGIT_OFFSET) if t >= DIGIT_OFFSET else "?")
    return "".join(out)


# ------------------------------------------------------------------ dates
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
DATE_FORMATS = ("{d} {month} {y}", "{month} {d}, {y}", "{d} {mon} {y}", "{mon} {d}, {y}",
                "{dd}.{mm}.{y}")
# tokens: 0 padding, 1 BOS, 2 EOS, then one per character (source and target share them)
DATE_CHARS = "0123456789-., " + "".join(sorted(set("".join(MONTHS))))
DATE_VOCAB = 3 + len(DATE_CHARS)


def make_date(rng, min_year=1900, max_year=2099):
    """One random valid date: (written form, ISO form), e.g. ("3 December 2026", "2026-12-03").

    The written form is one of DATE_FORMATS: day first or month first, the month's full name,
    its first three letters or its number. The ISO form puts the year, which comes last in the
    source, first: the alignment is not monotone.
    """
    y = int(rng.integers(min_year, max_year + 1))
    m = int(rng.integers(1, 13))
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[m - 1]
    d = int(rng.integers(1, days + 1))
    fmt = DATE_FORMATS[rng.integers(len(DATE_FORMATS))]
    written = fmt.format(d=d, dd=f"{d:02d}", mm=f"{m:02d}", y=y, month=MONTHS[m - 1],
                         mon=MONTHS[m - 1][:3])
    return written, f"{y:04d}-{m:02d}-{d:02d}"


def encode_chars(strings, vocab=DATE_CHARS):
    """Strings -> tokens (n, max length) (character c -> vocab.index(c) + 3, padding 0), lengths."""
    lengths = np.array([len(s) for s in strings])
    ids = np.full((len(strings), lengths.max()), DIGIT_PAD, dtype=np.int64)
    for row, s in enumerate(strings):
        ids[row, :len(s)] = [vocab.index(c) + 3 for c in s]
    return ids, lengths


def chars_to_str(tokens, vocab=DATE_CHARS):
    """Tokens up to the first EOS -> text ('?' for padding or BOS)."""
    out = []
    for t in tokens:
        if t == EOS:
            break
        out.append(vocab[t - 3] if t >= 3 else "?")
    return "".join(out)


def date_task(n, rng, min_year=1900, max_year=2099):
    """Written dates and their ISO forms, as padded token arrays (the layout of digit_task).

    Returns src (n, S) with lengths (n,), tgt_in (n, 11) = [BOS, y...], tgt_out (n, 11) =
    [y..., EOS], tgt_mask (n, 11) all True (every ISO date has 10 characters).
    """
    pairs = [make_date(rng, min_year, max_year) for _ in range(n)]
    src, lengths = encode_chars([w for w, _ in pairs])
    iso, _ = encode_chars([i for _, i in pairs])
    tgt_in = np.concatenate([np.full((n, 1), BOS), iso], axis=1)
    tgt_out = np.concatenate([iso, np.full((n, 1), EOS)], axis=1)
    return src, lengths, tgt_in, tgt_out, np.ones(tgt_out.shape, bool)


# ------------------------------------------------------------------ forecasting
SINE_PERIODS = (8.0, 21.0, 55.0)     # in steps: a fast, a middle and a slow component


def sine_mixture(n, T, rng, periods=SINE_PERIODS, noise=0.1):
    """n series of T + 1 steps: sums of sines with the given periods, random amplitudes in
    [0.3, 1] and random phases, plus Gaussian noise of std `noise`.

    Returns (noisy, clean), each (T + 1, n): a model reads noisy[:-1] and predicts noisy[1:].
    """
    t = np.arange(T + 1)[:, None]
    clean = np.zeros((T + 1, n))
    for p in periods:
        amp = rng.uniform(0.3, 1.0, n)
        phase = rng.uniform(0, 2 * np.pi, n)
        clean += amp * np.sin(2 * np.pi * t / p + phase)
    clean /= len(periods) ** 0.5     # keep the variance near 1/2 for any number of components
    return clean + noise * rng.standard_normal(clean.shape), clean
