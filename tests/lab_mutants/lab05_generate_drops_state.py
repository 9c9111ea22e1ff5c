"""lab05: generate feeds each new character without the state (the model forgets the context)."""
import numpy as np

from labs._reference.lab05 import *  # noqa: F401,F403
from labs._reference.lab05 import no_grad, sample_next


def generate(model, vocab, prime, length, temperature=1.0, top_k=None, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    ids = list(vocab.encode(prime))
    with no_grad():
        logits, _ = model.forward(np.array(ids, dtype=np.int64)[:, None])
        for _ in range(length):
            nxt = sample_next(logits[-1, 0], temperature, top_k, rng)
            ids.append(nxt)
            logits, _ = model.forward(np.array([[nxt]]))                     # BUG: no state
    return vocab.decode(np.array(ids))
