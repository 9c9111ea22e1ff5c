"""Pure kernels: functions on NumPy arrays, each ``*_forward(...) -> out, cache`` paired with
``*_backward(dout, cache) -> grads``. No objects, no state: the modules in ``scratchrnn.nn``
own the parameters and call these."""
from .activations import sigmoid, softmax, stable_log_softmax
from .rnn import rnn_step_forward, rnn_step_backward, rnn_forward, rnn_backward
from .lstm import lstm_step_forward, lstm_step_backward, lstm_forward, lstm_backward
from .gru import gru_step_forward, gru_step_backward, gru_forward, gru_backward
from .layers import (linear_forward, linear_backward, embedding_forward, embedding_backward,
                     dropout_forward, dropout_backward, softmax_cross_entropy)
from .attention import attention_forward, attention_backward
