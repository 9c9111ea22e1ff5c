"""Seq2Seq: an encoder-decoder (GRU or LSTM) with teacher forcing and greedy decoding.

    src (B, S) padded, src_lengths (B,) -> Embedding -> encoder -> its final state (h_n)
    tgt_in (B, U) = [BOS, y_1, ..., y_{U-1}] -> Embedding -> decoder, started from that state
    -> Linear -> logits (B, U, V), scored against tgt_out = [y_1, ..., y_{U-1}, EOS]

The whole source is squeezed into the encoder's final state (no attention), which is why such
models struggle as the strings grow. The encoder reads each source to its own length, so its
final state is the state after the last real token.

Teacher forcing: in training the decoder reads the true previous token. With
``teacher_forcing_ratio`` r < 1, each step, each sequence reads the true token with probability
r and otherwise the decoder's own greedy prediction from the previous step (treated as given:
no gradient flows through the argmax). r < 1 runs the decoder one step at a time.
"""
import numpy as np

from ..nn import GRU, LSTM, Embedding, Linear, Module, no_grad

CELLS = {"gru": GRU, "lstm": LSTM}


class Seq2Seq(Module):
    def __init__(self, src_vocab_size, tgt_vocab_size, cell="gru", embedding_dim=32,
                 hidden_size=128, num_layers=1, bos=1, eos=2, dtype=np.float32, rng=None):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        rng = np.random.default_rng() if rng is None else rng
        self.rng = rng            # draws the teacher-forcing coin flips
        self.cell, self.bos, self.eos = cell, bos, eos
        layer = CELLS[cell]
        self.src_embedding = Embedding(src_vocab_size, embedding_dim, dtype=dtype, rng=rng)
        self.encoder = layer(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                             dtype=dtype, rng=rng)
        self.tgt_embedding = Embedding(tgt_vocab_size, embedding_dim, dtype=dtype, rng=rng)
        self.decoder = layer(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                             dtype=dtype, rng=rng)
        self.out = Linear(hidden_size, tgt_vocab_size, dtype=dtype, rng=rng)

    def config(self):
        return {"src_vocab_size": self.src_embedding.num_embeddings,
                "tgt_vocab_size": self.tgt_embedding.num_embeddings, "cell": self.cell,
                "embedding_dim": self.src_embedding.embedding_dim,
                "hidden_size": self.encoder.hidden_size, "num_layers": self.encoder.num_layers,
                "bos": self.bos, "eos": self.eos, "dtype": np.dtype(self.encoder.dtype).name}

    # ------------------------------------------------------------ training
    def encode(self, src, src_lengths=None):
        """src (B, S) ints -> the encoder's final state (LSTM: (h_n, c_n))."""
        out, state = self.encoder(self.src_embedding(np.asarray(src)), lengths=src_lengths)
        return out.shape, state

    def forward(self, src, src_lengths, tgt_in, teacher_forcing_ratio=1.0):
        """src (B, S), src_lengths (B,) or None, tgt_in (B, U) ints -> logits (B, U, V)."""
        enc_shape, state = self.encode(src, src_lengths)
        tgt_in = np.asarray(tgt_in)
        if teacher_forcing_ratio >= 1:
            dec_out, _ = self.decoder(self.tgt_embedding(tgt_in), state)
            logits = self.out(dec_out)
        else:
            logits = self._forward_scheduled(tgt_in, state, teacher_forcing_ratio)
        self._push((enc_shape, teacher_forcing_ratio >= 1, tgt_in.shape[1]))
        return logits

    def _forward_scheduled(self, tgt_in, state, ratio):
        B, U = tgt_in.shape
        logits = np.empty((B, U, self.out.out_features), self.encoder.dtype)
        inp = tgt_in[:, 0]
        for t in range(U):
            dec_out, state = self.decoder(self.tgt_embedding(inp[:, None]), state)
            logits[:, t] = self.out(dec_out)[:, 0]
            if t + 1 < U:
                own = logits[:, t].argmax(axis=1)
                inp = np.where(self.rng.random(B) < ratio, tgt_in[:, t + 1], own)
        return logits

    def backward(self, dlogits):
        """dlogits (B, U, V): adds every parameter's gradient (token ids have none)."""
        enc_shape, forced, U = self._pop()
        if forced:
            ddec, dstate = self.decoder.backward(self.out.backward(dlogits))
            self.tgt_embedding.backward(ddec)
        else:
            dstate = None       # the last step's state is not used, so its gradient is zero
            for t in reversed(range(U)):
                ddec, dstate = self.decoder.backward(self.out.backward(dlogits[:, t:t + 1]), dstate)
                self.tgt_embedding.backward(ddec)
        # only the final state reaches the decoder: the encoder's outputs get a zero gradient
        demb, _ = self.encoder.backward(np.zeros(enc_shape, dlogits.dtype), dstate)
        self.src_embedding.backward(demb)

    # ------------------------------------------------------------ inference
    def greedy_decode(self, src, src_lengths=None, max_len=20):
        """Feed back the most likely token until EOS: tokens (B, max_len), EOS-padded."""
        was_training = self.training
        self.eval()
        with no_grad():
            _, state = self.encode(src, src_lengths)
            B = np.asarray(src).shape[0]
            tokens = np.full((B, max_len), self.eos, dtype=np.int64)
            inp, done = np.full(B, self.bos), np.zeros(B, bool)
            for t in range(max_len):
                dec_out, state = self.decoder(self.tgt_embedding(inp[:, None]), state)
                inp = self.out(dec_out)[:, 0].argmax(axis=1)
                tokens[:, t] = np.where(done, self.eos, inp)
                done |= inp == self.eos
                if done.all():
                    break
        self.train(was_training)
        return tokens
