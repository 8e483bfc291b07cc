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

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from archdsl import expr
from archdsl.errors import LimitError, Location, SpecError, did_you_mean, remember_source
from archdsl.paths import allowed_roots, real_path, resolve_path
from archdsl.paths import builtin_specs_dir as builtin_specs_dir  # re-exported (gallery, demo)
from archdsl.source import (
    DEFAULT_LIMITS,
    Limits,
    YList,
    YMap,
    load_text,
    locate,
    read_spec_text,
)

if TYPE_CHECKING:
    from archdsl.trainconfig import TrainConfig

#: Keys of a body entry that belong to the graph, not to the layer's arguments.
RESERVED_KEYS = ("id", "from", "repeat", "if")

#: Type names allowed for required block arguments.
ARG_TYPES = ("int", "float", "bool", "str", "list", "any")


# Empty defaults are written as values (`Field({})`): pydantic copies a mutable default for
# each instance, and `default_factory=dict` would make it inspect the signature of the
# builtin `dict`, which tokenizes its text signature (a few ms at every start-up).
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


def _limits(info: ValidationInfo) -> Limits:
    context = info.context if isinstance(info.context, dict) else {}
    limits = context.get("limits")
    return limits if isinstance(limits, Limits) else DEFAULT_LIMITS


def _dim(value: Any, info: ValidationInfo) -> Any:
    """An input dimension written as a number is at most ``--max-tensor-elements``."""
    limit = _limits(info).max_tensor_elements
    if isinstance(value, int) and not isinstance(value, bool) and value > limit:
        raise PydanticCustomError(
            "archdsl_limit",
            "input dimension {value} is larger than the limit of {limit} elements per sample",
            {"value": value, "limit": limit, "flag": "--max-tensor-elements"},
        )
    return value


#: One entry of an input shape: a positive integer, or an expression (checked once evaluated).
InputDim = Annotated[Any, AfterValidator(_dim)]


def _check_elements(shape: list[Any] | None, info: ValidationInfo) -> None:
    dims = [d for d in shape or [] if isinstance(d, int) and not isinstance(d, bool) and d > 0]
    limit = _limits(info).max_tensor_elements
    if math.prod(dims) > limit:
        raise PydanticCustomError(
            "archdsl_limit",
            "the input shape {shape} holds {n} elements per sample, more than the limit of "
            "{limit}",
            {"shape": dims, "n": math.prod(dims), "limit": limit, "flag": "--max-tensor-elements"},
        )


class BlockDef(_Strict):
    """A reusable block: typed arguments with defaults, per-type defaults, and a body."""

    doc: str | None = Field(None, description="what the block is, for docs and diagrams")
    args: dict[str, Any] = Field(
        {},
        description="argument: a type name (required: int, float, bool, str, list, any) "
        "or a default value (optional)",
    )
    defaults: dict[str, dict[str, Any]] = Field(
        {}, description="per-layer-type default arguments inside this block"
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
        None,
        description="base spec file; this file overrides its args, name, input and more "
        "(the base's expect is not inherited)",
    )
    import_: list[str] = Field(
        [], alias="import", description="block library files to import"
    )
    args: dict[str, Any] = Field(
        {}, description="spec arguments (overridable with --set k=v)"
    )
    input: list[InputDim] | None = Field(
        None, description="input shape (C, *spatial), batch excluded"
    )
    inputs: dict[str, list[InputDim]] | None = Field(None, description="several named inputs")
    defaults: dict[str, dict[str, Any]] = Field(
        {}, description="per-layer-type default arguments"
    )
    defaults_scope: Literal["imports", "spec"] | None = Field(
        None,
        description="where top-level defaults apply: 'imports' (also in imported libraries' "
        "layers, on purpose), 'spec' (only layers written in this file); unset: also in "
        "imported libraries' layers, and check notes the ones whose value they changed",
    )
    init: str = Field("torch_default", description="weight initialization scheme")
    blocks: dict[str, BlockDef] = Field({}, description="reusable blocks")
    body: list[Any] = Field(description="the nodes, chained top to bottom")
    outputs: list[str] | None = Field(None, description="output node ids (default: last node)")
    expect: Expect | None = Field(None, description="numbers that `check` verifies")
    # Validated as a TrainConfig by validate_spec, only when present: its eleven models are a
    # third of the cost of starting `archdsl check` on a spec that trains nothing.
    # (archdsl.jsonschema.spec_schema describes it as a TrainConfig for editors and the docs).
    train: Any = Field(None, description="training configuration (every hyperparameter)")

    @field_validator("input")
    @classmethod
    def _input_size(cls, value: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        _check_elements(value, info)
        return value

    @field_validator("inputs")
    @classmethod
    def _inputs_size(
        cls, value: dict[str, list[Any]] | None, info: ValidationInfo
    ) -> dict[str, list[Any]] | None:
        for shape in (value or {}).values():
            _check_elements(shape, info)
        return value

    @field_validator("init")
    @classmethod
    def _known_init(cls, value: str) -> str:
        from archdsl.init import SCHEMES

        if value not in SCHEMES:
            raise PydanticCustomError(
                "archdsl_choice",
                "unknown init scheme{mean} Valid: {valid}",
                {"mean": did_you_mean(value, SCHEMES) or ".", "valid": ", ".join(SCHEMES)},
            )
        return value


class Library(_Strict):
    """A block library file (shared between specs through ``import``)."""

    archdsl: Literal[1] = 1
    doc: str | None = None
    import_: list[str] = Field([], alias="import")
    blocks: dict[str, BlockDef] = Field({})


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
    field = ".".join(str(p) for p in path) or what
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        container = _follow(tree, path[:-1])
        if isinstance(container, YMap):
            loc = container.key_loc(key)
        fields = _fields_of(_model_at(root, tuple(err["loc"][:-1])))
        where = ".".join(str(p) for p in path[:-1])
        place = f"'{where}'" if where else what
        return SpecError(
            f"unknown key '{key}' in {place}.{did_you_mean(key, fields)}",
            loc,
            hint=f"valid keys: {', '.join(fields)}" if fields else None,
        )
    if kind == "missing":
        return SpecError(f"{what} is missing the required key '{field}'", loc)
    if kind == "archdsl_limit":
        flag = (err.get("ctx") or {}).get("flag", "the matching --max-* option")
        return LimitError(err["msg"], loc, hint=f"raise the limit with {flag} if intended")
    shown = _short(err.get("input")) + choice_hint(err)
    return SpecError(f"invalid value for '{field}' in {what}: {err['msg']}. Received: {shown}", loc)


def choice_hint(err: Any) -> str:
    """``". Did you mean 'adam'?"`` for a misspelled choice of a Literal or Enum field."""
    expected, received = (err.get("ctx") or {}).get("expected"), err.get("input")
    if err["type"] not in ("literal_error", "enum") or not isinstance(expected, str):
        return ""
    if not isinstance(received, str):
        return ""
    mean = did_you_mean(received, re.findall(r"'([^']*)'", expected))
    return "." + mean if mean else ""


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
    """``child`` over ``base``: ``args``, ``blocks`` and ``defaults`` merge key by key, other
    keys replace. The base's ``expect:`` is not inherited: it describes the base, and a child
    that changes an argument would fail it, located in a file the user did not write."""
    merged = YMap(base, loc=child.loc)
    merged.key_locs = {**base.key_locs, **child.key_locs}
    merged.value_locs = {**base.value_locs, **child.value_locs}
    merged.pop("expect", None)
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


# ------------------------------------------------------------------ extends / import
def _read_referenced(
    path: Path, limits: Limits, model: type[BaseModel], what: str, ref_loc: Location | None
) -> YMap:
    """Load a file a spec refers to; its lines may appear in errors only once it reads as
    a ``model`` (its top-level keys are the model's), so no other file is ever echoed.
    A file that cannot be read at all is reported at the line that refers to it."""
    name = str(path)
    try:
        text = read_spec_text(real_path(path) or path, limits, name)  # the checked file
    except SpecError as exc:
        if exc.loc is None or exc.loc.file == name:
            exc.loc = ref_loc
        raise
    tree = _require_mapping(load_text(text, name, limits, excerpt=False), name, what)
    if set(tree) <= set(_fields_of(model)):
        remember_source(name, text)
    return tree


def load_tree(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> YMap:
    """Load a spec file's tree, following ``extends`` (cycles are errors)."""
    return _load_tree(Path(path), limits, allowed_roots(path, limits), ())


def _load_tree(
    path: Path,
    limits: Limits,
    roots: tuple[Path, ...],
    chain: tuple[str, ...],
    ref_loc: Location | None = None,
) -> YMap:
    name = str(path)
    if chain:
        tree = _read_referenced(path, limits, Spec, f"base spec '{name}'", ref_loc)
    else:
        tree = _require_mapping(load_text(read_spec_text(path, limits), name, limits), name,
                                f"spec '{name}'")  # fmt: skip
    base_ref = tree.get("extends")
    if base_ref is None:
        return tree
    loc = tree.value_loc("extends")
    if not isinstance(base_ref, str):
        raise SpecError(f"'extends' must be a file path, received {base_ref!r}", loc)
    base_path = resolve_path(base_ref, name, loc, roots)
    here, base_key = str(real_path(path) or path), str(real_path(base_path))
    if base_key in chain or base_key == here:
        raise SpecError(f"'extends' cycle: '{base_ref}' extends this file again", loc)
    if len(chain) >= 8:
        raise SpecError("'extends' chain deeper than 8 files", loc)
    base = _load_tree(base_path, limits, roots, (*chain, here), loc)
    return _merge_base(base, tree)


def validate_spec(tree: YMap, limits: Limits = DEFAULT_LIMITS) -> Spec:
    """Validate a spec tree with pydantic; errors point at file:line:col.

    The ``train:`` section becomes a :class:`~archdsl.trainconfig.TrainConfig` (or stays
    ``None``); its module is imported only for a spec that has one.
    """
    try:
        spec = Spec.model_validate(tree, context={"limits": limits})
    except ValidationError as exc:
        raise validation_error(exc, tree, "the spec", root=Spec) from None
    if spec.train is not None:
        spec.train = validate_train(spec.train, tree, ("train",), "the spec")
    return spec


def validate_train(body: Any, tree: Any, prefix: tuple[Any, ...], what: str) -> TrainConfig:
    """``body`` (the settings found at ``prefix`` in ``tree``) as a TrainConfig; errors point at
    file:line:col and name the key from the top of ``tree``."""
    from archdsl.trainconfig import TrainConfig

    try:
        return TrainConfig.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc, tree, what, prefix, TrainConfig) from None


def load_spec(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> tuple[Spec, YMap]:
    """Load and validate a spec file; returns the model and the located tree.

    The compile that follows evaluates expressions under ``limits`` (:func:`expr.use_limits`).
    """
    expr.use_limits(limits)
    tree = load_tree(path, limits)
    return validate_spec(tree, limits), tree


def load_spec_text(
    text: str, file: str = "<string>", limits: Limits = DEFAULT_LIMITS
) -> tuple[Spec, YMap]:
    """Like :func:`load_spec` for text (``import`` resolves relative to ``file``'s folder)."""
    expr.use_limits(limits)
    tree = _require_mapping(load_text(text, file, limits), file, f"spec '{file}'")
    if "extends" in tree:
        raise SpecError("'extends' needs a spec file on disk", tree.key_loc("extends"))
    return validate_spec(tree, limits), tree


BlockEntry = tuple[BlockDef, YMap, str]


def load_libraries(
    refs: list[str], tree: YMap, file: str, limits: Limits = DEFAULT_LIMITS
) -> dict[str, BlockEntry]:
    """Load imported block libraries recursively; returns block name → (def, tree, file).

    Each library file is read once however often it is imported; every ``import:`` entry
    followed counts against ``limits.max_imports``.
    """
    expr.use_limits(limits)
    return _Libraries(allowed_roots(file, limits), limits).load(refs, tree, file, ())


class _Libraries:
    """One spec's library loading: the path policy, a cache by real path, and a counter."""

    def __init__(self, roots: tuple[Path, ...], limits: Limits) -> None:
        self.roots = roots
        self.limits = limits
        self.followed = 0
        self.done: dict[str, dict[str, BlockEntry]] = {}

    def load(
        self, refs: list[str], tree: YMap, file: str, chain: tuple[str, ...]
    ) -> dict[str, BlockEntry]:
        blocks: dict[str, BlockEntry] = {}
        imports = tree.get("import") or []
        for i, ref in enumerate(refs):
            loc = imports.item_loc(i) if isinstance(imports, YList) else tree.key_loc("import")
            self.followed += 1
            if self.followed > self.limits.max_imports:
                raise LimitError(
                    f"more than {self.limits.max_imports} imports followed "
                    "(one library imported through many paths?)",
                    loc,
                    hint="raise the limit with --max-imports if intended",
                )
            origin = loc.file if loc.line > 0 else file  # relative to the file that names it
            path = resolve_path(ref, origin, loc, self.roots)
            key = str(real_path(path))
            if key in chain:
                raise SpecError(f"import cycle: '{ref}' imports this file again", loc)
            if key not in self.done:
                self.done[key] = self._library(ref, path, (*chain, key), loc)
            for name, entry in self.done[key].items():
                if name in blocks and blocks[name][2] != entry[2]:
                    raise SpecError(
                        f"block '{name}' is defined both in '{blocks[name][2]}' and '{entry[2]}'",
                        loc,
                    )
                blocks[name] = entry
        return blocks

    def _library(
        self, ref: str, path: Path, chain: tuple[str, ...], loc: Location
    ) -> dict[str, BlockEntry]:
        lib_tree = _read_referenced(path, self.limits, Library, f"library '{ref}'", loc)
        try:
            lib = Library.model_validate(lib_tree)
        except ValidationError as exc:
            raise validation_error(exc, lib_tree, f"library '{ref}'", root=Library) from None
        nested = self.load(lib.import_, lib_tree, str(path), chain)
        for name, bdef in lib.blocks.items():
            nested[name] = (bdef, lib_tree["blocks"][name], str(path))
        return nested
