"""Memory horizon: how long a lag each model bridges on the adding and temporal-order problems.

Every model trains on each problem at each lag (sequence length) for several seeds under one fixed
budget. A run *solves* the adding problem when its test MSE is below 0.04 (always guessing the mean
scores about 0.167) and the temporal-order problem at a test accuracy of at least 0.95 (chance:
0.25). A model's success rate at a lag is the share of its seeds that solve it (with a Wilson 95%
interval); its **largest solved lag** is the largest lag tried whose success rate is at least 0.5,
whether or not every shorter lag passed too (the rate table shows any gap), and 0 when it solves
none. Each seed's own largest solved lag, and a bootstrap interval over seeds of the largest solved
lag, say how firm that number is.

The runs go through the comparison grid (``blobbotronic.compare``): rows land in its store, so a
rerun reuses finished runs and the report sees them. ``run_grid`` is the one place that trains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.synthetic import DEFAULT_N, source_name
from ..errors import BlobError

TASKS = ("adding", "temporal_order")
# The default sweep is sized to answer the study's question (does the LSTM bridge a lag the vanilla RNN cannot?)
# in about a minute of two cores. Measured here at the default budget, seed 0, one thread (CPU seconds a run):
#   adding         lag 10: rnn 3.3 (solved), lstm 3.7 (solved)   lag 30: rnn 4.6 (MSE 0.16), lstm 6.7 (solved)
#   temporal order lag 10: rnn 1.8, lstm 3.2 (both solved)       lag 30: rnn 4.2, lstm 7.0 (both solved)
# so the adding problem at lags 10 and 30 separates the two and the temporal-order problem needs longer lags.
# Lag 100 solves for neither within this budget (claims/memory.py) and costs about 15 (rnn) and 25 (lstm) CPU-s
# a run; at lag 300 the first 100 steps took 9.9 (rnn) and 49 (lstm) CPU-s, about 2.5 and 12 CPU-minutes a run,
# and lag 1,000 more: gradients vanishing into denormal floats slow the backward pass 3.5x (rnn) and 9x (lstm)
# there (the same 100 steps with denormals flushed to zero: 2.8 and 5.4 s). The old default (both tasks, lags
# up to 1,000, 3 seeds) would take hours. The whole study is --task both --lags 10,30,100,300,1000.
DEFAULT_TASKS = ("adding",)
DEFAULT_LAGS = (10, 30)
DEFAULT_SEEDS = 3
QUICK_LAGS = (10, 30)
QUICK_SEEDS = 2
DEFAULT_MODELS = ("rnn", "lstm", "gru", "cnn")
QUICK_MODELS = ("rnn", "lstm")
THRESHOLD = 0.5  # success rate at which a lag counts as solved


@dataclass(frozen=True)
class Criterion:
    metric: str  # key in the run's test metrics
    better: str  # "<" or ">="
    bound: float
    label: str

    def met(self, metrics: dict[str, float]) -> bool:
        v = metrics.get(self.metric)
        if v is None or not math.isfinite(v):
            return False
        return v < self.bound if self.better == "<" else v >= self.bound


SOLVED = {"adding": Criterion("loss", "<", 0.04, "test MSE < 0.04"),
          "temporal_order": Criterion("accuracy", ">=", 0.95, "test accuracy >= 0.95")}


@dataclass(frozen=True)
class HorizonConfig:
    """One fixed training budget for every cell of the sweep.

    ``patience=None`` trains the whole budget: on the adding problem the loss sits on the mean-guess
    plateau for a long while before it drops, and early stopping would end runs on the plateau.
    """

    budget: str = "1500 steps"
    batch_size: int = 64
    n: int = DEFAULT_N  # sequences per data set, split 80/10/10
    device: str = "auto"
    lr: float | None = None  # None: each family's default
    patience: int | None = None
    amp: bool = False  # float32 on GPUs too: a bf16 hidden state over 1,000 steps would change the question

    def train_overrides(self) -> dict[str, Any]:
        out = {"batch_size": self.batch_size, "patience": self.patience, "device": self.device, "threads": 1,
               "amp": self.amp}
        if self.lr is not None:
            out["lr"] = self.lr
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def data_name(task: str, lag: int, n: int = DEFAULT_N) -> str:
    if task not in SOLVED:
        raise BlobError(f"Unknown memory task {task!r}; valid: {', '.join(TASKS)} (or 'both').")
    return source_name(task, int(lag), int(n))


def parse_lags(text: str | Iterable[int]) -> list[int]:
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        lags = sorted({int(str(s).strip()) for s in items if str(s).strip()})
    except ValueError:
        raise BlobError(f"Cannot read the lags {text!r}: write whole numbers separated by commas, "
                        "e.g. 10,30,100.") from None
    if not lags or lags[0] < 8:
        raise BlobError(f"Lags must be whole numbers of at least 8 (the temporal-order minimum), got {text!r}.")
    return lags


# ---- running: the one place that trains ------------------------------------------------------------


def run_grid(tasks: Iterable[str], lags: Iterable[int], models: Iterable[str], seeds: int, cfg: HorizonConfig,
             *, workers: int | None = 1, store: str | Path | None = None,
             on_event: Callable[..., None] | None = None) -> list[dict[str, Any]]:
    """Train every (task, lag, model, seed) through the comparison grid; returns its stored rows."""
    from ..compare.runner import DEFAULT_STORE, compare

    names = [data_name(t, lag, cfg.n) for t in tasks for lag in lags]
    result = compare(names, list(models), seeds=seeds, budget=cfg.budget, store=store or DEFAULT_STORE,
                     workers=workers, quiet=True, device=cfg.device, on_event=on_event,
                     **{k: v for k, v in cfg.train_overrides().items() if k not in ("device", "threads")})
    if result.skipped:
        raise BlobError("Some models cannot take the memory tasks:\n" + "\n".join(result.skipped))
    return result.rows


def stored_rows(tasks: Iterable[str], lags: Iterable[int], models: Iterable[str], seeds: int, cfg: HorizonConfig,
                store: str | Path | None = None) -> list[dict[str, Any]]:
    """The grid's runs already in the store under this budget (any device, latest first), training nothing."""
    from ..compare.store import DEFAULT_STORE, Store
    from ..train.budget import Budget

    names = {data_name(t, lag, cfg.n) for t in tasks for lag in lags}
    want = {"budget": Budget.parse(cfg.budget).to_dict(), "batch_size": cfg.batch_size, "patience": cfg.patience,
            "amp": cfg.amp, **({"lr": cfg.lr} if cfg.lr is not None else {})}
    if not Path(store or DEFAULT_STORE).is_file():
        raise BlobError(f"{store or DEFAULT_STORE}: no results store there to read the memory sweep from.")
    with Store(store or DEFAULT_STORE) as db:
        rows = [r for r in db.rows(datasets=names, models=list(models))
                if r["seed"] < seeds and all((r["config"] or {}).get(k) == v for k, v in want.items())]
    latest: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = (r["dataset"], r["model"], r["seed"])
        if key not in latest or r["finished_at"] > latest[key]["finished_at"]:
            latest[key] = r
    return list(latest.values())


def missing_cells(results: list[dict[str, Any]], tasks: Iterable[str], lags: Iterable[int], models: Iterable[str],
                  seeds: int) -> list[dict[str, Any]]:
    """(task, lag, model) cells with fewer runs than seeds asked for."""
    have: dict[tuple, int] = {}
    for r in results:
        have[(r["task"], r["lag"], r["model"])] = have.get((r["task"], r["lag"], r["model"]), 0) + 1
    return [{"task": t, "lag": lag, "model": m, "runs": have.get((t, lag, m), 0)}
            for t in tasks for lag in lags for m in models if have.get((t, lag, m), 0) < seeds]


def outcomes(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per run: task, lag, model, seed, the deciding metric's value, solved or not, seconds."""
    out = []
    for r in rows:
        task, _, rest = str(r["dataset"]).partition(":")
        if task not in SOLVED:
            continue
        lag = int(dict(p.split("=", 1) for p in rest.split(",") if "=" in p).get("lag", 0))
        crit = SOLVED[task]
        m = r.get("metrics") or {}
        out.append({"task": task, "lag": lag, "model": r["model"], "seed": int(r["seed"]),
                    "value": m.get(crit.metric), "metric": crit.metric, "solved": crit.met(m),
                    "seconds": (r.get("cost") or {}).get("train_seconds"), "params": r.get("params")})
    return out


# ---- statistics -------------------------------------------------------------------------------------


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n (95% by default); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def success_rates(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[int, dict[str, Any]]]]:
    """{model: {task: {lag: {"runs", "solved", "rate", "low", "high", "values"}}}}."""
    cells: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in results:
        cells.setdefault((r["model"], r["task"], r["lag"]), []).append(r)
    out: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for (model, task, lag), rs in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        k, n = sum(r["solved"] for r in rs), len(rs)
        low, high = wilson(k, n)
        out.setdefault(model, {}).setdefault(task, {})[lag] = {
            "runs": n, "solved": k, "rate": k / n, "low": low, "high": high,
            "values": [r["value"] for r in sorted(rs, key=lambda r: r["seed"])]}
    return out


def largest_solved_lag(by_lag: dict[int, dict[str, Any]], threshold: float = THRESHOLD) -> int:
    """The largest lag whose success rate is at least ``threshold``; 0 when none is."""
    good = [lag for lag, cell in by_lag.items() if cell["rate"] >= threshold]
    return max(good) if good else 0


def horizons(rates: dict[str, dict[str, dict[int, dict[str, Any]]]]) -> dict[str, dict[str, int]]:
    return {m: {t: largest_solved_lag(by_lag) for t, by_lag in tasks.items()} for m, tasks in rates.items()}


def per_seed_horizons(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[int, int]]]:
    """{model: {task: {seed: the largest lag that seed solved (0: none)}}}."""
    out: dict[str, dict[str, dict[int, int]]] = {}
    for r in results:
        cell = out.setdefault(r["model"], {}).setdefault(r["task"], {})
        cell[r["seed"]] = max(cell.get(r["seed"], 0), r["lag"] if r["solved"] else 0)
    return out


def bootstrap_horizon(results: list[dict[str, Any]], model: str, task: str, reps: int = 2000,
                      seed: int = 0) -> tuple[int, int] | None:
    """A 95% percentile interval of the largest solved lag, resampling whole seeds with replacement."""
    rs = [r for r in results if r["model"] == model and r["task"] == task]
    seeds = sorted({r["seed"] for r in rs})
    if not seeds:
        return None
    lags = sorted({r["lag"] for r in rs})
    table = {(r["seed"], r["lag"]): r["solved"] for r in rs}
    solved = np.array([[table.get((s, lag), False) for lag in lags] for s in seeds], dtype=float)  # (S, lags)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(seeds), (reps, len(seeds)))
    rates = solved[picks].mean(1)  # (reps, lags)
    ok = rates >= THRESHOLD
    lag_arr = np.array(lags)
    best = np.where(ok.any(1), np.max(np.where(ok, lag_arr, 0), 1), 0)
    return int(np.percentile(best, 2.5, method="lower")), int(np.percentile(best, 97.5, method="higher"))


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the command prints: success rates, horizons with per-seed values and bootstrap intervals."""
    rates = success_rates(results)
    seeds = per_seed_horizons(results)
    intervals = {m: {t: bootstrap_horizon(results, m, t) for t in tasks} for m, tasks in rates.items()}
    return {"horizons": horizons(rates), "per_seed": seeds, "intervals": intervals, "rates": rates,
            "rule": f"largest lag with success rate >= {THRESHOLD} over seeds (0: none solved)",
            "criteria": {t: c.label for t, c in SOLVED.items()}}
