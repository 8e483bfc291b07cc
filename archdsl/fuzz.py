"""Spec generators for fuzzing: random valid specs from the layer registry, and mutations.

Used by tests/test_fuzz.py (bounded, in ``make test``) and bench/fuzz.py (the long run).

Example:
    >>> import archdsl
    >>> archdsl.loads(random_spec(seed=1)).output_shapes
    [(3,)]
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from archdsl.layers import REGISTRY, Shape, ShapeRuleError


def _drawable() -> list[str]:
    """Single-input types the generator draws on (C, H, W) maps: from the registry's traits."""
    return [k for k, layer in REGISTRY.items() if layer.arity == (1, 1) and layer.dims in (None, 2)]


def _merges() -> list[str]:
    return [k for k, layer in REGISTRY.items() if layer.category == "merge"]


@dataclass
class SpecBuilder:
    rng: random.Random
    shape: Shape = (3, 12, 12)
    body: list[dict[str, Any]] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)  # id -> output shape
    counter: int = 0

    def new_id(self) -> str:
        self.counter += 1
        return f"n{self.counter}"

    def add(self, kind: str, args: dict[str, Any], shape: Shape,
            src: str | list[str] | None = None) -> str:
        nid = self.new_id()
        entry = {"id": nid, **args}
        if src is not None:
            entry["from"] = src
        self.body.append({kind: entry})
        self.shapes[nid] = shape
        self.shape = shape
        return nid

    def layer(self) -> None:
        """Draw a registered type and arguments; keep it when its shape rule accepts them."""
        kind = self.rng.choice(_drawable())
        layer = REGISTRY[kind]
        args = layer.sample(self.rng, self.shape)
        if args is None:
            return
        try:
            out = layer.infer(layer.parse(args), [self.shape]).shape
        except (ShapeRuleError, ValidationError):
            return
        if len(out) == len(self.shape) and min(out) >= 1 and max(out[1:]) <= 24:
            self.add(kind, args, out)

    def merge(self) -> None:
        same = [i for i, shape in self.shapes.items() if shape == self.shape]
        last = self.body[-1][next(iter(self.body[-1]))]["id"] if self.body else None
        if last is None or len(same) < 2:
            return
        other = self.rng.choice([i for i in same if i != last])
        kind = self.rng.choice(_merges())
        layer = REGISTRY[kind]
        out = layer.infer(layer.parse({}), [self.shape, self.shape]).shape
        self.add(kind, {}, out, [other, last])

    def spec(self, n_layers: int) -> str:
        for _ in range(n_layers):
            if self.rng.random() < 0.2:
                self.merge()
            else:
                self.layer()
        if not self.body:
            self.add("relu", {}, self.shape)
        # dangling nodes are errors: feed every unused node into a final concat of pooled features
        used = {s for e in self.body for a in e.values() for s in _as_list(a.get("from"))}
        ids = [next(iter(e.values()))["id"] for e in self.body]
        used.update(
            a
            for a, b in itertools.pairwise(ids)
            if "from" not in next(iter(self.body[ids.index(b)].values()))
        )
        tails = [i for i in ids if i not in used]
        pooled = []
        for t in tails:
            pooled.append(self.add("global_avg_pool", {}, self.shapes[t][:1], t))
        head = pooled[0] if len(pooled) == 1 else self.add("concat", {}, (0,), pooled)
        self.add("dense", {"units": 3}, (3,), head)
        doc = {"archdsl": 1, "name": "fuzz", "input": [3, 12, 12], "body": self.body}
        return yaml.safe_dump(doc, sort_keys=False)


def _as_list(v: object) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, list) else [v]


def random_spec(seed: int, n_layers: int = 8) -> str:
    """A random valid spec: a DAG of registered 2-D layers with merges, ending in a dense head."""
    return SpecBuilder(random.Random(seed)).spec(n_layers)


TOKENS = [
    "0",
    "-1",
    "1.5",
    "''",
    "[]",
    "{}",
    "null",
    "true",
    "$x",
    "${1/0}",
    "${",
    ":",
    "- ",
    "&a",
    "*a",
    "!!str",
    "'",
    '"',
    "\t",
    "99999999999",
    "nan",
    "[[1, 2]]",
    "same",
    "from",
    "id",
]


def mutate(text: str, seed: int) -> str:
    """Apply 1-3 random textual mutations (token swaps, deletions, duplicated lines)."""
    rng = random.Random(seed)
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        op = rng.random()
        if op < 0.35:
            words = lines[i].split(" ")
            j = rng.randrange(len(words))
            words[j] = rng.choice(TOKENS)
            lines[i] = " ".join(words)
        elif op < 0.55:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op < 0.7:
            del lines[i]
        elif op < 0.85 and lines[i]:
            j = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:j] + lines[i][j + 1 :]
        else:
            lines[i] = lines[i].replace(": ", ": " + rng.choice(TOKENS) + " ", 1)
    return "\n".join(lines) + "\n"
