"""Block expansion: naming scopes, the frame a body expands in, and inlining a block call.

A block call is inlined under a scope prefix (``layer1.0.conv1``); its arguments are bound in
the caller's environment, its own ``defaults:`` stack on the caller's. Per-type defaults keep
their origin, so ``check`` can say when the spec's top-level ``defaults:`` changed layers of an
imported library (a deliberate reach: ``defaults: {batchnorm: {eps: 0.001}}`` is how a zoo
spec matches Keras' epsilon everywhere, but it must not happen silently; a spec's
``defaults_scope:`` says where its defaults apply and silences the note).

Example:
    >>> import archdsl
    >>> g = archdsl.loads(
    ...     "archdsl: 1\\nname: t\\ninput: [8, 4, 4]\\nimport: [lib/se.yaml]\\n"
    ...     "defaults: {conv2d: {bias: false}}\\nbody:\\n"
    ...     "  - squeeze_excitation: {squeeze: 2, id: s}\\n",
    ...     "specs/t.yaml")
    >>> print(g.notes[0][:68])
    top-level defaults set conv2d bias=False in 2 layer(s) of the import
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archdsl.arguments import bind_block_args
from archdsl.errors import LimitError, Location, SpecError
from archdsl.ir import node_of
from archdsl.paths import builtin_specs_dir
from archdsl.source import YMap

if TYPE_CHECKING:
    import networkx as nx
    from pydantic import BaseModel

    from archdsl.source import Limits
    from archdsl.spec import BlockDef, Spec

#: the origin of a per-type default written at the spec's top level
SPEC_ORIGIN = "spec"


@dataclass
class Scope:
    """One level of naming: the top level or one block instance."""

    prefix: str  # "" at top level, else "layer1.0."
    names: dict[str, str] = field(default_factory=dict)  # local id → global node id
    counters: dict[str, int] = field(default_factory=dict)
    path: tuple[tuple[str, str], ...] = ()  # ((instance id, block name), ...) for clusters

    def auto_id(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{kind}_{self.counters[kind]}"


@dataclass
class Frame:
    """What a body is expanded with: arguments, defaults (with each one's origin: ``"spec"`` or
    the block that set it), scope, the block call stack, and the library file of the block
    being expanded (``None`` in the spec's own blocks)."""

    env: dict[str, Any]
    defaults: dict[str, dict[str, Any]]
    scope: Scope
    stack: tuple[str, ...] = ()
    origins: dict[str, dict[str, str]] = field(default_factory=dict)
    library: str | None = None
    #: ``defaults_scope: spec``: the top-level defaults stop at imported libraries
    spec_only: bool = False

    def origin(self, kind: str, key: str) -> str | None:
        """Who set the default ``key`` of layer type ``kind``."""
        return self.origins.get(kind, {}).get(key)


def top_frame(env: dict[str, Any], spec: Spec) -> Frame:
    """The frame of the spec's own body."""
    defaults = {k: dict(v) for k, v in spec.defaults.items()}
    origins = {k: dict.fromkeys(v, SPEC_ORIGIN) for k, v in spec.defaults.items()}
    return Frame(env, defaults, Scope(""), origins=origins,
                 spec_only=spec.defaults_scope == "spec")


def inner_frame(
    frame: Frame, kind: str, bdef: BlockDef, env: dict[str, Any], local: str, library: str | None
) -> Frame:
    """The frame a call of block ``kind`` expands its body in."""
    library = library if library is not None else frame.library
    keep = _defaults_kept(frame, library)
    defaults = {k: {a: v for a, v in d.items() if keep(k, a)} for k, d in frame.defaults.items()}
    origins = {k: {a: o for a, o in d.items() if keep(k, a)} for k, d in frame.origins.items()}
    for t, d in bdef.defaults.items():
        defaults[t] = {**defaults.get(t, {}), **d}
        origins[t] = {**origins.get(t, {}), **dict.fromkeys(d, kind)}
    scope = Scope(
        frame.scope.prefix + local + ".",
        path=(*frame.scope.path, (frame.scope.prefix + local, kind)),
    )
    return Frame(env, defaults, scope, (*frame.stack, kind), origins, library, frame.spec_only)


def _defaults_kept(frame: Frame, library: str | None) -> Callable[[str, str], bool]:
    """Which of ``frame``'s defaults a block body from ``library`` sees: all of them, except the
    top-level ones in a library's body under ``defaults_scope: spec``."""
    if library is None or not frame.spec_only:
        return lambda kind, key: True
    return lambda kind, key: frame.origin(kind, key) != SPEC_ORIGIN


@dataclass
class BlockCall:
    """One block call being inlined: what the builder knows about it."""

    kind: str
    raw: YMap
    loc: Location
    env: dict[str, Any]
    sources: list[str]
    local: str


def block_env(
    g: nx.DiGraph, spec: Spec, bdef: BlockDef, btree: Any, call: BlockCall
) -> dict[str, Any]:
    """The environment of a block's body: the spec's arguments, ``$i``, the block's inputs
    (``$in``, ``$inputs``, ``$in_shape``, ``$in_channels``) and its bound arguments."""
    first = node_of(g, call.sources[0])
    inner: dict[str, Any] = {k: v for k, v in call.env.items() if k in spec.args or k == "i"}
    inner.update(
        {
            "in": call.sources[0],
            "inputs": list(call.sources),
            "in_shape": list(first.shape),
            "in_channels": first.shape[0],
        }
    )
    args_tree = btree.get("args") if isinstance(btree, YMap) else None
    bind_block_args(call.kind, bdef.args, call.raw, args_tree, call.loc, call.env, inner)
    return inner


def check_call(kind: str, frame: Frame, limits: Limits, loc: Location) -> None:
    """A block may not contain itself, and nesting is bounded."""
    if kind in frame.stack:
        chain = " → ".join((*frame.stack, kind))
        raise SpecError(f"recursive block: {chain}", loc, hint="a block cannot contain itself")
    if len(frame.stack) >= limits.max_block_depth:
        raise LimitError(f"blocks nested deeper than {limits.max_block_depth}", loc,
                         hint="raise the limit with --max-block-depth if intended")


@dataclass
class DefaultsReach:
    """Top-level defaults that changed layers defined in imported libraries (none are recorded
    when the spec sets ``defaults_scope``: it said where its defaults apply)."""

    silent: bool = False
    changed: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)

    def record(self, frame: Frame, kind: str, raw: Mapping[str, Any], params: BaseModel,
               node_id: str) -> None:
        """Note the spec-level defaults of ``kind`` that changed library layer ``node_id``
        (validated as ``params``): one equal to the type's own default changed nothing."""
        if frame.library is None or self.silent:
            return
        fields = type(params).model_fields
        for key in frame.defaults.get(kind, {}):
            if key in raw or frame.origin(kind, key) != SPEC_ORIGIN:
                continue
            if key in fields and getattr(params, key) == fields[key].default:
                continue
            self.changed.setdefault((kind, key, frame.library), []).append(node_id)

    def notes(self, defaults: Mapping[str, Mapping[str, Any]], spec_file: str) -> list[str]:
        """One line per (type, library): the arguments that changed and where (a library is
        named by its path relative to ``spec_file``'s folder, as an ``import:`` writes it)."""
        grouped: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        for (kind, key, library), nodes in self.changed.items():
            keys, _ = grouped.setdefault((kind, library), ([], nodes))
            keys.append(f"{key}={defaults[kind][key]!r}")
        out = []
        for (kind, library), (keys, nodes) in grouped.items():
            shown = ", ".join(nodes[:3]) + (f" and {len(nodes) - 3} more" if len(nodes) > 3 else "")
            where = _shown(library, spec_file)
            out.append(
                f"top-level defaults set {kind} {', '.join(keys)} in {len(nodes)} layer(s) of "
                f"the imported library {where} ({shown}); write the argument in the spec's own "
                "blocks or at the call to keep a library's value"
            )
        return out


def _shown(library: str, spec_file: str) -> str:
    """``library`` relative to the spec's folder when it lies below it, as one of the shipped
    specs when it is one, else as it is."""
    path = Path(library).resolve()
    for base, shown in ((Path(spec_file).resolve().parent, "{}"),
                        (builtin_specs_dir().resolve(), "{} (shipped)")):
        if path.is_relative_to(base):
            return shown.format(path.relative_to(base))
    return library


__all__ = [
    "SPEC_ORIGIN",
    "BlockCall",
    "DefaultsReach",
    "Frame",
    "Scope",
    "block_env",
    "check_call",
    "inner_frame",
    "top_frame",
]
