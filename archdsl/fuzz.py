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

#: element-wise layer types the generator adds without arguments
PLAIN_ELEMENTWISE = (
    "relu", "gelu", "swish", "hard_swish", "elu", "sigmoid", "tanh", "hard_sigmoid", "relu6",
    "identity",
)  # fmt: skip
SPATIAL_LAYERS = [
    "conv2d",
    "depthwise_conv2d",
    "separable_conv2d",
    "conv_transpose2d",
    "max_pool2d",
    "avg_pool2d",
    "batchnorm",
    *PLAIN_ELEMENTWISE,
    "leaky_relu",
    "zero_padding",
    "scale",
    "spatial_dropout",
    "dropout",
]


@dataclass
class SpecBuilder:
    rng: random.Random
    channels: int = 3
    size: int = 12
    body: list[dict[str, Any]] = field(default_factory=list)
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (C, H) square maps
    counter: int = 0

    def new_id(self) -> str:
        self.counter += 1
        return f"n{self.counter}"

    def add(
        self, kind: str, args: dict[str, Any], c: int, h: int, src: str | list[str] | None = None
    ) -> str:
        nid = self.new_id()
        entry = {"id": nid, **args}
        if src is not None:
            entry["from"] = src
        self.body.append({kind: entry})
        self.shapes[nid] = (c, h)
        self.channels, self.size = c, h
        return nid

    def layer(self) -> None:
        r, c, h = self.rng, self.channels, self.size
        kind = r.choice(SPATIAL_LAYERS)
        k = r.choice([1, 2, 3])
        s = r.choice([1, 1, 2]) if h >= 4 else 1
        pad = r.choice(["same", "valid", 0, 1])
        if isinstance(pad, int) and pad >= k:
            pad = "same"
        if kind == "conv2d":
            g = r.choice([g for g in (1, 2, 3) if c % g == 0])
            f = g * r.randint(1, 3)
            d = r.choice([1, 1, 2])
            args = {
                "filters": f,
                "kernel": k,
                "stride": s,
                "padding": pad,
                "dilation": d,
                "groups": g,
                "bias": r.random() < 0.5,
            }
            keff = d * (k - 1) + 1
            out = _out(h, keff, s, pad)
            if out >= 1:
                self.add(kind, args, f, out)
        elif kind == "depthwise_conv2d":
            m = r.choice([1, 2])
            out = _out(h, k, s, pad)
            if out >= 1:
                self.add(
                    kind, {"kernel": k, "stride": s, "padding": pad, "multiplier": m}, c * m, out
                )
        elif kind == "separable_conv2d":
            f = r.randint(1, 6)
            out = _out(h, k, s, pad)
            if out >= 1:
                self.add(kind, {"filters": f, "kernel": k, "stride": s, "padding": pad}, f, out)
        elif kind == "conv_transpose2d" and h <= 8:
            p = r.choice(["same", "valid"])
            f = r.randint(1, 4)
            out = h * s if p == "same" else s * (h - 1) + k
            self.add(kind, {"filters": f, "kernel": k, "stride": s, "padding": p}, f, out)
        elif kind in ("max_pool2d", "avg_pool2d") and h >= 2:
            k = r.choice([2, 3]) if h >= 3 else 2
            p = r.choice(["same", "valid"])
            out = _out(h, k, s if s > 1 else k, p)
            if out >= 1:
                self.add(kind, {"pool": k, "stride": s if s > 1 else k, "padding": p}, c, out)
        elif kind == "zero_padding" and h <= 14:
            self.add(kind, {"padding": 1}, c, h + 2)
        elif kind == "scale":
            self.add(kind, {"factor": 0.5}, c, h)
        elif kind in ("dropout", "spatial_dropout"):
            self.add(kind, {"rate": 0.25}, c, h)
        elif kind == "leaky_relu":
            self.add(kind, {"negative_slope": 0.1}, c, h)
        elif kind == "batchnorm":
            self.add(kind, {"eps": 0.001}, c, h)
        elif kind in PLAIN_ELEMENTWISE:
            self.add(kind, {}, c, h)

    def merge(self) -> None:
        same = [i for i, (c, h) in self.shapes.items() if (c, h) == (self.channels, self.size)]
        last = self.body[-1][next(iter(self.body[-1]))]["id"] if self.body else None
        if last is None or len(same) < 2:
            return
        other = self.rng.choice([i for i in same if i != last])
        kind = self.rng.choice(["add", "concat", "multiply"])
        c = self.channels * 2 if kind == "concat" else self.channels
        self.add(kind, {}, c, self.size, [other, last])

    def spec(self, n_layers: int) -> str:
        for _ in range(n_layers):
            if self.rng.random() < 0.2:
                self.merge()
            else:
                self.layer()
        if not self.body:
            self.add("relu", {}, self.channels, self.size)
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
            pooled.append(self.add("global_avg_pool", {}, self.shapes[t][0], 1, t))
        head = pooled[0] if len(pooled) == 1 else self.add("concat", {}, 0, 1, pooled)
        self.add("dense", {"units": 3}, 3, 1, head)
        doc = {"archdsl": 1, "name": "fuzz", "input": [3, 12, 12], "body": self.body}
        return yaml.safe_dump(doc, sort_keys=False)


def _as_list(v: object) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, list) else [v]


def _out(n: int, k: int, s: int, pad: object) -> int:
    if pad == "same":
        return -(-n // s)
    p = 0 if pad == "valid" else int(str(pad))
    return (n + 2 * p - k) // s + 1 if n + 2 * p >= k else 0


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
