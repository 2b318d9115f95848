"""Statistics over stored runs: means with 95% t-intervals, paired tests, rankings with ties, Pareto fronts.

Pure functions over rows (dicts as ``Store.rows`` returns them). The method, stated once:

* **Interval:** mean over seeds +- t(0.975, n-1) x sd / sqrt(n) (Student's t; none for one seed).
* **Paired comparison:** for two models on one data set, the per-seed differences of the headline
  metric on the seeds both have; a two-sided paired t-test on those differences. With 3-5 seeds a
  sign or Wilcoxon test cannot reach p < 0.05 at all (its smallest two-sided p is 2 / 2^n), so the
  t-test is the only one with any power there; p-values are Holm-corrected over all pairs of a data set.
* **Rank:** 1 + the number of models that beat this one in a paired test (corrected p < alpha).
  Models that nothing separates share a rank, so ties show where the evidence runs out.
* **Pareto front:** the models no other model beats on both the metric and a cost (at least as good on
  both, strictly better on one), computed on means.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from statistics import fmean, stdev
from typing import Any

ALPHA = 0.05
COSTS = {"train_seconds": "train time (s)", "params": "parameters", "peak_rss_mb": "peak memory (MiB)"}
COST_KEYS = ("params", "flops_per_sample", "train_seconds", "steps_per_second", "latency_ms", "throughput",
             "peak_rss_mb", "peak_cuda_mb")
TEST_NAME = "paired t-test on per-seed differences, two-sided, Holm-corrected over the pairs of a data set"


def t_quantile(p: float, df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(p, df))


def mean_ci(values: Iterable[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """Mean and a two-sided Student-t interval; no interval for fewer than two values.

    >>> m, lo, hi = mean_ci([0.90, 0.92, 0.94])
    >>> round(m, 3), round(lo, 3), round(hi, 3)
    (0.92, 0.87, 0.97)
    >>> mean_ci([0.5])
    (0.5, None, None)
    """
    v = [float(x) for x in values]
    if not v:
        raise ValueError("mean_ci of no values")
    m = fmean(v)
    if len(v) < 2:
        return m, None, None
    half = t_quantile(0.5 + level / 2, len(v) - 1) * stdev(v) / math.sqrt(len(v))
    return m, m - half, m + half


def paired_test(a: dict[int, float], b: dict[int, float], level: float = 0.95) -> dict[str, Any]:
    """Paired t-test of a - b over the seeds both have: n, mean difference, its interval, p.

    Identical differences on every seed (no spread) give p = 0 when they are not zero, 1 when they are.

    >>> r = paired_test({0: 0.93, 1: 0.94, 2: 0.92}, {0: 0.60, 1: 0.62, 2: 0.61})
    >>> r["n"], round(r["diff"], 3), r["p"] < 0.001
    (3, 0.32, True)
    >>> paired_test({0: 0.9}, {0: 0.8})["p"] is None
    True
    """
    seeds = sorted(set(a) & set(b))
    d = [a[s] - b[s] for s in seeds]
    n = len(d)
    out: dict[str, Any] = {"n": n, "seeds": seeds, "diff": fmean(d) if d else None, "ci_low": None, "ci_high": None,
                           "p": None, "test": "paired t-test"}
    if n < 2:
        return out
    m, sd = fmean(d), stdev(d)
    if sd == 0 or not math.isfinite(sd):
        out.update(ci_low=m, ci_high=m, p=1.0 if m == 0 else 0.0)
        return out
    from scipy.stats import t

    se = sd / math.sqrt(n)
    half = float(t.ppf(0.5 + level / 2, n - 1)) * se
    out.update(ci_low=m - half, ci_high=m + half, p=float(2 * t.sf(abs(m / se), n - 1)))
    return out


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None stays None and does not count as a test).

    >>> holm([0.01, 0.04, 0.03, None])
    [0.03, 0.06, 0.06, None]
    """
    idx = sorted((i for i, p in enumerate(pvalues) if p is not None), key=lambda i: pvalues[i])
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, i in enumerate(idx):
        running = max(running, min(1.0, (m - k) * pvalues[i]))
        out[i] = round(running, 12)
    return out


def pareto_front(points: list[tuple[str, float, float]], higher: bool = True) -> list[str]:
    """Labels of (label, metric, cost) points that no other point dominates (cost: lower is better).

    >>> pareto_front([("a", 0.9, 10.0), ("b", 0.8, 1.0), ("c", 0.7, 5.0), ("d", 0.9, 20.0)])
    ['a', 'b']
    """
    sign = 1.0 if higher else -1.0
    front = []
    for label, m, c in points:
        dominated = any(sign * m2 >= sign * m and c2 <= c and (sign * m2 > sign * m or c2 < c)
                        for l2, m2, c2 in points if l2 != label)
        if not dominated:
            front.append(label)
    return front


# ---- from rows to a per-data-set analysis ---------------------------------------------------------


def variants(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows grouped by (dataset, label). The label is the model name, made unique within a data set when
    one model was run with several settings (``mlp #3fa2c1``) or package versions (``mlp @0.1.0``)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["model"], r["params_hash"], r["version"])].append(r)
    per_model: dict[tuple, list[tuple]] = defaultdict(list)
    for k in groups:
        per_model[k[:2]].append(k)
    out = {}
    for (dataset, model), ks in per_model.items():
        hashes, versions = {k[2] for k in ks}, {k[3] for k in ks}
        for k in sorted(ks):
            label = model + (f" #{k[2][:6]}" if len(hashes) > 1 else "") + (f" @{k[3]}" if len(versions) > 1 else "")
            out[(dataset, label)] = sorted(groups[k], key=lambda r: r["seed"])
    return out


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (dataset, label): headline mean and interval over seeds, other metrics and costs."""
    out = []
    for (dataset, label), rs in variants(rows).items():
        metric, higher = rs[0]["metric"], bool(rs[0]["higher"])
        values = {int(r["seed"]): float(r["metrics"][metric]) for r in rs if r["metrics"].get(metric) is not None}
        if not values:
            continue
        mean, lo, hi = mean_ci(values.values())
        metrics = {k: fmean(float(r["metrics"][k]) for r in rs) for k in rs[0]["metrics"]
                   if all(isinstance(r["metrics"].get(k), (int, float)) for r in rs)}
        cost = {k: fmean(float(r["cost"][k]) for r in rs) for k in COST_KEYS
                if all(isinstance((r.get("cost") or {}).get(k), (int, float)) for r in rs)}
        out.append({"dataset": dataset, "model": label, "base_model": rs[0]["model"], "metric": metric,
                    "higher": higher, "mean": mean, "ci_low": lo, "ci_high": hi, "n": len(values),
                    "values": values, "metrics": metrics, "cost": cost, "params": rs[0].get("params") or {},
                    "tuned": rs[0].get("tuned"), "budget": (rs[0].get("config") or {}).get("budget")})
    return out


def analyze(rows: list[dict[str, Any]], alpha: float = ALPHA) -> list[dict[str, Any]]:
    """Per data set: entries ranked (with ties), every pair compared, and the Pareto fronts per cost."""
    by_ds: dict[str, list[dict]] = defaultdict(list)
    for e in summarize(rows):
        by_ds[e["dataset"]].append(e)
    out = []
    for dataset in sorted(by_ds):
        entries = by_ds[dataset]
        metric, higher = entries[0]["metric"], entries[0]["higher"]
        sign = 1.0 if higher else -1.0
        pairs = []
        for i, a in enumerate(entries):
            for b in entries[i + 1:]:
                t = paired_test(a["values"], b["values"])
                pairs.append({"a": a["model"], "b": b["model"], **t})
        for p, adj in zip(pairs, holm([p["p"] for p in pairs]), strict=True):
            p["p_holm"] = adj
            p["separated"] = adj is not None and adj < alpha
            p["better"] = (p["a"] if sign * p["diff"] > 0 else p["b"]) if p["separated"] else None
        beaten_by = {e["model"]: sum(p["better"] not in (None, e["model"]) and e["model"] in (p["a"], p["b"])
                                     for p in pairs) for e in entries}
        for e in entries:
            e["rank"] = 1 + beaten_by[e["model"]]
        entries.sort(key=lambda e: (e["rank"], -sign * e["mean"], e["model"]))
        fronts = {}
        for cost in COSTS:
            pts = [(e["model"], e["mean"], e["cost"][cost]) for e in entries if cost in e["cost"]]
            fronts[cost] = pareto_front(pts, higher) if pts else []
        for e in entries:
            e["pareto"] = [c for c in COSTS if e["model"] in fronts[c]]
        out.append({"dataset": dataset, "metric": metric, "higher": higher, "alpha": alpha, "test": TEST_NAME,
                    "entries": entries, "pairs": pairs, "fronts": fronts})
    return out


def pair(analysis: dict[str, Any], a: str, b: str) -> dict[str, Any] | None:
    """The comparison of models a and b in one data set's analysis, whichever order it was stored in."""
    for p in analysis["pairs"]:
        if {p["a"], p["b"]} == {a, b}:
            return p
    return None


def summary_records(analyses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The JSON summary: one record per (dataset, model) with mean, interval, n and rank."""
    return [{"dataset": a["dataset"], "model": e["model"], "metric": e["metric"], "mean": e["mean"],
             "ci_low": e["ci_low"], "ci_high": e["ci_high"], "n": e["n"], "rank": e["rank"]}
            for a in analyses for e in a["entries"]]
