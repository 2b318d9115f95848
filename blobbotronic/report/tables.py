"""Words and tables from a comparison's analysis: the verdict in plain words, the ranked and pairwise tables.

Everything here returns plain strings and lists of cells; escaping for HTML or Markdown happens where
the cells are written (render.py), so a user's data set or class name is never markup.
"""

from __future__ import annotations

import math
from typing import Any

ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
COST_COLUMNS = [("params", "params"), ("flops_per_sample", "FLOPs/sample"), ("train_seconds", "train s"),
                ("steps_per_second", "steps/s"), ("latency_ms", "latency ms"), ("throughput", "samples/s"),
                ("memory_mb", "memory MiB")]
PARETO_WORDS = {"train_seconds": "time", "params": "params", "peak_rss_mb": "memory", "memory_mb": "memory"}
SI_COLUMNS = {"flops_per_sample", "throughput"}
OFF_FRONT = "—"  # the Pareto front cell of a model on no front


def fmt(x: float | int | None, digits: int = 3) -> str:
    """A number for people: 0.933, 12.4, 5,210, 1.2e-05; a dash when unknown.

    >>> fmt(0.93312), fmt(5210), fmt(123456.7), fmt(None), fmt(0.0000123)
    ('0.933', '5,210', '123,457', '—', '1.23e-05')
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, int) or (abs(x) >= 1000 and float(x).is_integer()):
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if x != 0 and abs(x) < 10 ** -digits:
        return f"{x:.{digits - 1}e}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.{digits}f}" if abs(x) < 10 else f"{x:.{digits - 1}f}"


def si(x: float | int | None) -> str:
    """Large counts in short form: 34.8k, 5.89M, 1.20G.

    >>> si(34800), si(5891176), si(512), si(None)
    ('34.8k', '5.89M', '512', '—')
    """
    if x is None:
        return "—"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return fmt(x)


def half_width(e: dict[str, Any]) -> float | None:
    return None if e["ci_low"] is None else (e["ci_high"] - e["ci_low"]) / 2


def mean_pm(e: dict[str, Any]) -> str:
    """``0.933 ± 0.010`` (mean and half the 95% interval); ``0.990 (0.950–1.000)`` when the interval is lopsided
    (a Wilson interval near 0 or 1 is); the mean alone when there is no interval.

    >>> mean_pm({"mean": 0.933, "ci_low": 0.923, "ci_high": 0.943}), mean_pm({"mean": 0.99, "ci_low": 0.95,
    ...     "ci_high": 1.0}), mean_pm({"mean": 0.5, "ci_low": None, "ci_high": None})
    ('0.933 ± 0.010', '0.990 (0.950–1.000)', '0.500')
    """
    h = half_width(e)
    if h is None:
        return fmt(e["mean"])
    below, above = e["mean"] - e["ci_low"], e["ci_high"] - e["mean"]
    if abs(above - below) > 0.2 * h:
        return f"{fmt(e['mean'])} ({fmt(e['ci_low'])}–{fmt(e['ci_high'])})"
    return f"{fmt(e['mean'])} ± {fmt(h)}"


def ordinal(k: int) -> str:
    return ORDINALS[k - 1] if 1 <= k <= len(ORDINALS) else f"{k}th"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def verdict(a: dict[str, Any]) -> str:
    """One paragraph in plain words, computed from one data set's analysis (ranks, tests, fronts)."""
    entries, metric = a["entries"], a["metric"]
    ns = sorted({e["n"] for e in entries})
    seeds = f"{ns[0]} seed{'s' if ns[0] != 1 else ''}" if len(ns) == 1 else f"{ns[0]}–{ns[-1]} seeds"
    direction = "higher" if a["higher"] else "lower"
    head = f"On {a['dataset']} ({metric}, {direction} is better, {seeds} each), "
    if len(entries) == 1:
        return head + f"only {entries[0]['model']} was run: {mean_pm(entries[0])}."
    groups: dict[int, list[dict]] = {}
    for e in entries:
        groups.setdefault(e["rank"], []).append(e)
    parts = []
    ranks = sorted(groups)
    for i, r in enumerate(ranks):
        g = groups[r]
        vals = ", ".join(mean_pm(e) for e in g)
        who = _names([e["model"] for e in g])
        if len(g) > 1:
            place = "share first place" if r == 1 else ("share last place" if i == len(ranks) - 1 else
                                                        f"share {ordinal(r)} place")
            parts.append(f"{who} {place} ({vals})")
        elif r == 1:
            parts.append(f"{who} ranks first ({vals})")
        else:
            parts.append(f"{who} is {'last' if i == len(ranks) - 1 else ordinal(r)} ({vals})")
    text = head + "; ".join(parts) + "."
    if ns[-1] < 2:
        return text + (" With one seed, seed-to-seed variation is not measured: an interval covers the test set's "
                       "sampling only, no pair is tested and nothing is separated. Run --seeds 3 or more.")
    ties = [p for p in a["pairs"] if not p["separated"]]
    order = {e["model"]: i for i, e in enumerate(entries)}
    ties.sort(key=lambda p: (min(order[p["a"]], order[p["b"]]), max(order[p["a"]], order[p["b"]])))
    if ties:
        said = []
        for p in ties[:4]:
            x, y = sorted((p["a"], p["b"]), key=order.get)
            pv = "" if p["p_holm"] is None else f", p = {p['p_holm']:.2g}"
            said.append(f"{x} and {y}{pv}")
        more = f", and {len(ties) - 4} more pair{'s' if len(ties) > 5 else ''}" if len(ties) > 4 else ""
        text += f" The evidence does not separate {'; '.join(said)}{more}."
    else:
        text += " Every pair is separated by the evidence."
    front = a["fronts"].get("train_seconds") or []
    if front:
        text += f" On the Pareto front of {metric} against training time: {_names(front)}."
    return text


def dataset_lede(a: dict[str, Any]) -> str:
    """The line under a data set's heading: ``3 models, 2 seeds each, 6 runs, ranked by test accuracy``."""
    n_runs = sum(e["n"] for e in a["entries"])
    ns = sorted({e["n"] for e in a["entries"]})
    seeds = f"{ns[0]} seed{'s' if ns[0] != 1 else ''} each" if len(ns) == 1 else f"{ns[0]}–{ns[-1]} seeds"
    models = len(a["entries"])
    return (f"{models} model{'s' if models != 1 else ''}, {seeds}, {n_runs} run{'s' if n_runs != 1 else ''}, "
            f"ranked by test {a['metric']}")


def pairs_lede(a: dict[str, Any]) -> str:
    """The line under the paired comparisons' heading: ``3 pairs, same seeds``."""
    n = len(a["pairs"])
    return f"{n} pair{'s' if n != 1 else ''}, same seeds"


def ranked_table(a: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the ranked table: rank, model, metric with interval, other metrics, costs."""
    entries = a["entries"]
    others = [k for k in entries[0]["metrics"] if k not in (a["metric"], "loss")
              and all(k in e["metrics"] for e in entries)][:3]
    costs = [(k, label) for k, label in COST_COLUMNS if any(k in e["cost"] for e in entries)]
    tuned = any(e.get("tuned") for e in entries)
    header = ["rank", "model", f"{a['metric']} ± 95%", "interval", "seeds", *[k.replace("_", " ") for k in others],
              *[label for _, label in costs], "steps", "best step", "converged", "Pareto front"]
    if tuned:
        header.append("tuned settings")
    rows = []
    for e in entries:
        ci = "—" if e["ci_low"] is None else f"{fmt(e['ci_low'])} – {fmt(e['ci_high'])}"
        front = ", ".join(PARETO_WORDS.get(c, c.replace("_", " ")) for c in e["pareto"]) or OFF_FRONT
        row = [str(e["rank"]), e["model"], mean_pm(e), ci, str(e["n"]), *[fmt(e["metrics"].get(k)) for k in others],
               *[(si if k in SI_COLUMNS else fmt)(_num(e["cost"].get(k))) for k, _ in costs],
               steps_text(e.get("steps")), "unknown" if e.get("best_step") is None else f"{e['best_step']:,}",
               converged_text(e), front]
        if tuned:
            chosen = (e.get("tuned") or {}).get("chosen") or {}
            row.append(", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in chosen.items()))
        rows.append(row)
    if len({e["n"] for e in entries}) == 1:  # the same number of seeds everywhere: the heading says it
        del header[4]
        for row in rows:
            del row[4]
    return header, rows


def steps_text(steps: dict[str, Any] | None) -> str:
    """Steps trained: ``400`` when every seed trained as long, else ``312 (280–350)``; a dash when unknown.

    >>> steps_text({"mean": 400.0, "min": 400.0, "max": 400.0}), steps_text({"mean": 312.4, "min": 280, "max": 350})
    ('400', '312 (280–350)')
    """
    if not steps:
        return "—"
    mean = f"{round(steps['mean']):,}"
    return mean if steps["min"] == steps["max"] else f"{mean} ({int(steps['min']):,}–{int(steps['max']):,})"


def converged_text(e: dict[str, Any]) -> str:
    """``yes``, ``no (2 of 3 seeds)`` or ``unknown`` (runs from versions before the convergence check)."""
    if e.get("converged") is False:
        return f"no ({e['unconverged_seeds']} of {e['n']} seed{'s' if e['n'] != 1 else ''})"
    return "yes" if e.get("converged") else "unknown"


def _num(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1:
        return int(v)
    return v


def pairs_table(a: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the pairwise comparisons (better model first where one is better)."""
    header = ["comparison", "mean difference", "95% interval of the difference", "seeds", "p (Holm)", "verdict",
              "why not separated"]
    order = {e["model"]: i for i, e in enumerate(a["entries"])}
    rows = []
    for p in sorted(a["pairs"], key=lambda p: (min(order[p["a"]], order[p["b"]]), max(order[p["a"]], order[p["b"]]))):
        x, y = sorted((p["a"], p["b"]), key=order.get)
        flip = -1.0 if x != p["a"] else 1.0
        diff = None if p["diff"] is None else flip * p["diff"]
        if p["ci_low"] is None:
            ci = "—"
        else:
            lo, hi = sorted((flip * p["ci_low"], flip * p["ci_high"]))
            ci = f"{fmt(lo)} – {fmt(hi)}"
        p_txt = "—" if p["p_holm"] is None else ("< 0.001" if p["p_holm"] < 1e-3 else f"{p['p_holm']:.3f}")
        if p["p_holm"] is None and p.get("cannot_tell") and p["n"] > 1:
            p_txt = "cannot tell"
        says = f"{p['better']} better" if p["separated"] else "not separated"
        rows.append([f"{x} vs {y}", "—" if diff is None else f"{diff:+.3f}", ci, str(p["n"]), p_txt, says,
                     p.get("why") or ""])
    return header, rows


def method_notes(analyses: list[dict[str, Any]]) -> list[str]:
    """How the numbers were made, in a few sentences (for the foot of the report)."""
    from ..compare.stats import METHOD

    return [
        "Every model trained on the same split; seeds vary the initialisation and the batch order only. The test "
        "split is used only for these numbers. Steps each model actually trained, and the budget it was allowed: "
        + "; ".join(training_notes(a) for a in analyses) + ".",
        *METHOD,
        f"Pairs: {analyses[0]['test'] if analyses else ''}; α = {analyses[0]['alpha'] if analyses else 0.05}. "
        "With 3–5 seeds a sign or Wilcoxon test over seeds cannot reach p < 0.05 at all (smallest p = 2/2ⁿ), "
        "so Student's t is used for the seed part.",
        "Rank: 1 + the number of models that beat this one in a paired test. Models nothing separates share a rank.",
        "Pareto front: models that no other model beats on both the metric and that cost (means).",
        "Costs: FLOPs counted by torch's flop counter for one sample; latency is the median of 20 calls with one "
        "sample, samples/s the median over a batch of 256; train s and steps/s are wall time on one thread; "
        "memory MiB is the run's own: parameters, gradients, optimiser state and a training step's activations (the "
        "worker process's resident peak, which carries torch itself and earlier runs, is kept in the store as "
        "peak_rss_mb). Pareto: the costs on whose front a model lies.",
    ]


def training_notes(a: dict[str, Any]) -> str:
    """One data set's arms: steps trained (mean and range over seeds), the budget allowed, how runs stopped.

    >>> training_notes({"dataset": "d", "entries": [{"model": "cnn", "n": 3, "budget": {"steps": 400},
    ...     "steps": {"mean": 400.0, "min": 400, "max": 400, "stopped": {"budget": 3}}}]})
    'on d, cnn 400 steps (allowed 400 steps)'
    """
    arms = []
    for e in a["entries"]:
        st = e.get("steps")
        allowed = f"allowed {_budget_text(e.get('budget'))}"
        if not st:
            arms.append(f"{e['model']} steps not recorded ({allowed})")
            continue
        early = (st.get("stopped") or {}).get("early", 0)
        stop = f"; {early} of {e['n']} stopped early" if early else ""
        arms.append(f"{e['model']} {steps_text(st)} steps ({allowed}{stop})")
    return f"on {a['dataset']}, " + ", ".join(arms)


def _budget_text(b: Any) -> str:
    if isinstance(b, dict) and b:
        (unit, value), = list(b.items())[:1]
        return f"{fmt(value) if isinstance(value, float) else f'{value:,}'} {unit}"
    return "the data set's default"
