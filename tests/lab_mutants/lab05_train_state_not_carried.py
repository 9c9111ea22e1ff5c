"""lab05: train starts every batch from a zero state (no truncated-BPTT carry-over)."""
from labs._reference.lab05 import *  # noqa: F401,F403
from labs._reference.lab05 import (BatchStream, CharModel, CharVocab, adam_update,
                                             clip_grads, softmax_cross_entropy)


def train(text, steps=300, seq_length=32, batch_size=16, lr=1e-2, clip=5.0, seed=0,
          embed_dim=16, hidden_size=64, print_every=0, max_seconds=None):
    vocab = CharVocab.from_text(text)
    stream = BatchStream(vocab.encode(text), batch_size, seq_length)
    model = CharModel(len(vocab), embed_dim, hidden_size, seed=seed)
    configs = {name: {"learning_rate": lr} for name, _ in model.named_parameters()}
    state, losses = None, []
    for _ in range(steps):
        x, y = stream.next_batch()
        model.zero_grad()
        logits, state = model.forward(x, None)                   # BUG: state not carried
        loss, dlogits = softmax_cross_entropy(logits, y)
        model.backward(dlogits)
        clip_grads(list(model.parameters()), clip)
        for name, p in model.named_parameters():
            p.data[...], configs[name] = adam_update(p.data, p.grad, configs[name])
        losses.append(loss)
    return model, vocab, losses
