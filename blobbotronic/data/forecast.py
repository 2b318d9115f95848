"""Forecasting data: windows over a series, time-ordered (walk-forward) splits, a user's CSV/TSV series.

A sample is a window of the last ``window`` values and its targets are the next ``horizon`` values. Splits
follow time: training targets come first, validation targets later, test targets last; a window whose
targets straddle two periods is dropped, so no target is seen in two splits. Inputs are given to models
relative to the last observed value (the change, in units of the training series' typical one-step move),
so a model learns what happens next, not the price level of one decade; the targets are the same changes.
Everything fitted (scale, level statistics, the in-sample naive error for MASE) uses the training period only.
The built-in price and count series are forecast_sets.py's.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BlobError, where
from .options import yes_no
from .reading import read_text
from .series import reject_unknown
from .spec import Dataset, Spec, Split

FRACTIONS = (0.7, 0.15, 0.15)


def plan_windows(n: int, window: int, horizon: int, fractions: tuple[float, float, float] = FRACTIONS
                 ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Window starts and their split (0 train, 1 val, 2 test, -1 dropped) for a series of ``n`` values.

    Sample ``i`` reads times ``i .. i+window-1`` and predicts ``i+window .. i+window+horizon-1``. The
    periods are cut at ``cuts`` by target time: train targets before the first cut, test targets after
    the second.
    """
    cut1 = round(fractions[0] * n)
    cut2 = round((fractions[0] + fractions[1]) * n)
    starts = np.arange(max(0, n - window - horizon + 1))
    first, last = starts + window, starts + window + horizon - 1
    part = np.full(len(starts), -1)
    part[last < cut1] = 0
    part[(first >= cut1) & (last < cut2)] = 1
    part[first >= cut2] = 2
    return starts, part, (cut1, cut2)


def forecast_dataset(name: str, values: np.ndarray, *, window: int = 30, horizon: int = 1, level: bool = True,
                     season: int | None = None, dates: list[str] | None = None, units: str = "",
                     fractions: tuple[float, float, float] = FRACTIONS, meta: dict[str, Any] | None = None,
                     origin: str | None = None) -> Dataset:
    """A forecast Dataset from one series (oldest first): inputs (window, 1 or 2), targets (horizon,).

    Input channel 0 is each value's change from the window's last value, divided by the training
    period's standard deviation of one-step changes (``extra["scale"]``); channel 1 (``level=True``) is
    the value standardised by the training period's mean and standard deviation, for series whose
    level matters (sunspots revert to a mean; a stock's price level says nothing). Targets are the
    next ``horizon`` changes from the last value, in the same scaled units, so a prediction in series
    units is ``last value + output * scale`` and errors in series units are ``(output - target) * scale``.
    """
    origin = origin or name
    values = np.asarray(values, dtype=np.float64)
    if window < 1 or horizon < 1:
        raise BlobError(f"{origin}: window={window} and horizon={horizon} must both be at least 1.")
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        at = dates[bad[0]] if dates else f"position {bad[0]}"
        raise BlobError(f"{origin}: the series has a missing or infinite value at {at}; fill or remove it first.")
    starts, part, (cut1, cut2) = plan_windows(len(values), window, horizon, fractions)
    counts = [int((part == k).sum()) for k in range(3)]
    if min(counts) < 1:
        need = math.ceil((window + horizon) / fractions[2]) + 1
        raise BlobError(f"{origin}: {len(values)} values are too few for window={window} and horizon={horizon}: the "
                        f"time-ordered split left {counts[0]}/{counts[1]}/{counts[2]} train/val/test windows. Use a "
                        f"shorter window or horizon, or a series of at least about {need} values.")
    train = values[:cut1]
    steps = np.diff(train)
    scale, naive_mae = float(steps.std()), float(np.abs(steps).mean())
    if scale == 0 or naive_mae == 0:
        raise BlobError(f"{origin}: the series does not change during its training period; there is nothing to "
                        "forecast.")
    mean, std = float(train.mean()), float(train.std()) or 1.0
    idx = starts[:, None] + np.arange(window + horizon)[None, :]  # (N, window + horizon) time indices
    seen, future = values[idx[:, :window]], values[idx[:, window:]]
    extra = {"window": window, "horizon": horizon, "scale": scale, "naive_mae": naive_mae, "units": units,
             "inputs": ["change"] + (["level"] if level else []),
             "level": {"mean": mean, "std": std} if level else None,
             "season": season, "fractions": list(fractions)}
    x = prepare_windows(seen, extra)  # (N, window, C)
    y = ((future - seen[:, -1:]) / scale).astype(np.float32)  # (N, horizon)
    spec = Spec(name, "sequence", "forecast", x.shape[1:], horizon, extra=extra)

    def part_split(k: int) -> Split:
        sel = part == k
        return Split(torch.from_numpy(x[sel]), torch.from_numpy(y[sel]))

    def period(k: int) -> str:
        t = starts[part == k] + window
        lo, hi = int(t.min()), int(t.max()) + horizon - 1
        return f"{dates[lo]} .. {dates[hi]}" if dates else f"{lo} .. {hi}"

    info = {"split": "time-ordered: train earlier, val later, test latest (by target time)", "n_values": len(values),
            "target_periods": {s: period(k) for k, s in enumerate(("train", "val", "test"))},
            "dropped_windows": int((part == -1).sum()), **(meta or {})}
    return Dataset(spec, part_split(0), part_split(1), part_split(2), info)


def prepare_windows(seen: np.ndarray, extra: dict[str, Any]) -> np.ndarray:
    """Raw windows (N, window), oldest value first, as model inputs (N, window, C), exactly as in training."""
    seen = np.atleast_2d(np.asarray(seen, dtype=np.float64))
    last = seen[:, -1:]
    channels = [(seen - last) / extra["scale"]]
    if extra.get("level"):
        channels.append((seen - extra["level"]["mean"]) / extra["level"]["std"])
    return np.stack(channels, -1).astype(np.float32)


def forecast_values(outputs: torch.Tensor | np.ndarray, last: np.ndarray | float, extra: dict[str, Any]) -> np.ndarray:
    """Model outputs (N, horizon) as forecasts in the series' units: the last seen value plus the scaled change."""
    out = np.asarray(outputs.detach().cpu() if isinstance(outputs, torch.Tensor) else outputs, dtype=np.float64)
    return np.asarray(last, dtype=np.float64).reshape(-1, 1) + out * extra["scale"]


# ---- a user's CSV or TSV series -----------------------------------------------------------------

DATE_NAMES = ("date", "time", "timestamp", "datetime", "day", "month", "year", "period")


def load_forecast_table(path: Path, seed: int = 0, *, task: str = "forecast", target: str | None = None,
                        date: str | None = None, window: int | str = 30, horizon: int | str = 1,
                        season: int | str | None = None, level: bool | str = True, **unknown: Any) -> Dataset:
    """A series from a CSV/TSV file with a header: ``target`` is the column to forecast (default: the only
    numeric column besides the date), ``date`` orders the rows (default: a column named like a date;
    without one the file's row order is time). Gaps in the target are filled by linear interpolation."""
    reject_unknown(path, unknown, "task, target, date, window, horizon, season, level")
    window, horizon = _whole(path, "window", window), _whole(path, "horizon", horizon)
    season = None if season in (None, "", "none", 0, "0") else _whole(path, "season", season)
    level = yes_no(path, "level", level)
    header, rows, lines = _read_rows(path)
    date = date or next((h for h in header if h.strip().lower() in DATE_NAMES), None)
    for name, option in ((date, "date"), (target, "target")):
        if name is not None and name not in header:
            raise BlobError(f"{path}: option {option}={name!r} is not a column; columns: {', '.join(header)}.")
    if target is None:
        numeric = [h for j, h in enumerate(header) if h != date and _mostly_numbers([r[j] for r in rows])]
        if len(numeric) != 1:
            raise BlobError(f"{path}: name the column to forecast with the option target=COLUMN "
                            f"(numeric columns: {', '.join(numeric) or 'none'}).")
        target = numeric[0]
    j = header.index(target)
    values = np.empty(len(rows))
    for i, r in enumerate(rows):
        text = r[j].strip()
        try:
            values[i] = np.nan if text.lower() in ("", "na", "nan", "null", "?") else float(text)
        except ValueError:
            raise BlobError(f"{where(path, lines[i], target)}: {text[:20]!r} is not a number.") from None
    dates, meta = None, {"target": target, "date": date, "file": str(path)}
    if date is not None:
        dates, order = _dates(path, header.index(date), date, rows, lines)
        values, meta["sorted_by_date"] = values[order], bool((order != np.arange(len(order))).any())
    gaps = np.isnan(values)
    if gaps.all():
        raise BlobError(f"{path}: column {target!r} holds no numbers.")
    if gaps.any():
        t = np.arange(len(values))
        values[gaps] = np.interp(t[gaps], t[~gaps], values[~gaps])
    meta["missing_filled"] = int(gaps.sum())
    return forecast_dataset(path.stem, values, window=window, horizon=horizon, level=level, season=season,
                            dates=dates, units=target, meta=meta, origin=str(path))


def _whole(path: Path, name: str, value: Any) -> int:
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if number < 1:
        raise BlobError(f"{path}: option {name}={value!r} must be a whole number of at least 1.")
    return number


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the data rows and each row's line number (blank lines skipped)."""
    text = read_text(path, None, "save the file as UTF-8", brief=True)
    reader = csv.reader(io.StringIO(text), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    rows, lines = [], []
    try:
        for r in reader:
            if r:
                rows.append(r)
                lines.append(reader.line_num)
    except csv.Error as e:
        raise BlobError(f"{where(path, reader.line_num)}: not readable as CSV ({e}).") from None
    if len(rows) < 2:
        raise BlobError(f"{path}: needs a header row and at least one data row.")
    header = [h.strip() for h in rows[0]]
    for r, line in zip(rows[1:], lines[1:], strict=True):
        if len(r) != len(header):
            raise BlobError(f"{where(path, line)}: found {len(r)} fields, expected {len(header)} as in the header.")
    return header, rows[1:], lines[1:]


def _mostly_numbers(cells: list[str]) -> bool:
    ok = 0
    for c in cells:
        try:
            float(c)
            ok += 1
        except ValueError:
            pass
    return ok >= 0.9 * len(cells)


def _dates(path: Path, j: int, column: str, rows: list[list[str]], lines: list[int]) -> tuple[list[str], np.ndarray]:
    """The dates as text in time order, and the row order that sorts them (duplicates are an error)."""
    import pandas as pd

    texts = [r[j].strip() for r in rows]
    parsed = pd.to_datetime(pd.Series(texts), errors="coerce", format="mixed")
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise BlobError(f"{where(path, lines[i], column)}: {texts[i][:30]!r} is not a date.")
    dup = parsed.duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise BlobError(f"{where(path, lines[i])}: the date {texts[i]!r} appears twice; one row per date is needed.")
    order = np.argsort(parsed.to_numpy(), kind="stable")
    return [texts[k] for k in order], order
