"""RNN, LSTM, GRU: multi-layer, bidirectional, variable-length sequence layers.

Names, shapes and semantics are ``torch.nn.RNN/LSTM/GRU``'s (see docs/api.md), so a
torch state_dict loads as it is. Each (layer, direction) runs one whole-sequence kernel
from ``scratchrnn.kernels``; this file only wires layers and directions together.

Variable lengths (``lengths``, the NumPy form of ``pack_padded_sequence``): a mask makes
padded steps carry the state over and output zero, so ``h_n`` is the state at each
sequence's last valid step. The reverse direction must start at each sequence's own last
valid step, so its input is reversed *within* each length (a permutation that is its own
inverse), run forward with the same mask, and its output reversed back.

Under no_grad() each (layer, direction) runs the cache-free kernel of kernels/inference.py
instead (the same numbers to round-off; peephole/coupled LSTMs and the reset-before GRU keep
their training kernel). ``_forward_folded`` is CharLM's folded embedding (models/charlm.py):
layer 0's input projections are looked up in a table instead of computed.
"""
import numpy as np

from .. import kernels as K
from ..kernels import gru as KG, inference as KI, lstm as KL, rnn as KR
from ..kernels import lstm_variants as KV
from .cells import _init_lstm_group, _init_peepholes, _peephole_names
from ..kernels.rnn import NONLINEARITIES
from ._checks import check_array, check_shape
from .init import init_recurrent_
from .module import Module, Parameter, is_grad_enabled


class _RNNBase(Module):
    gates = 1       # H-row blocks per weight: RNN 1, LSTM 4 (i, f, g, o), GRU 3 (r, z, n)
    n_states = 1    # LSTM carries (h, c)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, rng=None):
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive integer, got {v!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1), got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.rng = np.random.default_rng() if rng is None else rng
        G, H = self.gates * hidden_size, hidden_size
        self._groups = []   # per (layer, direction): [weight_ih, weight_hh, bias_ih, bias_hh]
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else H * self.num_directions
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                setattr(self, "weight_ih" + sfx, Parameter(np.zeros((G, in_size), dtype)))
                setattr(self, "weight_hh" + sfx, Parameter(np.zeros((G, H), dtype)))
                if bias:
                    setattr(self, "bias_ih" + sfx, Parameter(np.zeros(G, dtype)))
                    setattr(self, "bias_hh" + sfx, Parameter(np.zeros(G, dtype)))
                self._groups.append([getattr(self, n + sfx, None)
                                     for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")])
        self.reset_parameters(rng=self.rng)

    @property
    def dtype(self):
        return self.weight_ih_l0.dtype

    def reset_parameters(self, init="uniform", forget_bias=None, rng=None):
        """Re-initialise: init is "uniform" (PyTorch's), "xavier" or "orthogonal"."""
        rng = self.rng if rng is None else rng
        for group in self._groups:
            init_recurrent_([None if p is None else p.data for p in group], self.hidden_size,
                            self.gates, rng, init, forget_bias)

    # ------------------------------------------------------------ kernel adapters
    def _kernel_forward(self, x, state, weights, mask):
        """x (T, B, D), state: tuple of (B, H) -> out (T, B, H), final state tuple, cache."""
        raise NotImplementedError

    def _kernel_backward(self, dout, dstate, cache):
        """-> dx (T, B, D), d(initial state) tuple, (dW_ih, dW_hh, db_ih, db_hh)."""
        raise NotImplementedError

    def _kernel_infer(self, x, state, weights, mask, proj=None):
        """The cache-free kernel (kernels/inference.py) used under no_grad(): -> out, final
        state tuple; None where this configuration has none (then the training kernel runs).
        proj (T, B, G), if given, is W_ih x_t for every step (x is then None)."""
        return None

    def _kernel_forward_gathered(self, ids, table, state, weights, mask):
        """The training kernel with layer 0's input projections looked up, table[ids]
        (kernels/_fast/folding.py); its backward returns the table's gradient as dx."""
        raise NotImplementedError

    @property
    def can_fold(self):
        """Whether layer 0 can take its input projections from a table (``_forward_folded``)."""
        return self.num_directions == 1 and not self.batch_first

    def _forward_folded(self, ids, table, hx=None):
        """forward with the embedding folded into layer 0 (models/charlm.py): ids (T, B)
        ints and table (V, G) = W_ih_l0 E^T stand for x_t = E[ids[t]]. Returns what forward
        returns; backward then returns the gradient of the table (V, G) in dx's place, and
        adds nothing to weight_ih_l0.grad (the caller owns the chain rule through E)."""
        if not self.can_fold:
            raise ValueError(f"{type(self).__name__}: folding needs a unidirectional layer "
                             f"with batch_first=False")
        return self._forward(None, hx, None, (np.asarray(ids), table))

    # ------------------------------------------------------------ forward
    def forward(self, x, hx=None, lengths=None):
        """x (T, B, input_size), or (B, T, input_size) with batch_first.

        hx: (num_layers * num_directions, B, H) (LSTM: a pair (h_0, c_0)) or None (zeros).
        lengths: (B,) ints in [1, T] or None (all T).
        Returns out (T, B, num_directions * H) (batch_first: (B, T, .)) and h_n
        (LSTM: (h_n, c_n)), each (num_layers * num_directions, B, H).
        """
        x = check_array("x", x, self, 3, last=self.input_size, dtype=self.dtype,
                        dims="(B, T, input_size)" if self.batch_first else "(T, B, input_size)")
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        return self._forward(x, hx, lengths, None)

    def _forward(self, x, hx, lengths, folded):
        T, B = x.shape[:2] if folded is None else folded[0].shape
        if T == 0 or B == 0:
            raise ValueError(f"{type(self).__name__}: x has no time steps or no batch entries "
                             f"(shape {(T, B, self.input_size)})")
        states = self._initial_states(hx, B)
        mask, rev = self._mask_and_reversal(lengths, T, B)
        if mask is not None:   # padding must not reach any gradient, even as 0 * nan
            x = np.where(mask[:, :, None], x, 0)
        finals = [np.empty_like(s) for s in states]
        grad = is_grad_enabled()
        layer_in, layer_caches = x, []
        for layer in range(self.num_layers):
            keep = None
            if layer > 0 and self.training and self.dropout > 0:
                layer_in, keep = K.dropout_forward(layer_in, self.dropout, self.rng)
            outs, dir_caches = [], []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                inp = layer_in if d == 0 else rev(layer_in)
                args = (inp, tuple(s[k] for s in states),
                        [None if p is None else p.data for p in self._groups[k]], mask)
                if folded is not None and layer == 0:
                    ids, table = folded
                    fast = None if grad else self._kernel_infer(
                        *args, proj=np.take(table, ids, axis=0))
                    out, final, cache = (*fast, None) if fast else \
                        self._kernel_forward_gathered(ids, table, *args[1:])
                else:
                    fast = None if grad else self._kernel_infer(*args)
                    out, final, cache = (*fast, None) if fast else self._kernel_forward(*args)
                outs.append(out if d == 0 else rev(out))
                dir_caches.append(cache)
                for f, v in zip(finals, final):
                    f[k] = v
            layer_in = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
            layer_caches.append((keep, dir_caches))
        out = layer_in.transpose(1, 0, 2) if self.batch_first else layer_in
        if grad:
            state_shapes = dict(zip(("dh_n", "dc_n")[:self.n_states], (f.shape for f in finals)))
            self._push((layer_caches, rev, mask), dout=out.shape, **state_shapes)
        return out, (finals[0] if self.n_states == 1 else tuple(finals))

    def _initial_states(self, hx, B):
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        if hx is None:
            return [np.zeros(shape, self.dtype) for _ in range(self.n_states)]
        if self.n_states == 1:
            return [check_shape("hx", hx, self, shape, dtype=self.dtype)]
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{type(self).__name__}: hx must be a pair (h_0, c_0), each of shape {shape}")
        return [check_shape(n, s, self, shape, dtype=self.dtype) for n, s in zip(("h_0", "c_0"), hx)]

    def _mask_and_reversal(self, lengths, T, B):
        """Returns mask (T, B) bool or None, and rev(a): a (T, B, .) reversed in time
        within each sequence's length."""
        if lengths is not None:
            lengths = np.asarray(lengths)
            if not np.issubdtype(lengths.dtype, np.integer) or lengths.shape != (B,):
                raise ValueError(f"{type(self).__name__}: lengths must be {B} integers (one per "
                                 f"sequence), got shape {lengths.shape} dtype {lengths.dtype}")
            if lengths.min() < 1 or lengths.max() > T:
                raise ValueError(f"{type(self).__name__}: lengths must lie in [1, T={T}], got "
                                 f"values from {lengths.min()} to {lengths.max()}")
            if (lengths == T).all():
                lengths = None
        if lengths is None:
            return None, lambda a: a[::-1]
        t = np.arange(T)[:, None]
        mask = t < lengths[None, :]
        src = np.where(mask, lengths[None, :] - 1 - t, t)   # padding stays where it is
        cols = np.arange(B)[None, :]
        return mask, lambda a: a[src, cols]

    # ------------------------------------------------------------ backward
    def backward(self, dout, dhx=None):
        """dout: the gradient of out (its shape); dhx: of h_n (LSTM: (dh_n, dc_n)) or None.

        Returns dx (x's shape) and the gradient of the initial state (LSTM: (dh_0, dc_0)),
        which is returned also when hx was None. Adds into every parameter's .grad.
        """
        if self.n_states == 1 or dhx is None:
            dfinal = [dhx] + [None] * (self.n_states - 1)
        elif isinstance(dhx, (tuple, list)) and len(dhx) == 2:
            dfinal = list(dhx)
        else:
            raise TypeError(f"{type(self).__name__}.backward: dhx must be a pair (dh_n, dc_n) or None")
        layer_caches, rev, mask = self._pop(dout=dout, **dict(zip(("dh_n", "dc_n"), dfinal)))
        dout = np.asarray(dout)
        if self.batch_first:
            dout = dout.transpose(1, 0, 2)
        if mask is not None:   # the outputs there are constant zeros: their gradient is ignored
            dout = np.where(mask[:, :, None], dout, 0)
        B = dout.shape[1]
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        dinit = [np.zeros(shape, self.dtype) for _ in range(self.n_states)]
        H = self.hidden_size
        d_layer_out = dout
        for layer in reversed(range(self.num_layers)):
            keep, dir_caches = layer_caches[layer]
            d_in = None
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                do = d_layer_out[..., d * H:(d + 1) * H]
                dx, dstate, grads = self._kernel_backward(
                    do if d == 0 else rev(do),
                    tuple(None if g is None else g[k] for g in dfinal), dir_caches[d])
                dx = dx if d == 0 else rev(dx)
                d_in = dx if d_in is None else d_in + dx
                for dst, v in zip(dinit, dstate):
                    dst[k] = v
                for p, g in zip(self._groups[k], grads):
                    if g is not None:       # folded layer 0: dW_ih is the caller's
                        p.grad += g
            d_layer_out = d_in if keep is None else K.dropout_backward(d_in, keep)
        dx = d_layer_out.transpose(1, 0, 2) if self.batch_first else d_layer_out
        return dx, (dinit[0] if self.n_states == 1 else tuple(dinit))

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class RNN(_RNNBase):
    """Elman RNN: h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), phi = tanh or relu."""

    def __init__(self, *args, nonlinearity="tanh", **kwargs):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(*args, **kwargs)
        self.nonlinearity = nonlinearity

    def _kernel_forward(self, x, state, w, mask):
        (out, h), cache = K.rnn_forward(x, state[0], *w, mask=mask, nonlinearity=self.nonlinearity)
        return out, (h,), cache

    def _kernel_backward(self, dout, dstate, cache):
        dx, dh0, grads = K.rnn_backward(dout, dstate[0], cache)
        return dx, (dh0,), grads

    def _kernel_infer(self, x, state, w, mask, proj=None):
        out, h = KI.rnn_infer(x, state[0], *w, mask=mask, nonlinearity=self.nonlinearity,
                              proj=proj)
        return out, (h,)

    def _kernel_forward_gathered(self, ids, table, state, w, mask):
        (out, h), cache = KR.rnn_forward_gathered(ids, table, state[0], *w[1:], mask=mask,
                                                 nonlinearity=self.nonlinearity)
        return out, (h,), cache


class LSTM(_RNNBase):
    """Long short-term memory, gates i, f, g, o; carries (h, c).

    Options (keyword-only, docs/theory/lstm_variants.md): ``peephole=True`` adds diagonal
    peephole weights ``weight_ci_l{k}``, ``weight_cf_l{k}``, ``weight_co_l{k}`` (H,) (suffix
    ``_reverse`` for the reverse direction), registered after all the PyTorch-named weights;
    ``coupled=True`` ties the forget gate to the input gate, f = 1 - i, so every weight has
    three blocks (3H, .) in the order i, g, o (and there is no ``weight_cf``). The defaults
    are PyTorch's LSTM, run by ``kernels/lstm.py``; the options by ``kernels/lstm_variants.py``.
    """
    n_states = 2

    def __init__(self, *args, peephole=False, coupled=False, **kwargs):
        # read through self.gates while the base builds the weights
        self.__dict__.update(peephole=bool(peephole), coupled=bool(coupled))
        super().__init__(*args, **kwargs)
        if self.peephole:
            for k, group in enumerate(self._groups):
                layer, d = divmod(k, self.num_directions)
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                for name in _peephole_names(self.coupled, sfx):
                    setattr(self, name, Parameter(np.zeros(self.hidden_size, self.dtype)))
                # the kernels take (w_ci, w_cf, w_co); coupled has no w_cf
                group += [getattr(self, "weight_ci" + sfx),
                          None if self.coupled else getattr(self, "weight_cf" + sfx),
                          getattr(self, "weight_co" + sfx)]
                _init_peepholes(group[4:], self.hidden_size, "uniform", self.rng)

    @property
    def gates(self):
        return 3 if self.coupled else 4

    def reset_parameters(self, init="uniform", forget_bias=None, rng=None):
        """Re-initialise: init is "uniform" (PyTorch's), "xavier" or "orthogonal". With
        coupled=True, forget_bias b sets the input gate's bias to -b (f = 1 - i = sigma(-a_i))."""
        rng = self.rng if rng is None else rng
        for group in self._groups:
            _init_lstm_group([None if p is None else p.data for p in group[:4]], self.hidden_size,
                             self.coupled, rng, init, forget_bias)
            _init_peepholes(group[4:], self.hidden_size, init, rng)

    @property
    def _variant(self):
        return self.peephole or self.coupled

    def _kernel_forward(self, x, state, w, mask):
        if self._variant:
            (out, h, c), cache = KV.lstm_variant_forward(x, state[0], state[1], *w, mask=mask,
                                                         coupled=self.coupled)
        else:
            (out, h, c), cache = K.lstm_forward(x, state[0], state[1], *w, mask=mask)
        return out, (h, c), cache

    def _kernel_infer(self, x, state, w, mask, proj=None):
        if self._variant:       # peephole/coupled: no cache-free kernel, the training one runs
            return None
        out, h, c = KI.lstm_infer(x, state[0], state[1], *w, mask=mask, proj=proj)
        return out, (h, c)

    @property
    def can_fold(self):
        return super().can_fold and not self._variant

    def _kernel_forward_gathered(self, ids, table, state, w, mask):
        (out, h, c), cache = KL.lstm_forward_gathered(ids, table, state[0], state[1], *w[1:],
                                                     mask=mask)
        return out, (h, c), cache

    def _kernel_backward(self, dout, dstate, cache):
        backward = KV.lstm_variant_backward if self._variant else K.lstm_backward
        dx, dh0, dc0, grads = backward(dout, dstate[0], dstate[1], cache)
        return dx, (dh0, dc0), grads

    def extra_repr(self):
        s = super().extra_repr()
        return s + "".join(f", {n}=True" for n in ("peephole", "coupled") if getattr(self, n))


class GRU(_RNNBase):
    """Gated recurrent unit, gates r, z, n; reset_after=False gives the textbook form."""
    gates = 3

    def __init__(self, *args, reset_after=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.reset_after = reset_after

    def _kernel_forward(self, x, state, w, mask):
        (out, h), cache = K.gru_forward(x, state[0], *w, mask=mask, reset_after=self.reset_after)
        return out, (h,), cache

    def _kernel_backward(self, dout, dstate, cache):
        dx, dh0, grads = K.gru_backward(dout, dstate[0], cache)
        return dx, (dh0,), grads

    def _kernel_infer(self, x, state, w, mask, proj=None):
        if not self.reset_after:   # reset-before: no cache-free kernel, the training one runs
            return None
        out, h = KI.gru_infer(x, state[0], *w, mask=mask, proj=proj)
        return out, (h,)

    @property
    def can_fold(self):
        return super().can_fold and self.reset_after

    def _kernel_forward_gathered(self, ids, table, state, w, mask):
        (out, h), cache = KG.gru_forward_gathered(ids, table, state[0], *w[1:], mask=mask)
        return out, (h,), cache
