# %% [markdown]
# # Lab 04 — The GRU: one step and a sequence, forward and backward
#
# With **your** `gru.py`: each function on a small example with its relative error and
# target, the numerical check of each backward, the sanity checks (the loss at initialisation
# near ln V; overfitting 50 sequences), and the experiment: how far back the gradient reaches
# for different update-gate biases.
#
# A cell whose function is not written yet stops with `not written yet: TODO n: ...`.
# %% [markdown] zh
# # 实验 04 — GRU：单步与整个序列的前向和反向传播
#
# 使用**你自己的** `gru.py`：每个函数在小例子上运行并打印相对误差与目标；每个反向传播都做数值检查；
# 合理性检查（初始化时损失接近 ln V；在 50 个序列上过拟合）；最后是实验：不同的更新门偏置下，梯度能传回多远。
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

impl = nb.load("lab04")
cases = nb.fixtures("lab04")
rng = np.random.default_rng(0)

# %% [markdown]
# ## TODO 1–2: one step
#
# PyTorch's GRU: blocks r, z, n, and the reset gate multiplies the recurrent part of the
# candidate *after* $W_{hn}$ (so $b_{ih}$ and $b_{hh}$ have different gradients).
# %% [markdown] zh
# ## TODO 1–2：单步
#
# PyTorch 的 GRU：块的顺序为 r, z, n，重置门在 $W_{hn}$ *之后*乘到候选状态的循环部分上
# （因此 $b_{ih}$ 与 $b_{hh}$ 的梯度不同）。

# %%
c = cases["step_main"]
h, _ = impl.gru_step_forward(c.x, c.h_prev, c.W_ih, c.W_hh, c.b_ih, c.b_hh)
nb.check("gru_step_forward: h", h, c.h, below=1e-8)

# %%
B, D, H = 3, 4, 5


def gru_inputs(*lead):
    return dict(x=rng.standard_normal((*lead, B, D)), h_prev=rng.standard_normal((B, H)),
                W_ih=0.5 * rng.standard_normal((3 * H, D)), W_hh=0.5 * rng.standard_normal((3 * H, H)),
                b_ih=0.5 * rng.standard_normal(3 * H), b_hh=0.5 * rng.standard_normal(3 * H))


inputs = gru_inputs()
h, cache = impl.gru_step_forward(**inputs)
dh = rng.standard_normal(h.shape)
grads = dict(zip(inputs, impl.gru_step_backward(dh, cache)))
nb.check_backward("gru_step_backward", lambda: impl.gru_step_forward(**inputs)[0], inputs, dh, grads)

# %% [markdown]
# ## TODO 3–4: a whole sequence
# %% [markdown] zh
# ## TODO 3–4：整个序列

# %%
c = cases["seq_main"]
h, _ = impl.gru_forward(c.x, c.h0, c.W_ih, c.W_hh, c.b_ih, c.b_hh)
nb.check("gru_forward: h", h, c.h, below=1e-8)
inputs = {("h0" if k == "h_prev" else k): v for k, v in gru_inputs(4).items()}   # x, h0, weights
h, cache = impl.gru_forward(**inputs)
dh = rng.standard_normal(h.shape)
grads = dict(zip(inputs, impl.gru_backward(dh, cache)))
nb.check_backward("gru_backward", lambda: impl.gru_forward(**inputs)[0], inputs, dh, grads)

# %% [markdown]
# ## Sanity checks: the loss at initialisation, and overfitting 50 sequences
#
# Your GRU with a linear readout and the library's softmax loss, on 50 sequences of a task
# that needs memory: the target at step $t$ is the input at step $t - 2$. With small weights
# the loss starts near $\ln V$; a correct forward and backward then drive it to nearly zero
# (Adam written out, as in lab 02).
# %% [markdown] zh
# ## 合理性检查：初始化时的损失，以及在 50 个序列上过拟合
#
# 你的 GRU 加上一个线性读出层和库里的 softmax 损失，用在 50 个需要记忆的序列上：第 $t$ 步的目标是第
# $t - 2$ 步的输入。权重很小时损失从 $\ln V$ 附近开始；前向与反向传播正确时，损失会降到接近零
# （Adam 写在下面，与实验 02 相同）。

# %%
from scratchrnn.kernels import softmax_cross_entropy

V, H, T, N = 8, 32, 10, 50
x_ids = rng.integers(0, V, (T, N))
y_ids = np.concatenate([x_ids[:2], x_ids[:-2]])          # the input two steps back
x_onehot = np.eye(V)[x_ids]
r = np.random.default_rng(1)
params = dict(W_ih=0.1 * r.standard_normal((3 * H, V)), W_hh=0.1 * r.standard_normal((3 * H, H)),
              b_ih=np.zeros(3 * H), b_hh=np.zeros(3 * H), W_hy=0.1 * r.standard_normal((V, H)), b_y=np.zeros(V))


def loss_and_grads(p):
    h, cache = impl.gru_forward(x_onehot, np.zeros((N, H)), p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"])
    scores = h @ p["W_hy"].T + p["b_y"]
    loss, dscores = softmax_cross_entropy(scores, y_ids)
    grads = dict(W_hy=np.einsum("tbv,tbh->vh", dscores, h), b_y=dscores.sum(axis=(0, 1)))
    _, _, grads["W_ih"], grads["W_hh"], grads["b_ih"], grads["b_hh"] = impl.gru_backward(dscores @ p["W_hy"], cache)
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
# ## Experiment: the update-gate bias
#
# $h = (1 - z) \cdot n + z \cdot h_{prev}$: with $z$ near 1 the state is copied and the
# gradient flows back through $dh_{prev} = dh \cdot z + \dots$ almost unchanged. The loss
# depends on the last state only; we measure $\|\partial L / \partial x_t\|$ (your
# `gru_backward`'s `dx`) for update-gate biases from $-2$ to $4$.
# %% [markdown] zh
# ## 实验：更新门偏置
#
# $h = (1 - z) \cdot n + z \cdot h_{prev}$：$z$ 接近 1 时状态被复制，梯度经由
# $dh_{prev} = dh \cdot z + \dots$ 几乎不变地传回。损失只依赖于最后的状态；我们测量
# $\|\partial L / \partial x_t\|$（你的 `gru_backward` 返回的 `dx`），更新门偏置取 $-2$ 到 $4$。

# %%
T, B, D, H = nb.quick(60, 30), 8, 4, 32
x = rng.standard_normal((T, B, D))
k = 1 / np.sqrt(H)
W_ih, W_hh = rng.uniform(-k, k, (3 * H, D)), rng.uniform(-k, k, (3 * H, H))
b_ih0, b_hh = rng.uniform(-k, k, 3 * H), rng.uniform(-k, k, 3 * H)
dh_last = rng.standard_normal((B, H))
reach = {}
fig, ax = plt.subplots(figsize=(6, 4))
for update_bias in (-2.0, 0.0, 2.0, 4.0):
    b_ih = b_ih0.copy()
    b_ih[H:2 * H] = update_bias - b_hh[H:2 * H]        # the z block: b_ih + b_hh = update_bias
    h, cache = impl.gru_forward(x, np.zeros((B, H)), W_ih, W_hh, b_ih, b_hh)
    dh = np.zeros_like(h)
    dh[-1] = dh_last                                   # the loss sees only the last state
    dx = impl.gru_backward(dh, cache)[0]
    norms = np.linalg.norm(dx, axis=(1, 2))
    reach[update_bias] = norms[0] / norms[-1]
    ax.semilogy(norms, label=f"update-gate bias {update_bias:g} (z ≈ {1 / (1 + np.exp(-update_bias)):.2f})")
    print(f"b_z = {update_bias:+.0f}: ||dL/dx_0|| / ||dL/dx_T-1|| = {reach[update_bias]:.2e}")
ax.set_xlabel("time step t (the loss is at t = T-1)")
ax.set_ylabel("||dL/dx_t||")
ax.legend(fontsize=8)
ax.grid(alpha=0.3, which="both")
plt.show()
ratios = list(reach.values())
nb.check_value("gradient reaching t = 0", "grows with the update-gate bias" if
               all(a < b for a, b in zip(ratios, ratios[1:])) else "does not grow",
               "should grow with the bias", all(a < b for a, b in zip(ratios, ratios[1:])))

# %% [markdown]
# ## Summary
# %% [markdown] zh
# ## 小结

# %%
nb.summary()
