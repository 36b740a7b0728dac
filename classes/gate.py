r"""One gate for every activation: what :func:`classify` accepts, and what numeric use needs.

Every command and API entry that takes an activation (``classify``, ``ode``, ``escape``,
``asymptotics``, ``simulate``, the compiled σ of the numeric layer) passes it through
:func:`admit_activation`, so they all refuse exactly what the classifier refuses, with the
same message:

* the input is a registry name, an expression string (parsed by the allow-list parser)
  or a SymPy expression in :data:`~saddle_escape.symbolic.parsing.X`;
* σ is real, depends on x, is finite at 0 and is analytic or one-sided analytic there
  (:func:`~saddle_escape.classes.universality.classify` raising means refused).

For numeric use (``numeric=True``, the default) two more conditions hold:

* every free parameter has a value (``parameters={"a": 0.1}``, or the registry entry's
  default: ``prelu`` takes PyTorch's initial slope a = 1/4);
* σ has a universality class: a σ that is not analytic at 0 (a flat term like
  ``exp(-1/x**2)``, a fractional power) has no reduced dynamics to integrate.

The verdict is cached per input (string or SymPy expression, parameter values, purpose),
so calling the gate again for the same activation costs a dictionary look-up. The time
limit is not part of the key: a verdict does not depend on how long it took.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp
from saddle_escape.classes.registry import lookup, resolve_activation
from saddle_escape.classes.universality import Classification, classify
from saddle_escape.symbolic.outcomes import ExpressionError
from saddle_escape.symbolic.parsing import X
from saddle_escape.symbolic.reduction import ReducedModel, reduced_model
from saddle_escape.symbolic.timeouts import DEFAULT_TIME_LIMIT

__all__ = ["AdmittedActivation", "admit_activation", "build_model", "CACHE_SIZE"]

#: Verdicts kept by :func:`admit_activation` (least recently used dropped first).
CACHE_SIZE = 512


@dataclass(frozen=True)
class AdmittedActivation:
    """An activation that passed :func:`admit_activation`.

    Attributes
    ----------
    sigma : sympy.Expr
        σ in :data:`~saddle_escape.symbolic.parsing.X`, parameter values substituted.
    name : str or None
        Registry name, if σ was given by one (or an alias).
    label : str
        How messages name it: the registry name, or the input as written.
    classification : Classification
        The classifier's verdict on ``sigma``.
    parameters : tuple of (str, sympy.Expr)
        The parameter values substituted, sorted by name (exact: ``0.1`` is ``1/10``).
    numeric : bool
        Whether it was admitted for numeric use (no free parameters, has a class).
    """

    sigma: sp.Expr
    name: str | None
    label: str
    classification: Classification
    parameters: tuple[tuple[str, sp.Expr], ...] = ()
    numeric: bool = True

    def to_dict(self) -> dict:
        """JSON-ready form.

        Examples
        --------
        >>> admit_activation("x + a*x**2", parameters={"a": 0.5}).to_dict()["parameters"]
        {'a': '1/2'}
        """
        return {
            "name": self.name,
            "label": self.label,
            "sigma": sp.sstr(self.sigma),
            "parameters": {name: sp.sstr(value) for name, value in self.parameters},
            "numeric": self.numeric,
            "classification": self.classification.to_dict(),
        }


_CACHE: OrderedDict[tuple, AdmittedActivation | str] = OrderedDict()
_LOCK = threading.Lock()


def _parameter_values(parameters, label: str) -> tuple[tuple[str, sp.Expr], ...]:
    """``{"a": 0.1}`` as ``(("a", 1/10),)``: exact, real, finite, hashable."""
    if parameters is None:
        return ()
    if not isinstance(parameters, Mapping):
        raise TypeError(
            f"parameters must be a mapping such as {{'a': 0.1}}, got {type(parameters).__name__}"
        )
    values = []
    for name, value in parameters.items():
        if not isinstance(name, str):
            raise TypeError(f"parameter names must be str, got {name!r}")
        if isinstance(value, sp.Basic) and value.is_number and value.is_extended_real:
            if not value.is_finite:
                raise ExpressionError(
                    f"activation {label!r}: parameter {name} = {value} is not finite"
                )
            values.append((name, value))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ExpressionError(
                    f"activation {label!r}: parameter {name} = {value!r} is not finite"
                )
            values.append((name, sp.Rational(str(value))))  # the decimal as written
        else:
            raise ExpressionError(
                f"activation {label!r}: parameter {name} = {value!r} is not a real number"
            )
    return tuple(sorted(values))


def _label(activation, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(activation, str):
        return activation.strip()
    if isinstance(activation, sp.Basic):
        return sp.sstr(activation, order="none")
    return repr(activation)


def _substituted(activation, values, label):
    """σ with the parameter values put in (names checked against σ's free parameters)."""
    sigma, name = resolve_activation(activation)
    free = {s.name: s for s in sigma.free_symbols if s != X}
    unknown = sorted(set(dict(values)) - set(free))
    if unknown:
        raise ExpressionError(
            f"activation {label!r} has no parameter named {unknown[0]!r} "
            f"(its parameters: {sorted(free)})"
        )
    return sigma.xreplace({free[n]: v for n, v in values}), name


def _with_defaults(activation, values):
    """``values`` completed with the registry's defaults for numeric use (PReLU's a = 1/4)."""
    entry = lookup(activation) if isinstance(activation, str) else None
    if entry is None or not entry.defaults:
        return values
    given = dict(values)
    for name, value in entry.defaults:
        given.setdefault(name, sp.Rational(value))
    return tuple(sorted(given.items()))


def _reason(classification: Classification) -> str:
    for warning in classification.warnings:
        if any(word in warning for word in ("flat", "fractional", "non-analytic")):
            return warning
    return f"its smoothness at 0 is {classification.smoothness}"


def _admit(activation, values, numeric, time_limit_seconds) -> AdmittedActivation:
    label = _label(activation, None)
    if numeric:
        values = _with_defaults(activation, values)
    if values:
        sigma, name = _substituted(activation, values, label)
        classification = classify(sigma, time_limit_seconds=time_limit_seconds)
    else:
        classification = classify(activation, time_limit_seconds=time_limit_seconds)
        sigma, name = classification.sigma, classification.name
    label = _label(activation, name)
    if numeric and classification.parameters:
        names = [p.name for p in classification.parameters]
        raise ExpressionError(
            f"activation {label!r} has free parameter(s) {names}; numeric use needs their "
            f"values, e.g. parameters={{{names[0]!r}: 0.1}}"
        )
    if numeric and classification.class_ is None:
        raise ExpressionError(
            f"activation {label!r} is non-analytic at 0, so it has no universality class and "
            "no reduced dynamics to integrate (escape, ode, asymptotics and simulate need σ "
            "analytic at 0, or analytic on each side of it); the classifier says: "
            f"{_reason(classification)}"
        )
    return AdmittedActivation(
        sigma=sigma,
        name=name,
        label=label,
        classification=classification,
        parameters=values,
        numeric=numeric,
    )


def admit_activation(
    activation,
    *,
    parameters: Mapping[str, float] | None = None,
    numeric: bool = True,
    time_limit_seconds: float | None = DEFAULT_TIME_LIMIT,
) -> AdmittedActivation:
    r"""Validate an activation once, for every command: refuse what ``classify`` refuses.

    Parameters
    ----------
    activation : str or sympy.Expr or AdmittedActivation
        A registry name or alias (``"gelu"``, ``"LeakyReLU"``), an expression string in
        ``x`` (``"x + a*x**2"``) or a SymPy expression in
        :data:`~saddle_escape.symbolic.parsing.X`.
    parameters : mapping of str to float, optional
        Values of σ's free parameters; floats are taken as the decimal written
        (``0.1`` is ``1/10``). Substituted before classifying. For numeric use a
        registry entry's defaults fill the parameters not given (``"prelu"``: a = 1/4).
    numeric : bool, optional
        For numeric use (escape, ode, asymptotics, simulate, compiled σ): σ must have no
        free parameters left and must have a universality class (be analytic, or
        one-sided analytic, at 0). ``False`` admits whatever ``classify`` accepts.
    time_limit_seconds : float or None, optional
        Wall-clock limit on the classification (not part of the cache key).

    Returns
    -------
    AdmittedActivation

    Raises
    ------
    ExpressionError
        With ``classify``'s own message when it refuses σ (unparsable, unknown name,
        constant, complex, singular, discontinuous or undefined at 0, ...); "has free
        parameter(s) [...]" or "is non-analytic at 0" for numeric use; unknown or
        non-real parameter values.
    TypeError
        If ``parameters`` is not a mapping with string keys.
    TimeLimitError
        When the classification exceeds ``time_limit_seconds`` (never cached).

    References
    ----------
    DESIGN §2 (what an activation is, the classes) and §8 (one validation for every entry).

    Examples
    --------
    >>> admitted = admit_activation("tanh")
    >>> admitted.name, admitted.classification.class_.value
    ('tanh', 'B')
    >>> admit_activation("tanh") is admitted  # cached
    True
    >>> admit_activation("x + a*x**2", parameters={"a": 0}).classification.class_.value
    'A'
    >>> admit_activation("PReLU").parameters  # the registry's default slope
    (('a', 1/4),)
    >>> admit_activation("x + exp(-1/x**2)")
    Traceback (most recent call last):
    ...
    saddle_escape.symbolic.outcomes.ExpressionError: ... is non-analytic at 0, ...
    >>> admit_activation("x + exp(-1/x**2)", numeric=False).classification.class_ is None
    True
    """
    if isinstance(activation, AdmittedActivation):
        if parameters is None and (activation.numeric or not numeric):
            return activation
        if parameters is None and activation.name is not None and activation.parameters:
            parameters = dict(activation.parameters)  # keep the values it was admitted with
        activation = activation.name or activation.sigma
    values = _parameter_values(parameters, _label(activation, None))
    if not isinstance(activation, (str, sp.Basic)):
        # Not cacheable, and not an activation: classify names the argument and its type.
        return _admit(activation, values, numeric, time_limit_seconds)
    key = (activation, values, bool(numeric))
    with _LOCK:
        verdict = _CACHE.get(key)
        if verdict is not None:
            _CACHE.move_to_end(key)
    if verdict is None:
        try:
            verdict = _admit(activation, values, numeric, time_limit_seconds)
        except ExpressionError as exc:
            if type(exc) is not ExpressionError:  # pragma: no cover - no subclasses today
                raise
            verdict = str(exc)  # a refusal does not depend on time: cache it too
        with _LOCK:
            _CACHE[key] = verdict
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
    if isinstance(verdict, str):
        raise ExpressionError(verdict)
    return verdict


def build_model(activation, depth, width, init, *, teacher=1, biases=None) -> ReducedModel:
    """A :class:`ReducedModel` from a name or expression string (or pass one through).

    ``biases`` as :func:`~saddle_escape.symbolic.reduction.parse_biases` (none by default).

    Examples
    --------
    >>> build_model("tanh", 4, 16, "1,eps,eps,eps").r
    3
    """
    if isinstance(activation, ReducedModel):
        return activation
    admitted = admit_activation(activation)  # the one gate: refuses what classify refuses
    return reduced_model(
        admitted.sigma, depth, width, init, teacher=teacher, label=admitted.label, biases=biases
    )
