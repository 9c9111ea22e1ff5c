"""The fast recurrent kernels are held to the reference kernels, and the reference to calculus.

* Every one of the twelve fast kernels (scratchrnn/kernels/{rnn,lstm,gru}.py) returns what its
  twin in scratchrnn/kernels/reference/ returns, to 1e-12 in float64, with the same nesting and
  the same None entries: outputs, final states, dx, dh0, dc0 and every weight gradient, for
  RNN tanh and relu, GRU reset-after and reset-before, with and without bias, with ragged
  masks (a length-1 and a full-length row), from non-zero initial states, and on both sides
  of the fast kernels' bias-in-the-product switch (T * B > H and T * B <= H).
* The reference kernels are proven independently: central differences (float64, relative
  error < 1e-6) for every input and parameter, on masked sequences.
* The reference imports nothing of the fast machinery, and is written without ``out=``,
  in-place updates or buffer copies.
"""
import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import scratchrnn.kernels as kernels
import scratchrnn.kernels.gru as fast_gru
import scratchrnn.kernels.lstm as fast_lstm
import scratchrnn.kernels.rnn as fast_rnn
import scratchrnn.kernels.reference as reference
import scratchrnn.kernels.reference.gru as ref_gru
import scratchrnn.kernels.reference.lstm as ref_lstm
import scratchrnn.kernels.reference.rnn as ref_rnn
import scratchrnn.nn as nn
from scratchrnn.gradcheck import numerical_gradient, rel_error

TOL = dict(rtol=1e-12, atol=1e-12)
KINDS = {"rnn": (fast_rnn, ref_rnn, 1), "lstm": (fast_lstm, ref_lstm, 4), "gru": (fast_gru, ref_gru, 3)}
# (T, B, D, H): T * B > H puts the fast kernels' biases in the recurrent product, T * B <= H
# adds them to the projections (the generation path).
SIZES = {"bias_in_product": (5, 4, 3, 6), "bias_added": (4, 3, 3, 13)}
LENGTHS = {"B4": [5, 1, 3, 5], "B3": [4, 1, 2]}       # a full-length row and a length-1 row

CONFIGS = ([("rnn", dict(nonlinearity=nl)) for nl in ("tanh", "relu")]
           + [("lstm", {})]
           + [("gru", dict(reset_after=ra)) for ra in (True, False)])


def _id(kind, options):
    return "-".join([kind] + [f"{k}={v}" for k, v in options.items()])


def make_inputs(kind, T, B, D, H, bias, seed):
    """Random float64 weights, inputs and non-zero initial states for one kernel family."""
    rng = np.random.default_rng(seed)
    G = KINDS[kind][2] * H
    inp = dict(x=rng.standard_normal((T, B, D)), h0=rng.standard_normal((B, H)),
               W_ih=0.6 * rng.standard_normal((G, D)), W_hh=0.6 * rng.standard_normal((G, H)),
               b_ih=rng.standard_normal(G) if bias else None,
               b_hh=rng.standard_normal(G) if bias else None)
    if kind == "lstm":
        inp["c0"] = rng.standard_normal((B, H))
    return inp


def forward(module, kind, inp, mask, options):
    f = getattr(module, f"{kind}_forward")
    states = (inp["h0"], inp["c0"]) if kind == "lstm" else (inp["h0"],)
    return f(inp["x"], *states, inp["W_ih"], inp["W_hh"], inp["b_ih"], inp["b_hh"], mask=mask,
             **options)


def assert_same(fast, ref, where="result", tol=TOL):
    """Same nesting, same None entries, arrays equal to 1e-12 (same shape and dtype)."""
    if ref is None or fast is None:
        assert fast is None and ref is None, f"{where}: fast {type(fast)}, reference {type(ref)}"
    elif isinstance(ref, (tuple, list)):
        assert isinstance(fast, (tuple, list)) and len(fast) == len(ref), \
            f"{where}: fast returns {len(fast) if isinstance(fast, (tuple, list)) else type(fast)} " \
            f"items, reference {len(ref)}"
        for k, (a, b) in enumerate(zip(fast, ref)):
            assert_same(a, b, f"{where}[{k}]", tol)
    else:
        assert isinstance(fast, np.ndarray) and isinstance(ref, np.ndarray), where
        assert fast.shape == ref.shape and fast.dtype == ref.dtype, \
            f"{where}: fast {fast.shape} {fast.dtype}, reference {ref.shape} {ref.dtype}"
        np.testing.assert_allclose(fast, ref, err_msg=where, **tol)


# ------------------------------------------------------------------ sequence kernels
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "ragged_mask"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("kind,options", CONFIGS, ids=[_id(*c) for c in CONFIGS])
def test_sequence_kernel_matches_reference(kind, options, bias, masked, size):
    T, B, D, H = SIZES[size]
    seed = 10 * list(SIZES).index(size) + list(KINDS).index(kind)
    inp = make_inputs(kind, T, B, D, H, bias, seed)
    lengths = np.array(LENGTHS[f"B{B}"])
    assert lengths.max() == T and lengths.min() == 1
    mask = (np.arange(T)[:, None] < lengths) if masked else None
    fast, ref = KINDS[kind][0], KINDS[kind][1]

    fast_fwd, fast_cache = forward(fast, kind, inp, mask, options)
    ref_fwd, ref_cache = forward(ref, kind, inp, mask, options)
    assert_same(fast_fwd, ref_fwd, f"{kind}_forward")

    rng = np.random.default_rng(7)
    dout = rng.standard_normal((T, B, H))
    dstates = [rng.standard_normal((B, H)) for _ in range(2 if kind == "lstm" else 1)]
    backward_f, backward_r = getattr(fast, f"{kind}_backward"), getattr(ref, f"{kind}_backward")
    assert_same(backward_f(dout.copy(), *[d.copy() for d in dstates], fast_cache),
                backward_r(dout, *dstates, ref_cache), f"{kind}_backward")
    # dh_T (and dc_T) None mean zero: fresh forwards, since every cache is single-use
    _, fast_cache = forward(fast, kind, inp, mask, options)
    _, ref_cache = forward(ref, kind, inp, mask, options)
    nones = [None] * len(dstates)
    assert_same(backward_f(dout, *nones, fast_cache), backward_r(dout, *nones, ref_cache),
                f"{kind}_backward with final-state gradients None")


# ------------------------------------------------------------------ step kernels
def step_forward(module, kind, inp, options):
    f = getattr(module, f"{kind}_step_forward")
    states = (inp["h0"], inp["c0"]) if kind == "lstm" else (inp["h0"],)
    return f(inp["x"][0], *states, inp["W_ih"], inp["W_hh"], inp["b_ih"], inp["b_hh"], **options)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("kind,options", CONFIGS, ids=[_id(*c) for c in CONFIGS])
def test_step_kernel_matches_reference(kind, options, bias):
    B, D, H = 4, 3, 5
    inp = make_inputs(kind, 1, B, D, H, bias, seed=11)
    fast, ref = KINDS[kind][0], KINDS[kind][1]
    fast_out, fast_cache = step_forward(fast, kind, inp, options)
    ref_out, ref_cache = step_forward(ref, kind, inp, options)
    assert_same(fast_out, ref_out, f"{kind}_step_forward")

    rng = np.random.default_rng(3)
    dstates = [rng.standard_normal((B, H)) for _ in range(2 if kind == "lstm" else 1)]
    assert_same(getattr(fast, f"{kind}_step_backward")(*[d.copy() for d in dstates], fast_cache),
                getattr(ref, f"{kind}_step_backward")(*dstates, ref_cache),
                f"{kind}_step_backward")


def test_the_comparison_can_fail():
    """assert_same notices a wrong entry, a missing None and a different nesting."""
    a = (np.ones(3), (np.zeros(2), None))
    assert_same(a, (np.ones(3), (np.zeros(2), None)))
    for bad in [(np.ones(3) + 1e-9, (np.zeros(2), None)),
                (np.ones(3), (np.zeros(2), np.zeros(1))),
                (np.ones(3), np.zeros(2), None)]:
        with pytest.raises(AssertionError):
            assert_same(a, bad)


# ------------------------------------------------------------------ the signatures agree
NAMES = [f"{kind}_{what}" for kind in KINDS
         for what in ("step_forward", "step_backward", "forward", "backward")]


@pytest.mark.parametrize("name", NAMES)
def test_same_signature_as_the_fast_kernel(name):
    fast, ref = KINDS[name.split("_")[0]][:2]
    assert inspect.signature(getattr(ref, name)) == inspect.signature(getattr(fast, name))
    assert getattr(reference, name) is getattr(ref, name)          # re-exported by the package


# ------------------------------------------------------------------ swapped into the modules
LAYERS = [("RNN", dict(nonlinearity="relu")), ("LSTM", {}), ("GRU", dict(reset_after=True)),
          ("GRU", dict(reset_after=False))]
F32_TOL = dict(rtol=1e-4, atol=1e-5)


def _use_reference_kernels(monkeypatch):
    for name in NAMES:
        monkeypatch.setattr(kernels, name, getattr(reference, name))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name,options", LAYERS, ids=[_id(*c) for c in LAYERS])
def test_reference_kernels_stand_in_for_the_fast_ones_in_the_layers(name, options, dtype,
                                                                    monkeypatch):
    """A 2-layer bidirectional layer with ragged lengths gives the same outputs, states and
    gradients (same dtypes) when scratchrnn.kernels' functions are the reference ones."""
    layer = getattr(nn, name)(3, 4, num_layers=2, bidirectional=True, dtype=dtype,
                              rng=np.random.default_rng(0), **options)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 3)).astype(dtype)
    dout = rng.standard_normal((5, 3, 8)).astype(dtype)
    n_states = 2 if name == "LSTM" else 1
    dfinal = [rng.standard_normal((4, 3, 4)).astype(dtype) for _ in range(n_states)]

    def run():
        layer.zero_grad()
        out, final = layer(x, lengths=np.array([5, 1, 3]))
        dx, dinit = layer.backward(dout, tuple(dfinal) if n_states == 2 else dfinal[0])
        return out, final, dx, dinit, [p.grad.copy() for p in layer.parameters()]

    fast = run()
    _use_reference_kernels(monkeypatch)
    assert nn.recurrent.K.lstm_forward is reference.lstm_forward      # the swap took effect
    assert_same(fast, run(), f"{name} {options}", TOL if dtype == np.float64 else F32_TOL)


@pytest.mark.parametrize("name,options", [("RNNCell", {}), ("LSTMCell", {}),
                                          ("GRUCell", dict(reset_after=False))],
                         ids=["RNNCell", "LSTMCell", "GRUCell-reset_before"])
def test_reference_kernels_stand_in_for_the_fast_ones_in_the_cells(name, options, monkeypatch):
    cell = getattr(nn, name)(3, 4, dtype=np.float64, rng=np.random.default_rng(0), **options)
    rng = np.random.default_rng(2)
    x, state = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    state = (state, rng.standard_normal((2, 4))) if name == "LSTMCell" else state
    dstate = rng.standard_normal((2, 4))

    def run():
        cell.zero_grad()
        new = cell(x, state)
        grads = cell.backward(dstate) if name != "LSTMCell" else cell.backward(dstate, dstate)
        return new, grads, [p.grad.copy() for p in cell.parameters()]

    fast = run()
    _use_reference_kernels(monkeypatch)
    assert_same(fast, run(), name)


# ------------------------------------------------------------------ the reference is right
def _loss_and_grads(kind, inp, mask, options, dout, dstates):
    """L = sum(out * dout) + sum(final states * dstates) and the reference's gradient of it."""
    def loss():
        fwd, _ = forward(KINDS[kind][1], kind, inp, mask, options)
        return sum(np.sum(a * d) for a, d in zip(fwd, [dout] + dstates))

    _, cache = forward(KINDS[kind][1], kind, inp, mask, options)
    result = getattr(KINDS[kind][1], f"{kind}_backward")(dout, *dstates, cache)
    *input_grads, (dW_ih, dW_hh, db_ih, db_hh) = result
    names = ["x", "h0", "c0"][:len(input_grads)]
    grads = dict(zip(names, input_grads), W_ih=dW_ih, W_hh=dW_hh, b_ih=db_ih, b_hh=db_hh)
    return loss, grads


@pytest.mark.parametrize("kind,options", [("rnn", dict(nonlinearity="tanh")), ("lstm", {}),
                                          ("gru", dict(reset_after=True)),
                                          ("gru", dict(reset_after=False))],
                         ids=["rnn", "lstm", "gru-reset_after", "gru-reset_before"])
def test_reference_against_central_differences(kind, options):
    T, B, D, H = 4, 3, 2, 3
    inp = make_inputs(kind, T, B, D, H, bias=True, seed=5)
    mask = np.arange(T)[:, None] < np.array([4, 1, 3])
    rng = np.random.default_rng(9)
    dout = rng.standard_normal((T, B, H))
    dstates = [rng.standard_normal((B, H)) for _ in range(2 if kind == "lstm" else 1)]
    loss, grads = _loss_and_grads(kind, inp, mask, options, dout, dstates)
    assert set(grads) == set(inp)
    for name, analytic in grads.items():
        numeric = numerical_gradient(loss, inp[name], eps=1e-5)
        err = rel_error(analytic, numeric)
        assert err < 1e-6, f"{kind} {options}: d{name} relative error {err:.2e}"


def test_reference_relu_against_central_differences():
    T, B, D, H = 4, 3, 2, 3
    inp = make_inputs("rnn", T, B, D, H, bias=False, seed=6)
    mask = np.arange(T)[:, None] < np.array([2, 4, 1])
    rng = np.random.default_rng(2)
    dout, dh_T = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))
    loss, grads = _loss_and_grads("rnn", inp, mask, dict(nonlinearity="relu"), dout, [dh_T])
    assert grads["b_ih"] is None and grads["b_hh"] is None
    for name in ("x", "h0", "W_ih", "W_hh"):
        err = rel_error(grads[name], numerical_gradient(loss, inp[name], eps=1e-5))
        assert err < 1e-6, f"relu: d{name} relative error {err:.2e}"


# ------------------------------------------------------------------ the reference stays plain
REFERENCE_FILES = [Path(m.__file__) for m in (ref_rnn, ref_lstm, ref_gru)]
ALLOWED_IMPORTS = {"numpy", "scratchrnn.kernels.activations", "scratchrnn.kernels.cache"}


def imported_modules(path, package="scratchrnn.kernels.reference"):
    """The absolute names of the modules a source file imports."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            names.append(".".join(base + ([node.module] if node.module else [])))
    return names


@pytest.mark.parametrize("path", REFERENCE_FILES, ids=lambda p: p.name)
def test_reference_imports_only_numpy_and_activations(path):
    imports = imported_modules(path)
    assert imports, "the import parser found nothing"
    assert set(imports) <= ALLOWED_IMPORTS, f"{path.name} imports {set(imports) - ALLOWED_IMPORTS}"


@pytest.mark.parametrize("module", [ref_rnn, ref_lstm, ref_gru], ids=lambda m: m.__name__)
def test_reference_globals_come_from_numpy_activations_or_itself(module):
    for name, value in vars(module).items():
        origin = getattr(value, "__module__", None) if not inspect.ismodule(value) else value.__name__
        if name.startswith("__") or origin is None:
            continue
        assert origin.split(".")[0] == "numpy" or origin in (
            module.__name__, "scratchrnn.kernels.activations", "scratchrnn.kernels.cache"), \
            f"{module.__name__}.{name} comes from {origin}"


def test_package_imports_only_its_own_modules():
    path = Path(reference.__file__)
    imports = set(imported_modules(path))
    own = {f"scratchrnn.kernels.reference.{m}" for m in ("rnn", "lstm", "gru", "attention")}
    assert imports and imports <= own, imports - own


@pytest.mark.parametrize("path", REFERENCE_FILES, ids=lambda p: p.name)
def test_reference_is_written_without_speed_tricks(path):
    """No out=, no in-place update (+=, slice assignment), no np.copyto: one value per name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    tricks = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and any(k.arg == "out" for k in node.keywords):
            tricks.append(f"line {node.lineno}: out=")
        if isinstance(node, ast.AugAssign):
            tricks.append(f"line {node.lineno}: in-place update")
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Subscript) and not _is_list_slot(t) for t in targets):
                tricks.append(f"line {node.lineno}: writes into an array")
        if isinstance(node, ast.Attribute) and node.attr in ("copyto", "put", "place"):
            tricks.append(f"line {node.lineno}: np.{node.attr}")
    assert not tricks, f"{path.name}: {tricks}"


def _is_list_slot(target):
    """dx[t] = ... into a Python list of per-step results is allowed (it is not an array)."""
    return isinstance(target.value, ast.Name) and target.value.id in ("dx", "step_grads")


def test_the_import_checker_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nfrom .._fast import workspace\nfrom ..rnn import rnn_forward\n")
    imports = set(imported_modules(bad))
    assert imports == {"numpy", "scratchrnn.kernels._fast", "scratchrnn.kernels.rnn"}
    assert not imports <= ALLOWED_IMPORTS


@pytest.mark.parametrize("kind", KINDS)
def test_fast_kernel_points_at_its_reference(kind):
    """The fast kernel says first what it computes: its reference twin."""
    doc = KINDS[kind][0].__doc__
    assert doc.startswith(f"Computes exactly what kernels/reference/{kind}.py computes; "
                          "arranged for speed as follows"), doc.splitlines()[0]
