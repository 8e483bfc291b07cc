"""The shipped zoo: the specs that come with archdsl (``specs/`` in the repository, the
``archdsl.specs`` package once installed), found by name.

Every command that reads a spec takes a file or a shipped spec's name: ``archdsl check
resnet50`` reads the shipped ``resnet50.yaml`` when no file ``resnet50`` exists
(:func:`resolve`). ``archdsl list`` prints :func:`entries`. The JSON Schema ships beside the
specs (:data:`SCHEMA_FILE`), which name it in their first line, so an editor with the YAML
language server completes and checks a copied spec too.

Example:
    >>> from archdsl.zoo import find, names, family
    >>> find("resnet50").name
    'resnet50.yaml'
    >>> "efficientnet_b0" in names(), find("no_such_net")
    (True, None)
    >>> family("se_resnet50"), family("inception_resnet_v2"), family("googlenet")
    ('SE-ResNet', 'Inception-ResNet', 'Inception')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archdsl.errors import SpecError, did_you_mean

if TYPE_CHECKING:
    from archdsl.graph import Graph

#: The JSON Schema file shipped beside the specs (a copy of docs/archdsl.schema.json).
SCHEMA_FILE = "archdsl.schema.json"
#: Families whose name is not the first word of the spec's name (first matching prefix).
FAMILIES = (
    ("inception_resnet", "Inception-ResNet"),
    ("se_resnet", "SE-ResNet"),
    ("wide_resnet", "Wide ResNet"),
    ("googlenet", "Inception"),
    ("cifar10_cnn", "chapter example"),
    ("digits_cnn", "chapter example"),
    ("filters", "chapter example"),
)
#: How a family whose name is the spec name's first word (``resnet``, ``vgg``) is spelled.
SPELLING = {
    "alexnet": "AlexNet", "convnext": "ConvNeXt", "densenet": "DenseNet",
    "efficientnet": "EfficientNet", "inception": "Inception", "mnasnet": "MNASNet",
    "mobilenet": "MobileNet", "regnet": "RegNet", "resnet": "ResNet", "resnext": "ResNeXt",
    "shufflenet": "ShuffleNet", "squeezenet": "SqueezeNet", "swin": "Swin", "unet": "U-Net",
    "vgg": "VGG", "vit": "ViT", "xception": "Xception",
}
_SUFFIXES = (".yaml", ".yml")


def shipped_dir() -> Path:
    """The folder of the shipped specs."""
    from archdsl.paths import builtin_specs_dir

    return builtin_specs_dir()


def names() -> list[str]:
    """The shipped specs' names (file names without ``.yaml``), sorted; block libraries
    (``lib/``) are not specs."""
    return sorted(p.stem for p in shipped_dir().glob("*.yaml"))


def find(name: str) -> Path | None:
    """The shipped spec called ``name`` (``resnet50`` or ``resnet50.yaml``), or ``None``."""
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix in _SUFFIXES else name
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    path = shipped_dir() / f"{stem}.yaml"
    return path if path.is_file() else None


def family(name: str) -> str:
    """The family of the shipped spec ``name``: ``resnet50_v2`` → ``ResNet``,
    ``se_resnet50`` → ``SE-ResNet``; an unknown one is its name's first word."""
    for prefix, fam in FAMILIES:
        if name.startswith(prefix):
            return fam
    word = re.match(r"[a-z]*", name.lower())
    first = word.group() if word and word.group() else name
    return SPELLING.get(first, first)


def resolve(arg: str) -> str:
    """The file a command reads for its spec argument ``arg``.

    An existing path is itself; a bare name (no folder) that is not a file is the shipped spec
    of that name, with or without ``.yaml`` (as ``extends:`` finds it). A missing bare name
    without ``.yaml`` is a :class:`SpecError` naming the closest shipped specs; anything else
    is returned unchanged, for the loader to report.

    >>> resolve("resnet18").endswith("resnet18.yaml")
    True
    >>> resolve("resnet18.yaml") == resolve("resnet18")
    True
    >>> try:
    ...     resolve("resnt18")
    ... except SpecError as err:
    ...     print(err.message.split(".")[0])
    no file 'resnt18' and no shipped spec of that name
    """
    path = Path(arg)
    if path.exists() or any(sep in arg for sep in "/\\"):
        return arg
    shipped = find(arg)
    if shipped is not None:
        return _short(shipped)
    if path.suffix not in _SUFFIXES:
        raise SpecError(f"no file '{arg}' and no shipped spec of that name."
                        f"{did_you_mean(arg, names())}",
                        hint="`archdsl list` shows the shipped specs")
    return arg


def _short(path: Path) -> str:
    """``path`` relative to the current folder when it lies inside it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Entry:
    """One shipped spec, compiled: what ``archdsl list`` prints."""

    name: str
    family: str
    title: str
    params: int
    macs: int
    input_shapes: list[tuple[int, ...]]
    output_shapes: list[tuple[int, ...]]

    def as_json(self) -> dict[str, Any]:
        """The entry as ``archdsl list --json`` prints it."""
        return {"name": self.name, "family": self.family, "title": self.title,
                "params": self.params, "macs": self.macs,
                "input_shapes": [list(s) for s in self.input_shapes],
                "output_shapes": [list(s) for s in self.output_shapes]}


def _entry(name: str, graph: Graph) -> Entry:
    return Entry(name, family(name), graph.name, graph.params["total"], graph.macs,
                 list(graph.input_shapes), list(graph.output_shapes))


def entries() -> list[Entry]:
    """Every shipped spec, compiled (a few seconds for the whole zoo)."""
    from archdsl.graph import load

    return [_entry(name, load(shipped_dir() / f"{name}.yaml")) for name in names()]


__all__ = [
    "FAMILIES",
    "SCHEMA_FILE",
    "SPELLING",
    "Entry",
    "entries",
    "family",
    "find",
    "names",
    "resolve",
    "shipped_dir",
]
