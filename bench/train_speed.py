"""Training speed on MNIST-1D: blobbotronic's loop against a plain reference loop, in one process.

The reference is PyTorch written the usual way: the same architecture as stock modules (nn.GRU and nn.LSTM for
the recurrent nets; nn.Conv1d, BatchNorm1d and MaxPool1d for the CNN, from the same initial weights), a shuffled
DataLoader, Adam with default settings, PyTorch's default thread count and ``loss.item()`` every step. Both train
the same number of steps at batch 100 and are then measured on the test split. Prints a table (``--json``: one
object; ``--out FILE`` also writes it, with the command, date, CPU and load). Seeds run in the outer loop and the
models in the inner one, so a machine whose speed drifts slows every model alike. A benchmark prints numbers; no
test asserts timings.

    python bench/train_speed.py                    # mlp, cnn, gru, lstm; 3 seeds each
    python bench/train_speed.py --models gru --steps 500 --seeds 1
    python bench/train_speed.py --compile          # blobbotronic's side with torch.compile (compile time apart)
    python bench/train_speed.py --models mingru,gru,lstm --length 1000   # MNIST-1D stretched to 1,000 steps
    python bench/train_speed.py --models mingru:layers=1,gru:layers=2,frame=1 --length 1000 --seeds 1   # parameters

``--length L`` stretches every MNIST-1D series to L steps (linear interpolation), the same digits read more slowly,
to measure how each model's training speed scales with the sequence length (default steps then: LENGTH_STEPS).

What is compared. Every model runs on its own defaults unless parameters say otherwise, and the table prints what
each recurrent model is: its layers, hidden units and how many steps its recurrence runs per series ("read").
All recurrent defaults have 64 hidden units; minGRU and minLSTM have 2 layers, blobbotronic's GRU and LSTM 1, and
on series longer than 256 steps the GRU and LSTM read frames of ceil(L / 256) consecutive steps (models/rnn.py
MAX_STEPS: 250 recurrent steps at L = 1,000 and at 4,000), where minGRU and minLSTM read every step. The default
comparison therefore gives the GRU one layer and a quarter of the steps at L = 1,000; ``gru:layers=2,frame=1``
is the GRU at minGRU's depth reading every step. The column "x gru" divides each row's blobbotronic steps/s by
the first ``gru`` row's. The reference side's nn.GRU and nn.LSTM take ``hidden`` and ``layers`` from the
parameters and always read every step (at 4,000 steps, minutes per model: ``--no-reference`` leaves them out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from datetime import datetime, timezone

import torch
from torch import nn

import blobbotronic as bb
from blobbotronic.models import minrnn_native, native
from blobbotronic.train import TrainConfig, fit, seed_everything

DEFAULT_STEPS = {"mlp": 3000, "cnn": 1500, "gru": 1500, "lstm": 1500}
LENGTH_STEPS = 100  # with --length: long sequences make every step slow; the rate settles well within 100 steps


def stretched(ds: bb.Dataset, length: int) -> bb.Dataset:
    """Every series resampled to ``length`` steps by linear interpolation (the same digits, read more slowly)."""
    def one(split):
        x = nn.functional.interpolate(split.x.transpose(1, 2), size=length, mode="linear", align_corners=True)
        return type(split)(x.transpose(1, 2).contiguous(), split.y, split.lengths)

    spec = bb.Spec(f"{ds.spec.name}@{length}", ds.spec.modality, ds.spec.task, (length, *ds.spec.input_shape[1:]),
                   ds.spec.n_outputs, ds.spec.classes, extra=ds.spec.extra)
    return bb.Dataset(spec, one(ds.train), one(ds.val), one(ds.test), ds.meta)


def model_spec(text: str) -> tuple[str, dict[str, str]]:
    """``mingru:layers=1,hidden=32`` -> ("mingru", {"layers": "1", "hidden": "32"})."""
    name, _, opts = text.partition(":")
    return name, dict(kv.split("=", 1) for kv in opts.split(",") if kv)


def model_labels(text: str) -> list[str]:
    """``mingru,gru:layers=2,frame=1,lstm`` -> ["mingru", "gru:layers=2,frame=1", "lstm"]: a piece with "=" and
    no ":" is one more parameter of the model before it."""
    labels: list[str] = []
    for piece in text.split(","):
        if "=" in piece and ":" not in piece and labels:
            labels[-1] += "," + piece
        else:
            labels.append(piece)
    return labels


def recurrence(model: nn.Module, length: int) -> tuple[int | None, int | None, int | None]:
    """(layers, hidden units, steps the recurrence runs per series) of a recurrent model; Nones for the others."""
    rnn = getattr(model, "rnn", None)
    if rnn is not None:  # gru (FastGRU), lstm and rnn (PyTorch's modules), reading frames of model.frame steps
        layers = rnn.layers if isinstance(getattr(rnn, "layers", None), int) else rnn.num_layers
        return layers, getattr(rnn, "hidden", None) or rnn.hidden_size, math.ceil(length / model.frame)
    if isinstance(getattr(model, "layers", None), nn.ModuleList):  # mingru, minlstm: every step
        return len(model.layers), model.layers[0].hidden, length
    return None, None, None


class RefRNN(nn.Module):
    """The usual recurrent classifier: nn.GRU / nn.LSTM, the last step's output into a linear head."""

    def __init__(self, cell: type[nn.Module], hidden: int = 64, classes: int = 10, layers: int = 1):
        super().__init__()
        self.rnn = cell(1, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class RefCNN(nn.Module):
    """blobbotronic's default 1-D CNN written with stock modules (nn.Conv1d, nn.BatchNorm1d, nn.ReLU, nn.MaxPool1d),
    starting from the given model's weights: the same function, PyTorch's usual kernels."""

    def __init__(self, ours: nn.Module):
        super().__init__()
        layers = []
        for m in ours.body:
            if isinstance(m, nn.Conv1d):
                layers.append(nn.Conv1d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding))
            elif isinstance(m, nn.BatchNorm1d):
                layers.append(nn.BatchNorm1d(m.num_features))
            elif isinstance(m, nn.MaxPool1d):
                layers.append(nn.MaxPool1d(m.kernel_size))
            elif isinstance(m, nn.ReLU):
                layers.append(nn.ReLU())
            else:
                raise SystemExit(f"RefCNN does not know {type(m).__name__}")
        self.body = nn.Sequential(*layers)
        self.body.load_state_dict(ours.body.state_dict())
        self.head = nn.Linear(ours.head.in_features, ours.head.out_features)
        self.head.load_state_dict(ours.head.state_dict())

    def forward(self, x):  # (B, L, C) -> the maps' mean over time -> logits
        return self.head(self.body(x.transpose(1, 2)).mean(2))


def reference_model(name: str, ds: bb.Dataset, params: dict | None = None) -> nn.Module:
    if name in ("gru", "lstm"):  # hidden and layers as blobbotronic's; every step read (no frames)
        params = params or {}
        return RefRNN(nn.GRU if name == "gru" else nn.LSTM, hidden=int(params.get("hidden", 64)),
                      layers=int(params.get("layers", 1)))
    ours = bb.create_model(name, ds.spec, **(params or {}))
    if name == "cnn":  # the same network, checked on a batch, written the usual way
        ref = RefCNN(ours)
        ours.eval(), ref.eval()
        with torch.no_grad():
            torch.testing.assert_close(ref(ds.test.x[:50]), ours(ds.test.x[:50]), atol=1e-5, rtol=1e-4)
        return ref
    return ours  # mlp, mingru, tcn: blobbotronic's module is plain PyTorch already; the difference is the loop


def reference_loop(model: nn.Module, ds: bb.Dataset, steps: int, seed: int) -> float:
    """Train the usual way; returns seconds."""
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(ds.train.x, ds.train.y), batch_size=100, shuffle=True, drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2 if not isinstance(model, RefRNN) else 3e-3)
    model.train()
    step, start = 0, time.perf_counter()
    while step < steps:
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            _ = loss.item()  # the usual per-step logging
            step += 1
            if step == steps:
                break
    return time.perf_counter() - start


@torch.no_grad()
def accuracy(model: nn.Module, ds: bb.Dataset) -> float:
    model.eval()
    return (model(ds.test.x).argmax(1) == ds.test.y).float().mean().item()


def run_one(label: str, ds: bb.Dataset, seed: int, args: argparse.Namespace, default_threads: int) -> dict:
    """One seed of one model: the reference loop (unless --no-reference), then blobbotronic's fit, the same steps."""
    name, params = model_spec(label)
    steps = args.steps or (LENGTH_STEPS if args.length else DEFAULT_STEPS.get(name, 1000))
    out = {"steps": steps, "ref_s": math.nan, "ref_acc": math.nan, "ref_threads": default_threads}
    if not args.no_reference:  # the reference first, with PyTorch's default threads
        torch.set_num_threads(default_threads)
        seed_everything(seed)
        ref = reference_model(name, ds, params)
        out["ref_s"] = reference_loop(ref, ds, steps, seed)
        out["ref_acc"] = accuracy(ref, ds)
    # blobbotronic: the same steps, its own defaults (threads, fused AdamW, no per-step sync)
    seed_everything(seed)
    model = bb.create_model(name, ds.spec, **params)
    run = fit(model, ds, TrainConfig(budget=f"{steps} steps", patience=None, quiet=True, seed=seed,
                                     threads=args.threads, compile=args.compile))
    layers, hidden, read = recurrence(model, ds.spec.input_shape[0])
    return {**out, "ours_s": run.cost["train_seconds"] * steps / (steps - (1 if args.compile else 0)),
            "ours_acc": run.metrics["accuracy"], "ours_threads": run.cost["threads"], "params": run.cost["params"],
            "layers": layers, "hidden": hidden, "read": read, "compile_seconds": run.cost.get("compile_seconds")}


def summarise(label: str, runs: list[dict], length: int) -> dict:
    """A model's row: rates and accuracies as means over its seeds."""
    n, first, steps = len(runs), runs[0], runs[0]["steps"]
    ref_s, ours_s = sum(r["ref_s"] for r in runs), sum(r["ours_s"] for r in runs)
    return {"model": label, "length": length, "steps": steps, "seeds": n, "layers": first["layers"],
            "hidden": first["hidden"], "steps_read": first["read"], "params": first["params"],
            "ref_steps_per_s": n * steps / ref_s, "ours_steps_per_s": n * steps / ours_s, "speedup": ref_s / ours_s,
            "ref_accuracy": sum(r["ref_acc"] for r in runs) / n, "ours_accuracy": sum(r["ours_acc"] for r in runs) / n,
            "ref_threads": first["ref_threads"], "ours_threads": first["ours_threads"],
            "compile_seconds": first["compile_seconds"]}


def print_table(rows: list[dict], length: int) -> None:
    from rich.console import Console
    from rich.table import Table

    def num(v, fmt):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    t = Table("model", "layers", "hidden", "read", "params", "steps", "reference steps/s", "blobbotronic steps/s",
              "speed-up", "x gru", "reference acc", "our acc",
              title=f"MNIST-1D training speed, {length} steps a series, batch 100 (same process, same steps; means "
                    "over seeds; read: steps the recurrence runs per series)")
    for r in rows:
        t.add_row(r["model"], num(r["layers"], "d"), num(r["hidden"], "d"), num(r["steps_read"], "d"),
                  num(r["params"], ","), str(r["steps"]), num(r["ref_steps_per_s"], ".1f"),
                  num(r["ours_steps_per_s"], ".1f"), num(r["speedup"], ".2f"), num(r["vs_gru"], ".2f"),
                  num(r["ref_accuracy"], ".3f"), num(r["ours_accuracy"], ".3f"))
    con = Console(width=None if sys.stdout.isatty() else 160)  # piped: wide enough for every column
    con.print(t)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    ours = sorted({r["ours_threads"] for r in rows})  # fit's default: the cores no other process keeps busy
    con.print(f"threads: reference {rows[0]['ref_threads']} (PyTorch's default), blobbotronic "
              f"{' or '.join(map(str, ours))}{' (differed between runs: use --threads)' if len(ours) > 1 else ''}; "
              f"load average {load}")


def machine() -> dict:
    """The CPU, its cores and the load, for the JSON (no paths)."""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": os.getloadavg(), "torch": torch.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,cnn,gru,lstm", help="comma-separated; parameters as gru:layers=2,frame=1")
    ap.add_argument("--steps", type=int, help="steps per model (default: per model, see DEFAULT_STEPS)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per model; rates and accuracies are means")
    ap.add_argument("--threads", type=int,
                    help="blobbotronic's threads (default: fit's own, the cores no other process keeps busy at the "
                         "time, up to 8; set it to compare runs)")
    ap.add_argument("--compile", action="store_true", help="blobbotronic with torch.compile")
    ap.add_argument("--length", type=int, help="stretch MNIST-1D's 40 steps to this many (default steps: 100)")
    ap.add_argument("--no-reference", action="store_true", help="only blobbotronic's side (no plain PyTorch loop)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--out", help="also write the JSON object to this file (e.g. bench/results/train_speed.json)")
    args = ap.parse_args()
    started = datetime.now(timezone.utc)
    native.kernels(), minrnn_native.kernels()  # built (or loaded) before any clock starts
    ds = bb.load("mnist1d")
    if args.length:
        ds = stretched(ds, args.length)
    default_threads = torch.get_num_threads()
    labels = model_labels(args.models)
    runs: dict[str, list[dict]] = {label: [] for label in labels}
    for seed in range(args.seeds):  # seeds outside, models inside: a drifting machine slows every model alike
        for label in labels:
            runs[label].append(run_one(label, ds, seed, args, default_threads))
    torch.set_num_threads(default_threads)
    length = ds.spec.input_shape[0]
    rows = [summarise(label, runs[label], length) for label in labels]
    gru = next((r["ours_steps_per_s"] for r in rows if model_spec(r["model"])[0] == "gru"), None)
    for r in rows:
        r["vs_gru"] = r["ours_steps_per_s"] / gru if gru else None
        r.update({k: None for k, v in r.items() if isinstance(v, float) and math.isnan(v)})  # no reference run
    result = {"command": "python " + " ".join(["bench/train_speed.py", *sys.argv[1:]]),
              "date": started.strftime("%Y-%m-%d %H:%M UTC"), **machine(), "rows": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    if args.json:
        print(json.dumps(result))
        return
    print_table(rows, length)


if __name__ == "__main__":
    main()
