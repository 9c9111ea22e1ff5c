"""Seq2Seq: an encoder-decoder (GRU or LSTM), optionally with attention; teacher forcing, greedy and
beam-search decoding.

    src (B, S) padded, src_lengths (B,) -> Embedding -> encoder -> its final state (h_n)
    tgt_in (B, U) = [BOS, y_1, ..., y_{U-1}] -> Embedding -> decoder, started from that state
    -> Linear -> logits (B, U, V), scored against tgt_out = [y_1, ..., y_{U-1}, EOS]

Without attention the whole source is squeezed into the encoder's final state, which is why
such models struggle as the strings grow. The encoder reads each source to its own length, so
its final state is the state after the last real token.

With ``attention="additive" | "general" | "dot"`` (Luong et al., 2015) the decoder state h_t
(the top layer's output) attends over all encoder outputs (keys, masked by src_lengths):

    context_t, weights_t = Attention(h_t, encoder outputs)
    htilde_t = tanh(W_c [context_t; h_t])        (``combine``, no bias)  -> Linear -> logits_t

and with ``input_feeding=True`` (the default) htilde_{t-1} is concatenated to the embedding of
the previous token at the decoder's input, so that model runs one step at a time; without input
feeding and with full teacher forcing the decoder and the attention run over all U steps at
once. The encoder outputs now receive a gradient (the two paths of docs/theory/attention.md,
summed over the decoder steps) on top of the one through the final state.

Teacher forcing: in training the decoder reads the true previous token. With
``teacher_forcing_ratio`` r < 1, each step, each sequence reads the true token with probability
r and otherwise the decoder's own greedy prediction from the previous step (treated as given:
no gradient flows through the argmax). r < 1 runs the decoder one step at a time.

Decoding: ``greedy_decode`` (the most likely token each step) and ``beam_search`` (the
``beam_size`` best prefixes by total log-probability, optionally length-normalised).
"""
import numpy as np

from ..kernels.activations import stable_log_softmax
from ..nn import GRU, LSTM, Attention, Embedding, Linear, Module, no_grad

CELLS = {"gru": GRU, "lstm": LSTM}
ATTENTION = (None, "additive", "general", "dot")


class Seq2Seq(Module):
    def __init__(self, src_vocab_size, tgt_vocab_size, cell="gru", embedding_dim=32,
                 hidden_size=128, num_layers=1, bos=1, eos=2, dtype=np.float32, rng=None,
                 attention=None, input_feeding=True):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        if attention not in ATTENTION:
            raise ValueError(f"Seq2Seq: attention must be one of None, 'additive', 'general', "
                             f"'dot', got {attention!r}")
        rng = np.random.default_rng() if rng is None else rng
        self.rng = rng            # draws the teacher-forcing coin flips
        self.cell, self.bos, self.eos = cell, bos, eos
        layer = CELLS[cell]
        self.src_embedding = Embedding(src_vocab_size, embedding_dim, dtype=dtype, rng=rng)
        self.encoder = layer(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                             dtype=dtype, rng=rng)
        self.tgt_embedding = Embedding(tgt_vocab_size, embedding_dim, dtype=dtype, rng=rng)
        self.attention_score = attention
        self.input_feeding = bool(input_feeding) and attention is not None
        feed = hidden_size if self.input_feeding else 0
        self.decoder = layer(embedding_dim + feed, hidden_size, num_layers=num_layers,
                             batch_first=True, dtype=dtype, rng=rng)
        if attention is not None:
            self.attention = Attention(hidden_size, hidden_size, score=attention, dtype=dtype,
                                       rng=rng)
            self.combine = Linear(2 * hidden_size, hidden_size, bias=False, dtype=dtype, rng=rng)
        self.out = Linear(hidden_size, tgt_vocab_size, dtype=dtype, rng=rng)

    def config(self):
        return {"src_vocab_size": self.src_embedding.num_embeddings,
                "tgt_vocab_size": self.tgt_embedding.num_embeddings, "cell": self.cell,
                "embedding_dim": self.src_embedding.embedding_dim,
                "hidden_size": self.encoder.hidden_size, "num_layers": self.encoder.num_layers,
                "bos": self.bos, "eos": self.eos, "dtype": np.dtype(self.encoder.dtype).name,
                "attention": self.attention_score, "input_feeding": self.input_feeding}

    # ------------------------------------------------------------ training
    def encode(self, src, src_lengths=None):
        """src (B, S) ints -> the encoder's final state (LSTM: (h_n, c_n))."""
        out, state = self.encoder(self.src_embedding(np.asarray(src)), lengths=src_lengths)
        return out.shape, state

    def forward(self, src, src_lengths, tgt_in, teacher_forcing_ratio=1.0):
        """src (B, S), src_lengths (B,) or None, tgt_in (B, U) ints -> logits (B, U, V)."""
        if self.attention_score is not None:
            return self._attention_forward(src, src_lengths, tgt_in, teacher_forcing_ratio)
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
        if self.attention_score is not None:
            return self._attention_backward(dlogits)
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
    def greedy_decode(self, src, src_lengths=None, max_len=20, return_weights=False):
        """Feed back the most likely token until EOS: tokens (B, max_len), EOS-padded.

        return_weights (attention only): also the attention weights (B, max_len, S) of each
        output step over the source positions (the heat map), zero after a sequence's EOS.
        """
        if self.attention_score is not None:
            return self._attention_greedy(src, src_lengths, max_len, return_weights)
        if return_weights:
            raise ValueError("Seq2Seq.greedy_decode: return_weights needs a model built with "
                             "attention='additive', 'general' or 'dot'")
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

    # ------------------------------------------------------------ attention
    def _memory(self, src, src_lengths):
        """Encoder outputs as the attention's keys (S, B, H), the lengths, and the final state."""
        src = np.asarray(src)
        enc_out, state = self.encoder(self.src_embedding(src), lengths=src_lengths)
        lengths = None if src_lengths is None else np.asarray(src_lengths)
        return enc_out.transpose(1, 0, 2), lengths, state

    def _zero_feed(self, B):
        return np.zeros((B, self.encoder.hidden_size), self.encoder.dtype) if self.input_feeding \
            else None

    def _step(self, tokens, state, feed, keys, lengths):
        """One decoder step: tokens (B,) -> logits (B, V), state, htilde (B, H), weights (B, S)."""
        x = self.tgt_embedding(tokens[:, None])                            # (B, 1, E)
        if self.input_feeding:
            x = np.concatenate([x, feed[:, None]], axis=2)
        dec_out, state = self.decoder(x, state)
        h = dec_out[:, 0]
        context, weights = self.attention(h[None], keys, lengths)          # (1, B, H), (1, B, S)
        htilde = np.tanh(self.combine(np.concatenate([context[0], h], axis=1)))
        return self.out(htilde), state, htilde, weights[0]

    def _step_backward(self, dlogits, dfeed, dstate, htilde):
        """Undo one _step: dlogits (B, V), dfeed (B, H) from the next step's input or None.
        Returns dfeed of the previous step (or None), dstate, dkeys (S, B, H)."""
        dhtilde = self.out.backward(dlogits)
        if dfeed is not None:
            dhtilde = dhtilde + dfeed
        dcat = self.combine.backward(dhtilde * (1 - htilde ** 2))          # tanh' = 1 - tanh^2
        H = htilde.shape[1]
        dqueries, dkeys = self.attention.backward(dcat[None, :, :H])
        dh = dcat[:, H:] + dqueries[0]
        dx, dstate = self.decoder.backward(dh[:, None], dstate)
        E = self.tgt_embedding.embedding_dim
        self.tgt_embedding.backward(dx[:, :, :E])
        return (dx[:, 0, E:] if self.input_feeding else None), dstate, dkeys

    def _attention_forward(self, src, src_lengths, tgt_in, ratio):
        keys, lengths, state = self._memory(src, src_lengths)
        tgt_in = np.asarray(tgt_in)
        B, U = tgt_in.shape
        if ratio >= 1 and not self.input_feeding:
            # every decoder input is known: the decoder and the attention over all U steps at once
            dec_out, _ = self.decoder(self.tgt_embedding(tgt_in), state)   # (B, U, H)
            queries = dec_out.transpose(1, 0, 2)                           # (U, B, H)
            context, _ = self.attention(queries, keys, lengths)
            htilde = np.tanh(self.combine(np.concatenate([context, queries], axis=2)))
            logits = self.out(htilde).transpose(1, 0, 2)
            self._push(("whole", htilde, keys.shape))
            return logits
        logits = np.empty((B, U, self.out.out_features), self.encoder.dtype)
        feed, htildes, inp = self._zero_feed(B), [], tgt_in[:, 0]
        for t in range(U):
            logits[:, t], state, feed, _ = self._step(inp, state, feed, keys, lengths)
            htildes.append(feed)
            if t + 1 < U:
                inp = tgt_in[:, t + 1]
                if ratio < 1:
                    own = logits[:, t].argmax(axis=1)
                    inp = np.where(self.rng.random(B) < ratio, inp, own)
        self._push(("steps", htildes, keys.shape))
        return logits

    def _attention_backward(self, dlogits):
        mode, htilde, keys_shape = self._pop()
        if mode == "whole":
            dhtilde = self.out.backward(dlogits.transpose(1, 0, 2))
            dcat = self.combine.backward(dhtilde * (1 - htilde ** 2))
            H = htilde.shape[2]
            dqueries, dkeys = self.attention.backward(dcat[:, :, :H])
            ddec = (dcat[:, :, H:] + dqueries).transpose(1, 0, 2)           # (B, U, H)
            dx, dstate = self.decoder.backward(ddec)
            self.tgt_embedding.backward(dx)
        else:
            dkeys = np.zeros(keys_shape, dlogits.dtype)
            dfeed = dstate = None     # the last step's state and htilde feed nothing
            for t in reversed(range(dlogits.shape[1])):
                dfeed, dstate, dk = self._step_backward(dlogits[:, t], dfeed, dstate, htilde[t])
                dkeys += dk
        # the encoder outputs get the attention's gradient, its final state the decoder's
        demb, _ = self.encoder.backward(dkeys.transpose(1, 0, 2), dstate)
        self.src_embedding.backward(demb)

    def _attention_greedy(self, src, src_lengths, max_len, return_weights):
        was_training = self.training
        self.eval()
        with no_grad():
            keys, lengths, state = self._memory(src, src_lengths)
            B = keys.shape[1]
            tokens = np.full((B, max_len), self.eos, dtype=np.int64)
            weights = np.zeros((B, max_len, keys.shape[0]), keys.dtype)
            inp, done, feed = np.full(B, self.bos), np.zeros(B, bool), self._zero_feed(B)
            for t in range(max_len):
                logits, state, feed, w = self._step(inp, state, feed, keys, lengths)
                inp = logits.argmax(axis=1)
                tokens[:, t] = np.where(done, self.eos, inp)
                weights[~done, t] = w[~done]
                done |= inp == self.eos
                if done.all():
                    break
        self.train(was_training)
        return (tokens, weights) if return_weights else tokens

    # ------------------------------------------------------------ beam search
    def _plain_step(self, tokens, state, feed, keys, lengths):
        dec_out, state = self.decoder(self.tgt_embedding(tokens[:, None]), state)
        return self.out(dec_out)[:, 0], state, None, None

    def beam_search(self, src, src_lengths=None, beam_size=4, max_len=20, length_penalty=0.0,
                    return_scores=False):
        """The best of ``beam_size`` hypotheses per source: tokens (B, max_len), EOS-padded.

        Each step keeps the beam_size best prefixes by total log-probability; a hypothesis ends
        at its EOS (which is scored) or at max_len. The final choice divides each total by
        ((5 + length) / 6) ** length_penalty (Wu et al., 2016; 0 = plain log-probability).
        return_scores: also the chosen hypotheses' total log-probabilities (B,).
        beam_size=1 is greedy decoding.
        """
        if not isinstance(beam_size, (int, np.integer)) or beam_size < 1:
            raise ValueError(f"Seq2Seq.beam_search: beam_size must be a positive integer, got "
                             f"{beam_size!r}")
        was_training = self.training
        self.eval()
        K, V = beam_size, self.out.out_features
        with no_grad():
            if self.attention_score is None:
                _, state = self.encode(src, src_lengths)
                B = np.asarray(src).shape[0]
                keys = lengths = None
                step = self._plain_step
            else:
                keys, lengths, state = self._memory(src, src_lengths)
                B = keys.shape[1]
                keys = np.repeat(keys, K, axis=1)                          # row b * K + k
                lengths = None if lengths is None else np.repeat(lengths, K)
                step = self._step
            state = _select_rows(state, np.repeat(np.arange(B), K))
            feed = self._zero_feed(B * K)
            scores = np.full((B, K), -np.inf)
            scores[:, 0] = 0.0                                             # one live beam at first
            tokens = np.full((B, K, max_len), self.eos, dtype=np.int64)
            done = np.zeros((B, K), bool)
            length = np.zeros((B, K), np.int64)
            inp = np.full(B * K, self.bos)
            for t in range(max_len):
                logits, state, feed, _ = step(inp, state, feed, keys, lengths)
                logp = stable_log_softmax(logits.astype(np.float64)).reshape(B, K, V)
                logp[done] = -np.inf                                       # a finished beam
                logp[done, self.eos] = 0.0                                 # stays as it is
                flat = (scores[:, :, None] + logp).reshape(B, K * V)
                best = np.argsort(-flat, axis=1, kind="stable")[:, :K]     # (B, K)
                beam, tok = best // V, best % V
                rows = np.arange(B)[:, None]
                scores = flat[rows, best]
                tokens, done, length = tokens[rows, beam], done[rows, beam], length[rows, beam]
                tokens[:, :, t] = np.where(done, self.eos, tok)
                length += ~done
                done = done | (tok == self.eos)
                select = (rows * K + beam).reshape(-1)
                state = _select_rows(state, select)
                feed = None if feed is None else feed[select]
                inp = tok.reshape(-1)
                if done.all():
                    break
            ranked = scores / ((5 + length) / 6) ** length_penalty
            pick = np.argmax(ranked, axis=1)
            out = tokens[np.arange(B), pick]
        self.train(was_training)
        return (out, scores[np.arange(B), pick]) if return_scores else out


def _select_rows(state, rows):
    """The recurrent state (L, B, H), or LSTM's (h, c), with its batch rows gathered."""
    if isinstance(state, tuple):
        return tuple(s[:, rows] for s in state)
    return state[:, rows]
