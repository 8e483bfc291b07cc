"""Safe YAML loading with a source map.

The loader builds plain Python values, but every mapping and list it returns is a
:class:`YMap` or :class:`YList` that remembers where each key and item came from, so later
stages (schema validation, expansion, shape inference) can point at ``file:line:col``.

Only the YAML core schema is accepted: no Python tags, no code execution. Duplicate keys are an
error. Nesting depth and alias expansion are bounded before anything is built, so a "billion
laughs" file or a 20,000-deep list fails fast with a clear message.

Example:
    >>> tree = load_text("body:\\n  - relu: {}\\n", "net.yaml")
    >>> tree["body"][0]
    {'relu': {}}
    >>> str(tree.value_loc("body"))
    'net.yaml:2:3'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from archdsl.errors import LimitError, Location, SpecError


@dataclass(frozen=True)
class Limits:
    """Safety limits for untrusted spec files; each has a CLI override."""

    max_file_bytes: int = 2_000_000
    max_depth: int = 64
    max_yaml_nodes: int = 200_000
    max_nodes: int = 20_000
    max_block_depth: int = 32
    max_repeat: int = 1_000
    max_expr_chars: int = 500
    max_params: int = 2_000_000_000
    max_tensor_elements: int = 2_000_000_000


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


def _prescan(text: str, file: str, limits: Limits) -> None:
    """Bound nesting depth and alias use with the (non-recursive) event parser."""
    depth = 0
    aliases = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > limits.max_depth:
                    raise LimitError(
                        f"nesting deeper than {limits.max_depth} levels",
                        _loc(event.start_mark, file),
                        hint="a spec never needs this much nesting; is the file generated wrongly?",
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None


def _yaml_error(exc: yaml.YAMLError, file: str) -> SpecError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    msg = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    return SpecError(msg, _loc(mark, file), hint="check indentation, colons and brackets here")


class _Builder:
    """Turns a composed YAML node graph into YMap/YList/scalars, counting every built value."""

    def __init__(self, file: str, limits: Limits) -> None:
        self.file = file
        self.limits = limits
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node) -> Any:
        # Iterative construction: no recursion, so depth is bounded only by the prescan limit.
        self.count += 1
        root_holder: list[Any] = [None]
        stack: list[tuple[yaml.Node, Any, Any]] = [(node, root_holder, 0)]
        while stack:
            cur, parent, slot = stack.pop()
            value = self._make(cur)
            if isinstance(parent, YMap):
                parent[slot] = value
            else:
                parent[slot] = value
            if isinstance(cur, yaml.MappingNode):
                for key_node, val_node in cur.value:
                    key = self._key(key_node, value)
                    value[key] = None
                    value.key_locs[key] = _loc(key_node.start_mark, self.file)
                    value.value_locs[key] = _loc(val_node.start_mark, self.file)
                    self._tick(val_node)
                    stack.append((val_node, value, key))
            elif isinstance(cur, yaml.SequenceNode):
                value.extend([None] * len(cur.value))
                for i, item in enumerate(cur.value):
                    value.item_locs.append(_loc(item.start_mark, self.file))
                    self._tick(item)
                    stack.append((item, value, i))
        return root_holder[0]

    def _tick(self, node: yaml.Node) -> None:
        self.count += 1
        if self.count > self.limits.max_yaml_nodes:
            raise LimitError(
                f"the YAML expands to more than {self.limits.max_yaml_nodes} values "
                "(aliases repeated too often?)",
                _loc(node.start_mark, self.file),
                hint="avoid nested aliases; raise the limit with --max-yaml-nodes if intended",
            )

    def _make(self, node: yaml.Node) -> Any:
        loc = _loc(node.start_mark, self.file)
        if isinstance(node, yaml.MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                raise SpecError(f"unsupported YAML tag {node.tag!r}", loc)
            return YMap(loc=loc)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise SpecError(f"unsupported YAML tag {node.tag!r}", loc)
            return YList(loc=loc)
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SpecError(
                f"unsupported YAML value: {problem}",
                loc,
                hint="specs hold plain data only: numbers, strings, lists and mappings",
            ) from None

    def _key(self, key_node: yaml.Node, mapping: YMap) -> str:
        loc = _loc(key_node.start_mark, self.file)
        if not isinstance(key_node, yaml.ScalarNode):
            raise SpecError("mapping keys must be plain names", loc)
        key = self._make(key_node)
        if isinstance(key, bool) or key is None:
            key = key_node.value  # `on:`, `yes:`, `null:` as written
        key = str(key)
        if key in mapping:
            first = mapping.key_locs[key]
            raise SpecError(
                f"duplicate key '{key}' (first defined at line {first.line})",
                loc,
                hint="YAML would silently keep only the last one; remove or rename one",
            )
        return key


def load_text(text: str, file: str = "<string>", limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse YAML text safely into YMap/YList/scalars with locations."""
    if len(text.encode("utf-8", errors="replace")) > limits.max_file_bytes:
        raise LimitError(
            f"file is larger than {limits.max_file_bytes} bytes",
            Location(file, 1, 1),
            hint="raise the limit with --max-file-bytes if this is intended",
        )
    if "\x00" in text:
        raise SpecError("file contains NUL bytes: not a YAML text file", Location(file, 1, 1))
    _prescan(text, file, limits)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None
    if node is None:
        return None
    return _Builder(file, limits).build(node)


def load_file(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Read and parse a spec file; missing, unreadable or binary files raise SpecError."""
    p = Path(path)
    name = str(path)
    try:
        size = p.stat().st_size
    except OSError:
        raise SpecError(f"cannot read '{name}': no such file", hint="check the path") from None
    if p.is_dir():
        raise SpecError(f"'{name}' is a directory, expected a YAML spec file")
    if size > limits.max_file_bytes:
        raise LimitError(
            f"'{name}' is {size} bytes, more than the limit of {limits.max_file_bytes}",
            Location(name, 1, 1),
            hint="raise it with --max-file-bytes if this is intended",
        )
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read '{name}': {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{name}: not UTF-8 text (invalid byte at offset {exc.start}): is it a binary file?",
            hint="a spec is a YAML text file",
        ) from None
    return load_text(text, name, limits)
