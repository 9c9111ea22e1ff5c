"""Stepper: the generation fast path of embedding -> RNN/LSTM/GRU stack -> linear.

    stepper = model.stepper()           # or Stepper(embedding, rnn, decoder)
    stepper.reset(state)                # a state from model.forward, or None for zeros
    logits = stepper.step(ids)          # ids (B,) -> logits (B, V); again and again

The modules' own forward keeps caches, checks shapes and allocates per call, which at one
token per call costs more than the arithmetic. A Stepper instead packs the weights once
(``scratchrnn.kernels.inference``) and keeps every buffer: the whole state lives in one row
per sequence, [x | h_0 | h_1 | ... | h_{L-1}], so the input of layer l, [h_{l-1} | h_l], is a
contiguous slice and each layer is one matrix product. Layer l overwrites h_l with its new
state after reading the old one; layer l + 1 then reads the new h_l as its input.

It is a snapshot for inference: made from the parameters as they are (make a new one after
training on), with dropout off. ``step`` returns a view of an internal buffer that the next
step overwrites.
"""
import numpy as np

from ..kernels import inference as KI
from ..nn import GRU, LSTM, RNN


class Stepper:
    def __init__(self, embedding, rnn, decoder, batch_size=1):
        if rnn.bidirectional:
            raise ValueError("Stepper: a bidirectional layer needs the whole sequence; "
                             "generation runs left to right (use bidirectional=False)")
        if isinstance(rnn, LSTM) and (rnn.peephole or rnn.coupled):
            raise ValueError("Stepper: peephole and coupled LSTMs have no fast path; "
                             "call the modules step by step under no_grad() instead")
        if isinstance(rnn, GRU) and not rnn.reset_after:
            raise ValueError("Stepper: the reset-before GRU has no fast path; "
                             "call the modules step by step under no_grad() instead")
        self.kind = {LSTM: "lstm", GRU: "gru", RNN: "rnn"}[type(rnn)]
        self.nonlinearity = getattr(rnn, "nonlinearity", "tanh")
        pack = {"lstm": KI.pack_lstm, "gru": KI.pack_gru, "rnn": KI.pack_rnn}[self.kind]
        self.weights = [pack(*(None if p is None else p.data for p in group))
                        for group in rnn._groups]
        self.embedding = embedding.weight.data.copy()               # (V, E)
        self.W_out = np.ascontiguousarray(decoder.weight.data.T)   # (H, V)
        self.b_out = (np.zeros(decoder.out_features, self.W_out.dtype) if decoder.bias is None
                      else decoder.bias.data.copy())
        self.E, self.H, self.L = embedding.embedding_dim, rnn.hidden_size, rnn.num_layers
        self.dtype = self.W_out.dtype
        self.reset(batch_size=batch_size)

    # ------------------------------------------------------------ state
    def reset(self, state=None, batch_size=None):
        """Start from ``state`` (what the recurrent module returns: h (L, B, H), for the LSTM
        (h, c)) or, if None, from zeros for ``batch_size`` rows (default: the current one)."""
        if state is None:
            B = self.B if batch_size is None else batch_size
            self._allocate(B)
            return
        h, c = state if self.kind == "lstm" else (state, None)
        h = np.asarray(h)
        if h.ndim != 3 or h.shape[0] != self.L or h.shape[2] != self.H:
            raise ValueError(f"Stepper.reset: state must be ({self.L}, B, {self.H}), "
                             f"got {h.shape}")
        self._allocate(h.shape[1])
        self._h[:] = h.transpose(1, 0, 2)
        if c is not None:
            self._c[:] = c

    @property
    def state(self):
        """A copy of the state in the recurrent module's format."""
        h = self._h.transpose(1, 0, 2).copy()
        return (h, self._c.copy()) if self.kind == "lstm" else h

    def select(self, index):
        """Keep and reorder rows: row k becomes the old row index[k] (beam search)."""
        index = np.asarray(index)
        rows, c = self._rows[index], None if self._c is None else self._c[:, index]
        self._allocate(len(index))
        self._rows[:] = rows
        if c is not None:
            self._c[:] = c

    def _allocate(self, B):
        E, H, L, dt = self.E, self.H, self.L, self.dtype
        self.B = B
        self._rows = np.zeros((B, E + L * H), dt)          # [x | h_0 | ... | h_{L-1}] per row
        self._x = self._rows[:, :E]
        self._h = self._rows[:, E:].reshape(B, L, H)        # a view: writes land in _rows
        self._c = np.zeros((L, B, H), dt) if self.kind == "lstm" else None
        G = self.weights[0][0].shape[1]
        self._a = np.empty((B, G), dt)                      # one layer's pre-activations
        self._tmp = np.empty((B, H), dt)
        self.logits = np.empty((B, self.W_out.shape[1]), dt)
        # Per layer: its input [h_{l-1} | h_l] (x for l = 0) and its state h_l, as views.
        starts = [0] + [E + l * H for l in range(L - 1)]
        self._layers = [(self._rows[:, s:E + (l + 1) * H], self._h[:, l], W, b)
                        for l, (s, (W, b)) in enumerate(zip(starts, self.weights))]

    # ------------------------------------------------------------ one token
    def step(self, ids):
        """ids (B,) token indices -> logits (B, V) for the next token (a view, see above)."""
        a, tmp = self._a, self._tmp
        np.take(self.embedding, ids, axis=0, out=self._x)
        for l, (inp, h, W, b) in enumerate(self._layers):
            np.matmul(inp, W, out=a)
            a += b
            if self.kind == "lstm":
                KI.lstm_infer_step(a, self._c[l], h, tmp)
            elif self.kind == "gru":
                KI.gru_infer_step(a, h, tmp)
            else:
                KI.rnn_infer_step(a, h, self.nonlinearity)
        np.matmul(self._h[:, -1], self.W_out, out=self.logits)
        self.logits += self.b_out
        return self.logits
