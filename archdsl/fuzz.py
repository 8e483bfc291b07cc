"""Spec generators for fuzzing: random valid specs from the layer registry, and mutations.

Used by tests/test_fuzz.py (bounded, in ``make test``) and bench/fuzz.py (the long run).

Example:
    >>> import archdsl
    >>> archdsl.loads(random_spec(seed=1)).output_shapes
    [(3,)]
"""

from __future__ import annotations

import collections
import itertools
import random
import signal
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from archdsl.layers import REGISTRY, Shape, ShapeRuleError


def _drawable() -> list[str]:
    """Single-input types the generator draws on (C, H, W) maps: from the registry's traits."""
    return [k for k, layer in REGISTRY.items() if layer.arity == (1, 1) and layer.dims in (None, 2)]


def _merges() -> list[str]:
    """Element-wise merges of any number of same-shape inputs (matmul's products grow values
    past absolute float32 tolerances in long chains: it is fuzzed in the golden cases)."""
    return [k for k, layer in REGISTRY.items()
            if layer.category == "merge" and layer.arity[1] is None]


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
#: Tokens from the hostile-input classes of issue 15: expression bombs, non-finite and huge
#: numbers, escapes that decode to control characters or surrogates, YAML tricks and paths.
HOSTILE_TOKENS = [
    "\"${'a' * 100000000}\"",
    '"${[0] * 1000000000}"',
    '"${[[0] * 10000] * 10000}"',
    '"${((((((((2**2)**2)**2)**2)**2)**2)**2)**2)}"',
    '"${10 ** 1000}"',
    '"${round(5, -10000000)}"',
    "\"${'%999999999d' % 1}\"",
    "\"${float('nan')}\"",
    '"${(-8) ** 0.5}"',
    "\"${'\\x1b[31m'}\"",
    '"\\e]0;title\\a"',
    '"\\ud800"',
    '"a\\u202eb"',
    '"\\x9b"',
    ".nan",
    ".inf",
    "-.inf",
    "1e999",
    "9" * 60,
    "0x7fffffffffffffffffff",
    str(2**100),
    "&b [*b]",
    "*undefined",
    "<<: *a",
    "? [a]",
    "!!binary aGk=",
    "!!python/object/apply:os.system ['true']",
    "2020-01-01",
    "/etc/passwd",
    "../../../../etc/shadow",
    "/dev/zero",
    "--- ",
]


def mutate(text: str, seed: int) -> str:
    """Apply 1-3 random textual mutations (token swaps, deletions, duplicated lines).

    A quarter of the token swaps draw from :data:`HOSTILE_TOKENS`.
    """
    rng = random.Random(seed)
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        op = rng.random()
        token = rng.choice(HOSTILE_TOKENS if rng.random() < 0.25 else TOKENS)
        if op < 0.35:
            words = lines[i].split(" ")
            j = rng.randrange(len(words))
            words[j] = token
            lines[i] = " ".join(words)
        elif op < 0.55:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op < 0.7:
            del lines[i]
        elif op < 0.85 and lines[i]:
            j = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:j] + lines[i][j + 1 :]
        else:
            lines[i] = lines[i].replace(": ", ": " + token + " ", 1)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ campaigns
#: A spec that takes longer than this counts as a hang.
HANG_SECONDS = 20
#: The longest rendered error a spec may produce (characters).
MAX_RENDERED = 4_000


@dataclass
class FuzzReport:
    """What a fuzzing campaign found: how each spec ended, and every invariant broken."""

    tried: int = 0
    mutated: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    longest_message: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[tuple[int, str]] = field(default_factory=list)  # (seed, what went wrong)

    @property
    def internal_errors(self) -> int:
        return self.outcomes["internal error"]

    @property
    def hangs(self) -> int:
        return self.outcomes["hang"]

    def summary(self) -> str:
        lines = [
            f"tried {self.tried} specs ({self.mutated} mutated) in {self.seconds:.1f} s; "
            f"slowest {self.slowest:.2f} s, longest message {self.longest_message} characters"
        ]
        lines += [f"  {k:>16}: {v}" for k, v in self.outcomes.most_common()]
        lines += [f"--- seed {seed}\n{what}" for seed, what in self.failures[:10]]
        return "\n".join(lines)


def fuzz_one(seed: int) -> tuple[str, float, int, str]:
    """Compile the spec of ``seed`` (mutated when ``seed`` is odd); check the invariants.

    Returns (outcome, seconds, length of the rendered message, what went wrong or "").
    """
    import archdsl
    from archdsl.errors import ArchdslError, printable

    text = random_spec(seed, 1 + seed % 14)
    if seed % 2:
        text = mutate(text, seed * 7919)
    start = time.perf_counter()
    old = signal.signal(signal.SIGALRM, _expire)
    signal.alarm(HANG_SECONDS)
    try:
        g = archdsl.loads(text, "fuzz.yaml")
        g.check_expectations()
        outcome, rendered, problem = "compiled", "", ""
    except ArchdslError as exc:
        outcome, rendered = type(exc).__name__, exc.render(text)
        problem = _message_problem(rendered, printable)
    except _Hang:
        outcome, rendered, problem = "hang", "", f"hang: over {HANG_SECONDS} s"
    except Exception:  # archdsl must never raise anything else
        outcome, rendered, problem = "internal error", "", traceback.format_exc(limit=4)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if problem and outcome not in ("hang", "internal error"):
        outcome = "bad message"
    return outcome, time.perf_counter() - start, len(rendered), problem


def run_fuzz(count: int, seed: int = 0, workers: int = 1) -> FuzzReport:
    """Run ``count`` specs from ``seed`` on (up to) ``workers`` processes."""
    report = FuzzReport(tried=count, mutated=sum(s % 2 for s in range(seed, seed + count)))
    start = time.perf_counter()
    seeds = range(seed, seed + count)
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = list(pool.imap(fuzz_one, seeds, chunksize=250))
    else:
        results = [fuzz_one(s) for s in seeds]
    for s, (outcome, seconds, length, problem) in zip(seeds, results):
        report.outcomes[outcome] += 1
        report.slowest = max(report.slowest, seconds)
        report.longest_message = max(report.longest_message, length)
        if problem:
            report.failures.append((s, problem))
    report.seconds = time.perf_counter() - start
    return report


class _Hang(Exception):
    pass


def _expire(signum: int, frame: object) -> None:
    raise _Hang


def _message_problem(rendered: str, printable: Any) -> str:
    if len(rendered) > MAX_RENDERED:
        return f"a {len(rendered)}-character message"
    if any(printable(line, None) != line for line in rendered.split("\n")):
        return f"an unescaped control character: {rendered[:200]!r}"
    return ""
