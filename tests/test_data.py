"""Tests for scratchrnn.data: vocabularies, corpus loading (downloads mocked), splits, batches."""
import hashlib
import json
import stat
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import requests

from scratchrnn import data
from scratchrnn.data import (UNK, BatchStream, CharVocab, CorpusDownloadWarning, WordVocab,
                             builtin_corpus, load_corpus, split_corpus, vocab_from_dict)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TINY_SHA = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own user cache and no SCRATCHRNN_DATA_DIR, so nothing reads or
    writes the real ~/.cache, and no test can download into the shared folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SCRATCHRNN_DATA_DIR", raising=False)
    return tmp_path / "xdg" / "scratchrnn"


@pytest.fixture
def no_network(monkeypatch):
    """requests.get fails like an offline machine, and counts how often it was called."""
    calls = []

    def get(url, **kwargs):
        calls.append(url)
        raise requests.ConnectionError("Failed to resolve 'raw.githubusercontent.com'")

    monkeypatch.setattr(requests, "get", get)
    return calls


def zipf_chinese(n_distinct=3500, n_samples=100_000, seed=0):
    """Chinese-like text: n_distinct CJK characters, Zipf frequencies, every one present."""
    rng = np.random.default_rng(seed)
    chars = np.array([chr(0x4E00 + i) for i in range(n_distinct)])
    p = 1.0 / np.arange(1, n_distinct + 1)
    sample = rng.choice(chars, size=n_samples, p=p / p.sum())
    return "".join(chars) + "。\n" + "".join(sample)


# --------------------------------------------------------------------------- CharVocab

def test_char_vocab_round_trip_and_order():
    text = "hello world\nhello!"
    v = CharVocab.from_text(text)
    assert v.itos == sorted(set(text))          # no <unk>: nothing was dropped
    assert v.unk_index is None
    ids = v.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert [v.itos[i] for i in ids] == list(text)
    assert v.decode(ids) == text
    assert all(v.stoi[c] == i for i, c in enumerate(v.itos))


def test_char_vocab_to_dict_from_dict_through_json():
    v = CharVocab.from_text("zebra\tapple é ✓\n", max_vocab_size=5)
    d = json.loads(json.dumps(v.to_dict()))
    w = CharVocab.from_dict(d)
    assert w.itos == v.itos and w.stoi == v.stoi and w == v
    assert vocab_from_dict(d) == v
    with pytest.raises(ValueError, match="'char' vocabulary, not a 'word'"):
        WordVocab.from_dict(d)


def test_char_vocab_chinese_thousands_of_characters():
    text = zipf_chinese()
    v = CharVocab.from_text(text)
    assert len(v) == 3502                       # 3500 ideographs + "。" + "\n"
    assert v.decode(v.encode(text)) == text
    assert vocab_from_dict(json.loads(json.dumps(v.to_dict(), ensure_ascii=False))).itos == v.itos


def test_char_vocab_max_size_keeps_most_frequent_and_maps_rest_to_unk():
    text = zipf_chinese()
    v = CharVocab.from_text(text, max_vocab_size=1000)
    assert len(v) == 1000 and v.itos[0] == UNK and v.unk_index == 0
    counts = Counter(text)
    expected = sorted(counts, key=lambda c: (-counts[c], c))[:999]
    assert set(v.itos[1:]) == set(expected)
    assert v.itos[1:] == sorted(expected)       # deterministic order
    rare = min(counts, key=lambda c: (counts[c], c))
    assert rare not in v.stoi
    ids = v.encode("一" + rare)
    assert ids.tolist() == [v.stoi["一"], 0]
    assert v.decode(ids) == "一" + UNK
    # same text -> same vocabulary
    assert CharVocab.from_text(text, max_vocab_size=1000).itos == v.itos


def test_char_vocab_ties_broken_deterministically():
    a = CharVocab.from_text("dcba", max_vocab_size=3)   # all counts equal
    b = CharVocab.from_text("abcd", max_vocab_size=3)
    assert a.itos == b.itos == [UNK, "a", "b"]


def test_strict_encode_lists_missing_characters():
    v = CharVocab.from_text("abc de", max_vocab_size=10)
    with pytest.raises(ValueError) as e:
        v.encode("a é b ✓ é", strict=True)
    msg = str(e.value)
    assert "characters not in the vocabulary" in msg
    assert "'é'" in msg and "'✓'" in msg and msg.count("'é'") == 1
    assert "'a'" not in msg
    assert "use only characters seen in training" in msg


def test_encode_without_unk_refuses_unknown_characters():
    v = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"no <unk>.*'z'"):
        v.encode("abz")
    # with <unk>, non-strict maps, strict raises
    u = CharVocab.from_text("aabc", max_vocab_size=2)
    assert u.itos == [UNK, "a"]
    assert u.encode("abz").tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="'b', 'z'"):
        u.encode("abz", strict=True)


def test_strict_error_lists_at_most_a_few_then_counts():
    v = CharVocab.from_text("a")
    with pytest.raises(ValueError, match=r"\.\.\. and 80 more"):
        v.encode("".join(chr(0x4E00 + i) for i in range(100)), strict=True)


def test_decode_rejects_out_of_range_ids():
    v = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.decode([0, 3])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.decode(np.array([-1]))


def test_vocab_errors():
    with pytest.raises(ValueError, match="empty"):
        CharVocab.from_text("")
    with pytest.raises(ValueError, match="max_vocab_size"):
        CharVocab.from_text("abc", max_vocab_size=1)
    with pytest.raises(ValueError, match="duplicate"):
        CharVocab(["a", "a"])
    with pytest.raises(ValueError, match="unknown vocabulary type"):
        vocab_from_dict({"type": "bpe", "itos": ["a"]})


# --------------------------------------------------------------------------- WordVocab

def test_word_tokenizer_keeps_newlines_and_punctuation():
    toks = data.tokenize_words("KING:\nWhat, ho! I'll go.")
    assert toks == ["KING", ":", "\n", "What", ",", "ho", "!", "I'll", "go", "."]


def test_word_vocab_round_trip_is_readable():
    text = "First Citizen:\nBefore we proceed, hear me speak.\n\nAll:\nSpeak (speak)!"
    v = WordVocab.from_text(text)
    assert v.itos[0] == UNK
    assert v.decode(v.encode(text)) == text
    w = WordVocab.from_dict(json.loads(json.dumps(v.to_dict())))
    assert w.itos == v.itos


def test_word_vocab_max_size_and_unk():
    text = "the cat the dog the cat a bird"
    v = WordVocab.from_text(text, max_vocab_size=3)
    assert v.itos == [UNK, "the", "cat"]         # by frequency
    assert v.encode("the bird").tolist() == [1, 0]
    assert v.decode([1, 0, 2]) == f"the {UNK} cat"
    with pytest.raises(ValueError) as e:
        v.encode("the bird dog bird", strict=True)
    assert "words not in the vocabulary: 'bird', 'dog'" in str(e.value)
    # always has <unk>, even when nothing was dropped
    assert WordVocab.from_text("a b").itos == [UNK, "a", "b"]
    with pytest.raises(ValueError, match="<unk>"):
        WordVocab(["a", "b"])


# --------------------------------------------------------------------------- corpus files

def test_load_corpus_from_file_utf8(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes("\ufeffhéllo 世界\r\n".encode("utf-8"))
    assert load_corpus(p) == "héllo 世界\r\n"    # BOM dropped, line ends kept
    assert load_corpus(str(p)) == "héllo 世界\r\n"


def test_load_corpus_not_utf8_names_file_and_byte(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes(b"hello \xe9t\xe9")
    with pytest.raises(ValueError) as e:
        load_corpus(p)
    assert "latin1.txt" in str(e.value) and "not valid UTF-8" in str(e.value)
    assert "byte 6" in str(e.value)


def test_load_corpus_empty_and_missing(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt.* is empty"):
        load_corpus(p)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_corpus(tmp_path / "nope.txt")
    with pytest.raises(IsADirectoryError):
        load_corpus(tmp_path)


# --------------------------------------------------------------------------- named corpus

def test_data_dir_and_cache_dir(monkeypatch, tmp_path, isolated_dirs):
    assert data.cache_dir() == isolated_dirs
    assert data.data_dir() == isolated_dirs
    monkeypatch.setenv("SCRATCHRNN_DATA_DIR", str(tmp_path / "d"))
    assert data.data_dir() == tmp_path / "d"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.cache_dir() == Path.home() / ".cache" / "scratchrnn"


@pytest.mark.skipif(not (SHARED_DATA / "tinyshakespeare.txt").is_file(),
                    reason="shared data folder with tinyshakespeare.txt not present")
def test_tinyshakespeare_from_shared_data_dir(monkeypatch, no_network, isolated_dirs):
    monkeypatch.setenv("SCRATCHRNN_DATA_DIR", str(SHARED_DATA))
    text = load_corpus("tinyshakespeare")
    assert no_network == []                       # found locally: no download attempted
    assert len(text) == 1_115_394 and len(set(text)) == 65
    assert text.startswith("First Citizen:\nBefore we proceed")
    assert not isolated_dirs.exists() or not any(isolated_dirs.iterdir())


class FakeResponse:
    """Enough of a streamed requests.Response for data._download."""

    def __init__(self, body, status=200, chunk=1000, fail_after=None, on_chunk=None):
        self.body, self.status, self.chunk = body, status, chunk
        self.fail_after, self.on_chunk = fail_after, on_chunk
        self.headers = {"Content-Length": str(len(body))}
        self.closed = False

    def raise_for_status(self):
        if self.status >= 400:
            raise requests.HTTPError(f"{self.status} Client Error: Not Found")

    def iter_content(self, chunk_size=1):
        for k, i in enumerate(range(0, len(self.body), self.chunk)):
            if self.fail_after is not None and k == self.fail_after:
                raise requests.ConnectionError("Connection reset by peer")
            if self.on_chunk:
                self.on_chunk()
            yield self.body[i:i + self.chunk]

    def close(self):
        self.closed = True


BODY = ("Fake Citizen:\nSpeak, speak.\n" * 200).encode("utf-8")


@pytest.fixture
def fake_corpus(monkeypatch):
    """Point the tinyshakespeare entry at BODY's checksum; return a list of fake responses made."""
    filename, url, _ = data._CORPORA["tinyshakespeare"]
    monkeypatch.setitem(data._CORPORA, "tinyshakespeare",
                        (filename, url, hashlib.sha256(BODY).hexdigest()))
    return url


def serve(monkeypatch, **response_kwargs):
    made = []

    def get(url, **kwargs):
        assert kwargs.get("stream") is True and kwargs.get("timeout")
        made.append(FakeResponse(response_kwargs.pop("body", BODY), **response_kwargs))
        return made[-1]

    monkeypatch.setattr(requests, "get", get)
    return made


def test_download_success_is_atomic_and_cached(monkeypatch, fake_corpus, isolated_dirs, capsys):
    final = isolated_dirs / "tinyshakespeare.txt"
    seen_partial = []

    def check_not_yet_in_place():
        seen_partial.append(final.exists())

    made = serve(monkeypatch, on_chunk=check_not_yet_in_place)
    text = load_corpus("tinyshakespeare")
    assert text == BODY.decode("utf-8")
    assert seen_partial and not any(seen_partial)   # final name appears only when complete
    assert final.read_bytes() == BODY
    assert sorted(p.name for p in isolated_dirs.iterdir()) == ["tinyshakespeare.txt"]
    assert made[0].closed
    assert "100%" in capsys.readouterr().err       # progress bar on stderr
    # second call: from the cache, no request
    monkeypatch.setattr(requests, "get", lambda *a, **k: pytest.fail("downloaded twice"))
    assert load_corpus("tinyshakespeare") == text


def test_download_checksum_mismatch_raises_and_leaves_no_file(monkeypatch, fake_corpus,
                                                              isolated_dirs):
    serve(monkeypatch, body=BODY + b"tampered")
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_corpus("tinyshakespeare", progress=False)
    assert list(isolated_dirs.iterdir()) == []     # neither the file nor a temp file


def test_download_real_checksum_is_checked(monkeypatch, isolated_dirs):
    # With the real sha256, a body that is not tinyshakespeare must be refused.
    serve(monkeypatch)
    with pytest.raises(ValueError, match=TINY_SHA):
        load_corpus("tinyshakespeare", progress=False)
    assert list(isolated_dirs.iterdir()) == []


def test_offline_falls_back_to_builtin_corpus_with_warning(no_network, isolated_dirs):
    with pytest.warns(CorpusDownloadWarning) as w:
        text = load_corpus("tinyshakespeare")
    msg = str(w[0].message)
    assert "could not download" in msg and "ConnectionError" in msg
    assert "SCRATCHRNN_DATA_DIR" in msg and "--data_file" in msg
    assert text == builtin_corpus()
    assert len(no_network) == 1
    assert not (isolated_dirs / "tinyshakespeare.txt").exists()


@pytest.mark.parametrize("kwargs", [{"fail_after": 2}, {"status": 404}])
def test_interrupted_or_http_error_falls_back_and_leaves_no_file(monkeypatch, fake_corpus,
                                                                 isolated_dirs, kwargs):
    serve(monkeypatch, **kwargs)
    with pytest.warns(CorpusDownloadWarning, match="could not download"):
        text = load_corpus("tinyshakespeare", progress=False)
    assert text == builtin_corpus()
    assert list(isolated_dirs.iterdir()) == []


def test_read_only_data_dir_downloads_into_user_cache(monkeypatch, tmp_path, fake_corpus,
                                                      isolated_dirs):
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    monkeypatch.setenv("SCRATCHRNN_DATA_DIR", str(ro))
    try:
        serve(monkeypatch)
        assert load_corpus("tinyshakespeare", progress=False) == BODY.decode()
        assert list(ro.iterdir()) == []                       # even root must not write there
        assert (isolated_dirs / "tinyshakespeare.txt").read_bytes() == BODY
    finally:
        ro.chmod(stat.S_IRWXU)


def test_writable_data_dir_with_bad_copy_is_replaced(monkeypatch, tmp_path, fake_corpus):
    d = tmp_path / "mydata"
    d.mkdir()
    (d / "tinyshakespeare.txt").write_text("not it")
    monkeypatch.setenv("SCRATCHRNN_DATA_DIR", str(d))
    serve(monkeypatch)
    with pytest.warns(CorpusDownloadWarning, match="expected sha256"):
        assert load_corpus("tinyshakespeare", progress=False) == BODY.decode()
    assert (d / "tinyshakespeare.txt").read_bytes() == BODY


def test_download_false_does_not_touch_network(no_network):
    with pytest.warns(CorpusDownloadWarning, match="download=False"):
        load_corpus("tinyshakespeare", download=False)
    assert no_network == []


def test_unknown_name_error_lists_known_names():
    with pytest.raises(FileNotFoundError, match="tinyshakespeare"):
        load_corpus("no_such_corpus")


def test_builtin_corpus_is_the_library_source_and_deterministic():
    text = builtin_corpus()
    assert text == builtin_corpus() == load_corpus("builtin")
    assert "# ---- scratchrnn/data.py ----" in text
    assert "class BatchStream" in text
    assert text.index("scratchrnn/__init__.py ----") < text.index("scratchrnn/data.py ----")


# --------------------------------------------------------------------------- splits

def test_split_corpus_contiguous():
    ids = np.arange(1000)
    train, val, test = split_corpus(ids, val_frac=0.1, test_frac=0.05)
    assert (len(train), len(val), len(test)) == (850, 100, 50)
    np.testing.assert_array_equal(np.concatenate([train, val, test]), ids)
    train, val, test = split_corpus(ids, val_frac=0.0, test_frac=0.0)
    assert len(train) == 1000 and len(val) == len(test) == 0
    with pytest.raises(ValueError, match="empty corpus"):
        split_corpus(np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="< 1"):
        split_corpus(ids, 0.5, 0.5)


# --------------------------------------------------------------------------- batches

def test_batch_shapes_and_shift():
    B, T = 4, 5
    ids = np.arange(103)
    s = BatchStream(ids, batch_size=B, seq_length=T)
    assert len(s) == (103 - 1) // (B * T) == 5
    batches = list(s)
    assert len(batches) == 5
    S = len(s) * T                                  # tokens per stream
    for i, (x, y) in enumerate(batches):
        assert x.shape == y.shape == (T, B) and x.dtype == y.dtype == np.int64
        np.testing.assert_array_equal(y[:-1], x[1:])     # y is x shifted by one ...
        np.testing.assert_array_equal(y, x + 1)          # ... within the original sequence
        # time-major: column b is stream b, rows are consecutive tokens
        expected = np.arange(B)[None, :] * S + i * T + np.arange(T)[:, None]
        np.testing.assert_array_equal(x, expected)


def test_streams_continue_across_batches():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, size=1001)
    B, T = 3, 7
    s = BatchStream(ids, B, T)
    xs, ys = zip(*s)
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)   # (S, B)
    S = x_all.shape[0]
    for b in range(B):
        np.testing.assert_array_equal(x_all[:, b], ids[b * S:(b + 1) * S])
        np.testing.assert_array_equal(y_all[:, b], ids[b * S + 1:(b + 1) * S + 1])
    for k in range(len(xs) - 1):                    # last target of one batch = next first input
        np.testing.assert_array_equal(ys[k][-1], xs[k + 1][0])


def test_batches_are_copies():
    s = BatchStream(np.arange(50), 2, 3)
    x, _ = s.next_batch()
    x[:] = -1
    s.reset()
    assert s.next_batch()[0].min() >= 0


def test_epochs_and_early_stop_resume():
    s = BatchStream(np.arange(100), 3, 4)
    n = len(s)
    it = iter(s)
    first = [next(it) for _ in range(2)]
    assert (s.epoch, s.position) == (0, 2)
    rest = list(s)                                  # continues the same epoch
    assert len(rest) == n - 2 and (s.epoch, s.position) == (1, 0)
    np.testing.assert_array_equal(rest[0][0], s.batch(2)[0])
    np.testing.assert_array_equal(first[0][0], s.next_batch()[0])   # next epoch starts over


def test_state_dict_round_trip_exact_resume():
    ids = np.random.default_rng(1).integers(0, 65, size=5000)
    a = BatchStream(ids, 8, 10)
    for _ in range(len(a) + 3):                     # into the second epoch
        a.next_batch()
    state = json.loads(json.dumps(a.state_dict()))
    assert state["epoch"] == 1 and state["position"] == 3
    b = BatchStream(ids, 8, 10)
    b.load_state_dict(state)
    for _ in range(len(a) + 2):
        (xa, ya), (xb, yb) = a.next_batch(), b.next_batch()
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert a.state_dict() == b.state_dict()
    with pytest.raises(ValueError, match="batch_size: saved 8, now 4"):
        BatchStream(ids, 4, 10).load_state_dict(state)


def test_too_short_error_states_minimum_length():
    B, T = 32, 64
    with pytest.raises(ValueError) as e:
        BatchStream(np.zeros(120, dtype=np.int64), B, T, name="the training split")
    msg = str(e.value)
    assert "the training split has 120 tokens" in msg
    assert "batch_size=32 x seq_length=64 needs at least 2049" in msg
    assert "--batch_size/--seq_length" in msg
    # exactly the minimum is enough, one fewer is not
    assert len(BatchStream(np.zeros(B * T + 1, dtype=np.int64), B, T)) == 1
    with pytest.raises(ValueError, match="needs at least 2049"):
        BatchStream(np.zeros(B * T, dtype=np.int64), B, T)


def test_batch_stream_argument_errors():
    with pytest.raises(ValueError, match="empty"):
        BatchStream(np.array([], dtype=np.int64), 2, 3)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        BatchStream(np.arange(100), 0, 3)
    with pytest.raises(TypeError, match="integers"):
        BatchStream(np.linspace(0, 1, 100), 2, 3)


def test_end_to_end_char_pipeline():
    text = zipf_chinese(n_distinct=500, n_samples=20_000)
    v = CharVocab.from_text(text)
    train, val, _ = split_corpus(v.encode(text))
    s = BatchStream(train, 16, 32)
    x, y = s.next_batch()
    assert x.max() < len(v) and y.min() >= 0
    assert v.decode(x[:, 0]) == text[:32]
