"""The embedding folded into a recurrent layer's input projection (models/charlm.py).

For token inputs x_t = E[id_t], the layer's input projection W_ih x_t is row id_t of the
table W_ih E^T (V, G). A ``Gathered(ids, table)`` passed to a fast sequence kernel in x's
place makes it look the rows up instead of multiplying (the ``*_forward_gathered`` entry
points), and its backward then returns the gradient of the table, whose row v is the sum of
da_t over the positions whose id is v, in dx's place (and None for dW_ih). Those per-id sums
are one product with the (V, N) indicator matrix of the ids, cheap exactly when folding
pays (V small against the N = T B tokens: the rule is ``CharLM.folds``).
"""
import numpy as np


class Gathered:
    """Stands for x (T, B, .) = E[ids] in a sequence kernel, given table = W_ih E^T (V, G)."""

    def __init__(self, ids, table):
        ids = np.asarray(ids)
        V = table.shape[0]
        if not np.issubdtype(ids.dtype, np.integer) or ids.ndim != 2:
            raise ValueError(f"gathered kernels: ids must be (T, B) integers, got shape "
                             f"{ids.shape} dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise IndexError(f"gathered kernels: ids must lie in [0, {V}) (the table's rows), "
                             f"found values from {ids.min()} to {ids.max()}")
        self.ids, self.table = ids, table
        self.shape = ids.shape + (table.shape[1],)
        self.dtype = table.dtype

    def project(self, out=None):
        """W_ih x_t for every step: (T, B, G) rows of the table, into ``out`` if given."""
        if out is None:
            out = np.empty(self.shape, self.dtype)
        # mode="clip" (the ids were checked above): with the default mode NumPy writes into
        # ``out`` through a buffer, 1.5 ms instead of 0.3 ms for 8 MiB here.
        np.take(self.table, self.ids, axis=0, out=out, mode="clip")
        return out

    def sum_by_id(self, rows, out=None):
        """rows (N, G') -> (V, G'): row v sums the rows at the positions whose id is v."""
        flat = self.ids.reshape(-1)
        one_hot = np.zeros((self.table.shape[0], flat.size), rows.dtype)
        one_hot[flat, np.arange(flat.size)] = 1
        return np.matmul(one_hot, rows, out=out)
