"""lab05: Adam's first moment decays with beta2 instead of beta1."""
import numpy as np

from labs._reference.lab05 import *  # noqa: F401,F403


def adam_update(w, dw, config=None):
    config = {} if config is None else config
    for k, v in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8),
                 ("m", np.zeros_like(w)), ("v", np.zeros_like(w)), ("t", 0)):
        config.setdefault(k, v)
    b1, b2, t = config["beta1"], config["beta2"], config["t"] + 1
    config["t"] = t
    config["m"] = b2 * config["m"] + (1 - b2) * dw                        # BUG: beta2
    config["v"] = b2 * config["v"] + (1 - b2) * dw * dw
    m_hat, v_hat = config["m"] / (1 - b2 ** t), config["v"] / (1 - b2 ** t)
    return (w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])).astype(w.dtype), config
