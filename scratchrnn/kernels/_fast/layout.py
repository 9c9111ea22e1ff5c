"""Array layouts shared by the sequence kernels (docs/performance.md).

* Gate-major blocks: a step's gates as (n, B, H), so each gate is one contiguous block.
* A bias column: the state buffer carries a constant 1 after the H state entries, and the
  recurrent weight a last column holding the bias, so that [h, 1] [W_hh, b]^T = W_hh h + b.
  The bias then costs nothing in forward (no pass over a (T, B, G) buffer to add it), and in
  backward the product that gives dW_hh gives db = sum_t da_t (da_t times the column of 1s)
  as its last column. Building [W_hh, b] copies W_hh once per call, which only pays when the
  call has many rows: ``bias_in_product`` decides (generation, T * B = 1, adds the bias to
  its one row instead). The backward uses the column of 1s either way.
"""
import numpy as np

from . import workspace as ws


def gate_blocks(a, n):
    """The n gate blocks of a pre-activation or gate array, as one (n, B, H) view.

    ``a`` is either (B, nH), PyTorch's layout where gate k is the column slice
    [:, kH:(k+1)H], or gate-major (n, B, H), where each gate is a contiguous (B, H) block
    (returned as it is). Writing into the view writes into ``a``.
    """
    if a.ndim == 3:
        return a
    B, G = a.shape
    return a.reshape((B, n, G // n), copy=False).transpose(1, 0, 2)


def states_with_ones(T, B, H, dtype):
    """A (T + 1, B, H + 1) state buffer whose last column is 1: hs[t] = [h_{t-1}, 1]
    (a recycled buffer, see workspace.py)."""
    hs = ws.empty((T + 1, B, H + 1), dtype)
    hs[:, :, H] = 1
    return hs


def bias_in_product(T, B, H):
    """True when [W_hh, b] is worth building: adding a bias to T * B rows of the projections
    costs more than copying the (G, H) weight once."""
    return T * B > H


def weight_with_bias(W_hh, bias=None):
    """[W_hh, bias], (G, H + 1): [h, 1] times its transpose is h W_hh^T + bias.

    Stored column-major, so that the transpose the per-step product uses is a row-major
    (H + 1, G) array: OpenBLAS runs the (B, H + 1) x (H + 1, G) product 1.1-2x faster that
    way than with the transposed view of a row-major [W_hh, b] (docs/performance.md)."""
    G, H = W_hh.shape
    Wb = np.empty((H + 1, G), dtype=W_hh.dtype).T
    Wb[:, :H] = W_hh
    Wb[:, H] = 0 if bias is None else bias
    return Wb
