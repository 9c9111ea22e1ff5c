"""python -m scratchrnn.plot: look inside a trained character model.

    python -m scratchrnn.plot --checkpoint runs/shakespeare/best --unit 17
    python -m scratchrnn.plot --checkpoint runs/code/best --text_file my.py --unit 5 --state cell

Reads a text with the model and writes, into --out_dir:

* ``gates.png``: the gate activations (LSTM: input, forget, output; GRU: reset, update; RNN: the
  hidden state) of the first --heat_units units of one layer, character by character: a heat map.
* ``unit_N.html`` and ``unit_N.png``: the text with each character coloured by unit N's
  activation after reading it (blue -1, white 0, red +1), so you can look for units that track
  quotes, line length or indentation, as in Karpathy et al. (2015), *Visualizing and
  Understanding Recurrent Networks*.

It also prints, for a few features of the text (inside quotes, bracket depth, column,
indentation), the units whose activation correlates with them best: good candidates for --unit.
"""
if __name__ == "__main__":
    from scratchrnn import prefer_one_blas_thread
    prefer_one_blas_thread()      # before NumPy loads

import argparse  # noqa: E402
import html  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from .checkpoint import CheckpointError, load_model  # noqa: E402
from .kernels.activations import sigmoid  # noqa: E402

GATE_NAMES = {"lstm": ("input gate i", "forget gate f", "output gate o"),
              "gru": ("reset gate r", "update gate z"), "rnn": ("hidden state h",)}


class UsageError(Exception):
    """Bad flags or input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    # argparse would print the whole usage block and exit; we want one line and a return code
    def error(self, message):
        raise UsageError(message)


# ------------------------------------------------------------------ tracing the states
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


# ------------------------------------------------------------------ pictures
def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _shown(ch):
    return {"\n": "\u21b5", " ": "\u00b7", "\t": "\u2192"}.get(ch, ch)


def plot_gates(gates, text, path, units, title=""):
    """gates {name: (T, H)}; a heat map per gate, units (rows) against characters (columns)."""
    plt = _plt()
    T = len(text)
    fig, axes = plt.subplots(len(gates), 1, figsize=(max(6, 0.16 * T + 1.5), 0.16 * len(units) * len(gates) + 1.2 * len(gates)),
                             dpi=90, squeeze=False)
    for ax, (name, g) in zip(axes[:, 0], gates.items()):
        lo, hi = (0, 1) if "gate" in name else (-1, 1)
        im = ax.imshow(g[:T, units].T, aspect="auto", cmap="viridis" if lo == 0 else "coolwarm",
                       vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_xticks(range(T))
        ax.set_xticklabels([_shown(ch) for ch in text], fontsize=7, family="monospace")
        ax.set_yticks(range(len(units)))
        ax.set_yticklabels([str(u) for u in units], fontsize=6)
        ax.set_ylabel(f"{name}\nunit", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    axes[0, 0].set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _rgb(v, cmap):
    r, g, b, _ = cmap(0.5 + 0.5 * float(np.clip(v, -1, 1)))
    return int(r * 255), int(g * 255), int(b * 255)


def unit_html(text, acts, unit, title=""):
    """The text as HTML, each character's background coloured by acts (T,) in [-1, 1]."""
    import matplotlib
    cmap = matplotlib.colormaps["coolwarm"]
    spans = []
    for ch, v in zip(text, acts):
        r, g, b = _rgb(v, cmap)
        spans.append(f'<span style="background:rgb({r},{g},{b})" title="{v:+.3f}">'
                     f'{html.escape(ch)}</span>')
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>unit "
            f"{unit}</title></head>\n<body style='font-family:sans-serif'>\n<h3>{html.escape(title)}</h3>\n"
            "<p>blue = -1, white = 0, red = +1 (hover for the value)</p>\n"
            "<div style='font-family:monospace;white-space:pre;line-height:1.35'>"
            + "".join(spans)
            + "</div>\n</body></html>\n")


def plot_unit_text(text, acts, path, title="", width=80):
    """The text on a character grid (wrapped at newlines and at `width`), each cell coloured."""
    plt = _plt()
    width = min(width, max(len(line) + 1 for line in text.split("\n")))   # no empty right margin
    cells, r, c = [], 0, 0
    for ch, v in zip(text, acts):
        if c >= width:
            r, c = r + 1, 0
        cells.append((r, c, _shown(ch) if ch == "\n" else ch, v))
        c += 1
        if ch == "\n":
            r, c = r + 1, 0
    n_rows = cells[-1][0] + 1
    grid = np.full((n_rows, width), np.nan)
    for row, col, _, v in cells:
        grid[row, col] = v
    fig, ax = plt.subplots(figsize=(0.11 * width + 0.5, 0.2 * n_rows + 0.6), dpi=90)
    ax.imshow(grid, cmap="coolwarm", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    for row, col, ch, _ in cells:
        if ch.strip():
            ax.text(col, row, ch, ha="center", va="center", fontsize=7, family="monospace")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ command line
def build_parser():
    p = _Parser(prog="python -m scratchrnn.plot", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a language-model checkpoint (NAME, NAME.npz or a save dir)")
    p.add_argument("--unit", type=int, default=None, help="the hidden unit to colour the text by "
                   "(default: the unit best correlated with one of the text features)")
    p.add_argument("--layer", type=int, default=-1, help="which recurrent layer (-1: the top one)")
    p.add_argument("--state", choices=("hidden", "cell"), default="hidden",
                   help="colour by h_t, or by tanh(c_t) (LSTM only)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--text", help="the text to read")
    g.add_argument("--text_file", help="a UTF-8 file to read the text from")
    p.add_argument("--max_chars", type=int, default=600, help="read at most this many characters")
    p.add_argument("--heat_chars", type=int, default=80, help="characters in the gate heat map")
    p.add_argument("--heat_units", type=int, default=24, help="units in the gate heat map")
    p.add_argument("--out_dir", default="runs/plots")
    return p


def default_text(vocab):
    """Text from the built-in corpus (the library's own source) restricted to the vocabulary."""
    from .data import builtin_corpus
    return "".join(ch for ch in builtin_corpus()[:20000] if ch in vocab)


def make_plots(args, out=print):
    if args.max_chars < 1 or args.heat_chars < 1 or args.heat_units < 1:
        raise UsageError("--max_chars, --heat_chars and --heat_units must be at least 1")
    model, vocab, _ = load_model(args.checkpoint)
    if vocab.kind != "char":
        raise UsageError("the pictures colour characters: this checkpoint is a word model")
    if args.text_file:
        try:
            text = Path(args.text_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read --text_file {args.text_file}: {e}") from None
    else:
        text = args.text if args.text is not None else default_text(vocab)
    text = text[:args.max_chars]
    if not text:
        raise UsageError("the text is empty")
    missing = sorted({ch for ch in text if ch not in vocab})
    if missing and vocab.unk_index is None:
        raise UsageError(f"the model's vocabulary has no {''.join(missing)!r}: use another text")
    layers = read_text(model, vocab, text)
    try:
        layer = layers[args.layer]
    except IndexError:
        raise UsageError(f"--layer {args.layer}: the model has {len(layers)} layers") from None
    layer_no = args.layer % len(layers)
    if args.state == "cell" and "c" not in layer:
        raise UsageError("--state cell needs an LSTM checkpoint")
    acts = layer["h"] if args.state == "hidden" else np.tanh(layer["c"])
    H = acts.shape[1]
    ranking = best_units(acts, text_features(text))
    for feature, units in ranking.items():
        out(f"units that track {feature:<14} " + ", ".join(f"{u} (r={r:+.2f})" for u, r in units))
    if args.unit is None:     # the unit that tracks some feature best
        args.unit = max((u for units in ranking.values() for u in units), key=lambda u: abs(u[1]),
                        default=(0, 0.0))[0]
    unit = args.unit
    if not 0 <= unit < H:
        raise UsageError(f"--unit must be in [0, {H}), got {unit}")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = model.model_type
    units = list(range(min(args.heat_units, H)))
    head = text[:args.heat_chars]
    gates_png = plot_gates(layer["gates"], head, out_dir / "gates.png", units,
                           f"{kind.upper()} layer {layer_no}: gate activations, units 0-{units[-1]}")
    what = "h" if args.state == "hidden" else "tanh(c)"
    title = f"{kind.upper()} layer {layer_no}, unit {unit}: {what} after each character"
    html_path = out_dir / f"unit_{unit}.html"
    html_path.write_text(unit_html(text, acts[:, unit], unit, title), encoding="utf-8")
    png = plot_unit_text(text, acts[:, unit], out_dir / f"unit_{unit}.png", title)
    out(f"wrote {gates_png}, {html_path}, {png}")
    return {"gates": gates_png, "html": html_path, "png": png, "unit": unit, "ranking": ranking}


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        make_plots(args)
    except (UsageError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
