# %% [markdown]
# # A character language model, layer by layer
#
# The model behind `python -m scratchrnn.train`, written out in plain code from the library's
# layers: an `Embedding`, an `LSTM`, a `Linear` decoder, `softmax_cross_entropy`, the backward
# pass through each layer in reverse order, gradient clipping and Adam. Then it is trained on
# Tiny Shakespeare (about a minute here) and sampled from.
#
# Set `SCRATCHRNN_NOTEBOOK_QUICK=1` for a run of a few seconds with a smaller model.
# %% [markdown] zh
# # 逐层搭建字符级语言模型
#
# 这就是 `python -m scratchrnn.train` 背后的模型，用库里的层以普通代码写出：一个 `Embedding`、一个
# `LSTM`、一个 `Linear` 解码器、`softmax_cross_entropy`，按相反顺序逐层反向传播，梯度裁剪和 Adam。
# 然后在 Tiny Shakespeare 上训练（这里约一分钟）并从中采样。
#
# 设置 `SCRATCHRNN_NOTEBOOK_QUICK=1` 可以用更小的模型在几秒内跑完。

# %%
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from scratchrnn.data import BatchStream, CharVocab, load_corpus, split_corpus
from scratchrnn.gradcheck import GradCheckReport, compare, numerical_gradient
from scratchrnn.nn import LSTM, Embedding, Linear, no_grad, softmax_cross_entropy
from scratchrnn.optim import Adam, clip_grad_norm_

QUICK = os.environ.get("SCRATCHRNN_NOTEBOOK_QUICK", "") not in ("", "0")
E, H = 32, (64 if QUICK else 256)                 # embedding and hidden sizes
T, B = (32, 16) if QUICK else (64, 32)            # steps per batch (truncated BPTT), batch size
TRAIN_SECONDS = 3 if QUICK else 60

# %% [markdown]
# ## The data
#
# Characters become ids through a vocabulary; the text is cut into a training and a validation
# part (contiguous, so no neighbouring text leaks across), and `BatchStream` reads B parallel
# streams of the training text, T characters at a time: `x` is (T, B) and `y` is `x` shifted by
# one character.
# %% [markdown] zh
# ## 数据
#
# 字符通过词表变成 id；文本被切成训练和验证两部分（连续切分，这样相邻文本不会泄漏过去），`BatchStream`
# 读取训练文本的 B 条并行流，每次 T 个字符：`x` 形状为 (T, B)，`y` 是 `x` 向后移动一个字符。

# %%
text = load_corpus("tinyshakespeare")             # honours SCRATCHRNN_DATA_DIR
vocab = CharVocab.from_text(text)
V = len(vocab)
train_ids, val_ids, _ = split_corpus(vocab.encode(text), val_frac=0.05, test_frac=0.05)
stream = BatchStream(train_ids, B, T)
x, y = stream.batch(0)
print(f"{len(text):,} characters, vocabulary of {V}; {len(stream)} batches of {T} x {B} per epoch")
print("x[:, 0] =", repr(vocab.decode(x[:, 0])))
print("y[:, 0] =", repr(vocab.decode(y[:, 0])))

# %% [markdown]
# ## The model: three layers
#
# $e_t = W_{emb}[x_t]$, $\;h_t, c_t = \mathrm{LSTM}(e_t, h_{t-1}, c_{t-1})$,
# $\;s_t = h_t W^T + b$, and the loss is the mean cross-entropy of $\mathrm{softmax}(s_t)$
# against $y_t$. Each layer's forward remembers what its backward needs.
# %% [markdown] zh
# ## 模型：三层
#
# $e_t = W_{emb}[x_t]$，$\;h_t, c_t = \mathrm{LSTM}(e_t, h_{t-1}, c_{t-1})$，$\;s_t = h_t W^T + b$，
# 损失是 $\mathrm{softmax}(s_t)$ 对 $y_t$ 的平均交叉熵。每一层的前向都会记住它的反向需要的东西。

# %%
def make_model(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return {"embedding": Embedding(V, E, dtype=dtype, rng=rng),
            "lstm": LSTM(E, H, dtype=dtype, rng=rng),
            "decoder": Linear(H, V, dtype=dtype, rng=rng)}


def forward(model, x, state=None):
    """x (T, B) ids -> logits (T, B, V), the LSTM's last state (h, c)."""
    out, state = model["lstm"](model["embedding"](x), state)
    return model["decoder"](out), state


def backward(model, dlogits):
    """The layers in reverse order; each adds its parameters' gradients into .grad."""
    dout = model["decoder"].backward(dlogits)
    demb, _ = model["lstm"].backward(dout)       # the gradient stops at the batch's first state
    model["embedding"].backward(demb)


def parameters(model):
    return [p for layer in model.values() for p in layer.parameters()]


model = make_model()
print(f"{sum(p.data.size for p in parameters(model)):,} parameters")

# %% [markdown]
# ## Sanity check: the loss at initialisation
#
# Before training every character is about equally likely, so the loss is near $\ln V$.
# %% [markdown] zh
# ## 合理性检查：初始化时的损失
#
# 训练之前每个字符的概率大致相同，所以损失接近 $\ln V$。

# %%
with no_grad():
    loss0, _ = softmax_cross_entropy(forward(model, x)[0], y)
print(f"loss at initialisation {loss0:.4f}, ln V = {math.log(V):.4f} (should be close)")
assert abs(loss0 - math.log(V)) < 0.1 * math.log(V)

# %% [markdown]
# ## Sanity check: the backward pass, numerically
#
# A small float64 copy of the model, a few entries of each parameter, against central
# differences of the loss. Relative errors around 1e-8 mean the wiring is right (entries
# below 1e-3 are judged by their absolute error: finite differences carry about 1e-10).
# %% [markdown] zh
# ## 合理性检查：用数值方法检查反向传播
#
# 模型的一个 float64 小副本，每个参数取几个元素，与损失的中心差分比较。相对误差在 1e-8 左右说明连接正确
# （小于 1e-3 的元素按绝对误差判断：有限差分本身约有 1e-10 的误差）。

# %%
small = make_model(dtype=np.float64, seed=1)
xs, ys = x[:5, :3], y[:5, :3]
for p in parameters(small):
    p.grad[...] = 0
logits, _ = forward(small, xs)
backward(small, softmax_cross_entropy(logits, ys)[1])


def loss_of_small():
    with no_grad():
        return softmax_cross_entropy(forward(small, xs)[0], ys)[0]


report = GradCheckReport()
for name, layer in small.items():
    for pname, p in layer.named_parameters():
        idx = np.random.default_rng(2).choice(p.data.size, size=min(20, p.data.size), replace=False)
        num = numerical_gradient(loss_of_small, p.data, eps=1e-5, indices=idx)
        report.rows.append(compare(f"{name}.{pname}", p.grad, num, idx))
print(report)
assert report.ok

# %% [markdown]
# ## Training
#
# Truncated BPTT: the LSTM's state is carried from one batch to the next (the text runs on),
# but the gradient stops at the batch boundary. Each step: zero the gradients, forward, loss,
# backward, clip the gradient's norm to 5, one Adam step. The validation loss is measured now
# and then on held-out text.
# %% [markdown] zh
# ## 训练
#
# 截断 BPTT：LSTM 的状态从一个批量传到下一个批量（文本是连续的），但梯度在批量边界处停止。每一步：梯度清零、
# 前向、损失、反向、把梯度范数裁剪到 5、一步 Adam。不时在留出的文本上测量验证损失。

# %%
def validation_loss(model, ids, batches=8):
    val = BatchStream(ids, B, T)
    state, total = None, 0.0
    with no_grad():
        for i in range(min(batches, len(val))):
            vx, vy = val.batch(i)
            logits, state = forward(model, vx, state)
            total += softmax_cross_entropy(logits, vy)[0]
    return total / min(batches, len(val))


model = make_model()
params = parameters(model)
optimizer = Adam(params, lr=2e-3)
state, history, val_history, step = None, [], [], 0
start = time.perf_counter()
while time.perf_counter() - start < TRAIN_SECONDS:
    x, y = stream.next_batch()
    optimizer.zero_grad()
    logits, state = forward(model, x, state)
    loss, dlogits = softmax_cross_entropy(logits, y)
    backward(model, dlogits)
    grad_norm = clip_grad_norm_(params, 5.0)
    optimizer.step()
    step += 1
    history.append(loss)
    if step % (25 if QUICK else 100) == 0:
        val_history.append((step, validation_loss(model, val_ids)))
        print(f"step {step:5d}  train {np.mean(history[-25:]):.3f}  validation {val_history[-1][1]:.3f}"
              f"  grad norm {grad_norm:.2f}")
print(f"{step} steps in {time.perf_counter() - start:.0f} s")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(history, alpha=0.35, label="training (each step)")
ax.plot(np.arange(9, len(history)), np.convolve(history, np.ones(10) / 10, mode="valid"),
        label="training (mean of 10)")
if val_history:
    ax.plot(*zip(*val_history), "o-", label="validation")
ax.axhline(math.log(V), color="gray", ls="--", lw=0.8, label="ln V (a uniform guess)")
ax.set_xlabel("step")
ax.set_ylabel("loss (nats/char)")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## Sampling
#
# One character at a time: feed the last character and the state, turn the logits into
# probabilities with a temperature $\tau$ ($p = \mathrm{softmax}(s / \tau)$), draw. Low
# temperatures are safe and repetitive, high ones inventive and misspelt.
# %% [markdown] zh
# ## 采样
#
# 每次一个字符：输入最后一个字符和状态，用温度 $\tau$ 把 logits 变成概率（$p = \mathrm{softmax}(s / \tau)$），
# 然后抽样。低温度稳妥但重复，高温度有创意但会拼错。

# %%
def sample(model, prime, length, temperature, seed=0):
    rng = np.random.default_rng(seed)
    ids = list(vocab.encode(prime))
    with no_grad():
        logits, state = forward(model, np.array(ids)[:, None])
        for _ in range(length):
            s = logits[-1, 0].astype(np.float64) / temperature
            p = np.exp(s - s.max())
            ids.append(int(rng.choice(V, p=p / p.sum())))
            logits, state = forward(model, np.array([[ids[-1]]]), state)
    return vocab.decode(ids)


for temperature in (0.5, 1.0):
    print(f"--- temperature {temperature} ---\n{sample(model, 'ROMEO:', 100 if QUICK else 300, temperature)}\n")
