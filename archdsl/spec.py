"""The top-level spec document: pydantic models, ``extends`` and ``import`` resolution.

A spec file is validated into :class:`Spec`. Layer arguments inside ``body`` are validated later,
per layer type, once expressions are evaluated (see :mod:`archdsl.build`).

Example:
    >>> text = "archdsl: 1\\nname: tiny\\ninput: [3, 8, 8]\\nbody:\\n  - relu: {}\\n"
    >>> spec, tree = load_spec_text(text)
    >>> spec.name, spec.input
    ('tiny', [3, 8, 8])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from archdsl.errors import Location, SpecError, did_you_mean
from archdsl.source import DEFAULT_LIMITS, Limits, YList, YMap, load_file, load_text, locate
from archdsl.trainconfig import TrainConfig

#: Keys of a body entry that belong to the graph, not to the layer's arguments.
RESERVED_KEYS = ("id", "from", "repeat", "if")

#: Type names allowed for required block arguments.
ARG_TYPES = ("int", "float", "bool", "str", "list", "any")


def builtin_specs_dir() -> Path:
    """The shipped spec library (``specs/`` in the repository, ``archdsl.specs`` installed)."""
    import archdsl.specs

    return Path(archdsl.specs.__file__).resolve().parent


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BlockDef(_Strict):
    """A reusable block: typed arguments with defaults, per-type defaults, and a body."""

    doc: str | None = Field(None, description="what the block is, for docs and diagrams")
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="argument: a type name (required: int, float, bool, str, list, any) "
        "or a default value (optional)",
    )
    defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-layer-type default arguments inside this block"
    )
    body: list[Any] = Field(description="the nodes of the block; `$in` is its input")


class Expect(_Strict):
    """Numbers ``archdsl check`` verifies (a mismatch is an error)."""

    params: int | None = Field(None, description="trainable parameters")
    non_trainable: int | None = Field(None, description="non-trainable parameters")
    total: int | None = Field(None, description="all parameters")
    macs: int | None = Field(None, description="multiply-accumulates per sample")
    output_shape: list[Any] | None = Field(None, description="shape of the (single) output")


class Spec(_Strict):
    """A whole architecture file."""

    archdsl: Literal[1] = Field(1, description="DSL version")
    name: str = Field(description="model name")
    doc: str | None = Field(None, description="description, paper, chapter section")
    extends: str | None = Field(
        None, description="base spec file; this file overrides its args, name, input and more"
    )
    import_: list[str] = Field(
        default_factory=list, alias="import", description="block library files to import"
    )
    args: dict[str, Any] = Field(
        default_factory=dict, description="spec arguments (overridable with --set k=v)"
    )
    input: list[Any] | None = Field(None, description="input shape (C, *spatial), batch excluded")
    inputs: dict[str, list[Any]] | None = Field(None, description="several named inputs")
    defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-layer-type default arguments"
    )
    init: str = Field("torch_default", description="weight initialization scheme")
    blocks: dict[str, BlockDef] = Field(default_factory=dict, description="reusable blocks")
    body: list[Any] = Field(description="the nodes, chained top to bottom")
    outputs: list[str] | None = Field(None, description="output node ids (default: last node)")
    expect: Expect | None = Field(None, description="numbers that `check` verifies")
    train: TrainConfig | None = Field(
        None, description="training configuration (every hyperparameter)"
    )


class Library(_Strict):
    """A block library file (shared between specs through ``import``)."""

    archdsl: Literal[1] = 1
    doc: str | None = None
    import_: list[str] = Field(default_factory=list, alias="import")
    blocks: dict[str, BlockDef] = Field(default_factory=dict)


def first_error(exc: ValidationError) -> Any:
    """The most helpful pydantic error: an unknown key (a typo) before the missing key."""
    errors = exc.errors()
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])


def validation_error(
    exc: ValidationError,
    tree: Any,
    what: str,
    prefix: tuple[Any, ...] = (),
    root: type[BaseModel] | None = None,
) -> SpecError:
    """Turn the most helpful pydantic error into a located, human SpecError."""
    err = first_error(exc)
    path = prefix + tuple(err["loc"])
    loc = locate(tree, path)
    field = ".".join(str(p) for p in err["loc"]) or what
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        container = _follow(tree, path[:-1])
        if isinstance(container, YMap):
            loc = container.key_loc(key)
        fields = _fields_of(_model_at(root, tuple(err["loc"][:-1])))
        where = ".".join(str(p) for p in err["loc"][:-1])
        place = f"'{where}'" if where else what
        return SpecError(
            f"unknown key '{key}' in {place}.{did_you_mean(key, fields)}",
            loc,
            hint=f"valid keys: {', '.join(fields)}" if fields else None,
        )
    if kind == "missing":
        return SpecError(f"{what} is missing the required key '{field}'", loc)
    shown = _short(err.get("input"))
    return SpecError(f"invalid value for '{field}' in {what}: {err['msg']}. Received: {shown}", loc)


def _model_at(model: type[BaseModel] | None, path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model reached by following ``path`` from ``model`` (for did-you-mean)."""
    for step in path:
        if model is None:
            return None
        names = {f.alias or n: n for n, f in model.model_fields.items()}
        if isinstance(step, str) and step in names:
            model = _first_model(model.model_fields[names[step]].annotation)
        # else: a list index or dict key; the element's model was already taken
    return model


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _fields_of(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _follow(tree: Any, path: tuple[Any, ...]) -> Any:
    node = tree
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


def _require_mapping(tree: Any, file: str, what: str) -> YMap:
    if tree is None:
        raise SpecError(
            f"{what} is empty",
            Location(file, 1, 1),
            hint="a spec needs at least `name`, `input` and `body`",
        )
    if not isinstance(tree, YMap):
        kind = "a list" if isinstance(tree, YList) else f"a {type(tree).__name__}"
        raise SpecError(
            f"{what} must be a mapping (key: value lines) at the top level, received {kind}",
            getattr(tree, "loc", Location(file, 1, 1)),
        )
    return tree


def _merge_base(base: YMap, child: YMap) -> YMap:
    merged = YMap(base, loc=child.loc)
    merged.key_locs = {**base.key_locs, **child.key_locs}
    merged.value_locs = {**base.value_locs, **child.value_locs}
    for key, value in child.items():
        if key == "extends":
            continue
        if (
            key in ("args", "blocks", "defaults")
            and isinstance(base.get(key), YMap)
            and isinstance(value, YMap)
        ):
            inner = YMap(base[key], loc=value.loc)
            inner.key_locs = {**base[key].key_locs, **value.key_locs}
            inner.value_locs = {**base[key].value_locs, **value.value_locs}
            inner.update(value)
            merged[key] = inner
        else:
            merged[key] = value
    merged.pop("extends", None)
    return merged


def resolve_path(ref: str, relative_to: str, loc: Location | None) -> Path:
    """Resolve an ``import``/``extends`` path: relative to the file, else the built-in library."""
    candidates = [Path(relative_to).parent / ref]
    if ref.startswith("lib/"):
        candidates.append(builtin_specs_dir() / ref)
    for c in candidates:
        if c.is_file():
            return c
    raise SpecError(
        f"cannot find '{ref}' (looked in {', '.join(str(c) for c in candidates)})",
        loc,
        hint="paths are relative to the spec file; built-in libraries are 'lib/<name>.yaml'",
    )


def load_tree(
    path: str | Path, limits: Limits = DEFAULT_LIMITS, _chain: tuple[str, ...] = ()
) -> YMap:
    """Load a spec file's tree, following ``extends`` (cycles are errors)."""
    name = str(path)
    tree = _require_mapping(load_file(path, limits), name, f"spec '{name}'")
    base_ref = tree.get("extends")
    if base_ref is None:
        return tree
    loc = tree.value_loc("extends")
    if not isinstance(base_ref, str):
        raise SpecError(f"'extends' must be a file path, received {base_ref!r}", loc)
    base_path = resolve_path(base_ref, name, loc)
    key = str(base_path.resolve())
    if key in _chain or key == str(Path(name).resolve()):
        raise SpecError(f"'extends' cycle: '{base_ref}' extends this file again", loc)
    if len(_chain) > 8:
        raise SpecError("'extends' chain deeper than 8 files", loc)
    base = load_tree(base_path, limits, (*_chain, str(Path(name).resolve())))
    return _merge_base(base, tree)


def validate_spec(tree: YMap) -> Spec:
    """Validate a spec tree with pydantic; errors point at file:line:col."""
    try:
        return Spec.model_validate(tree)
    except ValidationError as exc:
        raise validation_error(exc, tree, "the spec", root=Spec) from None


def load_spec(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> tuple[Spec, YMap]:
    """Load and validate a spec file; returns the model and the located tree."""
    tree = load_tree(path, limits)
    return validate_spec(tree), tree


def load_spec_text(
    text: str, file: str = "<string>", limits: Limits = DEFAULT_LIMITS
) -> tuple[Spec, YMap]:
    """Like :func:`load_spec` for text (``extends`` resolves relative to the cwd)."""
    tree = _require_mapping(load_text(text, file, limits), file, f"spec '{file}'")
    if "extends" in tree:
        raise SpecError("'extends' needs a spec file on disk", tree.key_loc("extends"))
    return validate_spec(tree), tree


def load_libraries(
    refs: list[str], tree: YMap, file: str, limits: Limits, _seen: tuple[str, ...] = ()
) -> dict[str, tuple[BlockDef, YMap, str]]:
    """Load imported block libraries recursively; returns block name → (def, tree, file)."""
    blocks: dict[str, tuple[BlockDef, YMap, str]] = {}
    imports = tree.get("import") or []
    for i, ref in enumerate(refs):
        loc = imports.item_loc(i) if isinstance(imports, YList) else tree.key_loc("import")
        path = resolve_path(ref, file, loc)
        key = str(path.resolve())
        if key in _seen:
            raise SpecError(f"import cycle: '{ref}' imports this file again", loc)
        lib_tree = _require_mapping(load_file(path, limits), str(path), f"library '{ref}'")
        try:
            lib = Library.model_validate(lib_tree)
        except ValidationError as exc:
            raise validation_error(exc, lib_tree, f"library '{ref}'", root=Library) from None
        nested = load_libraries(lib.import_, lib_tree, str(path), limits, (*_seen, key))
        for name, bdef in lib.blocks.items():
            nested[name] = (bdef, lib_tree["blocks"][name], str(path))
        for name, entry in nested.items():
            if name in blocks and blocks[name][2] != entry[2]:
                raise SpecError(
                    f"block '{name}' is defined both in '{blocks[name][2]}' and '{entry[2]}'", loc
                )
            blocks[name] = entry
    return blocks
