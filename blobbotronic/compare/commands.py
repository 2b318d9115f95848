"""Command-line verbs of blobbotronic.compare: ``compare`` (run a grid, write the report) and ``report``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..cli_kit import command, console, emit, parse_data_options, parse_params, skip_bad_flag
from ..errors import BlobError
from .store import DEFAULT_STORE

DEFAULT_OUT = Path("blobbotronic-out") / "report"


def register(add) -> None:
    """Add this module's sub-commands: ``sp = add(name, help)`` returns an argparse sub-parser."""
    from .backends import BACKENDS

    sp = add("compare", "train every model on every data set for every seed under one budget, then report")
    sp.add_argument("--data", help="data sets, comma-separated (built-in names, files or folders)")
    sp.add_argument("--models", help="models, comma-separated (see `blobbotronic models`; default: the primer's "
                    "families that fit the data: MLP, CNN, LSTM, GRU and a hybrid, or the task's own)")
    sp.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 for every model (default 3)")
    sp.add_argument("--budget",
                    help="'6000 steps', '30 epochs' or '60s', the same for every model (default: the training "
                    "policy: each run trains until its validation curve plateaus, see the README)")
    sp.add_argument("--tune", type=int, default=0, metavar="K",
                    help="K Optuna trials per model and data set on the validation split before the seeded runs")
    sp.add_argument("--store", default=str(DEFAULT_STORE), help=f"results file (default {DEFAULT_STORE})")
    sp.add_argument("--out", default=str(DEFAULT_OUT), help=f"report folder (default {DEFAULT_OUT})")
    sp.add_argument("--backend", default="local", choices=list(BACKENDS), help="where runs execute (default local)")
    sp.add_argument("--address", help="with --backend ray: the cluster, 'auto' or ray://HOST:10001 "
                    "(default: a private Ray on this machine)")
    sp.add_argument("--no-stack", action="store_true",
                    help="train seeds one by one (default: the seeds of a model train as one stacked computation)")
    sp.add_argument("--workers", type=int, help="parallel runs, one thread each (default: the number of cores)")
    sp.add_argument("--param", action="append", metavar="MODEL.NAME=VALUE",
                    help="a model parameter, e.g. cnn.width=16 (NAME=VALUE alone: every model that has it)")
    sp.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    sp.add_argument("--quiet", action="store_true", help="no progress display")
    from ..train_flags import data_option_flag, training_settings

    training_settings(sp)  # every training setting train takes (--lr, --patience, --threads...), for every run
    data_option_flag(sp, every=True)
    skip_bad_flag(sp)
    sp.add_argument("--config", metavar="FILE", help="an experiment file (YAML or TOML) giving any of the above")
    from ..config import remember_defaults
    from ..train_flags import log_flags

    log_flags(sp)
    remember_defaults(sp)


def model_params(pairs: list[str] | None, models: list[str]) -> dict[str, dict[str, str]]:
    """``cnn.width=16`` -> {"cnn": {"width": "16"}}; a bare ``hidden=32`` goes to every model that has it."""
    from ..models import params_schema

    out: dict[str, dict[str, str]] = {}
    for key, value in parse_params(pairs or []).items():
        model, dot, name = key.partition(".")
        if dot:
            if model not in models:
                raise BlobError(f"--param {key}={value}: {model!r} is not among the models compared "
                                f"({', '.join(models)}).")
            out.setdefault(model, {})[name] = value
            continue
        takers = [m for m in models if key in params_schema(m)]
        if not takers:
            raise BlobError(f"--param {key}={value}: none of {', '.join(models)} has a parameter {key!r}; "
                            "write MODEL.NAME=VALUE, for example cnn.width=16.")
        for m in takers:
            out.setdefault(m, {})[key] = value
    return out


def data_skipped(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per data set, the unreadable files --skip-bad left out (``{"skipped": N, "skipped_files": [...]}``),
    for the data sets that had any (RunTask.row keeps them in the row's config)."""
    return {r["dataset"]: r["config"]["data"] for r in rows if (r.get("config") or {}).get("data")}


class Progress:
    """Runs done out of the total on stderr, with the last result; silent when quiet or not a terminal."""

    def __init__(self, quiet: bool):
        self.bar = None
        if quiet or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("{task.fields[info]}"), console=Console(stderr=True), transient=True)
        self.task = None

    def __call__(self, kind: str, **info: Any) -> None:
        if self.bar is None:
            return
        if kind == "plan":
            if self.task is None:
                self.bar.start()
                self.task = self.bar.add_task("", total=1, info="")
            what = "tuning" if info["phase"] == "tune" else "runs"
            reused = f"{info['reused']} reused" if info["reused"] else ""
            self.bar.update(self.task, description=what, total=info["total"], completed=info["reused"], info=reused)
        elif kind == "tuned":
            self.bar.update(self.task, advance=1, info=f"tuned {info['model']} on {info['dataset']}")
        elif kind == "row":
            r = info["row"]
            m = r["metrics"].get(r["metric"])
            self.bar.update(self.task, completed=info["done"],
                            info=f"{r['model']} on {r['dataset']} seed {r['seed']}: {r['metric']} {m:.3f}")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def show_summary(obj: dict[str, Any], analyses: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from ..report.tables import mean_pm, verdict

    con = console()
    if obj.get("models_chosen"):
        con.print("No --models given; compared the default set for this data:", markup=False)
        for c in obj["models_chosen"]:
            con.print(f"  {c['model']}: {c['why']}", markup=False)
    for line in obj.get("not_converged", []):  # before any ranking: an unfinished run's rank means little
        con.print(f"not converged: {line}", markup=False, style="bold yellow")
    for a in analyses:
        t = Table("rank", "model", f"test {a['metric']} ± 95%", "seeds", "params", "train s",
                  title=f"{a['dataset']} (ranked; ties share a rank)")
        for e in a["entries"]:
            t.add_row(str(e["rank"]), e["model"], mean_pm(e), str(e["n"]), f"{int(e['cost'].get('params', 0)):,}",
                      f"{e['cost'].get('train_seconds', 0):.1f}")
        con.print(t)
        con.print(verdict(a), markup=False, highlight=False)
        con.print()
    for s in obj.get("skipped", []):
        con.print(f"skipped: {s}", markup=False, style="dim")
    from ..data.bad_files import skipped_line

    for source, info in (obj.get("data") or {}).items():
        con.print(f"{source}: {skipped_line(info)}", markup=False)
    con.print(f"report: {obj['report']}  (and report.md beside it)", markup=False)


@command("compare")
def cmd_compare(args: argparse.Namespace) -> None:
    from ..config import apply, save_resolved, used
    from .runner import as_list, check_store, plan_compare, run_compare

    experiment = apply(args)  # --config FILE fills the flags left at their defaults
    models = as_list(args.models or "")
    if isinstance(args.seeds, int) and args.seeds < 1:
        raise BlobError(f"--seeds must be at least 1, got {args.seeds}.")
    if args.tune < 0:
        raise BlobError(f"--tune must be 0 or more trials, got {args.tune}.")
    from ..guards import check_writable

    check_writable(args.out, "report folder", "--out", folder=True)  # before the grid, not after it
    config = compare_config(args, models)
    check_store(config.store)
    progress = Progress(args.quiet or args.json)
    if args.log:
        from ..train.logging import RowLogger

        progress = RowLogger(args.log, args.log_dir, then=progress)  # each finished run's row, with its curves
    try:
        res = run_compare(plan_compare(config), on_event=progress)
    finally:
        progress.stop()
    path = res.report(args.out)
    obj = {"runs": res.runs(), "summary": res.summary, "report": str(path), "store": str(res.store),
           "ran": res.ran, "reused": res.reused, "skipped": res.skipped, "data": data_skipped(res.rows)}
    from .stats import convergence_warnings

    obj["not_converged"] = convergence_warnings(res.rows)  # said before any ranking, in words
    if res.chosen:  # no --models: which models ran, and why each
        obj["models_chosen"] = [{"model": m, "why": why} for m, why in res.chosen]
    if experiment is not None:
        obj["config"] = str(save_resolved(experiment, args.out, res.rows, used(args, models)))
    emit(args, obj, lambda o: show_summary(o, res.analyses))


def compare_config(args: argparse.Namespace, models: list[str]) -> Any:
    """The grid the flags (and an experiment file's values, config.apply) ask for, as a CompareConfig.

    Training-setting flags win over the file's ``train:`` settings; those a config file can hold are also
    kept in ``args.train_settings``, so that the resolved config written beside the report reruns them."""
    from ..config import TRAIN_KEYS
    from ..train_flags import settings_of
    from .runner import CompareConfig

    flags = settings_of(args)
    args.train_settings = {**args.train_settings, **{k: v for k, v in flags.items() if k in TRAIN_KEYS}}
    return CompareConfig(args.data, models, args.seeds, budget=args.budget, params=model_params(args.param, models),
                         train={**args.train_settings, **flags}, data_options=parse_data_options(args.data_option),
                         tune=args.tune, store=args.store, backend=args.backend, workers=args.workers,
                         address=args.address, device=args.device, batch_seeds=not args.no_stack,
                         skip_bad=args.skip_bad)
