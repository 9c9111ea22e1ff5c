"""scratchrnn: recurrent neural networks from scratch in NumPy.

Layout: ``scratchrnn.kernels`` (pure functions on arrays), ``scratchrnn.nn`` (modules that
own parameters), ``scratchrnn.optim`` (optimisers, clipping, schedules), ``scratchrnn.gradcheck``,
and the command-line programs ``train``, ``generate``, ``bench``.
"""
__version__ = "0.1.0"
