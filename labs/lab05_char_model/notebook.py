# %% [markdown]
# # Lab 05 — A character language model, end to end
#
# With **your** `char_model.py`: sampling, Adam, the model's wiring checked against the
# expected values and numerical gradients, then the sanity checks CS231n teaches before any
# real training (the loss at initialisation near $\ln V$; overfitting one small batch), the
# training curve on `sonnets.txt`, and samples at three temperatures.
#
# A cell whose function is not written yet stops with `not written yet: TODO n: ...`.
# %% [markdown] zh
# # 实验 05 — 端到端的字符级语言模型
#
# 使用**你自己的** `char_model.py`：采样、Adam、模型的连接，与期望值和数值梯度比较；然后是 CS231n
# 在正式训练之前教的合理性检查（初始化时损失接近 $\ln V$；在一个小批量上过拟合）；在 `sonnets.txt`
# 上的训练曲线；以及三种温度下的采样。
#
# 若某个函数还没写，该单元格会停下并显示 `not written yet: TODO n: ...`。

# %%
# Find the folder that holds labs/ (the repository or your class folder), then load YOUR file
# through the graders' switch SCRATCHRNN_LAB_IMPL (your stub unless it is set).
import sys
from pathlib import Path

here = Path.cwd().resolve()
ROOT = next((p for p in (here, *here.parents) if (p / "labs" / "grading.py").is_file()), None)
if ROOT is None:
    raise RuntimeError("start Jupyter in the folder that holds labs/ (or below it)")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import html

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, display

from labs import _notebook_support as nb
from scratchrnn.data import BatchStream, CharVocab
from scratchrnn.nn import no_grad, softmax_cross_entropy

impl = nb.load("lab05")
cases = nb.fixtures("lab05")
rng = np.random.default_rng(0)
text = (ROOT / "labs" / "lab05_char_model" / "sonnets.txt").read_text(encoding="utf-8")

# %% [markdown]
# ## TODO 1–3: sampling
#
# The softmax of `logits / temperature` against the formula (also for logits of 1000, which
# overflow a naive `exp`), top-k against the values worked out by hand, and `sample_next`'s
# frequencies over many draws against the probabilities.
# %% [markdown] zh
# ## TODO 1–3：采样
#
# `logits / temperature` 的 softmax 与公式比较（包括会让朴素 `exp` 溢出的 1000 这样的 logits），
# top-k 与手算的值比较，以及 `sample_next` 多次抽样的频率与概率比较。

# %%
logits = np.array([[2.0, 1.0, 0.1, -1.0], [1000.0, 999.0, 0.0, -5.0]])
for temperature in (0.5, 1.0, 2.0):
    z = logits / temperature
    exact = np.exp(z - z.max(axis=1, keepdims=True))
    exact /= exact.sum(axis=1, keepdims=True)
    nb.check(f"softmax_with_temperature, T = {temperature}", impl.softmax_with_temperature(logits, temperature),
             exact, below=1e-8)

# %%
kept = impl.top_k_filter(np.array([0.5, -1.0, 3.0, 2.0]), 2)
print("top_k_filter([0.5, -1, 3, 2], 2) =", kept)
nb.check("top_k_filter (-inf shown as -99)", np.where(np.isfinite(kept), kept, -99.0), [-99, -99, 3, 2],
         below=1e-12)
draws = np.array([impl.sample_next(logits[0], 1.0, rng=rng) for _ in range(nb.quick(3000, 1000))])
freq = np.bincount(draws, minlength=4) / len(draws)
p = impl.softmax_with_temperature(logits[0], 1.0)
print("frequencies:  ", np.round(freq, 3), "\nprobabilities:", np.round(p, 3))
nb.check_value("sample_next: largest |frequency - probability|", f"{np.abs(freq - p).max():.3f}",
               "should be below 0.05", np.abs(freq - p).max() < 0.05)
nb.check_value("sample_next at temperature 0", impl.sample_next(logits[0], 0.0), "should be 0, the argmax",
               impl.sample_next(logits[0], 0.0) == 0)

# %% [markdown]
# ## TODO 4: Adam
# %% [markdown] zh
# ## TODO 4：Adam

# %%
c = cases["adam"]
w, config = c.w0.copy(), {"learning_rate": float(c.learning_rate)}
for step in (1, 2, 3):
    w, config = impl.adam_update(w, c[f"dw{step}"], config)
    nb.check(f"adam_update: w after step {step}", w, c[f"w{step}"], below=1e-8)

# %% [markdown]
# ## TODO 5–6: the model's forward and backward
#
# The logits of a small model with fixed weights against the expected ones; then every
# parameter's gradient against the numerical gradient of the loss (float64).
# %% [markdown] zh
# ## TODO 5–6：模型的前向与反向传播
#
# 一个权重固定的小模型的 logits 与期望值比较；然后每个参数的梯度与损失的数值梯度比较（float64）。

# %%
c = cases["charmodel"]
model = impl.CharModel(int(c.vocab_size), int(c.embed_dim), int(c.hidden_size), dtype=np.float64)
model.load_state_dict({k[len("param."):]: v for k, v in c.items() if k.startswith("param.")})
logits, state = model.forward(c.ids, (c.h0, c.c0))
nb.check("CharModel.forward: logits", logits, c.logits, below=1e-8)

# %%
y = np.roll(c.ids, -1, axis=0)
model.zero_grad()
logits, _ = model.forward(c.ids, (c.h0, c.c0))
model.backward(softmax_cross_entropy(logits, y)[1])
params = dict(model.named_parameters())


def loss():
    with no_grad():
        return np.asarray(softmax_cross_entropy(model.forward(c.ids, (c.h0, c.c0))[0], y)[0])


nb.check_backward("CharModel.backward", loss, {k: p.data for k, p in params.items()}, np.ones(()),
                  {k: p.grad.copy() for k, p in params.items()})

# %% [markdown]
# ## Sanity checks before training
#
# 1. At initialisation the model knows nothing: every character is about equally likely, so
#    the loss should be near $\ln V$.
# 2. One fixed batch, trained on again and again, must be learned almost perfectly; if the
#    loss does not fall near zero, something is wrong in the forward, the backward or the update.
# %% [markdown] zh
# ## 训练前的合理性检查
#
# 1. 初始化时模型什么都不知道：每个字符的概率大致相同，所以损失应接近 $\ln V$。
# 2. 在同一个固定批量上反复训练，必须几乎完美地学会它；如果损失降不到接近零，说明前向、反向或更新有错误。

# %%
vocab = CharVocab.from_text(text)
V = len(vocab)
x, y = BatchStream(vocab.encode(text), batch_size=4, seq_length=16).next_batch()
model = impl.CharModel(V, embed_dim=16, hidden_size=64, seed=0)
with no_grad():
    loss0, _ = softmax_cross_entropy(model.forward(x)[0], y)
nb.expect_near_log("loss at initialisation", float(loss0), V)

configs, losses = {}, []
for step in range(nb.quick(200, 100)):
    model.zero_grad()
    logits, _ = model.forward(x)
    loss, dlogits = softmax_cross_entropy(logits, y)
    model.backward(dlogits)
    impl.clip_grads(list(model.parameters()), 5.0)
    for name, p in model.named_parameters():
        p.data[...], configs[name] = impl.adam_update(p.data, p.grad, configs.get(name, {"learning_rate": 1e-2}))
    losses.append(float(loss))
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(losses)
ax.set_xlabel("step")
ax.set_ylabel("loss (nats/char)")
ax.set_title("Overfitting one batch of 4 x 16 characters")
ax.grid(alpha=0.3)
plt.show()
nb.check_value("loss after overfitting one batch", f"{losses[-1]:.4f}", "should be below 0.1", losses[-1] < 0.1)

# %% [markdown]
# ## TODO 7: training
#
# Truncated BPTT over `sonnets.txt` with your `train`. The loss starts near $\ln V$ and should
# fall well below 2.5 nats per character.
# %% [markdown] zh
# ## TODO 7：训练
#
# 用你的 `train` 在 `sonnets.txt` 上做截断 BPTT。损失从 $\ln V$ 附近开始，应降到每字符 2.5 nats
# 以下很多。

# %%
model, vocab, losses = impl.train(text, steps=nb.quick(300, 120), seq_length=16, batch_size=8,
                                  hidden_size=nb.quick(64, 32), lr=1e-2)
window = 10
smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(losses, alpha=0.4, label="each step")
ax.plot(np.arange(window - 1, len(losses)), smooth, label=f"mean of {window}")
ax.axhline(np.log(len(vocab)), color="gray", ls="--", lw=0.8, label="ln V")
ax.set_xlabel("step")
ax.set_ylabel("loss (nats/char)")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
nb.check_value("mean loss of the last 10 steps", f"{smooth[-1]:.3f}", "should be below 2.5", smooth[-1] < 2.5)

# %% [markdown]
# ## TODO 8: samples at three temperatures
#
# The same seed each time: a low temperature is safe and repetitive, a high one inventive and
# misspelt.
# %% [markdown] zh
# ## TODO 8：三种温度下的采样
#
# 每次用同一个随机种子：低温度稳妥但重复，高温度有创意但会拼错。

# %%
samples = {t: impl.generate(model, vocab, text[:2], nb.quick(200, 80), t, rng=np.random.default_rng(0))
           for t in (0.5, 1.0, 1.5)}
display(HTML("<table><tr>" + "".join(f"<th>temperature {t}</th>" for t in samples) + "</tr><tr>" +
             "".join(f"<td style='vertical-align:top;text-align:left'><pre>{html.escape(s)}</pre></td>"
                     for s in samples.values()) + "</tr></table>"))
lengths_ok = all(len(s) == len(text[:2]) + nb.quick(200, 80) for s in samples.values())
nb.check_value("sample lengths", "prime + length" if lengths_ok else "wrong",
               "should be len(prime) + length characters", lengths_ok)

# %% [markdown]
# ## Summary
# %% [markdown] zh
# ## 小结

# %%
nb.summary()
