"""Figures of the explainers as PNG files: filters, feature maps, Grad-CAM, memory curves, horizons, trajectories.

Pure functions of numbers (arrays, dicts) that write one PNG each and return its path. They use
matplotlib's object API (no pyplot state), so they are safe in workers and need no display.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

DPI = 110


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=DPI, layout="constrained")


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _grid(n: int, cols: int = 8) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols


def filters_figure(weights: np.ndarray, path: str | Path, title: str = "First-layer filters") -> Path:
    """2-D filters (out, in, kh, kw) as a grid of grey images (mean over input channels; RGB when in = 3);
    1-D filters (out, in, k) as small curves, one line per input channel."""
    w = np.asarray(weights, dtype=np.float32)
    rows, cols = _grid(len(w))
    fig = _figure(1.2 * cols + 0.4, 1.2 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    lim = float(np.abs(w).max()) or 1.0
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(w):
            ax.axis("off")
            continue
        f = w[i]
        if f.ndim == 3 and f.shape[0] == 3:  # RGB: scale each filter to [0, 1]
            img = f.transpose(1, 2, 0)
            ax.imshow((img - img.min()) / (np.ptp(img) or 1.0))
        elif f.ndim == 3:
            ax.imshow(f.mean(0), cmap="RdBu_r", vmin=-lim, vmax=lim)
        else:  # (in, k)
            for c in range(min(len(f), 8)):
                ax.plot(f[c], lw=1)
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_ylim(-lim, lim)
        ax.set_title(str(i), fontsize=7)
    fig.suptitle(title + (" (red +, blue -)" if w.ndim == 4 else ""), fontsize=10)
    return _save(fig, path)


def feature_maps_figure(x: np.ndarray, layers: list[tuple[str, np.ndarray]], path: str | Path,
                        per_layer: int = 8, title: str = "Feature maps") -> Path:
    """The input, then for each layer up to ``per_layer`` channels of its maps, one colour scale per layer.

    2-D maps (C, H, W) show as images; 1-D maps (C, L) as a heat map with one row per channel.
    """
    rows = len(layers) + 1
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:  # a sequence: one wide heat map per layer (channels x positions)
        fig = _figure(8, 1.3 * rows + 0.5)
        axes = fig.subplots(rows, 1, squeeze=False)
        axes[0, 0].imshow(x.T, aspect="auto", cmap="viridis", interpolation="nearest")
        axes[0, 0].set_title("input (channels x positions)", fontsize=7, loc="left")
        for r, (name, maps) in enumerate(layers, start=1):
            maps = np.asarray(maps, dtype=np.float32)
            axes[r, 0].imshow(maps[: 2 * per_layer], aspect="auto", cmap="magma", interpolation="nearest")
            axes[r, 0].set_title(f"{name}: {tuple(maps.shape)}, channels 0-{min(2 * per_layer, len(maps)) - 1}",
                                 fontsize=7, loc="left")
        for a in axes.ravel():
            a.set_yticks([])
        fig.suptitle(title, fontsize=10)
        return _save(fig, path)
    cols = per_layer
    fig = _figure(1.15 * cols + 1.6, 1.15 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
    ax = axes[0, 0]
    ax.axis("on")
    ax.imshow(x.transpose(1, 2, 0) if x.shape[0] == 3 else x.mean(0), cmap=None if x.shape[0] == 3 else "gray")
    ax.set_title("input", fontsize=7)
    for r, (name, maps) in enumerate(layers, start=1):
        maps = np.asarray(maps, dtype=np.float32)
        lo, hi = float(maps.min()), float(maps.max())  # one colour scale per layer: channels compare
        hi = hi if hi > lo else lo + 1e-6
        for c in range(min(cols, len(maps))):
            a = axes[r, c]
            a.axis("on")
            a.imshow(maps[c], cmap="magma", vmin=lo, vmax=hi)
            a.set_xticks([])
            a.set_yticks([])
        axes[r, 0].set_title(f"{name}: {tuple(maps.shape)}, channels 0-{min(cols, len(maps)) - 1}", fontsize=7,
                             loc="left")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def gradcam_figure(x: np.ndarray, cam: np.ndarray, sal: np.ndarray, path: str | Path, title: str = "",
                   channels: list[str] | None = None, tokens: bool = False) -> Path:
    """``draw_gradcam`` written to ``path``."""
    return _save(draw_gradcam(x, cam, sal, title, channels, tokens), path)


def draw_gradcam(x: np.ndarray, cam: np.ndarray, sal: np.ndarray, title: str = "", channels: list[str] | None = None,
                 tokens: bool = False):
    """Input, Grad-CAM overlay and saliency side by side (images), or drawn over the series itself (sequences).

    A series (L, C) gets two panels sharing the position axis, one per attribution: the series as lines
    (one channel: the line itself coloured by the attribution) over a background shaded by it. Token ids
    (``tokens``) are no series to draw: each attribution shows as bars over the token positions.
    """
    x, cam, sal = (np.asarray(a, dtype=np.float32) for a in (x, cam, sal))
    if x.ndim == 3:  # image (C, H, W)
        img = x.transpose(1, 2, 0) if x.shape[0] == 3 else x.mean(0)
        cmap = None if x.shape[0] == 3 else "gray"
        fig = _figure(7.5, 2.8)
        axes = fig.subplots(1, 3)
        axes[0].imshow(img, cmap=cmap)
        axes[0].set_title("input", fontsize=8)
        axes[1].imshow(img, cmap=cmap)
        axes[1].imshow(cam, cmap="jet", alpha=0.5, vmin=0, vmax=1)
        axes[1].set_title("Grad-CAM (last conv layer)", fontsize=8)
        axes[2].imshow(sal, cmap="hot")
        axes[2].set_title("saliency |gradient x input|", fontsize=8)
        for a in axes:
            a.set_xticks([])
            a.set_yticks([])
        fig.suptitle(title, fontsize=10)
        return fig
    series = x.reshape(len(x), -1)  # (L, C)
    fig = _figure(8, 4.6)
    axes = fig.subplots(2, 1, sharex=True)
    for ax, (what, a) in zip(axes, (("Grad-CAM (last conv layer)", cam), ("saliency |gradient x input|", sal)),
                             strict=True):
        a = a / a.max() if a.size and a.max() > 0 else a
        if tokens:
            ax.bar(np.arange(len(a)), a, width=0.9, color=_colours(a))
            ax.set_ylabel(what.split(" (")[0], fontsize=8)
        else:
            _series_with_attribution(ax, series, a, channels)
            ax.set_ylabel("value", fontsize=8)
        ax.set_title(what + " over the input, darker: more", fontsize=8, loc="left")
    axes[-1].set_xlabel("token position" if tokens else "position (time step)", fontsize=8)
    fig.colorbar(_mappable(), ax=list(axes), shrink=0.8, label="attribution (scaled to its maximum)")
    fig.suptitle(title, fontsize=10)
    return fig


ATTRIBUTION_CMAP = "Reds"
SHOWN_CHANNELS = 8


def _colours(a: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps[ATTRIBUTION_CMAP](0.15 + 0.85 * np.clip(a, 0, 1))


def _mappable():
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    return ScalarMappable(Normalize(0, 1), colormaps[ATTRIBUTION_CMAP])


def _series_with_attribution(ax, series: np.ndarray, a: np.ndarray, channels: list[str] | None) -> None:
    """The series (L, C) as lines over one shaded band per position; a single channel's line is coloured too."""
    from matplotlib.collections import LineCollection, PolyCollection

    L, C = series.shape
    t = np.arange(L, dtype=np.float64)
    shown = series[:, :SHOWN_CHANNELS]
    finite = shown[np.isfinite(shown)]  # NaN pads a shorter series to the data set's length
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    bands = [[(i - 0.5, lo), (i + 0.5, lo), (i + 0.5, hi), (i - 0.5, hi)] for i in range(L)]
    ax.add_collection(PolyCollection(bands, facecolors=_colours(a), alpha=0.3 if C == 1 else 0.5, linewidths=0,
                                     zorder=0))
    if C == 1:  # the line itself in the attribution's colour, a thin dark line over it keeping its shape readable
        points = np.stack([t, series[:, 0]], 1)
        segments = np.stack([points[:-1], points[1:]], 1)
        ax.add_collection(LineCollection(segments, colors=_colours(0.2 + 0.8 * (a[:-1] + a[1:]) / 2), linewidths=3,
                                         zorder=1))
        ax.plot(t, series[:, 0], color="0.15", lw=0.7, zorder=2)
    else:
        names = list(channels or [])[:C] + [f"channel {c}" for c in range(len(channels or []), C)]
        for c in range(shown.shape[1]):
            ax.plot(t, shown[:, c], lw=1.0, color=f"C{c}", label=names[c], zorder=1)
        ax.legend(fontsize=6, loc="upper right", ncol=min(4, shown.shape[1]),
                  title=None if C <= SHOWN_CHANNELS else f"first {SHOWN_CHANNELS} of {C} channels")
    ax.set_xlim(-0.5, L - 0.5)
    ax.set_ylim(lo, hi)


def memory_curves_figure(curves: dict[str, dict[str, np.ndarray]], path: str | Path, title: str = "",
                         shares: dict[str, float] | None = None) -> Path:
    """One panel per model, side by side with a shared y axis: the share of attribution per position
    for each method (integrated gradients solid, gradient x input dashed); the last quarter shaded."""
    models = list(curves)
    fig = _figure(3.0 * len(models) + 0.4, 3.0)
    axes = np.atleast_1d(fig.subplots(1, len(models), sharey=True, squeeze=False)).ravel()
    for ax, model in zip(axes, models, strict=False):
        for i, (method, c) in enumerate(curves[model].items()):
            c = np.asarray(c)
            ax.plot(np.arange(len(c)), c, lw=1.2, ls="-" if i == 0 else "--", label=method.replace("_", " "))
        L = len(next(iter(curves[model].values())))
        ax.axvspan(L - max(1, L // 4) - 0.5, L - 0.5, color="grey", alpha=0.15, lw=0)
        share = (shares or {}).get(model)
        ax.set_title(f"{model}" + (f"\nlast quarter: {share:.0%}" if share is not None else ""), fontsize=9)
        ax.set_xlabel("input position", fontsize=8)
    axes[0].set_ylabel("share of attribution", fontsize=8)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def horizon_figure(rates: dict[str, dict[str, dict[int, dict[str, Any]]]], path: str | Path,
                   criteria: dict[str, str] | None = None, models: list[str] | None = None) -> Path:
    """Success rate against lag (log scale), one line per model with Wilson 95% intervals, one panel per task.

    Each model keeps its colour in every panel; ``models`` sets the order (default: as in ``rates``).
    """
    models = [m for m in (models or list(rates)) if m in rates]
    tasks = sorted({t for m in rates.values() for t in m})
    fig = _figure(4.8 * len(tasks) + 0.4, 3.5)
    axes = np.atleast_1d(fig.subplots(1, len(tasks), squeeze=False)).ravel()
    for ax, task in zip(axes, tasks, strict=False):
        for i, model in enumerate(models):
            cells = rates[model].get(task)
            if not cells:
                continue
            lags = sorted(cells)
            rate = np.array([cells[g]["rate"] for g in lags])
            err = np.array([[cells[g]["rate"] - cells[g]["low"] for g in lags],
                            [cells[g]["high"] - cells[g]["rate"] for g in lags]])
            shift = 1.07 ** (i - (len(models) - 1) / 2)  # keep the models' error bars apart on the log axis
            ax.errorbar(np.array(lags) * shift, rate, yerr=err, marker="o", ms=4, capsize=2, lw=1.4,
                        elinewidth=0.8, alpha=0.9, color=f"C{i}", label=model)
        ax.axhline(0.5, color="grey", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("lag (sequence length)", fontsize=8)
        ax.set_title(task.replace("_", " ") + (f" ({criteria[task]})" if criteria and task in criteria else ""),
                     fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("success rate over seeds (95% Wilson)", fontsize=8)
    return _save(fig, path)


def trajectories_figure(trajs: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str = "") -> Path:
    """Hidden-state paths on their first two principal components, one panel per model, coloured by time."""
    models = list(trajs)
    fig = _figure(3.3 * len(models) + 0.4, 3.2)
    axes = np.atleast_1d(fig.subplots(1, len(models), squeeze=False)).ravel()
    for ax, model in zip(axes, models, strict=False):
        proj, var = trajs[model]
        for b in range(len(proj)):
            p = proj[b]
            y = p[:, 1] if p.shape[1] > 1 else np.zeros(len(p))
            ax.plot(p[:, 0], y, lw=0.6, color=f"C{b}", alpha=0.6)
            ax.scatter(p[:, 0], y, c=np.arange(len(p)), cmap="viridis", s=5)
            ax.scatter(p[-1:, 0], y[-1:], marker="x", color=f"C{b}", s=30)
        ax.set_title(f"{model} (PC1 {var[0]:.0%}" + (f", PC2 {var[1]:.0%})" if len(var) > 1 else ")"), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
