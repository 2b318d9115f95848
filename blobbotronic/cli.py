"""The command line: a thin skin over the Python API, one sub-command per verb."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .cli_kit import (  # noqa: F401  (re-exported: tests and notebooks import them from here)
    COMMANDS,
    command,
    console,
    emit,
    no_data_recorded,
    parse_data_options,
    parse_params,
    reflow,
    skip_bad_flag,
)
from .errors import BlobError
from .train_flags import data_option_flag, log_flags, settings_of, training_flags

# ---- datasets and models ------------------------------------------------------------------------


@command("datasets")
def cmd_datasets(args: argparse.Namespace) -> None:
    from .catalogue import dataset_rows

    rows = dataset_rows()

    def show(rows: list[dict]) -> None:
        from rich.table import Table

        out = console()
        wide = out.width >= 140  # the source column only where it fits; --json and docs/catalogue.md have it
        t = Table(title="Built-in data sets")
        t.add_column("name", no_wrap=True)
        for col in ("modality", "task", "about") + (("source",) if wide else ()):
            t.add_column(col)
        for r in rows:
            cells = [r["name"], r.get("modality", ""), r.get("task", ""), r.get("about", "")]
            t.add_row(*cells, *([r.get("source", "")] if wide else []))
        out.print(t)

    emit(args, {"datasets": rows}, lambda o: show(o["datasets"]))


@command("models")
def cmd_models(args: argparse.Namespace) -> None:
    from .models import MODELS, params_schema, presets

    if args.params:
        model, values, preset = presets.resolve(args.params)  # a preset shows its model's schema with its values
        schema = params_schema(model)
        doc = reflow(MODELS.get(model).__doc__ or "")
        if preset:
            doc = f"Preset of {model!r}: {preset.about} Training: {preset.train or 'the defaults'}.\n\n{doc}"
        from .models.param_help import describe

        obj = {"model": args.params, "accepts": list(MODELS.tags(model).get("accepts", ())),
               "params": [{"name": p.name, "type": p.type_name, "default": values.get(p.name, p.default),
                           "choices": list(p.choices), "help": describe(MODELS.get(model), p.name)}
                          for p in schema.values()], "about": doc}

        def show(o: dict) -> None:
            from rich.table import Table

            t = Table(title=f"{o['model']} (takes {', '.join(o['accepts'])})")
            t.add_column("parameter", no_wrap=True)
            for col in ("type", "default", "what it does"):
                t.add_column(col)
            for p in o["params"]:
                choices = f" ({' | '.join(map(str, p['choices']))})" if p["choices"] else ""
                t.add_row(p["name"], p["type"], repr(p["default"]), p["help"] + choices)
            console().print(t)
            console().print(o["about"])

        return emit(args, obj, show)
    from .catalogue import model_rows

    rows = model_rows()
    preset_rows = presets.listing(presets.COUNT_SPEC)  # parameter counts on MNIST-1D's shape (40 steps, 10 classes)

    def show_all(o: dict) -> None:
        from rich.table import Table

        out = console()
        wide = out.width >= 140  # the presets column only where it fits (they have their own table below)
        t = Table(title="Models (blobbotronic models --params NAME for details)")
        t.add_column("name", no_wrap=True)
        for col in ("family", "accepts") + (("presets",) if wide else ()) + ("about",):
            t.add_column(col)
        for r in o["models"]:
            t.add_row(r["name"], r["family"], ", ".join(r["accepts"]), *([", ".join(r["presets"])] if wide else []),
                      r["about"])
        out.print(t)
        t = Table("preset", "model", "parameters", "settings", "about",
                  title="Presets (use as --model NAME; parameter counts on MNIST-1D: 40 steps, 10 classes)")
        for r in o["presets"]:
            settings = ", ".join(f"{k}={v}" for k, v in {**r["params"], **r["train"]}.items())
            t.add_row(r["name"], r["model"], f"{r['param_count']:,}" if r["param_count"] else "-", settings, r["about"])
        console().print(t)

    emit(args, {"models": rows, "presets": preset_rows}, show_all)


# ---- train, evaluate, predict -------------------------------------------------------------------


def run_record(dataset: str, model: str, seed: int, run: Any, checkpoint: Path | None) -> dict[str, Any]:
    return {"dataset": dataset, "model": model, "seed": seed, "metrics": run.metrics, "val_metrics": run.val_metrics,
            "cost": run.cost, "stopped": run.stopped, "convergence": getattr(run, "convergence", None),
            "checkpoint": str(checkpoint) if checkpoint else None}


def show_record(r: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table("metric", "value", title=f"{r['model']} on {r['dataset']} (seed {r['seed']})")
    for k, v in r["metrics"].items():
        t.add_row(f"test {k}", f"{v:.4f}")
    for k, label in (("params", "params"), ("flops_per_sample", "flops per sample"), ("train_seconds", "train seconds"),
                     ("steps", "steps"), ("steps_per_second", "steps per second"),
                     ("memory_mb", "memory MiB (the run's own)"), ("peak_rss_mb", "process peak RSS MiB"),
                     ("cpu_share", "CPU share of its threads")):
        v = r["cost"].get(k)
        if v is not None:
            t.add_row(label, f"{v:,.2f}" if isinstance(v, float) else f"{v:,}")
    console().print(t)
    c = r.get("convergence") or {}
    if c:  # where the kept weights came from, and whether training had finished
        console().print(f"best validation check at step {c['best_step']:,} of {c['steps']:,}: "
                        + ("converged" if c["converged"] else f"NOT converged ({c.get('why', '')}); try --budget "
                           f"'{c.get('suggested_budget')}'") + ".", markup=False)
    if r["cost"].get("contended"):
        threads = r["cost"].get("threads") or 1
        console().print(f"warning: the run's {threads} thread(s) got {r['cost']['cpu_share']:.0%} of the CPU time they "
                        "asked for: other processes were busy, so its timings measure them as much as the run. Time it "
                        "again on a quieter machine" + (", or with --threads 1." if threads > 1 else "."), markup=False)
    from .data.bad_files import skipped_line

    if skipped_line(r.get("data")):
        console().print(skipped_line(r.get("data")), markup=False)
    if r.get("checkpoint"):
        console().print(f"checkpoint: {r['checkpoint']}")


def train_config(args: argparse.Namespace):
    from .train import TrainConfig

    kw: dict[str, Any] = {"seed": args.seed, "device": args.device, "quiet": args.quiet or args.json,
                          **settings_of(args)}
    if args.budget is not None:
        kw["budget"] = args.budget
    return TrainConfig(**kw)


@command("train")
def cmd_train(args: argparse.Namespace) -> None:
    from .data.bad_files import load_data, reads_file_by_file, skipped_info
    from .train import save_checkpoint, train

    options = parse_data_options(args.data_option)
    if args.skip_bad and reads_file_by_file(args.data):
        options["skip_bad"] = True  # saved with the checkpoint, so that evaluate reads the folder the same way
    ds = load_data(args.data, seed=args.seed, skip_bad=args.skip_bad, options=options)
    from .train.logging import from_args

    log = from_args(args, ds.spec.name)  # --log tensorboard|mlflow: a training Callback, or None
    run = train(ds, args.model, seed=args.seed, params=parse_params(args.param), config=train_config(args),
                callbacks=[log] if log else [])
    if log:
        log.finish(run)
    ckpt = None
    if not args.no_save:
        default = Path("blobbotronic-out") / "checkpoints" / f"{ds.spec.name}-{args.model}-seed{args.seed}"
        ckpt = Path(args.save or default)
        save_checkpoint(run.model, ckpt, data=args.data, data_options=options, seed=args.seed,
                        metrics=run.metrics, train=run.config.to_dict(), cost=run.cost)
    emit(args, {**run_record(ds.spec.name, args.model, args.seed, run, ckpt), "data": skipped_info(ds)}, show_record)


@command("evaluate")
def cmd_evaluate(args: argparse.Namespace) -> None:
    from .data.bad_files import load_data, skipped_info
    from .train import evaluate, load_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    model, cfg = ckpt
    if args.data is None and ckpt.data is None:
        raise no_data_recorded(args.checkpoint, ckpt, "evaluate")
    source = args.data or ckpt.data
    options = ckpt.data_options if args.data is None else {}  # as read for training
    ds = load_data(source, seed=ckpt.seed or 0, skip_bad=args.skip_bad, options=options)
    if ds.spec.input_shape != model.spec.input_shape or ds.spec.modality != model.spec.modality:
        raise BlobError(f"{source}: its inputs ({ds.spec.modality} {ds.spec.input_shape}) do not fit the checkpoint's "
                        f"model, trained on {model.spec.modality} {model.spec.input_shape}.")
    metrics = evaluate(model, ds.spec, ds.test)
    rec = {"dataset": ds.spec.name, "model": cfg["model"], "seed": cfg.get("seed", 0), "metrics": metrics,
           "cost": cfg.get("cost", {}), "checkpoint": str(args.checkpoint), "data": skipped_info(ds)}
    emit(args, rec, show_record)


@command("predict")
def cmd_predict(args: argparse.Namespace) -> None:
    from .data.bad_files import skipped_line
    from .train import load_checkpoint
    from .train.predict import predict, show_line

    model, cfg = load_checkpoint(args.checkpoint)
    preds, bad = predict(model, args.inputs, skip_bad=args.skip_bad, resample=args.resample)  # label, value, tags...

    def show(o: dict) -> None:
        from rich.table import Table

        t = Table("input", "prediction", "probability", title=f"{cfg['model']} predictions")
        for p in o["predictions"]:
            t.add_row(*show_line(p))
        console().print(t)
        if o["skipped"]:
            console().print(skipped_line({"skipped": len(o["skipped"]), "skipped_files": o["skipped"]}), markup=False)

    emit(args, {"model": cfg["model"], "checkpoint": str(args.checkpoint), "predictions": preds, "skipped": bad}, show)


@command("demo")
def cmd_demo(args: argparse.Namespace) -> None:
    """The main job on built-in data: the primer's claims, quick mode, into one report."""
    from .claims_commands import cmd_claims

    args.mode, args.workers = "quick", None
    cmd_claims(args)


# ---- the parser ---------------------------------------------------------------------------------


# Modules that add sub-commands: each has register(add) and decorates its runner with @command(name). Building
# the parser imports all of them, so each imports only light modules at its top (argparse, cli_kit, errors) and
# the heavy ones (torch, numpy, matplotlib, the data and models) inside its runner: `--help` starts at once.
# tests/test_cli_fast.py checks it. Where a package's own __init__ is heavy (claims, report), its command module
# lives here beside cli.py.
COMMAND_MODULES = ["blobbotronic.compare.commands", "blobbotronic.report_commands", "blobbotronic.explain.commands",
                   "blobbotronic.claims_commands", "blobbotronic.export_commands", "blobbotronic.inspect_command"]


class UsageError(Exception):
    """A command line argparse refused, with the (sub-)parser whose usage explains it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser


class Parser(argparse.ArgumentParser):
    """argparse, except that a mistake is raised to main() (which answers in JSON under --json) instead of
    printing and exiting here."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="blobbotronic", description="Weigh convolutional and recurrent networks on evidence.")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    p.set_defaults(subcommands=sub.choices)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        # every command takes --json, --quiet and --debug alike; a command that defines one itself (with its own
        # help) replaces the shared one ("resolve")
        sp = sub.add_parser(name, help=help, description=help, conflict_handler="resolve")
        sp.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return sp

    add("datasets", "list the built-in data sets")
    sp = add("models", "list the models, or one model's parameters")
    sp.add_argument("--params", metavar="NAME", help="show the parameters of model NAME")

    sp = add("train", "train one model on one data set and save a checkpoint")
    sp.add_argument("--data", required=True, help="a built-in data set name, a file or a folder")
    data_option_flag(sp)
    sp.add_argument("--model", required=True)
    sp.add_argument("--param", action="append", metavar="NAME=VALUE", help="a model parameter (repeatable)")
    sp.add_argument("--save", metavar="DIR", help="checkpoint folder (default blobbotronic-out/checkpoints/...)")
    sp.add_argument("--no-save", action="store_true", help="do not write a checkpoint")
    skip_bad_flag(sp)
    training_flags(sp)
    log_flags(sp)

    sp = add("demo", "the main job on built-in data: every claim of the primer tested (claims --quick)")
    sp.add_argument("--only", metavar="ID[,ID]", help="run only these claims")
    sp.add_argument("--store", help="SQLite store of runs (default ./blobbotronic-runs.db)")
    sp.add_argument("--out", default="blobbotronic-out/claims", help="report folder")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--quiet", action="store_true")

    sp = add("evaluate", "measure a checkpoint on a data set's test split")
    sp.add_argument("--checkpoint", required=True)
    sp.add_argument("--data", help="data set (default: the one it was trained on)")
    skip_bad_flag(sp)

    sp = add("predict", "run a checkpoint on new input files")
    sp.add_argument("--checkpoint", required=True)
    sp.add_argument("inputs", nargs="+", help="input files (images, clips, CSV rows, .npy sequences, text lines)")
    sp.add_argument("--resample", action="store_true", help="sequences of another length than the model's: "
                    "interpolate them linearly to it (and say so) instead of refusing them")
    skip_bad_flag(sp)

    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(add)
    return p


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse, letting the sub-command's own parser refuse what it does not know (so its usage is printed)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        own = args.subcommands.get(args.command, parser) if args.command else parser
        own.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def fail(message: str, code: int, as_json: bool) -> int:
    """An error as one paragraph on stderr and, under --json, also as one JSON object on stdout (a script reading
    stdout always gets an object; a person sees the paragraph)."""
    if as_json:
        print(json.dumps({"error": message, "exit_code": code}))
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in argv
    parser = build_parser()
    try:
        args = parse(parser, argv)
    except UsageError as e:
        if as_json:
            print(json.dumps({"error": f"{e} (usage: {e.parser.format_usage().strip()[len('usage: '):]})",
                              "exit_code": 2}))
        e.parser.print_usage(sys.stderr)
        print(f"{e.parser.prog}: error: {e}", file=sys.stderr)
        return 2
    if not args.command:
        parser.print_help()
        return 0
    try:
        COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return 0
    except BlobError as e:
        if args.debug:
            raise
        return fail(str(e), e.exit_code, as_json)
    except BrokenPipeError:
        # the reader went away (`... --json | head`): no traceback; point stdout at nothing so that Python's own
        # flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted: finished results are saved; rerun the same command to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
