"""Attention: forward against the formulas written out as loops, fast kernel against the reference
twin, gradients by central differences (and against PyTorch's autograd), accumulation, errors."""
import numpy as np
import pytest

from scratchrnn.nn import no_grad
from scratchrnn.gradcheck import check_gradients, numerical_gradient, rel_error
from scratchrnn.kernels import attention as fast
from scratchrnn.kernels import attention_backward, attention_forward
from scratchrnn.kernels.reference import attention as reference
from scratchrnn.nn import Attention

SCORES = ("additive", "general", "dot")
T, B, S, Q, A = 4, 3, 6, 5, 7
LENGTHS = np.array([6, 2, 4])          # ragged, one full, one short


def make(score, rng, query_size=Q, key_size=None, attn_size=None):
    key_size = query_size if key_size is None and score == "dot" else (key_size or 4)
    if score == "additive" and attn_size is None:
        attn_size = A
    return Attention(query_size, key_size, attn_size if score == "additive" else None, score,
                     dtype=np.float64, rng=rng)


def inputs(att, rng, T=T, S=S):
    return (rng.standard_normal((T, B, att.query_size)), rng.standard_normal((S, B, att.key_size)))


def plain_attention(att, queries, keys, lengths):
    """The formulas, one (t, b, s) at a time."""
    T, B, _ = queries.shape
    S = keys.shape[0]
    lengths = [S] * B if lengths is None else lengths
    weights = np.zeros((T, B, S))
    context = np.zeros((T, B, keys.shape[2]))
    for t in range(T):
        for b in range(B):
            q = queries[t, b]
            e = np.empty(lengths[b])
            for s in range(lengths[b]):
                k = keys[s, b]
                if att.score == "additive":
                    e[s] = att.v.data @ np.tanh(att.W_q.data @ q + att.W_k.data @ k + att.b.data)
                elif att.score == "general":
                    e[s] = q @ (att.W.data @ k)
                else:
                    e[s] = q @ k
            w = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
            weights[t, b, :lengths[b]] = w
            context[t, b] = sum(w[s] * keys[s, b] for s in range(lengths[b]))
    return context, weights


def params_of(att):
    return {name: p.data for name, p in att.named_parameters()}


# ------------------------------------------------------------------ forward
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("score", SCORES)
def test_forward_equals_the_formulas(score, lengths, rng):
    att = make(score, rng)
    queries, keys = inputs(att, rng)
    want_context, want_weights = plain_attention(att, queries, keys, lengths)
    context, weights = att(queries, keys, lengths)
    np.testing.assert_allclose(weights, want_weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(context, want_context, rtol=0, atol=1e-12)
    (ref_context, ref_weights), _ = reference.attention_forward(queries, keys, params_of(att),
                                                                lengths, score)
    np.testing.assert_allclose(ref_weights, want_weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ref_context, want_context, rtol=0, atol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=2), 1, rtol=0, atol=1e-12)
    if lengths is not None:
        padded = np.arange(S)[None, :] >= lengths[:, None]                # (B, S)
        assert np.all(weights[:, padded] == 0) and np.all(ref_weights[:, padded] == 0)
        assert np.all(weights[:, ~padded] > 0)


def test_padding_never_matters(rng):
    """Whatever sits in the padded keys (here huge values), the result is the same."""
    att = make("additive", rng)
    queries, keys = inputs(att, rng)
    context, weights = att(queries, keys, LENGTHS)
    garbage = keys.copy()
    for b, L in enumerate(LENGTHS):
        garbage[L:, b] = 1e6
    context2, weights2 = att(queries, garbage, LENGTHS)
    np.testing.assert_array_equal(weights2, weights)
    np.testing.assert_array_equal(context2, context)
    dqueries, dkeys = att.backward(rng.standard_normal(context.shape),
                                   rng.standard_normal(weights.shape))
    for b, L in enumerate(LENGTHS):
        assert np.all(dkeys[L:, b] == 0)
    assert np.all(np.isfinite(dqueries))


def test_large_scores_do_not_overflow(rng):
    att = make("dot", rng, query_size=4)
    queries, keys = inputs(att, rng)
    context, weights = att(queries * 1e3, keys * 1e3, LENGTHS)
    assert np.all(np.isfinite(context)) and np.allclose(weights.sum(axis=2), 1)


# ------------------------------------------------------------------ fast == reference
# T < S and T > S: the general score projects the queries in one case and the keys in the other
@pytest.mark.parametrize("T_,S_", [(1, 6), (7, 2)])
@pytest.mark.parametrize("lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("with_dweights", [True, False], ids=["dweights", "no_dweights"])
@pytest.mark.parametrize("score", SCORES)
def test_fast_kernel_equals_reference(score, with_dweights, lengths, T_, S_, rng):
    att = make(score, rng)
    queries, keys = inputs(att, rng, T_, S_)
    lengths = rng.integers(1, S_ + 1, B) if lengths else None
    params = params_of(att)
    (c1, w1), cache1 = attention_forward(queries, keys, params, lengths, score)
    (c2, w2), cache2 = reference.attention_forward(queries, keys, params, lengths, score)
    np.testing.assert_allclose(c1, c2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(w1, w2, rtol=0, atol=1e-12)
    dcontext = rng.standard_normal(c1.shape)
    dweights = rng.standard_normal(w1.shape) if with_dweights else None
    g1 = attention_backward(dcontext, dweights, cache1)
    g2 = reference.attention_backward(dcontext, dweights, cache2)
    np.testing.assert_allclose(g1[0], g2[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(g1[1], g2[1], rtol=0, atol=1e-12)
    assert list(g1[2]) == list(g2[2]) == list(params)
    for name in params:
        np.testing.assert_allclose(g1[2][name], g2[2][name], rtol=0, atol=1e-12)
    # a cache is single-use (as every kernel's)
    for backward, cache in ((attention_backward, cache1), (reference.attention_backward, cache2)):
        with pytest.raises(RuntimeError, match="attention_backward: this cache was already"):
            backward(dcontext, dweights, cache)


def test_both_arrangements_of_the_general_score_are_exercised():
    assert fast._general_projects_queries(1, 6, Q, 4)
    assert not fast._general_projects_queries(7, 2, Q, 4)


def test_kernels_reject_an_unknown_score(rng):
    q, k = rng.standard_normal((2, 1, 3)), rng.standard_normal((4, 1, 3))
    for kernel in (attention_forward, reference.attention_forward):
        with pytest.raises(ValueError, match="score"):
            kernel(q, k, {}, None, "cosine")


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("score", SCORES)
def test_gradients_with_dweights(score, lengths, rng):
    """check_gradients feeds a random gradient into both outputs, context and weights."""
    att = make(score, rng)
    queries, keys = inputs(att, rng)
    report = check_gradients(att, queries, keys, lengths=lengths)
    assert report.ok, f"\n{report}"
    assert len(report.rows) == len(list(att.parameters())) + 2


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("score", SCORES)
def test_gradients_without_dweights(score, lengths, rng):
    """dweights=None: the loss reads the context only."""
    att = make(score, rng)
    queries, keys = inputs(att, rng)
    dcontext = rng.standard_normal((T, B, att.key_size))

    def loss():
        with no_grad():
            return np.sum(att(queries, keys, lengths)[0] * dcontext)

    att(queries, keys, lengths)
    dqueries, dkeys = att.backward(dcontext)
    checks = [("queries", queries, dqueries), ("keys", keys, dkeys)]
    checks += [(name, p.data, p.grad) for name, p in att.named_parameters()]
    for name, array, analytic in checks:
        numeric = numerical_gradient(loss, array, eps=1e-5)
        assert rel_error(analytic, numeric) < 1e-6, name
    if lengths is not None:
        for b, L in enumerate(lengths):
            assert np.all(dkeys[L:, b] == 0)


@pytest.mark.parametrize("score", SCORES)
def test_a_second_backward_accumulates(score, rng):
    att = make(score, rng)
    queries, keys = inputs(att, rng)
    dcontext, dweights = rng.standard_normal((T, B, att.key_size)), rng.standard_normal((T, B, S))
    att(queries, keys, LENGTHS)
    first = att.backward(dcontext, dweights)
    once = {name: p.grad.copy() for name, p in att.named_parameters()}
    att(queries, keys, LENGTHS)
    second = att.backward(dcontext, dweights)
    for name, p in att.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[name], rtol=1e-14)
        assert np.any(once[name] != 0)
    np.testing.assert_array_equal(first[0], second[0])
    with pytest.raises(RuntimeError, match="without a matching forward"):
        att.backward(dcontext)


def test_no_grad_keeps_no_cache(rng):
    att = make("general", rng)
    queries, keys = inputs(att, rng)
    with no_grad():
        context, _ = att(queries, keys)
    with pytest.raises(RuntimeError, match="without a matching forward"):
        att.backward(context)


def test_float32(rng):
    att = Attention(Q, 4, score="additive", rng=rng)
    assert att.W_q.dtype == np.float32 and att.W_k.shape == (4, 4) and att.v.shape == (4,)
    queries = rng.standard_normal((T, B, Q)).astype(np.float32)
    keys = rng.standard_normal((S, B, 4)).astype(np.float32)
    context, weights = att(queries, keys, LENGTHS)
    dqueries, dkeys = att.backward(np.ones_like(context))
    assert context.dtype == weights.dtype == dqueries.dtype == dkeys.dtype == np.float32


def test_parameter_names_and_shapes(rng):
    assert [(n, p.shape) for n, p in Attention(5, 4, 7, rng=rng).named_parameters()] == \
        [("W_q", (7, 5)), ("W_k", (7, 4)), ("b", (7,)), ("v", (7,))]
    assert [(n, p.shape) for n, p in Attention(5, 4, score="general").named_parameters()] == \
        [("W", (5, 4))]
    assert list(Attention(4, 4, score="dot").named_parameters()) == []


@pytest.mark.parametrize("score", SCORES)
def test_against_torch_autograd(score, rng, torch):
    att = make(score, rng)
    queries, keys = inputs(att, rng)
    dcontext, dweights = rng.standard_normal((T, B, att.key_size)), rng.standard_normal((T, B, S))
    context, weights = att(queries, keys, LENGTHS)
    dqueries, dkeys = att.backward(dcontext, dweights)
    tq, tk = torch.tensor(queries, requires_grad=True), torch.tensor(keys, requires_grad=True)
    tp = {n: torch.tensor(p.data, requires_grad=True) for n, p in att.named_parameters()}
    if score == "additive":
        pre = (tq @ tp["W_q"].T)[:, :, None] + (tk @ tp["W_k"].T).transpose(0, 1)[None] + tp["b"]
        e = torch.tanh(pre) @ tp["v"]                                     # (T, B, S)
    elif score == "general":
        e = torch.einsum("tbq,qk,sbk->tbs", tq, tp["W"], tk)
    else:
        e = torch.einsum("tbk,sbk->tbs", tq, tk)
    padded = torch.arange(S)[None, :] >= torch.tensor(LENGTHS)[:, None]
    w = torch.softmax(e.masked_fill(padded[None], float("-inf")), dim=2)
    c = torch.einsum("tbs,sbk->tbk", w, tk)
    ((c * torch.tensor(dcontext)).sum() + (w * torch.tensor(dweights)).sum()).backward()
    np.testing.assert_allclose(context, c.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(weights, w.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(dqueries, tq.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dkeys, tk.grad.numpy(), atol=1e-12)
    for n, p in att.named_parameters():
        np.testing.assert_allclose(p.grad, tp[n].grad.numpy(), atol=1e-12)


# ------------------------------------------------------------------ errors
def test_construction_errors():
    with pytest.raises(ValueError, match="score must be one of additive, general, dot.*'cosine'"):
        Attention(4, 4, score="cosine")
    with pytest.raises(ValueError, match="dot score needs query_size == key_size.*5 and 4"):
        Attention(5, 4, score="dot")
    with pytest.raises(ValueError, match="attn_size.*general score has none"):
        Attention(4, 4, attn_size=8, score="general")
    with pytest.raises(ValueError, match="query_size must be a positive integer"):
        Attention(0, 4)
    with pytest.raises(ValueError, match="key_size must be a positive integer"):
        Attention(4, 2.5)
    with pytest.raises(ValueError, match="attn_size must be a positive integer"):
        Attention(4, 4, attn_size=-1)


def test_input_errors(rng):
    att = Attention(5, 4, score="general", dtype=np.float64, rng=rng)
    q, k = rng.standard_normal((2, 3, 5)), rng.standard_normal((6, 3, 4))
    cases = [
        ((q[0], k), ValueError, r"queries must have 3 dimensions \(T, B, query_size\)"),
        ((q, k[0]), ValueError, r"keys must have 3 dimensions \(S, B, key_size\)"),
        ((q[..., :4], k), ValueError, r"queries must have last dimension 5"),
        ((q, np.ones((6, 3, 5))), ValueError, r"keys must have last dimension 4"),
        ((q, k[:, :2]), ValueError, r"same batch size B.*\(2, 3, 5\).*\(6, 2, 4\)"),
        ((q.astype(np.float32), k), TypeError, r"queries is float32 but the parameters are float64"),
        ((q, k.astype(np.int64)), TypeError, r"keys must be a floating-point array"),
        ((q, k, np.array([1, 7, 2])), ValueError, r"lengths must lie in 1..S = 1..6.*from 1 to 7"),
        ((q, k, np.array([0, 3, 2])), ValueError, r"lengths must lie in 1..S = 1..6.*from 0 to 3"),
        ((q, k, np.array([1, 2])), ValueError, r"lengths must have shape \(B,\) = \(3,\)"),
        ((q, k, np.array([1.0, 2.0, 3.0])), TypeError, r"lengths must be integers"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            att(*args)
    assert att._caches == []               # nothing refused left a cache behind
    context, weights = att(q, k)
    with pytest.raises(ValueError, match=r"dcontext must have the shape.*\(2, 3, 4\)"):
        att.backward(context[:, :, :3])
    with pytest.raises(ValueError, match=r"dweights must have the shape.*\(2, 3, 6\)"):
        att.backward(context, weights[:, :, :5])
    att.backward(context, weights)         # refused backwards kept the forward for a retry
