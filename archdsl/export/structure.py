"""The structure of a generated module: block instances, their members, and one class per block.

A compiled graph remembers which block instance each node came from (``node.scope``). Here the
nodes are regrouped into an :class:`Instance` tree (the root is the whole model), each instance
listing its :class:`Member` s in order: its own nodes and the block instances nested in it, with
the values they read and produce. A target (torch or Keras source) turns each member into a
:class:`Form` (its code); instances of one block with the same forms, up to literal arguments,
share a class, and so do instances that only lack a bypassable unit (ResNet's ``downsample``:
present in some blocks, absent in others, where the sum reads the block input instead).
Literal arguments that differ between the instances of a class become its parameters
(:class:`ClassPlan`).

Example:
    >>> import archdsl
    >>> g = archdsl.load("specs/resnet18.yaml")
    >>> root = instance_tree(g)
    >>> [m.local for m in root.members][:6]
    ['conv1', 'bn1', 'relu', 'maxpool', 'layer1.0', 'layer1.1']
    >>> block = root.members[4].child
    >>> block.block, block.inputs, block.outputs
    ('basic', ['maxpool'], ['layer1.0.relu2'])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archdsl.export.code import Call, Expr, identifier, skeleton
from archdsl.ir import Node

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: a value inside a class: ("in", k) for its k-th input, (member local id, k) for an output
Ref = tuple[str, int]


@dataclass
class Member:
    """A node of an instance, or a block instance nested in it (``child``)."""

    local: str
    node: Node | None
    child: Instance | None
    inputs: list[str]
    outputs: list[str]


@dataclass
class Instance:
    """One block instance (``path`` ``layer1.0`` of block ``basic``) or the root (path ``""``).

    ``inputs``: the values from outside it that its nodes read, in first-read order;
    ``outputs``: its values read outside it (or graph outputs), in node order."""

    path: str
    block: str | None
    members: list[Member] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def local(self, node_id: str) -> str:
        """``node_id`` relative to this instance."""
        return node_id[len(self.path) + 1:] if self.path else node_id

    def instances(self) -> list[Instance]:
        """Every instance nested in this one, innermost first, then this one."""
        out: list[Instance] = []
        for m in self.members:
            if m.child is not None:
                out.extend(m.child.instances())
        out.append(self)
        return out


def instance_tree(graph: Graph) -> Instance:
    """The root :class:`Instance` of ``graph`` with every block instance nested in it."""
    root = Instance("", None, inputs=list(graph.inputs), outputs=list(graph.outputs))
    made: dict[str, Instance] = {"": root}
    nodes: dict[str, list[Node]] = {}
    for node in graph.walk():
        parent = root
        for path, block in node.scope:
            inst = made.get(path)
            if inst is None:
                inst = made[path] = Instance(path, block)
                parent.members.append(Member(parent.local(path), None, inst, [], []))
            parent = inst
        parent.members.append(Member(parent.local(node.id), node, None, list(node.inputs),
                                     [node.id]))
        for path, _ in node.scope:
            nodes.setdefault(path, []).append(node)
    _wire(graph, root, nodes)
    return root


def _wire(graph: Graph, inst: Instance, nodes: dict[str, list[Node]]) -> None:
    """Fill in the inputs and outputs of ``inst``'s nested instances, depth first."""
    outs = set(graph.outputs)
    for m in inst.members:
        child = m.child
        if child is None:
            continue
        _wire(graph, child, nodes)
        inside = {n.id for n in nodes[child.path]}
        ins: dict[str, None] = {}
        for n in nodes[child.path]:
            for s in n.inputs:
                if s not in inside:
                    ins.setdefault(s)
        child.inputs = list(ins)
        child.outputs = [n.id for n in nodes[child.path]
                         if n.id in outs or any(c not in inside for c in graph.nx.successors(n.id))]
        m.inputs, m.outputs = child.inputs, child.outputs


# ---------------------------------------------------------------------------- forms
@dataclass(frozen=True)
class Form:
    """What a member becomes in one target: ``code`` (a call whose literal leaves may become
    parameters) and/or ``inline`` (an expression template over the input variables, fixed),
    plus whatever the target needs to render it (``extra``)."""

    kind: str
    code: Call | None = None
    inline: str | None = None
    extra: Any = None

    @property
    def skeleton(self) -> Any:
        return (self.kind, self.inline, skeleton(self.code) if self.code is not None else None)


#: a target's form of a member: (member, its instance) → Form
FormOf = Callable[[Member, Instance], Form]


@dataclass
class Shape:
    """One instance seen by its class: the forms and the local wiring of its members."""

    inst: Instance
    forms: dict[str, Form]
    ins: dict[str, tuple[Ref, ...]]
    outs: tuple[Ref, ...]

    @property
    def signature(self) -> tuple[Any, ...]:
        return (tuple((k, f.skeleton, self.ins[k]) for k, f in self.forms.items()), self.outs)


def shape_of(inst: Instance, form_of: FormOf) -> Shape:
    """The :class:`Shape` of ``inst``: member forms and wiring in local references."""
    where: dict[str, Ref] = {v: ("in", i) for i, v in enumerate(inst.inputs)}
    forms: dict[str, Form] = {}
    ins: dict[str, tuple[Ref, ...]] = {}
    for m in inst.members:
        forms[m.local] = form_of(m, inst)
        ins[m.local] = tuple(where[v] for v in m.inputs)
        for k, v in enumerate(m.outputs):
            where[v] = (m.local, k)
    return Shape(inst, forms, ins, tuple(where[v] for v in inst.outputs))


# ---------------------------------------------------------------------------- classes
@dataclass
class ClassPlan:
    """One generated class (torch) or function (Keras) for a set of instances of one block.

    ``members`` is the union of the members of its instances (``optional`` the top-level
    attribute groups some instances lack); ``params`` its parameters in order, with their
    default (``NO_DEFAULT`` for none); ``codes`` each member's call with the varying leaves
    replaced by :class:`Expr`; ``args`` each instance's parameter values, by path."""

    name: str
    block: str | None
    template: Shape
    instances: list[Shape]
    optional: list[str] = field(default_factory=list)
    absent: dict[str, set[str]] = field(default_factory=dict)
    params: list[tuple[str, Any]] = field(default_factory=list)
    codes: dict[str, Call | None] = field(default_factory=dict)
    args: dict[str, dict[str, Any]] = field(default_factory=dict)

    def present(self, local: str) -> list[Shape]:
        """The instances that have member ``local``."""
        return [s for s in self.instances if local in s.forms]

    def common_shape(self, local: str, shapes: Callable[[Instance, str], Any]) -> Any:
        """``shapes(inst, local)`` when equal in every instance that has the member, else None."""
        seen = {repr(shapes(s.inst, local)) for s in self.present(local)}
        return shapes(self.present(local)[0].inst, local) if len(seen) == 1 else None


NO_DEFAULT = object()


def group_of(local: str) -> str:
    """The top-level attribute of a member (``downsample`` for ``downsample.0``)."""
    return local.split(".", 1)[0]


def _bypassed(template: Shape, removed: set[str]) -> Shape | None:
    """``template`` without the members of the groups ``removed``, each read through (its
    single input standing for its single output); None when a group cannot be bypassed."""
    alias: dict[Ref, Ref] = {}
    for grp in removed:
        inside = {k for k in template.forms if group_of(k) == grp}
        ext = {r for k in inside for r in template.ins[k] if r[0] not in inside}
        read = {r for k in template.forms if k not in inside for r in template.ins[k]}
        produced = {r for r in read | set(template.outs) if r[0] in inside}
        if len(ext) != 1 or len(produced) != 1:
            return None
        alias[produced.pop()] = ext.pop()

    def through(r: Ref) -> Ref:
        while r in alias:
            r = alias[r]
        return r

    keep = [k for k in template.forms if group_of(k) not in removed]
    return Shape(template.inst, {k: template.forms[k] for k in keep},
                 {k: tuple(through(r) for r in template.ins[k]) for k in keep},
                 tuple(through(r) for r in template.outs))


def _fits(template: Shape, shape: Shape) -> set[str] | None:
    """The template's groups ``shape`` lacks, when it is the template with them bypassed."""
    if not set(shape.forms) <= set(template.forms):
        return None
    missing = {group_of(k) for k in template.forms if k not in shape.forms}
    if any(group_of(k) in missing for k in shape.forms):
        return None
    if not missing:
        return set() if shape.signature == template.signature else None
    cut = _bypassed(template, missing)
    return missing if cut is not None and cut.signature == shape.signature else None


def plan_classes(shapes: Sequence[Shape], name: str, block: str | None) -> list[ClassPlan]:
    """Group the instances of one block into classes (most members first as templates)."""
    plans: list[ClassPlan] = []
    for s in sorted(shapes, key=lambda s: -len(s.forms)):
        for plan in plans:
            missing = _fits(plan.template, s)
            if missing is not None:
                plan.instances.append(s)
                plan.absent[s.inst.path] = missing
                break
        else:
            plans.append(ClassPlan(name, block, s, [s], absent={s.inst.path: set()}))
    order = {id(s): i for i, s in enumerate(shapes)}
    for i, plan in enumerate(plans):
        plan.instances.sort(key=lambda s: order[id(s)])
        if i:
            plan.name = f"{name}{i + 1}"
        plan.optional = sorted({g for a in plan.absent.values() for g in a},
                               key=lambda g: list(map(group_of, plan.template.forms)).index(g))
    return plans


# ---------------------------------------------------------------------------- parameters
def parametrize(plan: ClassPlan, known: dict[str, list[Any]] | None = None) -> None:
    """Turn the literal leaves that differ between ``plan``'s instances into parameters.

    ``known``: named value vectors (one value per instance) tried first, such as
    ``in_channels``. A varying leaf takes the name of an equal vector, else ``k * name`` for a
    small integer k, else a new parameter named after its slot. Optional groups add a boolean
    parameter each. Parameters whose most common value covers most instances get it as default.
    """
    n = len(plan.instances)
    vectors: dict[str, list[Any]] = dict(known or {})
    order: list[str] = []
    flags = []
    for grp in plan.optional:
        name = identifier(grp)
        vectors[name] = [grp not in plan.absent[s.inst.path] for s in plan.instances]
        flags.append(name)
    for local, form in plan.template.forms.items():
        if form.code is None:
            plan.codes[local] = None
            continue
        idx = [i for i, s in enumerate(plan.instances) if local in s.forms]
        leaves = [_code(plan.instances[i], local).leaves() for i in idx]
        subst: dict[str, Any] = {}
        for path in leaves[0]:
            column = [lv.get(path) for lv in leaves]
            if all(_same(v, column[0]) for v in column):
                continue
            subst[path] = Expr(_name_for(column, idx, vectors, n, path.rsplit(".", 1)[-1],
                                         order))
        plan.codes[local] = form.code.with_values(subst)
    order.extend(f for f in flags if f not in order)
    used = _used_names(plan)
    plan.params = []
    columns: dict[str, list[Any]] = {}
    for name in order:
        if name not in used:
            continue
        col = vectors[name]
        present = [v for v in col if v is not _ABSENT]
        common, count = Counter(map(repr, present)).most_common(1)[0]
        mode = next(v for v in present if repr(v) == common)
        columns[name] = [mode if v is _ABSENT else v for v in col]
        simple = isinstance(mode, (bool, int, float, str)) or mode is None
        has_default = n > 1 and count * 2 > n and simple and name != "in_channels"
        plan.params.append((name, mode if has_default else NO_DEFAULT))
    plan.params.sort(key=lambda p: p[1] is not NO_DEFAULT)
    plan.args = {s.inst.path: {k: columns[k][i] for k, _ in plan.params}
                 for i, s in enumerate(plan.instances)}


_ABSENT = object()


def _code(shape: Shape, local: str) -> Call:
    code = shape.forms[local].code
    assert code is not None
    return code


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and repr(a) == repr(b)


def _name_for(column: list[Any], idx: list[int], vectors: dict[str, list[Any]], n: int,
              slot: str, order: list[str]) -> str:
    """The expression for a varying leaf (see :func:`parametrize`)."""

    def use(name: str) -> str:
        if name not in order:
            order.append(name)
        return name

    for name, vec in vectors.items():
        if all(_same(vec[i], v) for i, v in zip(idx, column)):
            return use(name)
    if all(type(v) is int for v in column):
        for name, vec in list(vectors.items()):
            sub = [vec[i] for i in idx]
            if not all(type(v) is int and v > 0 for v in sub):
                continue
            for k in (2, 3, 4, 6, 8):
                if all(v == k * s for v, s in zip(column, sub)):
                    return f"{k} * {use(name)}"
                if all(v * k == s for v, s in zip(column, sub)):
                    return f"{use(name)} // {k}"
    name = identifier(slot)
    while name in vectors:
        name = name + "_"
    fresh: list[Any] = [_ABSENT] * n
    for i, v in zip(idx, column):
        fresh[i] = v
    vectors[name] = fresh
    return use(name)


def _used_names(plan: ClassPlan) -> set[str]:
    used = {identifier(g) for g in plan.optional}
    for code in plan.codes.values():
        for v in (code.leaves().values() if code is not None else ()):
            if isinstance(v, Expr):
                used.update(w for w in v.text.split() if w.isidentifier())
    return used


def block_order(root: Instance) -> list[str | None]:
    """Block names, each after every block nested in it (the root's ``None`` last)."""
    order: list[str | None] = []
    for inst in root.instances():
        if inst.block not in order:
            order.append(inst.block)
    # a block nested at several depths: move each block after all of its nested blocks
    deps: dict[str | None, set[str | None]] = {}
    for inst in root.instances():
        deps.setdefault(inst.block, set()).update(
            m.child.block for m in inst.members if m.child is not None)
    done: list[str | None] = []

    def visit(b: str | None) -> None:
        if b in done:
            return
        for d in sorted(deps.get(b, set()), key=lambda x: order.index(x)):
            visit(d)
        done.append(b)

    for b in order:
        visit(b)
    return done


__all__ = ["NO_DEFAULT", "ClassPlan", "Form", "FormOf", "Instance", "Member", "Ref", "Shape",
           "block_order", "group_of", "instance_tree", "parametrize", "plan_classes", "shape_of"]
