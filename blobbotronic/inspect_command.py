"""The ``inspect`` command: how a file, folder or built-in data set is read, before any training.

The report itself is ``inspection.describe`` (it loads the source as ``train`` would); this module is the
command's flags and its readable rendering, and imports nothing heavy until the command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from .cli_kit import command, console, emit, parse_data_options, skip_bad_flag


def register(add) -> None:
    """Add ``blobbotronic inspect``: ``sp = add(name, help)`` returns an argparse sub-parser."""
    sp = add("inspect", "show how a file, folder or built-in data set is read, before any training")
    sp.add_argument("data", help="a built-in data set name, a file or a folder")
    sp.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                    help="an option for reading the data, as for train (repeatable)")
    sp.add_argument("--seed", type=int, default=0, help="the seed of a random split, as for train (default 0)")
    skip_bad_flag(sp)


@command("inspect")
def cmd_inspect(args: argparse.Namespace) -> None:
    from .inspection import describe

    report = describe(args.data, seed=args.seed, options=parse_data_options(args.data_option), skip_bad=args.skip_bad)
    emit(args, report, show)


# ---- the readable rendering ----------------------------------------------------------------------------------


def _shape_line(r: dict[str, Any]) -> str:
    lay, shape = r["layout"], tuple(r["input_shape"])
    if r["modality"] == "table":
        kinds = [c["type"] for c in lay["columns"]]
        counts = {k: kinds.count(k) for k in ("numeric", "categorical") if k in kinds}
        read = ", ".join(f"{n} {k}" for k, n in counts.items())
        return f"input shape {shape}: {lay['features']} features from {sum(counts.values())} columns ({read})"
    if r["modality"] == "sequence":
        names = f" ({', '.join(lay['channel_names'])})" if lay.get("channel_names") else ""
        return f"input shape {shape}: {lay['steps']} steps of {lay['channels']} channel(s){names}"
    if r["modality"] == "image":
        return f"input shape {shape}: {lay['colour']} images of {lay['height']}x{lay['width']} pixels"
    if r["modality"] == "video":
        return f"input shape {shape}: {lay['frames']} {lay['colour']} frames of {lay['height']}x{lay['width']}"
    cols = ", ".join(f"{k.split('_')[0]} column {lay[k]!r}" for k in ("text_column", "label_column") if lay.get(k))
    return (f"input shape {shape}: up to {lay['tokens']} tokens ({lay['tokenizer']}), vocabulary of "
            f"{lay['vocabulary']:,}" + (f"; {cols}" if cols else ""))


def show(r: dict[str, Any]) -> None:
    from rich.table import Table

    from .inspection import SPLITS

    out = console()
    kind = f"{r['outputs']} classes" if r["task"] == "classify" else f"{r['outputs']} output(s)"
    out.print(f"{r['source']}: {r['modality']} data, task {r['task']} ({kind})", markup=False)
    out.print(_shape_line(r), markup=False)
    if r["modality"] == "table":
        t = Table("column", "read as", "details", title="Columns")
        for c in r["layout"]["columns"]:
            if c["type"] == "categorical":
                detail = f"one-hot over {', '.join(map(str, c['values'][:8]))}" + (" ..." if len(c["values"]) > 8
                                                                                   else "")
            elif c["type"] == "numeric" and c.get("median") is not None:
                detail = f"standardised; median {c['median']:g} fills gaps"
            else:
                detail = c.get("why", "")
            if c.get("missing"):
                detail += f" ({c['missing']} missing)"
            t.add_row(str(c["name"]), c["type"], detail)
        out.print(t)
    out.print(f"split: {r['split']['about']}", markup=False)
    if r["classes"]:
        t = Table("class", "train", "val", "test", title="Classes")
        for c in r["classes"]:
            t.add_row(str(c["class"]), *(str(c[s]) for s in SPLITS))
        out.print(t)
    if r["targets"]:
        t = Table("split", "mean", "min", "max", title="Targets")
        for s in SPLITS:
            t.add_row(s, *(f"{r['targets'][s][k]:.4g}" for k in ("mean", "min", "max")))
        out.print(t)
    if r["lengths"] and r["lengths"].get("variable"):
        n = r["lengths"]
        out.print(f"lengths vary: {n['min']} to {n['max']} {n['unit']} (median {n['median']:g}), padded to "
                  f"{n['padded_to']}" + (f"; {n['truncated']} cut" if n.get("truncated") else ""), markup=False)
    for note in r["notes"]:
        out.print(f"note: {note}", markup=False)
    if r["options"]:
        t = Table("option", "value", "what it changes", title="Options (--data-option KEY=VALUE)")
        for o in r["options"]:
            value = "auto" if o["value"] is None else str(o["value"]).lower() if isinstance(o["value"], bool) \
                else str(o["value"])
            t.add_row(o["name"], value + (" (given)" if o["given"] else ""), o["about"])
        for o in r["other_readings"]:
            t.add_row(o["set"], "", f"read it as {o['about']}")
        out.print(t)
