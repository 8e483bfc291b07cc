"""The body of a generated ``forward`` (torch) or block function (Keras): steps and variables.

A class's members become :class:`Step` s in order; each reads some values and produces some.
:func:`assign_variables` names the value every step produces the way a person would write it:
a chain keeps overwriting one variable (``x = self.conv1(x)``), a value still needed later gets
a new one (``out = self.conv1(x)`` while ``x`` waits for the shortcut), and an optional group
(ResNet's ``downsample``) writes its result into the variable its input was in, so the code
after it reads the same name whether the group ran or not::

    out = self.bn2(out)
    if self.downsample is not None:
        x = self.downsample(x)
    out = out + x

Example:
    >>> steps = [Step(["a"], [("in", 0)], [("a", 0)]), Step(["b"], [("a", 0)], [("b", 0)])]
    >>> names = assign_variables(steps, 1, [("b", 0)], ["x"])
    >>> [(s.in_vars, s.out_vars) for s in steps], names
    ([(['x'], ['x']), (['x'], ['x'])], ['x'])
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archdsl.export.code import identifier
from archdsl.export.structure import Ref

#: names a generated variable never takes (they are the file's imports and conventions)
RESERVED = frozenset({"torch", "nn", "F", "np", "keras", "layers", "ops", "self", "name",
                      "Tensor", "List", "Tuple", "Optional", "Any", "inputs", "model",
                      "input", "super", "list", "range", "len", "float", "int"})


@dataclass
class Step:
    """One statement (or, with ``body``, an optional group of statements) of a body.

    ``locals_``: the members it runs; ``ins`` / ``outs``: the values it reads and produces;
    ``optional``: the optional group's name (its steps in ``body``). Filled in by
    :func:`assign_variables`: ``in_vars``, ``out_vars``, and ``pre`` (``(var, source var)``
    copies to emit before the step)."""

    locals_: list[str]
    ins: list[Ref]
    outs: list[Ref]
    optional: str | None = None
    body: list[Step] = field(default_factory=list)
    in_vars: list[str] = field(default_factory=list)
    out_vars: list[str] = field(default_factory=list)
    pre: list[tuple[str, str]] = field(default_factory=list)


def assign_variables(steps: list[Step], n_inputs: int, outputs: list[Ref],
                     input_names: list[str], prefer: str = "out") -> list[str]:
    """Name every value of ``steps`` (in place); returns the variables of ``outputs``.

    ``prefer``: the first name a value that cannot overwrite its input takes."""
    last: dict[Ref, float] = {}
    for i, step in enumerate(steps):
        for r in step.ins:
            last[r] = i
    for r in outputs:
        last[r] = float("inf")
    var: dict[Ref, str] = {("in", k): input_names[k] for k in range(n_inputs)}
    live: dict[str, Ref] = {v: r for r, v in var.items()}
    for i, step in enumerate(steps):
        step.in_vars = [var[r] for r in step.ins]
        for r in dict.fromkeys(step.ins):
            if last.get(r, -1) == i and live.get(var[r]) == r:
                del live[var[r]]
        if step.optional is not None:
            _optional(step, var, live, last, i)
            continue
        step.out_vars = []
        for k, r in enumerate(step.outs):
            reuse = step.in_vars[0] if k == 0 and step.in_vars else None
            name = reuse if reuse is not None and reuse not in live else _fresh(r, live, prefer)
            step.out_vars.append(name)
            var[r] = name
            live[name] = r
    return [var[r] for r in outputs]


def _fresh(r: Ref, live: dict[str, Ref], prefer: str = "out") -> str:
    """A variable name not holding a live value: ``out``, else the member's id."""
    if prefer not in live:
        return prefer
    base = identifier(r[0].split(".")[-1] if not r[0].split(".")[-1].isdigit()
                      else r[0].replace(".", "_"))
    if base in RESERVED:
        base += "_"
    name, n = base, 1
    while name in live:
        n += 1
        name = f"{base}{n}"
    return name


def _optional(step: Step, var: dict[Ref, str], live: dict[str, Ref],
              last: dict[Ref, float], i: int) -> None:
    """An optional group: its result lands where its input was (or in a copy of it)."""
    (src,) = step.in_vars[:1] or [""]
    (out_ref,) = step.outs
    if src in live:  # the input is read after the group: keep it, work on a copy
        target = _fresh(out_ref, live, "identity")
        step.pre.append((target, src))
    else:
        target = src
    inner: dict[Ref, str] = dict(var)
    inner_live = dict(live)
    inner_live[target] = out_ref
    for sub in step.body:
        sub.in_vars = [inner[r] for r in sub.ins]
        sub.out_vars = []
        for r in sub.outs:
            name = target if r == out_ref else _fresh(r, inner_live, "t")
            sub.out_vars.append(name)
            inner[r] = name
            inner_live[name] = r
    step.out_vars = [target]
    var[out_ref] = target
    live[target] = out_ref


def input_names(ids: list[str]) -> list[str]:
    """Variables for a class's inputs: ``x`` alone, else one per input id."""
    if len(ids) == 1:
        return ["x"]
    names: list[str] = []
    for i in ids:
        base = identifier(i)
        if base in RESERVED or base in names:
            base = f"{base}_{len(names)}"
        names.append(base)
    return names


__all__ = ["RESERVED", "Step", "assign_variables", "input_names"]
