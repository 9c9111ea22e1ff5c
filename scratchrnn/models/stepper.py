"""Stepper: the generation fast path of embedding -> RNN/LSTM/GRU stack -> linear.

    stepper = model.stepper()           # or Stepper(embedding, rnn, decoder)
    stepper.reset(state)                # a state from model.forward, or None for zeros
    logits = stepper.step(ids)          # ids (B,) -> logits (B, V); again and again

The modules' own forward keeps caches, checks shapes and allocates per call, which at one
token per call costs more than the arithmetic. A Stepper instead packs the weights once
(``scratchrnn.kernels.inference``) and keeps every buffer. The whole state of a sequence lives
in one row, [x | 1 | h_0 | 1 | h_1 | ... | 1 | h_{L-1} | 1], so the input of layer l,
[h_{l-1} | 1 | h_l] ([x | 1 | h_0] for l = 0), is a contiguous slice whose 1 multiplies the
bias row of the packed weight: each layer is one matrix product, biases included, and so is
the decoder on [h_{L-1} | 1]. Layer l overwrites h_l after reading it; layer l + 1 then
reads the new h_l as its input.

It is a snapshot for inference: made from the parameters as they are (make a new one after
training on), with dropout off. ``step`` returns a view of an internal buffer that the next
step overwrites.
"""
import numpy as np

from ..kernels import inference as KI
from ..nn import GRU, LSTM, RNN


KINDS = ((LSTM, "lstm", KI.pack_lstm), (GRU, "gru", KI.pack_gru), (RNN, "rnn", KI.pack_rnn))


class Stepper:
    def __init__(self, embedding, rnn, decoder, batch_size=1):
        kinds = [(name, pack) for cls, name, pack in KINDS if isinstance(rnn, cls)]
        if not kinds:
            raise TypeError(f"Stepper: the recurrent layer must be a scratchrnn.nn RNN, LSTM or "
                            f"GRU, got {type(rnn).__name__}")
        if rnn.bidirectional:
            raise ValueError("Stepper: a bidirectional layer needs the whole sequence; "
                             "generation runs left to right (use bidirectional=False)")
        if isinstance(rnn, LSTM) and (rnn.peephole or rnn.coupled):
            raise ValueError("Stepper: peephole and coupled LSTMs have no fast path; "
                             "call the modules step by step under no_grad() instead")
        if isinstance(rnn, GRU) and not rnn.reset_after:
            raise ValueError("Stepper: the reset-before GRU has no fast path; "
                             "call the modules step by step under no_grad() instead")
        self.kind, pack = kinds[0]
        self.nonlinearity = getattr(rnn, "nonlinearity", "tanh")
        self.weights = [pack(*(None if p is None else p.data for p in group))
                        for group in rnn._groups]
        self.embedding = embedding.weight.data.copy()               # (V, E)
        self.W_out = KI.pack_linear(decoder.weight.data,            # (H + 1, V)
                                    None if decoder.bias is None else decoder.bias.data)
        self.E, self.H, self.L = embedding.embedding_dim, rnn.hidden_size, rnn.num_layers
        self.dtype = self.W_out.dtype
        self.B = None
        self.reset(batch_size=batch_size)

    # ------------------------------------------------------------ state
    def reset(self, state=None, batch_size=None):
        """Start from ``state`` (what the recurrent module returns: h (L, B, H), for the LSTM
        the tuple (h, c)), which sets the batch size, or, if None, from zeros for
        ``batch_size`` rows (default: the current number)."""
        if state is None:
            self._resize(self.B if batch_size is None else batch_size)
            self._h[:] = 0
            if self._c is not None:
                self._c[:] = 0
            return
        if self.kind == "lstm":
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise ValueError("Stepper.reset: an LSTM's state is the tuple (h, c), "
                                 "each (num_layers, B, hidden_size)")
            h, c = np.asarray(state[0]), np.asarray(state[1])
        else:
            h, c = np.asarray(state), None
        if h.ndim != 3 or h.shape[0] != self.L or h.shape[2] != self.H:
            raise ValueError(f"Stepper.reset: state must be ({self.L}, B, {self.H}), "
                             f"got {h.shape}")
        if c is not None and c.shape != h.shape:
            raise ValueError(f"Stepper.reset: c must have h's shape {h.shape}, got {c.shape}")
        self._resize(h.shape[1])
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
        self._resize(len(index))
        self._rows[:] = rows
        if c is not None:
            self._c[:] = c

    def _resize(self, B):
        """Buffers for B rows: kept if B is unchanged (their contents are then stale)."""
        if B == self.B:
            return
        E, H, L, dt = self.E, self.H, self.L, self.dtype
        self.B = B
        self._rows = np.ones((B, E + 1 + L * (H + 1)), dt)    # [x | 1 | h_0 | 1 | ... | h_{L-1} | 1]
        self._x = self._rows[:, :E]
        self._h = self._rows[:, E + 1:].reshape(B, L, H + 1)[:, :, :H]    # views into _rows
        self._h[:] = 0
        self._c = np.zeros((L, B, H), dt) if self.kind == "lstm" else None
        self._tmp = np.empty((B, H), dt)
        self.logits = np.empty((B, self.W_out.shape[1]), dt)
        self._top = self._rows[:, -(H + 1):]                     # [h_{L-1} | 1]
        # Per layer: its products (input slice, packed weight, output buffer), then the
        # element-wise step with its buffers. One set of pre-activation buffers serves all.
        if self.kind == "gru":
            rz, n_x, n = np.empty((B, 2 * H), dt), np.empty((B, H), dt), np.empty((B, H), dt)
        else:
            a = np.empty((B, self.weights[0].shape[1]), dt)
        self._layers = []
        for l, W in enumerate(self.weights):
            start = 0 if l == 0 else E + 1 + (l - 1) * (H + 1)
            inp, h = self._rows[:, start:E + 1 + l * (H + 1) + H], self._h[:, l]
            if self.kind == "gru":
                D = E if l == 0 else H                   # inp = [x | 1 | h], x of width D
                products = [(inp, W[0], rz), (inp[:, :D + 1], W[1], n_x), (inp[:, D:], W[2], n)]
                infer, args = KI.gru_infer_step, (rz, n_x, n, h, self._tmp)
            elif self.kind == "lstm":
                products = [(inp, W, a)]
                infer, args = KI.lstm_infer_step, (a, self._c[l], h, self._tmp)
            else:
                products = [(inp, W, a)]
                infer, args = KI.rnn_infer_step, (a, h, self.nonlinearity)
            self._layers.append((products, infer, args))

    # ------------------------------------------------------------ one token
    def step(self, ids):
        """ids (B,) token indices -> logits (B, V) for the next token (a view, see above).
        As in NumPy indexing, a negative id counts from the end of the vocabulary."""
        try:
            np.take(self.embedding, ids, axis=0, out=self._x)
        except ValueError:      # only a wrong number of ids gets here (too large: IndexError)
            raise ValueError(f"Stepper.step: ids must be ({self.B},) token indices, one per "
                             f"row, got shape {np.shape(ids)}") from None
        for products, infer, args in self._layers:
            for inp, W, out in products:
                np.matmul(inp, W, out=out)
            infer(*args)
        return np.matmul(self._top, self.W_out, out=self.logits)
