"""HTML fragments for the report: explanations and the memory study, PNGs inlined, every text escaped."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .explainers import Explanation


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def img(path: str | Path, alt: str = "") -> str:
    """An <img> with the PNG inlined as a data URI, so the fragment is self-contained."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}" style="max-width:100%">'


def table(rows: Iterable[dict[str, Any]], columns: list[str] | None = None) -> str:
    rows = list(rows)
    if not rows:
        return ""
    columns = columns or list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return " x ".join(map(str, v)) if all(isinstance(i, int) for i in v) else ", ".join(map(_fmt, v))
    return "" if v is None else str(v)


def explain_section(explanations: list[Explanation], title: str) -> str:
    """A <section> with every explanation's title, figures, table and note."""
    parts = [f'<section class="explain"><h2>{esc(title)}</h2>']
    for e in explanations:
        parts.append(f"<h3>{esc(e.title)}</h3>")
        parts += [img(f, e.title) for f in e.figures]
        parts.append(table(e.table))
        if e.note:
            parts.append(f"<p>{esc(e.note)}</p>")
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def memory_section(result: dict[str, Any], findings: list[str] | None = None) -> str:
    """The memory study: horizons table (with per-seed values and intervals), findings, figures."""
    summary = result["summary"]
    rows = []
    order = [m for m in result.get("models", []) if m in summary["horizons"]] or list(summary["horizons"])
    for model in order:
        for task, lag in summary["horizons"][model].items():
            per_seed = summary["per_seed"].get(model, {}).get(task, {})
            ci = summary["intervals"].get(model, {}).get(task)
            rates = summary["rates"][model][task]
            rows.append({"model": model, "task": task, "largest solved lag": lag,
                         "per seed": ", ".join(f"{per_seed[s]}" for s in sorted(per_seed)),
                         "95% bootstrap interval": f"{ci[0]}-{ci[1]}" if ci else "",
                         "success by lag": ", ".join(f"{lag_}: {c['solved']}/{c['runs']}"
                                                     for lag_, c in sorted(rates.items()))})
    shares = result.get("last_quarter_share", {})
    share_rows = [{"model": m, "last-quarter share (integrated gradients)": s,
                   "gradient x input": result.get("last_quarter_share_gradient_x_input", {}).get(m)}
                  for m, s in shares.items()]
    parts = ['<section class="explain-memory"><h2>How far back do the networks remember?</h2>',
             f"<p>{esc(summary['rule'])}. Solved: "
             + esc("; ".join(f"{t.replace('_', ' ')}: {c}" for t, c in summary["criteria"].items()))
             + f". Budget per run: {esc(result.get('config', {}).get('budget', ''))}.</p>",
             table(rows)]
    if findings:
        parts.append("<ul>" + "".join(f"<li>{esc(f)}</li>" for f in findings) + "</ul>")
    if share_rows:
        parts.append(f"<h3>Memory curves on {esc(result.get('curve_data', ''))}</h3>" + table(share_rows))
    parts += [img(f, Path(f).stem) for f in result.get("figures", [])]
    parts.append("</section>")
    return "\n".join(p for p in parts if p)
