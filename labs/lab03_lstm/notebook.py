# %% [markdown]
# # Lab 03 — The LSTM: one step and a sequence, forward and backward
#
# With **your** `lstm.py`: each function on a small example with its relative error and
# target, the numerical check of each backward, the sanity checks (the loss at initialisation
# near ln V; overfitting 50 sequences), and the experiment: how far back the gradient reaches
# for different forget-gate biases.
#
# A cell whose function is not written yet stops with `not written yet: TODO n: ...`.
# %% [markdown] zh
# # 实验 03 — LSTM：单步与整个序列的前向和反向传播
#
# 使用**你自己的** `lstm.py`：每个函数在小例子上运行并打印相对误差与目标；每个反向传播都做数值检查；
# 合理性检查（初始化时损失接近 ln V；在 50 个序列上过拟合）；最后是实验：不同的遗忘门偏置下，梯度能传回多远。
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

impl = nb.load("lab03")
cases = nb.fixtures("lab03")
rng = np.random.default_rng(0)

# %% [markdown]
# ## TODO 1–2: one step
#
# Gates stacked in the order i, f, g, o. The backward is checked on both outputs at once:
# the loss is $\sum h \cdot dh + \sum c \cdot dc$.
# %% [markdown] zh
# ## TODO 1–2：单步
#
# 门按 i, f, g, o 的顺序堆叠。反向传播同时对两个输出检查：损失为 $\sum h \cdot dh + \sum c \cdot dc$。

# %%
c = cases["step_main"]
h, cell, _ = impl.lstm_step_forward(c.x, c.h_prev, c.c_prev, c.W_ih, c.W_hh, c.b)
nb.check("lstm_step_forward: h", h, c.h, below=1e-8)
nb.check("lstm_step_forward: c", cell, c.c, below=1e-8)

# %%
B, D, H = 3, 4, 5
inputs = dict(x=rng.standard_normal((B, D)), h_prev=rng.standard_normal((B, H)),
              c_prev=rng.standard_normal((B, H)), W_ih=0.5 * rng.standard_normal((4 * H, D)),
              W_hh=0.5 * rng.standard_normal((4 * H, H)), b=0.5 * rng.standard_normal(4 * H))
h, cell, cache = impl.lstm_step_forward(**inputs)
dh, dc = rng.standard_normal(h.shape), rng.standard_normal(cell.shape)
grads = dict(zip(inputs, impl.lstm_step_backward(dh, dc, cache)))
nb.check_backward("lstm_step_backward", lambda: impl.lstm_step_forward(**inputs)[:2], inputs,
                  (dh, dc), grads)

# %% [markdown]
# ## TODO 3–4: a whole sequence
# %% [markdown] zh
# ## TODO 3–4：整个序列

# %%
c = cases["seq_main"]
h, _ = impl.lstm_forward(c.x, c.h0, c.c0, c.W_ih, c.W_hh, c.b)
nb.check("lstm_forward: h", h, c.h, below=1e-8)
T = 4
inputs = dict(x=rng.standard_normal((T, B, D)), h0=rng.standard_normal((B, H)),
              c0=rng.standard_normal((B, H)), W_ih=0.5 * rng.standard_normal((4 * H, D)),
              W_hh=0.5 * rng.standard_normal((4 * H, H)), b=0.5 * rng.standard_normal(4 * H))
h, cache = impl.lstm_forward(**inputs)
dh = rng.standard_normal(h.shape)
grads = dict(zip(inputs, impl.lstm_backward(dh, cache)))
nb.check_backward("lstm_backward", lambda: impl.lstm_forward(**inputs)[0], inputs, dh, grads)

# %% [markdown]
# ## Sanity checks: the loss at initialisation, and overfitting 50 sequences
#
# Your LSTM with a linear readout and the library's softmax loss, on 50 sequences of a task
# that needs memory: the target at step $t$ is the input at step $t - 2$. With small weights
# the loss starts near $\ln V$; a correct forward and backward then drive it to nearly zero
# (Adam written out, as in lab 02).
# %% [markdown] zh
# ## 合理性检查：初始化时的损失，以及在 50 个序列上过拟合
#
# 你的 LSTM 加上一个线性读出层和库里的 softmax 损失，用在 50 个需要记忆的序列上：第 $t$ 步的目标是第
# $t - 2$ 步的输入。权重很小时损失从 $\ln V$ 附近开始；前向与反向传播正确时，损失会降到接近零
# （Adam 写在下面，与实验 02 相同）。

# %%
from scratchrnn.kernels import softmax_cross_entropy

V, H, T, N = 8, 32, 10, 50
x_ids = rng.integers(0, V, (T, N))
y_ids = np.concatenate([x_ids[:2], x_ids[:-2]])          # the input two steps back
x_onehot = np.eye(V)[x_ids]
r = np.random.default_rng(1)
params = dict(W_ih=0.1 * r.standard_normal((4 * H, V)), W_hh=0.1 * r.standard_normal((4 * H, H)),
              b=np.zeros(4 * H), W_hy=0.1 * r.standard_normal((V, H)), b_y=np.zeros(V))


def loss_and_grads(p):
    h, cache = impl.lstm_forward(x_onehot, np.zeros((N, H)), np.zeros((N, H)), p["W_ih"], p["W_hh"], p["b"])
    scores = h @ p["W_hy"].T + p["b_y"]
    loss, dscores = softmax_cross_entropy(scores, y_ids)
    grads = dict(W_hy=np.einsum("tbv,tbh->vh", dscores, h), b_y=dscores.sum(axis=(0, 1)))
    _, _, _, grads["W_ih"], grads["W_hh"], grads["b"] = impl.lstm_backward(dscores @ p["W_hy"], cache)
    return loss, grads


nb.expect_near_log("loss at initialisation", loss_and_grads(params)[0], V)
adam, losses = {}, []
for step in range(1, nb.quick(300, 150) + 1):
    loss, grads = loss_and_grads(params)
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
ax.set_title("Overfitting 50 sequences (target: the input two steps back)")
ax.grid(alpha=0.3)
plt.show()
nb.check_value("final training loss", f"{losses[-1]:.4f}", "should be below 0.05", losses[-1] < 0.05)

# %% [markdown]
# ## Experiment: the forget-gate bias
#
# Along the cell, each step back multiplies the gradient by the forget gate $f$. Here the loss
# depends on the last state only, and we measure $\|\partial L / \partial x_t\|$ (your
# `lstm_backward`'s `dx`) for forget-gate biases from $-2$ to $3$ (PyTorch's initialisation
# otherwise). With $f \approx \sigma(b_f)$ near 1 the gradient reaches far back: the reason
# for the common trick of initialising $b_f$ to 1 or 2.
# %% [markdown] zh
# ## 实验：遗忘门偏置
#
# 沿着细胞状态，每向后一步，梯度乘以遗忘门 $f$。这里损失只依赖于最后的状态，我们测量
# $\|\partial L / \partial x_t\|$（你的 `lstm_backward` 返回的 `dx`），遗忘门偏置取 $-2$ 到 $3$
# （其余用 PyTorch 的初始化）。当 $f \approx \sigma(b_f)$ 接近 1 时，梯度能传回很远：
# 这就是常把 $b_f$ 初始化为 1 或 2 的原因。

# %%
T, B, D, H = nb.quick(60, 30), 8, 4, 32
x = rng.standard_normal((T, B, D))
k = 1 / np.sqrt(H)
W_ih, W_hh = rng.uniform(-k, k, (4 * H, D)), rng.uniform(-k, k, (4 * H, H))
b0 = rng.uniform(-k, k, 4 * H)
dh_last = rng.standard_normal((B, H))
reach = {}
fig, ax = plt.subplots(figsize=(6, 4))
for forget_bias in (-2.0, 0.0, 1.0, 3.0):
    b = b0.copy()
    b[H:2 * H] = forget_bias                           # the f block
    h, cache = impl.lstm_forward(x, np.zeros((B, H)), np.zeros((B, H)), W_ih, W_hh, b)
    dh = np.zeros_like(h)
    dh[-1] = dh_last                                   # the loss sees only the last state
    dx = impl.lstm_backward(dh, cache)[0]
    norms = np.linalg.norm(dx, axis=(1, 2))
    reach[forget_bias] = norms[0] / norms[-1]
    ax.semilogy(norms, label=f"forget-gate bias {forget_bias:g} (f ≈ {1 / (1 + np.exp(-forget_bias)):.2f})")
    print(f"b_f = {forget_bias:+.0f}: ||dL/dx_0|| / ||dL/dx_T-1|| = {reach[forget_bias]:.2e}")
ax.set_xlabel("time step t (the loss is at t = T-1)")
ax.set_ylabel("||dL/dx_t||")
ax.legend(fontsize=8)
ax.grid(alpha=0.3, which="both")
plt.show()
ratios = list(reach.values())
nb.check_value("gradient reaching t = 0", "grows with the forget-gate bias" if
               all(a < b for a, b in zip(ratios, ratios[1:])) else "does not grow",
               "should grow with the bias", all(a < b for a, b in zip(ratios, ratios[1:])))

# %% [markdown]
# ## Summary
# %% [markdown] zh
# ## 小结

# %%
nb.summary()
