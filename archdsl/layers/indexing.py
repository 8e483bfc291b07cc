"""Indexing: slice, constant pad, roll and take (gather by a fixed index), on any axis.

Axes are the IR's (batch excluded, channels first for feature maps); negative axes count from
the end.

Example:
    >>> from archdsl.layers import get_layer
    >>> s = get_layer("slice")
    >>> s.infer(s.parse({"axis": 0, "start": 58}), [(116, 28, 28)]).shape
    (58, 28, 28)
    >>> t = get_layer("take")
    >>> t.infer(t.parse({"axis": 0, "index": "relative_position_index(7)"}), [(169, 3)]).shape
    (2401, 3)
"""

from __future__ import annotations

import random
from typing import Annotated, Any

from pydantic import Field, StrictInt

from archdsl.finite import FiniteFloat
from archdsl.layers.base import Inferred, Layer, Params, Shape, ShapeRuleError, register
from archdsl.layers.constants import constant
from archdsl.layers.geometry import NonNegInt, PosInt


def axis_of(axis: int, shape: Shape, key: str) -> int:
    """``axis`` as a non-negative index of ``shape`` (ShapeRuleError when out of range)."""
    if not -len(shape) <= axis < len(shape):
        raise ShapeRuleError(f"{key} axis {axis} out of range for shape {list(shape)}")
    return axis % len(shape)


class SliceParams(Params):
    axis: StrictInt = Field(description="the axis sliced")
    start: StrictInt = Field(0, description="first index (negative: from the end)")
    stop: StrictInt | None = Field(None, description="end index, exclusive (default: the end)")
    step: PosInt = Field(1, description="stride")


class PadParams(Params):
    pads: list[Annotated[list[NonNegInt], Field(min_length=2, max_length=2)]] = Field(
        description="[before, after] for every axis, batch excluded"
    )
    value: FiniteFloat = Field(0.0, description="the constant padded in")


class RollParams(Params):
    shifts: StrictInt | list[StrictInt] = Field(description="shift per rolled axis")
    axes: StrictInt | list[StrictInt] = Field(description="the rolled axes")


class TakeParams(Params):
    axis: StrictInt = Field(0, description="the axis indexed")
    index: list[NonNegInt] | str = Field(
        description="fixed indices, or a named constant such as 'relative_position_index(7)'"
    )


@register
class Slice(Layer):
    key = "slice"
    category = "structure"
    Params = SliceParams
    doc = "x[start:stop:step] along one axis (Python slicing rules)."
    shape_doc = "the axis becomes len(range(start, stop, step))"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        a = axis_of(p.axis, ins[0], "slice")
        n = len(range(*slice(p.start, p.stop, p.step).indices(ins[0][a])))
        if n < 1:
            raise ShapeRuleError(f"slice [{p.start}:{p.stop}:{p.step}] of {ins[0][a]} is empty")
        return Inferred((*ins[0][:a], n, *ins[0][a + 1:]))

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"axis": 0, "start": rng.choice([0, 1]), "step": rng.choice([1, 2])}


@register
class Pad(Layer):
    key = "pad"
    category = "structure"
    Params = PadParams
    doc = "Constant padding of any axis (zero_padding pads spatial axes only)."
    shape_doc = "every axis grows by before + after"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        if len(p.pads) != len(ins[0]):
            raise ShapeRuleError(
                f"pad needs one [before, after] pair per axis ({len(ins[0])}), "
                f"received {len(p.pads)}"
            )
        return Inferred(tuple(n + b + a for n, (b, a) in zip(ins[0], p.pads)))

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        before = rng.choice([0, 1])
        spatial = [[before, 1 - before]] * (len(shape) - 1)  # every spatial axis grows by 1
        return {"pads": [[0, rng.choice([0, 1])], *spatial], "value": rng.choice([0.0, -0.5])}


@register
class Roll(Layer):
    key = "roll"
    category = "structure"
    Params = RollParams
    doc = "Cyclic shift along axes (torch.roll): element i moves to i + shift."

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        shifts = [p.shifts] if isinstance(p.shifts, int) else list(p.shifts)
        axes = [p.axes] if isinstance(p.axes, int) else list(p.axes)
        if len(shifts) != len(axes):
            raise ShapeRuleError(f"roll needs one shift per axis, received {shifts} for {axes}")
        for a in axes:
            axis_of(a, ins[0], "roll")
        return Inferred(ins[0])

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        axes = rng.choice([[0], [1, -1], [0, 1, 2]])[: len(shape)]
        return {"shifts": [rng.randint(-2, 2) for _ in axes], "axes": axes}


@register
class Take(Layer):
    key = "take"
    category = "structure"
    Params = TakeParams
    doc = "Gather entries along an axis by a fixed index (e.g. Swin's relative position bias)."
    shape_doc = "the axis becomes len(index)"

    def infer(self, p: Any, ins: list[Shape]) -> Inferred:
        a = axis_of(p.axis, ins[0], "take")
        index = self.index(p)
        if not index or max(index) >= ins[0][a]:
            raise ShapeRuleError(
                f"take index reaches {max(index, default=-1)}, the axis has {ins[0][a]} entries"
            )
        return Inferred((*ins[0][:a], len(index), *ins[0][a + 1:]))

    def sample(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"axis": 0, "index": [rng.randrange(shape[0]) for _ in range(rng.randint(1, 6))]}

    @staticmethod
    def index(p: Any) -> list[int]:
        """The index list, evaluating a named constant."""
        if isinstance(p.index, list):
            return list(p.index)
        try:
            values = constant(p.index)
        except ValueError as exc:
            raise ShapeRuleError(str(exc)) from None
        if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
            raise ShapeRuleError(f"{p.index} is not a flat list of indices")
        return values


__all__ = ["axis_of"]
