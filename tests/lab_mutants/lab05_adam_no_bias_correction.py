"""lab05: Adam without bias correction (m and v used directly)."""
import numpy as np

from labs._reference.lab05 import *  # noqa: F401,F403


def adam_update(w, dw, config=None):
    config = {} if config is None else config
    for k, v in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8),
                 ("m", np.zeros_like(w)), ("v", np.zeros_like(w)), ("t", 0)):
        config.setdefault(k, v)
    config["t"] += 1
    config["m"] = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw * dw
    step = config["learning_rate"] * config["m"] / (np.sqrt(config["v"]) + config["epsilon"])  # BUG
    return (w - step).astype(w.dtype), config
