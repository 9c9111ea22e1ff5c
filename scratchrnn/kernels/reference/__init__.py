"""Reference kernels: the recurrent kernels written for reading.

Each function here has exactly the signature and the return values of its namesake in
``scratchrnn.kernels`` (``kernels/rnn.py``, ``lstm.py``, ``gru.py``), so either can stand in for
the other; tests/test_reference_kernels.py holds the fast kernels to these on random inputs.
They are written like CS231n's rnn_layers.py: one line per equation, the variable names of
docs/theory, the sequence function a plain loop over the step function, a plain tuple (step)
or dict (sequence) cache. They import only NumPy and ``kernels/activations.py`` (``sigmoid``),
never the fast machinery (``kernels/_fast/``). Read these to learn; the fast kernels are the
same arithmetic arranged for speed.

Treat a cache as single-use, as the fast kernels require: a reference cache holds only values
(nothing in it is ever overwritten), so a second backward would work here, but code that relies
on that breaks when the fast kernels stand in.
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
