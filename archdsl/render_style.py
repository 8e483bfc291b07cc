"""The look of archdsl diagrams: palette, fonts, and the text inside each box.

Everything here is pure formatting, so :mod:`archdsl.render` stays about structure. One fill
and one border colour per layer category (``archdsl.layers.REGISTRY[type].category``), kept
pale so that the text and the edges carry the diagram.

Example:
    >>> from archdsl.layers import get_layer
    >>> conv = get_layer("conv2d")
    >>> key_args("conv2d", conv.parse({"filters": 64, "kernel": 3, "stride": 2}))
    '3×3 /2, 64'
    >>> key_args("dropout", get_layer("dropout").parse({"rate": 0.2}))
    'p=0.2'
    >>> shape_text((32, 16, 16))
    '32×16×16'
    >>> STYLES["convolution"].fill
    '#dfeaf7'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from archdsl.errors import printable
from archdsl.layers import get_layer

if TYPE_CHECKING:
    from archdsl.render import Box

FONT = "Helvetica"
#: Text colours: main text, secondary text (types, arguments), tertiary (params, edge labels).
INK = "#1f2328"
INK_2 = "#4b5563"
INK_3 = "#6b7280"
EDGE = "#4b5563"
#: Skip edges (shortcuts that bypass the longest path into a merge): dashed, in a calm blue.
SKIP_EDGE = "#3b6fb6"


@dataclass(frozen=True)
class Style:
    """Fill and border colour of one category of node."""

    fill: str
    border: str


#: One restrained colour per layer category.
STYLES: dict[str, Style] = {
    "convolution": Style("#dfeaf7", "#5b85b8"),
    "pooling": Style("#e2f0dc", "#6b9a58"),
    "normalization": Style("#fbefd5", "#c49a3c"),
    "regularization": Style("#eeeeee", "#9a9a9a"),
    "activation": Style("#fbe3dc", "#c8735c"),
    "merge": Style("#ece3f5", "#8468ad"),
    "attention": Style("#f9e1ec", "#b0577f"),
    "structure": Style("#e6ebef", "#74838f"),
    "other": Style("#ffffff", "#8a8a8a"),
}
#: Inputs and outputs: dark ovals with white text.
TERMINAL = Style("#374151", "#1f2937")
#: A collapsed block instance (``depth=``): a bold box, fill of the cluster it stands for.
COLLAPSED = Style("#f1f3f6", "#5f6b78")
#: Cluster fills by nesting level (1 = a top-level block); deeper levels reuse the last one.
CLUSTER_FILLS = ("#f6f7f9", "#eceef2", "#e1e5ea", "#d7dce2")
CLUSTER_BORDER = "#b4bcc6"

def style_for(category: str) -> Style:
    """The style of a layer category (unknown categories get the neutral ``other``)."""
    return STYLES.get(category, STYLES["other"])


def cluster_fill(level: int) -> str:
    """Cluster fill for nesting ``level`` (1-based)."""
    return CLUSTER_FILLS[min(level, len(CLUSTER_FILLS)) - 1]


# ---------------------------------------------------------------------------- text
def shape_text(shape: Sequence[int]) -> str:
    """``(32, 16, 16)`` → ``'32×16×16'``."""
    return "×".join(str(d) for d in shape)


def count_text(n: int) -> str:
    """Thousands separators: ``1234567`` → ``'1,234,567'``."""
    return f"{n:,}"


def macs_text(n: int) -> str:
    """A compact MAC count: ``29496320`` → ``'29.5M'``."""
    for unit, div in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


def params_text(trainable: int, non_trainable: int) -> str:
    """The parameter line of a box; ``''`` when there are none.

    >>> params_text(64, 64), params_text(0, 9), params_text(0, 0)
    ('128 params', '9 params, frozen', '')
    """
    total = trainable + non_trainable
    if total == 0:
        return ""
    unit = "param" if total == 1 else "params"
    frozen = ", frozen" if trainable == 0 else ""
    return f"{count_text(total)} {unit}{frozen}"


def value_text(value: Any) -> str:
    """A parameter value as written in a spec: ``0.2``, ``same``, ``[1, 2]``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    return str(value)


def _sizes(value: Any, dims: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * dims
    return tuple(value)


def _window(kernel: Any, stride: Any, dims: int, step: str = "/") -> str:
    text = "×".join(map(str, _sizes(kernel, dims)))
    strides = _sizes(stride, dims)
    if any(s != 1 for s in strides):
        same = all(s == strides[0] for s in strides)
        text += f" {step}{strides[0] if same else '×'.join(map(str, strides))}"
    return text


def _non_default(p: BaseModel, skip: Sequence[str] = ()) -> list[str]:
    """``name=value`` for every field that is required or differs from its default."""
    out = []
    for name, field in type(p).model_fields.items():
        if name in skip:
            continue
        value = getattr(p, name)
        if field.is_required() or value != field.default:
            out.append(f"{name}={value_text(value)}")
    return out


def key_args(kind: str, p: BaseModel | None, dims: int = 2) -> str:
    """The arguments worth reading in a box: ``3×3 /2, 64`` for a conv, ``p=0.2`` for dropout.

    Convolutions and pools show window, stride and filters; a type with a ``label`` trait shows
    it, formatted with its arguments; other types show the fields that are required or differ
    from their defaults. ``dims`` is the spatial rank of types that work at any rank.

    >>> from archdsl.layers import get_layer
    >>> key_args("max_pool2d", get_layer("max_pool2d").parse({"pool": 3, "stride": 2}))
    '3×3 /2'
    >>> key_args("dense", get_layer("dense").parse({"units": 10, "bias": False}))
    '10 units, bias=false'
    >>> key_args("leaky_relu", get_layer("leaky_relu").parse({"negative_slope": 0.2}))
    'negative_slope=0.2'
    """
    if p is None:
        return ""
    layer = get_layer(kind)
    fields: dict[str, Any] = dict(p)
    dims = layer.dims or dims
    if layer.category == "convolution":
        return _conv_args(fields, dims, transposed=layer.weight_family == "transposed")
    if layer.category == "pooling" and "pool" in fields:
        stride = fields["stride"] if fields["stride"] is not None else fields["pool"]
        return ", ".join([_window(fields["pool"], stride, dims)] + ["ceil"] * fields["ceil_mode"])
    if layer.label is not None:
        used = re.findall(r"{(\w+)}", layer.label)
        text = layer.label.format(**{k: value_text(fields[k]) for k in used})
        return ", ".join([text, *_non_default(p, skip=used)])
    return ", ".join(_non_default(p))


def _conv_args(fields: dict[str, Any], dims: int, transposed: bool) -> str:
    parts = [_window(fields["kernel"], fields["stride"], dims, "↑" if transposed else "/")]
    if "filters" in fields:
        parts.append(str(fields["filters"]))
    if fields.get("multiplier", 1) != 1:
        parts.append(f"M={fields['multiplier']}")
    if any(d != 1 for d in _sizes(fields["dilation"], dims)):
        parts.append(f"dilation {value_text(fields['dilation'])}")
    if fields.get("groups", 1) != 1:
        parts.append(f"groups {fields['groups']}")
    if fields.get("fixed") is not None:
        fixed = fields["fixed"]
        parts.append(f"fixed {fixed}" if isinstance(fixed, str) else "fixed")
    return ", ".join(parts)


# ---------------------------------------------------------------------------- box text
_AUTO_ID = re.compile(r"(.+?)(_\d+)?")


def names_type(box: Box) -> bool:
    """Whether the shown name already says the type: ``relu``, ``relu_3`` (automatic ids)."""
    m = _AUTO_ID.fullmatch(box.local)
    return m is not None and m.group(1) == box.type


def box_head(box: Box) -> str:
    """Bold local name, then the type unless the name already says it (``relu_3``)."""
    head = f"<b>{html(box.local)}</b>"
    if box.kind == "block" or not names_type(box):
        head += f'&#160;&#160;<font color="{INK_2}">{html(box.type)}</font>'
    return head


def detail(parts: list[str]) -> str:
    """The second, smaller line of a box; ``''`` when there is nothing to say."""
    text = " · ".join(x for x in parts if x)
    return f'<br/><font point-size="9" color="{INK_2}">{html(text)}</font>' if text else ""


def block_detail(box: Box) -> str:
    """A collapsed block's second line: output shape, layer count, parameters."""
    size = len(box.members)
    return detail([shape_text(box.shape), f"{size} layer{'s' if size != 1 else ''}",
                   params_text(box.trainable, box.non_trainable)])


def layer_detail(box: Box, p: Any) -> str:
    """A layer's second line: key arguments and parameters."""
    try:
        args = key_args(box.type, p, 2)
    except (KeyError, TypeError, ValueError):  # an unfamiliar parameter model: no arguments
        args = ""
    return detail([args, params_text(box.trainable, box.non_trainable)])


def tooltip(box: Box) -> str:
    """The DOT tooltip of a box: name, type, shape, parameters, MACs, source line."""
    parts = [f"{box.name} ({box.type})" if box.kind != "output" else box.local,
             shape_text(box.shape)]
    if box.params:
        parts.append(f"{count_text(box.trainable)} trainable + "
                     f"{count_text(box.non_trainable)} non-trainable params")
    if box.macs:
        parts.append(f"{count_text(box.macs)} MACs")
    if box.line is not None:
        parts.append(f"line {box.line}")
    return quote(" · ".join(parts))


# ---------------------------------------------------------------------------- escaping
# XML 1.0 forbids these non-characters too (errors.printable covers controls and surrogates).
_NON_XML = re.compile("[\ufffe\uffff]")


def safe(text: str) -> str:
    """``text`` with control characters, lone surrogates, bidi overrides and XML
    non-characters written as escapes (``\\x1b``), so no name can break ``dot``, an SVG, a
    web page or a terminal.

    >>> safe("a\\x1b[31mb\\ud800\\n")
    'a\\\\x1b[31mb\\\\ud800\\\\n'
    """
    if text.isprintable():
        return text
    return _NON_XML.sub(lambda m: ascii(m.group())[1:-1], printable(text, None))


def html(text: str) -> str:
    """Escape text for a Graphviz HTML-like label (and for HTML/XML)."""
    return safe(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;"
    )


def quote(text: str) -> str:
    """A DOT double-quoted string (IDs, tooltips, colours)."""
    return '"' + safe(text).replace("\\", "\\\\").replace('"', '\\"') + '"'
