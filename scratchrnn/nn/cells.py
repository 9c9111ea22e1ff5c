"""RNNCell, LSTMCell, GRUCell: one time step each, with explicit BPTT by the caller.

Each forward pushes a cache, each backward pops the newest, so BPTT is a forward loop
and a reversed backward loop:

    cell = LSTMCell(D, H)
    state = None
    for t in range(T):
        state = cell(x[t], state)                # pushes cache t
    for t in reversed(range(T)):
        dx[t], (dh, dc) = cell.backward(dh + dout[t], dc)   # pops cache t

Under no_grad() a forward keeps no cache and runs the cache-free kernels of
kernels/inference.py (the same numbers to round-off); peephole/coupled LSTM cells and the
reset-before GRU cell have none and run their training kernel without keeping its cache.
"""
import numpy as np

from .. import kernels as K
from ..kernels import inference as KI
from ..kernels import lstm_variants as KV
from ..kernels.rnn import NONLINEARITIES
from ._checks import check_array, check_shape
from .init import init_recurrent_
from .module import Module, Parameter, is_grad_enabled


class _CellBase(Module):
    gates = 1   # number of H-row blocks in the weights

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = self.gates * hidden_size
        self.weight_ih = Parameter(np.zeros((G, input_size), dtype))
        self.weight_hh = Parameter(np.zeros((G, hidden_size), dtype))
        if bias:
            self.bias_ih = Parameter(np.zeros(G, dtype))
            self.bias_hh = Parameter(np.zeros(G, dtype))
        self.reset_parameters(rng=rng)

    def reset_parameters(self, init="uniform", forget_bias=None, rng=None):
        """Re-initialise: init is "uniform" (PyTorch's), "xavier" or "orthogonal"."""
        rng = np.random.default_rng() if rng is None else rng
        init_recurrent_([p.data if p is not None else None for p in self._weights()],
                        self.hidden_size, self.gates, rng, init, forget_bias)

    def _weights(self):
        if self.bias:
            return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
        return self.weight_ih, self.weight_hh, None, None

    def _arrays(self):
        return [None if p is None else p.data for p in self._weights()]

    def _accumulate(self, grads):
        for p, g in zip(self._weights(), grads):
            if p is not None:
                p.grad += g

    def _check_x(self, x):
        return check_array("x", x, self, 2, last=self.input_size, dtype=self.weight_ih.dtype,
                           dims="(B, input_size)")

    def _check_state(self, name, s, B):
        if s is None:
            return np.zeros((B, self.hidden_size), self.weight_ih.dtype)
        return check_shape(name, s, self, (B, self.hidden_size), dtype=self.weight_ih.dtype)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class RNNCell(_CellBase):
    """h = phi(W_ih x + b_ih + W_hh h_prev + b_hh), phi = tanh or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh",
                 dtype=np.float32, rng=None):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype, rng)
        self.nonlinearity = nonlinearity

    def forward(self, x, h=None):
        """x (B, input_size), h (B, hidden_size) or None -> h (B, hidden_size)."""
        x = self._check_x(x)
        h = self._check_state("h", h, x.shape[0])
        if not is_grad_enabled():
            return KI.rnn_infer(x[None], h, *self._arrays(), nonlinearity=self.nonlinearity)[1]
        h, cache = K.rnn_step_forward(x, h, *self._arrays(), nonlinearity=self.nonlinearity)
        self._push(cache, dh=h.shape)
        return h

    def extra_repr(self):
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"

    def backward(self, dh):
        """dh (B, H) -> dx (B, D), dh_prev (B, H); adds the parameter gradients."""
        dx, dh_prev, grads = K.rnn_step_backward(dh, self._pop(dh=dh))
        self._accumulate(grads)
        return dx, dh_prev


class LSTMCell(_CellBase):
    """Gates i, f, g, o in one (4H, .) weight: c = f*c_prev + i*g, h = o*tanh(c).

    Options (keyword-only, docs/theory/lstm_variants.md): ``peephole=True`` adds diagonal
    peephole weights ``weight_ci``, ``weight_cf``, ``weight_co`` (H,) from the cell to the gates;
    ``coupled=True`` ties the forget gate to the input gate, f = 1 - i, so the weights have
    three blocks (3H, .) in the order i, g, o (and there is no ``weight_cf``).
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, rng=None, *,
                 peephole=False, coupled=False):
        # read through self.gates while the base builds the weights
        self.__dict__.update(peephole=bool(peephole), coupled=bool(coupled))
        super().__init__(input_size, hidden_size, bias, dtype, rng)
        if self.peephole:
            for name in _peephole_names(self.coupled):
                setattr(self, name, Parameter(np.zeros(hidden_size, dtype)))
            _init_peepholes(self._peepholes(), hidden_size, "uniform",
                            np.random.default_rng() if rng is None else rng)

    @property
    def gates(self):
        return 3 if self.coupled else 4

    def _peepholes(self):
        """[weight_ci, weight_cf, weight_co] (None for weight_cf when coupled), or [] without
        peepholes (also while the base __init__ runs, before they exist)."""
        if not self.peephole or "weight_ci" not in self._parameters:
            return []
        return [self.weight_ci, None if self.coupled else self.weight_cf, self.weight_co]

    def reset_parameters(self, init="uniform", forget_bias=None, rng=None):
        """Re-initialise: init is "uniform" (PyTorch's), "xavier" or "orthogonal". With
        coupled=True, forget_bias b sets the input gate's bias to -b (f = 1 - i = sigma(-a_i))."""
        rng = np.random.default_rng() if rng is None else rng
        arrays = [None if p is None else p.data for p in _CellBase._weights(self)]
        _init_lstm_group(arrays, self.hidden_size, self.coupled, rng, init, forget_bias)
        _init_peepholes(self._peepholes(), self.hidden_size, init, rng)

    def _weights(self):
        return _CellBase._weights(self) + tuple(self._peepholes())

    def forward(self, x, state=None):
        """x (B, input_size), state (h, c) each (B, hidden_size) or None -> (h, c)."""
        x = self._check_x(x)
        if state is not None and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise TypeError(f"LSTMCell: state must be a pair (h, c), each (B, {self.hidden_size}), "
                            f"or None; got {type(state).__name__}"
                            f"{' of shape ' + str(np.shape(state)) if hasattr(state, 'shape') else ''}")
        h, c = (None, None) if state is None else state
        h = self._check_state("h", h, x.shape[0])
        c = self._check_state("c", c, x.shape[0])
        if not (is_grad_enabled() or self.peephole or self.coupled):
            _, h, c = KI.lstm_infer(x[None], h, c, *self._arrays())
            return h, c
        if self.peephole or self.coupled:
            (h, c), cache = KV.lstm_variant_step_forward(x, h, c, *self._arrays(),
                                                         coupled=self.coupled)
        else:
            (h, c), cache = K.lstm_step_forward(x, h, c, *self._arrays())
        self._push(cache, dh=h.shape, dc=c.shape)
        return h, c

    def backward(self, dh, dc=None):
        """dh, dc (B, H) -> dx (B, D), (dh_prev, dc_prev); adds the parameter gradients."""
        cache = self._pop(dh=dh, dc=dc)
        if dc is None:
            dc = np.zeros_like(dh)
        step_backward = (KV.lstm_variant_step_backward if self.peephole or self.coupled
                         else K.lstm_step_backward)
        dx, dstate, grads = step_backward(dh, dc, cache)
        self._accumulate(grads)
        return dx, dstate

    def extra_repr(self):
        s = super().extra_repr()
        return s + "".join(f", {n}=True" for n in ("peephole", "coupled") if getattr(self, n))


def _peephole_names(coupled, suffix=""):
    return [f"weight_c{g}{suffix}" for g in ("ifo" if not coupled else "io")]


def _init_lstm_group(arrays, H, coupled, rng, init, forget_bias):
    """init_recurrent_ for one (W_ih, W_hh, b_ih, b_hh), with the coupled gate's forget bias."""
    init_recurrent_(arrays, H, 3 if coupled else 4, rng, init, None if coupled else forget_bias)
    if coupled and forget_bias is not None:
        if arrays[2] is None:
            raise ValueError("forget_bias needs bias=True")
        arrays[2][:H] = -forget_bias       # f = 1 - sigma(a_i) = sigma(-a_i) starts at sigma(b)
        arrays[3][:H] = 0


def _init_peepholes(params, H, init, rng):
    """Peephole weights: U(-1/sqrt(H), 1/sqrt(H)) with the uniform scheme, else zeros."""
    for p in params:
        if p is None:
            continue
        if init == "uniform":
            p.data[...] = rng.uniform(-1 / np.sqrt(H), 1 / np.sqrt(H), H)
        else:
            p.data[...] = 0


class GRUCell(_CellBase):
    """Gates r, z, n in one (3H, .) weight; reset_after=False gives the textbook form."""
    gates = 3

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True,
                 dtype=np.float32, rng=None):
        super().__init__(input_size, hidden_size, bias, dtype, rng)
        self.reset_after = reset_after

    def forward(self, x, h=None):
        """x (B, input_size), h (B, hidden_size) or None -> h (B, hidden_size)."""
        x = self._check_x(x)
        h = self._check_state("h", h, x.shape[0])
        if self.reset_after and not is_grad_enabled():
            return KI.gru_infer(x[None], h, *self._arrays())[1]
        h, cache = K.gru_step_forward(x, h, *self._arrays(), reset_after=self.reset_after)
        self._push(cache, dh=h.shape)
        return h

    def backward(self, dh):
        """dh (B, H) -> dx (B, D), dh_prev (B, H); adds the parameter gradients."""
        dx, dh_prev, grads = K.gru_step_backward(dh, self._pop(dh=dh))
        self._accumulate(grads)
        return dx, dh_prev

    def extra_repr(self):
        return super().extra_repr() + f", reset_after={self.reset_after}"
