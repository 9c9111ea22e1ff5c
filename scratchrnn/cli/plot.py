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
import sys
from pathlib import Path

import numpy as np

from ..checkpoint import load_model
from ..figures import plot_gates, plot_unit_text, unit_html
from ..tracing import best_units, default_text, read_text, text_features
from ._common import Parser, UsageError, run_main


# ------------------------------------------------------------------ command line
def build_parser():
    p = Parser(prog="python -m scratchrnn.plot", description=__doc__.split("\n\n")[0])
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
    try:
        layers = read_text(model, vocab, text)
    except ValueError as e:        # a layer trace does not read (bidirectional, LSTM variants)
        raise UsageError(str(e)) from None
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
    return run_main(lambda: make_plots(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
