"""Reference kernels: the recurrent kernels written for reading.

Each function here has exactly the signature and the return values of its namesake in
``scratchrnn.kernels`` (``kernels/rnn.py``, ``lstm.py``, ``gru.py``), so either can stand in for
the other; tests/test_reference_kernels.py holds the fast kernels to these on random inputs.
They are written like CS231n's rnn_layers.py: one line per equation, the variable names of
docs/theory, the sequence function a plain loop over the step function, and the cache every
kernel uses (``kernels/cache.py``: a dict of named arrays, so printing one shows what the backward
needs). They import only NumPy, ``kernels/activations.py`` (``sigmoid``) and that cache type,
never the fast machinery (``kernels/_fast/``). Read these to learn; the fast kernels are the
same arithmetic arranged for speed.

A cache is single-use here too, as in the fast kernels, which need it (their backwards write into
the cache's buffers): a second backward from the same cache is refused by name, so code that
works with one works with the other.
"""
from .rnn import rnn_step_forward, rnn_step_backward, rnn_forward, rnn_backward
from .lstm import lstm_step_forward, lstm_step_backward, lstm_forward, lstm_backward
from .gru import gru_step_forward, gru_step_backward, gru_forward, gru_backward

# ------------------------------------------------------------------ attention (reference/attention.py)
from .attention import attention_forward, attention_backward

__all__ = [
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
    "gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward",
    "attention_forward", "attention_backward",
]
