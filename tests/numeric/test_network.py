import mpmath
import numpy as np
import pytest
from saddle_escape.numeric.functions import compile_activation, get_loss
from saddle_escape.numeric.network import Dataset, Network, backprop, random_network, to_mpmath


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("activation", ["tanh", "softplus", "x + 0.3*x**2"])
def test_backprop_matches_finite_differences(activation, bias):
    act, loss = compile_activation(activation), get_loss("squared")
    net = random_network((3, 4, 2, 2), seed=7, bias=bias)
    rng = np.random.default_rng(1)
    data = Dataset(rng.normal(size=(5, 3)), rng.normal(size=(5, 2)))
    with mpmath.workdps(40):
        mnet, mdata = net.to_mpmath(), data.to_mpmath()
        out = backprop(mnet, mdata, act, loss)
        for l, W in enumerate(mnet.weights):
            for r, c in [(0, 0), (W.shape[0] - 1, W.shape[1] - 1)]:

                def total(t, l=l, r=r, c=c):
                    weights = [w.copy() for w in mnet.weights]
                    weights[l][r, c] = t
                    return backprop(Network(tuple(weights), mnet.biases), mdata, act, loss).loss

                numeric = mpmath.diff(total, W[r, c])
                assert abs(numeric - out.grad_weights[l][r, c]) < mpmath.mpf(10) ** -25
    fast = backprop(net, data, act, loss)
    for g_fast, g_exact in zip(fast.grad_weights, out.grad_weights, strict=True):
        np.testing.assert_allclose(g_fast, np.array(g_exact, dtype=float), rtol=1e-12, atol=1e-14)


def test_sample_weights_define_the_loss():
    net = Network((np.array([[1.0]]), np.array([[1.0]])))
    data = Dataset(np.array([[1.0], [2.0]]), np.array([[0.0], [0.0]]), np.array([0.25, 0.75]))
    out = backprop(net, data, compile_activation("identity"), get_loss("squared"))
    assert float(out.loss) == pytest.approx(0.25 * 0.5 + 0.75 * 2.0)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Network((np.ones((2, 3)), np.ones((1, 3)))), "columns"),
        (lambda: Network((np.ones(3),)), "matrix"),
        (lambda: Network((np.ones((2, 3)),), (np.ones(3),)), "biases"),
        (lambda: Dataset(np.ones(3), np.ones(3)), "shape"),
        (lambda: Dataset(np.ones((3, 1)), np.ones((2, 1))), "3 inputs but 2 targets"),
        (lambda: Dataset(np.ones((3, 1)), np.ones((3, 1)), np.ones(2)), "weights"),
    ],
)
def test_shape_errors_are_clear(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_mismatched_network_and_data():
    net = random_network((3, 2, 1), seed=0)
    with pytest.raises(ValueError, match="dimension 3"):
        backprop(
            net,
            Dataset(np.ones((2, 2)), np.ones((2, 1))),
            compile_activation("tanh"),
            get_loss("squared"),
        )


def test_to_mpmath_is_exact():
    a = np.array([0.1, 1e-300])
    assert [float(v) for v in to_mpmath(a)] == a.tolist()


def test_float64_overflow_is_a_clear_error():
    net = Network((np.array([[800.0]]), np.array([[1.0]])))
    data = Dataset(np.array([[1.0]]), np.array([[0.0]]))
    with pytest.raises(FloatingPointError, match="overflowed"):
        backprop(net, data, compile_activation("exp(x)"), get_loss("squared"))
