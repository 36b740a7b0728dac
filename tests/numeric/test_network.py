import math

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


@pytest.mark.parametrize(
    "build, message",
    [
        # issue 14.10: every one of these used to be accepted
        (lambda: Dataset(np.ones((2, 1)), np.ones(2), np.array([-0.5, 1.5])), "non-negative"),
        (lambda: Dataset(np.ones((2, 1)), np.ones(2), np.array([0.4, 0.4])), "sum to 1"),
        (lambda: Dataset(np.ones((2, 1)), np.ones(2), np.array([2.0, 2.0])), "sum to 1"),
        (lambda: Dataset(np.array([["a"], ["b"]]), np.ones(2)), "inputs must hold real"),
        (lambda: Dataset(np.ones((2, 1)), np.array(["1", "2"])), "targets must hold real"),
        (lambda: Dataset(np.array([["a"]], dtype=object), np.ones(1)), "'a' \\(str\\)"),
        (lambda: Dataset(np.array([[True], [False]]), np.ones(2)), "dtype bool"),
        (lambda: Dataset(np.array([[1 + 1j]]), np.ones(1)), "complex"),
        (lambda: Dataset(np.array([[math.nan]]), np.ones(1)), "finite"),
        (lambda: Dataset(np.ones((1, 1)), np.array([math.inf])), "finite"),
        (lambda: Dataset(np.ones((1, 1)), np.ones(1), np.array([math.nan])), "finite"),
        (lambda: Dataset(np.zeros((0, 2)), np.zeros((0, 1))), "at least one row"),  # 14.21
        (lambda: Dataset(np.zeros((2, 0)), np.zeros((2, 1))), "input dimension"),
        (lambda: Dataset(np.ones((2, 2)), np.ones((2, 2, 2))), "targets must have shape"),
        (lambda: Dataset(np.ones((2, 2)), np.ones((2, 0))), "targets must have shape"),
        (lambda: Network((np.ones((0, 3)), np.ones((1, 0)))), "at least one unit"),
    ],
)
def test_careless_data_is_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_weights_are_checked_not_renormalised():
    # Gauss weights sum to 1 within rounding: accepted and kept as given.
    w = np.array([0.1, 0.2, 0.7000000000000001])
    data = Dataset(np.ones((3, 1)), np.ones(3), w)
    assert data.weights.tolist() == w.tolist()
    mp = data.to_mpmath()  # mpf weights pass the same checks
    assert isinstance(mp.weights[0], mpmath.mpf)
    ints = Dataset(np.array([[1], [2]]), np.array([3, 4]))  # integer arrays become float
    assert ints.inputs.dtype == float and ints.targets.shape == (2, 1)


@pytest.mark.parametrize(
    "widths, options, message",
    [
        ((3, 0, 1), {}, "positive integer"),  # issue 14.10: used to build a 0-unit layer
        ((3, -2, 1), {}, "positive integer"),
        ((3, 2.5, 1), {}, "positive integer"),
        ((3, True, 1), {}, "positive integer"),
        ((3,), {}, "no weight layer"),
        ((3, 2, 1), {"scale": 0.0}, "scale"),
        ((3, 2, 1), {"scale": math.nan}, "scale"),
    ],
)
def test_random_network_refuses_bad_widths(widths, options, message):
    with pytest.raises(ValueError, match=message):
        random_network(widths, seed=0, **options)


# -- the fast path (issue 12): buffers, forward-only loss, minibatch rows ----------------


@pytest.mark.parametrize("activation", ["tanh", "gelu", "identity", "exp(x)/10"])
@pytest.mark.parametrize("bias, weighted", [(False, False), (True, True)])
def test_workspace_and_forward_loss_give_the_same_numbers(activation, bias, weighted):
    from saddle_escape.numeric.network import Workspace, loss_value

    act, loss = compile_activation(activation), get_loss("squared")
    rng = np.random.default_rng(2)
    weights = rng.random(40) + 0.1 if weighted else None
    data = Dataset(
        rng.normal(size=(40, 3)),
        rng.normal(size=(40, 1)),
        None if weights is None else weights / weights.sum(),
    )
    net = random_network((3, 5, 4, 1), seed=3, bias=bias)
    fresh = backprop(net, data, act, loss)
    workspace = Workspace()
    for _ in range(2):  # the second call reuses every buffer
        again = backprop(net, data, act, loss, workspace=workspace)
        for g, h in zip(fresh.grad_weights, again.grad_weights, strict=True):
            np.testing.assert_array_equal(g, h)
    assert workspace.nbytes > 0
    assert (
        again.grad_weights[0] is backprop(net, data, act, loss, workspace=workspace).grad_weights[0]
    )
    assert float(loss_value(net, data, act, loss)) == float(fresh.loss)
    assert float(loss_value(net, data, act, loss, workspace=workspace)) == float(fresh.loss)
    # and both agree with the arbitrary-precision path
    with mpmath.workdps(30):
        exact = backprop(net.to_mpmath(), data.to_mpmath(), act, loss)
        assert abs(loss_value(net.to_mpmath(), data.to_mpmath(), act, loss) - exact.loss) < 1e-25
    for g, e in zip(fresh.grad_weights, exact.grad_weights, strict=True):
        np.testing.assert_allclose(g, np.array(e, dtype=float), rtol=1e-12, atol=1e-15)


def test_rows_make_a_minibatch():
    data = Dataset(np.arange(6.0)[:, None], np.zeros(6), np.array([1, 1, 1, 1, 2, 2]) / 8)
    batch = data.rows([4, 0, 0])
    assert batch.inputs[:, 0].tolist() == [4.0, 0.0, 0.0]
    assert batch.weights.tolist() == [0.5, 0.25, 0.25]
    with pytest.raises(ValueError, match="non-empty"):
        data.rows([])
