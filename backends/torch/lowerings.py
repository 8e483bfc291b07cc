"""The torch backend's lowering table and the helpers its family modules share.

A lowering takes the typed node (:class:`archdsl.ir.Node`: ``params``, ``in_shapes``,
``shape``, resolved ``attrs``) and the build's :class:`~archdsl.lowering.LowerContext`, and
returns a module whose forward maps NCHW tensors to the node's output. One module per layer
family registers the lowerings (``lower_conv.py`` for :mod:`archdsl.layers.conv`, ...).
"""

from __future__ import annotations

from torch import nn

from archdsl.ir import Node
from archdsl.lowering import LowerContext, Lowerings

#: layer type → lowering ``(node, ctx) -> nn.Module`` (the contract: :mod:`archdsl.lowering`)
LOWERINGS: Lowerings[nn.Module] = Lowerings("torch")
#: torch lowerings need no options: modules are built in float32 and moved with ``.to()``
CONTEXT = LowerContext()


def torch_pad(pads: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """IR ``((before, after), ...)`` (first spatial dim first) → ``F.pad`` order (last first).

    >>> torch_pad(((1, 2), (3, 4)))
    (3, 4, 1, 2)
    """
    return tuple(v for b, e in reversed(pads) for v in (b, e))


def symmetric(pads: tuple[tuple[int, int], ...]) -> tuple[int, ...] | None:
    """Per-dimension padding when every pair is symmetric, else ``None``."""
    if all(b == e for b, e in pads):
        return tuple(b for b, _ in pads)
    return None



def batch_axis(axis: int) -> int:
    """IR axis (batch excluded) → tensor dim (batch first); negative axes stay.

    >>> batch_axis(0), batch_axis(-1)
    (1, -1)
    """
    return axis + 1 if axis >= 0 else axis


def lower_node(node: Node, ctx: LowerContext = CONTEXT) -> nn.Module:
    """Lower one node, with a :class:`BackendError` naming it when its type has no lowering."""
    return LOWERINGS.lower(node, ctx)


__all__ = ["CONTEXT", "LOWERINGS", "batch_axis", "lower_node", "symmetric", "torch_pad"]
