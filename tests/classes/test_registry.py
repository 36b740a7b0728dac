import pytest
import sympy as sp
from saddle_escape.classes import REGISTRY, activation_names, classify, get_activation, lookup
from saddle_escape.classes.gate import admit_activation
from saddle_escape.classes.registry import resolve_activation, suggest
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import X, parse_activation

from tests.problems import REGISTRY_EXPECTED

A_ = sp.Symbol("a", real=True)

#: Entries added by issue 9 item 4: (class, q, h_σ, alpha, sigma(0), smoothness), by hand.
#: φ_σ(z) = zσ'(z) − σ(z) = Σ c_k z^k with c_k = (k − 1)a_k (DESIGN §2).
NEW_EXPECTED = {
    # relu6 = min(max(0, x), 6) is x on (0, 6) and 0 on (−∞, 0): a_1 = 1 on the right, every
    # a_k = 0 on the left, so every c_k = (k−1)a_k = 0 on both sides: class A, no q, no h;
    # α = σ'(0⁺) = 1, σ(0) = 0, two different one-sided series: "piecewise".
    "relu6": ("A", None, None, 1, 0, "piecewise"),
    # prelu = max(0, x) + a·min(0, x) is x on the right and a·x on the left: a_1 = 1 resp.
    # a_1 = a, nothing else, so c_k = 0 for every k and every a: class A (no condition on
    # a); α = σ'(0⁺) = 1 (σ'(0⁻) = a), σ(0) = 0.
    "prelu": ("A", None, None, 1, 0, "piecewise"),
    # squareplus = (x + sqrt(x² + 4))/2 with sqrt(x² + 4) = 2(1 + x²/8 − x⁴/128 + x⁶/1024 − …)
    # = 2 + x²/4 − x⁴/64 + …, so σ = 1 + x/2 + x²/8 − x⁴/128 + …: a_0 = 1 ≠ 0 gives
    # c_0 = −a_0 = −1: class D, q = 0, h_σ = −1; α = a_1 = 1/2, σ(0) = 1.
    "squareplus": ("D", 0, -1, sp.Rational(1, 2), 1, "analytic"),
}
EXPECTED = {**REGISTRY_EXPECTED, **NEW_EXPECTED}


def test_registry_is_large_enough_and_pinned_completely():
    assert len(REGISTRY) >= 18
    assert set(REGISTRY) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registry_class_q_and_coefficients_are_exact(name):
    klass, q, h, alpha, sigma0, smoothness = EXPECTED[name]
    result = classify(name)
    assert result.name == name
    assert result.class_.value == klass
    assert result.q == q
    if h is None:
        assert result.leading_coefficient is None
    else:
        assert sp.simplify(result.leading_coefficient - h) == 0
    assert sp.simplify(result.alpha - alpha) == 0
    assert sp.simplify(result.sigma0 - sigma0) == 0
    assert result.smoothness == smoothness


@pytest.mark.parametrize(
    "alias, name",
    [
        ("linear", "identity"),
        ("swish", "silu"),
        ("Leaky-ReLU", "leaky_relu"),
        ("SQUARE", "quadratic"),
        # PyTorch's class names (issue 14.15): "LeakyReLU" said "does not depend on x".
        ("LeakyReLU", "leaky_relu"),
        ("GELU", "gelu"),
        ("SiLU", "silu"),
        ("ReLU", "relu"),
        ("Tanh", "tanh"),
        ("Sigmoid", "sigmoid"),
        ("Softplus", "softplus"),
        ("ELU", "elu"),
        ("SELU", "selu"),
        ("CELU", "celu"),
        ("Mish", "mish"),
        ("Hardswish", "hardswish"),
        ("Hardtanh", "hardtanh"),
        ("Hardsigmoid", "hardsigmoid"),
        ("Softsign", "softsign"),
        ("Tanhshrink", "tanhshrink"),
        ("LogSigmoid", "logsigmoid"),
        # Issue 9 item 4: the other PyTorch / JAX / Keras spellings, any case.
        ("ReLU6", "relu6"),
        ("PReLU", "prelu"),
        ("Identity", "identity"),
        ("Swish", "silu"),
        ("Squareplus", "squareplus"),
        ("hard_tanh", "hardtanh"),
        ("hard_sigmoid", "hardsigmoid"),
        ("hard_swish", "hardswish"),
        ("hard_silu", "hardswish"),
        ("log_sigmoid", "logsigmoid"),
        ("soft_sign", "softsign"),
        ("tanh_shrink", "tanhshrink"),
        ("relu", "relu"),
        ("Relu", "relu"),
        ("LeakyRelu", "leaky_relu"),
        ("leaky-relu", "leaky_relu"),
        ("expit", "sigmoid"),
        ("arctan", "atan"),
        ("gelu_new", "gelu_tanh"),
        ("gelu_pytorch_tanh", "gelu_tanh"),
        ("parametric_relu", "prelu"),
        ("  GELU  ", "gelu"),
    ],
)
def test_aliases(alias, name):
    assert lookup(alias).name == name
    by_alias, canonical = classify(alias), classify(name)
    assert by_alias.name == name
    assert by_alias.to_dict() == canonical.to_dict()  # the same classification
    assert admit_activation(alias).name == name


def test_every_alias_names_one_entry():
    keys = [
        (alias.lower().replace("-", "").replace("_", ""), entry.name)
        for entry in REGISTRY.values()
        for alias in (entry.name, *entry.aliases)
    ]
    assert len({k for k, _ in keys}) == len(keys)
    for alias in activation_names(aliases=True):
        assert lookup(alias) is not None


@pytest.mark.parametrize("word", ["nope", "banana", "  banana  ", "qwertyuiop", "σ", "__foo"])
def test_unknown_name_lists_a_few_valid_ones(word):
    message = (
        f"unknown activation {word.strip()!r}; valid names: identity, relu, leaky_relu, relu6, "
        f"prelu, hardtanh, abs, tanh, ... ({len(REGISTRY)} in all: 'saddle-escape classes' "
        "lists them); or write an expression in x such as 'tanh(x)'"
    )
    for call in (classify, admit_activation, get_activation, resolve_activation):
        with pytest.raises(ExpressionError) as info:
            call(word)
        assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "typo, name",
    [
        ("leaky_rleu", "leaky_relu"),
        ("LeakyRelu6", "leaky_relu"),
        ("gleu", "gelu"),
        ("Tahn", "tanh"),
        # Issue 9 item 4 ("LeakyRelu" and "Relu" themselves resolve: case is ignored).
        ("LeakyRelu7", "leaky_relu"),
        ("gelu2", "gelu"),
        ("Relu7", "relu"),
        ("relu66", "relu6"),
        ("sigmod", "sigmoid"),
        ("hardshrnk", "hardshrink"),
    ],
)
def test_unknown_identifier_suggests_the_closest_name(typo, name):
    # An identifier that is no registry name used to be "a constant parameter".
    message = f"unknown activation {typo!r}; did you mean {name}?"
    for call in (classify, get_activation, resolve_activation, admit_activation):
        with pytest.raises(ExpressionError) as info:
            call(typo)
        assert str(info.value) == message
    with pytest.raises(ExpressionError) as info:
        admit_activation(typo, numeric=False)
    assert str(info.value) == message
    assert suggest(typo) == name


@pytest.mark.parametrize("name", ["hardshrink", "Softshrink", "hard_shrink", "soft-shrink"])
def test_shrink_functions_are_refused_with_their_reason(name):
    # σ ≡ 0 on [−1/2, 1/2]: not class A (DESIGN §2: a flat φ_σ is never class A), no class.
    for call in (classify, admit_activation, get_activation, resolve_activation):
        with pytest.raises(ExpressionError) as info:
            call(name)
        message = str(info.value)
        assert message.startswith(f"activation {name!r} (PyTorch ")
        assert "has no universality class: σ ≡ 0 on [-1/2, 1/2]" in message
        assert "That is not class A" in message
    assert lookup(name) is None and name not in REGISTRY


@pytest.mark.parametrize(
    "text",
    [
        "Piecewise((x, Abs(x) > 1/2), (0, True))",  # hardshrink written out
        "Piecewise((x - sign(x)/2, Abs(x) > 1/2), (0, True))",  # softshrink written out
    ],
)
def test_shrink_expressions_are_refused_by_the_classifier(text):
    with pytest.raises(ExpressionError, match="constant near 0"):
        classify(text)


@pytest.mark.parametrize(
    "text, klass, parameters",
    [
        ("a*x", "A", ("a",)),
        ("  a*x  ", "A", ("a",)),
        ("x + b*x**2", "C", ("b",)),
        ("x + gelu*x**2", "C", ("gelu",)),  # a name inside an expression is a parameter
        ("tanh(x)", "B", ()),
        ("relu(x)", "A", ()),
        ("sigmoid(x)", "D", ()),
        ("x", "A", ()),
        ("z", "A", ()),
    ],
)
def test_expressions_and_parameters_still_parse(text, klass, parameters):
    result = classify(text)
    assert result.name is None
    assert result.class_.value == klass
    assert tuple(p.name for p in result.parameters) == parameters


def test_identifiers_that_are_variables_or_constants_are_not_names():
    assert resolve_activation("x") == (X, None)
    with pytest.raises(ExpressionError, match="does not depend on x"):
        classify("pi")
    with pytest.raises(ExpressionError, match="must be called"):
        classify("exp")


@pytest.mark.parametrize("bad", [None, 3, ["tanh"]])
def test_lookup_of_a_non_string_is_a_type_error_naming_the_argument(bad):
    # Issue 14.21: AttributeError 'NoneType' object has no attribute 'strip'.
    for call in (get_activation, lookup, suggest):
        with pytest.raises(TypeError, match="name must be a str"):
            call(bad)


def test_every_entry_has_a_reference_and_parses():
    for name in activation_names():
        entry = REGISTRY[name]
        assert entry.reference
        record = entry.to_dict()
        assert record["expression"] == entry.expression
        parsed = parse_activation(entry.expression)  # the safe parser
        # Every free parameter has a default for numeric use (prelu's slope a).
        assert [p.name for p in parsed.parameters] == sorted(record["parameter_defaults"])
        assert X in parsed.expr.free_symbols
        assert resolve_activation(name) == (parsed.expr, name)
        assert admit_activation(name).numeric  # numeric use works for every entry


def test_relu6_sides_by_hand():
    # Right: x (slope 1); left: 0 (slope 0); each side has φ_σ ≡ 0.
    left, right = classify("relu6").sides
    assert (left.expression, left.alpha, left.class_.value) == (0, 0, "A")
    assert (right.expression, right.alpha, right.class_.value) == (X, 1, "A")


def test_prelu_is_class_a_for_every_slope():
    result = classify("prelu")
    assert result.parameters == (A_,)
    assert result.conditions == ()  # no condition on a: c_k = 0 identically
    left, right = result.sides
    assert (left.expression, left.alpha) == (A_ * X, A_)  # a·x: φ = x·a − a·x = 0
    assert (right.expression, right.alpha) == (X, 1)
    for a in (0, 1, -1, 0.25, 3):  # relu, identity, abs, PyTorch's default, steep
        assert admit_activation("prelu", parameters={"a": a}).classification.class_.value == "A"


def test_squareplus_phi_series_by_hand():
    # σ = 1 + x/2 + x²/8 − x⁴/128 + x⁶/1024 + … (see NEW_EXPECTED): c_0 = −1, c_2 = 1·(1/8),
    # c_4 = 3·(−1/128) = −3/128, c_6 = 5·(1/1024) = 5/1024; odd c_k vanish (a_1 only).
    terms = {int(t.order): t.coefficient for t in classify("squareplus").phi_series}
    assert terms == {
        0: -1,
        2: sp.Rational(1, 8),
        4: sp.Rational(-3, 128),
        6: sp.Rational(5, 1024),
    }
