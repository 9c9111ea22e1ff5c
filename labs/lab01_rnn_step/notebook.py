# %% [markdown]
# # Lab 01 — One step of a vanilla RNN, and how to check a gradient
#
# This notebook walks through the lab with **your** `rnn_step.py`: each function runs on a
# small example and prints its relative error to the expected value, with the target it
# should meet. Fill in the TODO blocks of `rnn_step.py` in order and run the cells again
# (the grader is still `pytest labs/lab01_rnn_step`; this notebook shows what it checks).
#
# A cell whose function is not written yet stops with `not written yet: TODO n: ...`.
# %% [markdown] zh
# # 实验 01 — 普通 RNN 的一步，以及如何检查梯度
#
# 本笔记本用**你自己的** `rnn_step.py` 走一遍实验：每个函数在一个小例子上运行，打印它与期望值的
# 相对误差以及应达到的目标。按顺序填写 `rnn_step.py` 中的 TODO 块，然后重新运行这些单元格
# （评分仍然是 `pytest labs/lab01_rnn_step`；本笔记本展示它检查什么）。
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
from scratchrnn.gradcheck import rel_error      # the library's, to judge yours

impl = nb.load("lab01")
cases = nb.fixtures("lab01")
rng = np.random.default_rng(0)

# %% [markdown]
# ## TODO 1: the forward step
#
# $a = x W_{ih}^T + h_{prev} W_{hh}^T + b$, $h = \tanh(a)$. The expected `h` comes from
# `fixtures.npz`; a correct forward agrees to round-off.
# %% [markdown] zh
# ## TODO 1：前向一步
#
# $a = x W_{ih}^T + h_{prev} W_{hh}^T + b$，$h = \tanh(a)$。期望的 `h` 来自 `fixtures.npz`；
# 正确的前向只差舍入误差。

# %%
c = cases["main"]
h, cache = impl.rnn_step_forward(c.x, c.h_prev, c.W_ih, c.W_hh, c.b)
print("h:\n", h)
nb.check("rnn_step_forward: h", h, c.h, below=1e-8)
c1 = cases["batch1"]
nb.check("rnn_step_forward: h, a batch of one", impl.rnn_step_forward(
    c1.x, c1.h_prev, c1.W_ih, c1.W_hh, c1.b)[0], c1.h, below=1e-8)

# %% [markdown]
# ## TODO 2: the numerical gradient
#
# Central differences, $\frac{f(x + h e_i) - f(x - h e_i)}{2h}$, on a function whose gradient
# we know exactly: $f(x) = \sum \sin(x) \cdot w$ has gradient $\cos(x) \cdot w$; with `dout`,
# $f(x) = \tanh(x)$ has gradient $(1 - \tanh^2 x) \cdot dout$.
# %% [markdown] zh
# ## TODO 2：数值梯度
#
# 中心差分 $\frac{f(x + h e_i) - f(x - h e_i)}{2h}$，用在梯度已知的函数上：
# $f(x) = \sum \sin(x) \cdot w$ 的梯度是 $\cos(x) \cdot w$；给定 `dout` 时，
# $f(x) = \tanh(x)$ 的梯度是 $(1 - \tanh^2 x) \cdot dout$。

# %%
x, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
num = impl.numerical_gradient(lambda: float(np.sum(np.sin(x) * w)), x)
nb.check("numerical_gradient of sum(sin(x) * w)", num, np.cos(x) * w, below=1e-8)
dout = rng.standard_normal((3, 4))
num = impl.numerical_gradient(lambda: np.tanh(x), x, dout)
nb.check("numerical_gradient of tanh(x) with dout", num, (1 - np.tanh(x) ** 2) * dout, below=1e-8)

# %% [markdown]
# ## TODO 3: the relative error
#
# $\max |a - b| / \max(10^{-8}, |a| + |b|)$, compared with the library's on a few pairs
# (the last two: both zero, and a number below the floor).
# %% [markdown] zh
# ## TODO 3：相对误差
#
# $\max |a - b| / \max(10^{-8}, |a| + |b|)$，在几对数组上与库里的版本比较
# （最后两对：全为零，以及小于下限的数）。

# %%
pairs = [(rng.standard_normal(5), rng.standard_normal(5)), (np.array([1.0, 2.0]), np.array([1.0, 3.0])),
         (np.zeros(3), np.zeros(3)), (np.array([1e-9]), np.array([0.0]))]
yours = [impl.rel_error(a, b) for a, b in pairs]
print("yours:  ", yours)
print("library:", [rel_error(a, b) for a, b in pairs])
nb.check("rel_error", np.array(yours, dtype=float), [rel_error(a, b) for a, b in pairs], below=1e-12)

# %% [markdown]
# ## TODO 4: the backward step, checked numerically
#
# Every gradient against the numerical gradient of your own forward (float64, several
# examples). A correct backward gives relative errors around 1e-9; the graders require
# below 1e-6.
# %% [markdown] zh
# ## TODO 4：反向一步，用数值梯度检查
#
# 每个梯度都与你自己的前向的数值梯度比较（float64，多个样本）。正确的反向传播的相对误差约为
# 1e-9；评分要求低于 1e-6。

# %%
B, D, H = 3, 5, 4
inputs = dict(x=rng.standard_normal((B, D)), h_prev=rng.standard_normal((B, H)),
              W_ih=0.5 * rng.standard_normal((H, D)), W_hh=0.5 * rng.standard_normal((H, H)),
              b=0.5 * rng.standard_normal(H))
h, cache = impl.rnn_step_forward(**inputs)
dh = rng.standard_normal(h.shape)
grads = dict(zip(inputs, impl.rnn_step_backward(dh, cache)))
nb.check_backward("rnn_step_backward", lambda: impl.rnn_step_forward(**inputs)[0], inputs, dh, grads)

# %% [markdown]
# The same check with **your** `numerical_gradient` (what the self-check at the bottom of
# `rnn_step.py` prints):
# %% [markdown] zh
# 用**你自己的** `numerical_gradient` 做同样的检查（`rnn_step.py` 末尾的自检打印的就是它）：

# %%
num = impl.numerical_gradient(lambda: impl.rnn_step_forward(**inputs)[0], inputs["W_hh"], dh)
nb.check("dW_hh against your numerical_gradient", grads["W_hh"], num, below=1e-6)

# %% [markdown]
# ## Experiment: how small should the step $h$ be?
#
# The error of a finite difference against the exact gradient of $\sum \tanh(x) \cdot dout$,
# for steps from $10^{-1}$ to $10^{-12}$. Truncation error falls with $h$ ($h$ for a forward
# difference, $h^2$ for central differences) while round-off grows like $10^{-16}/h$: the best
# step sits where they meet. This is why the lab uses central differences with $h = 10^{-5}$.
# %% [markdown] zh
# ## 实验：步长 $h$ 应该多小？
#
# 对 $\sum \tanh(x) \cdot dout$，有限差分与精确梯度之间的误差，步长从 $10^{-1}$ 到 $10^{-12}$。
# 截断误差随 $h$ 减小（前向差分约为 $h$，中心差分约为 $h^2$），而舍入误差按 $10^{-16}/h$ 增长：
# 最佳步长在两者相交处。这就是本实验用 $h = 10^{-5}$ 的中心差分的原因。

# %%
x, dout = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
exact = (1 - np.tanh(x) ** 2) * dout
steps = np.logspace(-1, -12, nb.quick(23, 12))


def forward_difference(step):
    f0, grad = np.sum(np.tanh(x) * dout), np.zeros_like(x)
    for i in range(x.size):
        xp = x.copy()
        xp.flat[i] += step
        grad.flat[i] = (np.sum(np.tanh(xp) * dout) - f0) / step
    return grad


central = [rel_error(impl.numerical_gradient(lambda: np.tanh(x), x, dout, h=s), exact) for s in steps]
forward = [rel_error(forward_difference(s), exact) for s in steps]
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.loglog(steps, central, "o-", label="central (your numerical_gradient)")
ax.loglog(steps, forward, "s--", label="forward difference")
ax.axvline(1e-5, color="gray", lw=0.8)
ax.set_xlabel("step h")
ax.set_ylabel("relative error")
ax.invert_xaxis()
ax.grid(alpha=0.3, which="both")
ax.legend()
plt.show()
best = steps[int(np.argmin(central))]
nb.check_value("best step for central differences", f"{best:.0e}", "should be between 1e-7 and 1e-3",
               1e-7 <= best <= 1e-3)

# %% [markdown]
# ## Summary
# %% [markdown] zh
# ## 小结

# %%
nb.summary()
