"""Figures from rows and analyses (matplotlib, no pyplot state): learning curves, metric against cost with
the Pareto front, and confusion matrices. Each function returns a Figure; ``png`` turns one into bytes."""

from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure

from ..compare.stats import COSTS, variants

COLOURS = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e",
           "#9498a0"]
INK, GRID = "#1f2933", "#e4e7eb"


def text(s: Any) -> str:
    """A user's string made safe for matplotlib: ``$`` would start mathematics, a leading ``_`` hides a
    legend entry."""
    s = str(s).replace("$", r"\$")
    return " " + s if s.startswith("_") else s


def short(s: Any, n: int = 14) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "…"


def palette(labels: list[str]) -> dict[str, str]:
    """One colour per model label, the same in every figure of a report."""
    return {label: COLOURS[i % len(COLOURS)] for i, label in enumerate(labels)}


def png(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def _style(ax) -> None:
    ax.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9aa5b1")
    ax.tick_params(colors=INK, labelsize=8.5)


def learning_curves(rows: list[dict[str, Any]], analysis: dict[str, Any], colours: dict[str, str]) -> Figure | None:
    """Validation metric against training step: one thin line per seed, one colour per model."""
    metric = analysis["metric"]
    key = f"val_{metric}"
    groups = {label: rs for (ds, label), rs in variants(rows).items() if ds == analysis["dataset"]}
    fig = Figure(figsize=(7.2, 3.6))
    ax = fig.add_subplot()
    drawn = False
    for e in analysis["entries"]:
        first = True
        for r in groups.get(e["model"], []):
            pts = [(h["step"], h[key]) for h in r.get("history") or [] if h.get(key) is not None]
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            ax.plot(xs, ys, color=colours[e["model"]], linewidth=1.4, alpha=0.85,
                    label=text(e["model"]) if first else None)
            first, drawn = False, True
    if not drawn:
        return None
    _style(ax)
    ax.set_xlabel("training step", color=INK)
    ax.set_ylabel(f"validation {metric}", color=INK)
    ax.set_title(text(f"Learning curves on {analysis['dataset']} (one line per seed)"), color=INK, fontsize=10.5,
                 loc="left")
    ax.legend(frameon=False, fontsize=8.5, loc="best")
    return fig


def metric_vs_cost(analysis: dict[str, Any], colours: dict[str, str]) -> Figure | None:
    """The headline metric against train time, parameters and the run's own memory; the Pareto front is the dashed
    line, its models drawn large with a dark edge."""
    costs = [c for c in COSTS if any(c in e["cost"] for e in analysis["entries"])]
    if not costs:
        return None
    fig = Figure(figsize=(3.3 * len(costs), 3.4))
    axes = fig.subplots(1, len(costs), sharey=True, squeeze=False)[0]
    sign = 1 if analysis["higher"] else -1
    for ax, cost in zip(axes, costs, strict=True):
        es = [e for e in analysis["entries"] if cost in e["cost"] and e["cost"][cost] > 0]
        front = set(analysis["fronts"].get(cost, []))
        for e in es:
            on = e["model"] in front
            lo = e["mean"] - e["ci_low"] if e["ci_low"] is not None else 0
            hi = e["ci_high"] - e["mean"] if e["ci_high"] is not None else 0
            ax.errorbar([e["cost"][cost]], [e["mean"]], yerr=[[lo], [hi]], fmt="o", color=colours[e["model"]],
                        markersize=9 if on else 6, markeredgecolor=INK if on else colours[e["model"]],
                        markeredgewidth=1.4 if on else 0.5, elinewidth=1.0, capsize=2.5, zorder=3)
        pts = sorted(((e["cost"][cost], e["mean"]) for e in es if e["model"] in front),
                     key=lambda p: (p[0], -sign * p[1]))
        if len(pts) > 1:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle="--", color=INK, linewidth=1.0, alpha=0.7,
                    zorder=2, drawstyle="steps-post")
        if es and max(e["cost"][cost] for e in es) / min(e["cost"][cost] for e in es) > 20:
            ax.set_xscale("log")
        _style(ax)
        ax.set_xlabel(COSTS[cost], color=INK)
        ax.margins(x=0.2, y=0.12)
        _labels(ax, [(short(e["model"]), e["cost"][cost], e["mean"]) for e in es])
    axes[0].set_ylabel(f"test {analysis['metric']}", color=INK)
    fig.suptitle(text(f"{analysis['metric']} against cost on {analysis['dataset']} (dashed: Pareto front)"),
                 color=INK, fontsize=10.5, x=0.01, ha="left")
    return fig


def _labels(ax, points: list[tuple[str, float, float]], size: float = 8.0) -> None:
    """Name each point beside it, trying four sides so that names of nearby points do not overlap."""
    fig = ax.get_figure()
    px = fig.dpi / 72  # pixels per point
    placed: list[tuple[float, float, float, float]] = []
    for label, x, y in sorted(points, key=lambda p: -p[2]):
        cx, cy = ax.transData.transform((x, y))
        w, h = 0.62 * size * len(label) * px, 1.25 * size * px
        for dx, dy in ((6, 5), (6, -13), (-6, 5), (-6, -13), (6, 17), (6, -25)):
            left = cx + dx * px - (w if dx < 0 else 0)
            box = (left, cy + dy * px, left + w, cy + dy * px + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        ax.annotate(text(label), (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=size, color=INK,
                    ha="right" if dx < 0 else "left")


def confusion_matrices(rows: list[dict[str, Any]], analysis: dict[str, Any], k: int = 2) -> Figure | None:
    """Test confusion matrices (summed over seeds, rows normalised) of the best model and the runner-up."""
    groups = {label: rs for (ds, label), rs in variants(rows).items() if ds == analysis["dataset"]}
    shown = []
    for e in analysis["entries"][:k]:
        mats = [r["confusion"] for r in groups.get(e["model"], []) if r.get("confusion")]
        if mats:
            total = [[sum(m[i][j] for m in mats) for j in range(len(mats[0]))] for i in range(len(mats[0]))]
            classes = (groups[e["model"]][0].get("classes") or [str(i) for i in range(len(total))])[: len(total)]
            shown.append((e, total, classes))
    if not shown:
        return None
    n = len(shown[0][1])
    size = min(6.0, max(3.0, 0.42 * n + 1.4))
    fig = Figure(figsize=(size * len(shown) + 0.4, size))
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    place = ["best", "runner-up"]
    for i, (ax, (e, total, classes)) in enumerate(zip(axes, shown, strict=True)):
        frac = [[v / max(1, sum(row)) for v in row] for row in total]
        ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        if n <= 15:
            for r in range(n):
                for c in range(n):
                    if round(100 * frac[r][c]) >= 1:  # a 0 would be noise
                        ax.text(c, r, f"{100 * frac[r][c]:.0f}", ha="center", va="center", fontsize=7 if n > 8 else 8.5,
                                color="white" if frac[r][c] > 0.55 else INK)
        ticks = list(range(n)) if n <= 30 else list(range(0, n, max(1, n // 15)))
        labels = [text(short(classes[t], 10)) for t in ticks]
        ax.set_xticks(ticks, labels, rotation=90 if max(map(len, labels)) > 2 else 0, fontsize=7.5)
        ax.set_yticks(ticks, labels, fontsize=7.5)
        ax.set_xlabel("predicted", color=INK)
        if i == 0:
            ax.set_ylabel("true", color=INK)
        ax.set_title(text(f"{place[i] if i < 2 else ''}: {e['model']} ({e['n']} seed{'s' if e['n'] != 1 else ''}, %)"),
                     color=INK, fontsize=9.5)
    fig.suptitle(text(f"Test confusion on {analysis['dataset']} (% of each true class)"), color=INK, fontsize=10.5,
                 x=0.01, ha="left")
    return fig


def colours_for(analyses: list[dict[str, Any]]) -> dict[str, str]:
    """Colours by model label across all data sets, in order of first appearance in the rankings."""
    return palette(list(dict.fromkeys(e["model"] for a in analyses for e in a["entries"])))
