"""To and from PyTorch, and out to safetensors.

    to_torch(model)      CharLM -> TorchCharLM (a torch.nn.Module), RNN/LSTM/GRU (and their
                         cells)/Linear/Embedding/Dropout -> the torch.nn module of that name
    from_torch(module)   the way back: a CharLM or a bare layer of ours
    export_safetensors   a language-model checkpoint -> weights in a .safetensors file, the
                         configuration and vocabulary in its metadata (no pickle anywhere)

Parameter names, shapes and gate orders are already PyTorch's (docs/api.md), so mapping is
copying each array into the counterpart built with the same options; what has no counterpart
(LSTM peepholes or coupled gates, the reset-before GRU, torch's ``proj_size``, ...) is refused
with a message that names it. The numbers are the same to round-off (1e-9 in float64, 1e-5 in
float32) in evaluation mode; in training mode each library draws its own dropout masks.

torch and safetensors are optional: each is imported inside the functions that need it.
"""
import json
import warnings

import numpy as np

from .models import CharLM
from .nn import GRU, LSTM, RNN, Dropout, Embedding, GRUCell, Linear, LSTMCell, RNNCell

SAFETENSORS_FORMAT = "scratchrnn-charlm"
_DTYPES = ("float32", "float64")
_CELLS = (RNNCell, LSTMCell, GRUCell)


def _torch_name(layer):
    """The torch.nn class name of one of our RNN/LSTM/GRU or cells (subclasses too)."""
    return next(c.__name__ for c in (RNN, LSTM, GRU) + _CELLS if isinstance(layer, c))


# ------------------------------------------------------------------ the torch twin of CharLM
_torch_classes = {}


def _torch_charlm_class():
    """TorchCharLM, defined on first use so that importing this module never imports torch."""
    if "TorchCharLM" in _torch_classes:
        return _torch_classes["TorchCharLM"]
    import torch
    nn = torch.nn

    class TorchCharLM(nn.Module):
        """CharLM in PyTorch: Embedding -> RNN/LSTM/GRU (time-major, dropout between layers)
        -> Dropout -> Linear, with CharLM's constructor arguments and parameter names, so
        ``TorchCharLM(**charlm.config())`` loads ``charlm.state_dict()`` as it is."""

        def __init__(self, vocab_size, model_type="lstm", embedding_dim=64, hidden_size=256,
                     num_layers=2, dropout=0.0, dtype="float32"):
            super().__init__()
            if model_type not in ("rnn", "lstm", "gru"):
                raise ValueError(f"TorchCharLM: model_type must be 'rnn', 'lstm' or 'gru', "
                                 f"got {model_type!r}")
            dtype = _torch_dtype(torch, np.dtype(dtype).name, "TorchCharLM")
            self.model_type = model_type
            self.embedding = nn.Embedding(vocab_size, embedding_dim, dtype=dtype)
            self.rnn = _torch_recurrent(getattr(nn, model_type.upper()), embedding_dim,
                                        hidden_size, num_layers=num_layers, dropout=dropout,
                                        dtype=dtype)
            self.dropout = nn.Dropout(dropout)
            self.decoder = nn.Linear(hidden_size, vocab_size, dtype=dtype)

        def config(self):
            """The constructor arguments, as CharLM.config() gives them."""
            return {"vocab_size": self.embedding.num_embeddings, "model_type": self.model_type,
                    "embedding_dim": self.embedding.embedding_dim,
                    "hidden_size": self.rnn.hidden_size, "num_layers": self.rnn.num_layers,
                    "dropout": self.dropout.p,
                    "dtype": str(self.decoder.weight.dtype).replace("torch.", "")}

        def forward(self, ids, state=None):
            """ids (T, B) long, state from the previous call or None -> logits (T, B, V), state."""
            if ids.dim() != 2:
                raise ValueError(f"TorchCharLM: ids must be (T, B) token indices, got shape "
                                 f"{tuple(ids.shape)}")
            out, state = self.rnn(self.embedding(ids), state)
            return self.decoder(self.dropout(out)), state

    TorchCharLM.__module__ = __name__       # pickles and prints as scratchrnn.interop.TorchCharLM
    _torch_classes["TorchCharLM"] = TorchCharLM
    return TorchCharLM


def __getattr__(name):
    # `from scratchrnn.interop import TorchCharLM` builds the class (and imports torch) only then.
    if name == "TorchCharLM":
        return _torch_charlm_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _torch_dtype(torch, name, who):
    if name not in _DTYPES:
        raise ValueError(f"{who}: dtype must be float32 or float64, got {name}")
    return getattr(torch, name)


def _torch_recurrent(cls, input_size, hidden_size, **kwargs):
    """torch.nn.RNN/LSTM/GRU; a dropout with one layer is kept as it is (it does nothing in
    either library), without torch's warning about it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="dropout option adds dropout")
        return cls(input_size, hidden_size, **kwargs)


# ------------------------------------------------------------------ ours -> torch
def to_torch(model):
    """A CharLM -> TorchCharLM; RNN/LSTM/GRU, their cells, Linear/Embedding/Dropout -> the
    torch.nn module of the same name. Same weights, dtype and options; train/eval mode too."""
    import torch
    nn = torch.nn
    if isinstance(model, CharLM):
        module = _torch_charlm_class()(**model.config())
    elif isinstance(model, (RNN, LSTM, GRU)):
        module = _recurrent_to_torch(torch, model)
    elif isinstance(model, _CELLS):
        module = _cell_to_torch(torch, model)
    elif isinstance(model, Linear):
        module = nn.Linear(model.in_features, model.out_features, bias=model.bias is not None,
                           dtype=_torch_dtype(torch, model.weight.dtype.name, "to_torch"))
    elif isinstance(model, Embedding):
        module = nn.Embedding(model.num_embeddings, model.embedding_dim,
                              dtype=_torch_dtype(torch, model.weight.dtype.name, "to_torch"))
    elif isinstance(model, Dropout):
        module = nn.Dropout(model.p)
    else:
        raise TypeError(f"to_torch: cannot map a {type(model).__name__}; it maps CharLM, RNN, "
                        f"LSTM, GRU, their cells, Linear, Embedding and Dropout")
    module.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return module.train(model.training)


def _check_mappable(layer):
    """The options torch.nn's LSTM/GRU (and their cells) do not have."""
    if isinstance(layer, (LSTM, LSTMCell)) and (layer.peephole or layer.coupled):
        which = " and ".join(n + "=True" for n in ("peephole", "coupled") if getattr(layer, n))
        raise ValueError(f"to_torch: an {type(layer).__name__} with {which} has no torch.nn "
                         f"counterpart (torch.nn.LSTM has neither peepholes nor coupled gates); "
                         f"only the plain LSTM maps")
    if isinstance(layer, (GRU, GRUCell)) and not layer.reset_after:
        raise ValueError(f"to_torch: a {type(layer).__name__} with reset_after=False (the "
                         f"textbook reset-before form) has no torch.nn counterpart (torch.nn.GRU "
                         f"is reset-after only); only reset_after=True maps")


def _cell_to_torch(torch, cell):
    _check_mappable(cell)
    kwargs = dict(bias=cell.bias, dtype=_torch_dtype(torch, np.dtype(cell.weight_ih.dtype).name,
                                                     "to_torch"))
    if isinstance(cell, RNNCell):
        kwargs["nonlinearity"] = cell.nonlinearity
    return getattr(torch.nn, _torch_name(cell))(cell.input_size, cell.hidden_size, **kwargs)


def _recurrent_to_torch(torch, layer):
    _check_mappable(layer)
    kwargs = dict(num_layers=layer.num_layers, bias=layer.bias, batch_first=layer.batch_first,
                  dropout=layer.dropout, bidirectional=layer.bidirectional,
                  dtype=_torch_dtype(torch, np.dtype(layer.dtype).name, "to_torch"))
    if isinstance(layer, RNN):
        kwargs["nonlinearity"] = layer.nonlinearity
    return _torch_recurrent(getattr(torch.nn, _torch_name(layer)), layer.input_size,
                            layer.hidden_size, **kwargs)


# ------------------------------------------------------------------ torch -> ours
def from_torch(module, rng=None):
    """The way back: TorchCharLM (or any torch module made of the children embedding, rnn,
    dropout, decoder, used as CharLM uses them) -> CharLM; torch.nn.RNN/LSTM/GRU, their
    cells, Linear/Embedding/Dropout -> ours. ``rng`` becomes the new module's generator."""
    import torch
    nn = torch.nn
    rng = np.random.default_rng() if rng is None else rng
    if isinstance(module, nn.RNNBase):
        ours = _recurrent_from_torch(torch, module, rng)
    elif type(module) in (nn.RNNCell, nn.LSTMCell, nn.GRUCell):
        cls = {nn.RNNCell: RNNCell, nn.LSTMCell: LSTMCell, nn.GRUCell: GRUCell}[type(module)]
        kwargs = {"nonlinearity": module.nonlinearity} if cls is RNNCell else {}
        ours = cls(module.input_size, module.hidden_size, bias=module.bias,
                   dtype=_numpy_dtype(module, f"torch.nn.{cls.__name__}"), rng=rng, **kwargs)
    elif isinstance(module, nn.Linear):
        ours = Linear(module.in_features, module.out_features, bias=module.bias is not None,
                      dtype=_numpy_dtype(module, "torch.nn.Linear"), rng=rng)
    elif isinstance(module, nn.Embedding):
        _check_plain_embedding(module)
        ours = Embedding(module.num_embeddings, module.embedding_dim,
                         dtype=_numpy_dtype(module, "torch.nn.Embedding"), rng=rng)
    elif isinstance(module, nn.Dropout):
        ours = Dropout(module.p, rng=rng)
    elif isinstance(module, nn.Module) and _looks_like_charlm(nn, module):
        ours = _charlm_from_torch(nn, module, rng)
    else:
        raise TypeError(f"from_torch: cannot map a {type(module).__name__}; it maps "
                        f"TorchCharLM (children embedding, rnn, dropout, decoder), torch.nn.RNN, "
                        f"LSTM, GRU, their cells, Linear, Embedding and Dropout")
    ours.load_state_dict({k: v.detach().cpu().numpy() for k, v in module.state_dict().items()})
    return ours.train(module.training)


def _numpy_dtype(module, who):
    dtypes = {str(p.dtype).replace("torch.", "") for p in module.parameters()}
    if len(dtypes) != 1 or not dtypes <= set(_DTYPES):
        raise ValueError(f"from_torch: {who} has parameters of dtype {', '.join(sorted(dtypes))}; "
                         f"only float32 or float64 (one of them) map: call .float() or .double() "
                         f"on the module first")
    return np.dtype(dtypes.pop())


def _recurrent_from_torch(torch, module, rng):
    name = type(module).__name__
    cls = {torch.nn.RNN: RNN, torch.nn.LSTM: LSTM, torch.nn.GRU: GRU}.get(type(module))
    if cls is None:
        raise TypeError(f"from_torch: cannot map a {name}; of the recurrent layers only "
                        f"torch.nn.RNN, LSTM and GRU map")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"from_torch: an LSTM with proj_size={module.proj_size} has no "
                         f"scratchrnn counterpart (no LSTM projection); only proj_size=0 maps")
    kwargs = dict(num_layers=module.num_layers, bias=module.bias, batch_first=module.batch_first,
                  dropout=float(module.dropout), bidirectional=module.bidirectional,
                  dtype=_numpy_dtype(module, f"torch.nn.{name}"), rng=rng)
    if cls is RNN:
        kwargs["nonlinearity"] = module.nonlinearity
    return cls(module.input_size, module.hidden_size, **kwargs)


def _check_plain_embedding(module, who="torch.nn.Embedding"):
    options = {"padding_idx": None, "max_norm": None, "scale_grad_by_freq": False, "sparse": False}
    set_ = [f"{k}={getattr(module, k)!r}" for k, default in options.items()
            if getattr(module, k) != default]
    if set_:
        raise ValueError(f"from_torch: {who} with {', '.join(set_)} has no scratchrnn "
                         f"counterpart (Embedding is a plain lookup table); only the defaults map")


_CHARLM_CHILDREN = ("embedding", "rnn", "dropout", "decoder")


def _looks_like_charlm(nn, module):
    children = dict(module.named_children())
    kinds = (nn.Embedding, nn.RNNBase, nn.Dropout, nn.Linear)
    return set(children) == set(_CHARLM_CHILDREN) and all(
        isinstance(children[name], kind) for name, kind in zip(_CHARLM_CHILDREN, kinds))


def _charlm_from_torch(nn, module, rng):
    emb, rnn, drop, dec = (getattr(module, n) for n in _CHARLM_CHILDREN)
    kind = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}.get(type(rnn))
    problems = []
    if kind is None:
        problems.append(f"rnn is a {type(rnn).__name__}, not torch.nn.RNN, LSTM or GRU")
    for option, bad in (("bidirectional", rnn.bidirectional), ("batch_first", rnn.batch_first),
                        ("bias=False", not rnn.bias), ("proj_size", getattr(rnn, "proj_size", 0))):
        if bad:
            problems.append(f"rnn has {option} (CharLM's recurrent stack is one-directional, "
                            f"time-major, with biases, without projection)")
    if kind == "rnn" and rnn.nonlinearity != "tanh":
        problems.append(f"rnn has nonlinearity={rnn.nonlinearity!r} (CharLM's RNN is tanh)")
    if dec.bias is None:
        problems.append("decoder has no bias (CharLM's decoder has one)")
    if rnn.input_size != emb.embedding_dim:
        problems.append(f"rnn.input_size {rnn.input_size} != embedding_dim {emb.embedding_dim}")
    if dec.in_features != rnn.hidden_size:
        problems.append(f"decoder.in_features {dec.in_features} != hidden_size {rnn.hidden_size}")
    if dec.out_features != emb.num_embeddings:
        problems.append(f"decoder.out_features {dec.out_features} != vocabulary size "
                        f"{emb.num_embeddings}")
    if rnn.num_layers > 1 and float(rnn.dropout) != float(drop.p):
        problems.append(f"rnn.dropout {rnn.dropout} != dropout.p {drop.p} (CharLM uses one rate "
                        f"for both)")
    if problems:
        raise ValueError("from_torch: this module does not map to a CharLM: " + "; ".join(problems))
    _check_plain_embedding(emb, "its embedding")
    return CharLM(emb.num_embeddings, kind, emb.embedding_dim, rnn.hidden_size, rnn.num_layers,
                  float(drop.p), dtype=_numpy_dtype(module, type(module).__name__), rng=rng)


# ------------------------------------------------------------------ safetensors
def export_safetensors(checkpoint_path, out_path):
    """A language-model checkpoint (NAME, NAME.npz or a save dir) -> ``out_path``: the model's
    parameters under their names (``embedding.weight``, ``rnn.weight_ih_l0``, ...), and as
    metadata (strings) ``format``, ``config`` (CharLM/TorchCharLM constructor arguments, JSON),
    ``vocab`` (JSON, for ``scratchrnn.data.vocab_from_dict``) and ``step``. Written to a temporary
    file and renamed into place. Returns the metadata."""
    try:
        from safetensors.numpy import save
    except ImportError:
        raise ImportError("exporting to safetensors needs the safetensors package: "
                          "pip install 'scratchrnn[export]' (or pip install safetensors)") from None
    from .checkpoint import _atomic_write, load_model
    model, vocab, meta = load_model(checkpoint_path)
    metadata = {"format": SAFETENSORS_FORMAT, "config": json.dumps(model.config()),
                "vocab": json.dumps(vocab.to_dict()), "step": str(meta.get("step", ""))}
    blob = save(dict(model.state_dict()), metadata=metadata)
    _atomic_write(out_path, lambda f: f.write(blob))
    return metadata
