"""Claim figures: pure functions from Evidence to matplotlib PNGs (means with 95% intervals)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Evidence


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def bars(ev: Evidence, path: Path, metric: str | None = None, title: str = "") -> Path:
    """One group of bars per data set, one bar per arm: the test metric's mean and 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(ds for _, ds in ev.rows))
    arms = list(dict.fromkeys(a for a, _ in ev.rows))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(datasets) * len(arms) / 2 + 2), 3.2))
    width = 0.8 / max(1, len(arms))
    for j, arm in enumerate(arms):
        xs, ms, errs = [], [], [[], []]
        for i, ds in enumerate(datasets):
            if (arm, ds) not in ev.rows or not ev.rows[(arm, ds)]:
                continue
            s = ev.metric(arm, ds, metric)
            xs.append(i + (j - (len(arms) - 1) / 2) * width)
            ms.append(s.mean)
            errs[0].append(s.mean - s.low)
            errs[1].append(s.high - s.mean)
        ax.bar(xs, ms, width * 0.92, yerr=errs, capsize=3, label=arm)
    ax.set_xticks(range(len(datasets)), datasets, fontsize=8)
    first = next(iter(ev.rows.values()))
    ax.set_ylabel(f"test {metric or (first[0]['metric'] if first else '')}")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False, ncols=min(4, len(arms)))
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def lines(series: dict[str, list[tuple[float, float, float, float]]], path: Path, xlabel: str, ylabel: str,
          title: str = "", logx: bool = False, hline: float | None = None) -> Path:
    """Curves with interval bands: ``series[label] = [(x, mean, low, high), ...]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for label, pts in series.items():
        pts = sorted(pts)
        xs = [p[0] for p in pts]
        ax.plot(xs, [p[1] for p in pts], marker="o", ms=3, label=label)
        ax.fill_between(xs, [p[2] for p in pts], [p[3] for p in pts], alpha=0.15)
    if hline is not None:
        ax.axhline(hline, color="grey", lw=0.8, ls="--")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)
