# %% [markdown]
# # A look inside a trained character model
#
# The pictures of Karpathy, Johnson and Fei-Fei, *Visualizing and Understanding Recurrent
# Networks* (2015), for a scratchrnn character LSTM: hidden units coloured over text, gate
# activations as heat maps and how often each gate is saturated, how far back the gradient
# reaches, the training curves, and samples at several temperatures.
#
# The model: `runs/shakespeare/best` if you have trained one (`python -m scratchrnn.train`),
# otherwise a small one trained here for about a minute. With `SCRATCHRNN_NOTEBOOK_QUICK=1`
# a tiny model is trained for a few seconds instead (that is what the CI runs).
# %% [markdown] zh
# # 看看训练好的字符级模型内部
#
# Karpathy、Johnson 和 Fei-Fei 的论文 *Visualizing and Understanding Recurrent Networks*（2015）
# 中的图，用在 scratchrnn 的字符级 LSTM 上：在文本上着色的隐藏单元、门激活的热图以及每个门饱和的频率、
# 梯度能传回多远、训练曲线，以及几种温度下的采样。
#
# 模型：如果你训练过（`python -m scratchrnn.train`），就用 `runs/shakespeare/best`；否则在这里训练一个
# 小模型，约一分钟。设置 `SCRATCHRNN_NOTEBOOK_QUICK=1` 时只用几秒训练一个很小的模型（CI 就是这样运行的）。

# %%
import csv
import html
import io
import os
import tempfile
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, Image, display

from scratchrnn import figures, tracing  # noqa: E402  (figures selects Agg: it draws to files)
from scratchrnn.checkpoint import load_model  # noqa: E402
from scratchrnn.data import load_corpus  # noqa: E402
from scratchrnn.models import CharLM  # noqa: E402
from scratchrnn.nn import no_grad, softmax_cross_entropy  # noqa: E402
from scratchrnn.sampling import generate_text  # noqa: E402
from scratchrnn.training import make_config, train  # noqa: E402

get_ipython().run_line_magic("matplotlib", "inline")  # noqa: F821  (so draw in the notebook again)
QUICK = os.environ.get("SCRATCHRNN_NOTEBOOK_QUICK", "") not in ("", "0")
SAVED_RUN = Path.cwd().resolve().parent / "runs" / "shakespeare"     # python -m scratchrnn.train's

# %% [markdown]
# ## The model
#
# Training goes through `scratchrnn.training.train`, the loop of `python -m scratchrnn.train`,
# so a run made here has the same files as one made on the command line: `best.npz`/`.json`
# (the checkpoint) and `history.csv` (the loss curves).
# %% [markdown] zh
# ## 模型
#
# 训练调用 `scratchrnn.training.train`，即 `python -m scratchrnn.train` 的训练循环，所以这里得到的运行目录
# 与命令行得到的文件相同：`best.npz`/`.json`（检查点）和 `history.csv`（损失曲线）。

# %%
if (SAVED_RUN / "best.npz").is_file() and not QUICK:
    run_dir = SAVED_RUN
    print(f"using the trained model in {run_dir}")
else:
    run_dir = Path(tempfile.mkdtemp(prefix="scratchrnn-visualize-"))
    size = dict(hidden_size=32, num_layers=1, embedding_dim=16, seq_length=32, batch_size=16,
                max_steps=60, eval_interval=30, learning_rate=1e-2) if QUICK else \
        dict(hidden_size=128, num_layers=1, embedding_dim=32, seq_length=64, batch_size=32,
             max_minutes=1.0, eval_interval=200, learning_rate=4e-3)
    print(f"no trained model in {SAVED_RUN}: training a small one into {run_dir}")
    train(make_config(save_dir=str(run_dir), max_grad_norm=5.0, print_every=15.0,
                      sample_length=120, **size))
model, vocab, meta = load_model(run_dir / "best")
kind = model.model_type
print(f"{kind.upper()} {model.rnn.num_layers} x {model.rnn.hidden_size}, vocabulary of {len(vocab)}, "
      f"trained for {meta['step']} steps; best validation loss {meta['best_val']:.3f} nats/char")

# %% [markdown]
# ## The training curves (history.csv)
# %% [markdown] zh
# ## 训练曲线（history.csv）

# %%
with open(run_dir / "history.csv", newline="") as f:
    rows = list(csv.DictReader(f))
fig, ax = plt.subplots(figsize=(7, 4))
for column, style, label in (("train_loss", "-", "training (mean of 10 steps)"), ("val_loss", "o-", "validation")):
    points = [(int(r["step"]), float(r[column])) for r in rows if r[column]]
    ax.plot(*zip(*points), style, ms=4, label=label)
ax.axhline(np.log(len(vocab)), color="gray", ls="--", lw=0.8, label="ln V (a uniform guess)")
ax.set_xlabel("step")
ax.set_ylabel("loss (nats/char)")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## Reading a text
#
# `scratchrnn.tracing.read_text` runs the model's recurrent layers over a text with the
# equations written out, keeping every state and gate. A text the model was not trained on:
# the end of Tiny Shakespeare (its test split). First a check that the trace is the model's
# own computation.
# %% [markdown] zh
# ## 读一段文本
#
# `scratchrnn.tracing.read_text` 用写出来的方程在文本上运行模型的循环层，保留每一个状态和门。文本取模型没有
# 训练过的部分：Tiny Shakespeare 的末尾（测试集）。先检查追踪的结果就是模型自己的计算。

# %%
corpus = load_corpus("tinyshakespeare")                 # honours SCRATCHRNN_DATA_DIR
tail = corpus[-4000:]
start = tail.index("\n\n") + 2                           # begin with a speaker's name
text = "".join(ch for ch in tail[start:start + (400 if QUICK else 1000)] if ch in vocab)
layers = tracing.read_text(model, vocab, text)
layer = layers[-1]
with no_grad():
    out, _ = model.rnn(model.embedding.weight.data[vocab.encode(text)][:, None])
print(f"{len(text)} characters; the trace's h against the model's output: largest difference "
      f"{np.abs(layer['h'] - out[:, 0]).max():.1e}")
assert np.allclose(layer["h"], out[:, 0], atol=1e-4)

# %% [markdown]
# ## Hidden units coloured over the text
#
# Each character's background is one unit's activation after reading it: blue $-1$, white 0,
# red $+1$ (hover for the value). The units shown are those whose activation correlates best
# with a feature of the text, such as the position in the line; look for units that track
# line length, quotes or the start of a speech.
# %% [markdown] zh
# ## 在文本上着色的隐藏单元
#
# 每个字符的背景是某个单元读完它之后的激活值：蓝色 $-1$，白色 0，红色 $+1$（鼠标悬停可看数值）。
# 显示的单元是激活值与文本某个特征（例如在行中的位置）相关性最强的单元；找找追踪行长、引号或台词开头的单元。

# %%
acts = layer["h"]
ranking = tracing.best_units(acts, tracing.text_features(text))
cmap = matplotlib.colormaps["coolwarm"]


def coloured(text, values):
    spans = []
    for ch, v in zip(text, values):
        r, g, b, _ = cmap(0.5 + 0.5 * float(np.clip(v, -1, 1)))
        spans.append(f'<span style="background:rgb({r * 255:.0f},{g * 255:.0f},{b * 255:.0f})" '
                     f'title="{v:+.2f}">{html.escape(ch)}</span>')
    return ("<div style='font-family:monospace;white-space:pre-wrap;line-height:1.45;"
            "border:1px solid #ddd;padding:4px'>" + "".join(spans) + "</div>")


shown = []
for feature, units in ranking.items():
    unit, r = units[0]
    if unit not in shown:
        shown.append(unit)
        display(HTML(f"<b>unit {unit}</b>: correlation {r:+.2f} with <i>{feature}</i>"
                     + coloured(text[:400], acts[:400, unit])))
if "c" in layer:
    display(HTML(f"<b>cell state tanh(c) of unit {shown[0]}</b>"
                 + coloured(text[:400], np.tanh(layer["c"][:400, shown[0]]))))

# %% [markdown]
# ## Gate activations
#
# The first units' gates, character by character (`scratchrnn.figures.plot_gates`): yellow is
# open (near 1), dark is closed (near 0).
# %% [markdown] zh
# ## 门的激活
#
# 前若干个单元的门，逐个字符显示（`scratchrnn.figures.plot_gates`）：黄色表示打开（接近 1），深色表示关闭（接近 0）。

# %%
units = list(range(min(24, acts.shape[1])))
png = io.BytesIO()
figures.plot_gates(layer["gates"], text[:80], png, units,
                   f"{kind.upper()} layer {len(layers) - 1}: gate activations, units 0-{units[-1]}")
display(Image(png.getvalue()))

# %% [markdown]
# ## Saturation
#
# How often each gate unit is *left-saturated* (below 0.1: closed) or *right-saturated* (above
# 0.9: open) over the text, one dot per unit, as in Figure 3 of Karpathy et al. Units near the
# right-hand axis of the forget gate are almost always open: they remember over long spans.
# Units on neither axis act as a soft switch.
# %% [markdown] zh
# ## 饱和
#
# 在整段文本上，每个门单元*左饱和*（低于 0.1：关闭）或*右饱和*（高于 0.9：打开）的比例，每个单元一个点，
# 如 Karpathy 等人论文的图 3。遗忘门中靠近纵轴（总是打开）的单元能记住很长的跨度；不靠近任何一条轴的单元
# 像一个软开关。

# %%
gates = {name: g for name, g in layer["gates"].items() if "gate" in name}
fig, axes = plt.subplots(2, len(gates), figsize=(3.6 * len(gates), 6.4), squeeze=False)
for j, (name, g) in enumerate(gates.items()):
    left, right = (g < 0.1).mean(axis=0), (g > 0.9).mean(axis=0)
    axes[0, j].hist(g.ravel(), bins=40, range=(0, 1), color="C0")
    axes[0, j].set_title(f"{name}: activations")
    axes[1, j].scatter(left, right, s=10, alpha=0.7, color="C1")
    axes[1, j].plot([0, 1], [1, 0], color="gray", lw=0.8)
    axes[1, j].set_xlim(-0.02, 1.02)
    axes[1, j].set_ylim(-0.02, 1.02)
    axes[1, j].set_xlabel("fraction left-saturated (< 0.1)")
    axes[1, j].set_ylabel("fraction right-saturated (> 0.9)")
    print(f"{name}: {np.mean(left):.2f} of the time closed, {np.mean(right):.2f} open (mean over units)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## How far back does the gradient reach?
#
# The loss of the last character only, backpropagated through the recurrent layers:
# $\|\partial L / \partial e_t\|$ for every input embedding $e_t$, averaged over 16 passages,
# for the trained model and for the same model untrained.
# %% [markdown] zh
# ## 梯度能传回多远？
#
# 只取最后一个字符的损失，经循环层反向传播：每个输入嵌入 $e_t$ 的 $\|\partial L / \partial e_t\|$，
# 在 16 段文本上取平均，分别用于训练好的模型和同样结构但未训练的模型。

# %%
def gradient_norms(model, x, target):
    """x (T, B) ids, target (B,) the character after them -> mean over the batch of
    ||dL/de_t||, where L is the loss of predicting target at the last step."""
    emb = model.embedding.weight.data[x]                # a lookup: no cache left behind
    out, _ = model.rnn(emb)
    logits = model.decoder(out)
    dlogits = np.zeros_like(logits)
    _, dlogits[-1] = softmax_cross_entropy(logits[-1], target)
    demb, _ = model.rnn.backward(model.decoder.backward(dlogits))
    return np.linalg.norm(demb.astype(np.float64), axis=2).mean(axis=1)


length = 60 if QUICK else 120
ids = vocab.encode(corpus[-20000:])
starts = np.random.default_rng(0).integers(0, len(ids) - length - 1, 16)
passages = np.stack([ids[s:s + length + 1] for s in starts], axis=1)        # (length + 1, 16)
x, target = passages[:-1], passages[-1]
untrained = CharLM(**model.config(), rng=np.random.default_rng(0)).eval()
fig, ax = plt.subplots(figsize=(7, 4))
ax.semilogy(gradient_norms(model, x, target), label="trained")
ax.semilogy(gradient_norms(untrained, x, target), label="untrained (same size)")
ax.set_xlabel(f"time step t (the loss is at t = {length - 1})")
ax.set_ylabel("mean ||dL/de_t||")
ax.legend()
ax.grid(alpha=0.3, which="both")
plt.show()

# %% [markdown]
# ## Samples at several temperatures
#
# The same seed and prime for each: low temperatures repeat the safest words, high ones
# invent new ones.
# %% [markdown] zh
# ## 几种温度下的采样
#
# 每种温度用同样的随机种子和开头：低温度重复最稳妥的词，高温度会编出新词。

# %%
temperatures = (0.3, 0.6, 1.0, 1.4)
samples = [generate_text(model, vocab, 150 if QUICK else 400, prime="ROMEO:\n", temperature=t, rng=0)
           for t in temperatures]
display(HTML("<table><tr>" + "".join(f"<th>temperature {t}</th>" for t in temperatures) + "</tr><tr>"
             + "".join(f"<td style='vertical-align:top;text-align:left'><pre style='white-space:pre-wrap'>"
                       f"{html.escape(s)}</pre></td>" for s in samples) + "</tr></table>"))
