"""Parameter and Module: the two objects every layer is built from.

A Module owns Parameters (and sub-Modules) in the order they were assigned, like
``torch.nn.Module``. Its ``forward`` pushes whatever ``backward`` will need onto a
cache stack; ``backward`` pops it, returns the gradient w.r.t. the inputs and ADDS
each parameter's gradient into ``p.grad``. Inside ``with no_grad():`` nothing is
cached, so sampling and evaluation never hold memory for a backward that will not
come.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Within this block forward passes keep no caches (evaluation, sampling)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


class Parameter:
    """A trainable array ``data`` with its gradient ``grad`` (same shape, zeros at start)."""

    def __init__(self, data):
        data = np.array(data, copy=True)
        if not np.issubdtype(data.dtype, np.floating):
            raise TypeError(f"Parameter needs a floating-point array, got dtype {data.dtype}")
        self.data = data
        self.grad = np.zeros_like(data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: registers Parameters and sub-Modules, keeps a cache stack for backward."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_caches", [])
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               f"before assigning attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    # ---------------------------------------------------------------- parameters
    def named_parameters(self, prefix: str = ""):
        """Yield ``(dotted_name, Parameter)`` in registration order, submodules after own."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        for mname, m in self._modules.items():
            yield from m.named_parameters(prefix + mname + ".")

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def modules(self):
        yield self
        for m in self._modules.values():
            yield from m.modules()

    def zero_grad(self):
        for p in self.parameters():
            p.grad[...] = 0

    def num_parameters(self) -> int:
        return sum(p.data.size for p in self.parameters())

    # ---------------------------------------------------------------- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays into the parameters, cast to each parameter's dtype.

        Every problem is collected first and reported together: missing keys,
        unexpected keys (when ``strict``), values that are not real numbers and shape
        mismatches. Nothing is copied unless everything fits, so a failed load leaves the
        module unchanged.
        """
        who = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{who}.load_state_dict expects a mapping {{name: array}} such as "
                            f"module.state_dict() or dict(np.load(path)), got "
                            f"{type(state_dict).__name__}")
        own = dict(self.named_parameters())
        arrays, problems = {}, []
        for k, v in state_dict.items():
            try:
                arrays[k] = np.asarray(v)
            except (ValueError, TypeError) as e:       # e.g. a ragged nested list
                problems.append(f"{k}: not an array ({e})")
                continue
            if k in own and arrays[k].dtype.kind not in "biuf":
                problems.append(f"{k}: dtype {arrays[k].dtype} cannot become the parameter's "
                                f"{own[k].data.dtype} (it needs real numbers)")
        missing = [k for k in own if k not in arrays]
        unexpected = [k for k in arrays if k not in own]
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        for k, p in own.items():
            if k in arrays and arrays[k].dtype.kind in "biuf" and arrays[k].shape != p.data.shape:
                problems.append(f"{k}: expected shape {p.data.shape}, got {arrays[k].shape}")
        if problems:
            raise ValueError(f"cannot load state_dict into {who}:\n  "
                             + "\n  ".join(problems))
        for k, p in own.items():
            if k in arrays:
                p.data[...] = arrays[k].astype(p.data.dtype, copy=False)
        return missing, unexpected

    # ---------------------------------------------------------------- modes
    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    # ---------------------------------------------------------------- caches
    def _push(self, cache, **out_shapes):
        """Keep what backward needs, and the shape of each output whose gradient it takes."""
        if _grad_enabled:
            self._caches.append((cache, out_shapes))

    def _pop(self, **grads):
        """The newest cache, after checking each gradient against its output's shape.

        The check comes first, so a backward refused for a wrong shape keeps its forward
        and can be retried; a broadcastable wrong shape would otherwise give silently
        wrong gradients. Gradients passed as None are not checked.
        """
        who = type(self).__name__
        if not self._caches:
            raise RuntimeError(
                f"{who}.backward() called without a matching forward(): every backward needs "
                f"one forward before it (and none inside no_grad()).")
        cache, shapes = self._caches[-1]
        for name, g in grads.items():
            if g is not None and np.shape(g) != shapes[name]:
                raise ValueError(f"{who}.backward: {name} must have the shape of the forward's "
                                 f"output, {shapes[name]}, got {np.shape(g)}")
        self._caches.pop()
        return cache

    def clear_caches(self):
        """Drop every stored forward cache (e.g. after an aborted step)."""
        for m in self.modules():
            m._caches.clear()

    # ---------------------------------------------------------------- calls
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def backward(self, *args, **kwargs):
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            lines.append(f"  ({name}): " + repr(m).replace("\n", "\n  "))
        return lines[0] + (")" if len(lines) == 1 else "\n" + "\n".join(lines[1:]) + "\n)")
