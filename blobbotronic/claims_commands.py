"""The ``claims`` verb: run the primer's claims as experiments and write the verdict report.

It lives beside cli.py, not in claims/, because importing the claims package registers every claim (and
imports torch): the command line imports this module to build its parser, and ``--help`` must stay fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .cli_kit import command, console, emit


def register(add) -> None:
    sp = add("claims", "run the primer's claims as experiments and write one report with computed verdicts")
    mode = sp.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", dest="mode", const="quick",
                      help="small budgets for a 2-core CPU, each claim's time printed (the default)")
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
    from .claims.suite import run

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
    emit(args, summary(result), show)
    missing = result["not_run"]
    if missing:  # the report and the output above say why and how to fix each; the exit status says it to `make`
        print(f"{len(missing)} of {len(result['claims'])} claims could not run, so they have no verdict: "
              + "; ".join(f"{c['id']} ({c['reason']} Fix: {c['fix']})" for c in missing), file=sys.stderr)
        # not a BlobError: stdout already holds the one JSON object --json promises, and this is not a second one
        raise SystemExit(NOT_RUN_EXIT)


NOT_RUN_EXIT = 3  # the suite finished and wrote its report, but some claims could not run here


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """What --json prints: each claim's verdict (or why it could not run and the fix) and its time."""
    from .claims.report import NOT_RUN

    claims = []
    for c in result["claims"]:
        item = {"id": c["id"], "status": c["status"], "verdict": c["verdict"], "seconds": c.get("seconds"),
                "evidence": {"key": c["key"], "rule": c["rule"], **(c.get("evidence") or {})}}
        if c["status"] == NOT_RUN:
            item.update(reason=c["reason"], fix=c["fix"])
        if c.get("quick_cannot_settle"):
            item["quick_cannot_settle"] = c["quick_cannot_settle"]
        claims.append(item)
    meta = result.get("meta", {})
    return {"claims": claims, "not_run": [{"id": c["id"], "reason": c["reason"], "fix": c["fix"]}
                                          for c in result["not_run"]],
            "seconds": meta.get("seconds"), "train_pool_seconds": meta.get("train_pool_seconds"),
            "glyph_font": meta.get("glyph_font"), "report": result["report"]}


def show(obj: dict[str, Any]) -> None:
    from rich.table import Table

    from .claims.report import NOT_RUN, seconds_total, time_short

    colour = {"supported": "green", "refuted": "red", "mixed": "yellow"}
    t = Table("claim", "verdict", "the key number", "time", title="The primer's claims, tested", show_lines=True)
    for c in obj["claims"]:
        if c["status"] != NOT_RUN:
            t.add_row(c["id"], f"[{colour.get(c['verdict'], 'white')}]{c['verdict']}[/]", c["evidence"]["key"],
                      time_short(c))
    con = console()
    con.print(t)
    if obj["not_run"]:
        miss = Table("claim", "why", "the fix", title=f"Could not run: {len(obj['not_run'])} claims, no verdict",
                     show_lines=True, title_style="bold red")
        for c in obj["not_run"]:
            miss.add_row(c["id"], c["reason"], c["fix"])
        con.print(miss)
    slow = sorted(obj["claims"], key=lambda c: -(seconds_total(c) or 0))[:3]
    pool = f", {obj['train_pool_seconds']:.0f} s training in the shared pool" if obj.get("train_pool_seconds") else ""
    con.print(f"{obj['seconds']:.0f} s in all{pool}; the costliest claims: "
              + ", ".join(f"{c['id']} {time_short(c)}" for c in slow), markup=False)
    con.print(f"report: {obj['report']}", markup=False)
