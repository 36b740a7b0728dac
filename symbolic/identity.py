r"""The imbalance identity, derived and verified symbolically.

For gradient flow :math:`\dot W_l = -\nabla_{W_l}\mathcal L` on
:math:`f(x) = W_L\sigma(W_{L-1}\sigma(\cdots\sigma(W_1x)))` the imbalance
:math:`\Delta_l = \|W_{l+1}\|_F^2 - \|W_l\|_F^2` obeys (conventions §5)

.. math::

    \frac{d\Delta_l}{dt} = 2\,\mathbb E\big[\langle W_{l+1}^\top \nabla_{z_{l+1}}\ell,\;
    \varphi_\sigma(z_l)\rangle\big], \qquad \varphi_\sigma(z) = z\sigma'(z) - \sigma(z),

for any smooth σ and any differentiable per-sample loss ℓ. Both sides are linear in
the expectation, so it suffices to prove the per-sample identity; everything here
works with a generic (undefined) σ and a generic ℓ.

* :func:`derive_identity` — width-generic: symbolic widths, indexed sums.
* :func:`verify_identity` — explicit: a network of given widths built from matrices of
  symbols; the gradient of ℓ with respect to every weight by the chain rule over the
  network's graph (SymPy differentiates each node), then the exact residual of every
  layer pair (or every hidden unit) is expanded to 0.

Forms: layer-wise; neuron-wise (hidden unit j of layer l: outgoing column norm² of
:math:`W_{l+1}` minus incoming row norm² of :math:`W_l`); with biases, where the bias
:math:`b_l` of layer l's units joins their incoming weights,
:math:`\Delta_l = \|W_{l+1}\|^2 - \|W_l\|^2 - \|b_l\|^2` (``b_{l+1}`` must *not* be
added to the outgoing side: it contributes :math:`-2\langle \nabla_{z_{l+1}}\ell,
b_{l+1}\rangle`).
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass
from typing import cast

import sympy as sp
from saddle_escape.symbolic import taylor
from saddle_escape.symbolic.display import html_section, html_table, latex_math
from saddle_escape.symbolic.outcomes import ConvergenceError, ExpressionError, Status

__all__ = [
    "SIGMA",
    "LOSS",
    "DerivationStep",
    "IdentityDerivation",
    "derive_identity",
    "UnitResidual",
    "IdentityVerification",
    "verify_identity",
    "parse_widths",
    "MAX_SYMBOLIC_UNITS",
    "MAX_SYMBOLIC_WEIGHTS",
    "MAX_SYMBOLIC_DEPTH",
    "MAX_SYMBOLIC_PATHS",
    "concrete_rhs",
    "statement",
]

#: The generic activation σ and per-sample loss ℓ (undefined functions).
SIGMA = sp.Function("sigma")
LOSS = sp.Function("ell")

#: Work budget of :func:`verify_identity`: its expressions grow with the number of weights
#: and with the number of paths from the first hidden layer to the output (the product of
#: the widths after the input), so each is bounded; within these limits a verification
#: takes at most about half a minute (2,2,…,2,1 with 12 layers: 30 s; 3,30,30,1: 18 s).
MAX_SYMBOLIC_UNITS = 200
MAX_SYMBOLIC_WEIGHTS = 1200
MAX_SYMBOLIC_DEPTH = 12
MAX_SYMBOLIC_PATHS = 2048


def parse_widths(widths) -> tuple[int, ...]:
    """Validate widths ``d, N_1, …, N_{L-1}, d_out`` (a sequence or ``"3,3,3,1"``).

    Raises
    ------
    ValueError
        When fewer than three widths are given (one hidden layer is the least with an
        imbalance between two weight layers), an entry is empty (``"3,,3,1"``), or a
        width is not a positive integer.

    Examples
    --------
    >>> parse_widths("3, 3, 3, 1")
    (3, 3, 3, 1)
    """
    if isinstance(widths, str):
        parts = [p.strip() for p in widths.split(",")]
        try:
            values = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(
                f"widths {widths!r} must be comma-separated positive integers, e.g. '3,3,3,1'"
                + (" (an entry is empty)" if "" in parts else "")
            ) from None
    else:
        try:
            values = tuple(widths)
        except TypeError:
            raise ValueError(
                f"widths must be a sequence of positive integers or a string like '3,3,3,1', "
                f"got {widths!r}"
            ) from None
    if len(values) < 3:
        raise ValueError(
            f"widths {values} describe {max(len(values) - 1, 0)} weight layer(s); the imbalance "
            "needs at least two (give d, N_1, ..., d_out with at least three numbers)"
        )
    for w in values:
        if not isinstance(w, numbers.Integral) or isinstance(w, bool) or w < 1:
            raise ValueError(f"widths {values}: every width must be a positive integer, got {w!r}")
    return tuple(int(w) for w in values)


# -- width-generic derivation --------------------------------------------------------


@dataclass(frozen=True)
class DerivationStep:
    """One step: a statement ``lhs = rhs`` and why it holds."""

    title: str
    lhs: sp.Basic
    rhs: sp.Basic

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "lhs": sp.sstr(self.lhs),
            "rhs": sp.sstr(self.rhs),
            "latex": f"{sp.latex(self.lhs)} = {sp.latex(self.rhs)}",
        }


@dataclass(frozen=True)
class IdentityDerivation:
    """Result of :func:`derive_identity`: the steps and the residual (exactly 0).

    Examples
    --------
    >>> derivation = derive_identity()
    >>> derivation.verified, derivation.status.value, len(derivation.steps)
    (True, 'success', 5)
    """

    neuronwise: bool
    bias: bool
    steps: tuple[DerivationStep, ...]
    identity: sp.Eq
    residual: sp.Basic
    seconds: float

    @property
    def verified(self) -> bool:
        """Whether the residual is exactly 0."""
        return self.residual == 0

    @property
    def status(self) -> Status:
        """``success`` when the residual is exactly 0, else ``not_converged``."""
        return Status.SUCCESS if self.verified else Status.NOT_CONVERGED

    def pretty(self) -> str:
        """Unicode rendering of every step."""
        lines = []
        for number, step in enumerate(self.steps, 1):
            lines.append(f"({number}) {step.title}")
            lines.append(sp.pretty(sp.Eq(step.lhs, step.rhs, evaluate=False), use_unicode=True))
            lines.append("")
        lines.append(f"residual: {sp.sstr(self.residual)}")
        return "\n".join(lines)

    def latex(self) -> str:
        """LaTeX rendering of every step (an ``align*`` environment)."""
        rows = [
            rf"{sp.latex(s.lhs)} &= {sp.latex(s.rhs)} && \text{{{s.title}}}" for s in self.steps
        ]
        return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"

    def to_dict(self) -> dict:
        return {
            "form": "neuron-wise" if self.neuronwise else "layer-wise",
            "bias": self.bias,
            "identity": sp.sstr(self.identity),
            "latex": sp.latex(self.identity),
            "steps": [s.to_dict() for s in self.steps],
            "residual": sp.sstr(self.residual),
            "residual_value": float(self.residual) if self.residual.is_number else None,
            "verified": self.verified,
            "status": self.status.value,
            "seconds": self.seconds,
        }

    def _repr_latex_(self) -> str:
        r"""The derived identity and its residual, as inline LaTeX (Jupyter).

        Examples
        --------
        >>> text = derive_identity()._repr_latex_()
        >>> text[:14], text.endswith(r"\text{residual} = 0$")
        ('$\\frac{d}{d t}', True)
        """
        return latex_math(
            rf"{sp.latex(self.identity)},\qquad \text{{residual}} = {sp.latex(self.residual)}"
        )

    def _repr_html_(self) -> str:
        """The steps of the derivation and the residual, as an HTML table (Jupyter).

        Examples
        --------
        >>> page = derive_identity()._repr_html_()
        >>> "<td>gradient flow, and Euler: &lt;W, grad_W l&gt; = d/ds l(sW) at s = 1</td>" in page
        True
        >>> "<tr><td></td><td>residual</td><td>0</td></tr>" in page
        True
        """
        rows: list[list] = [
            [number, step.title, f"{sp.sstr(step.lhs)} = {sp.sstr(step.rhs)}"]
            for number, step in enumerate(self.steps, 1)
        ]
        rows.append(["", "residual", self.residual])
        table = html_table(
            ["", "step", "statement"],
            rows,
            caption=statement(neuronwise=self.neuronwise, bias=self.bias),
        )
        return html_section(
            f"imbalance identity ({_form(self.neuronwise, self.bias)}), width-generic: "
            + ("verified" if self.verified else "not verified"),
            table,
        )


def derive_identity(*, neuronwise: bool = False, bias: bool = False) -> IdentityDerivation:
    r"""Derive the imbalance identity for symbolic widths, generic σ and generic ℓ.

    Layer ``l`` has ``N`` units fed by ``K`` inputs ``a_k`` (the previous layer's
    activations, or ``x``) and feeding ``M`` units of layer ``l+1``; ``g_i`` is
    :math:`\partial\ell/\partial z_{l+1,i}`. ℓ depends on :math:`(W_l, b_l, W_{l+1})`
    only through :math:`z_{l+1}`, so the per-sample Euler identity
    :math:`\langle W, \nabla_W\ell\rangle = \partial_s \ell(sW)|_{s=1}` reduces both
    gradient terms to derivatives of :math:`z_{l+1}` that SymPy takes through the
    indexed sums.

    Parameters
    ----------
    neuronwise : bool
        Derive the identity of a single hidden unit ``j`` instead of the layer sum.
    bias : bool
        Include the bias ``b_l`` with layer ``l``'s incoming weights.

    Returns
    -------
    IdentityDerivation
        ``residual`` is the exact difference of the two sides, ``0``.

    References
    ----------
    Rawal & DeWeese, arXiv:2605.01288, the imbalance identity; conventions §5.

    Examples
    --------
    >>> derivation = derive_identity()
    >>> derivation.residual
    0
    >>> derive_identity(neuronwise=True, bias=True).verified
    True
    """
    start = time.perf_counter()
    i, j, k = sp.symbols("i j k", integer=True, positive=True)
    M, N, K = sp.symbols("M N K", integer=True, positive=True)
    W = sp.IndexedBase("W_l", real=True)
    V = sp.IndexedBase("W_{l+1}", real=True)
    a = sp.IndexedBase("a", real=True)
    b = sp.IndexedBase("b_l", real=True)
    g = sp.IndexedBase("g", real=True)
    z = sp.IndexedBase("z_l", real=True)
    s, u = sp.symbols("s u", positive=True)
    w = sp.Symbol("w", real=True)

    # Pre-activation of unit j, with layer l (or, neuron-wise, unit j's row) scaled by s.
    pre = sp.Sum(s * W[j, k] * a[k], (k, 1, K)) + (s * b[j] if bias else 0)
    z_def = pre.subs(s, 1)
    one = {s: 1, u: 1}
    if neuronwise:
        # Only unit j is scaled; the other units' contributions do not depend on s or u.
        upper = u * V[i, j] * SIGMA(pre)
        d_upper = sp.diff(upper, u).subs(one)
        d_lower = sp.diff(upper, s).subs(one)
        total = lambda body: sp.Sum(g[i] * body, (i, 1, M))  # noqa: E731
        norm_up = sp.Sum(V[i, j] ** 2, (i, 1, M))
        norm_low = sp.Sum(W[j, k] ** 2, (k, 1, K)) + (b[j] ** 2 if bias else 0)
    else:
        upper = sp.Sum(u * V[i, j] * SIGMA(pre), (j, 1, N))
        d_upper = sp.diff(upper, u).subs(one)
        d_lower = sp.diff(upper, s).subs(one)
        total = lambda body: sp.Sum(g[i] * body, (i, 1, M))  # noqa: E731
        norm_up = sp.Sum(V[i, j] ** 2, (i, 1, M), (j, 1, N))
        norm_low = sp.Sum(W[j, k] ** 2, (j, 1, N), (k, 1, K)) + (
            sp.Sum(b[j] ** 2, (j, 1, N)) if bias else 0
        )

    d_upper = d_upper.xreplace({z_def: z[j]})
    d_lower = d_lower.xreplace({z_def: z[j]})
    # φ_σ(z_l[j]) by taylor.phi, with σ'(z_l[j]) held as Subs(dσ(w)/dw, w, z_l[j]).
    sigma_prime, held = sp.Derivative(SIGMA(w), w), sp.Dummy("sigma_prime")
    phi = (
        taylor.phi(SIGMA(w), w)
        .xreplace({sigma_prime: held})
        .xreplace({w: z[j]})
        .xreplace({held: sp.Subs(sigma_prime, w, z[j])})
    )
    rhs_body = V[i, j] * phi if neuronwise else sp.Sum(V[i, j] * phi, (j, 1, N))
    lhs = 2 * total(d_lower) - 2 * total(d_upper)
    rhs = 2 * total(rhs_body)
    residual = sp.simplify(lhs - rhs)

    t = sp.Symbol("t")
    delta = sp.Function(r"\Delta_l" if not neuronwise else r"\Delta_{l,j}")(t)
    steps = (
        DerivationStep(
            "imbalance (per sample: the expectation is linear)", delta, norm_up - norm_low
        ),
        DerivationStep(
            "gradient flow, and Euler: <W, grad_W l> = d/ds l(sW) at s = 1",
            sp.Derivative(delta, t),
            2 * total(sp.Symbol(r"\partial_s z_{l+1,i}"))
            - 2 * total(sp.Symbol(r"\partial_u z_{l+1,i}")),
        ),
        DerivationStep(
            "scaling the outgoing weights by u", sp.Symbol(r"\partial_u z_{l+1,i}"), d_upper
        ),
        DerivationStep(
            "scaling the incoming weights" + (" and bias" if bias else "") + " by s",
            sp.Symbol(r"\partial_s z_{l+1,i}"),
            d_lower,
        ),
        DerivationStep(
            "difference, with phi(z) = z sigma'(z) - sigma(z)", sp.Derivative(delta, t), rhs
        ),
    )
    identity = sp.Eq(sp.Derivative(delta, t), rhs, evaluate=False)
    return IdentityDerivation(
        neuronwise=neuronwise,
        bias=bias,
        steps=steps,
        identity=identity,
        residual=residual,
        seconds=time.perf_counter() - start,
    )


# -- explicit verification on a network of given widths -------------------------------


@dataclass(frozen=True)
class UnitResidual:
    """The exact residual of one layer pair (``unit`` is ``None``) or one hidden unit.

    Examples
    --------
    >>> UnitResidual(2, 1, sp.Integer(0)).to_dict()
    {'layer': 2, 'residual': '0', 'residual_value': 0.0, 'unit': 1}
    """

    layer: int
    unit: int | None
    residual: sp.Expr

    def to_dict(self) -> dict:
        out = {
            "layer": self.layer,
            "residual": sp.sstr(self.residual),
            "residual_value": float(self.residual) if self.residual.is_number else None,
        }
        if self.unit is not None:
            out["unit"] = self.unit
        return out


@dataclass(frozen=True)
class IdentityVerification:
    """Result of :func:`verify_identity`: the exact residual of every layer pair (or unit).

    Attributes
    ----------
    widths : tuple of int
    neuronwise, bias : bool
        The inputs.
    layers : tuple of UnitResidual
        One per layer pair (or hidden unit), in order.
    seconds : float
        Wall-clock time of the verification.

    Examples
    --------
    >>> bad = IdentityVerification((1, 1, 1), False, False, (UnitResidual(1, None, SIGMA(0)),), 0.0)
    >>> bad.verified, bad.status.value, bad.status.exit_code
    (False, 'not_converged', 3)
    """

    widths: tuple[int, ...]
    neuronwise: bool
    bias: bool
    layers: tuple[UnitResidual, ...]
    seconds: float

    @property
    def verified(self) -> bool:
        """Whether every residual is exactly 0."""
        return all(r.residual == 0 for r in self.layers)

    @property
    def status(self) -> Status:
        """``success`` when every residual is exactly 0, else ``not_converged`` (the two
        sides of the identity differ)."""
        return Status.SUCCESS if self.verified else Status.NOT_CONVERGED

    @property
    def terms_checked(self) -> int:
        """How many residuals (layer pairs or hidden units) were expanded."""
        return len(self.layers)

    @property
    def message(self) -> str:
        """What the status means for this verification, and what to do next."""
        if self.verified:
            return f"verified: all {self.terms_checked} residuals are exactly 0"
        failing = [r for r in self.layers if r.residual != 0]
        where = ", ".join(
            f"layer {r.layer}" + ("" if r.unit is None else f" unit {r.unit}") for r in failing
        )
        return (
            f"not verified: {len(failing)} of {self.terms_checked} residuals are not 0 "
            f"({where}); the identity is a theorem, so this is a bug in the construction of "
            "the gradients or of φ_σ: please report it, and cross-check with the numeric "
            "check (check_identity, identity --check --dps 50)"
        )

    def to_dict(self) -> dict:
        """JSON-ready: residuals as SymPy strings."""
        return {
            "status": self.status.value,
            "message": self.message,
            "verified": self.verified,
            "widths": list(self.widths),
            "form": "neuron-wise" if self.neuronwise else "layer-wise",
            "bias": self.bias,
            "identity": statement(neuronwise=self.neuronwise, bias=self.bias),
            "layers": [r.to_dict() for r in self.layers],
            "terms_checked": self.terms_checked,
            "seconds": self.seconds,
        }

    def _repr_latex_(self) -> str:
        r"""The identity and the residual of every layer pair (or unit), as inline LaTeX.

        ``r_{l}`` is the residual of layer pair ``l`` (``r_{l,j}`` of hidden unit ``j``).

        Examples
        --------
        >>> text = verify_identity("2,2,2,1")._repr_latex_()
        >>> text[0], text[-1], text.endswith(r"\text{residuals: } r_{1} = 0,\ r_{2} = 0$")
        ('$', '$', True)
        """
        residuals = r",\ ".join(
            f"r_{{{r.layer}{'' if r.unit is None else f',{r.unit}'}}} = {sp.latex(r.residual)}"
            for r in self.layers
        )
        return latex_math(
            statement(neuronwise=self.neuronwise, bias=self.bias, latex=True)
            + rf",\qquad \text{{residuals: }} {residuals}"
        )

    def _repr_html_(self) -> str:
        """The residual of every layer pair (or unit), as an HTML table (Jupyter).

        Examples
        --------
        >>> page = verify_identity("2,2,2,1")._repr_html_()
        >>> "<tr><td>1</td><td>0</td></tr>" in page, "widths 2,2,2,1: verified" in page
        (True, True)
        """
        headers = ["layer", "unit", "residual"] if self.neuronwise else ["layer", "residual"]
        rows = [
            [r.layer, r.unit, r.residual] if self.neuronwise else [r.layer, r.residual]
            for r in self.layers
        ]
        table = html_table(
            headers, rows, caption=statement(neuronwise=self.neuronwise, bias=self.bias)
        )
        return html_section(
            f"imbalance identity ({_form(self.neuronwise, self.bias)}), widths "
            + ",".join(str(w) for w in self.widths)
            + (": verified" if self.verified else ": not verified"),
            table,
            notes=[] if self.verified else [self.message],
        )


def _form(neuronwise: bool, bias: bool) -> str:
    """``layer-wise``, ``neuron-wise``, with ``, with biases`` when there are biases."""
    return ("neuron-wise" if neuronwise else "layer-wise") + (", with biases" if bias else "")


def _check_symbolic_size(widths: tuple[int, ...], bias: bool) -> None:
    """Refuse networks beyond the work budget of :func:`verify_identity`."""
    depth = len(widths) - 1
    weights = sum(widths[l] * widths[l + 1] for l in range(depth))
    weights += sum(widths[1:]) if bias else 0
    paths = math.prod(widths[1:])
    excess = [
        f"{what} {value} > {limit}"
        for what, value, limit in (
            ("weight layers", depth, MAX_SYMBOLIC_DEPTH),
            ("hidden units", sum(widths[1:-1]), MAX_SYMBOLIC_UNITS),
            ("weights" + (" and biases" if bias else ""), weights, MAX_SYMBOLIC_WEIGHTS),
            ("paths from the first hidden layer to the output", paths, MAX_SYMBOLIC_PATHS),
        )
        if value > limit
    ]
    if excess:
        raise ValueError(
            f"widths {widths} are too large for an exact symbolic verification ("
            + "; ".join(excess)
            + "): use the numeric check at any precision instead (check_identity, or the "
            "command line's identity --check --dps 50)"
        )


def _matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda r, c: sp.Symbol(f"{name}_{r + 1}_{c + 1}", real=True))


def _column(name: str, rows: int) -> sp.Matrix:
    return sp.Matrix(rows, 1, lambda r, _: sp.Symbol(f"{name}_{r + 1}", real=True))


def _phi(node: sp.Symbol) -> sp.Expr:
    """φ_σ at a node of the graph, for the generic σ (:func:`taylor.phi`)."""
    return taylor.phi(SIGMA(node), node)


def verify_identity(
    widths, *, neuronwise: bool = False, bias: bool = False, throw: bool = True
) -> IdentityVerification:
    r"""Verify the imbalance identity exactly on a network of the given widths.

    The network :math:`z_1 = W_1x (+b_1)`, :math:`z_{l+1} = W_{l+1}\sigma(z_l) (+b_{l+1})`,
    output :math:`f = z_L`, is built from matrices of symbols with a generic σ and a
    generic loss :math:`\ell(f_1, …, f_{d_{out}})`. Every pre-activation is a node of
    the graph; SymPy differentiates each node with respect to its inputs and the chain
    rule assembles :math:`\partial\ell/\partial W` for every weight. For every layer
    pair (or hidden unit) the residual

    .. math::  \frac{d\Delta_l}{dt} - 2\langle W_{l+1}^\top\nabla_{z_{l+1}}\ell,
               \varphi_\sigma(z_l)\rangle

    with :math:`d\Delta_l/dt = 2\langle W_{l+1}, \dot W_{l+1}\rangle - 2\langle W_l,
    \dot W_l\rangle` (per sample) is expanded as a polynomial in the weights, the
    inputs and the values :math:`\sigma(z), \sigma'(z), \partial\ell/\partial f` after
    every pre-activation is replaced by its definition; it must be exactly 0.

    Parameters
    ----------
    widths : sequence of int or str
        ``d, N_1, …, N_{L-1}, d_out`` (``L`` weight layers).
    neuronwise : bool
        One residual per hidden unit instead of per layer pair.
    bias : bool
        Biases on every layer; ``b_l`` counts with layer ``l``'s incoming weights.
    throw : bool
        Raise :class:`ConvergenceError` (carrying the status and the result) when a
        residual is not 0 (default), or return the result with its status.

    Returns
    -------
    IdentityVerification
        ``status`` is ``success`` when every residual is exactly 0, else
        ``not_converged``.

    Raises
    ------
    ValueError
        For invalid widths, or a network beyond the work budget: more than
        :data:`MAX_SYMBOLIC_DEPTH` weight layers, :data:`MAX_SYMBOLIC_UNITS` hidden units,
        :data:`MAX_SYMBOLIC_WEIGHTS` weights (and biases) or :data:`MAX_SYMBOLIC_PATHS`
        paths from the first hidden layer to the output (the product of the widths after
        the input; the expansion grows with it). The message points to the numeric check.
    TypeError
        When ``throw`` is not a bool.
    ConvergenceError
        With ``throw=True``, when a residual is not 0; ``exc.result`` is the
        :class:`IdentityVerification`.

    Examples
    --------
    >>> result = verify_identity("3,3,3,1")
    >>> result.verified, [r.residual for r in result.layers]
    (True, [0, 0])
    >>> result.status.value, result.terms_checked
    ('success', 2)
    """
    if not isinstance(throw, bool):
        raise TypeError(f"throw must be True or False, got {throw!r}")
    widths = parse_widths(widths)
    _check_symbolic_size(widths, bias)
    start = time.perf_counter()
    L = len(widths) - 1
    x = _column("x", widths[0])
    Ws = [_matrix(f"w{l + 1}", widths[l + 1], widths[l]) for l in range(L)]
    bs = [_column(f"b{l + 1}", widths[l + 1]) if bias else None for l in range(L)]
    zs = [_column(f"z{l + 1}", widths[l + 1]) for l in range(L)]  # node symbols

    # Node definitions in terms of the previous layer's node symbols.
    definitions = []
    previous = x
    for l in range(L):
        pre = Ws[l] * previous + (bs[l] if bias else sp.zeros(widths[l + 1], 1))
        definitions.append(pre)
        previous = zs[l].applyfunc(SIGMA)

    # Reverse mode: g[l] = ∂ℓ/∂z_l, each local derivative taken by SymPy.
    loss = LOSS(*zs[-1])
    g = cast("list[sp.Matrix]", [None] * L)  # placeholders: every entry is set below
    g[L - 1] = sp.Matrix([sp.diff(loss, f) for f in zs[-1]])
    for l in range(L - 2, -1, -1):
        g[l] = sp.Matrix(
            [
                sum(
                    g[l + 1][i] * sp.diff(definitions[l + 1][i], zs[l][j])
                    for i in range(widths[l + 2])
                )
                for j in range(widths[l + 1])
            ]
        )

    def weight_term(l: int, rows=None) -> sp.Expr:
        """Σ W ∘ ∂ℓ/∂W (and b ∘ ∂ℓ/∂b) over the given rows of layer l (0-based)."""
        W, rows = Ws[l], range(Ws[l].rows) if rows is None else rows
        total = 0
        for r in rows:
            node = definitions[l][r]
            for c in range(W.cols):
                total += W[r, c] * g[l][r] * sp.diff(node, W[r, c])
            if bias:
                b = cast(sp.Matrix, bs[l])  # a column whenever bias is set
                total += b[r] * g[l][r] * sp.diff(node, b[r])
        return total

    def column_term(l: int, column: int) -> sp.Expr:
        """Σ_i W[i, column] ∂ℓ/∂W[i, column] for layer l (0-based)."""
        W = Ws[l]
        return sum(
            W[r, column] * g[l][r] * sp.diff(definitions[l][r], W[r, column]) for r in range(W.rows)
        )

    # Close the polynomial: σ(z), σ'(z), ∂ℓ/∂f are atoms; bare z's get their definitions.
    atoms: dict[sp.Basic, sp.Symbol] = {}
    for l in range(L):
        for r, node in enumerate(zs[l]):
            atoms[SIGMA(node)] = sp.Symbol(f"S{l + 1}_{r + 1}")
            atoms[sp.diff(SIGMA(node), node)] = sp.Symbol(f"D{l + 1}_{r + 1}")
    for r, f in enumerate(zs[-1]):
        atoms[sp.diff(loss, f)] = sp.Symbol(f"G_{r + 1}")
    substitution = {}
    for l in range(L):
        defined = definitions[l].xreplace(atoms)
        for r, node in enumerate(zs[l]):
            substitution[node] = defined[r]

    def close(expr: sp.Expr) -> sp.Expr:
        return sp.expand(expr.xreplace(atoms).xreplace(substitution))

    results = []
    for l in range(L - 1):  # layer pair (l+1, l+2) in 1-based terms: Δ_{l+1}
        back = Ws[l + 1].T * g[l + 1]
        if neuronwise:
            for j in range(widths[l + 1]):
                lhs = -2 * column_term(l + 1, j) + 2 * weight_term(l, rows=[j])
                rhs = 2 * back[j] * _phi(zs[l][j])
                results.append(UnitResidual(l + 1, j + 1, close(lhs - rhs)))
        else:
            outgoing = sum(column_term(l + 1, j) for j in range(widths[l + 1]))
            lhs = -2 * outgoing + 2 * weight_term(l)
            rhs = 2 * sum(back[j] * _phi(zs[l][j]) for j in range(widths[l + 1]))
            results.append(UnitResidual(l + 1, None, close(lhs - rhs)))
    result = IdentityVerification(
        widths=widths,
        neuronwise=neuronwise,
        bias=bias,
        layers=tuple(results),
        seconds=time.perf_counter() - start,
    )
    if throw and not result.status.ok:
        raise ConvergenceError(result.message, status=result.status, result=result)
    return result


def statement(*, neuronwise: bool = False, bias: bool = False, latex: bool = False) -> str:
    """The identity in words and symbols (Unicode, or LaTeX with ``latex=True``).

    Examples
    --------
    >>> print(statement())
    d/dt (‖W_{l+1}‖² − ‖W_l‖²) = 2 E[⟨W_{l+1}ᵀ ∇_{z_{l+1}} ℓ, φ_σ(z_l)⟩],  φ_σ(z) = z σ'(z) − σ(z)
    """
    if latex:
        if neuronwise:
            left = r"\|W_{l+1}[:,j]\|^2 - \|W_l[j,:]\|^2" + (r" - b_{l,j}^2" if bias else "")
            right = (
                r"2\,\mathbb{E}\big[(W_{l+1}^\top \nabla_{z_{l+1}}\ell)_j\,"
                r"\varphi_\sigma(z_{l,j})\big]"
            )
        else:
            left = r"\|W_{l+1}\|_F^2 - \|W_l\|_F^2" + (r" - \|b_l\|^2" if bias else "")
            right = (
                r"2\,\mathbb{E}\big[\langle W_{l+1}^\top \nabla_{z_{l+1}}\ell,\,"
                r"\varphi_\sigma(z_l)\rangle\big]"
            )
        return (
            rf"\frac{{d}}{{dt}}\Big({left}\Big) = {right}, \qquad "
            r"\varphi_\sigma(z) = z\sigma'(z) - \sigma(z)"
        )
    if neuronwise:
        left = "‖W_{l+1}[:, j]‖² − ‖W_l[j, :]‖²" + (" − b_{l,j}²" if bias else "")
        right = "2 E[(W_{l+1}ᵀ ∇_{z_{l+1}} ℓ)_j φ_σ(z_{l,j})]"
    else:
        left = "‖W_{l+1}‖² − ‖W_l‖²" + (" − ‖b_l‖²" if bias else "")
        right = "2 E[⟨W_{l+1}ᵀ ∇_{z_{l+1}} ℓ, φ_σ(z_l)⟩]"
    return f"d/dt ({left}) = {right},  φ_σ(z) = z σ'(z) − σ(z)"


def concrete_rhs(sigma: sp.Expr, variable: sp.Symbol) -> sp.Expr:
    r"""The identity's integrand factor :math:`\varphi_\sigma(z)` for a concrete σ.

    Parameters
    ----------
    sigma : sympy.Expr
        σ in ``variable``.
    variable : sympy.Symbol

    Returns
    -------
    sympy.Expr
        :math:`z\sigma'(z) - \sigma(z)`, unsimplified (:func:`taylor.phi`, the one place
        φ_σ is computed).

    Raises
    ------
    ExpressionError
        When ``sigma`` does not depend on ``variable``.

    Examples
    --------
    >>> z = sp.Symbol("z", real=True)
    >>> concrete_rhs(sp.tanh(z), z)
    z*(1 - tanh(z)**2) - tanh(z)
    """
    if variable not in sigma.free_symbols:
        raise ExpressionError(f"activation {sp.sstr(sigma)} does not depend on {variable}")
    return taylor.phi(sigma, variable)
