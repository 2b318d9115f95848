"""Command-line verbs of blobbotronic.explain: ``explain`` (one checkpoint) and ``explain memory`` (the memory study).

One verb with an optional positional word keeps both forms of the issue's commands:

    blobbotronic explain --checkpoint CKPT [--input test:3 | FILE] [--out DIR] [--json]
    blobbotronic explain memory [--models rnn,lstm,gru,cnn] [--lags 10,30] [--seeds 3]
                                [--task adding|temporal_order|both] [--quick] [--out DIR] [--quiet] [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..cli_kit import command, console, emit, no_data_recorded
from ..errors import BlobError

MEMORY_FLAGS = ("models", "lags", "seeds", "task", "quick", "budget", "batch_size", "n", "lr", "workers", "store",
                "curve_task", "curve_lag", "no_curves", "stored_only")


def register(add) -> None:
    """Add this module's sub-commands: ``sp = add(name, help)`` returns an argparse sub-parser."""
    sp = add("explain", "explain a checkpoint (filters, feature maps, Grad-CAM, saliency, memory curve), or with "
                        "'memory' measure how far back each model remembers")
    sp.add_argument("what", nargs="?", choices=["memory"], help="'memory': the memory-horizon study")
    g = sp.add_argument_group("one checkpoint")
    g.add_argument("--checkpoint", help="a checkpoint folder (blobbotronic train --save DIR)")
    g.add_argument("--input", default="test:0",
                   help="the input to explain: a file, or test:N / val:N / train:N of the checkpoint's data set")
    g.add_argument("--target", help="class to explain, by name or index (default: the predicted class)")
    g.add_argument("--data", help="the data set that test:N, val:N and train:N index (default: the one the "
                                  "checkpoint was trained on, read with its data options)")
    m = sp.add_argument_group("explain memory")
    m.add_argument("--models", help="comma-separated (default rnn,lstm,gru,cnn; --quick rnn,lstm; attention works too)")
    m.add_argument("--lags", help="comma-separated sequence lengths (default 10,30, where the LSTM solves the "
                                  "adding problem and the RNN does not; the whole study: 10,30,100,300,1000)")
    m.add_argument("--seeds", type=int, help="training seeds per cell (default 3; --quick 2)")
    m.add_argument("--task", choices=["adding", "temporal_order", "both"],
                   help="default adding (the temporal-order problem separates the models only at longer lags)")
    m.add_argument("--quick", action="store_true", help="a demo-sized study: rnn and lstm, 2 seeds")
    m.add_argument("--budget", help="training budget per run (default '1500 steps')")
    m.add_argument("--batch-size", type=int, help="default 64")
    m.add_argument("--n", type=int, help="sequences per data set, split 80/10/10 (default 6000)")
    m.add_argument("--lr", type=float, help="learning rate (default: each family's)")
    m.add_argument("--workers", type=int, help="parallel runs, one thread each (default: 1 on a GPU, else the cores)")
    m.add_argument("--store", help="results store (default blobbotronic-runs.db): finished runs are reused")
    m.add_argument("--curve-task", choices=["adding", "temporal_order"], help="data for the memory curves")
    m.add_argument("--curve-lag", type=int, help="lag for the memory curves (default 30)")
    m.add_argument("--no-curves", action="store_true", help="horizons only")
    m.add_argument("--stored-only", action="store_true",
                   help="summarise the runs already in --store, training none for the sweep")
    sp.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    sp.add_argument("--out", help="folder for PNGs, section.html and result.json")
    sp.add_argument("--quiet", action="store_true", help="no progress lines (--json implies it)")


@command("explain")
def cmd_explain(args: argparse.Namespace) -> None:
    if args.what == "memory":
        if args.checkpoint or args.data:
            raise BlobError("'explain memory' trains its own models on its own data; --checkpoint and --data belong "
                            "to 'explain --checkpoint'.")
        return _memory(args)
    given = [f"--{k.replace('_', '-')}" for k in MEMORY_FLAGS if getattr(args, k, None) not in (None, False)]
    if given:
        raise BlobError(f"{', '.join(given)} belong to 'blobbotronic explain memory'; to explain one checkpoint "
                        "give --checkpoint CKPT and --input.")
    if not args.checkpoint:
        raise BlobError("Give a checkpoint to explain (--checkpoint DIR), or run 'blobbotronic explain memory'.")
    _checkpoint(args)


# ---- one checkpoint ---------------------------------------------------------------------------------


def split_item(text: str) -> tuple[str, int] | None:
    """``test:3`` -> ("test", 3): an item of a split of the checkpoint's data set; None for anything else."""
    split_name, colon, index = text.partition(":")
    if colon and split_name in ("test", "val", "train") and index.strip().lstrip("-").isdigit():
        return split_name, int(index)
    return None


def resolve_input(spec: Any, source: str | None, text: str, options: dict[str, Any] | None = None,
                  seed: int = 0, given: bool = False) -> tuple[Any, Any, str, Any, Any]:
    """``test:3`` (a split and index of the checkpoint's data set) or a file -> (x, lengths, label, test split, truth).

    The data set is read again as it was for training: with the checkpoint's data options and seed. One the
    checkpoint names but that cannot be read here is left out (a file input needs none); one ``given`` on the
    command line must be read. ``truth`` is the input's true target, None for a file.
    """
    from ..data import read_inputs
    from ..data.bad_files import load_data

    data = None
    if source is not None:
        try:
            data = load_data(source, seed=seed, options=options)
        except BlobError:
            if given:
                raise
            data = None
    item = split_item(text)
    if item:
        if data is None:
            raise BlobError(f"--input {text}: the checkpoint's data set {source!r} cannot be loaded here; "
                            "give an input file instead, or --data NAME.")
        split_name, i = item
        split = getattr(data, split_name)
        if not -len(split) <= i < len(split):
            raise BlobError(f"--input {text}: the {split_name} split has {len(split)} items (0-{len(split) - 1}).")
        lengths = None if split.lengths is None else split.lengths[i : i + 1]
        return split.x[i : i + 1], lengths, text, data.test, split.y[i]
    if not Path(text).exists():
        raise BlobError(f"--input {text!r}: neither an existing file nor test:N, val:N or train:N.")
    x, lengths, names = read_inputs(spec, [text])
    return x, lengths, str(names[0]), None if data is None else data.test, None


def explain_checkpoint(checkpoint: str | Path, input: str = "test:0", out: str | Path | None = None,
                       target: str | None = None, device: str = "auto", data: str | None = None) -> dict[str, Any]:
    """Every explainer that applies to the checkpoint's model, on one input; writes PNGs, section.html and
    result.json (the returned numbers) under ``out``. ``data`` replaces the data set the checkpoint records
    (needed for ``test:N`` when it records none)."""
    from ..train import load_checkpoint
    from ..train.loop import pick_device
    from .explainers import describe, explain_model, prediction
    from .section import explain_section

    dev = pick_device(device)
    ckpt = load_checkpoint(checkpoint, device=str(dev))
    model, cfg = ckpt
    spec = model.spec
    if data is None and ckpt.data is None and split_item(input):
        raise no_data_recorded(checkpoint, ckpt, f"explain --input {input}")
    options = ckpt.data_options if data is None else {}  # the checkpoint's own data is read as for training
    x, lengths, label, test, truth = resolve_input(spec, data or ckpt.data, input, options, int(ckpt.seed or 0),
                                                   given=data is not None)
    cls = None
    if target is not None:
        if not spec.is_classification:
            raise BlobError(f"--target: model {cfg['model']!r} does {spec.task}; there is no class to choose.")
        cls = spec.classes.index(target) if target in spec.classes else int(target) if target.isdigit() else None
        if cls is None or not 0 <= cls < spec.n_outputs:
            raise BlobError(f"--target {target!r}: not a class of this model; classes: {', '.join(spec.classes)}.")
    out = Path(out or Path("blobbotronic-out") / "explain" / Path(checkpoint).name)
    x = x.to(dev)
    if test is not None:
        test = test.to(dev)
    exps = explain_model(model, x, lengths, out=out, label=label, data=test, target=cls, truth=truth)
    pred = prediction(model, x, lengths, truth, cls)
    html = explain_section(exps, f"What {cfg['model']} sees: {label}, {describe(pred)}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "section.html").write_text(html, encoding="utf-8")
    result: dict[str, Any] = {"checkpoint": str(checkpoint), "model": cfg["model"], "input": label,
                              "prediction": pred, "summary": describe(pred),
                              "explanations": [e.to_dict() for e in exps],
                              "figures": [f for e in exps for f in e.figures], "html": str(out / "section.html"),
                              "result": str(out / "result.json")}
    curve = next((e for e in exps if e.name == "memory_curve"), None)
    if curve is not None:
        ig = curve.numbers["integrated_gradients"]
        result["curves"] = {cfg["model"]: ig["shares"]}
        result["last_quarter_share"] = {cfg["model"]: ig["last_quarter_share"]}
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return result


def _checkpoint(args: argparse.Namespace) -> None:
    result = explain_checkpoint(args.checkpoint, args.input, args.out, args.target, args.device, args.data)

    def show(r: dict[str, Any]) -> None:
        from rich.markup import escape

        c = console()
        c.print(f"[bold]{escape(r['model'])}[/bold] on {escape(r['input'])}: {escape(r['summary'])}",
                highlight=False)
        for e in r["explanations"]:
            extra = ""
            if e["name"] == "memory_curve":
                extra = f" last-quarter share {e['numbers']['integrated_gradients']['last_quarter_share']:.2f}"
            elif e["name"] == "gradcam" and e["numbers"].get("class") is not None:
                n = e["numbers"]
                extra = (f" class {n['class']!r} (p = {n['probability']:.2f}), "
                         + (f"true label {n['true']!r}" if n.get("true") is not None else "true label unknown"))
            c.print(f"  {e['title']}{extra}" + (f" ({e['note']})" if e["note"] else ""), markup=False,
                    highlight=False)
            for row in e["table"]:
                c.print(f"    {row['layer']} {row['module']}: {row['before']} -> {row['after']} "
                        f"({row['values_before']:,} -> {row['values_after']:,} values, /{row['reduction']:.1f})")
        c.print("figures: " + ", ".join(r["figures"]))
        c.print(f"HTML section: {r['html']}")
        c.print(f"numbers: {r['result']}")

    emit(args, result, show)


# ---- explain memory ---------------------------------------------------------------------------------


def _memory(args: argparse.Namespace) -> None:
    from .horizon import (
        DEFAULT_LAGS,
        DEFAULT_MODELS,
        DEFAULT_SEEDS,
        DEFAULT_TASKS,
        QUICK_LAGS,
        QUICK_MODELS,
        QUICK_SEEDS,
        TASKS,
        HorizonConfig,
        parse_lags,
    )
    from .section import memory_section
    from .study import CURVE_LAG, memory_study

    models = [m.strip() for m in (args.models or ",".join(QUICK_MODELS if args.quick else DEFAULT_MODELS)).split(",")
              if m.strip()]
    from ..models import MODELS

    for m in models:
        MODELS.entry(m)  # unknown names fail here, before any training
    lags = parse_lags(args.lags) if args.lags else list(QUICK_LAGS if args.quick else DEFAULT_LAGS)
    tasks = list(TASKS) if args.task == "both" else [args.task] if args.task else list(DEFAULT_TASKS)
    seeds = args.seeds if args.seeds is not None else (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    if seeds < 1:
        raise BlobError(f"--seeds must be at least 1, got {seeds}.")
    defaults = HorizonConfig()
    cfg = HorizonConfig(budget=args.budget or defaults.budget, batch_size=args.batch_size or defaults.batch_size,
                        n=args.n or defaults.n, device=args.device, lr=args.lr)
    out = Path(args.out or Path("blobbotronic-out") / "explain-memory")
    quiet = args.json or args.quiet
    progress = None if quiet else (lambda msg: console().print(msg, highlight=False))
    result = memory_study(models, tasks, lags, seeds, cfg, out, workers=args.workers, store=args.store,
                          curve_task=args.curve_task or tasks[0], curve_lag=args.curve_lag or CURVE_LAG,
                          curves=not args.no_curves, stored_only=args.stored_only, progress=progress)
    (out / "section.html").write_text(memory_section(result, result["findings"]), encoding="utf-8")
    result["html"] = str(out / "section.html")
    s = result["summary"]
    obj = {"horizons": result["horizons"], "curves": result.get("curves", {}),
           "last_quarter_share": result.get("last_quarter_share", {}), "figures": result["figures"],
           "per_seed": s["per_seed"], "intervals": s["intervals"], "rates": s["rates"], "rule": s["rule"],
           "criteria": s["criteria"], "config": result["config"], "lags": lags, "seeds": seeds, "tasks": tasks,
           "curve_data": result.get("curve_data"), "curve_metrics": result.get("curve_metrics"),
           "curve_params": result.get("curve_params"),
           "curves_gradient_x_input": result.get("curves_gradient_x_input", {}),
           "last_quarter_share_gradient_x_input": result.get("last_quarter_share_gradient_x_input", {}),
           "findings": result["findings"], "missing": result["missing"], "runs": result["runs"],
           "html": result["html"], "result": str(out / "result.json")}
    (out / "result.json").write_text(json.dumps(obj, indent=1, default=str), encoding="utf-8")

    def show(o: dict[str, Any]) -> None:
        from rich.table import Table

        t = Table("model", *[f"{t} (largest solved lag)" for t in tasks], "per seed", title="Memory horizon")
        for model, per_task in o["horizons"].items():
            seeds_txt = "; ".join(f"{t}: " + ",".join(str(v) for _, v in sorted(o["per_seed"][model][t].items()))
                                  for t in tasks if t in o["per_seed"].get(model, {}))
            t.add_row(model, *[str(per_task.get(k, "")) for k in tasks], seeds_txt)
        c = console()
        c.print(t)
        for f in o["findings"]:
            c.print("- " + f, highlight=False)
        c.print("figures: " + ", ".join(o["figures"]))
        c.print(f"HTML section: {o['html']}")
        c.print(f"numbers: {o['result']}")

    emit(args, obj, show)
