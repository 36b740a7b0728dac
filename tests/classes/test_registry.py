import pytest
import sympy as sp
from saddle_escape.classes import REGISTRY, activation_names, classify, get_activation, lookup

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
    ],
)
def test_aliases(alias, name):
    assert lookup(alias).name == name
    assert classify(alias).name == name


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid names: identity, relu"):
        get_activation("nope")


def test_every_entry_has_a_reference_and_parses():
    for name in activation_names():
        entry = REGISTRY[name]
        assert entry.reference
        assert entry.to_dict()["expression"] == entry.expression
