"""Linear, Embedding, Dropout: the non-recurrent modules."""
import numpy as np

from .. import kernels as K
from ._checks import check_array
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b.  x (..., in_features) -> y (..., out_features); weight (out, in).

    Initialised as PyTorch does: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / np.sqrt(in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype))
        self.bias = Parameter(rng.uniform(-bound, bound, out_features).astype(dtype)) if bias else None

    def forward(self, x):
        if np.ndim(x) == 0:
            raise ValueError(f"Linear: x must have at least one dimension (..., in_features="
                             f"{self.in_features}), got a 0-d array: pass e.g. x.reshape(1, -1)")
        x = check_array("x", x, self, np.ndim(x), last=self.in_features, dtype=self.weight.dtype,
                        dims="(..., in_features)")
        y, cache = K.linear_forward(x, self.weight.data, None if self.bias is None else self.bias.data)
        self._push(cache, dy=y.shape)
        return y

    def backward(self, dy):
        dx, dW, db = K.linear_backward(dy, self._pop(dy=dy))
        self.weight.grad += dW
        if self.bias is not None:
            self.bias.grad += db
        return dx

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: ids (...) -> vectors (..., embedding_dim); weight (V, E) ~ N(0, 1)."""

    def __init__(self, num_embeddings, embedding_dim, dtype=np.float32, rng=None):
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype))

    def forward(self, ids):
        ids = np.asarray(ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise IndexError(f"Embedding: ids must lie in [0, {self.num_embeddings}); found values "
                             f"from {ids.min()} to {ids.max()} (is the vocabulary the model's?)")
        out, cache = K.embedding_forward(ids, self.weight.data)
        self._push(cache, dout=out.shape)
        return out

    def backward(self, dout):
        """Adds into weight.grad; returns None (integer ids have no gradient)."""
        self.weight.grad += K.embedding_backward(dout, self._pop(dout=dout))
        return None

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    """Inverted dropout in training mode, the identity in evaluation mode."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            # Integers would be scaled by 1/(1-p) in their own dtype: 0 or overflow, not x.
            raise TypeError(f"Dropout: x must be a floating-point array, got dtype {x.dtype}: "
                            f"pass x.astype(np.float32)")
        out, keep = K.dropout_forward(x, self.p if self.training else 0.0, self.rng)
        self._push(keep, dout=out.shape)
        return out

    def backward(self, dout):
        return K.dropout_backward(dout, self._pop(dout=dout))

    def extra_repr(self):
        return f"p={self.p}"
