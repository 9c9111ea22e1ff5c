"""Modules that own parameters (``torch.nn`` names and conventions)."""
from ..kernels.layers import softmax_cross_entropy
from .attention import Attention
from .cells import GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, Linear
from .module import Module, Parameter, is_grad_enabled, no_grad
from .recurrent import GRU, LSTM, RNN

__all__ = ["Module", "Parameter", "no_grad", "is_grad_enabled", "RNNCell", "LSTMCell", "GRUCell",
           "RNN", "LSTM", "GRU", "Linear", "Embedding", "Dropout", "softmax_cross_entropy",
           "Attention"]
