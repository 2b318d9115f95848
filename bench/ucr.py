"""The UCR/UEA classification sets shipped offline with aeon: blobbotronic's default grid against MiniRocket.

Every folder under aeon's ``datasets/data/`` holding ``NAME_TRAIN.ts`` and ``NAME_TEST.ts`` whose headers say
``@classLabel true`` is a classification set; those named in aeon's lists of the UCR 2018 and UEA 2018
archives (``aeon.datasets.tsc_datasets.univariate`` / ``multivariate``) are run by default (aeon 1.6: ACSF1,
ArrowHead, BasicMotions, GunPoint, ItalyPowerDemand, JapaneseVowels, OSULeaf, PickupGestureWiimoteZ).
Other classification sets there (aeon's UnitTest fixture, the discretised regression set Covid3Month_disc)
are listed as skipped and run only when named with ``--sets``; regression and forecasting files never are.

Each set goes to ``compare`` by the path of its ``_TRAIN.ts`` file (the loader keeps the published split,
finding ``_TEST.ts`` beside it, and holds out 20% of TRAIN, stratified, for validation and early stopping),
never by a built-in name. The grid is compare's defaults: models cnn, fcn, resnet1d, lstm and gru, 3 seeds,
no budget (the library's training policy decides), one thread per run in ``--workers`` processes. In the same
run, aeon's MiniRocketClassifier (n_jobs=1, random_state=seed, BLAS held to one thread) is fit on the whole
published TRAIN split and scored on TEST for the same seeds, timed fit + predict after one untimed warm-up fit
(numba's compilation apart). MiniRocket needs series of equal length: variable-length sets (JapaneseVowels,
PickupGestureWiimoteZ) are padded at the end with each series' own last value, per channel, to the longest
series in TRAIN and TEST (not zeros: a step to zero would be a feature that only the padding makes).

Prints a table per set as it finishes (accuracy with its 95% interval over seeds, steps actually trained,
train seconds, converged or not, the best model, MiniRocket) and the means over sets; ``--json`` prints one
JSON object instead. The object is always written to bench/results/ucr.json (``--out``). Runs are kept in a
store (``--store``, default bench/results/ucr/blobbotronic-runs.db): a killed run resumes where it stopped.

    .venv/bin/python bench/ucr.py                                   # every set: tens of minutes on 2 cores
    .venv/bin/python bench/ucr.py --sets ItalyPowerDemand,GunPoint
    .venv/bin/python bench/ucr.py --sets GunPoint --models fcn --seeds 1 --budget "200 steps" --json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path
from statistics import fmean
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_OUT = RESULTS / "ucr.json"
DEFAULT_STORE = RESULTS / "ucr" / "blobbotronic-runs.db"  # ignored by git (blobbotronic-runs.db*)
DEFAULT_MODELS = ("cnn", "fcn", "resnet1d", "lstm", "gru")
PADDING = ("variable-length series padded at the end with their own last value, per channel, to the longest "
           "series in TRAIN and TEST (MiniRocket only; blobbotronic's loader zero-pads and masks)")


# ---- discovery ----------------------------------------------------------------------------------------------


def aeon_data_dir() -> Path:
    """aeon's bundled data folder, found without importing aeon."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("aeon is not installed: pip install 'blobbotronic[series]'")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def ts_header(path: Path) -> dict[str, str]:
    """The ``@tag value`` lines of a .ts file up to ``@data``, tags in lower case."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            s = line.strip()
            if not s.startswith("@"):
                continue
            tag, _, value = s[1:].partition(" ")
            if tag.lower() == "data":
                break
            out[tag.lower()] = value.strip()
    return out


def is_classification(header: dict[str, str]) -> bool:
    first = lambda tag: (header.get(tag, "").split() or [""])[0].lower()  # noqa: E731
    return first("classlabel") == "true" and first("targetlabel") != "true"


def archive_names() -> set[str] | None:
    """The UCR 2018 and UEA 2018 archives' problem names as aeon lists them; None where aeon has no such lists."""
    try:
        from aeon.datasets.tsc_datasets import multivariate, univariate
    except ImportError:
        return None
    return set(univariate) | set(multivariate)


def discover(root: Path | None = None) -> list[dict[str, Any]]:
    """Every classification set bundled with aeon: a folder NAME with NAME_TRAIN.ts and NAME_TEST.ts, both
    ``@classLabel true``. ``archive``: it is a UCR/UEA archive problem (true for all when aeon has no lists)."""
    root = root or aeon_data_dir()
    archive = archive_names()
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        train, test = folder / f"{folder.name}_TRAIN.ts", folder / f"{folder.name}_TEST.ts"
        if not (train.is_file() and test.is_file()):
            continue
        heads = [ts_header(train), ts_header(test)]
        if not all(is_classification(h) for h in heads):
            continue
        variable = any(h.get("equallength", "true").split()[:1] == ["false"] for h in heads)
        found.append({"name": folder.name, "train": str(train), "test": str(test), "variable_length": variable,
                      "archive": archive is None or folder.name in archive})
    return found


def choose(found: list[dict[str, Any]], names: str | list[str] | None) -> tuple[list[dict], list[dict]]:
    """(sets to run, classification sets left out with why). Default: the archive sets; named: those."""
    if names:
        wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
        by_name = {e["name"].lower(): e for e in found}
        unknown = [n for n in wanted if n.lower() not in by_name]
        if unknown:
            raise SystemExit(f"unknown set(s) {', '.join(unknown)}; aeon ships {', '.join(e['name'] for e in found)}")
        chosen = [by_name[n.lower()] for n in wanted]
        return chosen, [{"name": e["name"], "why": "not asked for"} for e in found if e not in chosen]
    chosen = [e for e in found if e["archive"]]
    return chosen, [{"name": e["name"], "why": "not a UCR/UEA archive problem (run it with --sets)"}
                    for e in found if not e["archive"]]


# ---- MiniRocket ---------------------------------------------------------------------------------------------


def pad_last(series: list, length: int):
    """(channels, L_i) arrays -> (N, channels, length), each padded with its own last value. MiniRocket takes
    no missing values: a NaN is interpolated linearly between its neighbours and held at either end."""
    import numpy as np

    out = np.empty((len(series), np.asarray(series[0]).shape[0], length), dtype=np.float64)
    for i, s in enumerate(series):
        for c, row in enumerate(np.asarray(s, dtype=np.float64)):
            ok = np.flatnonzero(~np.isnan(row))
            if len(ok) < len(row):
                row = np.interp(np.arange(len(row)), ok, row[ok]) if len(ok) else np.zeros_like(row)
            out[i, c, : len(row)] = row
            out[i, c, len(row):] = row[-1]
    return out


def load_equal(train: str, test: str):
    """TRAIN and TEST through aeon's own .ts reader, as (N, channels, L) float arrays of one length."""
    from aeon.datasets import load_from_ts_file

    xtr, ytr = load_from_ts_file(train)
    xte, yte = load_from_ts_file(test)
    length = max(max(s.shape[-1] for s in xtr), max(s.shape[-1] for s in xte))
    return pad_last(list(xtr), length), ytr, pad_last(list(xte), length), yte


def minirocket(entry: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    """MiniRocket on the published split for each seed: accuracy on TEST, fit + predict seconds (one thread)."""
    import numpy as np
    from aeon.classification.convolution_based import MiniRocketClassifier
    from threadpoolctl import threadpool_limits

    from blobbotronic.compare.stats import mean_ci

    xtr, ytr, xte, yte = load_equal(entry["train"], entry["test"])
    with threadpool_limits(1):
        start = time.perf_counter()
        MiniRocketClassifier(n_jobs=1, random_state=seeds[0]).fit(xtr, ytr).predict(xte[:2])  # compiles numba
        warmup = time.perf_counter() - start
        acc, fit_s, pred_s = {}, {}, {}
        for seed in seeds:
            start = time.perf_counter()
            clf = MiniRocketClassifier(n_jobs=1, random_state=seed).fit(xtr, ytr)
            mid = time.perf_counter()
            pred = clf.predict(xte)
            fit_s[seed], pred_s[seed] = mid - start, time.perf_counter() - mid
            acc[seed] = float(np.mean(pred == yte))
    mean, lo, hi = mean_ci(acc.values())
    return {"accuracy": mean, "ci_low": lo, "ci_high": hi, "values": acc,
            "seconds": fmean(fit_s[s] + pred_s[s] for s in seeds), "fit_seconds": fmean(fit_s.values()),
            "predict_seconds": fmean(pred_s.values()), "warmup_seconds": warmup,
            "train_size": len(ytr), "test_size": len(yte), "length": int(xtr.shape[-1]), "channels": int(xtr.shape[1])}


# ---- one set: compare + MiniRocket, summarised --------------------------------------------------------------


def _mean(values: list) -> float | None:
    nums = [float(v) for v in values if isinstance(v, (int, float))]
    return fmean(nums) if nums and len(nums) == len(values) else None


def converged_of(rows: list[dict[str, Any]]) -> bool | None:
    """True when every seed's run says converged, False when one says not, None (unknown) otherwise."""
    flags = [(r.get("convergence") or {}).get("converged") for r in rows]
    if any(f is False for f in flags):
        return False
    return True if flags and all(f is True for f in flags) else None


def model_details(comparison: Any) -> list[dict[str, Any]]:
    """Per model of one set's comparison: mean accuracy and interval over seeds, steps, seconds, convergence."""
    summary = comparison.summary() if callable(comparison.summary) else comparison.summary
    out = []
    for e in summary:
        rows = sorted((r for r in comparison.rows if r["model"] == e["model"]), key=lambda r: r["seed"])
        costs = [r.get("cost") or {} for r in rows]
        steps = [c.get("steps") for c in costs]
        memory = [c.get("memory_mb", c.get("peak_rss_mb")) for c in costs]
        out.append({"model": e["model"], "metric": e["metric"], "accuracy": e["mean"], "ci_low": e["ci_low"],
                    "ci_high": e["ci_high"], "n": e["n"], "rank": e["rank"],
                    "values": {int(r["seed"]): r["metrics"].get(e["metric"]) for r in rows},
                    "steps": _mean(steps), "steps_min": min(steps, default=None) if None not in steps else None,
                    "steps_max": max(steps, default=None) if None not in steps else None,
                    "train_seconds": _mean([c.get("train_seconds") for c in costs]), "memory_mb": _mean(memory),
                    "converged": converged_of(rows),
                    "convergence": [r.get("convergence") for r in rows],
                    "budget": (rows[0].get("config") or {}).get("budget") if rows else None})
    return out


def run_set(entry: dict[str, Any], models: list[str], seeds: list[int], budget: str | None, store: Path,
            workers: int | None, on_event=None) -> dict[str, Any]:
    from blobbotronic.compare.runner import compare

    start = time.perf_counter()
    comparison = compare(entry["train"], models, seeds=seeds, budget=budget, store=store, workers=workers,
                         on_event=on_event)
    compare_seconds = time.perf_counter() - start
    details = model_details(comparison)
    mr = minirocket(entry, seeds)
    best = max(details, key=lambda d: d["accuracy"])  # the first of equals: summary order (rank, then mean)
    return {"name": entry["name"], "source": shown(entry["train"]), "variable_length": entry["variable_length"],
            "best_model": best["model"], "best_accuracy": best["accuracy"],
            "minirocket_accuracy": mr["accuracy"], "minirocket_seconds": mr["seconds"],
            "wall_seconds": time.perf_counter() - start,
            "all_converged": bool(comparison.rows) and all(converged_of([r]) is True for r in comparison.rows),
            "compare_seconds": compare_seconds, "ran": comparison.ran, "reused": comparison.reused,
            "skipped_models": list(comparison.skipped), "models": details, "minirocket": mr}


# ---- the whole bench -----------------------------------------------------------------------------------------


def parse_seeds(seeds: int | str | list[int]) -> list[int]:
    if isinstance(seeds, int):
        return list(range(seeds))
    if isinstance(seeds, str):
        parts = [s for s in seeds.split(",") if s.strip()]
        return list(range(int(parts[0]))) if len(parts) == 1 else [int(s) for s in parts]
    return [int(s) for s in seeds]


def bench(sets: str | list[str] | None = None, models: str | list[str] = DEFAULT_MODELS, seeds: int | str = 3,
          budget: str | None = None, store: str | Path = DEFAULT_STORE, workers: int | None = None,
          out: str | Path | None = DEFAULT_OUT, console: Any = None, progress: bool = True) -> dict[str, Any]:
    """Run the chosen sets one after another; return (and write to ``out``) the JSON object.

    ``console``: a rich Console that gets each set's table as it finishes (None: no tables). ``progress``: a
    rich progress bar of the runs on stderr."""
    from contextlib import nullcontext

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    models = [m.strip() for m in (models.split(",") if isinstance(models, str) else models or []) if m.strip()]
    models = None if models in ([], ["default"]) else models  # None: compare picks its own default set
    seed_list = parse_seeds(seeds)
    found = discover()
    chosen, left_out = choose(found, sets)
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    bar = (Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True)) if progress else None)
    start = time.perf_counter()
    results = []
    with bar or nullcontext():
        sets_task = bar.add_task("sets", total=len(chosen)) if bar else None
        for entry in chosen:
            runs_task = bar.add_task(f"  {entry['name']}: runs", total=None) if bar else None

            def on_event(kind: str, runs_task: Any = runs_task, **info: Any) -> None:
                if bar is not None and kind in ("plan", "row") and info.get("phase", "run") == "run":
                    bar.update(runs_task, total=info["total"], completed=info.get("done", info.get("reused", 0)))

            res = run_set(entry, models, seed_list, budget, store, workers, on_event)
            results.append(res)
            if bar is not None:
                bar.update(runs_task, description=f"  {entry['name']}: runs (MiniRocket done)")
                bar.advance(sets_task)
            if console is not None:
                console.print(set_table(res))  # above the bar: rich redirects stdout while it is live
    obj = {"sets": results,
           "mean_best": fmean(r["best_accuracy"] for r in results) if results else None,
           "mean_minirocket": fmean(r["minirocket_accuracy"] for r in results) if results else None,
           "wall_seconds": time.perf_counter() - start,
           "skipped_sets": left_out, "meta": meta(models, seed_list, budget, store, workers)}
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(obj, indent=2) + "\n")
    return obj


def shown(path: str) -> str:
    """A data file as the JSON names it: from the installed package's folder on, never this machine's path."""
    parts = Path(path).parts
    return "/".join(parts[parts.index("site-packages") + 1:]) if "site-packages" in parts else Path(path).name


def meta(models: list[str] | None, seeds: list[int], budget: str | None, store: Path, workers: int | None) -> dict:
    from importlib.metadata import version

    from blobbotronic.compare.runner import default_workers

    versions = {}
    for pkg in ("blobbotronic", "aeon", "torch", "numba", "scikit-learn"):
        try:
            versions[pkg] = version(pkg)
        except Exception:
            versions[pkg] = None
    try:
        shown_store = str(store.resolve().relative_to(ROOT))
    except ValueError:
        shown_store = store.name  # a store outside the repository: its name only
    return {"models": models or "compare's default set", "seeds": seeds,
            "budget": budget or "the library's default policy",
            "workers": workers or default_workers(), "threads_per_run": 1, "store": shown_store,
            "minirocket": "aeon MiniRocketClassifier(n_jobs=1, random_state=seed), fit on the whole published TRAIN "
                          "split, scored on TEST; seconds are fit + predict after one untimed warm-up fit",
            "validation": "blobbotronic holds out 20% of TRAIN (stratified, fixed) for validation; TEST is unseen",
            "padding": PADDING, "versions": versions, "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


# ---- tables ---------------------------------------------------------------------------------------------------


def _acc(mean: float, lo: float | None, hi: float | None) -> str:
    return f"{mean:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "")


def set_table(res: dict[str, Any]):
    from rich.table import Table

    mr = res["minirocket"]
    title = (f"{res['name']}: {mr['train_size']}/{mr['test_size']}, length {mr['length']}"
             f"{' (padded)' if res['variable_length'] else ''}, {mr['channels']} ch.; "
             f"{res['ran']} runs trained, {res['reused']} reused, {res['wall_seconds']:.0f} s")
    t = Table("model", "test accuracy [95% CI]", "steps", "train s", "converged", title=title)
    for d in res["models"]:
        steps = "-" if d["steps"] is None else (f"{d['steps']:.0f}" if d["steps_min"] == d["steps_max"]
                                                else f"{d['steps_min']}-{d['steps_max']}")
        conv = {True: "yes", False: "no", None: "unknown"}[d["converged"]]
        best = " (best)" if d["model"] == res["best_model"] else ""
        t.add_row(d["model"] + best, _acc(d["accuracy"], d["ci_low"], d["ci_high"]), steps,
                  "-" if d["train_seconds"] is None else f"{d['train_seconds']:.1f}", conv)
    t.add_row("MiniRocket (aeon)", _acc(mr["accuracy"], mr["ci_low"], mr["ci_high"]), "-", f"{mr['seconds']:.1f}",
              "-", style="italic")
    return t


def mean_table(obj: dict[str, Any]):
    from rich.table import Table

    t = Table("set", "best model", "best acc", "MiniRocket acc", "MiniRocket s", "wall s", "all converged",
              title=f"Over sets (accuracy: mean over seeds); {obj['wall_seconds']:.0f} s in all")
    for r in obj["sets"]:
        t.add_row(r["name"], r["best_model"], f"{r['best_accuracy']:.3f}", f"{r['minirocket_accuracy']:.3f}",
                  f"{r['minirocket_seconds']:.1f}", f"{r['wall_seconds']:.0f}", "yes" if r["all_converged"] else "no")
    if obj["sets"]:
        t.add_row("mean", "", f"{obj['mean_best']:.3f}", f"{obj['mean_minirocket']:.3f}", "", "", "", style="bold")
    return t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", help="comma-separated set names (default: every UCR/UEA set aeon ships)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help="comma-separated; 'default' lets compare choose")
    p.add_argument("--seeds", default="3", help="a count (0..N-1) or a comma-separated list")
    p.add_argument("--budget", default=None, help='e.g. "500 steps" (default: the library\'s training policy)')
    p.add_argument("--store", type=Path, default=DEFAULT_STORE, help="the run store; a rerun resumes from it")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON object is written")
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout instead of tables")
    p.add_argument("--list", action="store_true", help="list the classification sets found and exit")
    args = p.parse_args(argv)
    if args.list:
        for e in discover():
            print(f"{e['name']:24} {'archive' if e['archive'] else 'not archive':12} "
                  f"{'variable' if e['variable_length'] else 'equal':9} {e['train']}")
        return 0
    from rich.console import Console

    console = Console(stderr=True) if args.json else Console(width=None if sys.stdout.isatty() else 120)
    obj = bench(args.sets, args.models, args.seeds, args.budget, args.store, args.workers, args.out,
                console=None if args.json else console, progress=True)
    if args.json:
        print(json.dumps(obj, indent=2))
        return 0
    console.print(mean_table(obj))
    shown = [s for s in obj["skipped_sets"] if s["why"] != "not asked for"]
    if shown:
        console.print("not run: " + "; ".join(f"{s['name']} ({s['why']})" for s in shown))
    console.print(f"MiniRocket padding: {PADDING}. JSON written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
