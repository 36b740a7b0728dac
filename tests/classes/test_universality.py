import json

import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st
from saddle_escape.classes import UniversalityClass, classify
from saddle_escape.symbolic.outcomes import ExpressionError, TimeLimitError
from saddle_escape.symbolic.parsing import X

from tests.display_check import check_table_rows, parse_html

a = sp.Symbol("a", real=True)


def test_design_table_examples():
    assert classify("identity").class_ is UniversalityClass.A
    assert (classify("sin").q, classify("sin").leading_coefficient) == (3, sp.Rational(-1, 3))
    assert classify("softplus").leading_coefficient == -sp.log(2)


def test_elu_is_A_on_the_right_and_C_on_the_left():
    result = classify("Piecewise((x, x > 0), (exp(x) - 1, True))")
    left, right = result.sides
    assert (left.side, left.class_, left.q, left.leading_coefficient) == (
        "left",
        UniversalityClass.C,
        2,
        sp.Rational(1, 2),
    )
    assert (right.side, right.class_, right.q) == ("right", UniversalityClass.A, None)
    assert result.class_ is UniversalityClass.C and result.smoothness == "piecewise"
    assert any("sides of 0 differ" in w for w in result.warnings)


def test_relu_is_A_with_a_one_sided_derivative_warning():
    result = classify("relu")
    assert result.class_ is UniversalityClass.A
    assert [s.alpha for s in result.sides] == [0, 1]
    assert any("σ'(0) does not exist" in w for w in result.warnings)


def test_alpha_zero_is_warned():
    for text in ("x**2", "x*tanh(x)"):
        result = classify(text)
        assert result.alpha == 0
        assert any("alpha = σ'(0) = 0" in w for w in result.warnings)
    assert not any("alpha" in w for w in classify("tanh").warnings)


def test_symbolic_parameter_conditions():
    result = classify("x + a*x**2")
    assert result.class_ is UniversalityClass.C and result.leading_coefficient == a
    assert [(b.condition, b.class_, b.q) for b in result.conditions] == [
        (sp.Ne(a, 0), UniversalityClass.C, 2),
        (sp.Eq(a, 0), UniversalityClass.A, None),
    ]


def test_parameter_cascade_through_three_classes():
    result = classify("x + b + c*x**2 + d*x**3")
    b, c, d = sp.symbols("b c d", real=True)
    conditions = [(b_.condition, b_.class_.value) for b_ in result.conditions]
    assert conditions[0] == (sp.Ne(b, 0), "D")
    assert conditions[1] == (sp.And(sp.Eq(b, 0), sp.Ne(c, 0)), "C")
    assert conditions[2] == (sp.And(sp.Eq(b, 0), sp.Eq(c, 0), sp.Ne(d, 0)), "B")
    assert conditions[3] == (sp.And(sp.Eq(b, 0), sp.Eq(c, 0), sp.Eq(d, 0)), "A")


def test_flat_term_is_never_class_A():
    result = classify("x + exp(-1/x**2)")
    assert result.class_ is None
    assert result.smoothness == "non-analytic"
    assert any("flat" in w for w in result.warnings)
    # ... whereas an exact identity that merely looks complicated is A.
    assert classify("sin(x)**2 + cos(x)**2 - 1 + x").class_ is UniversalityClass.A


def test_fractional_power_is_non_analytic():
    result = classify("x + Abs(x)**(5/2)")
    assert result.class_ is None and result.smoothness == "non-analytic"
    assert any("fractional power" in w for w in result.warnings)


def test_cbrt_is_non_analytic_with_infinite_slope():
    # Issue 14.1: cbrt(x) was the identity (class A).
    result = classify("cbrt(x)")
    assert result.class_ is None and result.smoothness == "non-analytic"
    assert result.alpha == sp.oo
    assert any("fractional power" in w for w in result.warnings)
    assert not any("alpha = σ'(0) = 0" in w for w in result.warnings)
    assert not any("does not exist" in w for w in result.warnings)
    assert classify("cbrt(8)*x + x**2").expression == "x**2 + 2*x"


def test_coefficient_that_never_vanishes_gives_no_condition_and_no_warning():
    # Issue 14.6: exp(a) ≠ 0 for every real a.
    a_ = sp.Symbol("a", real=True)
    result = classify("x + exp(a)*x**2")
    assert (result.class_, result.q, result.leading_coefficient) == (
        UniversalityClass.C,
        2,
        sp.exp(a_),
    )
    assert result.conditions == () and result.warnings == ()
    assert classify("x + (a**2 + 1)*x**3").warnings == ()
    b_ = sp.Symbol("b", real=True)
    cascade = [(b.condition, b.class_) for b in classify("x + b + exp(a)*x**2").conditions]
    assert cascade == [(sp.Ne(b_, 0), UniversalityClass.D), (sp.Eq(b_, 0), UniversalityClass.C)]


def test_parameter_with_fractional_leading_term_serialises():
    # Issue 14.14: AttributeError in to_dict (a condition with no class).
    result = classify("x + a*Abs(x)**(5/2)")
    assert result.class_ is None
    d = result.to_dict()
    assert [b["class"] for b in d["conditions"]] == [None, "A"]
    json.dumps(d, allow_nan=False)


def test_flat_term_is_the_documented_verdict_not_an_error():
    result = classify("x + exp(-1/x**2)")
    assert result.class_ is None and result.smoothness == "non-analytic"


def test_sympy_input_is_checked_like_a_string():
    with pytest.raises(ExpressionError, match="not defined at x = 0"):
        classify(sp.Piecewise((X, X > 0), (X**2, X < 0)))
    with pytest.raises(ExpressionError, match="larger than"):
        classify(X + sp.exp(sp.exp(9)) * X**2)


@pytest.mark.parametrize("text", ["exp(exp(exp(exp(10))))*x**2 + x", "exp(exp(9))*x"])
def test_huge_constants_are_refused_at_once(text):
    # Issue 14.17: "int too large to convert to float" from SymPy's printer.
    with pytest.raises(ExpressionError, match="larger than 10"):
        classify(text, time_limit_seconds=None)


def test_large_constants_classify_exactly():
    assert classify("1e60*x").alpha == sp.Integer(10) ** 60
    assert classify("1e60*x").to_dict()["alpha_value"] == 1e60
    sixty = "1" * 60
    assert classify(f"{sixty}*x + x**2").alpha == sp.Integer(sixty)


@pytest.mark.parametrize(
    "text, key",
    [
        ("x + exp(1000)*x**2", "leading_coefficient_value"),
        ("1e60*1e60*1e60*1e60*1e60*1e60*x", "alpha_value"),
        ("exp(-1000) + x", "sigma0_value"),
    ],
)
def test_values_beyond_float64_are_null_and_json_is_strict(text, key):
    # Issue 14.17/14.8: Infinity/NaN tokens in --json output.
    d = classify(text).to_dict()
    if key == "sigma0_value":
        assert d[key] == 0.0  # underflows to zero: still a float64
    else:
        assert d[key] is None
    json.dumps(d, allow_nan=False)


@pytest.mark.parametrize("bad", [None, 3, 2.5, ["tanh"], b"tanh"])
def test_non_activation_arguments_name_the_argument(bad):
    # Issue 14.21.
    with pytest.raises(ExpressionError, match="activation must be a registry name"):
        classify(bad)


def test_high_degree_polynomial_is_found_beyond_the_default_search():
    result = classify("x + x**40")
    assert (result.class_, result.q, result.leading_coefficient) == (UniversalityClass.C, 40, 39)


@pytest.mark.parametrize(
    "text, message",
    [
        ("1/x", "singular"),
        ("log(x)", "log"),
        ("sqrt(x)", "not real"),
        ("sqrt(x - 1)", "not real"),
        ("sign(x)", "discontinuous"),
        ("Heaviside(x)", "discontinuous"),
        ("Piecewise((x + 1, Eq(x, 0)), (x, True))", "discontinuous"),
        ("Piecewise((1, x > 0), (0, True))", "discontinuous"),
        ("foo", "unknown activation 'foo'"),
        ("3", "does not depend on x"),
        ("pi", "does not depend on x"),
        ("0", "does not depend on x"),
        # Issue 14.6: σ(0) undefined, σ ≡ 0 near 0, booleans outside conditions.
        ("Piecewise((x, x > 0), (x**2, x < 0))", "not defined at x = 0"),
        ("Piecewise((x, (x > 0) & (x < 0)), (0, True))", "constant near 0"),
        ("Piecewise((0, x < 1), (x - 1, True))", "constant near 0"),
        ("sin(x)**2 + cos(x)**2", "constant near 0"),
        ("x and 1", "only allowed inside a Piecewise condition"),
        ("x or x", "only allowed inside a Piecewise condition"),
        # Issue 14.14: SymPy's PoleError must not escape.
        ("sin(1/x)", "not analytic"),
        ("x*sin(1/x)", "not analytic"),
        ("exp(1/x)", "singular or not analytic"),
        ("x*exp(-1/x)", "singular or not analytic"),
        ("csc(x)", "singular"),
        ("coth(x)", "singular"),
        # Issue 14.16: no default branch; a condition with no limit at 0.
        ("Piecewise((x, x > 0))", "add a default branch"),
        ("Piecewise((x, sin(1/x) > 0), (0, True))", "no limit there"),
        ("x**(1/1000)", "not analytic at 0"),
        ("x + sqrt(-1)", "not real"),
        ("Max(a*x, x)", "depends on parameters"),
    ],
)
def test_not_an_activation_is_a_clear_error(text, message):
    with pytest.raises(ExpressionError, match=message):
        classify(text)


def test_time_limit_stops_pathological_work():
    heavy = "tanh(" * 12 + "x" + ")" * 12 + " + " + "sin(" * 12 + "x" + ")" * 12
    with pytest.raises(TimeLimitError):
        classify(heavy, order=32, time_limit_seconds=0.3)


def test_order_is_validated():
    with pytest.raises(ValueError, match="order"):
        classify("tanh", order=-1)


def test_sympy_input_and_to_dict_contract():
    d = classify(sp.erf(X)).to_dict()
    expected_keys = {
        "expression",
        "name",
        "class",
        "q",
        "leading_coefficient",
        "leading_coefficient_value",
        "alpha",
        "alpha_value",
        "sigma0",
        "sigma0_value",
        "phi_series",
        "smoothness",
        "sides",
        "conditions",
        "warnings",
    }
    assert expected_keys <= set(d)
    assert d["class"] == "B" and d["q"] == 3 and d["name"] is None
    assert d["leading_coefficient"] == "-4/(3*sqrt(pi))"
    assert d["leading_coefficient_value"] == pytest.approx(-4 / (3 * 1.7724538509055159))
    assert d["phi_series"][0] == {
        "order": 3,
        "coefficient": "-4/(3*sqrt(pi))",
        "value": d["leading_coefficient_value"],
    }


# -- properties -------------------------------------------------------------------

rationals = st.fractions(min_value=-5, max_value=5, max_denominator=12).map(sp.Rational)


@st.composite
def polynomials(draw):
    """Polynomial activations with random rational coefficients (many zeros)."""
    degree = draw(st.integers(1, 7))
    coefficients = [draw(st.one_of(st.just(sp.Integer(0)), rationals)) for _ in range(degree + 1)]
    if all(c == 0 for c in coefficients[1:]):
        coefficients[1] = sp.Integer(1)
    return coefficients


def _expected(coefficients):
    for k, a_k in enumerate(coefficients):
        c_k = (k - 1) * a_k
        if c_k != 0:
            return UniversalityClass.from_order(k), k, c_k
    return UniversalityClass.A, None, None


@given(polynomials())
@example([0, 1, 0, 0])  # identity-like: A
@example([0, 0, 1])  # alpha = 0
@example([2, 1])  # D
def test_polynomial_class_follows_the_coefficient_rule(coefficients):
    sigma = sum(c * X**k for k, c in enumerate(coefficients))
    result = classify(sigma)
    assert (result.class_, result.q, result.leading_coefficient) == _expected(coefficients)


_SMOOTH = ["tanh", "sin", "erf", "gelu", "silu", "softplus", "sigmoid", "atan", "mish", "elu"]


@given(
    st.sampled_from(_SMOOTH)
    | polynomials().map(lambda cs: sum(c * X**k for k, c in enumerate(cs))),
    st.fractions(min_value=1 / 4, max_value=4, max_denominator=6).map(sp.Rational),
)
@example("gelu", sp.Rational(3))
@example("elu", sp.Rational(1, 2))
def test_rescaling_keeps_class_and_scales_h(activation, lam):
    base = classify(activation)
    sigma_lam = base.sigma.xreplace({X: lam * X}) / lam
    scaled = classify(sigma_lam)
    assert (scaled.class_, scaled.q) == (base.class_, base.q)
    if base.q is not None:
        ratio = sp.simplify(
            scaled.leading_coefficient - lam ** (base.q - 1) * base.leading_coefficient
        )
        assert ratio == 0


# -- notebook display (issue 9 item 7) ---------------------------------------------------


def test_classification_latex_states_class_q_and_the_phi_series():
    text = classify("tanh")._repr_latex_()
    assert text.startswith("$") and text.endswith("$")
    for piece in (
        r"\sigma(x) = \tanh{\left(x \right)}",
        r"\text{class B}",
        "q = 3",
        r"h_\sigma = - \frac{2}{3}",
        r"\alpha = 1",
        r"\sigma(0) = 0",
        r"\varphi_\sigma(x) = - \frac{2}{3}\,x^{3} + \frac{8}{15}\,x^{5} + O(x^{7})",
    ):
        assert piece in text, piece


def test_classification_latex_for_the_other_classes():
    assert r"\varphi_\sigma(x) \equiv 0" in classify("relu")._repr_latex_()
    sigmoid = classify("sigmoid")._repr_latex_()
    assert r"\text{class D}" in sigmoid and "q = 0" in sigmoid
    assert r"\varphi_\sigma(x) = - \frac{1}{2} - \frac{1}{24}\,x^{3}" in sigmoid
    fractional = classify("x + Abs(x)**(5/2)")._repr_latex_()
    assert r"\text{class none}" in fractional and r"|x|^{5/2}" in fractional
    one_sided = classify("Piecewise((x, x < 0), (x + x**2, True))")._repr_latex_()
    assert r"\varphi_\sigma(x) = x^{2} + O(x^{7}) \quad (x \to 0^{+})" in one_sided


def test_classification_html_table():
    page = classify("tanh")._repr_html_()
    (table,) = parse_html(page).tables
    check_table_rows(table)
    assert table["headers"] == ["σ(x)", "class", "q", "h_σ", "α", "σ(0)", "φ_σ(x)", "smoothness"]
    assert table["rows"] == [
        ["tanh(x)", "B", "3", "-2/3", "1", "0", "-2*x**3/3 + 8*x**5/15 + O(x**7)", "analytic"]
    ]
    assert table["caption"] == UniversalityClass.B.description
    assert "<strong>tanh: class B</strong>" in page


def test_classification_html_escapes_and_lists_sides_conditions_and_warnings():
    page = classify("Piecewise((x, x < 0), (x + x**2, True))")._repr_html_()
    assert "Piecewise((x, x &lt; 0), (x**2 + x, True))" in page
    main, sides = parse_html(page).tables
    assert main["rows"][0][:3] == ["Piecewise((x, x < 0), (x**2 + x, True))", "C", "2"]
    assert [row[:4] for row in sides["rows"]] == [
        ["left", "x", "A", "—"],
        ["right", "x**2 + x", "C", "2"],
    ]
    assert "<li>the two sides of 0 differ" in page
    *_, conditions = parse_html(classify("x + a*x**2")._repr_html_()).tables
    assert conditions["headers"] == ["condition", "class", "q", "h_σ"]
    assert conditions["rows"] == [["Ne(a, 0)", "C", "2", "a"], ["Eq(a, 0)", "A", "—", "—"]]
