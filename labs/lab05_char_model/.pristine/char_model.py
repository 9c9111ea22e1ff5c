"""Lab 05: a character language model end to end, with the library's layers.

You write the sampling (temperature, top-k), the Adam update, the model's forward and
backward wiring, the training loop and text generation. The layers themselves (Embedding,
LSTM, Linear, softmax_cross_entropy) come from the library: you built their insides in
labs 01-04. Fill in TODO 1-8 in order. Check your work with

    pytest labs/lab05_char_model

Then train and compare temperatures (a few seconds):

    python labs/lab05_char_model/char_model.py                  # English sonnets
    python labs/lab05_char_model/char_model.py tangshi.txt      # 唐诗 (Chinese characters)

Notation (README.md): V vocabulary size, E embedding size, H hidden size, T steps, B batch.
    e_t = W_emb[x_t]            h_t, c_t = LSTM(e_t, h_{t-1}, c_{t-1})
    s_t = h_t W_hy^T + b_y      p_t = softmax(s_t / tau)  (tau = temperature, sampling only)
"""
import sys
import time
from pathlib import Path

import numpy as np

from scratchrnn.data import BatchStream, CharVocab
from scratchrnn.nn import LSTM, Embedding, Linear, Module, no_grad, softmax_cross_entropy


# ----------------------------------------------------------------------------- sampling
def softmax_with_temperature(logits, temperature=1.0):
    """p = softmax(logits / temperature) over the last axis.

    Inputs:  logits (..., V) float, temperature > 0
    Returns: p (..., V) float64, each row sums to 1. Must not overflow for large logits.
    """
    # ================ TODO 1: softmax_with_temperature ================
    raise NotImplementedError("TODO 1: softmax_with_temperature")
    # ========================= END TODO 1 =============================


def top_k_filter(logits, k):
    """Keep the k largest logits of each row; set the others to -inf.

    Inputs:  logits (..., V), k int >= 1 or None (None or k >= V: keep everything)
    Returns: a NEW float64 array (..., V); the input is not changed.
    """
    # ======================= TODO 2: top_k_filter =====================
    # Hint: the k-th largest value of each row is np.sort(logits, axis=-1)[..., -k].
    raise NotImplementedError("TODO 2: top_k_filter")
    # ========================= END TODO 2 =============================


def sample_next(logits, temperature=1.0, top_k=None, rng=None):
    """Choose the next character id from one step's logits.

    Inputs:  logits (V,), temperature >= 0 (0 means greedy: the argmax),
             top_k None or int, rng a np.random.Generator (None: a new one)
    Returns: an int in [0, V).
    Steps: greedy if temperature == 0; else filter with top_k_filter, turn into
    probabilities with softmax_with_temperature, draw with rng.choice(V, p=p).
    """
    # ======================= TODO 3: sample_next ======================
    raise NotImplementedError("TODO 3: sample_next")
    # ========================= END TODO 3 =============================


# ----------------------------------------------------------------------------- optimiser
def adam_update(w, dw, config=None):
    """One Adam step for one parameter array.

    Inputs:  w, dw (any shape, same dtype); config dict or None, with
             learning_rate (default 1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8),
             m, v (zeros like w), t (0): fill in whatever is missing.
    Returns: next_w (a new array, dtype of w), config (with m, v, t updated)

        t = t + 1
        m = beta1 m + (1 - beta1) dw            v = beta2 v + (1 - beta2) dw^2
        m_hat = m / (1 - beta1^t)               v_hat = v / (1 - beta2^t)
        next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)
    """
    # ======================= TODO 4: adam_update ======================
    raise NotImplementedError("TODO 4: adam_update")
    # ========================= END TODO 4 =============================


def clip_grads(params, max_norm):
    """GIVEN (lab02's clip-by-norm, on Parameters): scale every p.grad in place so that
    their joint norm is at most max_norm. Returns the norm before clipping."""
    total = float(np.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in params)))
    scale = min(1.0, max_norm / (total + 1e-6))
    for p in params:
        p.grad *= scale
    return total


# ----------------------------------------------------------------------------- the model
class CharModel(Module):
    """Embedding(V, E) -> LSTM(E, H) -> Linear(H, V).  ids (T, B) -> logits (T, B, V).

    A scratchrnn Module: model.named_parameters(), model.zero_grad(), model.state_dict()
    come from the base class. Each layer's forward remembers what its backward needs.
    """

    def __init__(self, vocab_size, embed_dim=16, hidden_size=64, dtype=np.float32, seed=0):
        """GIVEN."""
        super().__init__()
        rng = np.random.default_rng(seed)
        self.embed = Embedding(vocab_size, embed_dim, dtype=dtype, rng=rng)
        self.rnn = LSTM(embed_dim, hidden_size, dtype=dtype, rng=rng)
        self.head = Linear(hidden_size, vocab_size, dtype=dtype, rng=rng)

    def forward(self, ids, state=None):
        """Inputs:  ids (T, B) ints; state None or (h, c), each (1, B, H), from the previous call.
        Returns: logits (T, B, V), state (h, c) to pass to the next call."""
        # ==================== TODO 5: CharModel.forward ===================
        # self.embed(ids) -> self.rnn(..., hx=state) -> self.head(...)
        raise NotImplementedError("TODO 5: CharModel.forward")
        # ========================= END TODO 5 =============================

    def backward(self, dlogits):
        """Inputs: dlogits (T, B, V). Adds every parameter's gradient into its .grad
        (each layer's .backward does that); returns nothing."""
        # =================== TODO 6: CharModel.backward ===================
        # The layers in reverse order: head, rnn (returns dx, dstate), embed.
        raise NotImplementedError("TODO 6: CharModel.backward")
        # ========================= END TODO 6 =============================


# ----------------------------------------------------------------------------- training
def train(text, steps=300, seq_length=32, batch_size=16, lr=1e-2, clip=5.0, seed=0,
          embed_dim=16, hidden_size=64, print_every=0, max_seconds=None):
    """Train a CharModel on text with truncated BPTT and your Adam.

    vocab = CharVocab.from_text(text); stream = BatchStream(vocab.encode(text), batch_size,
    seq_length); model = CharModel(len(vocab), embed_dim, hidden_size, seed=seed).
    Each step: x, y = stream.next_batch() (each (T, B)); zero the gradients; forward with the
    state carried over from the previous batch; loss, dlogits = softmax_cross_entropy(logits, y);
    backward; clip_grads(..., clip); adam_update every parameter (keep one config per
    parameter, learning_rate = lr; write the result into p.data). Print the mean loss every
    print_every steps (0: never); stop after max_seconds if given.

    Returns: model, vocab, losses (a list of floats, one per step)
    """
    # ========================= TODO 7: train ==========================
    raise NotImplementedError("TODO 7: train")
    # ========================= END TODO 7 =============================


def generate(model, vocab, prime, length, temperature=1.0, top_k=None, rng=None):
    """Text from the model: prime followed by ``length`` new characters.

    Run the prime (at least one character) through model.forward as one (len, 1) sequence,
    then repeatedly: sample_next from the LAST step's logits, append it, and feed just that
    id (shape (1, 1)) with the state. Use `with no_grad():` so no caches pile up.
    Returns: a str of len(prime) + length characters.
    """
    # ======================== TODO 8: generate ========================
    raise NotImplementedError("TODO 8: generate")
    # ========================= END TODO 8 =============================


def compare_temperatures(model, vocab, prime, temperatures=(0.5, 1.0, 1.5), length=200, seed=0):
    """GIVEN. Sample with each temperature from the same seed; print and return {temperature: text}."""
    samples = {}
    for temp in temperatures:
        samples[temp] = generate(model, vocab, prime, length, temp, rng=np.random.default_rng(seed))
        print(f"--- temperature {temp} ---\n{samples[temp]}\n")
    return samples


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "sonnets.txt"
    text = (Path(__file__).resolve().parent / name).read_text(encoding="utf-8")
    start = time.perf_counter()
    model, vocab, losses = train(text, steps=300, print_every=50, max_seconds=30)
    print(f"{len(losses)} steps in {time.perf_counter() - start:.1f} s, vocabulary {len(vocab)}")
    compare_temperatures(model, vocab, prime=text[:2])
