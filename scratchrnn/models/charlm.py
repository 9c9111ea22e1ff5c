"""CharLM: embedding -> RNN/LSTM/GRU stack -> dropout -> linear, for characters or words.

    ids (T, B) -> Embedding -> (T, B, E) -> recurrent stack -> (T, B, H) -> Dropout -> Linear
    -> logits (T, B, V)

The recurrent state is returned so the trainer can carry it from one batch to the next
(truncated BPTT: the gradient stops at the batch boundary, the state does not).

Folding (an execution strategy: the same parameters, names and checkpoints, the same loss
and gradients to round-off). Layer 0's input projection of token t is W_ih E[id_t], row
id_t of the (V, G) table W_ih E^T (G = gates * H), so for a small vocabulary the model makes
that table once per forward and looks the rows up instead of multiplying every token's
embedding by W_ih; in backward the gradient of the table is summed per id (one (V, N) x
(N, G) product), and dW_ih = dtable^T E, dE = dtable W_ih are two small products. Counting
multiply-adds over the N = T B tokens of a call, folding costs V E G (table) + V N G (per-id
sums) + 2 V E G (the two small products) against 3 N E G unfolded (projection, dW_ih, dx),
so the rule (``folds``) is

    training:  fold iff V (3 E + N) < 3 N E      (V = 65, E = 128, N = 2048: yes)
    no_grad:   fold iff V < N                    (the table against the projection)

which turns folding off for word vocabularies (V = 10,000 > 3 E) and for generation (N = B).
``fold_embedding`` = True/False overrides the rule. CharLM applies no dropout to the
embedding output (dropout sits between the recurrent layers and before the decoder), so
folding is always exact; an embedding dropout would make the rows of x differ from E[id]
and would have to turn it off. Peephole/coupled LSTMs and the reset-before GRU never fold
(no gathered kernel).
"""
import numpy as np

from ..nn import GRU, LSTM, RNN, Dropout, Embedding, Linear, Module, is_grad_enabled
from ..kernels.activations import softmax
from .stepper import Stepper

RECURRENT = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class CharLM(Module):
    fold_embedding = "auto"     # the rule of ``folds``; True or False forces it

    def __init__(self, vocab_size, model_type="lstm", embedding_dim=64, hidden_size=256,
                 num_layers=2, dropout=0.0, dtype=np.float32, rng=None):
        super().__init__()
        if model_type not in RECURRENT:
            raise ValueError(f"model_type must be one of {sorted(RECURRENT)}, got {model_type!r}")
        rng = np.random.default_rng() if rng is None else rng
        self.rng = rng      # one generator for init, dropout and scheduled sampling: one state to save
        self.model_type = model_type
        self.embedding = Embedding(vocab_size, embedding_dim, dtype=dtype, rng=rng)
        self.rnn = RECURRENT[model_type](embedding_dim, hidden_size, num_layers=num_layers,
                                         dropout=dropout, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        self.decoder = Linear(hidden_size, vocab_size, dtype=dtype, rng=rng)

    def config(self):
        """The constructor arguments, JSON-friendly (saved in checkpoints)."""
        return {"vocab_size": self.embedding.num_embeddings, "model_type": self.model_type,
                "embedding_dim": self.embedding.embedding_dim, "hidden_size": self.rnn.hidden_size,
                "num_layers": self.rnn.num_layers, "dropout": self.dropout.p,
                "dtype": np.dtype(self.rnn.dtype).name}

    # ------------------------------------------------------------ teacher-forced
    def folds(self, n_tokens, training=None):
        """Whether a call on ``n_tokens`` = T * B tokens folds the embedding into layer 0
        (module docstring); ``training`` defaults to whether gradients are enabled."""
        if not self.rnn.can_fold or self.fold_embedding is False:
            return False
        if self.fold_embedding is True:
            return True
        training = is_grad_enabled() if training is None else training
        V, E = self.embedding.num_embeddings, self.embedding.embedding_dim
        return V * (3 * E + n_tokens) < 3 * n_tokens * E if training else V < n_tokens

    def forward(self, ids, state=None):
        """ids (T, B) ints, state from the previous call or None -> logits (T, B, V), state."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"CharLM: ids must be (T, B) token indices, got shape {ids.shape}")
        if self.folds(ids.size):
            out, state, cache = self._forward_folded(ids, state)
        else:
            out, state = self.rnn(self.embedding(ids), state)
            cache = "teacher_forced"
        logits = self.decoder(self.dropout(out))
        self._push(cache, dlogits=logits.shape)
        return logits, state

    def _forward_folded(self, ids, state):
        V = self.embedding.num_embeddings
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"CharLM: ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise IndexError(f"CharLM: ids must lie in [0, {V}); found values from {ids.min()} "
                             f"to {ids.max()} (is the vocabulary the model's?)")
        E, W_ih = self.embedding.weight.data, self.rnn.weight_ih_l0.data
        table = np.matmul(E, W_ih.T)                    # (V, G): W_ih E[v] for every id v
        out, state = self.rnn._forward_folded(ids, table, state)
        return out, state, ("folded", E, W_ih)

    def backward(self, dlogits):
        """dlogits (T, B, V): adds every parameter's gradient. Token ids have none."""
        cache = self._pop(dlogits=dlogits)
        if cache == "scheduled":
            return self._backward_scheduled(dlogits)
        dout = self.dropout.backward(self.decoder.backward(dlogits))
        demb, _ = self.rnn.backward(dout)
        if cache == "teacher_forced":
            self.embedding.backward(demb)
            return
        _, E, W_ih = cache          # folded: demb is the gradient of the table W_ih E^T
        self.rnn.weight_ih_l0.grad += np.matmul(demb.T, E)
        self.embedding.weight.grad += np.matmul(demb, W_ih)

    # ------------------------------------------------------------ scheduled sampling
    def forward_scheduled(self, ids, state=None, teacher_forcing_ratio=1.0):
        """Like forward, but after the first step each sequence is fed, with probability
        1 - teacher_forcing_ratio, the model's own sample from the previous step instead of
        the true token (Bengio et al., 2015). The samples are treated as given: no gradient
        flows through the sampling. Runs step by step, so it is slower than forward.
        """
        ids = np.asarray(ids)
        T, B = ids.shape
        logits = np.empty((T, B, self.decoder.out_features), dtype=self.rnn.dtype)
        inp = ids[0]
        for t in range(T):
            out, state = self.rnn(self.embedding(inp[None]), state)
            logits[t] = self.decoder(self.dropout(out))[0]
            if t + 1 < T:
                own = self._sample(logits[t])
                inp = np.where(self.rng.random(B) < teacher_forcing_ratio, ids[t + 1], own)
        self._push("scheduled", dlogits=logits.shape)
        return logits, state

    def _sample(self, logits):
        p = softmax(logits.astype(np.float64))
        u = self.rng.random((p.shape[0], 1))
        return np.minimum((p.cumsum(axis=1) < u).sum(axis=1), p.shape[1] - 1)

    def _backward_scheduled(self, dlogits):
        dstate = None
        for t in reversed(range(dlogits.shape[0])):
            dout = self.dropout.backward(self.decoder.backward(dlogits[t:t + 1]))
            demb, dstate = self.rnn.backward(dout, dstate)
            self.embedding.backward(demb)

    # ------------------------------------------------------------ generation
    def step(self, ids, state=None):
        """One token per sequence: ids (B,) -> logits (B, V) float64, state. Keeps no cache
        when called under no_grad() (generation)."""
        if is_grad_enabled():
            raise RuntimeError("CharLM.step is for generation: call it inside scratchrnn.nn.no_grad()")
        logits, state = self.forward(np.asarray(ids).reshape(1, -1), state)
        return logits[0].astype(np.float64), state

    def stepper(self, batch_size=1):
        """The generation fast path (``Stepper``): the same function as ``step`` (to round-off),
        several times faster, from a snapshot of the current parameters with dropout off; its
        logits are in the model's dtype, a view that its next step overwrites."""
        return Stepper(self.embedding, self.rnn, self.decoder, batch_size)
