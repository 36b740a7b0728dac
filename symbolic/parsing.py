"""Safe parsing of expression strings into SymPy trees.

SymPy's own ``sympify`` and ``parse_expr`` call ``eval`` on their input, so they
must never see a user's string. Here the string is parsed by :func:`ast.parse`
(which only builds a syntax tree, never runs anything) and an allow-list walker
builds the SymPy expression itself: numbers, ``+ - * / **``, calls of the listed
functions, the constants ``pi`` and ``E``, comparisons and boolean operators inside
``Piecewise``. Every other identifier becomes a real parameter symbol. Anything
else is refused with an :class:`~saddle_escape.symbolic.outcomes.ExpressionError` that quotes
the offending piece.
"""

from __future__ import annotations

import ast
import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sympy as sp
from saddle_escape.symbolic.outcomes import ExpressionError

__all__ = [
    "X",
    "FUNCTIONS",
    "ParseLimits",
    "ParsedExpression",
    "parse_expression",
    "parse_activation",
]

#: The activation's variable. Users may write ``x`` or ``z``; both map here.
X = sp.Symbol("x", real=True)


def _sigmoid(u):
    return 1 / (1 + sp.exp(-u))


def _softplus(u):
    return sp.log(1 + sp.exp(u))


def _relu(u):
    return sp.Max(0, u)


#: Callable names: name -> (builder, minimum arity, maximum arity or None).
FUNCTIONS: Mapping[str, tuple[Callable[..., sp.Basic], int, int | None]] = {
    "exp": (sp.exp, 1, 1),
    "log": (sp.log, 1, 1),
    "sqrt": (sp.sqrt, 1, 1),
    "cbrt": (sp.real_root, 1, 1),
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
    """

    max_length: int = 2000
    max_depth: int = 40
    max_nodes: int = 600
    max_exponent: int = 64
    max_digits: int = 60

    def __post_init__(self):
        for name in ("max_length", "max_depth", "max_nodes", "max_exponent", "max_digits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ParseLimits.{name} must be a positive int, got {value!r}")


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
        return method(node, depth + 1, boolean)

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
            return sp.Not(self.build(node.operand, depth, boolean=True))
        operand = self.build(node.operand, depth)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        raise self.refuse(node, f"operator {type(node.op).__name__} is not allowed")

    def _BinOp(self, node, depth, boolean):
        op = node.op
        if isinstance(op, (ast.BitAnd, ast.BitOr)):
            left = self.build(node.left, depth, boolean=True)
            right = self.build(node.right, depth, boolean=True)
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
        values = [self.build(v, depth, boolean=True) for v in node.values]
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
            return sp.Piecewise(*pairs)
        except (TypeError, ValueError) as exc:
            raise self.refuse(node, f"invalid Piecewise ({exc})") from None


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
