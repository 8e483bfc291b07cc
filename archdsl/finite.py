"""Number types for spec fields: floats that must be finite.

YAML reads ``.nan``, ``.inf`` and ``1e999`` as floats, and pydantic's ``float`` accepts them, so
a learning rate of ``.inf`` or a BatchNorm ``eps`` of ``.nan`` would pass validation and poison
training. Annotate such fields with :data:`FiniteFloat` (or a constrained variant) instead; the
JSON Schema stays ``{"type": "number"}``.

Example:
    >>> from pydantic import BaseModel, ValidationError
    >>> class Opt(BaseModel):
    ...     lr: PositiveFiniteFloat = 1e-3
    ...     slope: FiniteFloat = 0.01
    >>> Opt(lr=0.1, slope=-0.2).lr
    0.1
    >>> try:
    ...     Opt(lr=float("inf"))
    ... except ValidationError as exc:
    ...     print(exc.errors()[0]["msg"])
    Input should be a finite number
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AllowInfNan, Field

#: A float that is neither NaN nor ±inf.
FiniteFloat = Annotated[float, AllowInfNan(False)]
#: A finite float > 0 (learning rates, epsilons, standard deviations).
PositiveFiniteFloat = Annotated[float, AllowInfNan(False), Field(gt=0)]
#: A finite float ≥ 0 (weight decay, a learning-rate floor).
NonNegativeFiniteFloat = Annotated[float, AllowInfNan(False), Field(ge=0)]

__all__ = ["FiniteFloat", "NonNegativeFiniteFloat", "PositiveFiniteFloat"]
