"""Training speed on MNIST-1D: blobbotronic's loop against a plain reference loop, in one process.

The reference is PyTorch written the usual way: the same architecture as stock modules (nn.GRU and nn.LSTM for
the recurrent nets; nn.Conv1d, BatchNorm1d and MaxPool1d for the CNN, from the same initial weights), a shuffled
DataLoader, Adam with default settings, PyTorch's default thread count and ``loss.item()`` every step. Both train
the same number of steps at batch 100 and are then measured on the test split. Prints a table (``--json``: one
object). A benchmark prints numbers; no test asserts timings.

    python bench/train_speed.py                    # mlp, cnn, gru, lstm; 3 seeds each
    python bench/train_speed.py --models gru --steps 500 --seeds 1
    python bench/train_speed.py --compile          # blobbotronic's side with torch.compile (compile time apart)
    python bench/train_speed.py --models mingru,gru,lstm --length 1000   # MNIST-1D stretched to 1,000 steps
    python bench/train_speed.py --models mingru:layers=1,gru --length 1000 --seeds 1   # a model's parameters

``--length L`` stretches every MNIST-1D series to L steps (linear interpolation), the same digits read more slowly,
to measure how each model's training speed scales with the sequence length (default steps then: LENGTH_STEPS).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch import nn

import blobbotronic as bb
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


class RefRNN(nn.Module):
    """The usual recurrent classifier: nn.GRU / nn.LSTM, the last step's output into a linear head."""

    def __init__(self, cell: type[nn.Module], hidden: int = 64, classes: int = 10):
        super().__init__()
        self.rnn = cell(1, hidden, batch_first=True)
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
    if name == "gru":
        return RefRNN(nn.GRU)
    if name == "lstm":
        return RefRNN(nn.LSTM)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,cnn,gru,lstm")
    ap.add_argument("--steps", type=int, help="steps per model (default: per model, see DEFAULT_STEPS)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per model; rates and accuracies are means")
    ap.add_argument("--threads", type=int, help="blobbotronic's threads (default: its own default, 1)")
    ap.add_argument("--compile", action="store_true", help="blobbotronic with torch.compile")
    ap.add_argument("--length", type=int, help="stretch MNIST-1D's 40 steps to this many (default steps: 100)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ds = bb.load("mnist1d")
    if args.length:
        ds = stretched(ds, args.length)
    default_threads = torch.get_num_threads()
    rows = []
    for label in args.models.split(","):
        name, params = model_spec(label)
        steps = args.steps or (LENGTH_STEPS if args.length else DEFAULT_STEPS.get(name, 1000))
        ref_s = ours_s = ref_acc = ours_acc = 0.0
        for seed in range(args.seeds):  # interleaved: reference, then ours, seed by seed
            # the reference first, with PyTorch's default threads
            torch.set_num_threads(default_threads)
            seed_everything(seed)
            ref = reference_model(name, ds, params)
            ref_s += reference_loop(ref, ds, steps, seed)
            ref_acc += accuracy(ref, ds)
            # blobbotronic: the same steps, its own defaults (threads, fused AdamW, no per-step sync)
            seed_everything(seed)
            model = bb.create_model(name, ds.spec, **params)
            run = fit(model, ds, TrainConfig(budget=f"{steps} steps", patience=None, quiet=True, seed=seed,
                                             threads=args.threads, compile=args.compile))
            ours_s += run.cost["train_seconds"] * steps / (steps - (1 if args.compile else 0))
            ours_acc += run.metrics["accuracy"]
        n = args.seeds
        rows.append({"model": label, "length": ds.spec.input_shape[0], "steps": steps, "seeds": n,
                     "ref_steps_per_s": n * steps / ref_s,
                     "ours_steps_per_s": n * steps / ours_s, "speedup": ref_s / ours_s,
                     "ref_accuracy": ref_acc / n, "ours_accuracy": ours_acc / n,
                     "ref_threads": default_threads, "ours_threads": run.cost["threads"],
                     "compile_seconds": run.cost.get("compile_seconds")})
    torch.set_num_threads(default_threads)
    if args.json:
        print(json.dumps({"rows": rows}))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("model", "steps", "reference steps/s", "blobbotronic steps/s", "speed-up", "reference acc", "our acc",
              title=f"MNIST-1D training speed, {ds.spec.input_shape[0]} steps a series, batch 100 (same process, same "
                    "steps; means over seeds)")
    for r in rows:
        t.add_row(r["model"], str(r["steps"]), f"{r['ref_steps_per_s']:.0f}", f"{r['ours_steps_per_s']:.0f}",
                  f"{r['speedup']:.2f}x", f"{r['ref_accuracy']:.3f}", f"{r['ours_accuracy']:.3f}")
    con = Console()
    con.print(t)
    con.print(f"threads: reference {rows[0]['ref_threads']} (PyTorch's default), blobbotronic {rows[0]['ours_threads']}; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
