"""The ``report`` verb: the HTML and Markdown report of a results store (blobbotronic.report renders it).

It lives beside cli.py, not in report/, because importing the report package imports matplotlib: the command
line imports this module to build its parser, and ``--help`` must stay fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .cli_kit import command, emit
from .errors import BlobError


def register(add) -> None:
    """Add this module's sub-commands: ``sp = add(name, help)`` returns an argparse sub-parser."""
    from .compare.store import DEFAULT_STORE

    sp = add("report", "write the HTML and Markdown report of the runs in a results store")
    sp.add_argument("--store", default=str(DEFAULT_STORE), help=f"results file (default {DEFAULT_STORE})")
    sp.add_argument("--out", default=str(Path("blobbotronic-out") / "report"), help="report folder")
    sp.add_argument("--data", help="only these data sets, comma-separated")
    sp.add_argument("--models", help="only these models, comma-separated")


@command("report")
def cmd_report(args: argparse.Namespace) -> None:
    from .compare.commands import data_skipped, show_summary
    from .compare.runner import as_list
    from .compare.stats import analyze, summary_records
    from .compare.store import Store
    from .report import render

    if not Path(args.store).is_file():
        raise BlobError(f"{args.store}: no results store there. Run `blobbotronic compare ...` first, or give "
                        "--store the file it wrote (default blobbotronic-runs.db in the folder it ran in).")
    with Store(args.store) as store:
        rows = store.rows(datasets=as_list(args.data) if args.data else None,
                          models=as_list(args.models) if args.models else None)
    path = render(rows, args.out, store=args.store)
    analyses = analyze(rows)
    runs = [{k: r.get(k) for k in ("dataset", "model", "seed", "metrics", "cost", "params_hash")} for r in rows]
    obj = {"runs": runs, "summary": summary_records(analyses), "report": str(path), "store": str(args.store),
           "data": data_skipped(rows)}
    emit(args, obj, lambda o: show_summary(o, analyses))
