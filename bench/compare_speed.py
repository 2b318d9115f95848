"""The MNIST-1D grid through blobbotronic's compare against a plain reference loop: wall time and accuracy.

The reference trains one model at a time the usual way (bench/train_speed.py: a shuffled DataLoader,
Adam with default settings, PyTorch's default threads, ``loss.item()`` every step). Both sides train the
same architectures: blobbotronic's logistic, mlp and cnn, and a GRU of the published reference's size
(bidirectional, 6 hidden units; nn.GRU on the reference side, read out by its final states as
blobbotronic's gru is). blobbotronic runs
the same grid with ``compare``: seeds of one model stacked into one batched computation, two worker
processes of one thread each, evaluation and early stopping on the validation split, and everything a
row stores (inference latency, confusion matrix). Both train every (model, seed) for the same steps at
batch 100; the wall time of each whole grid is compared. Prints the ratio and both accuracy tables
(``--json``: one object with "speedup" and the two tables). A benchmark prints numbers; no test asserts
timings. Timings on a shared machine are noisy: the load average is printed with them.

    python bench/compare_speed.py                         # the full grid: 4 models x 5 seeds x 6,000 steps
    python bench/compare_speed.py --steps 600 --seeds 2   # a quick look
    python bench/compare_speed.py --scaling               # model-steps/s of N stacked seeds, N = 1, 4, 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import accuracy, reference_loop, reference_model  # noqa: E402

import blobbotronic as bb  # noqa: E402
from blobbotronic.train import TrainConfig, seed_everything  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# blobbotronic trains with the reference's recipe here, so that both sides do the same work: every step of the
# budget (no early stopping), Adam at a constant 1e-2, no clipping. With blobbotronic's own recurrent defaults
# (3e-3, clipping at 1.0) the reference's tiny bidirectional GRU reached 0.79 against the reference's 0.90.
SAME_RECIPE = {"patience": None, "lr": 1e-2, "schedule": "constant", "clip": 0.0, "weight_decay": 0.0, "warmup": 0.0}
# The published MNIST-1D GRU is bidirectional with 6 hidden units; both sides train that size.
GRU_PARAMS = {"hidden": 6, "bidirectional": True}
# The published CNN has no normalisation layers; blobbotronic's 1-D cnn adds batch norm by default, so both
# sides set it off to train the reference's architecture.
CNN_PARAMS = {"norm": "none"}


class RefGRU(nn.Module):
    """nn.GRU read out by its final states (both directions), as blobbotronic's gru reads out."""

    def __init__(self, hidden: int, bidirectional: bool, classes: int = 10):
        super().__init__()
        self.rnn = nn.GRU(1, hidden, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, x):
        _, h = self.rnn(x)  # (dirs, B, H)
        return self.head(torch.cat(list(h), -1))


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the worker processes, once reaped)."""
    import multiprocessing as mp
    import resource

    deadline = time.time() + 30
    while mp.active_children() and time.time() < deadline:
        time.sleep(0.2)
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def reference_grid(models: list[str], seeds: int, steps: int, gru: dict) -> tuple[float, float, dict]:
    """One model at a time, in this process, PyTorch's default threads; returns wall s, CPU s, accuracies."""
    ds = bb.load("mnist1d")
    acc: dict[str, list[float]] = {}
    start, cpu = time.perf_counter(), time.process_time()
    for name in models:
        for seed in range(seeds):
            seed_everything(seed)
            if name == "gru":
                model = RefGRU(**gru)
            elif name == "cnn":
                model = bb.create_model("cnn", ds.spec, **CNN_PARAMS)
            else:
                model = reference_model(name, ds)
            reference_loop(model, ds, steps, seed)
            acc.setdefault(name, []).append(accuracy(model, ds))
    return time.perf_counter() - start, time.process_time() - cpu, acc


def blobbotronic_grid(models: list[str], seeds: int, steps: int, workers: int, batch: bool,
                      gru: dict) -> tuple[float, float, dict]:
    """compare() on a fresh store: every run is trained, none reused; returns wall s, CPU s, accuracies."""
    from blobbotronic.compare.runner import compare

    with tempfile.TemporaryDirectory() as tmp:
        start, cpu, child = time.perf_counter(), time.process_time(), children_cpu()
        res = compare("mnist1d", models, seeds=seeds, budget=f"{steps} steps", store=Path(tmp) / "runs.db",
                      workers=workers, batch_seeds=batch, device="cpu",
                      params={"gru": gru, "cnn": CNN_PARAMS}, **SAME_RECIPE)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu + children_cpu() - child
    acc: dict[str, list[float]] = {}
    for row in sorted(res.rows, key=lambda r: r["seed"]):
        acc.setdefault(row["model"], []).append(row["metrics"]["accuracy"])
        if row["cost"]["steps"] != steps:  # the same work as the reference, or the ratio means nothing
            raise SystemExit(f"{row['model']} seed {row['seed']} trained {row['cost']['steps']} of {steps} steps")
    return seconds, cpu, acc


def table(acc: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {m: {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0, "n": len(v),
                "seeds": v} for m, v in acc.items()}


def scaling(models: list[str], steps: int, sizes: list[int]) -> list[dict]:
    """Model-steps per second of N seeds trained as one stack (N = 1: fit() itself), one thread.

    Wall time and process CPU time are both given: on a loaded machine the CPU time is the steadier one.
    Evaluation is left out (one check at the end), warm-up steps are not: each N trains ``steps`` steps.
    """
    from blobbotronic.train.batched import fit_many

    torch.set_num_threads(1)
    ds = bb.load("mnist1d")
    fit_many("mlp", ds, [0, 1], config=TrainConfig(budget="2 steps", quiet=True))  # one-time imports (vmap)
    out = []
    for name in models:
        for n in sizes:
            cfg = TrainConfig(budget=f"{steps} steps", patience=None, eval_every=10**9, quiet=True, threads=1)
            wall, cpu = time.perf_counter(), time.process_time()
            runs = fit_many(name, ds, list(range(n)), config=cfg)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            out.append({"model": name, "n": n, "steps": steps, "model_steps_per_s_wall": n * steps / wall,
                        "model_steps_per_s_cpu": n * steps / cpu, "batched": runs[0].cost.get("batched", 1),
                        "load": load()})
            print(json.dumps(out[-1]), file=sys.stderr, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="logistic,mlp,cnn,gru")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=6000, help="steps per run at batch 100 (the reference's 6,000)")
    ap.add_argument("--workers", type=int, default=2, help="blobbotronic's worker processes (default 2)")
    ap.add_argument("--no-batch", action="store_true", help="blobbotronic without stacked seeds (one by one)")
    ap.add_argument("--only", choices=["reference", "blobbotronic"], help="run one side only")
    ap.add_argument("--scaling", action="store_true", help="model-steps/s of N stacked seeds instead")
    ap.add_argument("--sizes", default="1,4,16", help="N for --scaling")
    ap.add_argument("--gru-hidden", type=int, default=GRU_PARAMS["hidden"],
                    help="GRU width on both sides (bidirectional; default 6, the published reference's)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.scaling:
        rows = scaling([m for m in models if m != "logistic"] if args.models == ap.get_default("models") else models,
                       args.steps if args.steps != 6000 else 300, [int(s) for s in args.sizes.split(",")])
        if args.json:
            print(json.dumps({"scaling": rows}))
            return
        for r in rows:
            print(f"{r['model']:>8} N={r['n']:<3} {r['model_steps_per_s_wall']:8.0f} model-steps/s wall "
                  f"{r['model_steps_per_s_cpu']:8.0f} per CPU-second   (load {r['load']})")
        return

    result: dict = {"steps": args.steps, "seeds": args.seeds, "models": models, "workers": args.workers,
                    "batched": not args.no_batch, "load_before": load(), "threads_reference": torch.get_num_threads()}
    gru = dict(GRU_PARAMS, hidden=args.gru_hidden)
    result["gru"] = gru
    if args.only != "blobbotronic":
        ref_s, ref_cpu, ref_acc = reference_grid(models, args.seeds, args.steps, gru)
        result.update(reference_seconds=ref_s, reference_cpu_seconds=ref_cpu, reference=table(ref_acc),
                      load_after_reference=load())
    if args.only != "reference":
        ours_s, ours_cpu, ours_acc = blobbotronic_grid(models, args.seeds, args.steps, args.workers,
                                                       not args.no_batch, gru)
        result.update(blobbotronic_seconds=ours_s, blobbotronic_cpu_seconds=ours_cpu, blobbotronic=table(ours_acc),
                      load_after=load())
    if args.only is None:
        result["speedup"] = result["reference_seconds"] / result["blobbotronic_seconds"]
        result["cpu_ratio"] = result["reference_cpu_seconds"] / result["blobbotronic_cpu_seconds"]
        result["accuracy_gap_points"] = {m: 100 * (result["blobbotronic"][m]["mean"] - result["reference"][m]["mean"])
                                         for m in models}
    if args.json:
        print(json.dumps(result))
        return
    show(result, models)


def show(result: dict, models: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table("model", "reference acc (mean ± sd)", "blobbotronic acc (mean ± sd)", "gap (points)",
              title=f"MNIST-1D, {result['seeds']} seeds x {result['steps']} steps at batch 100: test accuracy")
    for m in models:
        cells = []
        for side in ("reference", "blobbotronic"):
            e = result.get(side, {}).get(m)
            cells.append(f"{100 * e['mean']:.1f} ± {100 * e['sd']:.1f}" if e else "-")
        gap = result.get("accuracy_gap_points", {}).get(m)
        t.add_row(m, *cells, f"{gap:+.1f}" if gap is not None else "-")
    con = Console()
    con.print(t)
    if "speedup" in result:
        con.print(f"wall time: reference {result['reference_seconds']:.1f} s, blobbotronic "
                  f"{result['blobbotronic_seconds']:.1f} s ({result['workers']} workers, seeds "
                  f"{'stacked' if result['batched'] else 'one by one'}): {result['speedup']:.2f}x faster")
        con.print(f"CPU time: reference {result['reference_cpu_seconds']:.1f} s, blobbotronic "
                  f"{result['blobbotronic_cpu_seconds']:.1f} s: {result['cpu_ratio']:.2f}x less")
    con.print(f"load average: before {result['load_before']}, after {result.get('load_after', '-')}")


if __name__ == "__main__":
    main()
