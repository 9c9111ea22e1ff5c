"""Figures, drawn headless: each is a ``matplotlib.figure.Figure`` saved to a file, with no pyplot
state, so nothing opens a window and importing this module changes no backend (a notebook that
uses it still draws inline).

The loss curves of a training run; gate heat maps and hidden units coloured over a text, from
what ``scratchrnn.tracing`` reads out of a model.
"""
import html

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def plot_loss_curves(history, path, title="Character language model"):
    """Training and validation loss (nats/token) against step; perplexity on the right axis.

    history: {"train": [[step, time_s, loss, grad_norm, lr], ...], "val": [[step, time_s, loss], ...]}
    """
    fig = Figure(figsize=(7, 4.2), dpi=110)
    ax = fig.subplots()
    if history["train"]:
        steps, losses = zip(*[(r[0], r[2]) for r in history["train"]])
        ax.plot(steps, losses, lw=1, alpha=0.8, label="training (mean of 10 steps)")
    if history["val"]:
        steps, losses = zip(*[(r[0], r[2]) for r in history["val"]])
        ax.plot(steps, losses, "o-", ms=3, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    right = ax.secondary_yaxis("right", functions=(np.exp, _log))
    right.set_ylabel("perplexity")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _log(x):
    return np.log(np.maximum(x, 1e-12))   # the inverse of exp, safe for the axis' zero


def _shown(ch):
    return {"\n": "\u21b5", " ": "\u00b7", "\t": "\u2192"}.get(ch, ch)


def plot_gates(gates, text, path, units, title=""):
    """gates {name: (T, H)}; a heat map per gate, units (rows) against characters (columns)."""
    T = len(text)
    fig = Figure(figsize=(max(6, 0.16 * T + 1.5), 0.16 * len(units) * len(gates) + 1.2 * len(gates)),
                 dpi=90)
    axes = fig.subplots(len(gates), 1, squeeze=False)
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
    return path


def _rgb(v, cmap):
    r, g, b, _ = cmap(0.5 + 0.5 * float(np.clip(v, -1, 1)))
    return int(r * 255), int(g * 255), int(b * 255)


def unit_html(text, acts, unit, title=""):
    """The text as HTML, each character's background coloured by acts (T,) in [-1, 1]."""
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
    fig = Figure(figsize=(0.11 * width + 0.5, 0.2 * n_rows + 0.6), dpi=90)
    ax = fig.subplots()
    ax.imshow(grid, cmap="coolwarm", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    for row, col, ch, _ in cells:
        if ch.strip():
            ax.text(col, row, ch, ha="center", va="center", fontsize=7, family="monospace")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return path
