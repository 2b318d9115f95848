"""The ``claims`` verb: run the primer's claims as experiments and write the verdict report."""

from __future__ import annotations

import argparse
from typing import Any

from ..cli import command, console, emit


def register(add) -> None:
    sp = add("claims", "run the primer's claims as experiments and write one report with computed verdicts")
    mode = sp.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", dest="mode", const="quick",
                      help="small budgets that fit a 2-core CPU in about 15 minutes (the default)")
    mode.add_argument("--full", action="store_const", dest="mode", const="full",
                      help="larger budgets, more seeds and data sets; sized for a GPU")
    sp.set_defaults(mode="quick")
    sp.add_argument("--only", metavar="ID[,ID]", help="run only these claims")
    sp.add_argument("--store", help="SQLite store of runs (default ./blobbotronic-runs.db)")
    sp.add_argument("--out", default="blobbotronic-out/claims", help="report folder")
    sp.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--quiet", action="store_true")


@command("claims")
def cmd_claims(args: argparse.Namespace) -> None:
    from .suite import run

    quiet = args.quiet or args.json
    con = console()

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("training the claims' runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=con, disable=quiet)
    job = None
    printed = -1

    def progress(kind: str, cid: str, i: int, n: int) -> None:
        nonlocal job, printed
        if quiet:
            return
        if kind == "train":  # i of n runs stored (reused ones included)
            if job is None:
                bar.start()
                job = bar.add_task("runs", total=n)
            bar.update(job, completed=i)
            if not con.is_terminal and (10 * i) // max(1, n) > printed:  # a log gets a line every tenth
                printed = (10 * i) // max(1, n)
                con.print(f"runs stored: {i}/{n}", style="dim")
        elif kind == "start":
            if job is not None:
                bar.stop()
                job = None
            con.print(f"[{i + 1}/{n}] {cid} ...", style="dim")

    try:
        result = run(args.only, args.mode, args.store, args.out, args.workers, args.device, progress, args.debug)
    finally:
        bar.stop()
    emit(args, {"claims": [{"id": c["id"], "verdict": c["verdict"], "evidence": {"key": c["key"], "rule": c["rule"],
                                                                                   **((c.get("evidence") or {}))}}
                           for c in result["claims"]], "report": result["report"]}, show)


def show(obj: dict[str, Any]) -> None:
    from rich.table import Table

    colour = {"supported": "green", "refuted": "red", "mixed": "yellow"}
    t = Table("claim", "verdict", "the key number", title="The primer's claims, tested", show_lines=True)
    for c in obj["claims"]:
        t.add_row(c["id"], f"[{colour.get(c['verdict'], 'white')}]{c['verdict']}[/]", c["evidence"]["key"])
    console().print(t)
    console().print(f"report: {obj['report']}")
