"""One lowering per registered layer type: IR node → native ``torch.nn`` module.

The table lives in :mod:`.lowerings`; one module per layer family registers into it, named
after the family's module in :mod:`archdsl.layers` (``lower_conv`` for ``layers/conv.py``).
Importing this module registers them all (:func:`archdsl.layers.families` lists them).

Example:
    >>> import archdsl
    >>> g = archdsl.loads("archdsl: 1\\nname: t\\ninput: [3, 8, 8]\\nbody:\\n"
    ...                   "  - conv2d: {filters: 4, kernel: 3, stride: 2, padding: same}\\n")
    >>> LOWERINGS["conv2d"](g["conv2d_1"], CONTEXT)
    PaddedConv2d(3, 4, kernel_size=(3, 3), stride=(2, 2), explicit_pad=(0, 1, 0, 1))
"""

from __future__ import annotations

from importlib import import_module

from archdsl.layers import families

from .lowerings import CONTEXT, LOWERINGS, batch_axis, lower_node, symmetric, torch_pad

__all__ = ["CONTEXT", "LOWERINGS", "batch_axis", "lower_node", "symmetric", "torch_pad"]

for _family in families():  # registration: one lowering module per layer family
    import_module(f"{__package__}.lower_{_family}")
