"""The documentation runs: every example in docs/*.md and README.md is executed.

What is extracted from each Markdown file (fenced code blocks):

* ```` ```console ```` (or ``shell``/``bash``/``sh``): every line starting with ``$ `` is a command
  (a trailing ``\\`` continues it on the next line); other lines are its expected output, not
  checked unless the block is annotated ``<!-- output -->``. Commands run through ``bash -o
  pipefail -c``, one at a time, and must exit 0.
* ```` ```python ````: a whole program, run with this interpreter; must exit 0.
* ```` ```yaml ```` that is a spec (``archdsl: 1`` with a ``body:``): compiled with
  :func:`archdsl.loads` (must succeed). Specs that ``extends`` another file are not compiled alone.

Annotations are HTML comments (invisible on GitHub) on the lines just *before* a block's opening
fence; blank lines between them are allowed:

* ``<!-- file: PATH -->``: write the block to PATH (relative to the working folder) instead of
  running it; later blocks of the same section use it (``$ archdsl check PATH``).
* ``<!-- exit: N -->``: every command of the block (or the program, or compiling the spec) must
  fail with exit code N (for spec errors, N = 2 means ``ArchdslError``).
* ``<!-- requires: torch keras dot ... -->``: skip, with the reason, when a Python module is not
  importable (``dot`` = the Graphviz program). A block that uses a framework command or API must
  say what it needs (a test checks); ``<!-- requires: -->`` (empty) states that it needs nothing,
  e.g. a command that fails on its arguments before any framework is imported.
* ``<!-- output -->``: the output shown after each ``$`` line must equal the real output
  (stdout, then stderr; trailing spaces ignored). A line ``...`` matches any number of lines; a
  line ending in `` ...`` matches any line that starts with the text before it.
* ``<!-- skip: REASON -->``: not run (for example an install command).

Each ``## `` section of a document runs in its own temporary folder holding a copy of
``specs/``, ``examples/`` and ``bench/``, with ``.venv/bin`` first on ``PATH``. The blocks of a
section run in order, so a block can use the files an earlier block of the same section wrote;
sections run in parallel.

Blocks containing ``make`` are not run: ``make demo`` / ``make test`` create a virtual
environment, install packages and run this very test suite, which would recurse and take
minutes (CI runs them directly).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import archdsl

ROOT = Path(__file__).resolve().parents[1]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
SHELL_LANGS = {"console", "shell", "bash", "sh"}
MAKE_REASON = (
    "`make` targets set up a virtual environment, install packages and run the whole test "
    "suite (recursive, minutes, needs the network); CI runs them directly"
)
FRAMEWORK_HINT = re.compile(
    r"archdsl (build|crosscheck|train|ablate)\b|to_torch|to_keras|forward_check|"
    r"^\s*(import|from) (torch|keras|tensorflow)\b|archdsl\.(backends|training|ablation)\b",
    re.M,
)
DEFAULT_TIMEOUT = 240
#: Repository folders copied into each section's working folder.
COPIED = ("specs", "examples", "bench")
_FENCE = re.compile(r"^(\s*)```+\s*([\w+-]*)")
_NOTE = re.compile(r"^\s*<!--\s*([\w-]+)\s*(?::\s*(.*?))?\s*-->\s*$")


# ---------------------------------------------------------------------------- extraction
@dataclass
class Block:
    doc: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    notes: dict[str, str] = field(default_factory=dict)
    section: int = 0  # index of the enclosing `## ` section: blocks of one section share a folder

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def kind(self) -> str:
        if "file" in self.notes:
            return "file"
        if self.lang in SHELL_LANGS:
            return "console"
        if self.lang == "python":
            return "python"
        if self.lang in ("yaml", "yml") and _is_spec(self.text):
            return "spec"
        return "other"

    def commands(self) -> list[tuple[str, list[str]]]:
        """``(command, expected output lines)`` for each ``$ `` line."""
        out: list[tuple[str, list[str]]] = []
        lines = self.text.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("$ "):
                cmd = line[2:]
                while cmd.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    cmd += "\n" + re.sub(r"^>\s?", "", lines[i])  # bash joins `\` + newline
                out.append((cmd, []))
            elif out:
                out[-1][1].append(line)
            i += 1
        return out

    def skip_reason(self) -> str | None:
        if "skip" in self.notes:
            return self.notes["skip"] or "marked <!-- skip -->"
        if self.kind == "console" and any(
            re.search(r"(^|[\s;&|(])make(\s|$)", c) for c, _ in self.commands()
        ):
            return MAKE_REASON
        missing = [r for r in self.notes.get("requires", "").split() if not _available(r)]
        if missing:
            return f"needs {', '.join(missing)} (not installed)"
        return None

    @property
    def runnable(self) -> bool:
        if self.kind == "console":
            return bool(self.commands())
        return self.kind in ("python", "spec", "file")


def _is_spec(text: str) -> bool:
    return bool(re.search(r"^archdsl:\s*1\s*$", text, re.M)) and bool(
        re.search(r"^body:", text, re.M)
    )


def _available(req: str) -> bool:
    if req == "dot":
        return shutil.which("dot") is not None
    return importlib.util.find_spec(req) is not None


def extract(doc: Path) -> list[Block]:
    """The fenced blocks of a Markdown file with their annotations."""
    blocks: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    section = 0
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            section += lines[i].startswith("## ")
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        start = i
        notes: dict[str, str] = {}
        j = i - 1
        while j >= 0 and (lines[j].strip() == "" or _NOTE.match(lines[j])):
            note = _NOTE.match(lines[j])
            if note:
                notes.setdefault(note.group(1), note.group(2) or "")
            j -= 1
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        blocks.append(Block(doc, start + 1, lang, "\n".join(body) + "\n", notes, section))
        i += 1
    return blocks


ALL_BLOCKS = [b for d in DOCS if d.is_file() for b in extract(d)]
RUNNABLE = [b for b in ALL_BLOCKS if b.runnable]


# ---------------------------------------------------------------------------- running
@dataclass
class Outcome:
    ok: bool
    skipped: str | None = None
    message: str = ""
    seconds: float = 0.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    bins = [str(Path(sys.executable).parent), str(ROOT / ".venv" / "bin")]
    env["PATH"] = os.pathsep.join([*bins, env.get("PATH", "")])
    env.update({"COLUMNS": "100", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3",
                "PYTHONDONTWRITEBYTECODE": "1"})
    env.pop("ARCHDSL_DEBUG", None)
    return env


def _compare(expected: list[str], actual: str, workdir: Path) -> str | None:
    """``None`` when ``actual`` matches ``expected`` (``...`` lines, `` ...`` ends), else why."""
    want = [x.rstrip() for x in expected]
    while want and not want[-1]:
        want.pop()
    got = [x.rstrip() for x in actual.replace(str(workdir) + os.sep, "").splitlines()]
    while got and not got[-1]:
        got.pop()

    def match(w: int, g: int) -> bool:
        if w == len(want):
            return g == len(got)
        if want[w] == "...":
            return any(match(w + 1, k) for k in range(g, len(got) + 1))
        if g >= len(got):
            return False
        same = got[g] == want[w] or (
            want[w].endswith(" ...") and got[g].startswith(want[w][:-3]))
        return same and match(w + 1, g + 1)

    if match(0, 0):
        return None
    return "output differs from the documented output.\n--- documented\n" + "\n".join(
        want) + "\n--- actual\n" + "\n".join(got)


def _run_block(block: Block, workdir: Path, scratch: Path) -> Outcome:
    reason = block.skip_reason()
    if reason:
        return Outcome(True, skipped=reason)
    want = int(block.notes.get("exit", "0") or 0)
    timeout = int(block.notes.get("timeout", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT)
    env = _env()
    kind = block.kind
    if kind == "file":
        target = workdir / block.notes["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")
        return Outcome(True)
    if kind == "spec":
        if re.search(r"^extends:", block.text, re.M):
            return Outcome(True, skipped="a spec that extends another file is checked where "
                                         "it is saved and run")
        try:
            archdsl.loads(block.text, str(workdir / f"{block.doc.stem}_{block.line}.yaml"))
        except archdsl.ArchdslError as exc:
            if want == 2:
                return Outcome(True)
            return Outcome(False, message=f"the spec does not compile:\n{exc.render()}")
        if want:
            return Outcome(False, message=f"the spec compiled, expected an error (exit {want})")
        return Outcome(True)
    if kind == "python":
        script = scratch / f"{block.doc.stem}_{block.line}.py"
        script.write_text(block.text, encoding="utf-8")
        runs = [([sys.executable, str(script)], None, [])]
    else:
        runs = [(["bash", "-o", "pipefail", "-c", cmd], cmd, out) for cmd, out in block.commands()]
    for argv, cmd, expected in runs:
        try:
            r = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(False, message=f"timed out after {timeout} s: {cmd or 'program'}")
        what = f"$ {cmd}" if cmd else "the program"
        if r.returncode != want:
            return Outcome(False, message=(
                f"{what}\nexited {r.returncode}, expected {want}\n--- stdout\n"
                f"{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}"))
        if "output" in block.notes and cmd is not None:
            problem = _compare(expected, r.stdout + r.stderr, workdir)
            if problem:
                return Outcome(False, message=f"{what}\n{problem}")
    return Outcome(True)


Lane = tuple[Path, int]  # (document, section)


def _run_lane(lane: Lane, blocks: list[Block], base: Path) -> dict[str, Outcome]:
    doc, section = lane
    workdir = base / f"{doc.stem}-{section}"
    scratch = base / f"_{doc.stem}-{section}_programs"
    workdir.mkdir(parents=True)
    scratch.mkdir()
    for folder in COPIED:
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, workdir / folder,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    results: dict[str, Outcome] = {}
    failed: list[str] = []
    for block in blocks:
        t0 = time.perf_counter()
        try:
            outcome = _run_block(block, workdir, scratch)
        except Exception as exc:  # report, keep going with the next block
            outcome = Outcome(False, message=f"{type(exc).__name__}: {exc}")
        outcome.seconds = time.perf_counter() - t0
        if not outcome.ok and failed:
            outcome.message += f"\n(earlier failures in this section: {', '.join(failed)})"
        if not outcome.ok:
            failed.append(block.id)
        results[block.id] = outcome
    return results


class _Runner:
    """Runs each section of each document once, sections in parallel, on first demand."""

    def __init__(self, base: Path, lanes: set[Lane]) -> None:
        self.base = base
        workers = max(1, min(len(lanes), max(2, os.cpu_count() or 1), 6))
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.lock = threading.Lock()
        self.futures: dict[Lane, Future[dict[str, Outcome]]] = {}
        # the sections with the most framework work first
        for lane in sorted(lanes, key=lambda ln: (-_cost(ln), str(ln[0]), ln[1])):
            self._submit(lane)

    def _submit(self, lane: Lane) -> Future[dict[str, Outcome]]:
        with self.lock:
            if lane not in self.futures:
                blocks = [b for b in RUNNABLE if (b.doc, b.section) == lane]
                self.futures[lane] = self.pool.submit(_run_lane, lane, blocks, self.base)
            return self.futures[lane]

    def outcome(self, block: Block) -> Outcome:
        return self._submit((block.doc, block.section)).result()[block.id]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _cost(lane: Lane) -> int:
    return sum(1 for b in RUNNABLE if (b.doc, b.section) == lane and "requires" in b.notes)


@pytest.fixture(scope="session")
def runner(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[_Runner]:
    wanted = {(b.doc, b.section) for item in request.session.items
              if (cs := getattr(item, "callspec", None)) is not None
              and isinstance(b := cs.params.get("block"), Block)}
    r = _Runner(tmp_path_factory.mktemp("docs"), wanted)
    yield r
    r.close()


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_doc_block(block: Block, runner: _Runner) -> None:
    outcome = runner.outcome(block)
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    assert outcome.ok, f"{block.id} ({block.kind} block)\n{outcome.message}"


# ---------------------------------------------------------------------------- doc hygiene
def test_docs_were_found() -> None:
    assert (ROOT / "docs" / "guide.md").is_file()
    assert sum(1 for b in RUNNABLE if b.kind == "console") >= 10


def test_framework_blocks_say_what_they_need() -> None:
    """A block that needs PyTorch or Keras is annotated, so it skips (not fails) without them."""
    bad = [b.id for b in RUNNABLE
           if b.kind in ("console", "python") and FRAMEWORK_HINT.search(b.text)
           and "requires" not in b.notes and b.skip_reason() is None]
    assert not bad, f"add <!-- requires: torch keras --> (or the one needed) before: {bad}"


def test_every_command_and_option_is_documented() -> None:
    """guide.md shows every command; every option appears in guide.md (or another doc)."""
    from archdsl.cli import build_parser

    guide = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    everything = guide + "".join(d.read_text(encoding="utf-8") for d in DOCS if d.is_file())
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    problems = []
    for name, p in sub.choices.items():  # type: ignore[attr-defined]
        if f"archdsl {name}" not in guide:
            problems.append(f"command `archdsl {name}` not in guide.md")
        for action in p._actions:
            flags = [o for o in action.option_strings if o.startswith("--")] or action.option_strings
            if not flags or flags[0] in ("--help", "-h"):
                continue
            if not any(re.search(re.escape(f) + r"(?![\w-])", everything) for f in flags):
                problems.append(f"`archdsl {name} {flags[0]}` is not documented")
    assert not problems, "\n".join(problems)


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped (not ``-``/``_``), spaces → ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())  # [text](link) → text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.M)}


def test_links_resolve() -> None:
    """Relative links in the docs point at files (and headings) that exist."""
    problems = []
    for doc in DOCS:
        if not doc.is_file():
            continue
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        for m in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            if not dest.exists():
                problems.append(f"{doc.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                problems.append(f"{doc.name}: {target} (no such heading)")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------- the harness itself
def test_extract_reads_annotations_and_sections(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "# T\n\n<!-- file: a.yaml -->\n```yaml\narchdsl: 1\n```\n\n## S\n\n"
        "<!-- exit: 2 -->\n\n<!-- requires: nosuchmodule -->\n```console\n$ false \\\n>   --x\n"
        "out\n$ true\n```\n\ntext\n\n```python\nprint(1)\n```\n",
        encoding="utf-8",
    )
    a, b, c = extract(doc)
    assert (a.kind, a.notes, a.section) == ("file", {"file": "a.yaml"}, 0)
    assert b.notes == {"exit": "2", "requires": "nosuchmodule"} and b.section == 1
    assert b.commands() == [("false \\\n  --x", ["out"]), ("true", [])]
    assert b.skip_reason() == "needs nosuchmodule (not installed)"
    assert (c.kind, c.notes) == ("python", {})


def test_compare_elisions(tmp_path: Path) -> None:
    got = "title\nrow a  1\nrow b  2\nrow c  3\ntotal\n"
    assert _compare(["title", "...", "total"], got, tmp_path) is None
    assert _compare(["...", "row b ...", "..."], got, tmp_path) is None
    assert _compare(["title", "row a  1", "total"], got, tmp_path) is not None
    assert _compare(["row a ..."], got, tmp_path) is not None
    assert _compare([f"{tmp_path}/x.yaml:1:1: error"], "x.yaml:1:1: error\n", tmp_path) is not None
    assert _compare(["x.yaml:1:1: error"], f"{tmp_path}/x.yaml:1:1: error\n", tmp_path) is None
