"""scratchrnn.interop: to_torch / from_torch give the same numbers, refuse what has no
counterpart, and export_safetensors writes a file that torch loads without pickle.

Equal means: logits and final state to 1e-9 in float64 and 1e-5 in float32, in evaluation
mode (in training mode each library draws its own dropout masks); the way back copies every
parameter exactly.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scratchrnn import interop, optim                                   # noqa: E402
from scratchrnn.checkpoint import CheckpointError, load_model, save_checkpoint  # noqa: E402
from scratchrnn.data import CharVocab, vocab_from_dict                  # noqa: E402
from scratchrnn.models import CharLM                                    # noqa: E402
from scratchrnn.nn import (GRU, LSTM, RNN, Dropout, Embedding, GRUCell, Linear,  # noqa: E402
                           LSTMCell, RNNCell, softmax_cross_entropy)

TOL = {np.float64: 1e-9, np.float32: 1e-5}
TEXT = "to be, or not to be: that is the question.\n" * 4


def assert_close(ours, theirs, tol, what):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    assert ours.shape == theirs.shape, what
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg=what)


def states(state):
    return state if isinstance(state, tuple) else (state,)


def assert_same_states(ours, theirs, tol):
    ours, theirs = states(ours), states(theirs)
    assert len(ours) == len(theirs)
    for s, t in zip(ours, theirs):
        assert_close(s, t, tol, "final state")


def torch_run(module, *inputs):
    with torch.no_grad():
        return module(*(torch.from_numpy(np.asarray(a)) for a in inputs))


def assert_same_parameters(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


def trained_charlm(tmp_path, model_type, dtype=np.float64, steps=4):
    """A CharLM trained a few Adam steps with dropout, saved and loaded back as a checkpoint."""
    vocab = CharVocab.from_text(TEXT)
    ids = vocab.encode(TEXT)
    model = CharLM(len(vocab), model_type, 6, 9, 2, dropout=0.25, dtype=dtype,
                   rng=np.random.default_rng(3))
    opt = optim.Adam(list(model.parameters()), lr=1e-2)
    for step in range(steps):
        x = np.stack([ids[step + 10 * b: step + 10 * b + 8] for b in range(3)], axis=1)
        y = np.stack([ids[step + 10 * b + 1: step + 10 * b + 9] for b in range(3)], axis=1)
        logits, _ = model(x)
        _, dlogits = softmax_cross_entropy(logits, y)
        opt.zero_grad()
        model.backward(dlogits)
        opt.step()
    save_checkpoint(tmp_path / "ck", {"model/" + k: v for k, v in model.state_dict().items()},
                    {"model": model.config(), "vocab": vocab.to_dict(), "step": steps})
    loaded, vocab, _ = load_model(tmp_path / "ck")
    return loaded, vocab, ids


# ------------------------------------------------------------------ CharLM
@pytest.mark.parametrize("model_type", ["rnn", "lstm", "gru"])
def test_trained_checkpoint_round_trip_gives_equal_logits(tmp_path, model_type):
    model, vocab, ids = trained_charlm(tmp_path, model_type)
    x = np.stack([ids[b: b + 12] for b in (0, 5, 17, 30)], axis=1)         # (T=12, B=4)
    logits, state = model(x)
    module = interop.to_torch(model)
    assert isinstance(module, torch.nn.Module) and not module.training   # load_model: eval mode
    t_logits, t_state = torch_run(module, x)
    assert t_logits.dtype == torch.float64
    assert_close(logits, t_logits, 1e-9, "logits")
    assert_same_states(state, t_state, 1e-9)
    back = interop.from_torch(module)
    assert isinstance(back, CharLM) and back.config() == model.config()
    assert_same_parameters(back, model)
    np.testing.assert_array_equal(back.eval()(x)[0], logits)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("model_type", ["rnn", "lstm", "gru"])
def test_every_cell_type_layers_and_dtype(model_type, num_layers, dtype):
    model = CharLM(13, model_type, 5, 8, num_layers, dropout=0.3, dtype=dtype,
                   rng=np.random.default_rng(num_layers)).eval()
    rng = np.random.default_rng(7)
    x1, x2 = rng.integers(0, 13, (7, 3)), rng.integers(0, 13, (4, 3))
    module = interop.to_torch(model)
    assert module.config() == model.config()
    assert module.decoder.weight.dtype == getattr(torch, np.dtype(dtype).name)
    # two calls, the state carried: the second starts from the first's final state
    logits, state = model(x1)
    t_logits, t_state = torch_run(module, x1)
    assert_close(logits, t_logits, TOL[dtype], "first call")
    logits, state = model(x2, state)
    with torch.no_grad():
        t_logits, t_state = module(torch.from_numpy(x2), t_state)
    assert_close(logits, t_logits, TOL[dtype], "second call, state carried")
    assert_same_states(state, t_state, TOL[dtype])
    back = interop.from_torch(module, rng=np.random.default_rng(0))
    assert back.config() == model.config() and not back.training
    assert_same_parameters(back, model)


def test_training_mode_and_dropout_rate_carry_over():
    model = CharLM(9, "gru", 4, 6, 2, dropout=0.4, rng=np.random.default_rng(0))   # training mode
    module = interop.to_torch(model)
    assert module.training and module.dropout.p == 0.4 and module.rnn.dropout == 0.4
    back = interop.from_torch(module.eval())
    assert not back.training and back.dropout.p == 0.4 and back.rnn.dropout == 0.4


def test_torch_charlm_built_from_config_loads_the_state_dict():
    """The export file's recipe: TorchCharLM(**config) then load_state_dict, strict."""
    model = CharLM(10, "lstm", 4, 5, 2, dtype=np.float64, rng=np.random.default_rng(1)).eval()
    module = interop.TorchCharLM(**model.config())
    module.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = np.random.default_rng(2).integers(0, 10, (5, 2))
    assert_close(model(x)[0], torch_run(module.eval(), x)[0], 1e-9, "logits")
    assert type(module).__module__ == "scratchrnn.interop" and type(module).__name__ == "TorchCharLM"


def test_a_hand_written_torch_lm_with_charlms_children_maps():
    """from_torch reads the structure: any module whose children are embedding, rnn, dropout,
    decoder (e.g. scratchrnn's PyTorch reference model) becomes a CharLM."""
    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(12, 4, dtype=torch.float64)
            self.rnn = torch.nn.LSTM(4, 6, 2, dropout=0.1, dtype=torch.float64)
            self.dropout = torch.nn.Dropout(0.1)
            self.decoder = torch.nn.Linear(6, 12, dtype=torch.float64)

        def forward(self, ids):
            out, state = self.rnn(self.embedding(ids))
            return self.decoder(self.dropout(out)), state

    torch.manual_seed(0)
    lm = LM().eval()
    ours = interop.from_torch(lm)
    assert ours.config() == {"vocab_size": 12, "model_type": "lstm", "embedding_dim": 4,
                             "hidden_size": 6, "num_layers": 2, "dropout": 0.1, "dtype": "float64"}
    x = np.random.default_rng(0).integers(0, 12, (6, 2))
    assert_close(ours(x)[0], torch_run(lm, x)[0], 1e-9, "logits")


# ------------------------------------------------------------------ bare layers
RECURRENT_CASES = [
    (RNN, dict()), (RNN, dict(nonlinearity="relu", bias=False)),
    (RNN, dict(num_layers=2, bidirectional=True, batch_first=True)),
    (LSTM, dict()), (LSTM, dict(num_layers=2, dropout=0.2, bidirectional=True)),
    (LSTM, dict(batch_first=True, bias=False)),
    (GRU, dict()), (GRU, dict(num_layers=3, bidirectional=True, batch_first=True)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("cls,kwargs", RECURRENT_CASES,
                         ids=[f"{c.__name__}-{'-'.join(k) or 'plain'}" for c, k in RECURRENT_CASES])
def test_recurrent_layers_both_ways(cls, kwargs, dtype):
    rng = np.random.default_rng(5)
    layer = cls(4, 6, dtype=dtype, rng=rng, **kwargs).eval()
    x = rng.standard_normal((3, 5, 4)).astype(dtype)     # (T, B, D) or (B, T, D)
    module = interop.to_torch(layer)
    assert type(module) is getattr(torch.nn, cls.__name__)
    for name in ("num_layers", "bias", "batch_first", "bidirectional"):
        assert getattr(module, name) == getattr(layer, name), name
    assert module.dropout == layer.dropout
    out, state = layer(x)
    t_out, t_state = torch_run(module, x)
    assert_close(out, t_out, TOL[dtype], "out")
    assert_same_states(state, t_state, TOL[dtype])
    back = interop.from_torch(module)
    assert type(back) is cls and back.extra_repr() == layer.extra_repr()
    assert getattr(back, "nonlinearity", None) == getattr(layer, "nonlinearity", None)
    assert_same_parameters(back, layer)


CELL_CASES = [(RNNCell, dict()), (RNNCell, dict(nonlinearity="relu", bias=False)),
              (LSTMCell, dict()), (LSTMCell, dict(bias=False)), (GRUCell, dict())]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("cls,kwargs", CELL_CASES,
                         ids=[f"{c.__name__}-{'-'.join(k) or 'plain'}" for c, k in CELL_CASES])
def test_cells_both_ways(cls, kwargs, dtype):
    rng = np.random.default_rng(8)
    cell = cls(4, 5, dtype=dtype, rng=rng, **kwargs)
    x, h = (rng.standard_normal(shape).astype(dtype) for shape in ((3, 4), (3, 5)))
    module = interop.to_torch(cell)
    assert type(module) is getattr(torch.nn, cls.__name__) and module.bias == cell.bias
    c = rng.standard_normal((3, 5)).astype(dtype)
    state = (h, c) if cls is LSTMCell else h            # torch's hx: the same form
    ours = cell(x, state)
    with torch.no_grad():
        theirs = module(torch.from_numpy(x), tuple(map(torch.from_numpy, state))
                        if cls is LSTMCell else torch.from_numpy(state))
    assert_same_states(ours, theirs, TOL[dtype])
    back = interop.from_torch(module)
    assert type(back) is cls and back.extra_repr() == cell.extra_repr()
    assert_same_parameters(back, cell)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_linear_embedding_dropout_both_ways(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5)).astype(dtype)
    for layer in (Linear(5, 4, dtype=dtype, rng=rng), Linear(5, 4, bias=False, dtype=dtype, rng=rng)):
        module = interop.to_torch(layer)
        assert type(module) is torch.nn.Linear and (module.bias is None) == (layer.bias is None)
        assert_close(layer(x), torch_run(module, x), TOL[dtype], "Linear")
        assert_same_parameters(interop.from_torch(module), layer)
    emb = Embedding(7, 3, dtype=dtype, rng=rng)
    ids = rng.integers(0, 7, (4, 2))
    module = interop.to_torch(emb)
    assert type(module) is torch.nn.Embedding
    assert_close(emb(ids), torch_run(module, ids), 0, "Embedding")
    assert_same_parameters(interop.from_torch(module), emb)
    drop = Dropout(0.3).eval()
    module = interop.to_torch(drop)
    assert type(module) is torch.nn.Dropout and module.p == 0.3 and not module.training
    back = interop.from_torch(module)
    assert type(back) is Dropout and back.p == 0.3 and not back.training


# ------------------------------------------------------------------ what cannot be mapped
@pytest.mark.parametrize("layer,match", [
    (LSTM(3, 4, peephole=True), "peephole=True has no torch.nn counterpart"),
    (LSTM(3, 4, coupled=True), "coupled=True has no torch.nn counterpart"),
    (LSTM(3, 4, peephole=True, coupled=True), "peephole=True and coupled=True"),
    (GRU(3, 4, reset_after=False), "reset_after=False .* reset-after only"),
    (Linear(3, 4, dtype=np.float16), "dtype must be float32 or float64, got float16"),
    (LSTMCell(3, 4, peephole=True), "an LSTMCell with peephole=True has no torch.nn"),
    (GRUCell(3, 4, reset_after=False), "a GRUCell with reset_after=False"),
], ids=["peephole", "coupled", "both", "reset-before", "float16", "cell-peephole", "cell-reset-before"])
def test_to_torch_refuses_what_torch_lacks(layer, match):
    with pytest.raises(ValueError, match=match):
        interop.to_torch(layer)


def test_to_torch_refuses_other_objects():
    from scratchrnn.models import SequenceClassifier
    with pytest.raises(TypeError, match="cannot map a SequenceClassifier; it maps CharLM, RNN"):
        interop.to_torch(SequenceClassifier(5, 3))
    with pytest.raises(TypeError, match="cannot map a ndarray"):
        interop.to_torch(np.zeros(3))


def _lm(**changes):
    parts = dict(embedding=torch.nn.Embedding(10, 4), rnn=torch.nn.GRU(4, 6, 2),
                 dropout=torch.nn.Dropout(0.0), decoder=torch.nn.Linear(6, 10))
    parts.update(changes)
    lm = torch.nn.Module()
    for name in ("embedding", "rnn", "dropout", "decoder"):
        setattr(lm, name, parts[name])
    return lm


@pytest.mark.parametrize("module,error,match", [
    (torch.nn.LSTM(3, 4, proj_size=2), ValueError, "proj_size=2 has no scratchrnn counterpart"),
    (torch.nn.Embedding(5, 3, padding_idx=0), ValueError, "padding_idx=0 has no scratchrnn"),
    (torch.nn.Embedding(5, 3, max_norm=1.0), ValueError, "max_norm=1.0"),
    (torch.nn.Linear(3, 4).half(), ValueError, "dtype float16; only float32 or float64"),
    (torch.nn.RNNCellBase(3, 4, True, 1), TypeError, "cannot map a RNNCellBase"),
    (torch.nn.Sequential(torch.nn.Linear(2, 2)), TypeError, "cannot map a Sequential"),
    (_lm(rnn=torch.nn.GRU(4, 6, 2, bidirectional=True)), ValueError, "rnn has bidirectional"),
    (_lm(rnn=torch.nn.RNN(4, 6, nonlinearity="relu")), ValueError, "nonlinearity='relu'"),
    (_lm(decoder=torch.nn.Linear(6, 11)), ValueError, "decoder.out_features 11 != vocabulary size 10"),
    (_lm(dropout=torch.nn.Dropout(0.5)), ValueError, r"rnn.dropout 0.0 != dropout.p 0.5"),
    (_lm(embedding=torch.nn.Embedding(10, 4, padding_idx=1)), ValueError,
     "its embedding with padding_idx"),
], ids=["proj_size", "padding_idx", "max_norm", "float16", "cell", "sequential", "charlm-bidir",
        "charlm-relu", "charlm-shapes", "charlm-two-dropouts", "charlm-padding"])
def test_from_torch_refuses_what_scratchrnn_lacks(module, error, match):
    with pytest.raises(error, match=match):
        interop.from_torch(module)


def test_importing_interop_does_not_import_torch():
    code = "import sys, scratchrnn.interop; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ safetensors export
def test_export_safetensors_loads_in_torch_without_pickle(tmp_path):
    safetensors = pytest.importorskip("safetensors")
    import safetensors.torch
    model, vocab, ids = trained_charlm(tmp_path, "lstm")
    out = tmp_path / "model.safetensors"
    meta = interop.export_safetensors(tmp_path / "ck", out)
    assert meta["format"] == "scratchrnn-charlm" and meta["step"] == "4"
    raw = out.read_bytes()   # safetensors: 8-byte header length, JSON header, raw tensor bytes
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert set(header) - {"__metadata__"} == set(model.state_dict())
    assert b"\x80\x04" not in raw[:2] and not raw.startswith(b"PK")      # not a pickle, not a zip
    # the documented recipe (docs/api.md)
    meta = safetensors.safe_open(str(out), "pt").metadata()
    module = interop.TorchCharLM(**json.loads(meta["config"]))
    module.load_state_dict(safetensors.torch.load_file(str(out)))
    assert vocab_from_dict(json.loads(meta["vocab"])).itos == vocab.itos
    x = np.stack([ids[b: b + 9] for b in (0, 13)], axis=1)
    assert_close(model(x)[0], torch_run(module.eval(), x)[0], 1e-9, "logits from the export")


def test_export_safetensors_refuses_a_missing_checkpoint(tmp_path):
    pytest.importorskip("safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        interop.export_safetensors(tmp_path / "nothing", tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_export_program_writes_the_file_and_refuses_bad_input(tmp_path, capsys):
    pytest.importorskip("safetensors")
    from safetensors.numpy import load_file
    from scratchrnn.cli import export
    model, _, _ = trained_charlm(tmp_path, "gru")
    out = tmp_path / "m.safetensors"
    assert export.main(["--checkpoint", str(tmp_path / "ck"), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    arrays = load_file(str(out))
    want = model.state_dict()
    assert sorted(arrays) == sorted(want)
    for k in want:
        np.testing.assert_array_equal(arrays[k], want[k], err_msg=k)
    bad = [(["--out", str(out)], "required: --checkpoint"),
           (["--checkpoint", str(tmp_path / "none"), "--out", str(out)], "does not exist"),
           (["--checkpoint", str(tmp_path / "ck"), "--out", str(tmp_path)], "cannot write --out")]
    for argv, message in bad:
        assert export.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_python_m_scratchrnn_export_runs_the_program(tmp_path):
    pytest.importorskip("safetensors")
    trained_charlm(tmp_path, "rnn", steps=1)
    proc = subprocess.run([sys.executable, "-m", "scratchrnn.export", "--checkpoint",
                           str(tmp_path / "ck"), "--out", str(tmp_path / "m.safetensors")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m.safetensors").stat().st_size > 0


def test_export_without_safetensors_says_what_to_install(tmp_path, monkeypatch, capsys):
    trained_charlm(tmp_path, "lstm", steps=1)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)     # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'scratchrnn\[export\]'"):
        interop.export_safetensors(tmp_path / "ck", tmp_path / "m.safetensors")
    from scratchrnn.cli import export
    assert export.main(["--checkpoint", str(tmp_path / "ck"), "--out", str(tmp_path / "m")]) == 2
    assert "needs the safetensors package" in capsys.readouterr().err


def test_the_export_rebuilds_in_numpy_too(tmp_path):
    """The metadata is enough for scratchrnn itself: CharLM(**config) + load_state_dict."""
    pytest.importorskip("safetensors")
    from safetensors import safe_open
    from safetensors.numpy import load_file
    model, vocab, ids = trained_charlm(tmp_path, "gru", dtype=np.float32)
    out = tmp_path / "m.safetensors"
    interop.export_safetensors(tmp_path / "ck", out)
    with safe_open(str(out), "np") as f:
        meta = f.metadata()
    again = CharLM(**json.loads(meta["config"]))
    again.load_state_dict(load_file(str(out)))
    x = ids[:20].reshape(10, 2)
    np.testing.assert_array_equal(again.eval()(x)[0], model(x)[0])
