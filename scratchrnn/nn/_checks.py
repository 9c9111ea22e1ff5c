"""Input validation shared by the modules: every message names what was expected and the fix."""
import numpy as np


def check_array(name, x, module, ndim, last=None, dtype=None, dims=""):
    """Return x as an ndarray after checking its rank, last dimension and dtype.

    dims spells the expected shape for the message, e.g. "(T, B, input_size)".
    """
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    who = type(module).__name__
    if x.ndim != ndim:
        raise ValueError(f"{who}: {name} must have {ndim} dimensions {dims}, got shape {x.shape}")
    if last is not None and x.shape[-1] != last:
        raise ValueError(f"{who}: {name} must have last dimension {last} {dims}, got shape {x.shape}")
    if dtype is not None and x.dtype != dtype:
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{who}: {name} must be a floating-point array ({np.dtype(dtype)}), "
                            f"got dtype {x.dtype}: pass {name}.astype(np.{np.dtype(dtype)})")
        raise TypeError(f"{who}: {name} is {x.dtype} but the parameters are {np.dtype(dtype)}: "
                        f"pass {name}.astype(np.{np.dtype(dtype)}), or build the module with "
                        f"dtype=np.{x.dtype}")
    return x


def check_shape(name, x, module, shape, dtype=None):
    """Return x as an ndarray after checking that it has exactly this shape (and dtype)."""
    x = check_array(name, x, module, len(shape), dtype=dtype)
    if x.shape != tuple(shape):
        raise ValueError(f"{type(module).__name__}: {name} must have shape {tuple(shape)}, "
                         f"got {x.shape}")
    return x
