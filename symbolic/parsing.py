"""Safe parsing of expression strings into SymPy trees.

SymPy's own ``sympify`` and ``parse_expr`` call ``eval`` on their input, so they
must never see a user's string. Here the string is parsed by :func:`ast.parse`
(which only builds a syntax tree, never runs anything) and an allow-list walker
builds the SymPy expression itself: numbers, ``+ - * / **``, calls of the listed
functions, the constants ``pi`` and ``E``, comparisons and boolean operators inside
``Piecewise`` conditions. Every other identifier becomes a real parameter symbol. Anything
else is refused with an :class:`~saddle_escape.symbolic.outcomes.ExpressionError` that quotes
the offending piece.

Besides the syntax, two properties of the tree are checked (:func:`check_tree` applies the
same checks to SymPy expressions built elsewhere):

* every constant is finite and at most ``10**max_magnitude`` in absolute value, so that
  SymPy and mpmath can evaluate, compare and print it (``exp(exp(exp(exp(10))))`` cannot
  even be printed: SymPy's printer evaluates it to order the terms of a sum);
* every ``Piecewise`` is defined everywhere: it ends with a default ``(value, True)``
  branch, or its conditions provably cover the real line.
"""

from __future__ import annotations

import ast
import decimal
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from saddle_escape.symbolic.outcomes import ExpressionError

__all__ = [
    "X",
    "FUNCTIONS",
    "ParseLimits",
    "ParsedExpression",
    "parse_expression",
    "parse_activation",
    "check_tree",
]

#: The activation's variable. Users may write ``x`` or ``z``; both map here.
X = sp.Symbol("x", real=True)


def _sigmoid(u):
    return 1 / (1 + sp.exp(-u))


def _softplus(u):
    return sp.log(1 + sp.exp(u))


def _relu(u):
    return sp.Max(0, u)


def _cbrt(u):
    # The real cube root, odd in u: sign(u)*|u|**(1/3) (sympy.cbrt is the principal root).
    return sp.real_root(u, 3)


#: Callable names: name -> (builder, minimum arity, maximum arity or None).
FUNCTIONS: Mapping[str, tuple[Callable[..., sp.Basic], int, int | None]] = {
    "exp": (sp.exp, 1, 1),
    "log": (sp.log, 1, 1),
    "sqrt": (sp.sqrt, 1, 1),
    "cbrt": (_cbrt, 1, 1),
    "sin": (sp.sin, 1, 1),
    "cos": (sp.cos, 1, 1),
    "tan": (sp.tan, 1, 1),
    "sec": (sp.sec, 1, 1),
    "csc": (sp.csc, 1, 1),
    "cot": (sp.cot, 1, 1),
    "sinh": (sp.sinh, 1, 1),
    "cosh": (sp.cosh, 1, 1),
    "tanh": (sp.tanh, 1, 1),
    "sech": (sp.sech, 1, 1),
    "csch": (sp.csch, 1, 1),
    "coth": (sp.coth, 1, 1),
    "asin": (sp.asin, 1, 1),
    "acos": (sp.acos, 1, 1),
    "atan": (sp.atan, 1, 1),
    "asinh": (sp.asinh, 1, 1),
    "acosh": (sp.acosh, 1, 1),
    "atanh": (sp.atanh, 1, 1),
    "erf": (sp.erf, 1, 1),
    "erfc": (sp.erfc, 1, 1),
    "Abs": (sp.Abs, 1, 1),
    "abs": (sp.Abs, 1, 1),
    "sign": (sp.sign, 1, 1),
    "Heaviside": (sp.Heaviside, 1, 1),
    "Max": (sp.Max, 2, None),
    "Min": (sp.Min, 2, None),
    "max": (sp.Max, 2, None),
    "min": (sp.Min, 2, None),
    "sigmoid": (_sigmoid, 1, 1),
    "softplus": (_softplus, 1, 1),
    "relu": (_relu, 1, 1),
    "Eq": (sp.Eq, 2, 2),
    "Ne": (sp.Ne, 2, 2),
}

_CONSTANTS: Mapping[str, sp.Basic] = {"pi": sp.pi, "E": sp.E}
_BOOLEANS = {True: sp.true, False: sp.false}
_COMPARISONS = {
    ast.Gt: sp.Gt,
    ast.GtE: sp.Ge,
    ast.Lt: sp.Lt,
    ast.LtE: sp.Le,
    ast.Eq: sp.Eq,
    ast.NotEq: sp.Ne,
}
_MAX_NAME = 32


def _is_condition(value: sp.Basic) -> bool:
    """A truth value (comparison, And/Or/Not, True/False), as opposed to a number.

    SymPy's ``Symbol`` is also a ``Boolean``, so that class cannot be used.
    """
    return isinstance(
        value,
        (
            sp.core.relational.Relational,
            sp.logic.boolalg.BooleanFunction,
            sp.logic.boolalg.BooleanAtom,
        ),
    )


@dataclass(frozen=True)
class ParseLimits:
    """Size limits applied to an expression string before and while parsing.

    Parameters
    ----------
    max_length : int
        Characters in the string.
    max_depth : int
        Nesting depth of the syntax tree.
    max_nodes : int
        Nodes of the syntax tree.
    max_exponent : int
        Largest absolute value of a numeric exponent (also after SymPy combines
        nested powers).
    max_digits : int
        Digits of a numeric literal, and the largest decimal exponent of a float
        literal such as ``1e20``.
    max_magnitude : int
        Largest decimal exponent of the absolute value of any constant the expression
        builds (``exp(1000)`` ≈ 10**434 passes; ``exp(exp(10))`` ≈ 10**9566 does not).
        Each constant is then cheap to evaluate, even as the argument of another ``exp``.

    Examples
    --------
    >>> ParseLimits(max_exponent=8).max_exponent
    8
    """

    max_length: int = 2000
    max_depth: int = 40
    max_nodes: int = 600
    max_exponent: int = 64
    max_digits: int = 60
    max_magnitude: int = 1000

    def __post_init__(self):
        for name in (
            "max_length",
            "max_depth",
            "max_nodes",
            "max_exponent",
            "max_digits",
            "max_magnitude",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ParseLimits.{name} must be a positive int, got {value!r}")


#: Errors SymPy/mpmath raise when a constant is too large to evaluate.
_UNEVALUABLE = (ArithmeticError, MemoryError, ValueError, TypeError, RecursionError)
#: Conditions whose union is decided exactly (as a set of reals) before a Piecewise without
#: a default branch is accepted: this many comparisons, of polynomials of this degree.
_COVERAGE_RELATIONS, _COVERAGE_DEGREE = 16, 4


def _constant_problem(value: sp.Expr, limits: ParseLimits) -> str | None:
    """Why the constant ``value`` is unusable (not finite, too large), or ``None``.

    Called bottom-up, so every argument of ``value`` has already passed: evaluating
    ``value`` itself is then cheap (an ``exp`` of at most ``10**max_magnitude``).
    """
    bound = limits.max_magnitude
    if value.is_Rational:
        return None if abs(value.p) <= 10**bound * value.q else f"larger than 10**{bound}"
    if value.has(sp.nan, sp.zoo, sp.oo, sp.AccumBounds):
        return "not finite"
    try:
        magnitude = abs(value.evalf(15))
        if not isinstance(magnitude, sp.Float):
            return None if magnitude.is_Rational else "not a finite number"
        number = mpmath.mpf(magnitude._mpf_)
    except _UNEVALUABLE:
        return f"too large to evaluate (more than 10**{bound})"
    if mpmath.isinf(number) or mpmath.isnan(number):
        return "not finite"
    if number and mpmath.mag(number) > bound * math.log2(10) + 1:
        return f"larger than 10**{bound}"
    return None


def _coverage_problem(piecewise: sp.Piecewise) -> str | None:
    """Why ``piecewise`` may be undefined somewhere (no condition holds), or ``None``."""
    conditions = [condition for _, condition in piecewise.args]
    if conditions[-1] == sp.true:
        return None
    default = "add a default branch (value, True) as the last pair"
    union = sp.Or(*conditions)
    if union == sp.true:
        return None
    symbols = union.free_symbols
    relations = union.atoms(sp.core.relational.Relational)
    simple = len(symbols) == 1 and len(relations) <= _COVERAGE_RELATIONS
    if simple:
        (symbol,) = symbols
        for relation in relations:
            difference = relation.lhs - relation.rhs
            if not (
                difference.is_polynomial(symbol)
                and sp.degree(difference, symbol) <= _COVERAGE_DEGREE
                and all(c.is_Rational for c in sp.Poly(difference, symbol).coeffs())
            ):
                simple = False
                break
    if not simple:
        return f"the Piecewise has no default branch, so it may be undefined; {default}"
    try:
        covered = union.as_set()
    except (NotImplementedError, TypeError, ValueError):  # pragma: no cover - polynomials
        return f"the Piecewise has no default branch, so it may be undefined; {default}"
    if covered == sp.S.Reals:
        return None
    missing = sp.S.Reals - covered
    if missing.contains(0) == sp.true:
        return (
            f"the Piecewise is not defined at {symbol} = 0: no condition holds for {symbol} in "
            f"{sp.sstr(missing)}; {default}"
        )
    return (
        f"the Piecewise is not defined for {symbol} in {sp.sstr(missing)}: no condition "
        f"holds there; {default}"
    )


@dataclass(frozen=True)
class ParsedExpression:
    """A parsed expression and where it came from.

    Attributes
    ----------
    text : str
        The input string, stripped.
    expr : sympy.Basic
        The SymPy tree built by the allow-list walker.
    variables : tuple of sympy.Symbol
        The declared variables that occur in ``expr``.
    parameters : tuple of sympy.Symbol
        Every other identifier, as a real symbol, sorted by name.
    """

    text: str
    expr: sp.Basic
    variables: tuple[sp.Symbol, ...]
    parameters: tuple[sp.Symbol, ...] = field(default=())


class _Builder:
    def __init__(self, text: str, variables: Mapping[str, sp.Symbol], limits: ParseLimits):
        self.text = text
        self.variables = dict(variables)
        self.limits = limits
        self.parameters: dict[str, sp.Symbol] = {}
        self.nodes = 0

    # -- helpers ---------------------------------------------------------
    def piece(self, node: ast.AST) -> str:
        segment = ast.get_source_segment(self.text, node)
        return segment if segment is not None else type(node).__name__

    def refuse(self, node: ast.AST, reason: str) -> ExpressionError:
        return ExpressionError(f"expression {self.text!r}: {reason}: {self.piece(node)!r}")

    # -- walker ----------------------------------------------------------
    def build(self, node: ast.AST, depth: int = 0, *, boolean: bool = False) -> sp.Basic:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise ExpressionError(
                f"expression {self.text!r} has more than {self.limits.max_nodes} syntax "
                "nodes; shorten it"
            )
        if depth > self.limits.max_depth:
            raise ExpressionError(
                f"expression {self.text!r} is nested deeper than {self.limits.max_depth} "
                "levels; shorten it"
            )
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise self.refuse(node, f"{type(node).__name__} syntax is not allowed")
        result = method(node, depth + 1, boolean)
        if isinstance(result, sp.Expr) and not result.free_symbols:
            problem = _constant_problem(result, self.limits)
            if problem is not None:
                raise self.refuse(node, f"the constant is {problem}")
        return result

    def condition(self, node: ast.AST, depth: int, what: str) -> sp.Basic:
        """Build an operand of ``and``/``or``/``not``/``&``/``|``: it must be a condition."""
        value = self.build(node, depth, boolean=True)
        if not _is_condition(value):
            raise self.refuse(
                node, f"{what} combines conditions such as x > 0, and this is a number"
            )
        return value

    def require_condition_context(self, node: ast.AST, boolean: bool, what: str) -> None:
        if not boolean:
            raise self.refuse(
                node,
                f"{what} is only allowed inside a Piecewise condition, e.g. "
                "Piecewise((x, (x > 0) & (x < 1)), (0, True))",
            )

    def _Expression(self, node, depth, boolean):
        return self.build(node.body, depth, boolean=boolean)

    def _Constant(self, node, depth, boolean):
        value = node.value
        if isinstance(value, bool):
            return _BOOLEANS[value]
        if isinstance(value, int):
            if len(str(abs(value))) > self.limits.max_digits:
                raise self.refuse(
                    node, f"integer literal longer than {self.limits.max_digits} digits"
                )
            return sp.Integer(value)
        if isinstance(value, float):
            literal = self.piece(node)
            try:
                dec = decimal.Decimal(literal)
            except decimal.InvalidOperation:  # pragma: no cover - ast already validated it
                raise self.refuse(node, "unreadable number") from None
            digits = dec.as_tuple().digits
            exponent = dec.adjusted()
            if len(digits) > self.limits.max_digits or abs(exponent) > self.limits.max_digits:
                raise self.refuse(node, f"float literal beyond {self.limits.max_digits} digits")
            # The decimal the user typed, exactly (0.01 means 1/100, not a binary float).
            return sp.Rational(str(dec))
        if isinstance(value, complex):
            raise self.refuse(node, "complex literals are not allowed (activations are real)")
        raise self.refuse(node, f"{type(value).__name__} literals are not allowed")

    def _Name(self, node, depth, boolean):
        name = node.id
        if name in self.variables:
            return self.variables[name]
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name in FUNCTIONS:
            raise self.refuse(node, f"function {name!r} must be called, e.g. {name}(x)")
        if name.startswith("_") or len(name) > _MAX_NAME or not name.isascii():
            raise self.refuse(
                node, "parameter names are ASCII, at most 32 characters, and do not start with '_'"
            )
        if name not in self.parameters:
            self.parameters[name] = sp.Symbol(name, real=True)
        return self.parameters[name]

    def _UnaryOp(self, node, depth, boolean):
        if isinstance(node.op, ast.Not):
            self.require_condition_context(node, boolean, "'not'")
            return sp.Not(self.condition(node.operand, depth, "'not'"))
        operand = self.build(node.operand, depth)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        raise self.refuse(node, f"operator {type(node.op).__name__} is not allowed")

    def _BinOp(self, node, depth, boolean):
        op = node.op
        if isinstance(op, (ast.BitAnd, ast.BitOr)):
            what = "'&'" if isinstance(op, ast.BitAnd) else "'|'"
            self.require_condition_context(node, boolean, what)
            left = self.condition(node.left, depth, what)
            right = self.condition(node.right, depth, what)
            return sp.And(left, right) if isinstance(op, ast.BitAnd) else sp.Or(left, right)
        if isinstance(op, ast.BitXor):
            raise self.refuse(node, "'^' is not a power here; write a**b")
        left = self.build(node.left, depth)
        right = self.build(node.right, depth)
        for side, operand in (("left", left), ("right", right)):
            if _is_condition(operand):
                raise self.refuse(node, f"the {side} operand is a condition, not a number")
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            if right == 0:
                raise self.refuse(node, "division by zero")
            return left / right
        if isinstance(op, ast.Pow):
            return self._power(node, left, right)
        raise self.refuse(node, f"operator {type(op).__name__} is not allowed")

    def _power(self, node, base, exponent):
        limit = self.limits.max_exponent
        if exponent.is_number and exponent.is_real and abs(exponent) > limit:
            raise self.refuse(node, f"exponent larger than {limit} in absolute value")
        if base == 0 and exponent.is_number and exponent.is_real and exponent < 0:
            raise self.refuse(node, "zero to a negative power")
        result = base**exponent
        if isinstance(result, sp.Pow) and result.exp.is_number and result.exp.is_real:
            if abs(result.exp) > limit:
                raise self.refuse(node, f"combined exponent larger than {limit}")
        if result.is_Integer and len(str(abs(int(result)))) > self.limits.max_digits:
            raise self.refuse(node, f"number longer than {self.limits.max_digits} digits")
        return result

    def _Compare(self, node, depth, boolean):
        operands = [self.build(node.left, depth)] + [self.build(c, depth) for c in node.comparators]
        relations = []
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            maker = _COMPARISONS.get(type(op))
            if maker is None:
                raise self.refuse(node, f"comparison {type(op).__name__} is not allowed")
            relations.append(maker(left, right))
        return sp.And(*relations) if len(relations) > 1 else relations[0]

    def _BoolOp(self, node, depth, boolean):
        what = "'and'" if isinstance(node.op, ast.And) else "'or'"
        self.require_condition_context(node, boolean, what)
        values = [self.condition(v, depth, what) for v in node.values]
        return sp.And(*values) if isinstance(node.op, ast.And) else sp.Or(*values)

    def _Call(self, node, depth, boolean):
        if node.keywords:
            raise self.refuse(node, "keyword arguments are not allowed")
        if not isinstance(node.func, ast.Name):
            raise self.refuse(node, "only calls of listed function names are allowed")
        name = node.func.id
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.refuse(node, "starred arguments are not allowed")
        if name == "Piecewise":
            return self._piecewise(node, depth)
        if name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS) + ["Piecewise"])
            raise self.refuse(node, f"unknown function {name!r} (allowed: {allowed})")
        builder, low, high = FUNCTIONS[name]
        count = len(node.args)
        if count < low or (high is not None and count > high):
            wanted = str(low) if high == low else f"at least {low}"
            raise self.refuse(node, f"{name} takes {wanted} argument(s), got {count}")
        args = [self.build(a, depth) for a in node.args]
        if any(_is_condition(a) for a in args):
            raise self.refuse(node, f"{name} takes numbers, not conditions")
        return builder(*args)

    def _piecewise(self, node, depth):
        if not node.args:
            raise self.refuse(node, "Piecewise needs at least one (value, condition) pair")
        pairs = []
        for arg in node.args:
            if not (isinstance(arg, ast.Tuple) and len(arg.elts) == 2):
                raise self.refuse(arg, "each Piecewise argument must be a (value, condition) pair")
            value = self.build(arg.elts[0], depth)
            condition = self.build(arg.elts[1], depth, boolean=True)
            if not _is_condition(condition):
                raise self.refuse(arg.elts[1], "a Piecewise condition must be a comparison or True")
            pairs.append((value, condition))
        try:
            result = sp.Piecewise(*pairs)
        except (TypeError, ValueError) as exc:
            raise self.refuse(node, f"invalid Piecewise ({exc})") from None
        if isinstance(result, sp.Piecewise):
            problem = _coverage_problem(result)
            if problem is not None:
                raise self.refuse(node, problem)
        return result


def parse_expression(
    text: str,
    variables: Mapping[str, sp.Symbol],
    *,
    limits: ParseLimits | None = None,
) -> ParsedExpression:
    """Parse ``text`` into a SymPy expression without evaluating any code.

    Parameters
    ----------
    text : str
        The expression, in SymPy/Python syntax.
    variables : mapping of str to sympy.Symbol
        Names that denote variables. Every other free identifier becomes a real
        parameter symbol.
    limits : ParseLimits, optional
        Size limits; the defaults suit activations and losses.

    Returns
    -------
    ParsedExpression

    Raises
    ------
    ExpressionError
        If the string is empty, too long or too deep, is not valid syntax, or
        uses anything outside the allow-list. The message quotes the offending
        piece.

    Examples
    --------
    >>> import sympy as sp
    >>> f, y = sp.symbols("f y", real=True)
    >>> parse_expression("(f - y)**2 / 2", {"f": f, "y": y}).expr
    (f - y)**2/2
    >>> parse_expression("__import__('os')", {"f": f})
    Traceback (most recent call last):
    ...
    saddle_escape.symbolic.outcomes.ExpressionError: expression "__import__('os')": unknown ...
    """
    limits = limits or ParseLimits()
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ExpressionError("expression is empty; write e.g. 'tanh(x)'")
    if len(stripped) > limits.max_length:
        raise ExpressionError(
            f"expression is {len(stripped)} characters long, more than the limit of "
            f"{limits.max_length}"
        )
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"expression {stripped!r} is not valid syntax: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"expression {stripped!r} cannot be parsed: {exc}") from None
    builder = _Builder(stripped, variables, limits)
    try:
        expr = builder.build(tree)
    except RecursionError:
        raise ExpressionError(f"expression {stripped!r} is nested too deeply") from None
    except ExpressionError:
        raise
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError) as exc:
        raise ExpressionError(f"expression {stripped!r} is not a valid expression: {exc}") from None
    for power in expr.atoms(sp.Pow):
        problem = _power_problem(power, limits) if power.free_symbols else None
        if problem is not None:
            raise ExpressionError(f"expression {stripped!r}: {problem}")
    if _is_condition(expr):
        raise ExpressionError(f"expression {stripped!r} is a condition, not a function value")
    free = expr.free_symbols
    used = tuple(v for v in dict.fromkeys(variables.values()) if v in free)
    parameters = tuple(sorted(builder.parameters.values(), key=lambda s: s.name))
    return ParsedExpression(stripped, expr, used, parameters)


def parse_activation(text: str, *, limits: ParseLimits | None = None) -> ParsedExpression:
    """Parse an activation ``σ`` written in the variable ``x`` (or ``z``).

    Parameters
    ----------
    text : str
        E.g. ``"x*(1 + erf(x/sqrt(2)))/2"`` or ``"Piecewise((x, x > 0), (exp(x) - 1, True))"``.
        Identifiers other than ``x``/``z``, function names, ``pi`` and ``E`` are
        real parameters.
    limits : ParseLimits, optional

    Returns
    -------
    ParsedExpression
        With ``variables == (X,)``.

    Raises
    ------
    ExpressionError
        As :func:`parse_expression`, and when both ``x`` and ``z`` are used.

    Examples
    --------
    >>> parse_activation("x + a*x**2").parameters
    (a,)
    >>> parse_activation("tanh(z)").expr
    tanh(x)
    """
    parsed = parse_expression(text, {"x": X, "z": sp.Symbol("z", real=True)}, limits=limits)
    names = {v.name for v in parsed.variables}
    if names == {"x", "z"}:
        raise ExpressionError(
            f"activation {parsed.text!r} uses both 'x' and 'z'; write it in one variable"
        )
    expr = parsed.expr.xreplace({sp.Symbol("z", real=True): X})
    return ParsedExpression(parsed.text, expr, (X,), parsed.parameters)


def _power_problem(node: sp.Pow, limits: ParseLimits) -> str | None:
    """A power of a variable whose exponent exceeds the limit once SymPy has combined a
    product (``x**64*x**64`` is ``x**128``): the per-node check cannot see it."""
    exponent = node.exp
    if exponent.is_number and exponent.is_real and abs(exponent) > limits.max_exponent:
        shown = sp.sstr(node.base, order="none")
        return (
            f"the combined power ({shown})**{sp.sstr(exponent)} has an exponent larger than "
            f"{limits.max_exponent} in absolute value"
        )
    return None


def check_tree(expr: sp.Basic, *, label: str | None = None, limits: ParseLimits | None = None):
    """Apply the parser's checks on constants and ``Piecewise`` to a ready SymPy tree.

    For expressions that did not come from a string (a SymPy expression passed to the
    API): every constant must be finite and at most ``10**limits.max_magnitude`` in
    absolute value, and every ``Piecewise`` must be defined everywhere (a default
    ``(value, True)`` branch, or conditions that provably cover the real line). The
    tree is walked bottom-up, so no constant is evaluated before its arguments passed.

    Parameters
    ----------
    expr : sympy.Basic
    label : str, optional
        Names the expression in messages (default: as SymPy prints it, unordered).
    limits : ParseLimits, optional

    Returns
    -------
    sympy.Basic
        ``expr`` itself.

    Raises
    ------
    ExpressionError
        Naming the offending constant or ``Piecewise`` and the reason.

    Examples
    --------
    >>> check_tree(X + sp.exp(1000) * X**2)
    x**2*exp(1000) + x
    >>> check_tree(X + sp.exp(sp.exp(sp.exp(10))) * X**2)
    Traceback (most recent call last):
    ...
    saddle_escape.symbolic.outcomes.ExpressionError: expression 'x + x**2*exp(exp(exp(10)))': \
the constant exp(exp(10)) is larger than 10**1000
    """
    limits = limits or ParseLimits()
    if label is None:
        label = sp.sstr(expr, order="none")

    def visit(node: sp.Basic) -> None:
        for arg in node.args:
            visit(arg)
        if isinstance(node, sp.Piecewise):
            problem = _coverage_problem(node)
            if problem is not None:
                raise ExpressionError(f"expression {label!r}: {problem}")
        elif isinstance(node, sp.Pow) and node.free_symbols:
            problem = _power_problem(node, limits)
            if problem is not None:
                raise ExpressionError(f"expression {label!r}: {problem}")
        elif isinstance(node, sp.Expr) and node.args and not node.free_symbols:
            problem = _constant_problem(node, limits)
            if problem is not None:
                shown = sp.sstr(node, order="none")
                raise ExpressionError(f"expression {label!r}: the constant {shown} is {problem}")

    try:
        visit(expr)
    except RecursionError:
        raise ExpressionError(f"expression {label!r} is nested too deeply") from None
    return expr
