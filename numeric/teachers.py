r"""Population tasks: Gaussian inputs, feature teachers, and the drive they present.

A :class:`GaussianTask` is the population :math:`x\sim N(0,\Sigma)` with either a scalar
feature teacher

.. math:: y = \sum_k \beta_k f_k(v_k^\top x)

or a linear vector teacher :math:`y = A x` (:math:`A \in \mathbb R^{m\times d}`). Near the
origin the network is linear to leading order, so the data set its first escape's clock
through the correlation :math:`c = \mathbb E[y\,x]` alone (DESIGN §5). By Stein's lemma
(:math:`\mathbb E[g\,h(g)] = \mathbb E[h'(g)]` for :math:`g\sim N(0,1)`), with
:math:`s_k^2 = v_k^\top\Sigma v_k`,

.. math:: c = \sum_k \beta_k\,\mu_k\,\Sigma v_k, \qquad
          \mu_k = \mathbb E[f_k'(v_k^\top x)] = \mathbb E[g\,f_k(s_k g)]/s_k,

and :math:`\Gamma = \lVert c\rVert`, :math:`\hat c = c/\Gamma`. For a vector teacher
:math:`C = \mathbb E[y\,x^\top] = A\Sigma`; each singular value of C has its own escape
(the deep-linear staircase of Saxe et al. 2014, :func:`saxe_escape_time`).

The slopes :math:`\mu_k` are exact (SymPy, Gaussian moments
:math:`\mathbb E g^{2j} = (2j-1)!!`, on the exact binary values of Σ and v) for a
polynomial :math:`f_k`, and otherwise computed by quadrature split at σ's breakpoints
(tanh–sinh at ``dps`` and ``dps`` + 15 digits with its error estimate, and
Gauss–Legendre) with the digits all agree on recorded; fewer than ``digits`` raises
:class:`~saddle_escape.symbolic.outcomes.ConvergenceError`.

The module also holds the experiments built on these tasks: per-mode escapes of vector
outputs (:func:`mode_escape_times`) and the feature overlaps of a scalar output
(:func:`overlap_trajectory`), both measured on the full network with the one escape engine.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from saddle_escape.numeric.engine import Budget, EscapeEvent, Tolerances, integrate_to_escape
from saddle_escape.numeric.flow import unflatten
from saddle_escape.numeric.functions import CompiledActivation, compile_activation, get_loss
from saddle_escape.numeric.gaussian import MAX_NODES_FLOAT64, half_range_rule
from saddle_escape.numeric.network import Dataset, Network
from saddle_escape.numeric.systems import FullNetworkSystem
from saddle_escape.symbolic.outcomes import ConvergenceError, Status
from saddle_escape.symbolic.parsing import X

__all__ = [
    "FeatureSlope",
    "GaussianTask",
    "MAX_POPULATION_POINTS",
    "network_outputs",
    "saxe_escape_time",
    "saxe_leading_time",
    "saxe_network",
    "ModeEscapes",
    "mode_escape_times",
    "OverlapTrajectory",
    "overlap_trajectory",
]

#: Largest number of points of a population quadrature data set (:meth:`GaussianTask.population`).
MAX_POPULATION_POINTS = 200_000
#: Largest input dimension a population quadrature (a product rule) is offered for.
MAX_POPULATION_DIM = 3
#: Most features of a teacher and most samples of a data set drawn at once.
MAX_FEATURES, MAX_SAMPLES = 64, 10_000_000
#: Relative asymmetry of Σ accepted as rounding.
_SYMMETRY_RTOL = 1e-12


def _real_array(value, name: str, ndim: int) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(float)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or ±inf")
    return array


def _covariance(value) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim == 1:  # a diagonal
        array = np.diag(_real_array(array, "covariance", 1))
    sigma = _real_array(array, "covariance", 2)
    d = sigma.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(f"covariance must be square (d × d), got shape {sigma.shape}")
    scale = float(np.abs(sigma).max())
    if float(np.abs(sigma - sigma.T).max()) > _SYMMETRY_RTOL * scale:
        raise ValueError(
            "covariance must be symmetric, got entries differing by "
            f"{float(np.abs(sigma - sigma.T).max()):.3g}; pass (Σ + Σᵀ)/2"
        )
    sigma = (sigma + sigma.T) / 2
    eigenvalues = np.linalg.eigvalsh(sigma)
    if not eigenvalues.min() > 1e-12 * max(float(eigenvalues.max()), 0.0):
        raise ValueError(
            f"covariance must be positive definite, got smallest eigenvalue "
            f"{float(eigenvalues.min()):.6g}; a degenerate input direction carries no data "
            "(drop it, or add a small multiple of the identity)"
        )
    return sigma


def _exact(value: float) -> sp.Rational:
    """The exact binary value of a float, as a SymPy Rational."""
    return sp.Rational(float(value))


def _gaussian_moment(j: int) -> sp.Integer:
    """E[g^j] for g ~ N(0, 1): (j − 1)!! for even j, 0 for odd j."""
    return sp.Integer(0) if j % 2 else sp.factorial2(j - 1) if j else sp.Integer(1)


@dataclass(frozen=True)
class FeatureSlope:
    r"""The Stein slope :math:`\mu_k = \mathbb E[f_k'(v_k^\top x)]` of one feature.

    Attributes
    ----------
    index : int
        The feature's position (0-based).
    beta : float
    activation : str
        The feature's label.
    variance : float
        :math:`s_k^2 = v_k^\top\Sigma v_k`, the variance of the feature's argument.
    mu : float
    exact : str or None
        The exact value (polynomial features), as SymPy prints it.
    digits : int
        Agreeing digits (a lower bound); 15 for an exact value rounded to float64.
    method : str
        ``"exact"`` (Gaussian moments) or ``"tanh-sinh"`` (mpmath quadrature).
    """

    index: int
    beta: float
    activation: str
    variance: float
    mu: float
    exact: str | None
    digits: int
    method: str

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "beta": self.beta,
            "activation": self.activation,
            "variance": self.variance,
            "mu": self.mu,
            "exact": self.exact,
            "digits": self.digits,
            "method": self.method,
        }


def _breakpoints(expr: sp.Expr) -> list[float]:
    """Real points where a piecewise σ changes formula (polynomial conditions in x)."""
    if expr.has(sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside):
        expr = expr.rewrite(sp.Piecewise)
    points: set[float] = set()
    for piecewise in expr.atoms(sp.Piecewise):
        for _, condition in piecewise.args:
            for rel in condition.atoms(sp.core.relational.Relational):
                difference = sp.expand(rel.lhs - rel.rhs)
                if not difference.is_polynomial(X) or difference.free_symbols != {X}:
                    continue
                poly = sp.Poly(difference, X)
                if 1 <= poly.degree() <= 16:
                    roots = np.roots([float(c) for c in poly.all_coeffs()])
                    points.update(float(r.real) for r in roots if abs(r.imag) < 1e-12)
    return sorted(points)


def _slope_exact(expression: sp.Expr, variance: sp.Rational) -> sp.Expr | None:
    """μ = E[f'(s g)] exactly for a polynomial f (None otherwise)."""
    if not expression.is_polynomial(X):
        return None
    derivative = sp.Poly(sp.diff(expression, X), X)
    total = sp.Integer(0)
    for (j,), coefficient in derivative.terms():
        if j % 2 == 0:  # s^j E[g^j] with s^j = (s²)^(j/2): rational
            total += coefficient * variance ** (j // 2) * _gaussian_moment(j)
    return total


def _slope_quadrature(
    activation: CompiledActivation, scale: float, dps: int, digits: int, label: str
) -> tuple[float, int]:
    r"""μ = E[g f(s g)]/s by quadrature, split at 0 and at σ's breakpoints; agreeing digits.

    Three estimates: tanh–sinh at ``dps`` and at ``dps`` + 15 working digits (with its own
    error estimate) and Gauss–Legendre at ``dps``. The digits are those all agree on,
    bounded by the error estimate: a kink that no breakpoint marks converges slowly for
    both rules, whatever the precision, and shows up here.
    """
    cuts = sorted({0.0, *(p / scale for p in _breakpoints(activation.expression))})

    def integrate(precision: int, method: str):
        with mpmath.workdps(precision):
            s = mpmath.mpf(scale)
            points = [-mpmath.inf, *(mpmath.mpf(c) for c in cuts), mpmath.inf]
            value, error = mpmath.quad(
                lambda g: g * activation.sigma(s * g) * mpmath.npdf(g),
                points,
                method=method,
                error=True,
            )
            return value / s, error / s

    low, _ = integrate(dps, "tanh-sinh")
    high, error = integrate(dps + 15, "tanh-sinh")
    other, _ = integrate(dps, "gauss-legendre")
    with mpmath.workdps(dps + 15):
        spread = max(abs(high - low), abs(high - other), abs(error))
        size = max(abs(high), mpmath.mpf(10) ** (-dps))
        agree = dps if spread == 0 else int(-mpmath.log10(spread / size))
    agree = max(0, min(agree, dps))
    if agree < digits:
        raise ConvergenceError(
            f"feature {label!r}: the slope μ = E[f'(v·x)] is confirmed to only {agree} digits "
            f"(tanh–sinh at {dps} and {dps + 15} working digits, its error estimate, and "
            f"Gauss–Legendre; needed {digits}): the feature has a kink the quadrature does "
            "not split at; ask for fewer digits or write the kink as a piecewise condition"
        )
    return float(high), min(agree, 15)


def _parse_feature(entry, index: int, d: int) -> tuple[float, CompiledActivation, np.ndarray]:
    if not isinstance(entry, (tuple, list)) or len(entry) != 3:
        raise ValueError(
            f"features[{index}] must be a triple (beta, activation, direction), got {entry!r}"
        )
    beta, activation, direction = entry
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.integer, np.floating)):
        raise ValueError(f"features[{index}]: beta must be a real number, got {beta!r}")
    if not math.isfinite(float(beta)):
        raise ValueError(f"features[{index}]: beta must be finite, got {beta!r}")
    v = _real_array(direction, f"features[{index}] direction", 1)
    if v.shape != (d,):
        raise ValueError(
            f"features[{index}] direction has {v.shape[0]} entries but the covariance is {d} × {d}"
        )
    if not np.any(v):
        raise ValueError(f"features[{index}] direction is zero: the feature would be constant")
    return float(beta), compile_activation(activation), v


@dataclass(frozen=True, eq=False)
class GaussianTask:
    r"""Population :math:`x \sim N(0, \Sigma)` with a feature teacher or a linear vector teacher.

    Parameters
    ----------
    covariance : array (d, d) or (d,)
        Σ, symmetric positive definite (a vector is its diagonal).
    features : sequence of (beta, activation, direction), optional
        The scalar teacher :math:`y = \sum_k \beta_k f_k(v_k^\top x)`; ``activation`` is a
        registry name or an expression in x (through the safe parser), ``direction`` a
        d-vector.
    teacher : array (m, d), optional
        The linear vector teacher :math:`y = A x` (exactly one of ``features`` and
        ``teacher``).
    dps : int
        Working digits of the quadrature of non-polynomial slopes.
    digits : int
        Digits the quadrature must confirm (else ConvergenceError).

    Raises
    ------
    ValueError
        For a covariance that is not symmetric positive definite, features that are not
        triples of a finite beta, an admissible activation and a non-zero d-vector, or a
        teacher matrix of the wrong shape.

    Examples
    --------
    The anisotropic linear teacher of the issue: Σ = diag(4, 1), y = x₁, so c = Σe₁ = 4e₁.

    >>> task = GaussianTask([4.0, 1.0], features=[(1.0, "linear", [1.0, 0.0])])
    >>> task.correlation().tolist(), task.gamma()
    ([4.0, 0.0], 4.0)
    >>> cubic = GaussianTask(np.eye(2), features=[(1.0, "x**3", [1.0, 1.0])])
    >>> cubic.slopes()[0].exact  # E[3 (v·x)²] = 3 vᵀΣv = 6
    '6'
    """

    covariance: np.ndarray
    features: Any = ()  # a sequence of (β, f, v); stored as a tuple
    teacher: np.ndarray | None = None
    dps: int = 30
    digits: int = 12
    _compiled: tuple = field(default=(), init=False, repr=False)

    def __post_init__(self):
        sigma = _covariance(self.covariance)
        object.__setattr__(self, "covariance", sigma)
        d = sigma.shape[0]
        for name in ("dps", "digits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 200:
                raise ValueError(f"{name} must be an int from 1 to 200, got {value!r}")
        if self.digits > self.dps:
            raise ValueError(f"digits ({self.digits}) cannot exceed dps ({self.dps})")
        has_features = self.features is not None and len(self.features) > 0
        if has_features == (self.teacher is not None):
            raise ValueError("give exactly one of features (scalar output) and teacher (y = A x)")
        if self.teacher is not None:
            teacher = _real_array(self.teacher, "teacher", 2)
            if teacher.shape[1] != d:
                raise ValueError(
                    f"teacher has shape {teacher.shape} but the covariance is {d} × {d}: "
                    "give an (m, d) matrix"
                )
            if not np.any(teacher):
                raise ValueError("teacher is zero: Γ = 0, no first-order drive")
            object.__setattr__(self, "teacher", teacher)
            object.__setattr__(self, "features", ())
            return
        if len(self.features) > MAX_FEATURES:
            raise ValueError(f"at most {MAX_FEATURES} features, got {len(self.features)}")
        compiled = tuple(_parse_feature(f, i, d) for i, f in enumerate(self.features))
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(
            self,
            "features",
            tuple((b, a.label, tuple(v.tolist())) for b, a, v in compiled),
        )

    # -- shape ------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Input dimension d."""
        return self.covariance.shape[0]

    @property
    def outputs(self) -> int:
        """Output dimension m (1 for a feature teacher)."""
        return 1 if self.teacher is None else self.teacher.shape[0]

    # -- the drive ----------------------------------------------------------------------

    @functools.cached_property
    def _slopes(self) -> tuple[FeatureSlope, ...]:
        slopes = []
        for index, (beta, activation, v) in enumerate(self._compiled):
            variance_exact = sum(
                (_exact(v[i]) * _exact(self.covariance[i, j]) * _exact(v[j]))
                for i in range(self.dim)
                for j in range(self.dim)
            )
            variance = float(v @ self.covariance @ v)
            exact = _slope_exact(activation.expression, variance_exact)
            if exact is not None:
                slopes.append(
                    FeatureSlope(
                        index,
                        beta,
                        activation.label,
                        variance,
                        float(exact),
                        str(exact),
                        15,
                        "exact",
                    )
                )
                continue
            mu, digits = _slope_quadrature(
                activation, math.sqrt(variance), self.dps, self.digits, activation.label
            )
            slopes.append(
                FeatureSlope(index, beta, activation.label, variance, mu, None, digits, "tanh-sinh")
            )
        return tuple(slopes)

    def slopes(self) -> tuple[FeatureSlope, ...]:
        r"""The Stein slopes :math:`\mu_k` of the features (empty for a linear vector teacher).

        Examples
        --------
        >>> task = GaussianTask(np.eye(1), features=[(1.0, "tanh", [1.0])])
        >>> slope = task.slopes()[0]
        >>> round(slope.mu, 12), slope.method, slope.digits
        (0.605705509602, 'tanh-sinh', 15)
        """
        return self._slopes

    def correlation(self) -> np.ndarray:
        r"""The drive :math:`c = \mathbb E[y\,x] = \sum_k \beta_k\mu_k\Sigma v_k` (shape (d,)),
        or :math:`C = \mathbb E[y\,x^\top] = A\Sigma` (shape (m, d)) for a vector teacher.

        Examples
        --------
        Two equal tanh features at ±60° from e₁ add as vectors: c = 2μ cos 60° e₁ = μ e₁.

        >>> a = np.pi / 3
        >>> task = GaussianTask(np.eye(2), features=[
        ...     (1.0, "tanh", [np.cos(a), np.sin(a)]), (1.0, "tanh", [np.cos(a), -np.sin(a)])])
        >>> np.round(task.correlation(), 12).tolist()
        [0.605705509602, 0.0]
        """
        if self.teacher is not None:
            return self.teacher @ self.covariance
        c = np.zeros(self.dim)
        for slope, (_, _, v) in zip(self.slopes(), self._compiled, strict=True):
            c += slope.beta * slope.mu * (self.covariance @ v)
        return c

    def singular_values(self) -> np.ndarray:
        """Singular values of C, largest first (one value, Γ, for a scalar output).

        Examples
        --------
        >>> GaussianTask(np.eye(2), teacher=[[3.0, 0.0], [0.0, 1.0]]).singular_values().tolist()
        [3.0, 1.0]
        """
        return np.linalg.svd(np.atleast_2d(self.correlation()), compute_uv=False)

    def gamma(self) -> float:
        r"""Γ = ‖E[y x]‖; for vector outputs the largest singular value of C (the first
        escape's clock).

        Raises
        ------
        ValueError
            When Γ = 0: no first-order drive.

        Examples
        --------
        >>> GaussianTask(np.diag([4.0, 1.0]), features=[(3.0, "linear", [0.0, 1.0])]).gamma()
        3.0
        """
        gamma = float(self.singular_values()[0])
        if gamma == 0:
            raise ValueError(
                "Γ = ‖E[y x]‖ = 0: no first-order drive, so the escape happens at higher order "
                "on another clock"
            )
        return gamma

    def direction(self) -> np.ndarray:
        r""":math:`\hat c = c/\Gamma`; for vector outputs the top right singular vector of C
        (sign: its largest entry in magnitude is positive).

        Examples
        --------
        >>> GaussianTask(np.eye(2), features=[(2.0, "linear", [3.0, 4.0])]).direction().tolist()
        [0.6, 0.8]
        """
        c = self.correlation()
        if c.ndim == 1:
            return c / self.gamma()
        self.gamma()  # refuses C = 0
        v = np.linalg.svd(c)[2][0]
        return v if v[np.argmax(np.abs(v))] > 0 else -v

    def overlap_ratios(self, kind: str = "function") -> np.ndarray:
        r"""Predicted ratios of the overlaps of the network function with the features.

        Pushed along one direction, the network's first layer grows as a rank-one matrix
        along ĉ, so :math:`f(x) \approx h_t(\hat c^\top x)`; with
        :math:`z = \hat c^\top x`, :math:`\mathbb E[v_k^\top x\mid z] =
        (\hat c^\top\Sigma v_k/\hat c^\top\Sigma\hat c)\,z`. Hence

        * ``"direction"``: :math:`\mathbb E[f(x)\,v_k^\top x] \propto \hat c^\top\Sigma v_k`,
          for any :math:`h_t`, through the escape;
        * ``"function"``: :math:`\mathbb E[f(x)\,f_k(v_k^\top x)] \propto
          \mu_k\,\hat c^\top\Sigma v_k` (Stein) while :math:`h_t` is linear (before the
          escape).

        Either way every overlap grows through one shared amplitude, and the ratios (to
        feature 0's) are fixed by the target and Σ, not by the initialization; nothing is
        fitted.

        Raises
        ------
        ValueError
            For a vector teacher, an unknown ``kind``, or when feature 0 has no overlap.

        Examples
        --------
        >>> task = GaussianTask(np.eye(2), features=[
        ...     (1.0, "linear", [1.0, 0.0]), (0.5, "x**3", [0.0, 1.0])])
        >>> task.correlation().tolist()  # μ = (1, 3): c = (1, 1.5)
        [1.0, 1.5]
        >>> task.overlap_ratios("direction").tolist(), task.overlap_ratios().tolist()
        ([1.0, 1.5], [1.0, 4.5])
        """
        if self.teacher is not None:
            raise ValueError("overlap ratios are for a scalar feature teacher")
        if kind not in ("function", "direction"):
            raise ValueError(f"kind must be 'function' or 'direction', got {kind!r}")
        direction = self.direction()
        raw = np.array(
            [
                (slope.mu if kind == "function" else 1.0) * float(direction @ self.covariance @ v)
                for slope, (_, _, v) in zip(self.slopes(), self._compiled, strict=True)
            ]
        )
        if raw[0] == 0:
            raise ValueError("feature 0 has no overlap with ĉ; reorder the features")
        return raw / raw[0]

    # -- samples -----------------------------------------------------------------------

    def targets(self, inputs) -> np.ndarray:
        """Teacher outputs ``(P, m)`` for inputs ``(P, d)``.

        Examples
        --------
        >>> GaussianTask(np.eye(1), features=[(2.0, "x**3", [1.0])]).targets([[2.0]]).tolist()
        [[16.0]]
        """
        x = _real_array(inputs, "inputs", 2)
        if x.shape[1] != self.dim:
            raise ValueError(f"inputs must have {self.dim} columns, got shape {x.shape}")
        if self.teacher is not None:
            return x @ self.teacher.T
        y = np.zeros(x.shape[0])
        for beta, activation, v in self._compiled:
            y += beta * activation.sigma(x @ v)
        if not np.all(np.isfinite(y)):
            raise ValueError("the teacher overflowed on these inputs")
        return y[:, None]

    def _cholesky(self) -> np.ndarray:
        return np.linalg.cholesky(self.covariance)

    def dataset(self, samples: int, *, seed: int) -> Dataset:
        """A seeded sample: ``x = L z`` with ``z ~ N(0, I)``, ``Σ = L Lᵀ``; equal weights.

        Examples
        --------
        >>> task = GaussianTask([4.0, 1.0], features=[(1.0, "linear", [1.0, 0.0])])
        >>> data = task.dataset(20000, seed=0)
        >>> bool(abs(float((data.weights * data.inputs[:, 0] ** 2).sum()) - 4) < 0.2)
        True
        """
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)):
            raise ValueError(f"samples must be an int, got {samples!r}")
        if not 1 <= samples <= MAX_SAMPLES:
            raise ValueError(f"samples must be from 1 to {MAX_SAMPLES}, got {samples}")
        z = np.random.default_rng(seed).normal(size=(int(samples), self.dim))
        x = z @ self._cholesky().T
        return Dataset(x, self.targets(x))

    def population(self, nodes: int = 16) -> Dataset:
        r"""The population as a product Gauss rule (d ≤ 3): ``(2·nodes)^d`` weighted points.

        Each coordinate of ``z`` takes the half-range rule's nodes ±g_i
        (:func:`~saddle_escape.numeric.gaussian.half_range_rule`, exact for polynomials of
        degree 4·nodes − 1 in each coordinate); ``x = L z``. Moments of the data set are then
        the population's to quadrature accuracy: Σ exactly, Γ̂ = Γ for a linear teacher.

        Raises
        ------
        ValueError
            For d above 3 or more than :data:`MAX_POPULATION_POINTS` points.

        Examples
        --------
        >>> task = GaussianTask(np.diag([4.0, 1.0]), features=[(1.0, "linear", [1.0, 0.0])])
        >>> data = task.population(2)
        >>> data.size, np.round((data.weights[:, None] * data.inputs).T @ data.inputs, 12).tolist()
        (16, [[4.0, 0.0], [0.0, 1.0]])
        """
        if self.dim > MAX_POPULATION_DIM:
            raise ValueError(
                f"a product quadrature is offered up to d = {MAX_POPULATION_DIM}, got d = "
                f"{self.dim}; use dataset(samples, seed=...)"
            )
        if isinstance(nodes, bool) or not isinstance(nodes, int):
            raise ValueError(f"nodes must be an int, got {nodes!r}")
        if not 1 <= nodes <= MAX_NODES_FLOAT64 or (2 * nodes) ** self.dim > MAX_POPULATION_POINTS:
            raise ValueError(
                f"nodes = {nodes} gives {(2 * nodes) ** self.dim} points in d = {self.dim}; "
                f"at most {MAX_POPULATION_POINTS} points (and 1 ≤ nodes ≤ {MAX_NODES_FLOAT64})"
            )
        g, w = half_range_rule(nodes)
        points, weights = np.concatenate([g, -g]), np.concatenate([w, w])
        grids = np.meshgrid(*([points] * self.dim), indexing="ij")
        wgrids = np.meshgrid(*([weights] * self.dim), indexing="ij")
        z = np.stack([grid.ravel() for grid in grids], axis=1)
        weight = np.prod(np.stack([grid.ravel() for grid in wgrids], axis=1), axis=1)
        x = z @ self._cholesky().T
        return Dataset(x, self.targets(x), weight / weight.sum())

    def to_dict(self) -> dict:
        """JSON-ready description with the drive.

        Examples
        --------
        >>> GaussianTask([1.0], features=[(1.0, "linear", [1.0])]).to_dict()["gamma"]
        1.0
        """
        correlation = self.correlation()
        return {
            "covariance": self.covariance.tolist(),
            "features": [
                {"beta": b, "activation": label, "direction": list(v)}
                for b, label, v in self.features
            ],
            "teacher": None if self.teacher is None else self.teacher.tolist(),
            "correlation": correlation.tolist(),
            "gamma": float(self.singular_values()[0]),
            "direction": self.direction().tolist() if np.any(correlation) else None,
            "singular_values": self.singular_values().tolist(),
            "slopes": [s.to_dict() for s in self.slopes()],
        }


# -- deep-linear staircase (Saxe et al. 2014) -------------------------------------------


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def _depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 2:
        raise ValueError(f"depth must be an int ≥ 2, got {depth!r}")
    return int(depth)


def saxe_escape_time(strength, eps, depth, *, fraction: float = 0.5, dps: int = 30) -> float:
    r"""Time for one mode of a balanced deep linear network to reach ``fraction`` of its target.

    With whitened inputs (:math:`\mathbb E[xx^\top] = I`) and a balanced, decoupled start
    (every layer's component in mode k equal to ε; Saxe, McClelland & Ganguli 2014), each
    mode evolves alone: the layer component a obeys :math:`\dot a = a^{L-1}(s - a^L)` and the
    mode strength is :math:`u = a^L`. With :math:`x = u/s` and :math:`q = 2/L - 1`,

    .. math:: t = \frac{s^{2/L-2}}{L}\int_{x_0}^{x_\star}\frac{x^{q-1}}{1-x}\,dx
              = \frac{s^{2/L-2}}{L}\Big[\frac{x^q}{q}\,{}_2F_1(1, q; q+1; x)\Big]_{x_0}^{x_\star},

    :math:`x_0 = \varepsilon^L/s`, :math:`x_\star` = ``fraction``; for L = 2,
    :math:`t = \frac{1}{2s}\ln\frac{x_\star(1-x_0)}{x_0(1-x_\star)}` (Saxe's sigmoid). For
    L ≥ 3 the leading term is :math:`\varepsilon^{-(L-2)}/((L-2)s)` (:func:`saxe_leading_time`,
    the critical-depth law with k = s).

    Parameters
    ----------
    strength : float
        The mode's singular value s of :math:`C = \mathbb E[y x^\top]`.
    eps : float
        Every layer's initial component (the mode strength starts at ε^L < fraction·s).
    depth : int
        L ≥ 2.
    fraction : float
        In (0, 1).

    Examples
    --------
    The DESIGN §3 check case has L = 4, s = 1 at the loss threshold; here the mode
    threshold: u = s/2.

    >>> round(saxe_escape_time(1.0, 0.1, 2), 10) == round(0.5 * math.log(0.99 / 0.01), 10)
    True
    >>> t = saxe_escape_time(2.0, 1e-3, 3)
    >>> round(t * 1e-3 * 2.0, 4)  # → 1/(L − 2) = 1 as ε → 0
    0.9993
    """
    s, e = _positive("strength", strength), _positive("eps", eps)
    L = _depth(depth)
    f = _positive("fraction", fraction)
    if f >= 1:
        raise ValueError(f"fraction must be below 1, got {f!r}")
    with mpmath.workdps(dps):
        s_m, f_m = mpmath.mpf(s), mpmath.mpf(f)
        x0 = mpmath.mpf(e) ** L / s_m
        if not x0 < f_m:
            raise ValueError(
                f"the mode starts at ε^L = {e**L:.6g}, already at or above {f:g}·s = {f * s:.6g}"
            )
        if L == 2:
            return float(mpmath.log(f_m * (1 - x0) / (x0 * (1 - f_m))) / (2 * s_m))
        q = mpmath.mpf(2) / L - 1

        def antiderivative(x):
            return x**q / q * mpmath.hyp2f1(1, q, q + 1, x)

        prefactor = s_m ** (mpmath.mpf(2) / L - 2) / L
        return float(prefactor * (antiderivative(f_m) - antiderivative(x0)))


def saxe_leading_time(strength, eps, depth) -> float:
    r"""The leading singular term :math:`\varepsilon^{-(L-2)}/((L-2)s)` (L ≥ 3), or
    :math:`\ln(1/\varepsilon^2)/(2s)` (L = 2), of :func:`saxe_escape_time`.

    Examples
    --------
    >>> saxe_leading_time(2.0, 0.01, 4)
    2500.0
    """
    s, e = _positive("strength", strength), _positive("eps", eps)
    L = _depth(depth)
    if L == 2:
        return math.log(1 / e**2) / (2 * s)
    return e ** (-(L - 2)) / ((L - 2) * s)


def saxe_network(correlation, depth: int, width: int, eps: float) -> Network:
    r"""The balanced, decoupled deep linear start aligned with the SVD of C.

    With :math:`C = U S V^\top` (rank ρ) and :math:`O` the first ρ columns of the width-N
    identity: :math:`W_1 = \varepsilon\,O V_\rho^\top`, :math:`W_l = \varepsilon\,O O^\top`,
    :math:`W_L = \varepsilon\,U_\rho O^\top`; every mode starts at strength :math:`\varepsilon^L`,
    each layer's component ε. Gradient flow keeps this structure (whitened inputs).

    Examples
    --------
    >>> net = saxe_network(np.diag([3.0, 1.0]), 3, 4, 0.1)
    >>> total = net.weights[2] @ net.weights[1] @ net.weights[0]
    >>> np.round(total, 12).tolist()
    [[0.001, 0.0], [0.0, 0.001]]
    """
    C = _real_array(correlation, "correlation", 2)
    L = _depth(depth)
    e = _positive("eps", eps)
    U, S, Vt = np.linalg.svd(C, full_matrices=False)
    rank = int((S > S[0] * 1e-12).sum()) if S[0] > 0 else 0
    if rank == 0:
        raise ValueError("C = 0: no first-order drive")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < rank:
        raise ValueError(f"width must be an int ≥ rank(C) = {rank}, got {width!r}")
    O = np.eye(int(width))[:, :rank]
    weights = [e * O @ Vt[:rank]]
    weights += [e * O @ O.T for _ in range(L - 2)]
    weights.append(e * U[:, :rank] @ O.T)
    return Network(tuple(weights))


def network_outputs(network: Network, inputs: np.ndarray, activation: CompiledActivation):
    """The network function f on ``inputs`` (P, d) → (P, m), float64.

    Examples
    --------
    >>> net = Network((np.array([[2.0]]), np.array([[3.0]])))
    >>> network_outputs(net, np.array([[1.0]]), compile_activation("linear")).tolist()
    [[6.0]]
    """
    a = np.asarray(inputs, dtype=float)
    for l, w in enumerate(network.weights):
        z = a @ w.T
        if network.biases is not None:
            z = z + network.biases[l]
        a = activation.sigma(z) if l < network.depth - 1 else z
    return a


class _ModeSystem(FullNetworkSystem):
    """The full network whose overlap measure is its slowest mode's progress."""

    name = "modes"

    def __init__(self, network, data, activation, loss):
        super().__init__(network, data, activation, loss)
        U, S, Vt = np.linalg.svd(self.drive(), full_matrices=False)
        keep = S > S[0] * 1e-9
        self.left, self.values, self.right = U[:, keep], S[keep], Vt[keep]

    def strengths(self, state) -> np.ndarray:
        """u_kᵀ E[f xᵀ] v_k for every mode k."""
        net = unflatten(state, self.network)
        x = np.asarray(self.data.inputs, dtype=float)
        f = network_outputs(net, x, self.activation)
        moment = (f * np.asarray(self.data.weights, dtype=float)[:, None]).T @ x
        return np.einsum("ik,ij,kj->k", self.left, moment, self.right)

    def progress_target(self) -> float:
        return 1.0

    def progress(self, state) -> float:
        return float((self.strengths(state) / self.values).min())


@dataclass(frozen=True)
class ModeEscapes:
    r"""Per-mode escapes of a network with vector outputs.

    Attributes
    ----------
    singular_values : numpy.ndarray
        :math:`s_k` of :math:`C = \mathbb E[y x^\top]` over the data, largest first.
    times : tuple of (float or None)
        Mode k's escape: the first t with :math:`u_k^\top\mathbb E[f x^\top]v_k \ge`
        ``fraction``·s_k (None if the run ended before).
    fraction : float
    status : Status
    message : str
    evaluations : int
    trajectory_times : numpy.ndarray
    strengths : numpy.ndarray
        (T, K) mode strengths on ``trajectory_times``.
    loss : numpy.ndarray
        The loss on ``trajectory_times``.
    """

    singular_values: np.ndarray
    times: tuple
    fraction: float
    status: Status
    message: str
    evaluations: int
    trajectory_times: np.ndarray = field(repr=False)
    strengths: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "singular_values": self.singular_values.tolist(),
            "times": list(self.times),
            "fraction": self.fraction,
            "status": self.status.value,
            "message": self.message,
            "evaluations": self.evaluations,
            "trajectory_times": self.trajectory_times.tolist(),
            "strengths": self.strengths.tolist(),
            "loss": self.loss.tolist(),
        }


def _dense_states(run, start: np.ndarray, points: int):
    """Times and states on a grid over the recorded windows, from the start."""
    times, states = [0.0], [start]
    for t0, t1, solution in run.segments:
        grid = np.linspace(t0, t1, max(points // max(len(run.segments), 1), 4) + 1)[1:]
        times += list(grid)
        states += [solution(t) for t in grid]
    return np.array(times), states


def _crossing(run, value, level: float) -> float | None:
    """First time ``value(state(t))`` reaches ``level`` on the dense windows (bisection)."""
    for t0, t1, solution in run.segments:
        grid = np.linspace(t0, t1, 65)
        values = [value(solution(t)) for t in grid]
        for a, b, va, vb in zip(grid, grid[1:], values, values[1:], strict=False):
            if va < level <= vb:
                for _ in range(80):
                    mid = (a + b) / 2
                    if value(solution(mid)) < level:
                        a = mid
                    else:
                        b = mid
                return float(b)
    return None


def mode_escape_times(
    network: Network,
    data: Dataset,
    activation="linear",
    *,
    fraction: float = 0.5,
    rtol: float = 1e-9,
    max_evaluations: int = 200_000,
    t_max: float = 1e9,
    points: int = 200,
) -> ModeEscapes:
    r"""Integrate the full flow until every mode of :math:`C = \mathbb E[y x^\top]` has escaped.

    Mode k's strength is :math:`u_k^\top\,\mathbb E[f(x)\,x^\top]\,v_k` (for a linear network
    on whitened inputs, :math:`u_k^\top W_L\cdots W_1 v_k`); it escapes when it reaches
    ``fraction``·s_k. The run ends (one engine, overlap measure) when the slowest mode has
    escaped; each mode's time is then located on the dense solution by bisection.

    Examples
    --------
    >>> data = GaussianTask(np.eye(2), teacher=np.diag([2.0, 1.0])).population(2)
    >>> run = mode_escape_times(saxe_network(np.diag([2.0, 1.0]), 2, 2, 0.1), data)
    >>> [round(t, 6) for t in run.times]  # Saxe (L = 2): ln((1 − x₀)/x₀)/(2s), x₀ = ε²/s
    [1.323326, 2.29756]
    >>> [round(saxe_escape_time(s, 0.1, 2), 6) for s in (2.0, 1.0)]
    [1.323326, 2.29756]
    """
    act = compile_activation(activation)
    system = _ModeSystem(network, data, act, get_loss("squared"))
    start = system.initial_state()
    scale = max(float(np.abs(start).max()), 1e-300)
    run = integrate_to_escape(
        system,
        event=EscapeEvent(fraction, measure="overlap"),
        tolerances=Tolerances(rtol=rtol, atol=rtol * scale * 1e-3),
        budget=Budget(max_evaluations=max_evaluations, t_max=t_max),
        dense_output=True,
    )
    times: list[float | None] = []
    for k, s in enumerate(system.values):
        level = fraction * s
        if system.strengths(start)[k] >= level:
            times.append(0.0)
            continue
        crossed = _crossing(run, lambda state, k=k: system.strengths(state)[k], level)
        if crossed is None and run.status is Status.ESCAPED:
            # the slowest mode fired the event itself, at the end of the last window
            if system.strengths(run.state)[k] >= level * (1 - 1e-9):
                crossed = run.tau
        times.append(crossed)
    grid, states = _dense_states(run, start, points)
    return ModeEscapes(
        singular_values=system.values,
        times=tuple(times),
        fraction=fraction,
        status=run.status,
        message=run.message,
        evaluations=run.evaluations,
        trajectory_times=grid,
        strengths=np.array([system.strengths(s) for s in states]),
        loss=np.array([system.loss(s) for s in states]),
    )


# -- one direction grows: feature overlaps -----------------------------------------------


@dataclass(frozen=True)
class OverlapTrajectory:
    r"""The network function's overlaps with the features along a full-network run.

    Attributes
    ----------
    times : numpy.ndarray
    function_overlaps : numpy.ndarray
        (T, K) :math:`\mathbb E[f(x)\,f_k(v_k^\top x)]` over the data.
    direction_overlaps : numpy.ndarray
        (T, K) :math:`\mathbb E[f(x)\,v_k^\top x]`.
    drive : numpy.ndarray
        (T,) :math:`\mathbb E[f(x)\,\hat c^\top x]/\Gamma` (the overlap measure, as a fraction).
    predicted_function, predicted_direction : numpy.ndarray
        (K,) :meth:`GaussianTask.overlap_ratios` of each kind (nothing fitted).
    tau : float or None
        The escape time of the run's threshold.
    status : Status
    message : str
    """

    times: np.ndarray
    function_overlaps: np.ndarray
    direction_overlaps: np.ndarray
    drive: np.ndarray
    predicted_function: np.ndarray
    predicted_direction: np.ndarray
    tau: float | None
    status: Status
    message: str

    def to_dict(self) -> dict:
        return {
            "times": self.times.tolist(),
            "function_overlaps": self.function_overlaps.tolist(),
            "direction_overlaps": self.direction_overlaps.tolist(),
            "drive": self.drive.tolist(),
            "predicted_function": self.predicted_function.tolist(),
            "predicted_direction": self.predicted_direction.tolist(),
            "tau": self.tau,
            "status": self.status.value,
            "message": self.message,
        }


def overlap_trajectory(
    network: Network,
    task: GaussianTask,
    data: Dataset,
    activation="tanh",
    *,
    fraction: float = 0.5,
    threshold: str = "overlap",
    rtol: float = 1e-9,
    max_evaluations: int = 200_000,
    points: int = 120,
    levels: Sequence[float] = (),
) -> OverlapTrajectory:
    r"""Run the full flow to escape and record the overlaps with each feature of ``task``.

    Recorded on ``points`` times spread over the run's windows, and at the first time the
    drive overlap :math:`\mathbb E[f\,\hat c^\top x]` reaches each of ``levels``·Γ
    (located by bisection on the dense solution).

    Examples
    --------
    >>> task = GaussianTask(np.eye(1), features=[(1.0, "linear", [1.0]), (0.5, "x**3", [1.0])])
    >>> from saddle_escape.numeric.simulate import manifold_network
    >>> run = overlap_trajectory(
    ...     manifold_network([0.1, 0.1, 0.1], 4), task, task.population(16), "linear", points=5)
    >>> overlaps = run.function_overlaps[-1]
    >>> run.status.value, round(float(overlaps[1] / overlaps[0]), 9)
    ('escaped', 3.0)
    >>> run.predicted_function.tolist()  # μ = (1, 3): E[g·g³]/E[g·g] = 3
    [1.0, 3.0]
    """
    if task.outputs != 1:
        raise ValueError("overlap_trajectory is for a scalar feature teacher")
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= 100_000:
        raise ValueError(f"points must be an int from 1 to 100000, got {points!r}")
    level_values = [float(v) for v in levels]
    if any(not 0 < v <= fraction for v in level_values):
        raise ValueError(f"levels must lie in (0, fraction = {fraction:g}], got {list(levels)}")
    act = compile_activation(activation)
    system = FullNetworkSystem(network, data, act, get_loss("squared"))
    start = system.initial_state()
    scale = max(float(np.abs(start).max()), 1e-300)
    run = integrate_to_escape(
        system,
        event=EscapeEvent(fraction, measure=threshold),
        tolerances=Tolerances(rtol=rtol, atol=rtol * scale * 1e-3),
        budget=Budget(max_evaluations=max_evaluations),
        dense_output=True,
    )
    x = np.asarray(data.inputs, dtype=float)
    features = np.stack([a.sigma(x @ v) for _, a, v in task._compiled], axis=1)
    directions = x @ np.array([v for _, _, v in task._compiled]).T
    weights = np.asarray(data.weights, dtype=float)
    gamma = system.progress_target()
    times, states = _dense_states(run, start, points)
    for level in level_values:
        crossed = _crossing(run, lambda state: system.progress(state) / gamma, level)
        if crossed is not None:
            window = next(sol for t0, t1, sol in run.segments if t0 <= crossed <= t1)
            times = np.append(times, crossed)
            states.append(window(crossed))
    order = np.argsort(times, kind="stable")
    function_overlaps, direction_overlaps, drive = [], [], []
    for i in order:
        f = network_outputs(unflatten(states[i], network), x, act)[:, 0] * weights
        function_overlaps.append(f @ features)
        direction_overlaps.append(f @ directions)
        drive.append(system.progress(states[i]) / gamma)
    return OverlapTrajectory(
        times=np.asarray(times)[order],
        function_overlaps=np.array(function_overlaps),
        direction_overlaps=np.array(direction_overlaps),
        drive=np.array(drive),
        predicted_function=task.overlap_ratios("function"),
        predicted_direction=task.overlap_ratios("direction"),
        tau=run.tau,
        status=run.status,
        message=run.message,
    )
