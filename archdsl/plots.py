"""Loss and accuracy curves of several frameworks on one figure (matplotlib, Agg, lazy import).

Example:
    >>> import numpy as np, tempfile, os
    >>> steps = np.arange(1, 51)
    >>> series = {"torch": (steps, 2.3 * 0.97 ** steps, 1 - 0.9 * 0.97 ** steps),
    ...           "keras": (steps, 2.3 * 0.97 ** steps, 1 - 0.9 * 0.97 ** steps)}
    >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
    >>> plot_curves(path, series, title="demo")  # doctest: +SKIP
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archdsl.fsutil import atomic_write_bytes

#: One colour and line style per framework, so the curves are told apart in print too.
STYLES: dict[str, dict[str, Any]] = {
    "torch": {"color": "#d62728", "linestyle": "-"},
    "keras": {"color": "#1f77b4", "linestyle": "--"},
}

#: Validation markers: hollow circles and crosses stay visible when the curves coincide.
MARKERS = {"torch": "o", "keras": "x"}

Series = tuple[np.ndarray, np.ndarray, np.ndarray]  # steps, losses, accuracies


def _figure(size: tuple[float, float]) -> Any:
    """A matplotlib ``Figure`` on an Agg canvas (no pyplot, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (the first points average fewer).

    Example:
        >>> smooth(np.array([1.0, 3.0, 5.0, 7.0]), 2).tolist()
        [1.0, 2.0, 4.0, 6.0]
    """
    v = np.asarray(values, np.float64)
    if window <= 1 or v.size == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    n = np.minimum(np.arange(1, v.size + 1), window)
    return (c[1:] - c[np.maximum(np.arange(1, v.size + 1) - window, 0)]) / n


def plot_curves(
    path: str | Path,
    series: Mapping[str, Series],
    *,
    epochs: Sequence[Mapping[str, Any]] = (),
    title: str = "",
) -> None:
    """Write a PNG with the training loss (left) and accuracy (right) of every framework.

    ``series`` maps a framework name to ``(steps, losses, accuracies)`` per step; the per-step
    curves are smoothed over ~2% of the run. ``epochs`` (``metrics.json`` entries) adds the
    validation accuracy and loss of each framework as markers at each epoch's last step.
    The file is written atomically.
    """
    fig = _figure((11, 4.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for name, (steps, losses, acc) in series.items():
        style = STYLES.get(name, {})
        window = max(1, len(steps) // 50)
        label = f"{name} train" + (f" (mean of {window})" if window > 1 else "")
        finite = np.isfinite(losses)
        ax_loss.plot(steps[finite], smooth(losses[finite], window), label=label, lw=1.2, **style)
        ax_acc.plot(steps, smooth(acc, window), label=label, lw=1.2, **style)
        val = [(e["step"], e[name]) for e in epochs if isinstance(e.get(name), Mapping)]
        if val:
            x = [s for s, _ in val]
            color = style.get("color")
            va = [v.get("val_acc") for _, v in val]
            vl = [v.get("val_loss") for _, v in val]
            marker = MARKERS.get(name, "o")
            kw = {"marker": marker, "color": color, "lw": 1.5, "ms": 7, "mfc": "none",
                  "linestyle": style.get("linestyle", "-")}
            if all(a is not None for a in va):
                ax_acc.plot(x, va, label=f"{name} val", **kw)
            if all(v is not None for v in vl):
                ax_loss.plot(x, vl, label=f"{name} val", **kw)
    ax_loss.set(xlabel="step", ylabel="loss (cross-entropy)", title="loss")
    ax_acc.set(xlabel="step", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def plot_differences(
    path: str | Path, steps: np.ndarray, abs_diff: np.ndarray, rel_diff: np.ndarray, *,
    title: str = "",
) -> None:
    """Write a PNG of the per-step loss difference between two frameworks (log scale)."""
    fig = _figure((6, 4))
    ax = fig.subplots()
    floor = 1e-18  # exact agreement would vanish on a log axis
    ax.semilogy(steps, np.maximum(abs_diff, floor), label="|Δloss|")
    ax.semilogy(steps, np.maximum(rel_diff, floor), label="|Δloss| / loss", ls="--")
    ax.set(xlabel="step", ylabel="difference", title=title or "loss difference between frameworks")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
