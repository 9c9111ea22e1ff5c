"""SequenceClassifier: many-to-one classification of ragged batches.

    ids (B, T) padded, lengths (B,) -> Embedding -> (B, T, E) -> RNN/LSTM/GRU (batch_first,
    optionally bidirectional) -> the last valid state of each sequence -> Dropout -> Linear
    -> logits (B, C)

"The last valid state" is h_n of the top layer: the recurrent layers, given ``lengths``, stop each
sequence at its own last step, so padding never reaches the classifier. For the reverse direction
h_n is its state after reading the whole sequence backwards, i.e. at t = 0. Both directions are
concatenated, (B, num_directions * H).
"""
import numpy as np

from ..nn import GRU, LSTM, RNN, Dropout, Embedding, Linear, Module, no_grad

RECURRENT = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class SequenceClassifier(Module):
    def __init__(self, vocab_size, num_classes, model_type="lstm", embedding_dim=32,
                 hidden_size=64, num_layers=1, bidirectional=False, dropout=0.0,
                 dtype=np.float32, rng=None):
        super().__init__()
        if model_type not in RECURRENT:
            raise ValueError(f"model_type must be one of {sorted(RECURRENT)}, got {model_type!r}")
        rng = np.random.default_rng() if rng is None else rng
        self.rng = rng
        self.model_type = model_type
        self.embedding = Embedding(vocab_size, embedding_dim, dtype=dtype, rng=rng)
        self.rnn = RECURRENT[model_type](embedding_dim, hidden_size, num_layers=num_layers,
                                         batch_first=True, bidirectional=bidirectional,
                                         dropout=dropout, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        self.classifier = Linear(hidden_size * self.rnn.num_directions, num_classes,
                                 dtype=dtype, rng=rng)

    def config(self):
        """The constructor arguments, JSON-friendly."""
        return {"vocab_size": self.embedding.num_embeddings,
                "num_classes": self.classifier.out_features, "model_type": self.model_type,
                "embedding_dim": self.embedding.embedding_dim, "hidden_size": self.rnn.hidden_size,
                "num_layers": self.rnn.num_layers, "bidirectional": self.rnn.bidirectional,
                "dropout": self.dropout.p, "dtype": np.dtype(self.rnn.dtype).name}

    def forward(self, ids, lengths=None):
        """ids (B, T) ints (padding anywhere past each length), lengths (B,) or None -> logits (B, C)."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"SequenceClassifier: ids must be (B, T) token indices, got shape {ids.shape}")
        out, h_n = self.rnn(self.embedding(ids), lengths=lengths)
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n          # LSTM: (h_n, c_n)
        nd = self.rnn.num_directions
        top = h_n[-nd:]                                          # top layer: (nd, B, H)
        features = np.concatenate(list(top), axis=1)             # (B, nd * H)
        logits = self.classifier(self.dropout(features))
        self._push((out.shape, h_n.shape))
        return logits

    def backward(self, dlogits):
        """dlogits (B, C): adds every parameter's gradient (ids have none)."""
        out_shape, hn_shape = self._pop()
        dfeatures = self.dropout.backward(self.classifier.backward(dlogits))
        nd, H = self.rnn.num_directions, self.rnn.hidden_size
        dh_n = np.zeros(hn_shape, dfeatures.dtype)
        dh_n[-nd:] = dfeatures.reshape(-1, nd, H).transpose(1, 0, 2)
        dhx = (dh_n, None) if self.model_type == "lstm" else dh_n
        # only h_n feeds the classifier: the per-step outputs get a zero gradient
        demb, _ = self.rnn.backward(np.zeros(out_shape, dfeatures.dtype), dhx)
        self.embedding.backward(demb)

    def predict(self, ids, lengths=None):
        """Class indices (B,), in evaluation mode, without caches."""
        was_training = self.training
        self.eval()
        with no_grad():
            logits = self.forward(ids, lengths)
        self.train(was_training)
        return logits.argmax(axis=1)
