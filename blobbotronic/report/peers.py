"""The peers section of a report: bench/peers.py's side-by-side rows (blobbotronic beside tsai), when it has run.

bench/peers.py writes blobbotronic-out/peers.json; a report written to blobbotronic-out/report (the default)
finds it beside its folder and adds a "Peers, side by side" section.
"""

from __future__ import annotations

import json
from html import escape as esc
from pathlib import Path
from typing import Any

PEERS_FILE = Path("blobbotronic-out") / "peers.json"  # written by bench/peers.py
HEADER = ["data set", "tool", "model", "test accuracy", "wall s", "CPU s", "train s", "peak RSS MB", "parameters"]


def load(path: str | Path = PEERS_FILE) -> dict[str, Any] | None:
    """bench/peers.py's output, or None when it has not run here (or the file is unreadable)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("rows"), list) else None


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if key == "accuracy" and row.get("error"):
        return f"failed: {row['error']}"
    return fmt.format(value) if isinstance(value, (int, float)) else str(value if value is not None else "-")


def table(rows: list[dict[str, Any]]) -> list[list[str]]:
    keys = [("dataset", "{}"), ("tool", "{}"), ("model", "{}"), ("accuracy", "{:.1%}"), ("wall_seconds", "{:.1f}"),
            ("cpu_seconds", "{:.1f}"), ("train_seconds", "{:.1f}"), ("peak_rss_mb", "{:.0f}"), ("params", "{:,}")]
    return [[_cell(r, k, f) for k, f in keys] for r in rows]


def caption(obj: dict[str, Any]) -> str:
    m = obj.get("meta", {})
    load1 = (m.get("load_average") or ["?"])[0]
    return (f"bench/peers.py, {m.get('date', '?')}: one thread per model, each in its own process (wall time from "
            f"start to exit; CPU seconds and peak RSS from wait4); load average {load1} on {m.get('cpus', '?')} CPUs; "
            f"tsai: {m.get('tsai', '?')}.")


def html(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""

    def tab(rows: list[dict[str, Any]]) -> str:
        head = "".join(f"<th>{esc(h)}</th>" for h in HEADER)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in table(rows))
        return f'<table class="peers"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    parts = [f'<section class="peers"><h2>Peers, side by side</h2><p>{esc(caption(obj))}</p>', tab(obj["rows"])]
    if obj.get("reference"):
        parts += ["<p>Published peer numbers (issue 11), not measured in this run:</p>", tab(obj["reference"])]
    return "".join(parts) + "</section>"


def markdown(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""

    def tab(rows: list[dict[str, Any]]) -> list[str]:
        return ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)] + [
            "| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in table(rows)]

    out = ["## Peers, side by side", "", caption(obj), "", *tab(obj["rows"]), ""]
    if obj.get("reference"):
        out += ["Published peer numbers (issue 11), not measured in this run:", "", *tab(obj["reference"]), ""]
    return "\n".join(out) + "\n"
