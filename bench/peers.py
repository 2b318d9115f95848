"""Side by side with the peers: tsai's FCN, LSTM_FCN and InceptionTimePlus and blobbotronic's counterparts.

Usage (from the repository root, with the project's venv):
    .venv/bin/python bench/peers.py                 # MNIST-1D and GunPoint, both tools, one table
    .venv/bin/python bench/peers.py --json          # the same rows as one JSON object
    .venv/bin/python bench/peers.py --data gunpoint --tools blobbotronic

tsai is installed into a virtual environment of its own (default ~/.cache/blobbotronic/peers-venv; never
a dependency of blobbotronic), with torch pinned to the project's CPU build first so pip cannot pull a
CUDA one. Where it cannot be installed or imported the tsai rows are skipped with the reason, and the
published peer numbers (issue 11) are shown, labelled as such. Every model trains in its own
subprocess with one thread (OMP_NUM_THREADS=1 and torch.set_num_threads(1)); wall time is that
process's, start to exit (imports and data included), CPU seconds its user + system time and peak RSS
its ru_maxrss, both from wait4(). On a shared machine wall time grows with the load; a one-thread
process's CPU seconds do not (much), and are what its wall time would be on an idle machine.
The rows are also written to blobbotronic-out/peers.json; reports written to blobbotronic-out/report show them.
This file imports only the standard library at the top: tsai's venv runs it as the tsai worker.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCH_PIN = "torch==2.13.0"
DEFAULT_VENV = Path.home() / ".cache" / "blobbotronic" / "peers-venv"
DATASETS = ("mnist1d", "gunpoint")
# tsai architecture -> blobbotronic preset prefix; the presets are "<data>_<model>" (blobbotronic/models/presets.py)
COUNTERPARTS = {"FCN": "fcn", "LSTM_FCN": "lstm_fcn", "InceptionTimePlus": "inception_time"}
TSAI_EPOCHS = {"mnist1d": 25, "gunpoint": 100}  # tsai's usual fit_one_cycle(epochs, lr_max=1e-3) recipe
PUBLISHED = [  # issue 11: measured elsewhere on a machine of this kind, tsai's/Ludwig's defaults, one thread
    ("mnist1d", "tsai", "FCN", 0.985, 77.0), ("mnist1d", "tsai", "LSTM_FCN", 0.990, 89.0),
    ("mnist1d", "tsai", "InceptionTimePlus", 0.992, 229.0), ("mnist1d", "ludwig", "GRU encoder", 0.964, 138.0),
    ("mnist1d", "ludwig", "stacked_cnn", 0.895, 86.0), ("gunpoint", "tsai", "FCN", 1.0, 34.0),
]
PUBLISHED_RSS = "545-840"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


# ---- workers: one model, one process -------------------------------------------------------------------------


def worker_blobbotronic(data: str, preset: str, seed: int, validation: str) -> dict:
    import dataclasses

    import torch

    torch.set_num_threads(1)
    from blobbotronic.data import load
    from blobbotronic.data.spec import Split
    from blobbotronic.models import create
    from blobbotronic.train import train

    ds = load(data)
    checks = {}
    if validation == "none":  # train on the whole published train split, as tsai does; nothing held out
        full = Split(torch.cat([ds.train.x, ds.val.x]), torch.cat([ds.train.y, ds.val.y]))
        ds = dataclasses.replace(ds, train=full, val=full)
        checks = {"eval_every": 10**9}  # with nothing held out, the final weights: no checks on training data
    run = train(ds, preset, seed=seed, quiet=True, threads=1, **checks)
    return {"accuracy": run.metrics["accuracy"], "params": create(preset, run.model.spec).num_params(),
            "train_seconds": run.cost["train_seconds"], "steps": run.cost["steps"]}


def torchvision_shim() -> str:
    """Let ``import torchvision`` succeed beside the CPU torch, or say why none is needed.

    PyPI's torchvision is a CUDA build: its compiled ops (_C.so) need libtorch_cuda.so, which the CPU
    torch lacks, so they do not load, and torchvision then fails at import while registering fake
    kernels for two ops (nms, qnms) that no longer exist. fastai imports torchvision for image
    augmentation only; declaring those two ops' schemas (no kernels) lets the import finish. tsai's
    time-series models never call them; calling one would raise.
    """
    import ctypes
    import importlib.util

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return "no torchvision"
    try:
        ctypes.CDLL(str(Path(spec.origin).parent / "_C.so"))
        return "torchvision's ops load"
    except OSError as e:
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        torchvision_shim.lib = lib  # keep the definitions alive
        return f"torchvision's compiled ops do not load ({str(e).split(':')[-1].strip()}); nms/qnms declared"


def worker_tsai(npz: str, arch: str, seed: int, epochs: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    shim = torchvision_shim()
    from tsai.basics import Learner, TSClassification, accuracy, get_ts_dls, set_seed
    from tsai.models.FCN import FCN
    from tsai.models.InceptionTimePlus import InceptionTimePlus
    from tsai.models.RNN_FCN import LSTM_FCN

    set_seed(seed, reproducible=True)
    d = np.load(npz)
    x = np.concatenate([d["x_train"], d["x_test"]]).transpose(0, 2, 1)  # (N, L, C) -> tsai's (N, C, L)
    y = np.concatenate([d["y_train"], d["y_test"]]).astype(str)
    n = len(d["x_train"])
    splits = (list(range(n)), list(range(n, len(x))))  # train: the published train split; "valid": its test split
    dls = get_ts_dls(x, y, splits=splits, tfms=[None, TSClassification()], bs=[64, 128])
    if arch == "LSTM_FCN":  # its default shuffle=True reads the series as one step of seq_len values
        model = LSTM_FCN(dls.vars, dls.c, seq_len=dls.len)
    else:
        model = {"FCN": FCN, "InceptionTimePlus": InceptionTimePlus}[arch](dls.vars, dls.c)
    learn = Learner(dls, model, metrics=accuracy)
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, lr_max=1e-3)
    seconds = time.perf_counter() - start
    acc = float(learn.validate()[1])  # no model selection: the weights after the last epoch
    return {"accuracy": acc, "params": sum(p.numel() for p in model.parameters()), "train_seconds": seconds,
            "epochs": epochs, "note": shim}


# ---- the parent: install, spawn, measure, print -------------------------------------------------------------


def run_measured(cmd: list[str], timeout: float) -> dict:
    """Run ``cmd`` with one thread; its JSON result plus wall seconds and peak RSS (MiB) from wait4()."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        err = open(Path(tmp) / "stderr", "w+")
        env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT), "PEERS_RESULT": str(out)}
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        deadline, status, usage = start + timeout, None, None
        while status is None:
            pid, status_, usage_ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, usage = status_, usage_
            elif time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                status = "timeout"
            else:
                time.sleep(0.05)
        wall = time.perf_counter() - start
        proc.returncode = 0  # reaped by wait4 above; keep Popen from waiting again
        rss = usage.ru_maxrss / 1024  # KiB on Linux
        cost = {"wall_seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_mb": rss}
        if status == "timeout" or status != 0 or not out.is_file():
            err.seek(0)
            tail = err.read().strip().splitlines()[-3:]
            why = "timed out" if status == "timeout" else "; ".join(tail) or f"exit status {status}"
            return {"error": why, **cost}
        return {**json.loads(out.read_text()), **cost}


def ensure_tsai(venv: Path, timeout: float, log) -> tuple[str | None, str]:
    """The tsai venv's python, or None and why not. Installs on first use: torch pinned first, then tsai."""
    py = venv / "bin" / "python"
    check = [str(py), "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import peers; "
             "peers.torchvision_shim(); import tsai.basics, torch; "
             "print(tsai.__version__, 'with torch', torch.__version__)"]

    def importable() -> tuple[bool, str]:
        try:
            r = subprocess.run(check, capture_output=True, text=True, timeout=300, env={**os.environ, **ONE_THREAD})
        except subprocess.TimeoutExpired:
            return False, "importing tsai took over 300 s"
        lines = (r.stdout if r.returncode == 0 else r.stderr).strip().splitlines()
        return r.returncode == 0, lines[-1] if lines else f"exit status {r.returncode}"

    if py.exists():
        ok, msg = importable()
        if ok:
            return str(py), f"tsai {msg}"
    steps = [[sys.executable, "-m", "venv", str(venv)],
             [str(py), "-m", "pip", "install", "--quiet", TORCH_PIN],
             [str(py), "-m", "pip", "install", "--quiet", "tsai", TORCH_PIN]]
    for cmd in steps:
        if cmd[1:3] == ["-m", "venv"] and py.exists():
            continue
        log(f"peers: {' '.join(cmd[1:] if cmd[0] == sys.executable else cmd[3:])}")
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"installing tsai took over {timeout:.0f} s ({' '.join(cmd[3:])})"
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-2:]
            return None, f"pip could not install tsai: {' '.join(tail)}"
    ok, msg = importable()
    return (str(py), f"tsai {msg}") if ok else (None, f"tsai installed but does not import here: {msg}")


def export_arrays(data: str, folder: Path) -> Path:
    """The published train split (blobbotronic's train + validation) and the test split as one .npz."""
    import numpy as np

    from blobbotronic.data import load

    path = folder / f"{data}.npz"
    ds = load(data)
    np.savez(path, x_train=np.concatenate([ds.train.x.numpy(), ds.val.x.numpy()]),
             y_train=np.concatenate([ds.train.y.numpy(), ds.val.y.numpy()]),
             x_test=ds.test.x.numpy(), y_test=ds.test.y.numpy())
    return path


def table(rows: list[dict], title: str) -> str:
    cols = [("dataset", "dataset", "{}"), ("tool", "tool", "{}"), ("model", "model", "{}"),
            ("test acc", "accuracy", "{:.1%}"), ("wall s", "wall_seconds", "{:.1f}"),
            ("CPU s", "cpu_seconds", "{:.1f}"), ("train s", "train_seconds", "{:.1f}"),
            ("peak RSS MB", "peak_rss_mb", "{:.0f}"), ("params", "params", "{:,}")]
    cells = [[h for h, _, _ in cols]]
    for r in rows:
        cells.append([r["error"][:60] if ("error" in r and k == "accuracy") else
                      (f.format(r[k]) if isinstance(r.get(k), (int, float)) else str(r.get(k, "-")))
                      for _, k, f in cols])
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    lines = [title] + ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(2, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the rows as one JSON object")
    p.add_argument("--data", default=",".join(DATASETS), help="comma-separated: mnist1d,gunpoint")
    p.add_argument("--tools", default="blobbotronic,tsai", help="comma-separated: blobbotronic,tsai")
    p.add_argument("--models", default=",".join(COUNTERPARTS), help="tsai names: FCN,LSTM_FCN,InceptionTimePlus")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation", choices=("none", "split"), default="none",
                   help="blobbotronic's validation: none trains on the whole published train split as tsai does "
                        "(best weights chosen on it); split holds out the data set's validation split")
    p.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="tsai's virtual environment")
    p.add_argument("--install-timeout", type=float, default=900, help="seconds for each install step")
    p.add_argument("--run-timeout", type=float, default=900, help="seconds for one model's run")
    p.add_argument("--out", type=Path, default=Path("blobbotronic-out/peers.json"))
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)  # internal: TOOL ARGS...
    args = p.parse_args(argv)
    if args.worker:
        tool, *rest = args.worker
        res = (worker_blobbotronic(rest[0], rest[1], args.seed, args.validation) if tool == "blobbotronic"
               else worker_tsai(rest[0], rest[1], args.seed, int(rest[2])))
        Path(os.environ["PEERS_RESULT"]).write_text(json.dumps(res))
        return 0

    log = (lambda msg: print(msg, file=sys.stderr, flush=True))
    datasets = [d for d in args.data.split(",") if d]
    tools = [t for t in args.tools.split(",") if t]
    archs = [m for m in args.models.split(",") if m]
    bad = [m for m in archs if m not in COUNTERPARTS] + [d for d in datasets if d not in DATASETS]
    if bad:
        p.error(f"unknown {bad}: models are {list(COUNTERPARTS)}, data sets {list(DATASETS)}")
    tsai_py, tsai_note = None, "not asked for"
    if "tsai" in tools:
        tsai_py, tsai_note = ensure_tsai(args.venv, args.install_timeout, log)
        if tsai_py is None:
            log(f"peers: skipping tsai: {tsai_note}")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for data in datasets:
            npz = export_arrays(data, Path(tmp)) if tsai_py else None
            for arch in archs:
                jobs = []
                if "blobbotronic" in tools:
                    preset = f"{data}_{COUNTERPARTS[arch]}"
                    jobs.append(("blobbotronic", preset, [sys.executable, __file__, "--seed", str(args.seed),
                                                          "--validation", args.validation,
                                                          "--worker", "blobbotronic", data, preset]))
                if tsai_py:
                    jobs.append(("tsai", arch, [tsai_py, __file__, "--seed", str(args.seed), "--worker", "tsai",
                                                str(npz), arch, str(TSAI_EPOCHS[data])]))
                for tool, model, cmd in jobs:
                    log(f"peers: {data} {tool} {model} ...")
                    r = {"dataset": data, "tool": tool, "model": model, **run_measured(cmd, args.run_timeout)}
                    log(f"peers:   {r.get('accuracy', r.get('error'))} in {r['wall_seconds']:.1f} s, "
                        f"{r['peak_rss_mb']:.0f} MB")
                    rows.append(r)
    reference = [{"dataset": d, "tool": t, "model": m, "accuracy": a, "wall_seconds": s, "peak_rss_mb": PUBLISHED_RSS}
                 for d, t, m, a, s in PUBLISHED if d in datasets]
    load1 = os.getloadavg()
    meta = {"tsai": tsai_note, "threads": 1, "seed": args.seed, "validation": args.validation,
            "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in load1],
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(["bench/peers.py", *(argv if argv is not None else sys.argv[1:])])}
    obj = {"rows": rows, "reference": reference if tsai_py is None else [], "meta": meta}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(obj, indent=2))
    if args.json:
        print(json.dumps(obj, indent=2))
        return 0
    print(table(rows, f"Measured here, one thread each (load average {load1[0]:.1f} on {os.cpu_count()} CPUs)"))
    if tsai_py is None and "tsai" in tools:
        print(f"\ntsai skipped: {tsai_note}")
    if obj["reference"]:
        print("\n" + table(obj["reference"], f"Published peer numbers (issue 11; not measured in this run; "
                                             f"peak RSS {PUBLISHED_RSS} MB across them)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
