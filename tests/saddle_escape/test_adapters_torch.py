"""The PyTorch adapter: activations, networks, the identity, the monitor, the plateau."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
import sympy as sp

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from saddle_escape.classes import Classification, classify  # noqa: E402
from saddle_escape.numeric.functions import compile_expressions  # noqa: E402
from saddle_escape.numeric.network import Dataset, backprop, random_network  # noqa: E402
from saddle_escape.symbolic.outcomes import ExpressionError  # noqa: E402
from saddle_escape.symbolic.parsing import X  # noqa: E402

from saddle_escape.adapters import torch as T  # noqa: E402
from saddle_escape.adapters.numerical import (  # noqa: E402
    NumericalClassification,
    NumericalClassificationWarning,
)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Small tensors: one intra-op thread (two threads on a loaded 2-core machine ran the
    600-row training loop 60× slower, 19 s instead of 0.3 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- activations ------------------------------------------------------------------------

MODULES = [
    nn.ReLU(),
    nn.LeakyReLU(),
    nn.LeakyReLU(0.2),
    nn.LeakyReLU(1.5),
    nn.RReLU().eval(),
    nn.PReLU(),
    nn.PReLU(init=0.1),
    nn.ELU(),
    nn.ELU(alpha=0.5),
    nn.SELU(),
    nn.CELU(),
    nn.CELU(alpha=2.0),
    nn.GELU(),
    nn.GELU(approximate="tanh"),
    nn.SiLU(),
    nn.Mish(),
    nn.Softplus(),
    nn.Softplus(beta=2),
    nn.Softplus(beta=0.5, threshold=5),
    nn.Sigmoid(),
    nn.Tanh(),
    nn.Hardtanh(),
    nn.Hardtanh(-2.0, 0.5),
    nn.ReLU6(),
    nn.Hardswish(),
    nn.Hardsigmoid(),
    nn.Softsign(),
    nn.Tanhshrink(),
    nn.LogSigmoid(),
    nn.Hardshrink(),
    nn.Hardshrink(0.25),
    nn.Softshrink(),
    nn.Softshrink(0.1),
    nn.Threshold(-0.5, -0.5),
    nn.Identity(),
]


@pytest.mark.parametrize("module", MODULES, ids=[repr(m) for m in MODULES])
def test_every_module_matches_its_forward(module):
    mapping = T.activation_expression(module)
    assert mapping.max_rel_error <= 1e-15  # measured: ≤ 3.3e-16 on every module
    # A second check, independent of the grid and of mpmath: numpy on random points,
    # wider than the grid (Softplus's switch at threshold/β included).
    points = np.concatenate(
        [np.random.default_rng(0).uniform(-25, 25, 400), [0.0, 1e-300, -1e-300]]
    )
    values = compile_expressions([X], mapping.expression, "numpy")(points)
    values = np.broadcast_to(values, points.shape)
    with torch.no_grad():
        forward = module.double()(torch.tensor(points, dtype=torch.float64)).numpy()
    assert np.all(np.abs(values - forward) <= 1e-13 * np.maximum(1, np.abs(forward)))


def test_a_wrong_mapping_cannot_hide(monkeypatch):
    original = T._module_expression

    def wrong(module):
        found = original(module)
        if type(module) is nn.Tanh:
            return sp.tanh(X) + X**7 / 10**9, {}, []
        return found

    monkeypatch.setattr(T, "_module_expression", wrong)
    with pytest.raises(RuntimeError, match="differs from its forward"):
        T.activation_expression(nn.Tanh())
    with pytest.raises(RuntimeError, match="differs from its forward"):
        T.classify_module(nn.Tanh())


SAME_AS_REGISTRY = [
    (nn.Tanh(), "tanh"),
    (nn.GELU(), "gelu"),
    (nn.GELU(approximate="tanh"), "gelu_tanh"),
    (nn.SiLU(), "silu"),
    (nn.Mish(), "mish"),
    (nn.Sigmoid(), "sigmoid"),
    (nn.Softplus(), "softplus"),
    (nn.ELU(), "elu"),
    (nn.SELU(), "selu"),
    (nn.CELU(), "celu"),
    (nn.Hardswish(), "hardswish"),
    (nn.Hardsigmoid(), "hardsigmoid"),
    (nn.LogSigmoid(), "logsigmoid"),
    (nn.Tanhshrink(), "tanhshrink"),
    (nn.Softsign(), "softsign"),
    (nn.ReLU(), "relu"),
    (nn.ReLU6(), "relu6"),
    (nn.LeakyReLU(), "leaky_relu"),
    (nn.Hardtanh(), "hardtanh"),
    (nn.Identity(), "identity"),
]


@pytest.mark.parametrize("module, name", SAME_AS_REGISTRY, ids=[n for _, n in SAME_AS_REGISTRY])
def test_module_class_equals_the_registry_class(module, name):
    ours, theirs = T.classify_module(module), classify(name)
    assert isinstance(ours, Classification)
    assert (ours.class_, ours.q) == (theirs.class_, theirs.q)
    if theirs.leading_coefficient is None:
        assert ours.leading_coefficient is None
    else:
        gap = sp.N(ours.leading_coefficient - theirs.leading_coefficient, 40)
        assert abs(gap) < 1e-30
    assert ours.warnings[0].startswith(f"σ from torch.nn.{module!r}")


def test_issue_acceptance_mish_elu_softplus():
    mish = T.classify_module(nn.Mish())
    assert (mish.class_.value, mish.q, mish.leading_coefficient) == ("C", 2, sp.Rational(8, 25))
    elu = T.classify_module(nn.ELU(alpha=0.5))
    left, right = elu.sides
    assert (left.side, left.class_.value, left.leading_coefficient) == (
        "left",
        "C",
        sp.Rational(1, 4),
    )
    assert right.class_.value == "A"
    softplus = T.classify_module(nn.Softplus(beta=2))
    assert softplus.class_.value == "D"
    assert softplus.leading_coefficient == -sp.log(2) / 2
    assert any("switches to the identity" in w for w in softplus.warnings)


FUNCTIONAL = [
    (torch.tanh, nn.Tanh()),
    (F.tanh, nn.Tanh()),
    (torch.sigmoid, nn.Sigmoid()),
    (torch.special.expit, nn.Sigmoid()),
    (F.relu, nn.ReLU()),
    (torch.relu, nn.ReLU()),
    (F.gelu, nn.GELU()),
    (functools.partial(F.gelu, approximate="tanh"), nn.GELU(approximate="tanh")),
    (functools.partial(F.leaky_relu, negative_slope=0.2), nn.LeakyReLU(0.2)),
    (F.elu, nn.ELU()),
    (functools.partial(F.elu, alpha=0.5), nn.ELU(alpha=0.5)),
    (F.selu, nn.SELU()),
    (F.celu, nn.CELU()),
    (F.silu, nn.SiLU()),
    (F.mish, nn.Mish()),
    (F.softplus, nn.Softplus()),
    (functools.partial(F.softplus, beta=2), nn.Softplus(beta=2)),
    (F.hardtanh, nn.Hardtanh()),
    (F.relu6, nn.ReLU6()),
    (F.hardswish, nn.Hardswish()),
    (F.hardsigmoid, nn.Hardsigmoid()),
    (F.softsign, nn.Softsign()),
    (F.tanhshrink, nn.Tanhshrink()),
    (F.logsigmoid, nn.LogSigmoid()),
    (F.hardshrink, nn.Hardshrink()),
    (F.softshrink, nn.Softshrink()),
]


@pytest.mark.parametrize("fn, module", FUNCTIONAL, ids=[repr(m) for _, m in FUNCTIONAL])
def test_functional_forms(fn, module):
    mapping = T.activation_expression(fn)
    assert mapping.expression == T.activation_expression(module).expression
    assert mapping.max_rel_error <= 1e-15


def test_plain_torch_functions():
    assert T.activation_expression(torch.erf).expression == sp.erf(X)
    result = T.classify_module(torch.sin)
    assert (result.class_.value, result.q, result.leading_coefficient) == (
        "B",
        3,
        -sp.Rational(1, 3),
    )


def test_refusals():
    with pytest.raises(ExpressionError, match="flat"):
        T.classify_module(nn.Hardshrink())
    with pytest.raises(ExpressionError, match="flat"):
        T.classify_module(nn.Softshrink(0.1))
    with pytest.raises(ValueError, match="num_parameters=3"):
        T.activation_expression(nn.PReLU(num_parameters=3))
    with pytest.raises(ValueError, match="training mode"):
        T.activation_expression(nn.RReLU())
    with pytest.raises(ValueError, match="not an activation"):
        T.classify_module(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no exact expression"):
        T.activation_expression(lambda z: z)
    with pytest.raises(ValueError, match="keywords"):
        T.activation_expression(functools.partial(F.gelu, beta=2))


def test_prelu_uses_its_learned_slope():
    module = nn.PReLU()
    with torch.no_grad():
        module.weight.fill_(-0.375)
    mapping = T.activation_expression(module)
    assert dict(mapping.parameters)["weight"] == sp.Rational(-3, 8)
    assert T.classify_module(module).class_.value == "A"


def test_unknown_callables_are_classified_numerically():
    class Swish(nn.Module):
        def forward(self, z):
            return z * torch.sigmoid(z)

    with pytest.warns(NumericalClassificationWarning):
        result = T.classify_module(Swish())
    assert isinstance(result, NumericalClassification)
    assert (result.class_.value, result.q) == ("C", 2)
    assert abs(result.leading_coefficient - 0.25) <= result.leading_error
    with pytest.warns(NumericalClassificationWarning):
        mish = T.classify_module(lambda z: z * torch.tanh(F.softplus(z)))
    assert abs(mish.leading_coefficient - 0.32) <= mish.leading_error < 1e-8
    with pytest.raises(ExpressionError, match="not elementwise"):
        T.classify_module(functools.partial(F.softmax, dim=0))


def test_strings_and_sympy_go_to_classify():
    assert T.classify_module("tanh").q == 3
    assert T.classify_module(sp.tanh).q == 3
    assert T.classify_module(X * sp.tanh(X)).q == 2


# -- networks ---------------------------------------------------------------------------


def _seeded(seed=0):
    torch.manual_seed(seed)


def test_from_torch_and_back():
    _seeded()
    model = nn.Sequential(
        nn.Linear(3, 5), nn.Tanh(), nn.Sequential(nn.Linear(5, 4), nn.GELU()), nn.Linear(4, 2)
    )
    net = T.from_torch(model)
    assert net.network.widths == (3, 5, 4, 2)
    assert net.bias == (True, True, True)
    assert net.activations == (sp.tanh(X), X * (1 + sp.erf(X / sp.sqrt(2))) / 2)
    assert net.mixed
    with pytest.raises(ValueError, match="different activations"):
        _ = net.activation
    json.dumps(net.to_dict())
    back = T.to_torch(net.network, [nn.Tanh(), nn.GELU()])
    x = torch.randn(7, 3, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(back(x), model.double()(x), rtol=0, atol=1e-14)


def test_to_torch_forward_equals_the_toolkit_forward():
    net = random_network((3, 6, 6, 1), seed=2, bias=True)
    model = T.to_torch(net, "gelu_tanh")
    x = np.random.default_rng(1).normal(size=(9, 3))
    from saddle_escape.numeric.functions import compile_activation, get_loss

    out = backprop(
        net, Dataset(x, np.zeros((9, 1))), compile_activation("gelu_tanh"), get_loss("squared")
    )
    with torch.no_grad():
        theirs = model(torch.tensor(x)).numpy()
    assert np.max(np.abs(out.pre[-1] - theirs)) < 1e-14
    with pytest.raises(ValueError, match="no PyTorch module"):
        T.to_torch(net, "sin")


def test_chain_modules_and_no_ops():
    class Chain(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(2, 3, bias=False)
            self.act = nn.SiLU()
            self.drop = nn.Dropout(0.5)
            self.last = nn.Linear(3, 1, bias=False)

        def forward(self, x):
            return self.last(self.drop(self.act(self.first(x))))

    model = Chain().eval()
    net = T.from_torch(model)
    assert net.activation == X / (1 + sp.exp(-X))
    assert any("Dropout" in note for note in net.notes)
    model.train()
    with pytest.raises(ValueError, match="training mode"):
        T.from_torch(model)


def test_unsupported_layers_are_named():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 1)

        def forward(self, x):
            return self.b(x + torch.tanh(self.a(x)))

    cases = [
        (
            nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)),
            "layer 1 .BatchNorm1d",
        ),
        (nn.Sequential(nn.Conv1d(1, 1, 3)), "layer 0 .Conv1d"),
        (
            nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1), nn.Sigmoid()),
            "after the last",
        ),
        (nn.Sequential(nn.Tanh(), nn.Linear(2, 1)), "must start with a Linear"),
        (nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1), nn.Linear(3, 1)), "layer 1 .Softmax"),
        (Residual(), "not the chain"),
    ]
    for model, message in cases:
        with pytest.raises(ValueError, match=message):
            T.from_torch(model)
    shared = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="appears twice"):
        T.from_torch(nn.Sequential(shared, nn.Tanh(), shared))


def test_mixed_biases_become_zero_biases():
    model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Tanh(), nn.Linear(3, 1))
    net = T.from_torch(model)
    assert net.bias == (False, True)
    assert np.all(net.network.biases[0] == 0)
    assert any("no bias" in note for note in net.notes)


# -- the identity on a real model -------------------------------------------------------


def _mixed_model(bias: bool, seed: int = 3):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(4, 6, bias=bias),
        nn.Tanh(),
        nn.Linear(6, 5, bias=bias),
        nn.GELU(),
        nn.Linear(5, 1, bias=bias),
    )


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("neuronwise", [False, True])
def test_identity_acceptance_mixed_tanh_gelu(bias, neuronwise):
    model = _mixed_model(bias)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 4, generator=g), torch.randn(40, 1, generator=g)
    result = T.torch_identity(model, x, y, neuronwise=neuronwise)
    assert "layer-by-layer" in result.toolkit
    assert result.max_identity_gap < 1e-13
    assert result.max_toolkit_gap < 1e-12
    print(
        f"bias={bias} neuronwise={neuronwise}: identity gap {result.max_identity_gap:.1e}, "
        f"torch vs toolkit {result.max_toolkit_gap:.1e}"
    )
    assert len(result.terms) == (11 if neuronwise else 2)
    assert all(abs(t.lhs) > 1e-6 for t in result.terms if t.unit is None)
    json.dumps(result.to_dict())


def test_identity_single_activation_uses_identity_sides_and_detects_a_wrong_sigma():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.Linear(5, 5), nn.GELU(), nn.Linear(5, 1))
    x, y = torch.randn(30, 3), torch.randn(30, 1)
    result = T.torch_identity(model, x, y)
    assert "identity_sides" in result.toolkit
    assert result.max_toolkit_gap < 1e-12
    # The comparison is sensitive: the toolkit with GELU's tanh form instead of erf.
    from saddle_escape.numeric.functions import compile_activation, get_loss
    from saddle_escape.numeric.identity import identity_sides

    net = T.from_torch(model).network
    wrong = identity_sides(
        net,
        Dataset(x.double().numpy(), y.double().numpy()),
        compile_activation("gelu_tanh"),
        get_loss("(f - y)**2"),
    )
    assert (
        max(abs(w.rhs - t.rhs) / t.scale for w, t in zip(wrong, result.terms, strict=True)) > 1e-6
    )


@pytest.mark.parametrize(
    "loss, m, kind",
    [
        (nn.MSELoss(reduction="sum"), 2, "float"),
        (nn.BCEWithLogitsLoss(), 1, "binary"),
        (nn.SoftMarginLoss(), 1, "sign"),
        (nn.CrossEntropyLoss(), 3, "index"),
        ("squared", 2, "float"),
    ],
)
def test_identity_with_other_losses(loss, m, kind):
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(3, 4), nn.SiLU(), nn.Linear(4, 4), nn.SiLU(), nn.Linear(4, m))
    g = torch.Generator().manual_seed(2)
    x = torch.randn(25, 3, generator=g)
    y = {
        "float": torch.randn(25, m, generator=g),
        "binary": torch.randint(0, 2, (25, m), generator=g).double(),
        "sign": torch.randint(0, 2, (25, m), generator=g).double() * 2 - 1,
        "index": torch.randint(0, m, (25,), generator=g),
    }[kind]
    result = T.torch_identity(model, x, y, loss)
    assert result.max_identity_gap < 1e-13
    assert result.max_toolkit_gap is not None and result.max_toolkit_gap < 1e-12


def test_identity_with_any_callable_loss_and_unknown_activation():
    class Swish(nn.Module):
        def forward(self, z):
            return z * torch.sigmoid(z)

    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(3, 4), Swish(), nn.Linear(4, 1))
    x, y = torch.randn(20, 3), torch.randn(20, 1)
    result = T.torch_identity(model, x, y, lambda f, t: torch.log(torch.cosh(f - t)).mean())
    assert result.max_identity_gap < 1e-13
    assert result.max_toolkit_gap is None and "no toolkit loss" in result.toolkit


# -- the monitor ------------------------------------------------------------------------


def _train(monitor, model, x, y, optimizer, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        monitor.step(optimizer, loss=loss)


@pytest.mark.parametrize("rhs", ["chain", "phi"])
def test_monitor_decomposition_holds_per_sgd_step(rhs):
    model = _mixed_model(bias=True, seed=7).double()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(64, 4, generator=g, dtype=torch.float64)
    y = torch.randn(64, 1, generator=g, dtype=torch.float64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    with T.ImbalanceMonitor(model, rhs=rhs, lhs=True) as monitor:
        _train(monitor, model, x, y, optimizer, 25)
    records = monitor.records()
    assert len(records) == 25
    worst = max(abs(v) for r in records for v in r["residual"])
    print(f"rhs={rhs}: largest relative residual of the decomposition {worst:.1e}")
    assert worst < 1e-10
    assert max(w for r in records for w in r["rounding"]) < 1e-10  # the bound is not vacuous
    # Both terms matter: the decomposition without the η² term would fail.
    first_only = max(
        abs(c - f) / (abs(c) + abs(f))
        for r in records
        for c, f in zip(r["imbalance_change"], r["first_order"], strict=True)
    )
    assert first_only > 1e-6
    assert max(g for r in records for g in r["identity_gap"]) < 1e-12


def test_monitor_rhs_equals_torch_identity_at_the_same_weights():
    model = _mixed_model(bias=False, seed=8).double()
    x = torch.randn(32, 4, dtype=torch.float64)
    y = torch.randn(32, 1, dtype=torch.float64)
    reference = T.torch_identity(model, x, y)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with T.ImbalanceMonitor(model) as monitor:
        _train(monitor, model, x, y, optimizer, 1)
    (record,) = monitor.records()
    for value, term in zip(record["rhs"], reference.terms, strict=True):
        assert abs(value - term.rhs) <= 1e-13 * term.scale


def test_monitor_outputs_and_other_optimizers():
    model = _mixed_model(bias=False, seed=9)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    monitor = T.ImbalanceMonitor(model)
    _train(monitor, model, x, y, optimizer, 3)
    monitor.close()
    records = monitor.records()
    assert records[0]["residual"] is None and records[0]["lr"] is None
    assert any("momentum" in note for note in monitor.notes)
    frame = monitor.frame()
    assert list(frame["step"]) == [0, 1, 2]
    assert {"imbalance_1", "imbalance_2", "rhs_2", "norm_3"} <= set(frame.columns)
    import matplotlib

    matplotlib.use("Agg")
    fig = monitor.plot()
    assert len(fig.axes) == 3
    import matplotlib.pyplot as plt

    plt.close(fig)
    fresh = T.ImbalanceMonitor(model)
    with pytest.raises(RuntimeError, match="backward"):
        model.zero_grad(set_to_none=True)
        fresh.record()
    fresh.close()


# -- the plateau ------------------------------------------------------------------------


def _digits(rows: int):
    from sklearn.datasets import load_digits

    inputs, digit = load_digits(return_X_y=True)
    inputs, digit = inputs[:rows].astype(float), digit[:rows]
    spread = inputs.std(axis=0)
    inputs = (inputs - inputs.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return inputs, np.where(digit >= 5, 1.0, -1.0)[:, None]


def _bottleneck_mlp(widths, bottleneck, eps, seed, act=nn.Tanh):
    generator = torch.Generator().manual_seed(seed)
    layers = []
    for l in range(len(widths) - 1):
        linear = nn.Linear(widths[l], widths[l + 1], bias=False, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.normal_(0.0, math.sqrt(2.0 / widths[l]), generator=generator)
            if l + 1 in bottleneck:
                linear.weight.mul_(eps)
        layers.append(linear)
        if l < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def _observed_steps(model, x, y, lr, fraction=0.5, budget=20_000):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    start = None
    for k in range(budget):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        if start is None:
            start = loss.item()
        if loss.item() <= fraction * start:
            return k
        loss.backward()
        optimizer.step()
    raise AssertionError("no escape within the budget")


def test_predicted_plateau_end_within_25_percent_on_digits():
    """The gallery's computation at fast sizes (r = 3: τ★ ∝ 1/ε)."""
    inputs, targets = _digits(600)
    x, y = torch.tensor(inputs), torch.tensor(targets)
    lr = 0.05
    steps = {}
    for eps in (0.08, 0.04):
        model = _bottleneck_mlp((64, 16, 16, 16, 1), (2, 3, 4), eps, seed=0)
        prediction = T.predict_plateau(model, x, y, lr=lr)
        observed = _observed_steps(model, x, y, lr)
        ratio = observed / prediction.steps
        print(
            f"ε = {eps}: r = {prediction.r}, ε read = {prediction.eps:.4f}, predicted "
            f"{prediction.steps:.1f} steps (τ★ = {prediction.tau:.4g}), observed {observed}, "
            f"ratio {ratio:.3f}"
        )
        assert prediction.bottleneck == (2, 3, 4) and prediction.regime == "power"
        assert abs(prediction.eps / eps - 1) < 0.2
        assert abs(ratio - 1) < 0.25
        steps[eps] = observed
    # The exponent: halving ε roughly doubles the plateau (slope −(r − 2) = −1).
    slope = math.log(steps[0.04] / steps[0.08]) / math.log(0.5)
    assert -1.4 < slope < -0.6


def test_predict_warnings_and_units():
    inputs, targets = _digits(200)
    model = _bottleneck_mlp((64, 8, 8, 2), (2, 3), 0.05, seed=1)
    x, y2 = torch.tensor(inputs), torch.tensor(np.hstack([targets, -targets]))
    adam = torch.optim.Adam(model.parameters(), lr=0.01)
    prediction = T.predict_plateau(model, x, y2, lr=0.01, optimizer=adam)
    assert prediction.steps is None and prediction.time_per_step is None
    text = " ".join(prediction.warnings)
    assert "vector output" in text and "Adam" in text
    json.dumps(prediction.to_dict())
    sgd = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    with_momentum = T.predict_plateau(model, x, y2, lr=0.01, optimizer=sgd)
    plain = T.predict_plateau(model, x, y2, lr=0.01)
    assert plain.time_per_step == pytest.approx(0.01 * 2 / 2)  # MSELoss over m = 2 outputs
    assert with_momentum.steps == pytest.approx(plain.steps / 2)
    halved = T.predict_plateau(model, x, y2, lr=0.01, loss="squared")
    assert halved.steps == pytest.approx(plain.steps)  # 2/m = 1 here
    biased = nn.Sequential(nn.Linear(64, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    assert any(
        "biases" in w for w in T.predict_plateau(biased, x, torch.tensor(targets), lr=0.01).warnings
    )
    with pytest.raises(ValueError, match="lr"):
        T.predict_plateau(model, x, y2, lr=-1.0)
    with pytest.raises(ValueError, match="squared losses"):
        T.predict_plateau(model, x, y2, lr=0.1, loss=nn.L1Loss())


def test_load_model_is_safe(tmp_path):
    model = _bottleneck_mlp((4, 6, 6, 1), (2, 3), 0.05, seed=2)
    path = tmp_path / "model.pt"
    torch.save(model, path)
    loaded = T.load_model(path)
    assert T.from_torch(loaded).network.widths == (4, 6, 6, 1)
    torch.save(model.state_dict(), tmp_path / "state.pt")
    with pytest.raises(ValueError, match="state_dict has no architecture"):
        T.load_model(tmp_path / "state.pt")
    torch.save({"model": model, "note": Danger()}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="cannot be loaded safely"):
        T.load_model(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not exist"):
        T.load_model(tmp_path / "missing.pt")
    prediction = T.predict_plateau_from_file(path, "gaussian:4:200", lr=0.05, labels="raw")
    assert prediction.status.value == "escaped" and prediction.r == 2


class Danger:
    """A class no model file may ask for (unpickling it would run code of our choosing)."""


def test_functions_refuse_bad_input():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        T.from_torch("not a model")
    model = _bottleneck_mlp((3, 4, 1), (), 1.0, seed=0)
    with pytest.raises(ValueError, match="shape"):
        T.torch_identity(model, torch.zeros(5, 2), torch.zeros(5, 1))
    with pytest.raises(ValueError, match="finite"):
        T.torch_identity(model, torch.full((5, 3), float("nan")), torch.zeros(5, 1))
