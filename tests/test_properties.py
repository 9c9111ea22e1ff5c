"""Property-based tests (hypothesis): shapes, lengths, dtypes, texts and bytes drawn at random.

Layers and cells (shapes, masks, carried states, backward shapes, float32 vs float64),
vocabularies and batching over random Unicode, checkpoints (round trips, damage), samplers
(top-k / top-p never pick an excluded token), optimisers and clipping.

By default the examples are derandomized (the same examples on every run, as CI needs);
``HYPOTHESIS_PROFILE=explore python -m pytest tests/test_properties.py`` draws new ones each run
and tries ten times as many.
"""
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from scratchrnn import optim  # noqa: E402
from scratchrnn.checkpoint import (CheckpointError, charlm_parameter_shapes,  # noqa: E402
                                   load_checkpoint, load_model, save_checkpoint)
from scratchrnn.data import (UNK, BatchStream, CharVocab, WordVocab, split_corpus,  # noqa: E402
                             vocab_from_dict)
from scratchrnn.models import CharLM  # noqa: E402
from scratchrnn.nn import (GRU, LSTM, RNN, Dropout, Embedding, GRUCell, Linear,  # noqa: E402
                           LSTMCell, Parameter, RNNCell, no_grad, softmax_cross_entropy)
from scratchrnn.sampling import filter_probs, sample  # noqa: E402

settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"


def bounded(n):
    """A test's example budget (ten times more when exploring)."""
    return settings(max_examples=10 * n if EXPLORE else n, deadline=None)


LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


@st.composite
def layer_setups(draw, bidirectional=None, batch_first=None):
    kind = draw(st.sampled_from(sorted(LAYERS)))
    T, B = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    D, H = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    layers = draw(st.integers(1, 3))
    bidir = draw(st.booleans()) if bidirectional is None else bidirectional
    bfirst = draw(st.booleans()) if batch_first is None else batch_first
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2 ** 16))
    kwargs = dict(num_layers=layers, bidirectional=bidir, batch_first=bfirst, bias=bias)
    if kind == "rnn":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if kind == "gru":
        kwargs["reset_after"] = draw(st.booleans())
    return kind, T, B, D, H, kwargs, seed


def build(kind, D, H, kwargs, seed, dtype=np.float64):
    return LAYERS[kind](D, H, dtype=dtype, rng=np.random.default_rng(seed), **kwargs)


def state_parts(h):
    return list(h) if isinstance(h, tuple) else [h]


def time_major(a, batch_first):
    return a.transpose(1, 0, 2) if batch_first else a


# ====================================================================== sequence layers
@bounded(40)
@given(layer_setups(), st.data())
def test_layer_forward_and_backward_shapes(setup, data):
    kind, T, B, D, H, kwargs, seed = setup
    layer = build(kind, D, H, kwargs, seed)
    dirs = 2 if kwargs["bidirectional"] else 1
    shape = (B, T, D) if kwargs["batch_first"] else (T, B, D)
    x = np.random.default_rng(seed).standard_normal(shape)
    out, h = layer(x)
    assert out.shape == shape[:2] + (dirs * H,)
    for part in state_parts(h):
        assert part.shape == (kwargs["num_layers"] * dirs, B, H)
    dout = np.random.default_rng(seed + 1).standard_normal(out.shape)
    dx, dh0 = layer.backward(dout)
    assert dx.shape == x.shape and np.isfinite(dx).all()
    for part in state_parts(dh0):
        assert part.shape == (kwargs["num_layers"] * dirs, B, H) and np.isfinite(part).all()
    for name, p in layer.named_parameters():
        assert p.grad.shape == p.data.shape and np.isfinite(p.grad).all(), name


@bounded(40)
@given(layer_setups(), st.data())
def test_padded_outputs_are_zero_and_each_sequence_ends_where_it_would_alone(setup, data):
    """With lengths, out[t, b] is zero for t >= lengths[b], and every sequence's outputs and
    final state are those of running it alone, cut to its length (both directions)."""
    kind, T, B, D, H, kwargs, seed = setup
    layer = build(kind, D, H, kwargs, seed)
    lengths = np.array(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B)))
    bf = kwargs["batch_first"]
    x = np.random.default_rng(seed).standard_normal((T, B, D))
    with no_grad():
        out, h = layer(time_major(x, bf), lengths=lengths)
        out = time_major(out, bf)
        for b in range(B):
            n = lengths[b]
            assert not out[n:, b].any()
            alone_out, alone_h = layer(time_major(x[:n, b:b + 1], bf))
            np.testing.assert_allclose(out[:n, b], time_major(alone_out, bf)[:, 0],
                                       rtol=1e-10, atol=1e-12)
            for part, alone in zip(state_parts(h), state_parts(alone_h)):
                np.testing.assert_allclose(part[:, b], alone[:, 0], rtol=1e-10, atol=1e-12)


@bounded(30)
@given(layer_setups(), st.data())
def test_padding_never_reaches_a_gradient(setup, data):
    kind, T, B, D, H, kwargs, seed = setup
    layer = build(kind, D, H, kwargs, seed)
    lengths = np.array(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B)))
    bf = kwargs["batch_first"]
    x = np.random.default_rng(seed).standard_normal((T, B, D))
    padded = x.copy()
    for b in range(B):
        padded[lengths[b]:, b] = 1e6          # garbage past each end
    out, _ = layer(time_major(padded, bf), lengths=lengths)
    dout = np.random.default_rng(seed + 1).standard_normal(out.shape)
    dx, _ = layer.backward(dout)
    dx = time_major(dx, bf)
    grads = {n: p.grad.copy() for n, p in layer.named_parameters()}
    for b in range(B):
        assert not dx[lengths[b]:, b].any()
    layer.zero_grad()
    out2, _ = layer(time_major(np.where(padded == 1e6, 0.0, padded), bf), lengths=lengths)
    layer.backward(dout)
    np.testing.assert_array_equal(out, out2)
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, grads[n], rtol=1e-12, atol=1e-12, err_msg=n)


@bounded(30)
@given(layer_setups(bidirectional=False), st.data())
def test_the_state_carried_between_chunks_continues_the_sequence(setup, data):
    """forward(x[:k]) then forward(x[k:], h) gives what forward(x) gives (truncated BPTT)."""
    kind, T, B, D, H, kwargs, seed = setup
    assume(T >= 2)
    k = data.draw(st.integers(1, T - 1))
    layer = build(kind, D, H, kwargs, seed)
    bf = kwargs["batch_first"]
    x = np.random.default_rng(seed).standard_normal((T, B, D))
    with no_grad():
        whole, h_whole = layer(time_major(x, bf))
        first, h = layer(time_major(x[:k], bf))
        second, h_end = layer(time_major(x[k:], bf), h)
    joined = np.concatenate([time_major(first, bf), time_major(second, bf)])
    np.testing.assert_allclose(joined, time_major(whole, bf), rtol=1e-10, atol=1e-12)
    for a, b in zip(state_parts(h_end), state_parts(h_whole)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@bounded(30)
@given(layer_setups())
def test_float32_and_float64_layers_agree(setup):
    kind, T, B, D, H, kwargs, seed = setup
    f64 = build(kind, D, H, kwargs, seed)
    f32 = build(kind, D, H, kwargs, seed, dtype=np.float32)
    f32.load_state_dict(f64.state_dict())
    shape = (B, T, D) if kwargs["batch_first"] else (T, B, D)
    x = np.random.default_rng(seed).standard_normal(shape)
    out64, h64 = f64(x)
    out32, h32 = f32(x.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-4)
    for a, b in zip(state_parts(h32), state_parts(h64)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    dout = np.random.default_rng(seed + 1).standard_normal(out64.shape)
    dx64, _ = f64.backward(dout)
    dx32, _ = f32.backward(dout.astype(np.float32))
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, dx64, rtol=1e-3, atol=1e-3)


@bounded(25)
@given(layer_setups(), st.data())
def test_the_batch_entries_are_independent(setup, data):
    """Permuting the batch permutes the outputs and states: no mixing across sequences."""
    kind, T, B, D, H, kwargs, seed = setup
    perm = np.array(data.draw(st.permutations(range(B))))
    layer = build(kind, D, H, kwargs, seed)
    x = np.random.default_rng(seed).standard_normal((T, B, D))
    lengths = np.array(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B)))
    bf = kwargs["batch_first"]
    with no_grad():
        out, h = layer(time_major(x, bf), lengths=lengths)
        out_p, h_p = layer(time_major(x[:, perm], bf), lengths=lengths[perm])
    np.testing.assert_allclose(time_major(out_p, bf), time_major(out, bf)[:, perm], rtol=1e-12,
                               atol=1e-12)
    for a, b in zip(state_parts(h_p), state_parts(h)):
        np.testing.assert_allclose(a, b[:, perm], rtol=1e-12, atol=1e-12)


# ====================================================================== cells
CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


@bounded(40)
@given(st.sampled_from(sorted(CELLS)), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 4), st.booleans(), st.integers(0, 2 ** 16))
def test_cells_unrolled_are_the_one_layer_sequence_layer(kind, T, B, D, H, bias, seed):
    """A forward loop over the cell then a reversed backward loop (BPTT by hand) gives the
    layer's outputs, input gradients, initial-state gradients and parameter gradients."""
    layer = LAYERS[kind](D, H, bias=bias, dtype=np.float64, rng=np.random.default_rng(seed))
    cell = CELLS[kind](D, H, bias=bias, dtype=np.float64)
    cell.load_state_dict({k.replace("_l0", ""): v for k, v in layer.state_dict().items()})
    rng = np.random.default_rng(seed + 1)
    x, dout = rng.standard_normal((T, B, D)), rng.standard_normal((T, B, H))
    out, _ = layer(x)
    dx, dh0 = layer.backward(dout)
    state, hs = None, []
    for t in range(T):
        state = cell(x[t], state)
        hs.append(state[0] if kind == "lstm" else state)
    np.testing.assert_allclose(np.stack(hs), out, rtol=1e-12, atol=1e-12)
    dh, dc, dxs = np.zeros((B, H)), np.zeros((B, H)), []
    for t in reversed(range(T)):
        if kind == "lstm":
            dx_t, (dh, dc) = cell.backward(dh + dout[t], dc)
        else:
            dx_t, dh = cell.backward(dh + dout[t])
        dxs.append(dx_t)
    np.testing.assert_allclose(np.stack(dxs[::-1]), dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dh, state_parts(dh0)[0][0], rtol=1e-10, atol=1e-12)
    for name, p in cell.named_parameters():
        np.testing.assert_allclose(p.grad, dict(layer.named_parameters())[name + "_l0"].grad,
                                   rtol=1e-10, atol=1e-12, err_msg=name)


@bounded(30)
@given(st.sampled_from(sorted(CELLS)), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4),
       st.integers(0, 2 ** 16))
def test_float32_and_float64_cells_agree(kind, B, D, H, seed):
    c64 = CELLS[kind](D, H, dtype=np.float64, rng=np.random.default_rng(seed))
    c32 = CELLS[kind](D, H, dtype=np.float32)
    c32.load_state_dict(c64.state_dict())
    x = np.random.default_rng(seed).standard_normal((B, D))
    s64, s32 = c64(x), c32(x.astype(np.float32))
    for a, b in zip(state_parts(s32), state_parts(s64)):
        assert a.dtype == np.float32 and a.shape == (B, H)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# ====================================================================== other layers and the loss
@bounded(30)
@given(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), st.integers(1, 4), st.booleans(),
       st.integers(0, 2 ** 16))
def test_linear_takes_any_leading_shape(shape, out_features, bias, seed):
    lin = Linear(shape[-1], out_features, bias=bias, dtype=np.float64,
                 rng=np.random.default_rng(seed))
    x = np.random.default_rng(seed).standard_normal(shape)
    y = lin(x)
    want = x @ lin.weight.data.T + (lin.bias.data if bias else 0)
    assert y.shape == shape[:-1] + (out_features,)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    dy = np.ones_like(y)
    assert lin.backward(dy).shape == shape
    np.testing.assert_allclose(lin.weight.grad, dy.reshape(-1, out_features).T
                               @ x.reshape(-1, shape[-1]), rtol=1e-12, atol=1e-12)


@bounded(30)
@given(st.integers(1, 6), st.integers(1, 4), hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
       st.integers(0, 2 ** 16))
def test_embedding_gathers_rows_and_scatters_gradients(V, E, shape, seed):
    emb = Embedding(V, E, dtype=np.float64, rng=np.random.default_rng(seed))
    ids = np.random.default_rng(seed).integers(0, V, shape)
    out = emb(ids)
    assert out.shape == shape + (E,)
    np.testing.assert_array_equal(out, emb.weight.data[ids])
    emb.backward(np.ones(out.shape))
    np.testing.assert_array_equal(emb.weight.grad[:, 0], np.bincount(ids.ravel(), minlength=V))


@bounded(30)
@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), st.floats(0, 0.9),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2 ** 16))
def test_dropout_keeps_or_scales_each_entry_and_backward_uses_the_same_mask(shape, p, dtype, seed):
    drop = Dropout(p, rng=np.random.default_rng(seed))
    x = np.random.default_rng(seed).uniform(1, 2, shape).astype(dtype)
    y = drop(x)
    assert y.dtype == dtype and y.shape == shape
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / dtype(1 - p), rtol=1e-6)
    np.testing.assert_array_equal(drop.backward(np.ones(shape, dtype)) != 0, kept)
    np.testing.assert_array_equal(drop.eval()(x), x)


@bounded(40)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(2, 6), st.floats(1, 1e4),
       st.integers(0, 2 ** 16))
def test_cross_entropy_gradient_is_finite_rows_sum_to_zero_and_masked_rows_are_zero(
        T, B, V, scale, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((T, B, V)) * scale
    targets = rng.integers(0, V, (T, B))
    mask = rng.random((T, B)) < 0.6
    assume(mask.any())
    loss, dlogits = softmax_cross_entropy(logits, targets, mask=mask)
    assert np.isfinite(loss) and loss >= 0 and np.isfinite(dlogits).all()
    np.testing.assert_allclose(dlogits.sum(axis=-1), 0, atol=1e-12)
    assert not dlogits[~mask].any()


# ====================================================================== vocabularies and batching
texts = st.text(min_size=1, max_size=200)


@bounded(60)
@given(texts)
def test_char_vocab_round_trips_any_unicode_text(text):
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text, strict=True)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    again = vocab_from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab and again.decode(again.encode(text)) == text


@bounded(40)
@given(texts, st.integers(2, 10))
def test_a_capped_char_vocab_keeps_the_most_frequent_and_maps_the_rest_to_unk(text, cap):
    vocab = CharVocab.from_text(text, max_vocab_size=cap)
    assert len(vocab) <= cap
    ids = vocab.encode(text)
    assert ((0 <= ids) & (ids < len(vocab))).all()
    decoded = [vocab.itos[i] for i in ids]
    for ch, tok in zip(text, decoded):
        assert tok == (ch if ch in vocab else UNK)
    counts = {c: text.count(c) for c in set(text)}
    kept = [c for c in vocab.itos if c != UNK]
    dropped = [c for c in counts if c not in vocab]
    if kept and dropped:
        assert min(counts[c] for c in kept) >= max(counts[c] for c in dropped)


@bounded(60)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=120))
def test_word_vocab_decoding_then_encoding_gives_the_same_tokens(text):
    from scratchrnn.data import tokenize_words
    assume(tokenize_words(text))          # a text of spaces alone has no words (a clear error)
    vocab = WordVocab.from_text(text)
    ids = vocab.encode(text)
    assert (vocab.encode(vocab.decode(ids)) == ids).all()


@bounded(60)
@given(st.integers(2, 400), st.integers(1, 6), st.integers(1, 8), st.integers(0, 2 ** 16))
def test_batching_covers_every_token_once_per_epoch(n, B, T, seed):
    assume(n - 1 >= B * T)
    ids = np.random.default_rng(seed).integers(0, 50, n)
    stream = BatchStream(ids, B, T)
    batches = list(stream)
    assert len(batches) == len(stream) == (n - 1) // (B * T) and stream.epoch == 1
    xs = np.concatenate([x for x, _ in batches])      # (len * T, B): stream b is column b
    ys = np.concatenate([y for _, y in batches])
    used = len(stream) * B * T
    np.testing.assert_array_equal(xs.T.ravel(), ids[:used])     # each token once, in order
    np.testing.assert_array_equal(ys.T.ravel(), ids[1:used + 1])


@bounded(40)
@given(st.integers(2, 300), st.integers(1, 4), st.integers(1, 5), st.integers(0, 30))
def test_a_stream_restored_from_its_state_continues_identically(n, B, T, k):
    assume(n - 1 >= B * T)
    ids = np.arange(n)
    a = BatchStream(ids, B, T)
    for _ in range(k):
        a.next_batch()
    b = BatchStream(ids, B, T)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    for _ in range(len(a) + 1):
        for u, v in zip(a.next_batch(), b.next_batch()):
            np.testing.assert_array_equal(u, v)
    assert a.epoch == b.epoch


@bounded(40)
@given(st.integers(1, 500), st.floats(0, 0.45), st.floats(0, 0.45))
def test_split_pieces_are_contiguous_and_complete(n, val, test):
    train, v, t = split_corpus(np.arange(n), val, test)
    np.testing.assert_array_equal(np.concatenate([train, v, t]), np.arange(n))
    assert (len(v), len(t)) == (int(n * val), int(n * test))


# ====================================================================== checkpoints
@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@st.composite
def model_configs(draw):
    return dict(vocab_size=draw(st.integers(1, 12)),
                model_type=draw(st.sampled_from(["rnn", "lstm", "gru"])),
                embedding_dim=draw(st.integers(1, 5)), hidden_size=draw(st.integers(1, 6)),
                num_layers=draw(st.integers(1, 3)), dropout=draw(st.sampled_from([0.0, 0.25])),
                dtype=draw(st.sampled_from(["float32", "float64"])))


def save_model(path, model, vocab_size):
    vocab = {"type": "char", "itos": [chr(0x4E00 + i) for i in range(vocab_size)]}
    arrays = {"model/" + k: v for k, v in model.state_dict().items()}
    save_checkpoint(path, arrays, {"model": model.config(), "vocab": vocab})
    return arrays


@bounded(30)
@given(model_configs(), st.integers(0, 2 ** 16))
def test_any_model_config_survives_a_save_and_load(folder, config, seed):
    model = CharLM(**config, rng=np.random.default_rng(seed))
    assert charlm_parameter_shapes(model.config()) == {k: v.shape for k, v in
                                                       model.state_dict().items()}
    save_model(folder / "m", model, config["vocab_size"])
    loaded, vocab, _ = load_model(folder / "m")
    assert loaded.config() == model.config() and len(vocab) == config["vocab_size"]
    for k, v in model.state_dict().items():
        got = loaded.state_dict()[k]
        assert got.dtype == v.dtype
        np.testing.assert_array_equal(got, v)


plain_dtypes = st.sampled_from(["<f8", "<f4", "<f2", ">f8", "<i8", "<i4", "|i1", "<u2", "|u1",
                                "|b1", "<c16", "<c8"])


@bounded(40)
@given(st.dictionaries(st.text(st.characters(whitelist_categories=("L", "N")), min_size=1,
                               max_size=8).map(lambda s: "a/" + s),
                       hnp.arrays(plain_dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                                 max_side=4)),
                       max_size=5),
       st.booleans())
def test_any_plain_arrays_survive_a_save_and_load(folder, arrays, fortran):
    if fortran:
        arrays = {k: np.asfortranarray(v) for k, v in arrays.items()}
    save_checkpoint(folder / "a", arrays, {"note": "arrays"})
    got, meta = load_checkpoint(folder / "a")
    assert sorted(got) == sorted(arrays) and meta["note"] == "arrays"
    for k, v in arrays.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape
        np.testing.assert_array_equal(got[k], v)


@pytest.fixture(scope="module")
def saved_model(folder):
    model = CharLM(30, "lstm", embedding_dim=16, hidden_size=64, num_layers=2,
                   rng=np.random.default_rng(0))
    arrays = save_model(folder / "good", model, 30)
    return (folder / "good.npz").read_bytes(), arrays


def loads_identically_or_is_refused(path, want):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got, _ = load_checkpoint(path)
            load_model(path)
    except CheckpointError as e:
        assert path.name in str(e) and "allow_pickle" not in str(e)
        return False
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    return True


@bounded(60)
@given(st.data())
def test_any_truncation_of_a_checkpoint_is_refused(folder, saved_model, data):
    blob, arrays = saved_model
    cut = data.draw(st.integers(0, len(blob) - 1))
    (folder / "cut.npz").write_bytes(blob[:cut])
    assert not loads_identically_or_is_refused(folder / "cut.npz", arrays)


@bounded(80)
@given(st.data())
def test_any_byte_flip_is_refused_or_harmless(folder, saved_model, data):
    blob, arrays = saved_model
    damaged = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        damaged[pos] ^= data.draw(st.integers(1, 255))
    (folder / "flip.npz").write_bytes(bytes(damaged))
    loads_identically_or_is_refused(folder / "flip.npz", arrays)


# ====================================================================== samplers
logit_rows = st.integers(2, 12).flatmap(lambda V: hnp.arrays(
    np.float64, (V,), elements=st.floats(-30, 30, allow_nan=False)))


def nucleus(p, top_p):
    """The smallest set of most probable ids (ties to the lower id) with mass >= top_p."""
    order = sorted(range(len(p)), key=lambda i: (-p[i], i))
    kept, mass = [], 0.0
    for i in order:
        if mass >= top_p and kept:
            break
        kept.append(i)
        mass += p[i]
    return set(kept)


@bounded(60)
@given(logit_rows, st.data(), st.floats(0.05, 5))
def test_top_k_never_picks_a_token_outside_the_k_most_probable(logits, data, temperature):
    V = len(logits)
    k = data.draw(st.integers(1, V))
    probs = filter_probs(logits, temperature, top_k=k)
    full = filter_probs(logits, temperature)    # most probable; equal probabilities to the lower id
    top = set(sorted(range(V), key=lambda i: (-full[i], i))[:k])
    assert set(np.flatnonzero(probs)) <= top
    np.testing.assert_allclose(probs.sum(), 1.0)
    ids = sample(np.tile(logits, (200, 1)), np.random.default_rng(data.draw(st.integers(0, 99))),
                 temperature, top_k=k)
    assert set(ids.tolist()) <= top


@bounded(60)
@given(logit_rows, st.floats(0.01, 1.0), st.floats(0.05, 5), st.integers(0, 99))
def test_top_p_never_picks_a_token_outside_the_nucleus(logits, top_p, temperature, seed):
    full = filter_probs(logits, temperature)
    allowed = nucleus(full, top_p)
    probs = filter_probs(logits, temperature, top_p=top_p)
    assert set(np.flatnonzero(probs)) <= allowed
    assert full[sorted(allowed)].sum() >= top_p - 1e-12
    ids = sample(np.tile(logits, (200, 1)), np.random.default_rng(seed), temperature, top_p=top_p)
    assert set(ids.tolist()) <= allowed


@bounded(40)
@given(logit_rows, st.integers(0, 99))
def test_temperature_zero_is_the_argmax(logits, seed):
    probs = filter_probs(logits, 0)
    assert probs[int(np.argmax(logits))] == 1 and probs.sum() == 1
    assert sample(logits, np.random.default_rng(seed), 0) == np.argmax(logits)


@bounded(40)
@given(logit_rows, st.integers(0, 2 ** 16), st.floats(0.1, 3))
def test_the_same_seed_draws_the_same_ids(logits, seed, temperature):
    rows = np.tile(logits, (20, 1))
    a = sample(rows, np.random.default_rng(seed), temperature)
    b = sample(rows, np.random.default_rng(seed), temperature)
    np.testing.assert_array_equal(a, b)


# ====================================================================== optimisers
OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5),
}


@bounded(30)
@given(st.sampled_from(sorted(OPTIMIZERS)), st.lists(hnp.array_shapes(max_dims=2, max_side=4),
                                                      min_size=1, max_size=3),
       st.integers(1, 4), st.integers(0, 2 ** 16))
def test_an_optimiser_restored_from_its_state_continues_identically(name, shapes, k, seed):
    rng = np.random.default_rng(seed)
    ps_a = [Parameter(rng.standard_normal(s)) for s in shapes]
    ps_b = [Parameter(p.data) for p in ps_a]
    a = OPTIMIZERS[name](ps_a)
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(2 * k)]
    for g in grads[:k]:
        for p, gi in zip(ps_a, g):
            p.grad[...] = gi
        a.step()
    for p, q in zip(ps_b, ps_a):
        p.data[...] = q.data
    b = OPTIMIZERS[name](ps_b)
    b.load_state_dict(a.state_dict())
    for g in grads[k:]:
        for ps in (ps_a, ps_b):
            for p, gi in zip(ps, g):
                p.grad[...] = gi
        a.step()
        b.step()
    for p, q in zip(ps_a, ps_b):
        np.testing.assert_array_equal(p.data, q.data)


@bounded(40)
@given(st.lists(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=4),
                           elements=st.floats(-1e3, 1e3)), min_size=1, max_size=3),
       st.floats(1e-3, 1e3))
def test_clipping_bounds_the_joint_norm_and_returns_the_norm_before(grads, max_norm):
    ps = [Parameter(np.zeros(g.shape)) for g in grads]
    for p, g in zip(ps, grads):
        p.grad[...] = g
    before = float(np.sqrt(sum((g ** 2).sum() for g in grads)))
    total = optim.clip_grad_norm_(ps, max_norm)
    np.testing.assert_allclose(total, before, rtol=1e-12)
    after = float(np.sqrt(sum((p.grad ** 2).sum() for p in ps)))
    assert after <= max_norm * (1 + 1e-9) + 1e-12
    if before + 1e-6 <= max_norm:      # torch's rule: scaled by max_norm / (total + 1e-6) < 1
        for p, g in zip(ps, grads):
            np.testing.assert_array_equal(p.grad, g)


# ====================================================================== attention
@bounded(30)
@given(st.sampled_from(["additive", "general", "dot"]), st.integers(1, 4), st.integers(1, 5),
       st.integers(1, 3), st.integers(1, 4), st.data())
def test_attention_weights_are_a_distribution_over_the_valid_keys(score, T, S, B, K, data):
    from scratchrnn.nn import Attention
    Q = K if score == "dot" else data.draw(st.integers(1, 4))
    att = Attention(Q, K, score=score, dtype=np.float64, rng=np.random.default_rng(0))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    queries, keys = rng.standard_normal((T, B, Q)), rng.standard_normal((S, B, K))
    lengths = np.array(data.draw(st.lists(st.integers(1, S), min_size=B, max_size=B)))
    context, weights = att(queries, keys, lengths=lengths)
    assert context.shape == (T, B, K) and weights.shape == (T, B, S)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-12)
    for b in range(B):
        assert not weights[:, b, lengths[b]:].any()
    np.testing.assert_allclose(context, np.einsum("tbs,sbk->tbk", weights, keys), rtol=1e-10,
                               atol=1e-12)
    dq, dk = att.backward(np.ones_like(context))
    assert dq.shape == queries.shape and dk.shape == keys.shape
    for b in range(B):
        assert not dk[lengths[b]:, b].any()      # padded keys get no gradient


# ====================================================================== guards
@bounded(40)
@given(st.sampled_from(sorted(OPTIMIZERS)),
       st.one_of(st.floats(max_value=-1e-300), st.just(float("nan")), st.just(float("inf"))))
def test_no_optimiser_accepts_a_negative_or_non_finite_learning_rate(name, lr):
    opt = OPTIMIZERS[name]([Parameter(np.ones(3))])
    before = opt.lr
    with pytest.raises(ValueError, match="refused: Invalid learning rate"):
        opt.lr = lr
    assert opt.lr == before


@bounded(40)
@given(st.sampled_from(sorted(OPTIMIZERS)), st.floats(0, 10))
def test_every_finite_non_negative_learning_rate_is_accepted(name, lr):
    opt = OPTIMIZERS[name]([Parameter(np.ones(3))])
    opt.lr = lr
    assert opt.lr == lr and type(opt.lr) is float


@bounded(30)
@given(st.integers(0, 9), st.sampled_from(["strings", "shape", "ragged"]), st.integers(0, 99))
def test_a_failed_load_state_dict_leaves_every_parameter_unchanged(position, kind, seed):
    model = CharLM(5, "lstm", embedding_dim=3, hidden_size=4, num_layers=2, dtype=np.float64,
                   rng=np.random.default_rng(seed))
    before = model.state_dict()
    state = {k: v + 1 for k, v in before.items()}
    key = list(state)[position % len(state)]
    state[key] = {"strings": np.full(state[key].shape, "x"), "shape": np.zeros((1, 2, 3)),
                  "ragged": [[1.0], [2.0, 3.0]]}[kind]
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


# ====================================================================== more data and samplers
@bounded(40)
@given(st.text(min_size=1, max_size=150), st.integers(2, 20))
def test_a_word_vocab_survives_json_and_keeps_every_id_in_range(text, cap):
    from scratchrnn.data import tokenize_words
    assume(tokenize_words(text))          # a text of spaces alone has no words (a clear error)
    vocab = WordVocab.from_text(text, max_vocab_size=cap)
    assert len(vocab) <= cap
    again = vocab_from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab
    ids = again.encode(text)
    assert ((0 <= ids) & (ids < len(vocab))).all()
    assert (vocab.encode(text) == ids).all()


@bounded(40)
@given(st.tuples(st.integers(1, 4), st.integers(2, 12)).flatmap(
           lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(-30, 30))),
       st.data(), st.floats(0.05, 3))
def test_top_k_and_top_p_together_keep_rows_that_are_distributions(rows, data, temperature):
    V = rows.shape[1]
    k = data.draw(st.integers(1, V))
    top_p = data.draw(st.floats(0.01, 1.0))
    probs = filter_probs(rows, temperature, top_k=k, top_p=top_p)
    assert probs.shape == rows.shape and (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert ((probs > 0).sum(axis=1) <= k).all()
    for row, p in zip(rows, probs):    # the same as filtering each row alone
        np.testing.assert_allclose(filter_probs(row, temperature, top_k=k, top_p=top_p), p)


@bounded(30)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(2, 6), st.integers(0, 2 ** 16))
def test_summed_cross_entropy_is_the_mean_times_the_count(T, B, V, seed):
    rng = np.random.default_rng(seed)
    logits, targets = rng.standard_normal((T, B, V)), rng.integers(0, V, (T, B))
    mask = rng.random((T, B)) < 0.7
    assume(mask.any())
    mean, dmean = softmax_cross_entropy(logits, targets, mask=mask)
    total, dtotal = softmax_cross_entropy(logits, targets, mask=mask, reduction="sum")
    np.testing.assert_allclose(total, mean * mask.sum(), rtol=1e-12)
    np.testing.assert_allclose(dtotal, dmean * mask.sum(), rtol=1e-12, atol=1e-15)


@bounded(30)
@given(st.lists(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=4),
                           elements=st.floats(-1e3, 1e3)), min_size=1, max_size=3),
       st.floats(1e-3, 1e3))
def test_value_clipping_clamps_every_entry_and_keeps_the_small_ones(grads, clip):
    ps = [Parameter(np.zeros(g.shape)) for g in grads]
    for p, g in zip(ps, grads):
        p.grad[...] = g
    optim.clip_grad_value_(ps, clip)
    for p, g in zip(ps, grads):
        np.testing.assert_array_equal(p.grad, np.clip(g, -clip, clip))
