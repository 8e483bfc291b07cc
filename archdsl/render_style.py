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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

FONT = "Helvetica"
#: Text colours: main text, secondary text (types, arguments), tertiary (params, edge labels).
INK = "#1f2328"
INK_2 = "#4b5563"
INK_3 = "#6b7280"
EDGE = "#4b5563"
#: Skip edges (the source is not the node defined just before): dashed, in a calm blue.
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

#: What merge nodes show inside their small circle.
MERGE_SYMBOLS = {"add": "+", "multiply": "×", "concat": "‖"}


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

    Convolutions and pools show window, stride and filters; other types show the fields that
    are required or differ from their defaults. ``dims`` is the layer's spatial rank.

    >>> from archdsl.layers import get_layer
    >>> key_args("max_pool2d", get_layer("max_pool2d").parse({"pool": 3, "stride": 2}))
    '3×3 /2'
    >>> key_args("dense", get_layer("dense").parse({"units": 10}))
    '10 units'
    >>> key_args("leaky_relu", get_layer("leaky_relu").parse({"negative_slope": 0.2}))
    'negative_slope=0.2'
    """
    if p is None:
        return ""
    fields: dict[str, Any] = dict(p)
    parts: list[str] = []
    if kind.startswith(("conv", "depthwise_conv", "separable_conv")):
        transposed = kind.startswith("conv_transpose")
        parts.append(_window(fields["kernel"], fields["stride"], dims, "↑" if transposed else "/"))
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
    if "pool" in fields and kind.endswith(("pool1d", "pool2d", "pool3d")):
        stride = fields["stride"] if fields["stride"] is not None else fields["pool"]
        parts.append(_window(fields["pool"], stride, dims))
        if fields.get("ceil_mode"):
            parts.append("ceil")
        return ", ".join(parts)
    if kind in ("dropout", "spatial_dropout"):
        return f"p={value_text(fields['rate'])}"
    if kind == "dense":
        parts.append(f"{fields['units']} units")
        return ", ".join(parts + _non_default(p, skip=("units",)))
    if kind == "scale":
        return f"×{value_text(fields['factor'])}"
    return ", ".join(_non_default(p))


# ---------------------------------------------------------------------------- escaping
def html(text: str) -> str:
    """Escape text for a Graphviz HTML-like label."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;"
    )


def quote(text: str) -> str:
    """A DOT double-quoted string (IDs, tooltips, colours)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
