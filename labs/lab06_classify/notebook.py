# %% [markdown]
# # Lab 06 — Classifying variable-length sequences: masks and bidirectional RNNs
#
# With **your** `classify.py`: masks, pooling and the within-length reversal against the
# expected values, every backward against numerical gradients, the sanity checks (the loss at
# initialisation near $\ln C$; overfitting 50 sequences), and the experiment: accuracy on the
# first-token task against the sequence length, for the four models.
#
# A cell whose function is not written yet stops with `not written yet: TODO n: ...`.
# %% [markdown] zh
# # 实验 06 — 变长序列分类：掩码与双向 RNN
#
# 使用**你自己的** `classify.py`：掩码、池化和长度内反转与期望值比较；每个反向传播都与数值梯度比较；
# 合理性检查（初始化时损失接近 $\ln C$；在 50 个序列上过拟合）；以及实验：四种模型在"首个记号"任务上的
# 准确率随序列长度的变化。
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
from scratchrnn.kernels import softmax_cross_entropy

impl = nb.load("lab06")
cases = nb.fixtures("lab06")
rng = np.random.default_rng(0)


def params_of(case):
    return {k[len("param."):]: np.ascontiguousarray(v) for k, v in case.items() if k.startswith("param.")}


# %% [markdown]
# ## TODO 1–4: masks, pooling, reversal
#
# Lengths `[5, 2, 0, 3]`: a full, a short, an **empty** and a middle sequence.
# %% [markdown] zh
# ## TODO 1–4：掩码、池化、反转
#
# 长度为 `[5, 2, 0, 3]`：一个完整的、一个短的、一个**空的**和一个中等长度的序列。

# %%
c = cases["pool"]
T = c.h.shape[0]
mask = impl.length_mask(c.lengths, T)
print("mask (T, B):\n", np.asarray(mask).astype(int))
nb.check("length_mask", np.asarray(mask, dtype=float), c.mask.astype(float), below=1e-12)
nb.check("last_state_forward", impl.last_state_forward(c.h, c.lengths)[0], c.last, below=1e-8)
nb.check("masked_mean_forward", impl.masked_mean_forward(c.h, c.mask)[0], c.mean, below=1e-8)
nb.check("reverse_within_length", impl.reverse_within_length(c.h, c.lengths), c.reversed, below=1e-12)
nb.check("reverse_within_length twice", impl.reverse_within_length(impl.reverse_within_length(c.h, c.lengths),
                                                                   c.lengths), c.h, below=1e-12)

# %%
h = {"h": np.ascontiguousarray(c.h.copy())}
dpooled = rng.standard_normal(c.last.shape)
_, cache = impl.last_state_forward(h["h"], c.lengths)
nb.check_backward("last_state_backward", lambda: impl.last_state_forward(h["h"], c.lengths)[0], h, dpooled,
                  {"h": impl.last_state_backward(dpooled, cache)})
_, cache = impl.masked_mean_forward(h["h"], c.mask)
nb.check_backward("masked_mean_backward", lambda: impl.masked_mean_forward(h["h"], c.mask)[0], h, dpooled,
                  {"h": impl.masked_mean_backward(dpooled, cache)})

# %% [markdown]
# ## TODO 5: the bidirectional RNN
# %% [markdown] zh
# ## TODO 5：双向 RNN

# %%
c = cases["birnn"]
out, _ = impl.birnn_forward(c.x, c.lengths, params_of(c))
nb.check("birnn_forward: out", out, c.out, below=1e-8)
inputs = {"x": np.ascontiguousarray(c.x.copy()), **params_of(c)}
weights = {k: v for k, v in inputs.items() if k != "x"}
out, cache = impl.birnn_forward(inputs["x"], c.lengths, weights)
dout = rng.standard_normal(out.shape)
dx, grads = impl.birnn_backward(dout, cache)
nb.check_backward("birnn_backward", lambda: impl.birnn_forward(inputs["x"], c.lengths, weights)[0], inputs,
                  dout, {"x": dx, **grads})

# %% [markdown]
# ## TODO 6–7: the classifier, all four (pool × direction) combinations
# %% [markdown] zh
# ## TODO 6–7：分类器，全部四种（池化 × 方向）组合

# %%
for config in ("uni_last", "uni_mean", "bi_last", "bi_mean"):
    c, pool = cases[f"classify_{config}"], config.split("_")[1]
    params = params_of(c)
    logits, cache = impl.classify_forward(c.x, c.lengths, params, pool)
    nb.check(f"classify_forward ({config}): logits", logits, c.logits, below=1e-8)
    dlogits = rng.standard_normal(logits.shape)
    nb.check_backward(f"classify_backward ({config})",
                      lambda: impl.classify_forward(c.x, c.lengths, params, pool)[0], params, dlogits,
                      impl.classify_backward(dlogits, cache))

# %% [markdown]
# ## Sanity checks: the loss at initialisation, and overfitting 50 sequences
#
# With $C = 4$ classes and small random weights the loss starts near $\ln 4 \approx 1.39$.
# Then 50 fixed sequences, trained on with the given `adam_step`, must be learned almost
# perfectly (the bidirectional model: the first token is the reverse direction's last input).
# %% [markdown] zh
# ## 合理性检查：初始化时的损失，以及在 50 个序列上过拟合
#
# 有 $C = 4$ 个类别、权重很小时，损失从 $\ln 4 \approx 1.39$ 附近开始。然后用给定的 `adam_step`
# 在 50 个固定序列上训练，必须几乎完美地学会（双向模型：首个记号是反向方向最后读到的输入）。

# %%
C = 4
x, lengths, y = impl.make_first_token_task(50, T=12, n_classes=C, rng=np.random.default_rng(1))
params = impl.init_params(C, 16, C, bidirectional=True, rng=np.random.default_rng(2))
loss0, _ = softmax_cross_entropy(impl.classify_forward(x, lengths, params, "last")[0], y)
nb.expect_near_log("loss at initialisation", float(loss0), C)
state, losses = {}, []
for step in range(nb.quick(300, 150)):
    logits, cache = impl.classify_forward(x, lengths, params, "last")
    loss, dlogits = softmax_cross_entropy(logits, y)
    impl.adam_step(params, impl.classify_backward(dlogits, cache), state, lr=1e-2)
    losses.append(float(loss))
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(losses)
ax.set_xlabel("step")
ax.set_ylabel("loss (nats)")
ax.set_title("Overfitting 50 sequences (bidirectional, last state)")
ax.grid(alpha=0.3)
plt.show()
nb.check_value("final training loss", f"{losses[-1]:.4f}", "should be below 0.05", losses[-1] < 0.05)

# %% [markdown]
# ## TODO 8 and the experiment: accuracy against sequence length
#
# On the first-token task a unidirectional `last` model must carry the first token through
# the whole sequence; `mean` pooling and the reverse direction see it directly. The longer the
# sequences, the larger the gap.
# %% [markdown] zh
# ## TODO 8 与实验：准确率随序列长度的变化
#
# 在"首个记号"任务上，单向 `last` 模型必须把首个记号一路带到序列末尾；`mean` 池化和反向方向能直接看到它。
# 序列越长，差距越大。

# %%
lengths_T = nb.quick((4, 8, 16, 32), (4, 8, 16))
steps = nb.quick(300, 100)
accuracy = {}
for bidirectional in (False, True):
    for pool in ("last", "mean"):
        name = f"{'bidirectional' if bidirectional else 'unidirectional'}, {pool}"
        accuracy[name] = [impl.train_classifier(pool, bidirectional, steps=steps, T=T)[1] for T in lengths_T]
        print(f"{name:>22}: " + "  ".join(f"T={T}: {a:.3f}" for T, a in zip(lengths_T, accuracy[name])))
fig, ax = plt.subplots(figsize=(6, 4))
for name, acc in accuracy.items():
    ax.plot(lengths_T, acc, "o-", label=name)
ax.axhline(1 / C, color="gray", ls="--", lw=0.8, label="chance (1/C)")
ax.set_xscale("log", base=2)
ax.set_xticks(lengths_T, [str(T) for T in lengths_T])
ax.set_xlabel("maximum sequence length T")
ax.set_ylabel(f"accuracy on 1000 new sequences ({steps} steps)")
ax.set_ylim(0, 1.05)
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()
best = accuracy["bidirectional, last"]
nb.check_value("bidirectional, last: accuracy at the shortest T", f"{best[0]:.3f}", "should be above 0.9",
               best[0] > 0.9)

# %% [markdown]
# ## Summary
# %% [markdown] zh
# ## 小结

# %%
nb.summary()
