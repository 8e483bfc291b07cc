"""Python source as data: calls with literal arguments, and a black-compatible formatter.

An emitter describes what a node becomes as a :class:`Call` (``nn.Conv2d(3, 64, 7,
stride=2)``) whose leaves are plain Python literals. The source generators compare the calls
of every instance of a block: a leaf that differs between instances becomes a constructor
parameter (an :class:`Expr`, e.g. ``stride`` or ``4 * channels``). :func:`render_call` lays a
call out as ``black`` / ``ruff format`` would (88 columns): on one line when it fits, else its
arguments on one indented line, else one argument per line with a trailing comma.

Example:
    >>> c = Call("nn.Conv2d", (Arg("in_channels", 3), Arg("out_channels", 64),
    ...          Arg("kernel_size", 7), Arg("stride", 2, "stride")))
    >>> render_call(c)
    'nn.Conv2d(3, 64, 7, stride=2)'
    >>> print(render_call(c.with_values({"stride": Expr("stride")}), indent=8, prefix="x = "))
    nn.Conv2d(3, 64, 7, stride=stride)
    >>> literal(float("-inf")), literal((1, 2)), literal(1e-05)
    ('float("-inf")', '(1, 2)', '1e-05')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

#: the line length of the generated files (black's and ruff format's default)
LINE = 88
INDENT = "    "


@dataclass(frozen=True)
class Expr:
    """Source text standing for a value (a parameter name, ``2 * channels``, a variable)."""

    text: str


@dataclass(frozen=True)
class Dict:
    """A dict literal with string keys (``nn.ModuleDict({"0": ..., "a": ...})``)."""

    items: tuple[tuple[str, Any], ...]


#: :attr:`Arg.default` of an argument that is always written
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()


@dataclass(frozen=True)
class Arg:
    """One argument of a :class:`Call`: ``slot`` names it for parametrization (unique within
    the call), ``keyword`` is set for keyword arguments; a keyword argument whose literal value
    equals ``default`` is left out of the source (it stays in the call, so instances that
    differ only there still share a class)."""

    slot: str
    value: Any
    keyword: str | None = None
    default: Any = REQUIRED

    @property
    def shown(self) -> bool:
        """Whether the argument is written (not a keyword repeating its default)."""
        if self.default is REQUIRED or self.keyword is None or isinstance(self.value, Expr):
            return True
        return not (type(self.value) is type(self.default) and self.value == self.default)


@dataclass(frozen=True)
class Call:
    """``func(args...)``; argument values are literals, :class:`Expr`, nested calls or lists
    of them."""

    func: str
    args: tuple[Arg, ...] = ()

    def leaves(self, prefix: str = "") -> dict[str, Any]:
        """Every literal leaf by its path (``"stride"``, ``"layers.0.kernel_size"``)."""
        out: dict[str, Any] = {}
        for a in self.args:
            _leaves(a.value, f"{prefix}{a.slot}", out)
        return out

    def with_values(self, values: Mapping[str, Any], prefix: str = "") -> Call:
        """A copy with the leaves at the given paths replaced."""
        args = tuple(replace(a, value=_replace(a.value, f"{prefix}{a.slot}", values))
                     for a in self.args)
        return replace(self, args=args)


def _leaves(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, Dict):
        for k, v in value.items:
            _leaves(v, f"{path}.{k}", out)
    elif isinstance(value, Call):
        out.update(value.leaves(path + "."))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _leaves(v, f"{path}.{i}", out)
    else:
        out[path] = value


def _replace(value: Any, path: str, values: Mapping[str, Any]) -> Any:
    if isinstance(value, Dict):
        return Dict(tuple((k, _replace(v, f"{path}.{k}", values)) for k, v in value.items))
    if isinstance(value, Call):
        return value.with_values(values, path + ".")
    if isinstance(value, list):
        return [_replace(v, f"{path}.{i}", values) for i, v in enumerate(value)]
    return values.get(path, value)


def skeleton(value: Any) -> Any:
    """A hashable form of a call with every literal leaf blanked: two instances of a block
    whose nodes have equal skeletons differ only in parameters."""
    if isinstance(value, Call):
        return (value.func, tuple((a.slot, a.keyword, skeleton(a.value)) for a in value.args))
    if isinstance(value, list):
        return ("list", tuple(skeleton(v) for v in value))
    if isinstance(value, Dict):
        return ("dict", tuple((k, skeleton(v)) for k, v in value.items))
    return "?"


def literal(value: Any) -> str:
    """Python source for a literal value (``float("inf")`` for infinities)."""
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        if math.isinf(value):
            return 'float("-inf")' if value < 0 else 'float("inf")'
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value)


def _flat(value: Any) -> str:
    if isinstance(value, Dict):
        return "{" + ", ".join(f"{literal(k)}: {_flat(v)}" for k, v in value.items) + "}"
    if isinstance(value, Call):
        return value.func + "(" + ", ".join(_flat_arg(a) for a in value.args if a.shown) + ")"
    if isinstance(value, list) and any(isinstance(v, Call) for v in value):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    return literal(value)


def _flat_arg(a: Arg) -> str:
    return (f"{a.keyword}=" if a.keyword else "") + _flat(a.value)


def one_line(value: Any) -> str:
    """``value`` (a call, a list, a literal) as source on one line."""
    return _flat(value)


def render_call(call: Call, indent: int = 0, prefix: str = "", suffix: str = "") -> str:
    """``call`` as source, laid out like black for a line ``{indent}{prefix}<call>{suffix}``
    (the result holds the call only; continuation lines carry their own indentation)."""
    return _render(call, indent, len(prefix), len(suffix))


def _render(value: Any, indent: int, head: int, tail: int) -> str:
    flat = _flat(value)
    if indent + head + len(flat) + tail <= LINE or not _splittable(value):
        return flat
    items: list[tuple[str, Any]]
    if isinstance(value, Call):
        opener, closer = value.func + "(", ")"
        items = [(f"{a.keyword}=" if a.keyword else "", a.value) for a in value.args
                 if a.shown]
    elif isinstance(value, Dict):
        opener, closer = "{", "}"
        items = [(f"{literal(k)}: ", v) for k, v in value.items]
    else:
        opener, closer, items = "[", "]", [("", v) for v in value]
    inner_pad = " " * (indent + 4)
    hug = ", ".join(key + _flat(v) for key, v in items)
    if indent + 4 + len(hug) <= LINE and not isinstance(value, Dict):
        return f"{opener}\n{inner_pad}{hug}\n{' ' * indent}{closer}"
    lines = [f"{inner_pad}{key}{_render(v, indent + 4, len(key), 1)}," for key, v in items]
    return opener + "\n" + "\n".join(lines) + "\n" + " " * indent + closer


def _splittable(value: Any) -> bool:
    if isinstance(value, Call):
        return any(a.shown for a in value.args)
    if isinstance(value, Dict):
        return bool(value.items)
    return isinstance(value, list) and bool(value)


def block(lines: Sequence[str], indent: int) -> list[str]:
    """``lines`` (possibly multi-line strings) indented by ``indent`` spaces."""
    pad = " " * indent
    out: list[str] = []
    for text in lines:
        out.extend((pad + ln) if ln else "" for ln in text.split("\n"))
    return out


def dependency_order(names: Iterable[str], deps: Mapping[str, Sequence[str]]) -> list[str]:
    """``names`` and everything they depend on (``deps``, transitively), each once, every
    dependency before its first user.

    Example:
        >>> dependency_order(["a", "c"], {"a": ["b"], "b": ["c"]})
        ['c', 'b', 'a']
    """
    order: list[str] = []

    def add(name: str) -> None:
        for dep in deps.get(name, ()):
            add(dep)
        if name not in order:
            order.append(name)

    for name in names:
        add(name)
    return order


def identifier(text: str) -> str:
    """A Python identifier for ``text`` (``layer1.0.conv`` → ``layer1_0_conv``).

    >>> identifier("layer1.0-x"), identifier("0a"), identifier("class")
    ('layer1_0_x', '_0a', 'class_')
    """
    import keyword

    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in text)
    if not out or out[0].isdigit():
        out = "_" + out
    return out + "_" if keyword.iskeyword(out) else out


def class_name(text: str) -> str:
    """A CamelCase class name for a spec or block name (``conv_block`` → ``ConvBlock``).

    >>> class_name("conv_block"), class_name("digits-cnn"), class_name("resnet18")
    ('ConvBlock', 'DigitsCnn', 'Resnet18')
    """
    parts = [p for p in "".join(c if c.isalnum() else " " for c in text).split() if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    return "_" + name if name[0].isdigit() else name


__all__ = ["INDENT", "LINE", "Arg", "Call", "Dict", "Expr", "block", "class_name",
           "dependency_order", "identifier", "literal", "render_call", "skeleton"]
