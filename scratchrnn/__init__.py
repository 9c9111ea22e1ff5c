"""scratchrnn: recurrent neural networks from scratch in NumPy.

Layout: ``scratchrnn.kernels`` (pure functions on arrays), ``scratchrnn.nn`` (modules that
own parameters), ``scratchrnn.optim`` (optimisers, clipping, schedules), ``scratchrnn.gradcheck``,
and the command-line programs ``train``, ``generate``, ``bench``.
"""
__version__ = "0.1.0"


def prefer_one_blas_thread():
    """Ask NumPy's BLAS for a single thread unless the environment already chose; call before
    NumPy loads (the command-line programs for small models do, as ``__main__``).

    Their matrices are small, and a multi-threaded BLAS then spends more time synchronising
    threads than computing: 10-50x slower on a busy 2-core machine (docs/performance.md).
    """
    import os
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
