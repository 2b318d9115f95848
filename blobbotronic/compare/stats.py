"""Statistics over stored runs: each (data set, model)'s mean with its interval, every pair compared, ranks
with ties, Pareto fronts, and the convergence warnings that come before any of them.

Pure functions over rows (dicts as ``Store.rows`` returns them). How the intervals and paired comparisons are
made, and why, is stated once in compare/intervals.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import fmean
from typing import Any

from .intervals import (  # noqa: F401  (re-exported: claims, reports and tests use them from here)
    METHOD,
    METRIC_RANGES,
    TEST_NAME,
    interval,
    mean_ci,
    metric_range,
    outcome_matrix,
    paired_test,
    seeds_needed,
    t_quantile,
)

ALPHA = 0.05
# The costs with Pareto fronts. Memory is the run's own (memory_mb: parameters, gradients, optimiser state and a
# training step's activations, train/metrics.py RunMeter), not peak_rss_mb, the worker process's resident-memory
# high-water mark (torch itself, the data, heap kept from earlier runs), which is kept in COST_KEYS for what it is.
COSTS = {"train_seconds": "train time (s)", "params": "parameters", "memory_mb": "memory (MiB)"}
COST_KEYS = ("params", "flops_per_sample", "train_seconds", "steps_per_second", "latency_ms", "throughput",
             "memory_mb", "params_mb", "grads_mb", "optimizer_mb", "activations_mb", "peak_rss_mb", "peak_cuda_mb",
             "cpu_share", "contended")

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
    one model was run with several settings (``mlp (budget 200 steps)``, ``mlp (lr=0.01)``: the settings that
    differ, see arm_names.py; ``mlp #3fa2c1`` only where the stored settings do not tell them apart) or package
    versions (``mlp @0.1.0``)."""
    from .arm_names import arm_names

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["model"], r["params_hash"], r["version"])].append(r)
    per_model: dict[tuple, list[tuple]] = defaultdict(list)
    for k in groups:
        per_model[k[:2]].append(k)
    out = {}
    for (dataset, model), ks in per_model.items():
        versions = {k[3] for k in ks}
        words = arm_names({k[2]: groups[k][0] for k in ks}) if len({k[2] for k in ks}) > 1 else {}
        for k in sorted(ks):
            w = words.get(k[2], "")
            label = model + (f" {w}" if w.startswith("#") else f" ({w})" if w else "") + \
                (f" @{k[3]}" if len(versions) > 1 else "")
            out[(dataset, label)] = sorted(groups[k], key=lambda r: r["seed"])
    return out


def _test_size(rs: list[dict[str, Any]], metric: str) -> int | None:
    """The test set's size for an accuracy without stored outcomes: its confusion matrix's total."""
    if metric.split("@")[0] != "accuracy":
        return None
    totals = {sum(map(sum, r["confusion"])) for r in rs if r.get("confusion")}
    return totals.pop() if len(totals) == 1 and len([r for r in rs if r.get("confusion")]) == len(rs) else None


def _convergence(rs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per arm: converged (True: every seed; False: some seed did not; None: unknown), the counts, best step."""
    conv = [r.get("convergence") if isinstance(r.get("convergence"), dict) else None for r in rs]
    known = [c for c in conv if c is not None and c.get("converged") is not None]
    not_conv = [c for c in known if c.get("converged") is False]
    state = False if not_conv else (True if known and len(known) == len(rs) else None)
    best = [c["best_step"] for c in known if isinstance(c.get("best_step"), (int, float))]
    return {"converged": state, "unconverged_seeds": len(not_conv), "convergence_known": len(known),
            "best_step": round(fmean(best)) if best else None,
            "suggested_budget": _largest_budget([c.get("suggested_budget") for c in not_conv])}


def _steps(rs: list[dict[str, Any]]) -> dict[str, Any] | None:
    steps = [float(r["cost"]["steps"]) for r in rs if isinstance((r.get("cost") or {}).get("steps"), (int, float))]
    if not steps:
        return None
    stopped = Counter(r.get("stopped") for r in rs if r.get("stopped"))
    return {"mean": fmean(steps), "min": min(steps), "max": max(steps), "n": len(steps), "stopped": dict(stopped)}


def summarize(rows: list[dict[str, Any]], level: float = 0.95) -> list[dict[str, Any]]:
    """One entry per (dataset, label): headline mean and interval (seeds and test set), other metrics, costs,
    steps trained and convergence."""
    out = []
    for (dataset, label), rs in variants(rows).items():
        metric, higher = rs[0]["metric"], bool(rs[0]["higher"])
        scored = [r for r in rs if r["metrics"].get(metric) is not None]
        values = {int(r["seed"]): float(r["metrics"][metric]) for r in scored}
        if not values:
            continue
        outcomes = {int(r["seed"]): r.get("outcomes") for r in scored if isinstance(r.get("outcomes"), str)}
        bounds = metric_range(metric)
        proportion = bounds == (0.0, 1.0) and metric.split("@")[0] == "accuracy"
        iv = interval(values.values(), level, bounds=bounds,
                      outcomes=[outcomes.get(s) for s in values] if proportion and len(outcomes) == len(values)
                      else None,
                      n_test=_test_size(scored, metric) if proportion else None)
        metrics = {k: fmean(float(r["metrics"][k]) for r in rs) for k in rs[0]["metrics"]
                   if all(isinstance(r["metrics"].get(k), (int, float)) for r in rs)}
        cost = {k: fmean(float(r["cost"][k]) for r in rs) for k in COST_KEYS
                if all(isinstance((r.get("cost") or {}).get(k), (int, float)) for r in rs)}
        out.append({"dataset": dataset, "model": label, "base_model": rs[0]["model"], "metric": metric,
                    "higher": higher, "mean": iv["mean"], "ci_low": iv["ci_low"], "ci_high": iv["ci_high"],
                    "n": len(values), "values": values, "metrics": metrics, "cost": cost,
                    "params": rs[0].get("params") or {}, "tuned": rs[0].get("tuned"),
                    "budget": (rs[0].get("config") or {}).get("budget"), "interval": iv["method"],
                    "n_test": iv["n_test"], "seed_sd": iv["seed_sd"], "bounds": bounds,
                    "outcomes": outcomes if proportion and outcomes else None, "steps": _steps(rs),
                    **_convergence(rs)})
    return out


def _why(p: dict[str, Any], alpha: float, m: int, level: float) -> tuple[str | None, int | None]:
    """A plain statement of why a pair is not separated, and the seeds that would separate it (or None)."""
    if p["separated"]:
        return None, None
    if p["cannot_tell"]:
        if p["n"] == 1:
            return p["cannot_tell"] + ": run --seeds 3 or more.", None
        if p["n"] == 0:
            return "The two were not run on any common seed.", None
        if p["diff"] != 0:
            return f"Cannot tell: {p['cannot_tell']}; run 3 or more seeds.", None
    if p["diff"] == 0:
        return "No difference: the two scored the same on every seed.", None
    pct = f"{round(100 * level)}%"
    said = []
    if p["p"] is not None and p["p"] < alpha:
        said.append(f"Clear on its own (p = {p['p']:.2g}) but not after Holm's correction for the {m} comparisons "
                    "of this data set.")
    elif p["ci_low"] is not None:
        said.append(f"The {pct} interval of the difference includes 0 with {p['n']} seeds.")
    need = seeds_needed(p["parts"], abs(p["diff"]), alpha / max(1, m))
    if need["test_limited"]:
        said.append(f"More seeds cannot separate them: the test set's own uncertainty (± {need['half_test']:.3g}) "
                    f"is larger than the difference ({abs(p['diff']):.3g}); a test set of at least "
                    f"{need['test_examples']:,} examples would be needed.")
    elif need["seeds"] is not None:
        said.append(f"At the observed spread about {need['seeds']} seeds would be needed to separate a difference "
                    f"of {abs(p['diff']):.3g}.")
    else:
        said.append(f"At the observed spread even 1,000 seeds would not separate a difference of "
                    f"{abs(p['diff']):.3g}.")
    return " ".join(said), need["seeds"]


def analyze(rows: list[dict[str, Any]], alpha: float = ALPHA, level: float = 0.95) -> list[dict[str, Any]]:
    """Per data set: entries ranked (with ties), every pair compared, and the Pareto fronts per cost."""
    by_ds: dict[str, list[dict]] = defaultdict(list)
    for e in summarize(rows, level):
        by_ds[e["dataset"]].append(e)
    out = []
    for dataset in sorted(by_ds):
        entries = by_ds[dataset]
        metric, higher = entries[0]["metric"], entries[0]["higher"]
        sign = 1.0 if higher else -1.0
        pairs = []
        for i, a in enumerate(entries):
            for b in entries[i + 1:]:
                t = paired_test(a["values"], b["values"], level, outcomes_a=a["outcomes"], outcomes_b=b["outcomes"],
                                bounds=a["bounds"])
                pairs.append({"a": a["model"], "b": b["model"], **t})
        tested = sum(p["p"] is not None for p in pairs)
        for p, adj in zip(pairs, holm([p["p"] for p in pairs]), strict=True):
            p["p_holm"] = adj
            p["separated"] = adj is not None and adj < alpha
            p["better"] = (p["a"] if sign * p["diff"] > 0 else p["b"]) if p["separated"] else None
            p["why"], p["seeds_needed"] = _why(p, alpha, tested, level)
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
    """The JSON summary: one record per (dataset, model) with mean, interval, n, rank and convergence."""
    return [{"dataset": a["dataset"], "model": e["model"], "metric": e["metric"], "mean": e["mean"],
             "ci_low": e["ci_low"], "ci_high": e["ci_high"], "n": e["n"], "rank": e["rank"],
             "converged": e["converged"], "best_step": e["best_step"]}
            for a in analyses for e in a["entries"]]


# ---- convergence, said before any ranking -----------------------------------------------------------


def _largest_budget(suggestions: list[Any]) -> str | None:
    """The largest of several suggested budgets ("800 steps"), in the unit most of them use."""
    from ..errors import BlobError
    from ..train.budget import Budget

    parsed = []
    for s in suggestions:
        if not s:
            continue
        try:
            b = Budget.parse(str(s))
        except (BlobError, TypeError, ValueError):
            continue
        (unit, value), = b.to_dict().items()
        parsed.append((unit, value, str(s)))
    if not parsed:
        return next((str(s) for s in suggestions if s), None)
    unit = Counter(u for u, _, _ in parsed).most_common(1)[0][0]
    return max((p for p in parsed if p[0] == unit), key=lambda p: p[1])[2]


def convergence_warnings(rows: list[dict[str, Any]]) -> list[str]:
    """One sentence per arm (data set and model) with a seed that had not converged when its training stopped:
    which arm, how many of its seeds, where its best check was, and a budget to try. Empty when every run
    converged or said nothing (rows from versions before the check)."""
    out = []
    for (dataset, label), rs in variants(rows).items():
        c = _convergence(rs)
        if c["converged"] is not False:
            continue
        bad = [r["convergence"] for r in rs if isinstance(r.get("convergence"), dict)
               and r["convergence"].get("converged") is False]
        best = [b.get("best_step") for b in bad if isinstance(b.get("best_step"), (int, float))]
        total = [b.get("steps") for b in bad if isinstance(b.get("steps"), (int, float))]
        where = ""
        if best and total:
            where = (f" (best validation check at step {_span(best)} of {_span(total)}"
                     + ("; still improving" if any(b.get("improving") for b in bad) else "") + ")")
        seeds = f"{c['unconverged_seeds']} of {len(rs)} seed{'s' if len(rs) != 1 else ''}"
        then = (f" Rerun it with a budget of {c['suggested_budget']} (--budget '{c['suggested_budget']}') before "
                "trusting its rank." if c["suggested_budget"] else " Train it longer before trusting its rank.")
        out.append(f"{label} on {dataset} had not converged in {seeds}{where}: its numbers below are those of an "
                   f"unfinished training run.{then}")
    return out


def _span(xs: list[float]) -> str:
    lo, hi = int(min(xs)), int(max(xs))
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"
