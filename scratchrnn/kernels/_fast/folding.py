"""The embedding folded into a recurrent layer's input projection (models/charlm.py).

For token inputs x_t = E[id_t], the layer's input projection W_ih x_t is row id_t of the
table W_ih E^T (V, G): the ``*_forward_gathered`` kernels look the rows up instead of
multiplying, and their backward returns the gradient of the table, whose row v is the sum
of da_t over the positions whose id is v. Those per-id sums are one product with the
(V, N) indicator matrix of the ids, cheap exactly when folding pays (V small against the
N = T B tokens: the rule is ``CharLM.folds``).
"""
import numpy as np


def gather(table, ids, out):
    """out (T, B, G) <- table[ids] for ids (T, B) ints, table (V, G)."""
    np.take(table, ids, axis=0, out=out)


def indicator(ids, V, dtype):
    """(V, N) with a 1 at (ids[n], n): its product with (N, G) rows sums them per id."""
    flat = ids.reshape(-1)
    one_hot = np.zeros((V, flat.size), dtype)
    one_hot[flat, np.arange(flat.size)] = 1
    return one_hot
