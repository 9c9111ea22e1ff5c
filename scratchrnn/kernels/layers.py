"""Non-recurrent kernels: affine, embedding, dropout and the softmax cross-entropy loss."""
import numpy as np

from .cache import Cache



def linear_forward(x, W, b=None):
    """x (..., D), W (O, D), b (O,) -> y (..., O) = x W^T + b, cache.

    The leading axes are flattened into one (N, D) x (D, O) product: np.matmul on a
    (T, B, D) array would run T small products, about twice as slow in all."""
    y = np.matmul(x.reshape(-1, x.shape[-1]), W.T).reshape(*x.shape[:-1], W.shape[0])
    if b is not None:
        y += b
    return y, Cache(x=x, W=W, has_bias=b is not None)


def linear_backward(dy, cache):
    """dy (..., O) -> dx (..., D), dW (O, D), db (O,) or None."""
    cache.use("linear_backward")
    x, W, has_bias = cache["x"], cache["W"], cache["has_bias"]
    dy2 = dy.reshape(-1, dy.shape[-1])
    dW = np.matmul(dy2.T, x.reshape(-1, x.shape[-1]))
    db = dy2.sum(axis=0) if has_bias else None
    return np.matmul(dy2, W).reshape(*dy.shape[:-1], W.shape[1]), dW, db


def embedding_forward(ids, W):
    """ids (...) ints, W (V, E) -> (..., E) rows of W, cache."""
    return W[ids], Cache(ids=ids, shape=W.shape)


def embedding_backward(dout, cache):
    """dout (..., E) -> dW (V, E); a row used several times gets the sum of its gradients.

    ``np.add.at(dW, ids, dout)`` says the same thing but is slow (one scalar update per
    entry). Sorting the ids groups equal ones together, so each distinct id's rows become
    one contiguous run that ``np.add.reduceat`` sums in vectorised passes.
    """
    cache.use("embedding_backward")
    ids, shape = cache["ids"], cache["shape"]
    dW = np.zeros(shape, dtype=dout.dtype)
    flat = ids.reshape(-1)
    if flat.size == 0:
        return dW
    order = np.argsort(flat, kind="stable")
    sorted_ids = flat[order]
    starts = np.flatnonzero(np.diff(sorted_ids, prepend=sorted_ids[0] - 1))  # each run's start
    rows = dout.reshape(-1, shape[1])[order]
    dW[sorted_ids[starts]] = np.add.reduceat(rows, starts, axis=0)
    return dW


def dropout_forward(x, p, rng):
    """Inverted dropout: zero each entry with probability p, scale the rest by 1/(1-p)
    so that the expected value is unchanged and evaluation needs no rescaling.

    x (...) -> y (...), cache holding ``keep`` (the 0 or 1/(1-p) multipliers; None when p = 0)."""
    if p == 0:
        return x, Cache(keep=None)
    keep = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1 - p)
    return x * keep, Cache(keep=keep)


def dropout_backward(dout, cache):
    """dout (...) -> dx (...) = dout * keep."""
    keep = cache.use("dropout_backward")["keep"]
    return dout if keep is None else dout * keep


def softmax_cross_entropy(logits, targets, mask=None, reduction="mean"):
    """Cross-entropy of softmax(logits) against integer targets, and its gradient.

    logits (..., V), targets (...) ints in [0, V), mask (...) of 0/1 or None.
    reduction "mean" divides by the number of unmasked positions, "sum" does not.
    Returns (loss, dlogits): with p = softmax(logits), dlogits = (p - onehot(targets))
    * mask / N. log-softmax is max-shifted, so any finite logits give finite values.
    """
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if not np.issubdtype(logits.dtype, np.floating):
        raise TypeError(f"logits must be floating point, got dtype {logits.dtype}")
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"targets must be integers (class indices), got dtype {targets.dtype}")
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {logits.shape} need targets of shape {logits.shape[:-1]}, "
                         f"got {targets.shape}")
    V = logits.shape[-1]
    if targets.size and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(f"targets must lie in [0, {V}) (the number of classes); "
                         f"found values from {targets.min()} to {targets.max()}")
    # p = softmax(logits) and log p(target) from one exp pass over the max-shifted logits:
    # log p_k = s_k - log(sum_j exp(s_j)),  s = logits - max;  dlogits = p - onehot(target).
    flat = logits.reshape(-1, V)
    rows = np.arange(flat.shape[0])
    flat_t = targets.reshape(-1)
    e = flat - flat.max(axis=1, keepdims=True)
    picked = e[rows, flat_t]
    np.exp(e, out=e)
    total = e.sum(axis=1)
    nll = np.log(total)
    nll -= picked
    e /= total[:, None]
    dlogits = e
    dlogits[rows, flat_t] -= 1
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != targets.shape:
            raise ValueError(f"mask must have the targets' shape {targets.shape}, got {mask.shape}")
        w = mask.reshape(-1).astype(logits.dtype)
        nll = nll * w
        dlogits *= w[:, None]
        count = w.sum()
    else:
        count = nll.size
    scale = 1.0 / max(count, 1) if reduction == "mean" else 1.0
    loss = float(nll.sum() * scale)
    dlogits *= logits.dtype.type(scale)
    return loss, dlogits.reshape(logits.shape)
