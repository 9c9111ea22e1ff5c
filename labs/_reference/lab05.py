"""Lab 05 reference: a character model with the library's layers, temperature / top-k sampling,
an Adam update, a training loop and text generation."""
import time

import numpy as np

from scratchrnn import kernels as K
from scratchrnn.data import BatchStream, CharVocab
from scratchrnn.nn import LSTM, Embedding, Linear, Module, no_grad, softmax_cross_entropy

__all__ = ["softmax_with_temperature", "top_k_filter", "sample_next", "adam_update",
           "clip_grads", "CharModel", "train", "generate", "compare_temperatures"]


def softmax_with_temperature(logits, temperature=1.0):
    """logits (..., V) -> probabilities softmax(logits / temperature) (..., V)."""
    return K.softmax(np.asarray(logits, dtype=np.float64) / temperature)


def top_k_filter(logits, k):
    """A copy of logits (..., V) with all but the k largest of each row set to -inf."""
    out = np.array(logits, dtype=np.float64, copy=True)
    if k is None or k >= out.shape[-1]:
        return out
    kth = np.sort(out, axis=-1)[..., -k][..., None]
    out[out < kth] = -np.inf
    return out


def sample_next(logits, temperature=1.0, top_k=None, rng=None):
    """logits (V,) -> one id (int): argmax when temperature == 0, else a random draw."""
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(logits))
    rng = np.random.default_rng() if rng is None else rng
    p = softmax_with_temperature(top_k_filter(logits, top_k), temperature)
    return int(rng.choice(logits.shape[-1], p=p))


def adam_update(w, dw, config=None):
    """One Adam step (bias-corrected). Returns next_w (a new array) and config."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1
    config["m"] = b1 * config["m"] + (1 - b1) * dw
    config["v"] = b2 * config["v"] + (1 - b2) * dw * dw
    m_hat = config["m"] / (1 - b1 ** config["t"])
    v_hat = config["v"] / (1 - b2 ** config["t"])
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    return next_w.astype(w.dtype, copy=False), config


def clip_grads(params, max_norm):
    """Scale all p.grad together so their joint norm is at most max_norm; returns the norm."""
    total = float(np.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in params)))
    scale = min(1.0, max_norm / (total + 1e-6))
    for p in params:
        p.grad *= scale
    return total


class CharModel(Module):
    """Embedding(V, E) -> LSTM(E, H) -> Linear(H, V): ids (T, B) -> logits (T, B, V)."""

    def __init__(self, vocab_size, embed_dim=16, hidden_size=64, dtype=np.float32, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.embed = Embedding(vocab_size, embed_dim, dtype=dtype, rng=rng)
        self.rnn = LSTM(embed_dim, hidden_size, dtype=dtype, rng=rng)
        self.head = Linear(hidden_size, vocab_size, dtype=dtype, rng=rng)

    def forward(self, ids, state=None):
        """ids (T, B) ints, state (h, c) each (1, B, H) or None -> logits (T, B, V), state."""
        out, state = self.rnn(self.embed(ids), hx=state)
        return self.head(out), state

    def backward(self, dlogits):
        """dlogits (T, B, V): adds every parameter's gradient into its .grad."""
        dout = self.head.backward(dlogits)
        demb, _ = self.rnn.backward(dout)
        self.embed.backward(demb)


def train(text, steps=300, seq_length=32, batch_size=16, lr=1e-2, clip=5.0, seed=0,
          embed_dim=16, hidden_size=64, print_every=0, max_seconds=None):
    """Train a CharModel on ``text`` with truncated BPTT and Adam. Returns model, vocab, losses."""
    vocab = CharVocab.from_text(text)
    stream = BatchStream(vocab.encode(text), batch_size, seq_length)
    model = CharModel(len(vocab), embed_dim, hidden_size, seed=seed)
    configs = {name: {"learning_rate": lr} for name, _ in model.named_parameters()}
    state, losses, start = None, [], time.perf_counter()
    for step in range(steps):
        x, y = stream.next_batch()
        model.zero_grad()
        logits, state = model.forward(x, state)
        loss, dlogits = softmax_cross_entropy(logits, y)
        model.backward(dlogits)
        clip_grads(list(model.parameters()), clip)
        for name, p in model.named_parameters():
            p.data[...], configs[name] = adam_update(p.data, p.grad, configs[name])
        losses.append(loss)
        if print_every and (step + 1) % print_every == 0:
            print(f"step {step + 1}: loss {np.mean(losses[-print_every:]):.3f}")
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    return model, vocab, losses


def generate(model, vocab, prime, length, temperature=1.0, top_k=None, rng=None):
    """prime (str, at least one character) followed by ``length`` sampled characters."""
    rng = np.random.default_rng() if rng is None else rng
    ids = list(vocab.encode(prime))
    with no_grad():
        logits, state = model.forward(np.array(ids, dtype=np.int64)[:, None])
        for _ in range(length):
            nxt = sample_next(logits[-1, 0], temperature, top_k, rng)
            ids.append(nxt)
            logits, state = model.forward(np.array([[nxt]]), state)
    return vocab.decode(np.array(ids))


def compare_temperatures(model, vocab, prime, temperatures=(0.5, 1.0, 1.5), length=200, seed=0):
    """{temperature: generated text}, each printed."""
    samples = {}
    for temp in temperatures:
        samples[temp] = generate(model, vocab, prime, length, temp, rng=np.random.default_rng(seed))
        print(f"--- temperature {temp} ---\n{samples[temp]}\n")
    return samples
