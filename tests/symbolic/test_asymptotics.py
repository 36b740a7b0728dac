import json
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
import sympy as sp
from saddle_escape.classes.gate import build_model
from saddle_escape.symbolic import taylor
from saddle_escape.symbolic.asymptotics import asymptotics
from saddle_escape.symbolic.outcomes import (
    ConvergenceError,
    ExpressionError,
    Status,
    TimeLimitError,
)
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.reduction import reduced_model


def test_linear_design_case_is_exact():
    a = asymptotics(build_model("linear", 4, 16, "eps,eps,eps,eps"))
    assert (a.p, a.regime, a.exponent, a.k, a.prefactor) == (4, "power", 2, 1, sp.Rational(1, 2))
    assert [(t.eps_power, t.log_power, t.coefficient) for t in a.terms] == [
        (-2, 0, sp.Rational(1, 2))
    ]
    assert (
        a.exact
        and sp.expand(
            a.normal_form()
            - sp.Symbol("y", positive=True) ** 3 * (1 - sp.Symbol("y", positive=True) ** 4)
        )
        == 0
    )


@pytest.mark.parametrize(
    "init, regime, p",
    [("1,eps,1", "finite", 1), ("eps,eps,1", "log", 2), ("eps,eps,eps", "power", 3)],
)
def test_three_regimes(init, regime, p):
    a = asymptotics(build_model("linear", 3, 4, init))
    assert (a.regime, a.p) == (regime, p)
    if regime == "log":
        assert a.prefactor == 1 and a.terms[0].log_power == 1


def test_resonance_gives_an_exact_log_term():
    # tanh (q = 3) with r = 4 = q + 1 bottleneck layers: a ln(1/ε) term.
    a = asymptotics(build_model("tanh", 4, 16, "eps,eps,eps,eps"))
    assert [(t.eps_power, t.log_power) for t in a.terms] == [(-2, 0), (0, 1)]
    assert a.terms[1].coefficient == sp.Rational(3, 32)


def test_class_D_with_a_hidden_bottleneck_has_a_finite_limit():
    a = asymptotics(build_model("sigmoid", 3, 16, "eps,1,1"))
    assert a.regime == "finite" and a.prefactor is None and a.p == 1


def test_no_escape_is_reported():
    a = asymptotics(build_model("sigmoid", 4, 16, "1,eps,eps,eps"), throw=False)
    assert a.regime == "none" and any("does not escape" in n for n in a.notes)
    assert a.status is Status.NO_ESCAPE and a.status.exit_code == 3
    assert "no escape" in a.message and "initialization" in a.message
    d = json.loads(json.dumps(a.to_dict(), allow_nan=False))
    assert d["status"] == "no_escape" and d["regime"] == "none" and d["prefactor"] is None
    assert d["quadratures"] == a.quadratures > 0  # sigmoid: non-polynomial expectations


def test_no_escape_raises_with_throw_true_carrying_the_result():
    with pytest.raises(ConvergenceError) as caught:
        asymptotics(build_model("sigmoid", 4, 16, "1,eps,eps,eps"), throw=True)
    assert caught.value.status is Status.NO_ESCAPE
    assert caught.value.result.regime == "none"
    assert caught.value.result.status is Status.NO_ESCAPE
    assert "no escape" in str(caught.value)


@pytest.mark.parametrize("throw", [True, False])
def test_an_escaping_model_has_status_success_inputs_and_counters(throw):
    model = build_model("tanh", 4, 16, "eps,eps,eps,eps")
    a = asymptotics(model, extra_terms=3, dps=20, time_limit_seconds=45.0, throw=throw)
    assert a.status is Status.SUCCESS and a.regime == "power"
    assert (a.model, a.extra_terms, a.dps, a.time_limit_seconds) == (model, 3, 20, 45.0)
    assert a.order == 2 * 4 - 2 + 3 == len(a.coefficients) - 1
    assert a.quadratures == 0 and a.exact and a.seconds > 0
    d = json.loads(json.dumps(a.to_dict(), allow_nan=False))
    assert d["status"] == "success" and d["regime"] == "power" and d["exponent"] == 2
    assert (d["extra_terms"], d["dps"], d["time_limit_seconds"], d["order"]) == (3, 20, 45.0, 9)
    assert d["seconds"] > 0 and d["quadratures"] == 0
    assert d["k"] == sp.sstr(a.k) and isinstance(d["terms"][0]["coefficient"], str)


def test_default_time_limit_is_recorded_and_throw_is_checked():
    a = asymptotics(build_model("linear", 3, 4, "eps,eps,1"))
    assert a.time_limit_seconds == 60.0 and a.to_dict()["time_limit_seconds"] == 60.0
    with pytest.raises(TypeError, match="throw"):
        asymptotics(build_model("linear", 3, 4, "eps,eps,1"), throw="yes")


def test_piecewise_activation_is_expanded_one_sided():
    # Issue 10.1: used to raise "needs σ analytic at 0". With every layer at ε the
    # pre-activations have the sign of g: P(y) = ½E[(y³g·σ±(…) − g)²] on each half-line.
    a = asymptotics(build_model("elu", 3, 4, "eps,eps,eps"))
    assert a.regime == "power" and a.p == 3 and a.exact
    assert any("piecewise" in n for n in a.notes)


def test_a_sigma_without_expansion_where_a_layer_sits_is_a_clear_error():
    with pytest.raises(ExpressionError, match="fractional power|not analytic|singular"):
        asymptotics(reduced_model(sp.Max(0, X) ** sp.Rational(3, 2), 3, 4, "eps,eps,eps"))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        # issue 14.21: dps=0 used to fail with "P(y) − P(0) vanishes"
        ({"dps": 0}, ValueError, "dps must be an int from 15"),
        ({"dps": 5}, ValueError, "dps must be an int from 15"),
        ({"dps": "30"}, TypeError, "dps must be an int"),
        ({"dps": 30.0}, TypeError, "dps must be an int"),
        ({"dps": True}, TypeError, "dps must be an int"),
        ({"extra_terms": -1}, ValueError, "extra_terms"),
        ({"extra_terms": 1000}, ValueError, "extra_terms"),
        ({"time_limit_seconds": "5"}, TypeError, "time_limit_seconds must be a number"),
        ({"time_limit_seconds": 0}, ValueError, "time_limit_seconds must be a positive"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        asymptotics(build_model("tanh", 3, 4, "eps,eps,eps"), **kwargs)


@pytest.mark.parametrize("model", ["tanh", None, 3])
def test_a_model_that_is_not_a_reduced_model_is_refused(model):
    # issue 14.21: asymptotics("tanh") used to raise AttributeError
    with pytest.raises(TypeError, match=r"ReducedModel.*saddle_escape\.build_model"):
        asymptotics(model)


def _in_a_thread(func, *args, **kwargs):
    """``func(*args, **kwargs)`` in a worker thread, where SIGALRM cannot interrupt."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(func, *args, **kwargs).result(timeout=120)
    finally:
        pool.shutdown(wait=False)


def test_the_time_limit_holds_off_the_main_thread():
    # Issue 8.5: from a worker thread the limit used to be only a warning. The series of
    # this model takes about 5 s (measured 2026-12-05; the depth-6 tanh(sin(tanh)) model of
    # the first version had become fast enough, 1 s, to finish inside the limit); the limit
    # is 0.5 s (plus a child's start-up).
    model = reduced_model(sp.tanh(sp.sin(sp.tanh(sp.sin(X)))), 10, 16, ",".join(["eps"] * 10))
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a LimitNotEnforcedWarning fails the test
        with pytest.raises(TimeLimitError, match="y-series of the reduced output"):
            _in_a_thread(asymptotics, model, time_limit_seconds=0.5)
    assert time.monotonic() - start < 60


def test_a_limited_series_off_the_main_thread_gives_the_same_answer():
    model = build_model("tanh", 4, 16, "eps,eps,eps,eps")
    here = asymptotics(model)
    there = _in_a_thread(asymptotics, model, time_limit_seconds=60.0)
    there_dict, here_dict = there.to_dict(), here.to_dict()
    assert there_dict.pop("seconds") > 0 and here_dict.pop("seconds") > 0  # wall clock
    assert there_dict == here_dict


def test_the_piecewise_check_is_the_shared_one():
    # Issue 8.7: one piecewise check (taylor.has_piecewise), not a private list of heads.
    import saddle_escape.symbolic.asymptotics as module

    assert module.has_piecewise is taylor.has_piecewise


@pytest.mark.parametrize("name, offset", [("sigmoid", sp.Rational(1, 2)), ("softplus", sp.log(2))])
def test_class_d_offset_sets_p_and_k_P_by_the_conventions(name, offset):
    # 1,eps,eps,eps: the output is sqrt(N)·y·(σ(0) + O(y)) and its odd part starts at y³,
    # so P(y) − P(0) = +N σ(0)² y²/2 + O(y³) (an independent closed form): p = 2 ≠ r = 3,
    # k_P = −c_2 (conventions §4) and the printed κ = p k_P / r.
    a = asymptotics(build_model(name, 4, 16, "1,eps,eps,eps"), throw=False)
    assert a.p == 2 and a.regime == "none"
    assert sp.simplify(a.k_P + 16 * offset**2 / 2) == 0
    assert sp.simplify(a.k - sp.Rational(2, 3) * a.k_P) == 0
    record = a.to_dict()
    assert record["k_P_value"] == pytest.approx(-8 * float(offset) ** 2, rel=1e-12)
    assert any(n.startswith(f"σ(0) = {sp.sstr(offset)} ≠ 0 (class D)") for n in a.notes)


def test_class_d_note_tells_an_o1_output_layer_from_a_small_one():
    # With the output layer O(1) the manifold flow halves 𝓛(0) (mostly the offset's cost) by
    # shrinking Y_L: the note says so; with a small output layer there is no such offset.
    from saddle_escape.numeric.engine import integrate_to_escape
    from saddle_escape.numeric.escape import system_for

    small = asymptotics(build_model("sigmoid", 4, 16, "1,eps,eps,eps"), throw=False)
    note = next(n for n in small.notes if "(class D)" in n)
    assert "--biases output" in note and "shrinking Y_L" not in note
    model = build_model("sigmoid", 4, 16, "1,1,eps,1")
    big = asymptotics(model, throw=False)
    note = next(n for n in big.notes if "(class D)" in n)
    assert big.p == 1 and big.regime == "none" and "shrinking Y_L" in note
    run = integrate_to_escape(system_for(model, 0.01, "manifold"))
    assert run.status.value == "escaped" and run.tau < 1 and run.state[-1] < 0.7


def test_class_d_first_layer_bottleneck_is_fast_and_finite():
    # Nested exact constants σ(σ(…)) after a first-layer bottleneck used to take minutes
    # to expand; they are evaluated to dps digits now, and the work is time-limited.
    a = asymptotics(build_model("sigmoid", 4, 16, "eps,1,1,1"), throw=False, time_limit_seconds=30)
    assert a.p == 1 and a.regime == "finite" and not a.exact
    assert a.k_P == a.k  # p = r = 1


def test_k_P_is_k_when_p_equals_r():
    a = asymptotics(build_model("tanh", 4, 16, "1,eps,eps,eps"))
    assert a.p == a.model.r == 3 and sp.simplify(a.k_P - a.k) == 0
    assert not any("class D" in n for n in a.notes)
