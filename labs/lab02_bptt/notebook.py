# %% [markdown]
# # Lab 02 — Backpropagation through time, and why gradients vanish or explode
#
# With **your** `bptt.py`: each function on a small example with its relative error and
# target, the numerical check of every backward, two sanity checks of a tiny language model
# built from your functions (the loss at initialisation, and overfitting a small batch), and
# the experiment: the gradient norm $\|\partial L / \partial h_t\|$ against $t$.
#
# A cell whose function is not written yet stops with `not written yet: TODO n: ...`.
# %% [markdown] zh
# # 实验 02 — 随时间反向传播（BPTT），以及梯度为何消失或爆炸
#
# 使用**你自己的** `bptt.py`：每个函数在小例子上运行并打印相对误差与目标；每个反向传播都做数值检查；
# 用你的函数搭一个小语言模型做两项合理性检查（初始化时的损失，以及在一个小批量上过拟合）；
# 最后是实验：梯度范数 $\|\partial L / \partial h_t\|$ 随 $t$ 的变化。
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
from scratchrnn.nn import LSTMCell

impl = nb.load("lab02")
cases = nb.fixtures("lab02")
rng = np.random.default_rng(0)
c = cases["main"]

# %% [markdown]
# ## TODO 1–2: the RNN over a sequence, and BPTT
# %% [markdown] zh
# ## TODO 1–2：整个序列上的 RNN，以及 BPTT

# %%
h, _ = impl.rnn_forward(c.x, c.h0, c.W_ih, c.W_hh, c.b)
nb.check("rnn_forward: h", h, c.h, below=1e-8)

# %%
T, B, D, H = 4, 3, 3, 5
inputs = dict(x=rng.standard_normal((T, B, D)), h0=rng.standard_normal((B, H)),
              W_ih=0.5 * rng.standard_normal((H, D)), W_hh=0.4 * rng.standard_normal((H, H)),
              b=0.5 * rng.standard_normal(H))
h, cache = impl.rnn_forward(**inputs)
dh = rng.standard_normal(h.shape)
grads = dict(zip(inputs, impl.rnn_backward(dh, cache)))
nb.check_backward("rnn_backward", lambda: impl.rnn_forward(**inputs)[0], inputs, dh, grads)

# %% [markdown]
# ## TODO 3–4: the temporal affine layer
# %% [markdown] zh
# ## TODO 3–4：时间上的仿射层

# %%
scores, _ = impl.temporal_affine_forward(c.h, c.W_hy, c.b_y)
nb.check("temporal_affine_forward: scores", scores, c.scores, below=1e-8)
V = 6
inputs = dict(h=rng.standard_normal((T, B, H)), W_hy=rng.standard_normal((V, H)), b_y=rng.standard_normal(V))
scores, cache = impl.temporal_affine_forward(**inputs)
dscores = rng.standard_normal(scores.shape)
grads = dict(zip(inputs, impl.temporal_affine_backward(dscores, cache)))
nb.check_backward("temporal_affine_backward", lambda: impl.temporal_affine_forward(**inputs)[0],
                  inputs, dscores, grads)

# %% [markdown]
# ## TODO 5: the masked softmax loss
#
# Its value against the fixture, its gradient against the numerical one (with padding in the
# mask), and the first sanity check: with small weights every class is about equally likely,
# so the loss at initialisation is near $\ln V$.
# %% [markdown] zh
# ## TODO 5：带掩码的 softmax 损失
#
# 数值与 fixture 比较，梯度与数值梯度比较（掩码中有填充位置），以及第一项合理性检查：权重很小时
# 每个类别概率大致相同，所以初始化时的损失接近 $\ln V$。

# %%
loss, _ = impl.temporal_softmax_loss(c.scores, c.y, c.mask)
nb.check("temporal_softmax_loss: loss", loss, c.loss, below=1e-8)
scores = {"scores": rng.standard_normal((T, B, V))}
y, mask = rng.integers(0, V, (T, B)), rng.random((T, B)) < 0.7
loss, dscores = impl.temporal_softmax_loss(scores["scores"], y, mask)
nb.check_backward("temporal_softmax_loss", lambda: impl.temporal_softmax_loss(scores["scores"], y, mask)[0],
                  scores, 1.0, {"scores": dscores})

# %%
V, H, T, N = 10, 32, 8, 50


def init_model(scale=0.01, seed=1):
    r = np.random.default_rng(seed)
    return dict(W_ih=scale * r.standard_normal((H, V)), W_hh=scale * r.standard_normal((H, H)),
                b=np.zeros(H), W_hy=scale * r.standard_normal((V, H)), b_y=np.zeros(V))


def model_loss(p, x_ids, y):
    """The tiny language model: one-hot inputs -> your RNN -> your affine layer -> your loss."""
    x = np.eye(V)[x_ids]                                          # (T, N, V)
    h, rnn_cache = impl.rnn_forward(x, np.zeros((x.shape[1], H)), p["W_ih"], p["W_hh"], p["b"])
    scores, affine_cache = impl.temporal_affine_forward(h, p["W_hy"], p["b_y"])
    loss, dscores = impl.temporal_softmax_loss(scores, y, np.ones(y.shape))
    dh, dW_hy, db_y = impl.temporal_affine_backward(dscores, affine_cache)
    _, _, dW_ih, dW_hh, db = impl.rnn_backward(dh, rnn_cache)
    return loss, dict(W_ih=dW_ih, W_hh=dW_hh, b=db, W_hy=dW_hy, b_y=db_y)


# 50 sequences of a task an RNN can learn exactly: the target at step t is the input at t-1
x_ids = rng.integers(0, V, (T, N))
y_ids = np.concatenate([x_ids[:1], x_ids[:-1]])
loss0, _ = model_loss(init_model(), x_ids, y_ids)
nb.expect_near_log("loss at initialisation", loss0, V)

# %% [markdown]
# ## Sanity check: overfit 50 examples
#
# A model that cannot drive the loss on 50 examples to nearly zero has a bug. Adam (written
# out here; you write it yourself in lab 05) on your forward and backward, with your
# `clip_by_norm` (TODO 7) keeping the steps bounded.
# %% [markdown] zh
# ## 合理性检查：在 50 个样本上过拟合
#
# 如果模型不能把 50 个样本上的损失降到接近零，那一定有错误。这里用 Adam（写在下面；实验 05 中你会自己实现）
# 配合你的前向与反向传播，并用你的 `clip_by_norm`（TODO 7）限制每步的大小。

# %%
params, adam, losses = init_model(scale=0.3), {}, []
for step in range(1, nb.quick(400, 200) + 1):
    loss, grads = model_loss(params, x_ids, y_ids)
    grads, _ = impl.clip_by_norm(grads, 5.0)
    losses.append(loss)
    for k, g in grads.items():
        m, v = adam.get(k, (0.0, 0.0))
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        adam[k] = (m, v)
        params[k] = params[k] - 2e-2 * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(losses)
ax.set_xlabel("step")
ax.set_ylabel("loss (nats)")
ax.set_title("Overfitting 50 sequences")
ax.grid(alpha=0.3)
plt.show()
nb.check_value("final training loss", f"{losses[-1]:.4f}", "should be below 0.05", losses[-1] < 0.05)

# %% [markdown]
# ## TODO 6–7: gradient norms through time, and clip-by-norm
# %% [markdown] zh
# ## TODO 6–7：随时间的梯度范数，以及按范数裁剪

# %%
norms = impl.hidden_grad_norms(c.x, c.h0, c.W_ih, c.W_hh, c.b, c.dh_last)
nb.check("hidden_grad_norms", norms, c.norms, below=1e-8)
grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}     # joint norm 5
clipped, total = impl.clip_by_norm(grads, 1.0)
nb.check("clip_by_norm: total norm", total, 5.0, below=1e-12)
nb.check("clip_by_norm: clipped a", clipped["a"], grads["a"] / (5 + 1e-6), below=1e-12)
nb.check("clip_by_norm: clipped b", clipped["b"], grads["b"] / (5 + 1e-6), below=1e-12)

# %% [markdown]
# ## TODO 8: the experiment
#
# $W_{hh} = \rho Q$ with $Q$ orthogonal: each step back multiplies the gradient's norm by
# $\rho$, so on a log scale the lines are straight with slopes $\ln \rho$.
# %% [markdown] zh
# ## TODO 8：实验
#
# $W_{hh} = \rho Q$，$Q$ 为正交矩阵：每向后一步，梯度范数乘以 $\rho$，所以在对数坐标下是斜率为
# $\ln \rho$ 的直线。

# %%
import os
import tempfile

backend = plt.get_backend()
with tempfile.TemporaryDirectory() as tmp:          # the lab's PNG is not needed here
    results = impl.vanishing_exploding_experiment(T=30, png_path=os.path.join(tmp, "grad_norms.png"))
plt.switch_backend(backend)     # plot_grad_norms selected Agg (for scripts); draw in the notebook again
fig, ax = plt.subplots(figsize=(6, 4))
for rho, norms in results.items():
    ax.semilogy(norms, marker=".", label=f"spectral radius {rho}")
ax.set_xlabel("time step t (the loss is at t = T-1)")
ax.set_ylabel("||dL/dh_t||")
ax.legend()
ax.grid(alpha=0.3, which="both")
plt.show()
for rho, norms in results.items():     # the tanh is almost (not exactly) linear near h = 0
    nb.check(f"rho = {rho}: norms[0] / norms[T-1] against rho^(T-1)", norms[0] / norms[-1],
             rho ** (len(norms) - 1), below=1e-4)

# %% [markdown]
# ## RNN against LSTM
#
# The same measurement with random inputs and PyTorch's initialisation ($U(-1/\sqrt{H},
# 1/\sqrt{H})$) for your RNN (`hidden_grad_norms`) and for the library's `LSTMCell` (lab 03
# builds its insides). The LSTM's gradient also travels along the cell, where each step back
# multiplies it by the forget gate $f$ instead of by $W_{hh}^T \mathrm{diag}(1 - h^2)$. At
# initialisation $f \approx 0.5$; with the forget-gate bias set to 3, $f \approx 0.95$ and the
# gradient reaches much further back (lab 03 measures this).
# %% [markdown] zh
# ## RNN 与 LSTM 的对比
#
# 同样的测量，用随机输入和 PyTorch 的初始化（$U(-1/\sqrt{H}, 1/\sqrt{H})$），分别用于你的 RNN
# （`hidden_grad_norms`）和库中的 `LSTMCell`（实验 03 会实现它的内部）。LSTM 的梯度还沿着细胞状态传播，
# 每向后一步乘以遗忘门 $f$，而不是 $W_{hh}^T \mathrm{diag}(1 - h^2)$。初始化时 $f \approx 0.5$；
# 把遗忘门偏置设为 3 时 $f \approx 0.95$，梯度能传回更远（实验 03 会测量这一点）。

# %%
T, B, D, H = nb.quick(60, 30), 8, 4, 32
x = rng.standard_normal((T, B, D))
dh_last = rng.standard_normal((B, H))
k = 1 / np.sqrt(H)
rnn_norms = impl.hidden_grad_norms(x, np.zeros((B, H)), rng.uniform(-k, k, (H, D)),
                                   rng.uniform(-k, k, (H, H)), rng.uniform(-k, k, H), dh_last)


def lstm_grad_norms(forget_bias=None):
    cell = LSTMCell(D, H, dtype=np.float64, rng=np.random.default_rng(1))
    if forget_bias is not None:
        cell.bias_ih.data[H:2 * H] = forget_bias        # gate blocks i, f, g, o
        cell.bias_hh.data[H:2 * H] = 0.0
    state = None
    for t in range(T):
        state = cell(x[t], state)
    norms, dh, dc = np.empty(T), dh_last, np.zeros((B, H))
    for t in reversed(range(T)):
        norms[t] = np.linalg.norm(dh)
        _, (dh, dc) = cell.backward(dh, dc)
    return norms


fig, ax = plt.subplots(figsize=(6, 4))
ax.semilogy(rnn_norms, label="RNN (your hidden_grad_norms)")
ax.semilogy(lstm_grad_norms(), label="LSTM")
ax.semilogy(lstm_grad_norms(forget_bias=3.0), label="LSTM, forget-gate bias 3")
ax.set_xlabel("time step t (the loss is at t = T-1)")
ax.set_ylabel("||dL/dh_t||")
ax.legend()
ax.grid(alpha=0.3, which="both")
plt.show()

# %% [markdown]
# ## Summary
# %% [markdown] zh
# ## 小结

# %%
nb.summary()
