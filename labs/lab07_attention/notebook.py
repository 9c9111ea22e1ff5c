# %% [markdown]
# # Lab 07 — Attention: a masked softmax and additive attention, forward and backward
#
# With **your** `attention.py`: each function on a small example with its relative error and
# target, the numerical check of each backward, and the experiment: how the size of the scores
# decides whether attention looks at one key or spreads over all of them.
#
# A cell whose function is not written yet stops with `not written yet: TODO n: ...`.
# %% [markdown] zh
# # 实验 07 — 注意力：带掩码的 softmax 与加性注意力的前向和反向传播
#
# 使用**你自己的** `attention.py`：每个函数在小例子上运行并打印相对误差与目标；每个反向传播都做数值检查；
# 最后是实验：分数的大小如何决定注意力是只看一个键，还是分散到所有键上。
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

import matplotlib.pyplot as plt
import numpy as np

from labs import _notebook_support as nb

impl = nb.load("lab07")
cases = nb.fixtures("lab07")
rng = np.random.default_rng(0)

# %% [markdown]
# ## TODO 1–2: the masked softmax
#
# The padded scores become $-\infty$ *before* the softmax, so their weights are exactly 0 and
# the real weights sum to 1.
# %% [markdown] zh
# ## TODO 1–2：带掩码的 softmax
#
# 填充位置的分数在 softmax *之前*设为 $-\infty$，因此它们的权重恰好为 0，真实位置的权重之和为 1。

# %%
c = cases["softmax_ragged"]
weights, _ = impl.masked_softmax(c.scores, c.lengths)
nb.check("masked_softmax: weights", weights, c.weights, below=1e-8)
padded = np.arange(c.scores.shape[2])[None, :] >= c.lengths[:, None]
nb.check_value("largest padded weight", weights[:, padded].max(), "should be exactly 0",
               weights[:, padded].max() == 0)

# %%
inputs = {"scores": rng.standard_normal((3, 3, 5))}
lengths = np.array([5, 2, 3])
weights, cache = impl.masked_softmax(inputs["scores"], lengths)
dweights = rng.standard_normal(weights.shape)
nb.check_backward("masked_softmax_backward", lambda: impl.masked_softmax(inputs["scores"], lengths)[0],
                  inputs, dweights, {"scores": impl.masked_softmax_backward(dweights, cache)})

# %% [markdown]
# ## TODO 3–4: additive attention
# %% [markdown] zh
# ## TODO 3–4：加性注意力

# %%
c = cases["attn_ragged"]
context, weights, _ = impl.additive_attention_forward(c.queries, c["keys"], c.W_q, c.W_k, c.b,
                                                      c.v, c.lengths)
nb.check("additive_attention_forward: weights", weights, c.weights, below=1e-8)
nb.check("additive_attention_forward: context", context, c.context, below=1e-8)

# %%
T, B, S, Q, K, A = 3, 3, 5, 4, 3, 6
inputs = dict(queries=rng.standard_normal((T, B, Q)), keys=rng.standard_normal((S, B, K)),
              W_q=0.5 * rng.standard_normal((A, Q)), W_k=0.5 * rng.standard_normal((A, K)),
              b=0.5 * rng.standard_normal(A), v=rng.standard_normal(A))
lengths = np.array([5, 2, 3])
context, weights, cache = impl.additive_attention_forward(**inputs, lengths=lengths)
dcontext, dweights = rng.standard_normal(context.shape), rng.standard_normal(weights.shape)
grads = dict(zip(inputs, impl.additive_attention_backward(dcontext, dweights, cache)))
nb.check_backward("additive_attention_backward",
                  lambda: impl.additive_attention_forward(**inputs, lengths=lengths)[:2],
                  inputs, (dcontext, dweights), grads)

# %% [markdown]
# ## Experiment: sharp or spread attention
#
# Multiply $v$ by a factor: the scores grow with it, and the softmax turns from an average over
# all keys into a choice of one. We measure the entropy of each weight row (0: one key; $\ln S$:
# all keys alike) and draw the weights of one sequence.
# %% [markdown] zh
# ## 实验：集中还是分散的注意力
#
# 把 $v$ 乘上一个系数：分数随之变大，softmax 从对所有键取平均变成只选一个键。我们测量每行权重的熵
# （0：只看一个键；$\ln S$：所有键一样），并画出一个序列的权重。

# %%
T, B, S, Q, K, A = 8, 4, nb.quick(12, 8), 4, 4, 16
queries, keys = rng.standard_normal((T, B, Q)), rng.standard_normal((S, B, K))
W_q, W_k = rng.standard_normal((A, Q)), rng.standard_normal((A, K))
b, v = np.zeros(A), rng.standard_normal(A) / np.sqrt(A)
scales = (0.1, 1.0, 10.0, 100.0)
entropy = {}
fig, axes = plt.subplots(1, len(scales), figsize=(12, 3))
for ax, scale in zip(axes, scales):
    _, w, _ = impl.additive_attention_forward(queries, keys, W_q, W_k, b, scale * v)
    entropy[scale] = float(-(w * np.log(np.where(w > 0, w, 1))).sum(axis=2).mean())
    ax.imshow(w[:, 0], cmap="Greys", vmin=0, vmax=1, aspect="auto")
    ax.set_title(f"v x {scale:g}: entropy {entropy[scale]:.2f}", fontsize=9)
    ax.set_xlabel("key s")
axes[0].set_ylabel("query t")
plt.show()
print(f"ln S = {np.log(S):.2f}")
values = list(entropy.values())
nb.check_value("mean entropy of the weights", ", ".join(f"{e:.2f}" for e in values),
               "should fall as the scores grow", all(a > b for a, b in zip(values, values[1:])))

# %% [markdown]
# ## Summary
# %% [markdown] zh
# ## 小结

# %%
nb.summary()
