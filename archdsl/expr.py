"""Safe arithmetic expressions in spec values (never ``eval``).

A value written ``$name`` is the argument ``name``; ``${...}`` is an expression over arguments.
A string with ``${...}`` inside other text is interpolated (``"stage${i}"``). Expressions are parsed
with :mod:`ast` and only a whitelist of node kinds and functions is interpreted.

Operators: arithmetic, comparisons, ``and or not``, ``a if c else b``, indexing ``xs[i]``.
Functions: ``min max abs round int float ceil floor sqrt make_divisible round_filters
round_repeats``.

Example:
    >>> evaluate_value("${round_filters(32 * width)}", {"width": 1.2})
    40
    >>> evaluate_value("$stride", {"stride": 2})
    2
    >>> evaluate_value("b${i + 1}", {"i": 0})
    'b1'
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from archdsl.errors import LimitError, Location, SpecError, choices_text, did_you_mean
from archdsl.source import BAD_CHARS


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never going below 90% of it.

    The rule of MobileNet v2/v3 and EfficientNet (torchvision ``_make_divisible``).

    >>> make_divisible(96 / 4), make_divisible(240 * 0.25), make_divisible(0.75 * 32)
    (24, 64, 24)
    """
    floor_value = divisor if min_value is None else min_value
    new = max(floor_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def round_filters(filters: float, width: float = 1.0, divisor: int = 8) -> int:
    """EfficientNet's width scaling: ``make_divisible(filters * width, divisor)``.

    >>> round_filters(32, 1.2), round_filters(1280, 1.2)
    (40, 1536)
    """
    return make_divisible(filters * width, divisor)


def round_repeats(repeats: float, depth: float = 1.0) -> int:
    """EfficientNet's depth scaling: ``ceil(repeats * depth)``.

    >>> round_repeats(2, 1.4), round_repeats(1, 1.4)
    (3, 2)
    """
    return math.ceil(repeats * depth)


MAX_EXPR_CHARS = 500
MAX_EXPR_ITEMS = 10_000
#: Integers an expression computes stay below this magnitude (64-bit, like every framework).
MAX_INT = 2**63


class ExprError(ValueError):
    """An expression failed; the caller attaches the location."""


@dataclass(frozen=True)
class ExprLimits:
    """What one expression may cost: its length, and the size of any list or string it builds."""

    max_chars: int = MAX_EXPR_CHARS
    max_items: int = MAX_EXPR_ITEMS


_DEFAULT_LIMITS = ExprLimits()
_LIMITS: ContextVar[ExprLimits] = ContextVar("archdsl_expr_limits")


def _current() -> ExprLimits:
    return _LIMITS.get(_DEFAULT_LIMITS)


def use_limits(limits: Any) -> None:
    """Evaluate expressions from now on (in this thread) under ``limits``' expression bounds.

    ``limits`` is an :class:`archdsl.source.Limits`; the spec loader calls this, so the
    compile that follows a load honours ``--max-expr-chars`` and ``--max-expr-items``.
    """
    _LIMITS.set(ExprLimits(limits.max_expr_chars, limits.max_expr_items))


@contextmanager
def limits_scope(limits: Any) -> Iterator[None]:
    """Evaluate expressions under ``limits`` inside the ``with`` block only.

    >>> from archdsl.source import Limits
    >>> with limits_scope(Limits(max_expr_items=3)):
    ...     evaluate_value("${[0] * 4}", {})
    Traceback (most recent call last):
    ...
    archdsl.errors.LimitError: ${[0] * 4} would build a list of 4 items, more than the limit of 3
    """
    token = _LIMITS.set(ExprLimits(limits.max_expr_chars, limits.max_expr_items))
    try:
        yield
    finally:
        _LIMITS.reset(token)


class _TooBig(ExprError):
    """A bound on what an expression costs was exceeded (reported as a LimitError)."""

    def __init__(self, message: str, flag: str = "--max-expr-items") -> None:
        super().__init__(message)
        self.flag = flag


def _items(value: Any, budget: int) -> int:
    """Elements of a (nested) list or characters of a string, counting at most ``budget + 1``."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, list):
        return 1
    total = 0
    stack = [value]
    while stack and total <= budget:
        for item in stack.pop():
            total += 1
            if isinstance(item, list):
                stack.append(item)
            elif isinstance(item, str):
                total += len(item)
    return total


def _checked(value: Any, node: ast.AST) -> Any:
    """Refuse a result no spec value can be: huge integers, NaN/inf, oversized lists/strings."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise ExprError(f"{_source(node)} computes an integer beyond ±2**63")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExprError(f"{_source(node)} computes {value}, not a finite number")
        return value
    if isinstance(value, str) and BAD_CHARS.search(value):
        raise ExprError(f"{_source(node)} builds a string with a control character")
    if isinstance(value, (str, list)):
        limit = _current().max_items
        if _items(value, limit) > limit:
            kind = "string" if isinstance(value, str) else "list"
            raise _TooBig(f"{_source(node)} builds a {kind} longer than the limit of {limit}")
        return value
    kind = type(value).__name__
    raise ExprError(f"{_source(node)} computes a {kind}, not a number, string or list")


def _repeat(a: Any, b: Any) -> Any:
    """``a * b``, refusing a list or string repetition larger than the limit before building it."""
    seq, n = (a, b) if isinstance(a, (str, list)) else (b, a)
    if isinstance(seq, (str, list)) and isinstance(n, int):
        limit = _current().max_items
        size = _items(seq, limit) * max(n, 0)
        if size > limit:
            what = "string of {} characters" if isinstance(seq, str) else "list of {} items"
            raise _TooBig(
                f"would build a {what.format(size)}, more than the limit of {limit}"
            )
    return operator.mul(a, b)


def _bounded_pow(a: Any, b: Any) -> Any:
    if isinstance(b, (int, float)) and abs(b) > 64:
        raise ExprError("exponent larger than 64")
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a.bit_length() * b > 64 * 4:
        raise ExprError(f"{a} ** {b} is far beyond ±2**63")
    if isinstance(a, float) and isinstance(b, (int, float)) and abs(a) > 1e6 and b > 2:
        raise ExprError("power too large")
    result = operator.pow(a, b)
    if isinstance(result, complex):
        raise ExprError(f"{a} ** {b} is a complex number")
    return result


def _numbers(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``op`` on numbers only (``%`` on a string would be printf-style formatting)."""

    def apply(a: Any, b: Any) -> Any:
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            raise ExprError(
                f"needs numbers, received {type(a).__name__} and {type(b).__name__}"
            )
        return op(a, b)

    return apply


def _round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 64):
        raise ExprError(f"round() takes at most 64 digits, received {ndigits!r}")
    return round(number, ndigits)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": _round,
    "int": int,
    "float": float,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "make_divisible": make_divisible,
    "round_filters": round_filters,
    "round_repeats": round_repeats,
}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _repeat,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _numbers(operator.mod),
    ast.Pow: _bounded_pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}

_NAME = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_EXPR = re.compile(r"\$\{([^{}]*)\}")


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(
        node.value, (int, float, str, bool, type(None))
    ):
        return _checked(node.value, node)  # `1e999` is inf, `10**30` is written out too
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise ExprError(
            f"unknown name '{node.id}'.{did_you_mean(node.id, env)} "
            f"Known: {choices_text(env) or '(none)'}"
        )
    try:
        return _checked(_compute(node, env), node)
    except _TooBig as exc:
        if str(exc).startswith("would"):  # say which part of the expression
            raise _TooBig(f"{_source(node)} {exc}", exc.flag) from None
        raise


def _compute(node: ast.AST, env: Mapping[str, Any]) -> Any:
    """Operators, comparisons, conditionals, lists, indexing and calls (results checked)."""
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, env))
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, env) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators):
            if type(op) not in _COMPARE:
                raise ExprError(f"comparison '{type(op).__name__}' is not allowed")
            right = _eval(comp, env)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, env) if _eval(node.test, env) else _eval(node.orelse, env)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, env) for e in node.elts]
    if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
        return _index(_eval(node.value, env), _eval(node.slice, env))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name not in FUNCTIONS:
            raise ExprError(
                f"unknown function '{name}'.{did_you_mean(name, FUNCTIONS)} "
                f"Valid: {choices_text(FUNCTIONS)}"
            )
        args = [_eval(a, env) for a in node.args]
        kwargs = {k.arg: _eval(k.value, env) for k in node.keywords if k.arg}
        return FUNCTIONS[name](*args, **kwargs)
    raise ExprError(f"'{type(node).__name__}' is not allowed in expressions")


def _index(seq: Any, index: Any) -> Any:
    if not isinstance(seq, (list, str)) or isinstance(index, bool) or not isinstance(index, int):
        raise ExprError("indexing needs a list (or string) and an integer index")
    try:
        return seq[index]
    except IndexError:
        raise ExprError(f"index {index} out of range for a list of {len(seq)}") from None


def _source(node: ast.AST) -> str:
    """A sub-expression for a message, written ``${...}`` (at most 60 characters inside)."""
    text = ast.unparse(node)
    return "${" + (text if len(text) <= 60 else text[:57] + "...") + "}"


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> ast.Expression:
    """``text`` parsed, kept: a block repeated N times evaluates the same expressions N times
    (the tree is only read, never changed)."""
    return ast.parse(text, mode="eval")


def evaluate(expr: str, env: Mapping[str, Any], max_chars: int | None = None) -> Any:
    """Evaluate one expression (the text inside ``${...}``).

    ``max_chars`` defaults to the current limit (``--max-expr-chars``, see :func:`use_limits`).
    """
    limit = _current().max_chars if max_chars is None else max_chars
    if len(expr) > limit:
        raise _TooBig(
            f"expression of {len(expr)} characters, longer than the limit of {limit}",
            "--max-expr-chars",
        )
    try:
        tree = _parse(expr.strip())
    except SyntaxError as exc:
        raise ExprError(f"invalid expression '{expr}': {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExprError("expression nested too deeply") from None
    try:
        return _eval(tree, env)
    except ExprError:
        raise
    except RecursionError:
        raise ExprError(f"expression '{expr}' nested too deeply") from None
    except (ArithmeticError, TypeError, ValueError, OverflowError) as exc:
        raise ExprError(f"cannot evaluate '{expr}': {exc}") from None


def is_dynamic(value: Any) -> bool:
    """True if ``value`` is a string that refers to arguments."""
    return isinstance(value, str) and "$" in value


def evaluate_value(
    value: Any, env: Mapping[str, Any], loc: Location | None = None, max_chars: int | None = None
) -> Any:
    """Resolve ``$name`` / ``${expr}`` / interpolated strings; other values pass through.

    A failure is a :class:`SpecError` at ``loc``; a bound exceeded is a :class:`LimitError`
    that names its flag.
    """
    if not is_dynamic(value):
        return value
    text: str = value
    try:
        m = _NAME.match(text)
        if m:  # a plain reference (also `$in`, which is a Python keyword)
            name = m.group(1)
            if name not in env:
                raise ExprError(
                    f"unknown name '{name}'.{did_you_mean(name, env)} "
                    f"Known: {choices_text(env) or '(none)'}"
                )
            return env[name]
        whole = _EXPR.fullmatch(text)
        if whole:
            return evaluate(whole.group(1), env, max_chars)
        if "${" not in text:
            raise ExprError(f"'{text}' is not a valid reference: write $name or ${{expression}}")
        return _interpolate(text, env, max_chars)
    except _TooBig as exc:
        hint = f"raise the limit with {exc.flag} if intended"
        raise LimitError(str(exc), loc, hint=hint) from None
    except ExprError as exc:
        raise SpecError(str(exc), loc) from None


def _interpolate(text: str, env: Mapping[str, Any], max_chars: int | None) -> str:
    """``"stage${i}"``: each ``${...}`` replaced by its value; the result is bounded too."""
    limit = _current().max_items
    parts: list[str] = []
    size = 0
    pos = 0
    for m in _EXPR.finditer(text):
        value = evaluate(m.group(1), env, max_chars)
        piece = text[pos : m.start()] + str(value)
        size += len(piece)
        if size > limit:
            raise _TooBig(f"'{text[:40]}...' builds a string longer than the limit of {limit}")
        parts.append(piece)
        pos = m.end()
    parts.append(text[pos:])
    return "".join(parts)
