"""The progress display of ``archdsl train``: Rich bars on a terminal, heartbeats elsewhere.

Example:
    >>> bars = TrainProgress(False, ["torch", "keras"], total=10, done=0)  # disabled: silent
    >>> bars.update("torch", 1, 2, 0.5, 0.9); bars.step_done(); bars.close()
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any


class TrainProgress:
    """Rich progress bars, one per framework, on a terminal; elsewhere (logs, CI) at most one
    plain heartbeat line per ``interval`` seconds; nothing when disabled."""

    def __init__(
        self, enabled: bool, frameworks: Sequence[str], total: int, done: int,
        interval: float = 60.0,
    ) -> None:
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}
        self.plain = False
        self.total, self.done, self.interval = total, done, interval
        self.started = self.last = time.monotonic()
        self.start_done = done
        self.latest: dict[str, str] = {}
        self.epoch_text = ""
        if not enabled:
            return
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            self.plain = True
            return
        self._start_bars(console, frameworks)

    def _start_bars(self, console: Any, frameworks: Sequence[str]) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description:<7}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
        )
        for name in frameworks:
            self.tasks[name] = self.bar.add_task(name, total=self.total, completed=self.done,
                                                 info="")
        self.bar.start()

    def update(self, name: str, epoch: int, epochs: int, loss: float, acc: float) -> None:
        """Show framework ``name``'s latest step (``epoch`` 1-based)."""
        if self.bar is not None:
            info = f"epoch {epoch}/{epochs}  loss {loss:.4f}  acc {acc:.3f}"
            self.bar.update(self.tasks[name], advance=1, info=info)
        elif self.plain:
            self.latest[name] = f"{name} loss {loss:.4f}"
            self.epoch_text = f"epoch {epoch}/{epochs}"

    def step_done(self) -> None:
        """Count one lock-step step; print a heartbeat line when one is due (plain mode)."""
        self.done += 1
        if not self.plain:
            return
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        rate = (now - self.started) / max(self.done - self.start_done, 1)
        print(f"step {self.done}/{self.total} ({self.epoch_text}): "
              + ", ".join(self.latest.values()) + f"; {rate:.2f} s/step", file=sys.stderr,
              flush=True)

    def validating(self, batches: int, images: int) -> Callable[[], None]:
        """Start a validation pass of ``batches`` batches (``images`` images); returns the
        per-batch callback. A bar on a terminal, one line elsewhere."""
        if self.bar is not None:
            task = self.bar.add_task("val", total=batches, completed=0,
                                     info=f"validating on {images:,} images")

            done = [0]

            def advance() -> None:
                done[0] += 1
                self.bar.update(task, advance=1)
                if done[0] >= batches:
                    self.bar.remove_task(task)

            return advance
        if self.plain:
            print(f"validating on {images:,} images ({batches} batches) ...", file=sys.stderr,
                  flush=True)
        return lambda: None

    def close(self) -> None:
        """Stop the bars (a no-op in plain mode)."""
        if self.bar is not None:
            self.bar.stop()


class Status:
    """What a run is doing before and between its steps, one line per phase on stderr
    (``loading the dataset cifar10 ... done in 1.2 s``); silent when disabled.

    Example:
        >>> with Status(False).phase("loading"):
        ...     pass
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def say(self, text: str) -> None:
        """One line of its own."""
        if self.enabled:
            print(text, file=sys.stderr, flush=True)

    def progress(self, what: str, done: int, total: int | None) -> None:
        """A counter (``decoding images: 1,024/40,000``), at most one line per 2 s and the
        last one (a :data:`archdsl.data.download.ProgressFn`)."""
        now = time.monotonic()
        if total is not None and done < total and now - getattr(self, "_last", 0.0) < 2.0:
            return
        self._last = now
        self.say(f"  {what}: {done:,}" + (f"/{total:,}" if total is not None else ""))

    @contextlib.contextmanager
    def phase(self, text: str) -> Iterator[None]:
        """``text ...`` before, ``done in S s`` after (only when it took 0.5 s or more)."""
        t0 = time.perf_counter()
        self.say(f"{text} ...")
        yield
        seconds = time.perf_counter() - t0
        if seconds >= 0.5:
            self.say(f"  done in {seconds:.1f} s")


__all__ = ["Status", "TrainProgress"]
