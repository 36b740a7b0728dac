"""Canonical problems with closed-form answers, shared by tests and benchmarks."""

import sympy as sp

pi = sp.pi

#: name -> (class, q, h_σ, alpha, sigma(0), smoothness): the registry, by hand from DESIGN §2.
REGISTRY_EXPECTED = {
    "identity": ("A", None, None, 1, 0, "analytic"),
    "relu": ("A", None, None, 1, 0, "piecewise"),
    "leaky_relu": ("A", None, None, 1, 0, "piecewise"),
    "hardtanh": ("A", None, None, 1, 0, "analytic"),
    "abs": ("A", None, None, 1, 0, "piecewise"),
    "tanh": ("B", 3, sp.Rational(-2, 3), 1, 0, "analytic"),
    "sin": ("B", 3, sp.Rational(-1, 3), 1, 0, "analytic"),
    "erf": ("B", 3, -4 / (3 * sp.sqrt(pi)), 2 / sp.sqrt(pi), 0, "analytic"),
    "atan": ("B", 3, sp.Rational(-2, 3), 1, 0, "analytic"),
    "softsign": ("C", 2, -1, 1, 0, "piecewise"),
    "gelu": ("C", 2, 1 / sp.sqrt(2 * pi), sp.Rational(1, 2), 0, "analytic"),
    "gelu_tanh": ("C", 2, 1 / sp.sqrt(2 * pi), sp.Rational(1, 2), 0, "analytic"),
    "silu": ("C", 2, sp.Rational(1, 4), sp.Rational(1, 2), 0, "analytic"),
    "mish": ("C", 2, sp.Rational(8, 25), sp.Rational(3, 5), 0, "analytic"),
    "elu": ("C", 2, sp.Rational(1, 2), 1, 0, "piecewise"),
    "selu": (
        "C",
        2,
        sp.Rational("1.0507009873554804934193349852946")
        * sp.Rational("1.6732632423543772848170429916717")
        / 2,
        sp.Rational("1.0507009873554804934193349852946"),
        0,
        "piecewise",
    ),
    "celu": ("C", 2, sp.Rational(1, 2), 1, 0, "piecewise"),
    "softplus": ("D", 0, -sp.log(2), sp.Rational(1, 2), sp.log(2), "analytic"),
    "sigmoid": ("D", 0, sp.Rational(-1, 2), sp.Rational(1, 4), sp.Rational(1, 2), "analytic"),
    "logsigmoid": ("D", 0, sp.log(2), sp.Rational(1, 2), -sp.log(2), "analytic"),
    "hardswish": ("C", 2, sp.Rational(1, 6), sp.Rational(1, 2), 0, "analytic"),
    "hardsigmoid": ("D", 0, sp.Rational(-1, 2), sp.Rational(1, 6), sp.Rational(1, 2), "analytic"),
    "tanhshrink": ("B", 3, sp.Rational(2, 3), 0, 0, "analytic"),
    "quadratic": ("C", 2, 1, 0, 0, "analytic"),
}


def linear_escape_time(eps, mp):
    """DESIGN §3 exact check case: linear σ, four layers at ε, s = 1, escape at ½𝓛(0)."""
    eps = mp.mpf(eps)
    y_star_sq = mp.sqrt(1 - (1 - eps**4) / mp.sqrt(2))

    def antiderivative(y_sq):
        return -1 / (2 * y_sq) + mp.log((1 + y_sq) / (1 - y_sq)) / 4

    return antiderivative(y_star_sq) - antiderivative(eps**2)
