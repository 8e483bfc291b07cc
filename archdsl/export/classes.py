"""The class plans of a whole graph for one target: every block instance assigned a class.

:func:`plan_graph` walks the blocks innermost first (a block's class must exist before the
classes that instantiate it), asks the target for each member's :class:`Form`, groups the
instances of each block into classes (:func:`~archdsl.export.structure.plan_classes`) and
parametrizes them. The root (the model itself) is the last plan.

Example:
    >>> import archdsl
    >>> from archdsl.export.emit_torch import EMITTERS
    >>> g = archdsl.load("specs/resnet18.yaml")
    >>> plans = plan_graph(g, torch_forms(EMITTERS), "Resnet18", class_name).plans
    >>> [(p.name, len(p.instances), [n for n, _ in p.params]) for p in plans]
    [('Basic', 8, ['in_channels', 'out_channels', 'stride', 'downsample']), ('Resnet18', 1, [])]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archdsl.export.code import Arg, Call, class_name
from archdsl.export.emitters import Emitters, Inline
from archdsl.export.structure import (
    NO_DEFAULT,
    ClassPlan,
    Form,
    Instance,
    Member,
    block_order,
    instance_tree,
    parametrize,
    plan_classes,
    shape_of,
)

if TYPE_CHECKING:
    from archdsl.graph import Graph

__all__ = ["GraphPlan", "class_name", "instance_call", "plan_graph", "torch_forms"]


@dataclass
class GraphPlan:
    """Every class plan (innermost first, the root last) and each instance's plan."""

    graph: Graph
    root: Instance
    plans: list[ClassPlan] = field(default_factory=list)
    of: dict[str, ClassPlan] = field(default_factory=dict)

    def helpers(self) -> list[str]:
        """The helper names every emitted member needs, in first-use order."""
        out: dict[str, None] = {}
        for plan in self.plans:
            for s in plan.instances:
                for form in s.forms.values():
                    for h in getattr(form.extra, "helpers", ()):
                        out.setdefault(h)
        return list(out)


#: a target's forms: (member, its instance, the plans made so far) → Form
Forms = Callable[[Member, Instance, GraphPlan], Form]


def instance_call(plan: ClassPlan, path: str, func: str | None = None) -> Call:
    """The call that builds instance ``path`` of ``plan``: every parameter, defaulted ones as
    keywords (left out of the source when they keep the default: :func:`prune`)."""
    args = plan.args[path]
    return Call(func or plan.name, tuple(
        Arg(name, args[name]) if default is NO_DEFAULT else Arg(name, args[name], name, default)
        for name, default in plan.params))


def plan_graph(graph: Graph, forms: Forms, root_name: str,
               naming: Callable[[str], str], in_channels: bool = True) -> GraphPlan:
    """The class plans of ``graph``; ``naming`` turns a block name into a class name;
    ``in_channels``: offer the block input's channels as a parameter (torch modules take it,
    Keras layers infer it)."""
    root = instance_tree(graph)
    gp = GraphPlan(graph, root)
    by_block: dict[str | None, list[Instance]] = {}
    for inst in root.instances():
        by_block.setdefault(inst.block, []).append(inst)
    taken: set[str] = {root_name}
    for block in block_order(root):
        insts = by_block[block]
        name = root_name if block is None else _unique(naming(block), taken)
        shapes = [shape_of(inst, lambda m, i: forms(m, i, gp)) for inst in insts]
        for plan in plan_classes(shapes, name, block):
            taken.add(plan.name)
            known = {"in_channels": [_channels(graph, s.inst) for s in plan.instances]}
            parametrize(plan, known if block is not None and in_channels else None)
            gp.plans.append(plan)
            for s in plan.instances:
                gp.of[s.inst.path] = plan
    return gp


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 1
    while out in taken:
        n += 1
        out = f"{name}{n}"
    return out


def _channels(graph: Graph, inst: Instance) -> Any:
    shape = graph[inst.inputs[0]].shape if inst.inputs else ()
    return shape[0] if shape else None


def torch_forms(emitters: Emitters[Any]) -> Forms:
    """The torch-src :class:`Form` of a member: its emitted module or inline expression, or
    the call of a nested block's class."""

    def form(member: Member, inst: Instance, gp: GraphPlan) -> Form:
        if member.child is not None:
            plan = gp.of[member.child.path]
            return Form("instance", code=instance_call(plan, member.child.path), extra=plan)
        assert member.node is not None
        op = emitters.emit(member.node, None)
        if isinstance(op, Inline):
            if op.module is not None and "." in member.local:
                return Form("module", code=op.module, extra=op)
            return Form("inline", code=op.call, inline=op.template, extra=op)
        return Form("module", code=op.call, extra=op)

    return form
