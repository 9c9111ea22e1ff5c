"""Attention: each query attends over a set of keys (Bahdanau's additive or Luong's scores).

    att = Attention(query_size, key_size, attn_size=None, score="additive")
    context, weights = att(queries, keys, lengths=None)   # (T, B, Q), (S, B, K) -> (T, B, K), (T, B, S)
    dqueries, dkeys = att.backward(dcontext, dweights=None)

Time-major like the recurrent layers: the decoder states of a seq2seq model are the queries,
the encoder outputs the keys (which are also the values: the context is a weighted sum of keys).
Equations and their derivation: docs/theory/attention.md; kernels: scratchrnn/kernels/attention.py.
"""
import numpy as np

from .. import kernels as K
from ..kernels.attention import SCORE_PARAMS
from ._checks import check_array
from .module import Module, Parameter

SCORES = tuple(SCORE_PARAMS)


class Attention(Module):
    """Scores e[t, b, s], weights = softmax over the valid keys, context = sum_s weights * keys.

    | score    | e[t, b, s]                      | parameters                             |
    | additive | v . tanh(W_q q + W_k k_s + b)   | W_q (A, Q), W_k (A, K), b (A,), v (A,)  |
    | general  | q . (W k_s)                     | W (Q, K)                               |
    | dot      | q . k_s          (Q == K)       | none                                   |

    ``attn_size`` A (additive only) defaults to ``key_size``. Initialisation is PyTorch's
    Linear rule, U(-1/sqrt(fan_in), 1/sqrt(fan_in)): fan_in Q for W_q, K for W_k, b and W,
    A for v. ``lengths`` (B,) marks keys s >= lengths[b] as padding: their weight is exactly
    0 and they receive exactly zero gradient.
    """

    def __init__(self, query_size, key_size, attn_size=None, score="additive", dtype=np.float32,
                 rng=None):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"Attention: score must be one of {', '.join(SCORES)}, got {score!r}")
        for name, size in (("query_size", query_size), ("key_size", key_size)):
            if not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(f"Attention: {name} must be a positive integer, got {size!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(f"Attention: the dot score needs query_size == key_size, got "
                             f"{query_size} and {key_size}: use score='general' (a learned "
                             f"(Q, K) matrix) or 'additive'")
        if attn_size is not None and score != "additive":
            raise ValueError(f"Attention: attn_size is the additive score's hidden size; the "
                             f"{score} score has none: leave attn_size=None")
        attn_size = key_size if attn_size is None else attn_size
        if not isinstance(attn_size, (int, np.integer)) or attn_size < 1:
            raise ValueError(f"Attention: attn_size must be a positive integer, got {attn_size!r}")
        rng = np.random.default_rng() if rng is None else rng
        self.query_size, self.key_size, self.score = query_size, key_size, score
        self.attn_size = attn_size if score == "additive" else None
        self.dtype = np.dtype(dtype)

        def uniform(fan_in, shape):
            bound = 1.0 / np.sqrt(fan_in)
            return Parameter(rng.uniform(-bound, bound, shape).astype(dtype))

        Q, Kd, A = query_size, key_size, attn_size
        if score == "additive":
            self.W_q = uniform(Q, (A, Q))
            self.W_k = uniform(Kd, (A, Kd))
            self.b = uniform(Kd, (A,))
            self.v = uniform(A, (A,))
        elif score == "general":
            self.W = uniform(Kd, (Q, Kd))

    def _check(self, queries, keys, lengths):
        queries = check_array("queries", queries, self, 3, last=self.query_size, dtype=self.dtype,
                              dims="(T, B, query_size)")
        keys = check_array("keys", keys, self, 3, last=self.key_size, dtype=self.dtype,
                           dims="(S, B, key_size)")
        if queries.shape[1] != keys.shape[1]:
            raise ValueError(f"Attention: queries (T, B, Q) and keys (S, B, K) must have the same "
                             f"batch size B, got queries {queries.shape} and keys {keys.shape} "
                             f"(both are time-major: is one of them batch-first?)")
        S, B = keys.shape[:2]
        if S == 0:
            raise ValueError("Attention: keys must contain at least one key (S >= 1)")
        if lengths is not None:
            lengths = np.asarray(lengths)
            if not np.issubdtype(lengths.dtype, np.integer):
                raise TypeError(f"Attention: lengths must be integers, got dtype {lengths.dtype}")
            if lengths.shape != (B,):
                raise ValueError(f"Attention: lengths must have shape (B,) = ({B},), got "
                                 f"{lengths.shape}")
            if lengths.min() < 1 or lengths.max() > S:
                raise ValueError(f"Attention: lengths must lie in 1..S = 1..{S} (every sequence "
                                 f"needs at least one key), got values from {lengths.min()} to "
                                 f"{lengths.max()}")
        return queries, keys, lengths

    def forward(self, queries, keys, lengths=None):
        """queries (T, B, Q), keys (S, B, K), lengths (B,) or None -> context (T, B, K),
        weights (T, B, S)."""
        queries, keys, lengths = self._check(queries, keys, lengths)
        params = {name: getattr(self, name).data for name in SCORE_PARAMS[self.score]}
        (context, weights), cache = K.attention_forward(queries, keys, params, lengths, self.score)
        self._push(cache, dcontext=context.shape, dweights=weights.shape)
        return context, weights

    def backward(self, dcontext, dweights=None):
        """dcontext (T, B, K), dweights (T, B, S) or None -> dqueries (T, B, Q), dkeys (S, B, K);
        adds into every parameter's .grad."""
        cache = self._pop(dcontext=dcontext, dweights=dweights)
        dqueries, dkeys, dparams = K.attention_backward(
            np.asarray(dcontext), None if dweights is None else np.asarray(dweights), cache)
        for name, grad in dparams.items():
            getattr(self, name).grad += grad
        return dqueries, dkeys

    def extra_repr(self):
        size = f", attn_size={self.attn_size}" if self.score == "additive" else ""
        return f"{self.query_size}, {self.key_size}{size}, score={self.score!r}"
