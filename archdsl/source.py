"""Safe YAML loading with a source map.

The loader builds plain Python values, but every mapping and list it returns is a
:class:`YMap` or :class:`YList` that remembers where each key and item came from, so later
stages (schema validation, expansion, shape inference) can point at ``file:line:col``.

Only the YAML core schema is accepted: no Python tags, no code execution. Duplicate keys are an
error, and so are control characters and lone surrogates in strings (they could reach a terminal
or a file name). Values are built in one pass over the parser's events (libyaml's when PyYAML has
it), which bounds nesting depth and counts every value, aliases expanded, as it goes: a "billion
laughs" file, a 20,000-deep list or a megabyte of scalars fails in well under a second.

Spec files are read by :func:`archdsl.fsutil.read_file_bytes`: only regular files (never a
FIFO, a device or ``/proc`` stream that could block or never end), and never more than
``max_file_bytes``.

Example:
    >>> tree = load_text("body:\\n  - relu: {}\\n", "net.yaml")
    >>> tree["body"][0]
    {'relu': {}}
    >>> str(tree.value_loc("body"))
    'net.yaml:2:3'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archdsl.errors import LimitError, Location, SpecError, remember_source
from archdsl.fsutil import read_file_bytes

#: libyaml's parser when PyYAML was built with it (20-40x faster), else the pure-Python one.
_LOADER: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
# Characters no spec string may hold: C0/C1 controls (ESC starts terminal escape sequences),
# DEL, bidirectional overrides and isolates, and lone surrogates (not Unicode text at all).
BAD_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


@dataclass(frozen=True)
class Limits:
    """Safety limits for untrusted spec files; each number has a CLI flag (``--max-yaml-depth``...).

    ``allow_paths`` lists extra folders that ``extends:`` and ``import:`` may read from
    (``--allow-path DIR``), beside the spec's own folder tree and archdsl's shipped library.
    """

    max_file_bytes: int = 2_000_000
    max_depth: int = 64
    max_yaml_nodes: int = 200_000
    max_nodes: int = 20_000
    max_block_depth: int = 32
    max_repeat: int = 1_000
    max_expr_chars: int = 500
    max_expr_items: int = 10_000
    max_imports: int = 1_000
    max_params: int = 2_000_000_000
    max_tensor_elements: int = 2_000_000_000
    allow_paths: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_paths", tuple(str(p) for p in self.allow_paths))


DEFAULT_LIMITS = Limits()


class YMap(dict[str, Any]):
    """A dict that remembers the location of itself, its keys and its values."""

    loc: Location
    key_locs: dict[str, Location]
    value_locs: dict[str, Location]

    def __init__(self, *args: Any, loc: Location | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loc = loc or Location("<unknown>", 0, 0)
        self.key_locs = {}
        self.value_locs = {}

    def key_loc(self, key: str) -> Location:
        return self.key_locs.get(key, self.loc)

    def value_loc(self, key: str) -> Location:
        return self.value_locs.get(key, self.key_loc(key))


class YList(list[Any]):
    """A list that remembers the location of itself and of each item."""

    loc: Location
    item_locs: list[Location]

    def __init__(self, *args: Any, loc: Location | None = None) -> None:
        super().__init__(*args)
        self.loc = loc or Location("<unknown>", 0, 0)
        self.item_locs = []

    def item_loc(self, index: int) -> Location:
        if 0 <= index < len(self.item_locs):
            return self.item_locs[index]
        return self.loc


def loc_of(value: Any, fallback: Location | None = None) -> Location | None:
    """The location of a YMap/YList, else ``fallback``."""
    return getattr(value, "loc", fallback)


def locate(tree: Any, path: tuple[str | int, ...]) -> Location | None:
    """Follow ``path`` (keys and indices) into ``tree``; return the deepest known location."""
    loc: Location | None = loc_of(tree)
    node = tree
    for step in path:
        if isinstance(node, YMap) and isinstance(step, str) and step in node:
            loc = node.value_loc(step)
            node = node[step]
        elif isinstance(node, YList) and isinstance(step, int) and 0 <= step < len(node):
            loc = node.item_loc(step)
            node = node[step]
        else:
            break
    return loc


def _loc(mark: Any, file: str) -> Location:
    if mark is None:
        return Location(file, 0, 0)
    return Location(file, mark.line + 1, mark.column + 1)


def _yaml_error(exc: yaml.YAMLError, file: str, text: str) -> SpecError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    msg = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    loc = _loc(mark, file)
    position = getattr(exc, "position", None)  # a ReaderError (a character YAML refuses)
    if mark is None and isinstance(position, int):
        line = text.count("\n", 0, position)
        loc = Location(file, line + 1, position - (text.rfind("\n", 0, position) + 1) + 1)
    return SpecError(msg, loc, hint="check indentation, colons and brackets here")


def check_text(value: str, loc: Location | None) -> str:
    """Refuse a string holding control characters, direction overrides or lone surrogates.

    >>> check_text("conv\\x1b[31m", Location("net.yaml", 5, 5))
    Traceback (most recent call last):
    ...
    archdsl.errors.SpecError: net.yaml:5:5: the text holds the character '\\x1b', which a spec \
may not contain (control characters, direction overrides and lone surrogates are refused)
    """
    bad = BAD_CHARS.search(value)
    if bad is not None:
        raise SpecError(
            f"the text holds the character {bad.group()!a}, which a spec may not contain "
            "(control characters, direction overrides and lone surrogates are refused)",
            loc,
            hint="names, ids and documentation are printable text",
        )
    return value


class _Open:
    """A mapping or list being built: its value, where it started, and a pending key."""

    __slots__ = ("anchor", "key", "key_loc", "start", "value")

    def __init__(self, value: YMap | YList, anchor: str | None, start: int) -> None:
        self.value = value
        self.anchor = anchor
        self.start = start  # the value count when it opened, to size it for aliases
        self.key: str | None = None
        self.key_loc: Location | None = None


# The common cases, resolved without PyYAML's resolver: small decimal integers, and plain
# scalars whose first character starts no implicit type (those are strings).
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_TYPED_START = frozenset(yaml.resolver.Resolver.yaml_implicit_resolvers)


class _Builder:
    """Builds YMap/YList/scalars from parser events, bounding depth and counting values."""

    def __init__(self, file: str, limits: Limits) -> None:
        self.file = file
        self.limits = limits
        self.count = 0
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, values inside)
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()
        self.root: Any = None
        self.documents = 0

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.ScalarEvent):
            self.count += 1
            loc = _loc(event.start_mark, self.file)
            if self.count > self.limits.max_yaml_nodes:
                self._too_many(loc)
            value = self._scalar(event, loc)
            self._place(value, event, loc)
            if event.anchor is not None:
                self._define(event.anchor, value, 0, loc)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self._open(event)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            done = self.stack.pop()
            if done.anchor is not None:
                self._define(done.anchor, done.value, self.count - done.start, done.value.loc)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise SpecError(
                    "a spec is one YAML document, found a second one ('---')",
                    _loc(event.start_mark, self.file),
                )

    # ------------------------------------------------------------------ values
    def _too_many(self, loc: Location) -> None:
        raise LimitError(
            f"the YAML expands to more than {self.limits.max_yaml_nodes} values "
            "(aliases repeated too often?)",
            loc,
            hint="avoid nested aliases; raise the limit with --max-yaml-nodes if intended",
        )

    def _scalar(self, event: yaml.ScalarEvent, loc: Location) -> Any:
        tag, value = event.tag, event.value
        if tag is None or tag == "!":
            plain, _ = event.implicit
            if not plain:  # quoted: always a string
                return check_text(value, loc)
            if value and value[0] not in _TYPED_START:
                return check_text(value, loc)
            if _INT.fullmatch(value):
                return int(value)
            tag = self.resolver.resolve(yaml.ScalarNode, value, event.implicit)
        if tag == "tag:yaml.org,2002:str":
            return check_text(value, loc)
        start: Any = event.start_mark
        node = yaml.ScalarNode(tag, value, start, start, style=event.style)
        try:
            built = self.constructor.construct_object(node, deep=tag not in _PLAIN_TAGS)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SpecError(
                f"unsupported YAML value: {problem}",
                loc,
                hint="specs hold plain data only: numbers, strings, lists and mappings",
            ) from None
        self.constructor.constructed_objects.clear()  # it would keep every node alive
        if isinstance(built, str):
            check_text(built, loc)
        return built

    def _open(self, event: yaml.CollectionStartEvent) -> None:
        loc = _loc(event.start_mark, self.file)
        is_map = isinstance(event, yaml.MappingStartEvent)
        default = "tag:yaml.org,2002:map" if is_map else "tag:yaml.org,2002:seq"
        if event.tag not in (None, "!", default):
            raise SpecError(f"unsupported YAML tag {event.tag!r}", loc)
        if len(self.stack) >= self.limits.max_depth:
            raise LimitError(
                f"nesting deeper than {self.limits.max_depth} levels",
                loc,
                hint="a spec never needs this much nesting; raise the limit with --max-yaml-depth",
            )
        self.count += 1
        if self.count > self.limits.max_yaml_nodes:
            self._too_many(loc)
        value: YMap | YList = YMap(loc=loc) if is_map else YList(loc=loc)
        self._place(value, event, loc)
        self.stack.append(_Open(value, event.anchor, self.count))

    def _define(self, anchor: str, value: Any, inside: int, loc: Location) -> None:
        if anchor in self.anchors:
            raise SpecError(f"duplicate anchor '&{anchor}'", loc)
        self.anchors[anchor] = (value, inside)

    def _alias(self, event: yaml.AliasEvent) -> None:
        loc = _loc(event.start_mark, self.file)
        if event.anchor not in self.anchors:
            raise SpecError(
                f"alias '*{event.anchor}' refers to no complete anchor '&{event.anchor}' above it",
                loc,
            )
        value, inside = self.anchors[event.anchor]
        self.count += 1 + inside
        if self.count > self.limits.max_yaml_nodes:
            self._too_many(loc)
        self._place(_copy(value), event, loc)

    # ------------------------------------------------------------------ placing
    def _place(self, value: Any, event: yaml.Event, loc: Location) -> None:
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        container = top.value
        if isinstance(container, YList):
            container.append(value)
            container.item_locs.append(loc)
        elif top.key is None:
            top.key, top.key_loc = self._key(value, event, container, loc), loc
        else:
            container[top.key] = value
            container.key_locs[top.key] = top.key_loc or loc
            container.value_locs[top.key] = loc
            top.key = None

    def _key(self, value: Any, event: yaml.Event, mapping: YMap, loc: Location) -> str:
        if not isinstance(event, yaml.ScalarEvent):
            raise SpecError("mapping keys must be plain names", loc)
        key = event.value if isinstance(value, bool) or value is None else str(value)
        if key in mapping:
            first = mapping.key_locs[key]
            raise SpecError(
                f"duplicate key '{key}' (first defined at line {first.line})",
                loc,
                hint="YAML would silently keep only the last one; remove or rename one",
            )
        return key


def _copy(value: Any) -> Any:
    """A deep copy of an anchored value (its size was counted against the limit already)."""
    if isinstance(value, YMap):
        out = YMap(loc=value.loc)
        for k, v in value.items():
            out[k] = _copy(v)
        out.key_locs = dict(value.key_locs)
        out.value_locs = dict(value.value_locs)
        return out
    if isinstance(value, YList):
        lst = YList((_copy(v) for v in value), loc=value.loc)
        lst.item_locs = list(value.item_locs)
        return lst
    return value


def load_text(
    text: str, file: str = "<string>", limits: Limits = DEFAULT_LIMITS, *, excerpt: bool = True
) -> Any:
    """Parse YAML text safely into YMap/YList/scalars with locations.

    With ``excerpt`` (the default) errors may quote lines of ``text``; the loader turns it off
    for files a spec only refers to, until they have been read as specs.
    """
    if len(text) > limits.max_file_bytes or len(text.encode("utf-8", "replace")) > (
        limits.max_file_bytes
    ):
        raise LimitError(
            f"file is larger than {limits.max_file_bytes} bytes",
            Location(file, 1, 1),
            hint="raise the limit with --max-file-bytes if this is intended",
        )
    if "\x00" in text:
        raise SpecError("file contains NUL bytes: not a YAML text file", Location(file, 1, 1))
    surrogate = re.search("[\ud800-\udfff]", text)
    if surrogate is not None:
        raise SpecError(
            f"not Unicode text: it holds the lone surrogate {surrogate.group()!a} "
            "(was it decoded from invalid UTF-8?)",
            Location(file, 1, 1),
        )
    if excerpt:
        remember_source(file, text)
    builder = _Builder(file, limits)
    loader = _LOADER(text)
    try:
        while (event := loader.get_event()) is not None:
            builder.feed(event)
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(getattr(exc, "problem", "")):  # libyaml's own bound
            raise LimitError(
                f"nesting deeper than {limits.max_depth} levels",
                _loc(getattr(exc, "problem_mark", None), file),
                hint="a spec never needs this much nesting; raise the limit with --max-yaml-depth",
            ) from None
        raise _yaml_error(exc, file, text) from None
    finally:
        loader.dispose()
    return builder.root


def read_spec_text(
    path: str | Path, limits: Limits = DEFAULT_LIMITS, name: str | None = None
) -> str:
    """The text of a spec file (a regular file of UTF-8 text within ``max_file_bytes``).

    ``name`` is how messages call the file (default: ``path``).
    """
    name = str(path) if name is None else name
    raw = read_file_bytes(path, limits.max_file_bytes, name=name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{name}: not UTF-8 text (invalid byte at offset {exc.start}): is it a binary file?",
            hint="a spec is a YAML text file",
        ) from None


def load_file(path: str | Path, limits: Limits = DEFAULT_LIMITS, *, excerpt: bool = True) -> Any:
    """Read and parse a spec file; missing, unreadable, special or binary files raise SpecError."""
    return load_text(read_spec_text(path, limits), str(path), limits, excerpt=excerpt)
