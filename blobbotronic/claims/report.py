"""The claims report: a one-screen verdict table, the claims that could not run (why, and the fix), then a
section per claim with its evidence, plots and time."""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ..report.templates import CSS, PAGE

esc = html.escape
NOT_RUN = "could not run"
BADGE = {"supported": "#1b7f3b", "refuted": "#b42318", "mixed": "#b54708", NOT_RUN: "#616e7c"}
EXTRA_CSS = """
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; color: white; font-size: 12px;
  font-weight: 600; }
table.verdicts td { white-space: normal; text-align: left; vertical-align: top; }
table.verdicts td.key { font-size: 12.5px; color: #3e4c59; }
table.verdicts td.time { text-align: right; white-space: nowrap; }
section.claim { background: white; border: 1px solid var(--line); border-radius: 10px; padding: 6px 20px 18px;
  margin-top: 22px; }
section.claim p.claimline { font-size: 16px; font-style: italic; margin: 6px 0 8px; }
section.notrun { border-color: #b42318; }
.rule { color: var(--muted); font-size: 13px; }
.error { color: #b42318; }
.unsettled { color: #b54708; font-size: 13px; }
figure img { max-width: 720px; }
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 or (v.is_integer() and abs(v) >= 1) else f"{v:.3f}"
    return str(v)


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _verdict_badge(v: str) -> str:
    return f'<span class="badge" style="background:{BADGE.get(v, "#616e7c")}">{esc(v)}</span>'


def _evidence_rows(result: dict[str, Any]) -> list[list[str]]:
    out = []
    for t in result["evidence"]["table"]:
        ci = f"[{_fmt(t['ci_low'])}, {_fmt(t['ci_high'])}]" if t["ci_low"] is not None else ""
        out.append([t["arm"], t["dataset"], t["metric"], _fmt(t["mean"]), ci, str(t["n"]), _fmt(t["train_seconds"]),
                    _fmt(t["params"])])
    return out


EVIDENCE_HEADER = ["arm", "data set", "metric", "mean", "95% interval", "seeds", "train s", "parameters"]


def not_run(r: dict[str, Any]) -> bool:
    return r.get("status") == NOT_RUN


def seconds_total(r: dict[str, Any]) -> float | None:
    s = r.get("seconds")
    return s.get("total") if isinstance(s, dict) else s


def time_short(r: dict[str, Any]) -> str:
    total, s = seconds_total(r), r.get("seconds")
    cpu = f" ({s['total_cpu']:.0f} CPU s)" if isinstance(s, dict) and s.get("total_cpu") is not None else ""
    return "-" if total is None else f"{total:.0f} s{cpu}"


def time_line(r: dict[str, Any]) -> str:
    """What the claim cost: its share of the pool's training, its measurements, and its own step after the pool."""
    s = r.get("seconds")
    if not isinstance(s, dict):
        return time_short(r)
    shared = f", {s['shared']} shared with other claims" if s.get("shared") else ""
    parts = [f"{s['trained']} of its {s['runs']} runs trained now{shared}: {s['train_worker_seconds']:.0f} s of a "
             f"worker ({s['train_cpu_seconds']:.0f} CPU s)" if s.get("runs") else "no runs in the shared pool"]
    if s.get("measure_worker_seconds"):
        parts.append(f"its measurements in the pool {s['measure_worker_seconds']:.0f} s of a worker "
                     f"({s.get('measure_cpu_seconds', 0):.0f} CPU s)")
    parts.append(f"its own step (verdict, figures) {s['own_seconds']:.0f} s ({s['own_cpu_seconds']:.0f} CPU s)")
    return f"{time_short(r)}: " + "; ".join(parts)


def stamp(meta: dict[str, Any]) -> str:
    font = meta.get("glyph_font")
    glyphs = f"; glyphs drawn with {font['font']} ({font['origin']})" if font else ""
    pool = f", {meta['train_pool_seconds']:.0f} s of it training in the shared pool" \
        if meta.get("train_pool_seconds") is not None else ""
    return (f"{meta.get('mode')} mode, {meta.get('seconds', 0):.0f} s{pool}, blobbotronic {meta.get('version')}, "
            f"{datetime.now():%Y-%m-%d %H:%M}{glyphs}")


def _verdict_table(results: list[dict[str, Any]]) -> tuple[str, list[str]]:
    decided = [r for r in results if not not_run(r)]
    rows = "".join(
        f"<tr><td><a href='#{esc(r['id'])}'>{esc(r['id'])}</a></td><td>{_verdict_badge(r['verdict'])}</td>"
        f"<td class='key'>{esc(r['key'])}</td><td class='time'>{esc(time_short(r))}</td></tr>" for r in decided)
    page = (f"<div class='table-wrap'><table class='verdicts'><thead><tr><th class='text'>claim</th>"
            f"<th class='text'>verdict</th><th class='text'>the key number</th><th>time</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>")
    md = ["| claim | verdict | the key number | time |", "|---|---|---|---|"]
    md += [f"| {_md(r['id'])} | **{_md(r['verdict'])}** | {_md(r['key'])} | {time_short(r)} |" for r in decided]
    return page, md


def _not_run_table(results: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    missing = [r for r in results if not_run(r)]
    if not missing:
        return [], []
    head = f"<h2 class='error'>Could not run ({len(missing)} of {len(results)} claims): no verdict</h2>"
    rows = "".join(f"<tr><td><a href='#{esc(r['id'])}'>{esc(r['id'])}</a></td><td class='key'>{esc(r['reason'])}"
                   f"</td><td class='key'>{esc(r['fix'])}</td></tr>" for r in missing)
    page = [head, "<div class='table-wrap'><table class='verdicts notrun'><thead><tr><th class='text'>claim</th>"
                  f"<th class='text'>why</th><th class='text'>the fix</th></tr></thead><tbody>{rows}</tbody></table>"
                  "</div>"]
    md = [f"\n## Could not run ({len(missing)} of {len(results)} claims): no verdict\n",
          "| claim | why | the fix |", "|---|---|---|"]
    md += [f"| {_md(r['id'])} | {_md(r['reason'])} | {_md(r['fix'])} |" for r in missing]
    return page, md


def _section(r: dict[str, Any], figures: list[tuple[Path, str]]) -> tuple[list[str], list[str]]:
    missing = not_run(r)
    body = [f"<section class='claim{' notrun' if missing else ''}' id='{esc(r['id'])}'><h2>{esc(r['id'])} "
            f"{_verdict_badge(r['verdict'])}</h2>",
            f"<p class='claimline'>{esc(r['claim'])}</p><p><b>Experiment.</b> {esc(r.get('experiment', ''))}</p>"]
    md = [f"\n## {_md(r['id'])}: {_md(r['verdict'])}\n", f"*{_md(r['claim'])}*\n",
          f"**Experiment.** {_md(r.get('experiment', ''))}\n"]
    if missing:
        body.append(f"<p class='error'><b>Could not run.</b> {esc(r['reason'])}</p><p><b>Fix.</b> {esc(r['fix'])}</p>")
        md += [f"**Could not run.** {_md(r['reason'])}\n", f"**Fix.** {_md(r['fix'])}\n"]
    else:
        body.append(f"<p><b>Result.</b> {esc(r['key'])}</p><p class='rule'><b>Rule.</b> {esc(r['rule'])}</p>")
        md += [f"**Result.** {_md(r['key'])}\n", f"**Rule.** {_md(r['rule'])}\n"]
    if r.get("quick_cannot_settle"):
        body.append(f"<p class='unsettled'><b>--quick cannot settle this verdict.</b> {esc(r['quick_cannot_settle'])}"
                    "</p>")
        md.append(f"**--quick cannot settle this verdict.** {_md(r['quick_cannot_settle'])}\n")
    if r.get("error"):
        body.append(f"<p class='error'>{esc(r['error'])}</p>")
        md.append(f"**Error.** {_md(r['error'])}\n")
    ev = _evidence_rows(r) if r.get("evidence") else []
    if ev:
        head = "".join(f"<th class='{'text' if i < 3 else ''}'>{esc(h)}</th>" for i, h in enumerate(EVIDENCE_HEADER))
        cells = "".join("<tr>" + "".join(f"<td class='{'text' if i < 3 else ''}'>{esc(c)}</td>"
                                         for i, c in enumerate(row)) + "</tr>" for row in ev)
        body.append(f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"
                    "</div>")
        md += ["| " + " | ".join(EVIDENCE_HEADER) + " |", "|" + "---|" * len(EVIDENCE_HEADER)]
        md += ["| " + " | ".join(_md(c) for c in row) + " |" for row in ev]
    for path, caption in figures:
        if Path(path).is_file():
            body.append(f"<figure>{_img(path)}<figcaption>{esc(caption)}</figcaption></figure>")
            md.append(f"\n![{_md(caption)}]({Path(path).name})\n")
    if r.get("seconds") is not None:
        body.append(f"<p class='rule'><b>Time.</b> {esc(time_line(r))}</p>")
        md.append(f"**Time.** {_md(time_line(r))}\n")
    body.append("</section>")
    return body, md


def render(results: list[dict[str, Any]], figures: dict[str, list[tuple[Path, str]]], out: Path,
           meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``claims.html`` (self-contained), ``claims.md`` (PNGs beside it) and ``claims.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    when = stamp(meta)
    table, md_table = _verdict_table(results)
    missing, md_missing = _not_run_table(results)
    body = [f"<header><h1>The primer's claims, tested</h1><p class='meta'>{esc(when)}</p></header>",
            "<p class='lede'>Each claim of the CNN-vs-RNN primer, turned into an experiment on real offline data (or "
            "an honest generator). Verdicts are computed from the measured numbers by the rule stated under each "
            "claim; intervals are 95% over training seeds. A claim's time is its share of the training pool (in "
            "one worker's seconds; the pool runs one worker per core) plus its own step after it.</p>",
            table, *missing]
    md = [f"# The primer's claims, tested\n\n_{_md(when)}_\n", *md_table, *md_missing]
    for r in results:
        b, m = _section(r, figures.get(r["id"], []))
        body += b
        md += m
    html_path, md_path = out / "claims.html", out / "claims.md"
    html_path.write_text(PAGE.format(title="The primer's claims, tested", css=CSS + EXTRA_CSS, body="\n".join(body)),
                         encoding="utf-8")
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    (out / "claims.json").write_text(json.dumps({"claims": results, "meta": meta}, indent=1, default=str))
    return html_path, md_path


def _md(s: Any) -> str:
    from ..report.render import md_escape

    return md_escape(s)
