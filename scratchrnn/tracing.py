"""Look inside a trained recurrent model: every layer's states and gates over a text, features
of the text, and the units that track them (Karpathy, Johnson and Fei-Fei (2015), *Visualizing and
Understanding Recurrent Networks*). ``scratchrnn.figures`` draws what this computes."""
import numpy as np

from .kernels.activations import sigmoid

GATE_NAMES = {"lstm": ("input gate i", "forget gate f", "output gate o"),
              "gru": ("reset gate r", "update gate z"), "rnn": ("hidden state h",)}


def trace(rnn, x):
    """Every layer's states and gates over one sequence, from the layer's public weights.

    rnn: a unidirectional RNN/LSTM/GRU layer; x (T, D). Returns one dict per layer with
    "h" (T, H), "c" (T, H) for an LSTM, and "gates": {name: (T, H)} in GATE_NAMES order.
    The equations are written out here (instead of read from a kernel's cache) so that the
    picture does not depend on how a kernel stores its intermediates; tests check that "h"
    equals the layer's output.
    """
    kind = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}[type(rnn).__name__]
    if rnn.bidirectional:
        raise ValueError("trace reads unidirectional layers only")
    if getattr(rnn, "peephole", False) or getattr(rnn, "coupled", False):
        raise ValueError("trace writes out the plain LSTM's equations: no peephole or coupled LSTMs")
    layers, inp = [], np.asarray(x, dtype=np.float64)
    for k in range(rnn.num_layers):
        W_ih, W_hh = (getattr(rnn, f"{n}_l{k}").data.astype(np.float64) for n in ("weight_ih", "weight_hh"))
        b_ih, b_hh = ((getattr(rnn, f"{n}_l{k}").data.astype(np.float64) if rnn.bias
                       else np.zeros(W_ih.shape[0])) for n in ("bias_ih", "bias_hh"))
        step = {"rnn": _rnn_step, "lstm": _lstm_step, "gru": _gru_step}[kind]
        H = W_hh.shape[1]
        state = (np.zeros(H), np.zeros(H))
        rec = {"h": [], "c": [], "gates": []}
        xw = inp @ W_ih.T + b_ih                     # all input projections at once
        for t in range(len(inp)):
            state, gates = step(xw[t], state, W_hh, b_hh, rnn)
            rec["h"].append(state[0])
            rec["c"].append(state[1])
            rec["gates"].append(gates)
        layer = {"h": np.array(rec["h"]),
                 "gates": dict(zip(GATE_NAMES[kind], np.array(rec["gates"]).transpose(1, 0, 2)))}
        if kind == "lstm":
            layer["c"] = np.array(rec["c"])
        layers.append(layer)
        inp = layer["h"]
    return layers


def _rnn_step(xw, state, W_hh, b_hh, rnn):
    a = xw + W_hh @ state[0] + b_hh
    h = np.tanh(a) if rnn.nonlinearity == "tanh" else np.maximum(a, 0)
    return (h, None), [h]


def _lstm_step(xw, state, W_hh, b_hh, rnn):
    h, c = state
    i, f, g, o = np.split(xw + W_hh @ h + b_hh, 4)
    i, f, o, g = sigmoid(i), sigmoid(f), sigmoid(o), np.tanh(g)
    c = f * c + i * g
    return (o * np.tanh(c), c), [i, f, o]


def _gru_step(xw, state, W_hh, b_hh, rnn):
    h = state[0]
    x_r, x_z, x_n = np.split(xw, 3)
    H = h.shape[0]
    hw = W_hh @ h + b_hh
    r, z = sigmoid(x_r + hw[:H]), sigmoid(x_z + hw[H:2 * H])
    if rnn.reset_after:
        n = np.tanh(x_n + r * hw[2 * H:])
    else:      # textbook form: the reset gate scales h before the product
        n = np.tanh(x_n + W_hh[2 * H:] @ (r * h) + b_hh[2 * H:])
    return ((1 - z) * n + z * h, None), [r, z]


def read_text(model, vocab, text):
    """Trace the char model over text: (layers as from trace, the characters shown)."""
    ids = vocab.encode(text)
    emb = model.embedding.weight.data[ids]
    return trace(model.rnn, emb)


# ------------------------------------------------------------------ features of the text
def text_features(text):
    """Per character: inside quotes (0/1), bracket depth (open (, [, { not yet closed), column
    (chars since the line started), indentation (leading spaces of its line). Each is something
    a unit might be found to track."""
    quote, depth, col, indent = [], [], [], []
    inside, opener, c, ind, leading, d = False, None, 0, 0, True, 0
    for ch in text:
        if not inside:      # brackets inside a string do not count
            d = d + 1 if ch in "([{" else max(d - 1, 0) if ch in ")]}" else d
        if ch in "\"'" and (not inside or ch == opener):
            inside, opener = not inside, ch
        if ch == "\n":
            inside, c, ind, leading = False, 0, 0, True
        else:
            c += 1
            if leading and ch == " ":
                ind += 1
            else:
                leading = False
        quote.append(float(inside))
        depth.append(d)
        col.append(c)
        indent.append(ind)
    return {"inside quotes": np.array(quote), "bracket depth": np.array(depth, float),
            "column": np.array(col, float),
            "indentation": np.array(indent, float)}


def best_units(acts, features, top=3):
    """{feature: [(unit, correlation), ...]} by |correlation| with each non-constant feature."""
    out = {}
    a = acts - acts.mean(0)
    a_norm = np.sqrt((a * a).sum(0)) + 1e-12
    for name, f in features.items():
        f = f - f.mean()
        if not f.any():
            continue
        r = (a * f[:, None]).sum(0) / (a_norm * np.sqrt((f * f).sum()))
        order = np.argsort(-np.abs(r))[:top]
        out[name] = [(int(u), float(r[u])) for u in order]
    return out


def default_text(vocab):
    """Text from the built-in corpus (the library's own source) restricted to the vocabulary."""
    from .data import builtin_corpus
    return "".join(ch for ch in builtin_corpus()[:20000] if ch in vocab)
