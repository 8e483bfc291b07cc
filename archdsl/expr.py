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
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from archdsl.errors import Location, SpecError, choices_text, did_you_mean


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


def _bounded_pow(a: Any, b: Any) -> Any:
    if isinstance(b, (int, float)) and abs(b) > 64:
        raise ValueError("exponent larger than 64")
    if isinstance(a, (int, float)) and abs(a) > 1e6 and isinstance(b, (int, float)) and b > 2:
        raise ValueError("power too large")
    return operator.pow(a, b)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
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
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
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
MAX_EXPR_CHARS = 500


class ExprError(ValueError):
    """An expression failed; the caller attaches the location."""


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(
        node.value, (int, float, str, bool, type(None))
    ):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise ExprError(
            f"unknown name '{node.id}'.{did_you_mean(node.id, env)} "
            f"Known: {choices_text(env) or '(none)'}"
        )
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
        seq, index = _eval(node.value, env), _eval(node.slice, env)
        if (
            not isinstance(seq, (list, str))
            or isinstance(index, bool)
            or not isinstance(index, int)
        ):
            raise ExprError("indexing needs a list (or string) and an integer index")
        try:
            return seq[index]
        except IndexError:
            raise ExprError(f"index {index} out of range for a list of {len(seq)}") from None
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


def evaluate(expr: str, env: Mapping[str, Any], max_chars: int = MAX_EXPR_CHARS) -> Any:
    """Evaluate one expression (the text inside ``${...}``)."""
    if len(expr) > max_chars:
        raise ExprError(f"expression longer than {max_chars} characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"invalid expression '{expr}': {exc.msg}") from None
    try:
        return _eval(tree, env)
    except ExprError:
        raise
    except (ArithmeticError, TypeError, ValueError, OverflowError) as exc:
        raise ExprError(f"cannot evaluate '{expr}': {exc}") from None


def is_dynamic(value: Any) -> bool:
    """True if ``value`` is a string that refers to arguments."""
    return isinstance(value, str) and "$" in value


def evaluate_value(
    value: Any, env: Mapping[str, Any], loc: Location | None = None, max_chars: int = MAX_EXPR_CHARS
) -> Any:
    """Resolve ``$name`` / ``${expr}`` / interpolated strings; other values pass through."""
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
        return _EXPR.sub(lambda mm: str(evaluate(mm.group(1), env, max_chars)), text)
    except ExprError as exc:
        raise SpecError(str(exc), loc) from None
