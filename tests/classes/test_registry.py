import pytest
import sympy as sp
from saddle_escape.classes import REGISTRY, activation_names, classify, get_activation, lookup
from saddle_escape.classes.registry import resolve_activation, suggest
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import X, parse_activation

from tests.problems import REGISTRY_EXPECTED


def test_registry_is_large_enough_and_pinned_completely():
    assert len(REGISTRY) >= 18
    assert set(REGISTRY) == set(REGISTRY_EXPECTED)


@pytest.mark.parametrize("name", sorted(REGISTRY_EXPECTED))
def test_registry_class_q_and_coefficients_are_exact(name):
    klass, q, h, alpha, sigma0, smoothness = REGISTRY_EXPECTED[name]
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
    ],
)
def test_aliases(alias, name):
    assert lookup(alias).name == name
    assert classify(alias).name == name


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid names: identity, relu"):
        get_activation("nope")


@pytest.mark.parametrize(
    "typo, name",
    [
        ("leaky_rleu", "leaky_relu"),
        ("LeakyRelu6", "leaky_relu"),
        ("gleu", "gelu"),
        ("Tahn", "tanh"),
    ],
)
def test_unknown_identifier_suggests_the_closest_name(typo, name):
    # An identifier that is no registry name used to be "a constant parameter".
    message = f"unknown activation {typo!r}; did you mean {name}?"
    for call in (classify, get_activation, resolve_activation):
        with pytest.raises(ExpressionError) as info:
            call(typo)
        assert str(info.value) == message
    assert suggest(typo) == name


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
        assert entry.to_dict()["expression"] == entry.expression
        parsed = parse_activation(entry.expression)  # the safe parser, no parameters left
        assert parsed.parameters == () and X in parsed.expr.free_symbols
        assert resolve_activation(name) == (parsed.expr, name)
