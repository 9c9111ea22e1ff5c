"""Data for the language models: vocabularies, corpora, splits and truncated-BPTT batches.

The pipeline is ``text -> ids -> (train, val, test) -> batches``::

    text = load_corpus("tinyshakespeare")          # str
    vocab = CharVocab.from_text(text)              # or WordVocab.from_text(text)
    ids = vocab.encode(text)                       # (N,) int64
    train, val, test = split_corpus(ids)           # three contiguous (N_i,) views
    for x, y in BatchStream(train, batch_size=32, seq_length=64):
        ...                                        # x, y: (seq_length, batch_size) int64

Only NumPy, ``requests`` (for the one download) and the standard library are used.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
import tempfile
import warnings
from collections import Counter
from contextlib import closing
from pathlib import Path

import numpy as np

__all__ = [
    "UNK", "CharVocab", "WordVocab", "vocab_from_dict", "tokenize_words", "detokenize_words",
    "data_dir", "cache_dir", "load_corpus", "builtin_corpus", "CorpusDownloadWarning",
    "split_corpus", "BatchStream",
]

UNK = "<unk>"
_MAX_LISTED = 20  # how many missing tokens an error message lists before "... and N more"


# --------------------------------------------------------------------------- vocabularies

class _Vocab:
    """Shared machinery of CharVocab and WordVocab: an ordered token list ``itos`` and its
    inverse ``stoi``. Subclasses say how text is split into tokens and joined back."""

    kind = ""       # "char" or "word": stored in to_dict() so a checkpoint knows which to rebuild
    unit = ""       # "characters" or "words": used in error messages

    def __init__(self, itos):
        itos = list(itos)
        if not itos:
            raise ValueError("a vocabulary needs at least one token")
        stoi = {}
        for i, tok in enumerate(itos):
            if not isinstance(tok, str):
                raise TypeError(f"vocabulary tokens must be str, got {type(tok).__name__} at index {i}")
            if tok in stoi:
                raise ValueError(f"duplicate token {tok!r} at indices {stoi[tok]} and {i}")
            stoi[tok] = i
        self.itos = itos
        self.stoi = stoi

    # -- construction -----------------------------------------------------------------

    @staticmethod
    def _rank(tokens, max_vocab_size):
        """Distinct tokens from most to least frequent; ties are broken by sorting the tokens
        themselves, so the same text always gives the same vocabulary."""
        if max_vocab_size is not None and (int(max_vocab_size) != max_vocab_size or max_vocab_size < 2):
            raise ValueError(f"max_vocab_size must be an integer >= 2 or None, got {max_vocab_size!r}")
        counts = Counter(tokens)
        if not counts:
            raise ValueError("cannot build a vocabulary from empty text")
        return sorted(counts, key=lambda t: (-counts[t], t))

    # -- protocol ---------------------------------------------------------------------

    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def __eq__(self, other):
        return type(self) is type(other) and self.itos == other.itos

    def __repr__(self):
        return f"{type(self).__name__}(size={len(self)}, unk={self.unk_index is not None})"

    @property
    def unk_index(self):
        """Index of ``<unk>``, or None when the vocabulary has none (a complete char vocab)."""
        return self.stoi.get(UNK)

    def to_dict(self):
        """A JSON-friendly dict; ``from_dict(to_dict())`` gives an equal vocabulary (same order)."""
        return {"type": self.kind, "itos": list(self.itos)}

    @classmethod
    def from_dict(cls, d):
        """Rebuild a vocabulary saved by ``to_dict`` (checks that the type matches)."""
        if not isinstance(d, dict) or "itos" not in d:
            raise ValueError("a vocabulary dict needs the keys 'type' and 'itos'")
        if d.get("type") != cls.kind:
            raise ValueError(f"this is a {d.get('type')!r} vocabulary, not a {cls.kind!r} one; "
                             f"use vocab_from_dict() to rebuild either kind")
        return cls(d["itos"])

    # -- encoding ---------------------------------------------------------------------

    def _missing_error(self, missing, strict):
        """ValueError listing the unknown tokens in order of first appearance."""
        unique = list(dict.fromkeys(missing))
        listed = ", ".join(repr(t) for t in unique[:_MAX_LISTED])
        more = f" ... and {len(unique) - _MAX_LISTED} more" if len(unique) > _MAX_LISTED else ""
        why = "" if strict else f" (and this vocabulary has no {UNK} token to map them to)"
        return ValueError(f"{self.unit} not in the vocabulary{why}: {listed}{more}: "
                          f"use only {self.unit} seen in training")

    def _lookup(self, tokens, strict):
        """Map a list of tokens to an (N,) int64 array via ``stoi``."""
        unk = None if strict else self.unk_index
        ids = np.fromiter((self.stoi.get(t, -1) for t in tokens), dtype=np.int64, count=len(tokens))
        bad = ids < 0
        if bad.any():
            if unk is None:
                raise self._missing_error([t for t, b in zip(tokens, bad) if b], strict)
            ids[bad] = unk
        return ids

    def _check_ids(self, ids):
        """Return ids as a 1-D int64 array, refusing ids outside [0, len)."""
        ids = np.asarray(ids)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        ids = ids.astype(np.int64).reshape(-1)
        bad = (ids < 0) | (ids >= len(self))
        if bad.any():
            raise ValueError(f"ids outside the vocabulary [0, {len(self)}): "
                             f"{sorted(set(ids[bad].tolist()))[:_MAX_LISTED]}")
        return ids


class CharVocab(_Vocab):
    """Character vocabulary: one id per Unicode character (code point).

    ``itos`` is ``[<unk>]`` (only if ``max_vocab_size`` dropped characters) followed by the kept
    characters in code-point order. Works for any script, e.g. Chinese with thousands of characters.
    ``<unk>`` decodes to the literal text ``"<unk>"``.
    """

    kind = "char"
    unit = "characters"

    def __init__(self, itos):
        super().__init__(itos)
        for tok in self.itos:
            if len(tok) != 1 and tok != UNK:
                raise ValueError(f"a character vocabulary holds single characters, got {tok!r}")
        # Sorted code points and their ids let encode() run vectorised (np.searchsorted) instead
        # of a Python loop: a 1 MB corpus encodes in milliseconds.
        chars = [(ord(t), i) for i, t in enumerate(self.itos) if t != UNK]
        chars.sort()
        self._codes = np.array([c for c, _ in chars], dtype=np.int64)
        self._code_ids = np.array([i for _, i in chars], dtype=np.int64)

    @classmethod
    def from_text(cls, text, max_vocab_size=None):
        """Build from ``text``; with ``max_vocab_size`` keep the ``max_vocab_size - 1`` most
        frequent characters plus ``<unk>`` (only when something was dropped)."""
        ranked = cls._rank(text, max_vocab_size)
        if max_vocab_size is None or len(ranked) <= max_vocab_size:
            return cls(sorted(ranked))
        # One slot goes to <unk>, so the vocabulary never exceeds max_vocab_size.
        return cls([UNK] + sorted(ranked[: int(max_vocab_size) - 1]))

    def encode(self, text, strict=False):
        """``text`` (str of N characters) -> (N,) int64 ids. Unknown characters map to ``<unk>``;
        with ``strict=True`` (or without ``<unk>``) they raise a ValueError listing them."""
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, got {type(text).__name__}")
        # utf-32 gives exactly one 4-byte unit per code point; surrogatepass keeps lone
        # surrogates (possible in Python strings) from aborting the encode.
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)
        pos = np.searchsorted(self._codes, codes)
        pos = np.minimum(pos, max(len(self._codes) - 1, 0))
        found = self._codes[pos] == codes if len(self._codes) else np.zeros(len(codes), bool)
        ids = self._code_ids[pos] if len(self._codes) else np.zeros(len(codes), np.int64)
        if not found.all():
            unk = None if strict else self.unk_index
            if unk is None:
                missing = [chr(c) for c in codes[~found].tolist()]
                raise self._missing_error(missing, strict)
            ids[~found] = unk
        return ids.astype(np.int64)

    def decode(self, ids):
        """(N,) ids -> str."""
        return "".join(self.itos[i] for i in self._check_ids(ids).tolist())


# Words (with inner apostrophes: "don't", "o'er"), each newline, and each punctuation mark are
# tokens; spaces and tabs are not, so decode() re-inserts them by the rules in detokenize_words.
_WORD_RE = re.compile(r"\n|\w+(?:['’]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = set(".,;:!?)]}%…")
_NO_SPACE_AFTER = set("([{¿¡")


def tokenize_words(text):
    """Split text into words, newlines and single punctuation marks (spaces are dropped).

    Note that scripts written without spaces (e.g. Chinese) come out as one token per run;
    use CharVocab for those.
    """
    return _WORD_RE.findall(text)


def detokenize_words(tokens):
    """Join tokens back into readable text: spaces between words, none before ``.,;:!?)``,
    none after ``(`` or a newline."""
    out = []
    prev = "\n"
    for tok in tokens:
        if tok == "\n" or prev == "\n" or prev in _NO_SPACE_AFTER or tok in _NO_SPACE_BEFORE:
            out.append(tok)
        else:
            out.append(" " + tok)
        prev = tok
    return "".join(out)


class WordVocab(_Vocab):
    """Word vocabulary over ``tokenize_words`` tokens; ``itos[0]`` is always ``<unk>``, then the
    kept tokens from most to least frequent (ties in sorted order)."""

    kind = "word"
    unit = "words"

    def __init__(self, itos):
        super().__init__(itos)
        if UNK not in self.stoi:
            raise ValueError(f"a word vocabulary must contain {UNK!r}")

    @classmethod
    def from_text(cls, text, max_vocab_size=None):
        """Build from ``text``; with ``max_vocab_size`` keep the ``max_vocab_size - 1`` most
        frequent tokens (``<unk>`` takes the remaining slot)."""
        ranked = cls._rank(tokenize_words(text), max_vocab_size)
        if max_vocab_size is not None:
            ranked = ranked[: int(max_vocab_size) - 1]   # <unk> always takes one slot
        return cls([UNK] + ranked)

    def encode(self, text, strict=False):
        """``text`` -> (N,) int64 ids, one per token of ``tokenize_words(text)``."""
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, got {type(text).__name__}")
        return self._lookup(tokenize_words(text), strict)

    def decode(self, ids):
        """(N,) ids -> readable str (see ``detokenize_words``)."""
        return detokenize_words([self.itos[i] for i in self._check_ids(ids).tolist()])


def vocab_from_dict(d):
    """Rebuild a CharVocab or WordVocab from ``to_dict()`` output, whichever it was."""
    kinds = {cls.kind: cls for cls in (CharVocab, WordVocab)}
    kind = d.get("type") if isinstance(d, dict) else None
    if kind not in kinds:
        raise ValueError(f"unknown vocabulary type {kind!r}; expected one of {sorted(kinds)}")
    return kinds[kind].from_dict(d)


# --------------------------------------------------------------------------- corpora

class CorpusDownloadWarning(UserWarning):
    """Issued when a named corpus could not be downloaded and the built-in corpus is used."""


# name -> (file name, address, sha256 of the file's bytes)
_CORPORA = {
    "tinyshakespeare": (
        "tinyshakespeare.txt",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    ),
}
_BUILTIN_NAME = "builtin"
_TIMEOUT = (10, 60)  # seconds: (connect, between bytes), so an offline machine fails fast


def cache_dir():
    """The per-user cache: ``$XDG_CACHE_HOME/scratchrnn`` or ``~/.cache/scratchrnn``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "scratchrnn"


def data_dir():
    """Where named corpora are looked for: ``$SCRATCHRNN_DATA_DIR`` if set, else ``cache_dir()``."""
    env = os.environ.get("SCRATCHRNN_DATA_DIR")
    return Path(env).expanduser() if env else cache_dir()


def load_corpus(name_or_path="tinyshakespeare", download=True, progress=True):
    """Return a training text (str).

    ``name_or_path`` is a known name (``"tinyshakespeare"``, or ``"builtin"`` for
    ``builtin_corpus()``) or the path of a UTF-8 text file. A named corpus is read from
    ``data_dir()`` or ``cache_dir()`` if a copy with the right sha256 is there; otherwise it is
    downloaded (``download=True``) into the first writable one of them. If that fails the
    function warns (CorpusDownloadWarning) and returns ``builtin_corpus()`` instead.
    """
    path = Path(os.fspath(name_or_path)).expanduser()
    # A file of that name wins over a corpus name: the user pointed at something that exists.
    if not path.exists():
        if name_or_path == _BUILTIN_NAME:
            return builtin_corpus()
        if name_or_path in _CORPORA:
            return _named_corpus(name_or_path, download, progress)
        known = ", ".join(sorted([*_CORPORA, _BUILTIN_NAME]))
        raise FileNotFoundError(f"corpus file not found: {str(path)!r} (known corpus names: {known})")
    return read_text_file(path)


def read_text_file(path):
    """Read a corpus file as UTF-8 (a leading byte-order mark is dropped; line ends are kept as
    they are). Raises a ValueError naming the file if it is empty or not valid UTF-8."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"corpus path {str(path)!r} is a directory, not a text file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"corpus file {str(path)!r} is not valid UTF-8: byte {e.start} "
                         f"(0x{data[e.start]:02x}) {e.reason}; convert it to UTF-8 first, e.g. "
                         f"with iconv -f latin1 -t utf-8") from None
    text = text[1:] if text.startswith("\ufeff") else text
    if not text:
        raise ValueError(f"corpus file {str(path)!r} is empty")
    return text


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _candidate_dirs():
    """The directories to read from, in order, without duplicates."""
    dirs = [data_dir(), cache_dir()]
    return [d for i, d in enumerate(dirs) if d not in dirs[:i]]


def _named_corpus(name, download, progress):
    filename, url, sha256 = _CORPORA[name]
    for d in _candidate_dirs():
        path = d / filename
        if path.is_file():
            if _sha256(path) == sha256:
                return read_text_file(path)
            warnings.warn(f"{path} does not have the expected sha256 {sha256}; ignoring it "
                          f"(it is replaced if a download succeeds)", CorpusDownloadWarning, 3)
    why = "downloading is switched off (download=False)"
    if download:
        try:
            return read_text_file(_download(url, filename, sha256, progress))
        except _DownloadFailed as e:
            why = str(e)
    warnings.warn(
        f"could not download the {name} corpus from {url}: {why}.\n"
        f"Falling back to the built-in corpus (scratchrnn's own source code and docs).\n"
        f"To fix this, set SCRATCHRNN_DATA_DIR to a folder that contains {filename} "
        f"(sha256 {sha256}), or pass --data_file with any UTF-8 text file.",
        CorpusDownloadWarning, 3)
    return builtin_corpus()


class _DownloadFailed(Exception):
    """The network or the disk let us down: load_corpus falls back instead of failing."""


def _writable(d):
    """True if we may put files in ``d`` (created if missing). A directory without any write
    permission bit counts as read-only even for root, who could write there anyway: the shared
    data folder is made read-only that way on purpose."""
    try:
        d.mkdir(parents=True, exist_ok=True)
        mode = d.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(d, os.W_OK | os.X_OK)


def _download(url, filename, sha256, progress):
    """Download ``url`` into the first writable candidate dir as ``filename``; return the path.

    The bytes go to a temporary file in the same directory and are moved into place with
    ``os.replace`` only after the sha256 matched, so a crash or a bad download never leaves a
    half-written ``filename`` behind. A checksum mismatch raises ValueError; network and disk
    errors raise _DownloadFailed.
    """
    import requests  # imported here so that the rest of the module works without it

    target = next((d for d in _candidate_dirs() if _writable(d)), None)
    if target is None:
        raise _DownloadFailed(f"none of {[str(d) for d in _candidate_dirs()]} is writable")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=target)
    except OSError as e:
        raise _DownloadFailed(f"cannot write to {target}: {e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            digest = _stream_to(f, url, requests, progress)
            f.flush()
            os.fsync(f.fileno())
        if digest != sha256:
            raise ValueError(f"checksum mismatch for {url}: got sha256 {digest}, expected {sha256}; "
                             f"the download was discarded")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; this is a shared, public text
        os.replace(tmp, target / filename)
    except requests.RequestException as e:
        raise _DownloadFailed(f"{type(e).__name__}: {e}") from None
    except OSError as e:
        raise _DownloadFailed(f"could not save it in {target}: {e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target / filename


def _stream_to(f, url, requests, progress):
    """Write the body of ``url`` to the open file ``f``; return its sha256 hex digest."""
    h = hashlib.sha256()
    # identity encoding: otherwise Content-Length counts gzip bytes and the bar would overshoot.
    with closing(requests.get(url, stream=True, timeout=_TIMEOUT,
                              headers={"Accept-Encoding": "identity"})) as r:
        r.raise_for_status()
        total = int(r.headers.get("Content-Length") or 0)
        done = 0
        for chunk in r.iter_content(chunk_size=1 << 16):
            f.write(chunk)
            h.update(chunk)
            done += len(chunk)
            if progress:
                _progress_bar(done, total)
    if progress:
        sys.stderr.write("\n")
    return h.hexdigest()


def _progress_bar(done, total, width=30):
    """One ``\\r``-refreshed line on stderr, e.g. ``download [#####.....]  45%  502/1089 KiB``."""
    if total > 0:
        frac = min(done / total, 1.0)
        bar = "#" * int(frac * width)
        line = f"download [{bar:<{width}}] {frac:4.0%} {done // 1024}/{total // 1024} KiB"
    else:
        line = f"download {done // 1024} KiB"
    sys.stderr.write("\r" + line)
    sys.stderr.flush()


def builtin_corpus():
    """The text the library always carries: its own ``*.py`` files, then any ``*.md`` files in
    the package folder, each sorted by relative path and headed by its name (like char-rnn
    trained on source code). Used when no real corpus can be had."""
    root = Path(__file__).resolve().parent
    files = sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix())
    files += sorted(root.rglob("*.md"), key=lambda p: p.relative_to(root).as_posix())
    parts = []
    for p in files:
        # errors="replace": this is the last resort and must never fail on an odd byte.
        body = p.read_text(encoding="utf-8", errors="replace")
        parts.append(f"# ---- {root.name}/{p.relative_to(root).as_posix()} ----\n{body}")
    return "\n".join(parts)


# --------------------------------------------------------------------------- splits and batches

def split_corpus(ids, val_frac=0.05, test_frac=0.05):
    """Cut (N,) ids into contiguous (train, val, test) pieces, in that order.

    Contiguous rather than shuffled: the model learns from running text, and a shuffled split
    would leak neighbouring text from training into validation. Sizes are
    ``floor(N * val_frac)`` and ``floor(N * test_frac)``; train gets the rest. Returns views.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if ids.size == 0:
        raise ValueError("cannot split an empty corpus (0 tokens)")
    for name, frac in (("val_frac", val_frac), ("test_frac", test_frac)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {frac}")
    if val_frac + test_frac >= 1.0:
        raise ValueError(f"val_frac + test_frac must be < 1 to leave training data, "
                         f"got {val_frac} + {test_frac}")
    n = ids.size
    n_val, n_test = int(n * val_frac), int(n * test_frac)
    n_train = n - n_val - n_test
    return ids[:n_train], ids[n_train:n_train + n_val], ids[n_train + n_val:]


class BatchStream:
    """Truncated-BPTT batches over one long id sequence.

    The ids are cut into ``batch_size`` contiguous streams (column ``b`` of every batch is
    stream ``b``); each batch is the next ``seq_length`` tokens of every stream::

        x, y: (seq_length, batch_size) int64, time-major; y[t, b] is the token after x[t, b]

    so the hidden state at the end of one batch is the right initial state for the next
    (carry it over, detached). ``len(stream)`` batches make an epoch; ``batch_size * len(stream)
    * seq_length`` tokens are used and the tail that does not fill a whole batch is dropped.

    Iterating yields the rest of the current epoch, then the epoch counter advances; stopping
    early and iterating again continues where it stopped. ``next_batch()`` never stops (it
    wraps into the next epoch). ``state_dict()`` / ``load_state_dict()`` save the position for
    an exact resume.
    """

    def __init__(self, ids, batch_size, seq_length, name="the data"):
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        for arg, value in (("batch_size", batch_size), ("seq_length", seq_length)):
            if int(value) != value or value < 1:
                raise ValueError(f"{arg} must be a positive integer, got {value!r}")
        self.batch_size, self.seq_length = int(batch_size), int(seq_length)
        self.num_tokens = int(ids.size)
        B, T = self.batch_size, self.seq_length
        if ids.size == 0:
            raise ValueError(f"{name} is empty (0 tokens); there is nothing to train on")
        # y is x shifted by one over the whole sequence, so one extra token is needed.
        self._num_batches = (ids.size - 1) // (B * T)
        if self._num_batches == 0:
            raise ValueError(f"{name} has {ids.size} tokens but batch_size={B} x seq_length={T} "
                             f"needs at least {B * T + 1}; use a longer text or smaller "
                             f"--batch_size/--seq_length")
        used = self._num_batches * B * T
        # (S, B) time-major and C-contiguous, so that a batch is one contiguous row slice.
        self._x = np.ascontiguousarray(ids[:used].astype(np.int64).reshape(B, -1).T)
        self._y = np.ascontiguousarray(ids[1:used + 1].astype(np.int64).reshape(B, -1).T)
        self.epoch = 0
        self.position = 0   # index of the next batch within the epoch

    def __len__(self):
        """Batches per epoch."""
        return self._num_batches

    def batch(self, i):
        """Batch ``i`` of an epoch as copies ``(x, y)``, each (seq_length, batch_size) int64."""
        if not 0 <= i < len(self):
            raise IndexError(f"batch index {i} out of range [0, {len(self)})")
        rows = slice(i * self.seq_length, (i + 1) * self.seq_length)
        return self._x[rows].copy(), self._y[rows].copy()

    def next_batch(self):
        """The next batch; moves the position on (into the next epoch after the last batch)."""
        x, y = self.batch(self.position)
        self.position += 1
        if self.position == len(self):
            self.position, self.epoch = 0, self.epoch + 1
        return x, y

    def __iter__(self):
        """Yield the remaining batches of the current epoch."""
        while True:
            x, y = self.next_batch()
            yield x, y
            if self.position == 0:
                return

    def reset(self):
        """Back to the first batch of the current epoch (e.g. before each validation pass)."""
        self.position = 0

    def state_dict(self):
        """JSON-friendly position plus the geometry it is only valid for."""
        return {"epoch": self.epoch, "position": self.position, "batch_size": self.batch_size,
                "seq_length": self.seq_length, "num_tokens": self.num_tokens}

    def load_state_dict(self, state):
        """Restore a position saved by ``state_dict()``; the stream must have the same geometry."""
        mismatched = [f"{k}: saved {state.get(k)!r}, now {getattr(self, k)!r}"
                      for k in ("batch_size", "seq_length", "num_tokens")
                      if state.get(k) != getattr(self, k)]
        if mismatched:
            raise ValueError("cannot resume this BatchStream, the data or batch geometry "
                             "changed: " + "; ".join(mismatched))
        position = int(state["position"])
        if not 0 <= position < len(self):
            raise ValueError(f"saved position {position} out of range [0, {len(self)})")
        self.epoch, self.position = int(state["epoch"]), position
