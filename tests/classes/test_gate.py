import dataclasses
import json

import pytest
import sympy as sp
from saddle_escape.classes import classify, gate
from saddle_escape.classes.gate import AdmittedActivation, admit_activation
from saddle_escape.symbolic.outcomes import ExpressionError, TimeLimitError
from saddle_escape.symbolic.parsing import X

# What classify refuses (issue 14.15: ode/escape/asymptotics accepted some of these).
REFUSED = [
    "x + sqrt(-1)",
    "csc(x)",
    "coth(x)",
    "sin(1/x)",
    "x*exp(-1/x)",
    "sqrt(x)",
    "x**(1/1000)",
    "1",
    "0",
    "pi",
    "1/x",
    "sign(x)",
    "Piecewise((x, x > 0))",
    "Piecewise((x, x > 0), (x**2, x < 0))",
    "Piecewise((x, (x > 0) & (x < 0)), (0, True))",
    "Piecewise((x, sin(1/x) > 0), (0, True))",
    "x and 1",
    "LeakyRelu6",
    "exp(exp(exp(exp(10))))*x**2 + x",
    # Issue 9 item 4: bare unknown names and the refused shrink functions.
    "foo",
    " gelu2 ",
    "banana",
    "hardshrink",
    "Softshrink",
]


@pytest.mark.parametrize("text", REFUSED)
@pytest.mark.parametrize("numeric", [True, False])
def test_refuses_exactly_what_classify_refuses_with_the_same_message(text, numeric):
    with pytest.raises(ExpressionError) as by_classify:
        classify(text)
    with pytest.raises(ExpressionError) as by_gate:
        admit_activation(text, numeric=numeric)
    assert str(by_gate.value) == str(by_classify.value)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("sqrt(x)", "not analytic at 0"),
        ("x**(1/1000)", "not analytic at 0"),
        ("x + exp(-1/x**2)", "non-analytic at 0"),
        ("cbrt(x)", "non-analytic at 0"),
        ("x + Abs(x)**(5/2)", "non-analytic at 0"),
        ("1", "does not depend on x"),
        ("0", "does not depend on x"),
        ("pi", "does not depend on x"),
        ("x + sqrt(-1)", "not real"),
        ("x + a*x**2", r"free parameter\(s\) \['a'\]"),
    ],
)
def test_numeric_use_refusals_say_why(text, reason):
    with pytest.raises(ExpressionError, match=reason):
        admit_activation(text)


def test_non_analytic_sigma_is_classified_but_not_admitted_for_numeric_use():
    admitted = admit_activation("x + exp(-1/x**2)", numeric=False)
    assert admitted.classification.class_ is None and not admitted.numeric
    with pytest.raises(ExpressionError, match="escape, ode, asymptotics and simulate need"):
        admit_activation(admitted)


def test_admits_names_aliases_expressions_and_sympy():
    gelu = admit_activation("GELU")
    assert (gelu.name, gelu.label, gelu.classification.class_.value) == ("gelu", "gelu", "C")
    tanh = admit_activation(" tanh(x) ")
    assert (tanh.name, tanh.label, tanh.sigma) == (None, "tanh(x)", sp.tanh(X))
    assert admit_activation(sp.erf(X)).classification.q == 3
    assert admit_activation(gelu) is gelu


def test_parameter_values_are_substituted_exactly():
    admitted = admit_activation("x + a*x**2", parameters={"a": 0.1})
    assert admitted.sigma == X + X**2 / 10
    assert admitted.parameters == (("a", sp.Rational(1, 10)),)
    assert admitted.classification.leading_coefficient == sp.Rational(1, 10)
    assert admit_activation("x + a*x**2", parameters={"a": 0}).classification.class_.value == "A"
    # Parameters the classifier cannot decide symbolically are fine with values.
    assert admit_activation("Max(a*x, x)", parameters={"a": 2}).sigma == sp.Max(X, 2 * X)
    # Without numeric use, free parameters stay.
    assert admit_activation("x + a*x**2", numeric=False).classification.parameters


@pytest.mark.parametrize(
    "parameters, error, message",
    [
        ({"b": 1.0}, ExpressionError, "no parameter named 'b'"),
        ({"a": float("nan")}, ExpressionError, "not finite"),
        ({"a": "0.1"}, ExpressionError, "not a real number"),
        ({"a": True}, ExpressionError, "not a real number"),
        ([("a", 0.1)], TypeError, "parameters must be a mapping"),
    ],
)
def test_bad_parameter_values_are_refused(parameters, error, message):
    with pytest.raises(error, match=message):
        admit_activation("x + a*x**2", parameters=parameters)


@pytest.mark.parametrize("bad", [None, 3, ["tanh"]])
def test_non_activation_arguments_are_refused_like_classify(bad):
    with pytest.raises(ExpressionError, match="activation must be a registry name"):
        admit_activation(bad)


def test_verdicts_are_cached_whatever_the_time_limit(monkeypatch):
    calls = []

    def counting_classify(activation, **options):
        calls.append(activation)
        return classify(activation, **options)

    monkeypatch.setattr(gate, "classify", counting_classify)
    text = "x + x**2/7 + 0"  # used nowhere else, so not cached yet
    first = admit_activation(text, time_limit_seconds=None)
    assert admit_activation(text) is first
    assert admit_activation(text, time_limit_seconds=30.0) is first
    refused = "x + sqrt(-7)"
    for _ in range(3):
        with pytest.raises(ExpressionError, match="not real"):
            admit_activation(refused)
    assert calls == [text, refused]


def test_time_limit_errors_are_not_cached(monkeypatch):
    outcomes = iter([TimeLimitError("too slow"), None])

    def flaky_classify(activation, **options):
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome
        return classify(activation, **options)

    monkeypatch.setattr(gate, "classify", flaky_classify)
    text = "x + x**2/11 + 0"
    with pytest.raises(TimeLimitError):
        admit_activation(text)
    assert admit_activation(text).classification.class_.value == "C"


def test_result_is_frozen_and_serialises():
    admitted = admit_activation("x + exp(1000)*x**2")
    assert isinstance(admitted, AdmittedActivation)
    with pytest.raises(dataclasses.FrozenInstanceError):
        admitted.label = "other"  # type: ignore[misc]
    d = admitted.to_dict()
    assert d["classification"]["leading_coefficient_value"] is None
    json.dumps(d, allow_nan=False)


def test_registry_defaults_fill_missing_parameters_for_numeric_use():
    # prelu = max(0, x) + a·min(0, x): numeric use takes PyTorch's initial slope a = 1/4.
    a = sp.Symbol("a", real=True)
    default = admit_activation("PReLU")
    assert (default.name, default.label) == ("prelu", "prelu")
    assert default.parameters == (("a", sp.Rational(1, 4)),)
    assert default.sigma == sp.Max(0, X) + sp.Min(0, X) / 4
    assert default.to_dict()["parameters"] == {"a": "1/4"}
    given = admit_activation("prelu", parameters={"a": 0.1})
    assert given.parameters == (("a", sp.Rational(1, 10)),)
    # Classification alone keeps a symbolic.
    symbolic = admit_activation("prelu", numeric=False)
    assert symbolic.parameters == () and symbolic.classification.parameters == (a,)
    # Admitting again for numeric use keeps the values it was admitted with.
    kept = admit_activation(admit_activation("prelu", parameters={"a": 2}, numeric=False))
    assert kept.parameters == (("a", sp.Integer(2)),) and kept.numeric
    assert admit_activation(symbolic).parameters == (("a", sp.Rational(1, 4)),)
    # An expression has no defaults.
    with pytest.raises(ExpressionError, match="free parameter"):
        admit_activation("Max(0, x) + a*Min(0, x)")
