"""blobbotronic's minirocket against aeon's MiniRocketClassifier: test accuracy and fit + predict seconds, one thread.

The UCR/UEA classification sets bundled with aeon (bench/ucr.py finds them: ACSF1, ArrowHead, BasicMotions,
GunPoint, ItalyPowerDemand, JapaneseVowels, OSULeaf, PickupGestureWiimoteZ). Both are fit on the whole published
TRAIN split and scored on TEST, for each seed (blobbotronic: ``torch.manual_seed(seed)`` before building and
fitting; aeon: ``random_state=seed``). blobbotronic's model is called directly (``fit_readout``, then the model in
batches of 256), not through ``train``: train holds 20% of TRAIN out for validation, which this comparison must
not. Its inputs are the raw series as aeon reads them (missing values filled, no scaling); variable-length sets
are zero-padded with their real lengths given, so every series is counted over its own steps, while aeon, which
takes only equal lengths, gets each series padded with its own last value (bench/ucr.py ``load_equal``).

Timing: one thread each (``torch.set_num_threads(1)``; aeon ``n_jobs=1`` with BLAS held to one thread), one
untimed warm-up fit + predict per set and library (numba's compilation, PyTorch's first calls), then per seed aeon
and blobbotronic one after the other, each timed as wall seconds and as this process's CPU seconds (steadier where
other processes share the cores: ``load_average`` is recorded). The target of issue 27: accuracy within one point
of aeon's on each set (mean over seeds), time no more than aeon's.

    .venv/bin/python bench/minirocket.py                       # every set, 3 seeds: a few minutes on one core
    .venv/bin/python bench/minirocket.py --sets GunPoint,OSULeaf --seeds 1
    .venv/bin/python bench/minirocket.py --pytorch --out bench/results/minirocket-eager.json  # pure-PyTorch transform

blobbotronic's transform runs compiled where its C++ kernel builds (models/minirocket_native.py; the JSON's
``meta.transform`` says which ran); ``--pytorch`` sets BLOBBOTRONIC_NATIVE=0 to time the pure-PyTorch path.

Prints a table and writes the JSON object to bench/results/minirocket.json (``--out``).
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
DEFAULT_OUT = ROOT / "bench" / "results" / "minirocket.json"


def _ucr() -> Any:
    spec = importlib.util.spec_from_file_location("bench_ucr", Path(__file__).with_name("ucr.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_ours(train: str, test: str) -> dict[str, Any]:
    """TRAIN and TEST as blobbotronic's tensors: (N, L, C) zero-padded, labels, real lengths (None if all equal)."""
    import torch

    from blobbotronic.data import Spec
    from blobbotronic.data.series import fill_missing, pad, read_ts

    tr, te = read_ts(train), read_ts(test)
    fill_missing(tr)
    fill_missing(te)
    longest = max(len(s) for p in (tr, te) for s in p.series)
    (xtr, ltr), (xte, lte) = pad(tr.series, longest), pad(te.series, longest)
    variable = bool((ltr != longest).any() or (lte != longest).any())
    spec = Spec(Path(train).stem.removesuffix("_TRAIN"), "sequence", "classify", (longest, xtr.shape[2]),
                len(tr.classes), classes=tr.classes)
    return {"spec": spec, "x": torch.tensor(xtr), "y": torch.tensor([tr.classes.index(c) for c in tr.labels]),
            "lengths": torch.tensor(ltr) if variable else None, "x_test": torch.tensor(xte),
            "y_test": torch.tensor([tr.classes.index(c) for c in te.labels]),
            "lengths_test": torch.tensor(lte) if variable else None}


def fit_predict_ours(data: dict[str, Any], seed: int) -> tuple[float, float, float, dict[str, Any]]:
    """(accuracy, wall seconds, CPU seconds, the fit's costs) of one seed of blobbotronic's minirocket."""
    import torch

    from blobbotronic.models import create

    wall, cpu = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    model = create("minirocket", data["spec"])
    costs = model.fit_readout(data["x"], data["y"], data["lengths"])
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(data["x_test"]), 256):
            lengths = None if data["lengths_test"] is None else data["lengths_test"][i : i + 256]
            preds.append(model(data["x_test"][i : i + 256], lengths).argmax(1))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    acc = float((torch.cat(preds) == data["y_test"]).float().mean())
    return acc, wall, cpu, costs


def fit_predict_aeon(data: tuple, seed: int) -> tuple[float, float, float]:
    """(accuracy, wall seconds, CPU seconds) of one seed of aeon's MiniRocketClassifier."""
    import numpy as np
    from aeon.classification.convolution_based import MiniRocketClassifier

    xtr, ytr, xte, yte = data
    wall, cpu = time.perf_counter(), time.process_time()
    pred = MiniRocketClassifier(n_jobs=1, random_state=seed).fit(xtr, ytr).predict(xte)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return float(np.mean(pred == yte)), wall, cpu


def run_set(entry: dict[str, Any], seeds: list[int], ucr: Any) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    ours_data = load_ours(entry["train"], entry["test"])
    aeon_data = ucr.load_equal(entry["train"], entry["test"])
    spec = ours_data["spec"]
    res: dict[str, Any] = {"name": entry["name"], "train_size": len(ours_data["y"]),
                           "test_size": len(ours_data["y_test"]), "length": spec.input_shape[0],
                           "channels": spec.input_shape[1], "variable_length": entry["variable_length"],
                           "ours": {}, "aeon": {}}
    # aeon under threadpool_limits(1) (its BLAS), blobbotronic outside it (torch.set_num_threads(1)): inside the
    # limits, once aeon's numba had run, PyTorch's loops took 10x the CPU time (ACSF1: 23 CPU-s, 2.2 outside)
    with threadpool_limits(1):
        fit_predict_aeon(aeon_data, seeds[0])  # warm-up: numba compiles
    fit_predict_ours(ours_data, seeds[0])  # warm-up: PyTorch's first calls
    for seed in seeds:
        with threadpool_limits(1):
            acc, wall, cpu = fit_predict_aeon(aeon_data, seed)
        res["aeon"][seed] = {"accuracy": acc, "seconds": wall, "cpu_seconds": cpu}
        acc, wall, cpu, costs = fit_predict_ours(ours_data, seed)
        res["ours"][seed] = {"accuracy": acc, "seconds": wall, "cpu_seconds": cpu, "fit": costs}
    for who in ("ours", "aeon"):
        runs = res[who].values()
        res[who + "_mean"] = {k: fmean(r[k] for r in runs) for k in ("accuracy", "seconds", "cpu_seconds")}
    res["accuracy_diff_points"] = 100 * (res["ours_mean"]["accuracy"] - res["aeon_mean"]["accuracy"])
    res["time_ratio"] = res["ours_mean"]["seconds"] / res["aeon_mean"]["seconds"]
    res["cpu_ratio"] = res["ours_mean"]["cpu_seconds"] / res["aeon_mean"]["cpu_seconds"]
    res["within_one_point"] = res["accuracy_diff_points"] >= -1.0
    res["no_slower"] = res["cpu_ratio"] <= 1.0
    return res


def meta(seeds: list[int]) -> dict[str, Any]:
    from importlib.metadata import version

    versions = {}
    for pkg in ("blobbotronic", "aeon", "torch", "numba", "scikit-learn"):
        try:
            versions[pkg] = version(pkg)
        except Exception:
            versions[pkg] = None
    from blobbotronic.models import minirocket_native

    return {"seeds": seeds, "threads": 1, "protocol": __doc__.split("\n\n")[1:3], "versions": versions,
            "transform": minirocket_native.status(),
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "load_average_start": [round(x, 2) for x in os.getloadavg()], "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def table(obj: dict[str, Any]) -> Any:
    from rich.table import Table

    t = Table("set", "train/test", "length x ch.", "ours acc", "aeon acc", "diff (pt)", "ours s", "aeon s",
              "ours CPU s", "aeon CPU s", "CPU ratio",
              title=f"minirocket vs aeon MiniRocketClassifier, mean of {len(obj['meta']['seeds'])} seeds, one thread")
    for r in obj["sets"]:
        o, a = r["ours_mean"], r["aeon_mean"]
        t.add_row(r["name"], f"{r['train_size']}/{r['test_size']}",
                  f"{r['length']}{'*' if r['variable_length'] else ''} x {r['channels']}",
                  f"{o['accuracy']:.4f}", f"{a['accuracy']:.4f}", f"{r['accuracy_diff_points']:+.2f}",
                  f"{o['seconds']:.3f}", f"{a['seconds']:.3f}", f"{o['cpu_seconds']:.3f}", f"{a['cpu_seconds']:.3f}",
                  f"{r['cpu_ratio']:.2f}")
    return t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", help="comma-separated set names (default: every UCR/UEA set aeon ships)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON object is written")
    p.add_argument("--json", action="store_true", help="print the JSON object instead of the table")
    p.add_argument("--pytorch", action="store_true",
                   help="time blobbotronic's pure-PyTorch transform, not the compiled one (BLOBBOTRONIC_NATIVE=0)")
    args = p.parse_args(argv)
    if args.pytorch:
        os.environ["BLOBBOTRONIC_NATIVE"] = "0"  # read when the compiled transform is first asked for
    import torch

    torch.set_num_threads(1)
    ucr = _ucr()
    chosen, _ = ucr.choose(ucr.discover(), args.sets)
    seeds = list(range(args.seeds))
    obj: dict[str, Any] = {"meta": meta(seeds), "sets": []}
    for entry in chosen:
        obj["sets"].append(run_set(entry, seeds, ucr))
        print(f"{entry['name']}: done", file=sys.stderr)
    obj["meta"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    sets = obj["sets"]
    obj["summary"] = {"within_one_point": sum(r["within_one_point"] for r in sets),
                      "no_slower_cpu": sum(r["no_slower"] for r in sets), "sets": len(sets),
                      "mean_accuracy_ours": fmean(r["ours_mean"]["accuracy"] for r in sets) if sets else None,
                      "mean_accuracy_aeon": fmean(r["aeon_mean"]["accuracy"] for r in sets) if sets else None,
                      "total_cpu_seconds_ours": sum(r["ours_mean"]["cpu_seconds"] for r in sets),
                      "total_cpu_seconds_aeon": sum(r["aeon_mean"]["cpu_seconds"] for r in sets)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    if args.json:
        print(json.dumps(obj, indent=2, default=str))
        return 0
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(table(obj))
    s = obj["summary"]
    console.print(f"within one point of aeon: {s['within_one_point']}/{s['sets']} sets; no more CPU time: "
                  f"{s['no_slower_cpu']}/{s['sets']}; * variable length; {obj['meta']['transform']}. "
                  f"JSON written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
