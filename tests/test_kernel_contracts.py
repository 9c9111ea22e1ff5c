"""One contract for every kernel (docs/api.md, Kernels): a forward returns ``(outputs, cache)``
with a ``Cache`` (a dict of named arrays), a backward takes it once, and a second backward from
the same cache is a clear error, never a silently wrong answer."""
import numpy as np
import pytest

from scratchrnn import kernels as K
from scratchrnn.kernels import lstm_variants as KV
from scratchrnn.kernels.cache import Cache

rng = np.random.default_rng(0)
T, B, D, H = 3, 2, 4, 5


def _w(*shape):
    return rng.standard_normal(shape)


def _cases():
    x, xt, h, c = _w(T, B, D), _w(B, D), _w(B, H), _w(B, H)
    yield ("rnn_step_backward", lambda: K.rnn_step_forward(xt, h, _w(H, D), _w(H, H), _w(H), _w(H)),
           lambda cache: K.rnn_step_backward(np.ones((B, H)), cache))
    yield ("rnn_backward", lambda: K.rnn_forward(x, h, _w(H, D), _w(H, H), _w(H), _w(H)),
           lambda cache: K.rnn_backward(np.ones((T, B, H)), None, cache))
    yield ("lstm_step_backward", lambda: K.lstm_step_forward(xt, h, c, _w(4 * H, D), _w(4 * H, H)),
           lambda cache: K.lstm_step_backward(np.ones((B, H)), np.zeros((B, H)), cache))
    yield ("lstm_backward", lambda: K.lstm_forward(x, h, c, _w(4 * H, D), _w(4 * H, H)),
           lambda cache: K.lstm_backward(np.ones((T, B, H)), None, None, cache))
    for reset_after in (True, False):
        yield ("gru_step_backward",
               lambda: K.gru_step_forward(xt, h, _w(3 * H, D), _w(3 * H, H), _w(3 * H), _w(3 * H),
                                          reset_after=reset_after),
               lambda cache: K.gru_step_backward(np.ones((B, H)), cache))
        yield ("gru_backward",
               lambda: K.gru_forward(x, h, _w(3 * H, D), _w(3 * H, H), reset_after=reset_after),
               lambda cache: K.gru_backward(np.ones((T, B, H)), None, cache))
    yield ("lstm_variant_step_backward",
           lambda: KV.lstm_variant_step_forward(xt, h, c, _w(4 * H, D), _w(4 * H, H),
                                             w_ci=_w(H), w_cf=_w(H), w_co=_w(H)),
           lambda cache: KV.lstm_variant_step_backward(np.ones((B, H)), np.zeros((B, H)), cache))
    yield ("lstm_variant_backward",
           lambda: KV.lstm_variant_forward(x, h, c, _w(3 * H, D), _w(3 * H, H), coupled=True),
           lambda cache: KV.lstm_variant_backward(np.ones((T, B, H)), None, None, cache))
    yield ("linear_backward", lambda: K.linear_forward(x, _w(H, D), _w(H)),
           lambda cache: K.linear_backward(np.ones((T, B, H)), cache))
    yield ("embedding_backward", lambda: K.embedding_forward(np.array([[0, 2], [2, 1]]), _w(3, D)),
           lambda cache: K.embedding_backward(np.ones((2, 2, D)), cache))
    yield ("dropout_backward", lambda: K.dropout_forward(x, 0.5, np.random.default_rng(1)),
           lambda cache: K.dropout_backward(np.ones_like(x), cache))


CASES = list(_cases())


@pytest.mark.parametrize("name, forward, backward", CASES, ids=[c[0] for c in CASES])
def test_every_cache_is_a_single_use_dict(name, forward, backward):
    _, cache = forward()
    assert type(cache) is Cache and isinstance(cache, dict) and cache
    backward(cache)
    with pytest.raises(RuntimeError, match=f"{name}: this cache was already backpropagated"):
        backward(cache)


def test_step_backwards_return_dx_then_the_state_gradient_then_the_weights():
    xt, h, c = _w(B, D), _w(B, H), _w(B, H)
    _, rc = K.rnn_step_forward(xt, h, _w(H, D), _w(H, H), _w(H), _w(H))
    _, lc = K.lstm_step_forward(xt, h, c, _w(4 * H, D), _w(4 * H, H), _w(4 * H), _w(4 * H))
    _, gc = K.gru_step_forward(xt, h, _w(3 * H, D), _w(3 * H, H), _w(3 * H), _w(3 * H))
    for (dx, dstate, grads), state_shapes in (
            (K.rnn_step_backward(np.ones((B, H)), rc), [(B, H)]),
            (K.lstm_step_backward(np.ones((B, H)), np.ones((B, H)), lc), [(B, H), (B, H)]),
            (K.gru_step_backward(np.ones((B, H)), gc), [(B, H)])):
        assert dx.shape == (B, D)
        states = dstate if isinstance(dstate, tuple) else (dstate,)
        assert [s.shape for s in states] == state_shapes
        assert len(grads) == 4 and grads[0].shape[1] == D and grads[1].shape[1] == H


def test_the_reference_kernels_keep_the_same_contract():
    from scratchrnn.kernels import reference as R
    x, h, c = _w(T, B, D), _w(B, H), _w(B, H)
    runs = [(R.rnn_forward(x, h, _w(H, D), _w(H, H))[1], lambda k: R.rnn_backward(np.ones((T, B, H)), None, k)),
            (R.lstm_forward(x, h, c, _w(4 * H, D), _w(4 * H, H))[1],
             lambda k: R.lstm_backward(np.ones((T, B, H)), None, None, k)),
            (R.gru_forward(x, h, _w(3 * H, D), _w(3 * H, H))[1], lambda k: R.gru_backward(np.ones((T, B, H)), None, k)),
            (R.lstm_step_forward(x[0], h, c, _w(4 * H, D), _w(4 * H, H))[1],
             lambda k: R.lstm_step_backward(np.ones((B, H)), np.ones((B, H)), k))]
    for cache, backward in runs:
        assert type(cache) is Cache
        backward(cache)
        with pytest.raises(RuntimeError, match="already backpropagated"):
            backward(cache)
