"""PNG plots for the report (matplotlib, no display needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

Series = Mapping[str, tuple[Sequence[float], Sequence[float]]]


def lines(
    path: Path,
    title: str,
    xlabel: str,
    ylabel: str,
    series: Series,
    *,
    logx: bool = False,
    logy: bool = False,
    hline: tuple[float, str] | None = None,
) -> Path:
    """One line (with markers) per series; an optional horizontal reference line (a target)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for label, (xs, ys) in series.items():
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None and not math.isnan(y)]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    if hline is not None:
        ax.axhline(hline[0], color="grey", linestyle="--", linewidth=1, label=hline[1])
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    _finish(ax, title, xlabel, ylabel)
    return _save(fig, path)


def cdfs(path: Path, title: str, xlabel: str, samples: Mapping[str, Sequence[float]], *, logx: bool = False) -> Path:
    """Empirical CDF per sample set."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for label, values in samples.items():
        ordered = sorted(v for v in values if not math.isnan(v))
        if ordered:
            n = len(ordered)
            ax.step(ordered, [(i + 1) / n for i in range(n)], where="post", label=f"{label} (n={n})")
    if logx:
        ax.set_xscale("log")
    _finish(ax, title, xlabel, "fraction ≤ x")
    return _save(fig, path)


def distributions(path: Path, title: str, ylabel: str, samples: Mapping[str, Sequence[float]]) -> Path:
    """Box plot with every sample drawn on top (small n: show them all)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    labels = list(samples)
    data = [list(samples[label]) for label in labels]
    ax.boxplot(data, tick_labels=labels, showfliers=False)
    for i, values in enumerate(data, start=1):
        jitter = [i + (k % 7 - 3) * 0.03 for k in range(len(values))]
        ax.scatter(jitter, values, s=12, alpha=0.7)
    _finish(ax, title, "", ylabel, legend=False)
    return _save(fig, path)


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str, *, legend: bool = True) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
