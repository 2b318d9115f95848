"""The claims report: a one-screen verdict table, then a section per claim with its evidence and plots."""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ..report.templates import CSS, PAGE

esc = html.escape
BADGE = {"supported": "#1b7f3b", "refuted": "#b42318", "mixed": "#b54708", "error": "#616e7c"}
EXTRA_CSS = """
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; color: white; font-size: 12px; font-weight: 600; }
table.verdicts td { white-space: normal; text-align: left; vertical-align: top; }
table.verdicts td.key { font-size: 12.5px; color: #3e4c59; }
section.claim { background: white; border: 1px solid var(--line); border-radius: 10px; padding: 6px 20px 18px;
  margin-top: 22px; }
section.claim p.claimline { font-size: 16px; font-style: italic; margin: 6px 0 8px; }
.rule { color: var(--muted); font-size: 13px; }
.error { color: #b42318; }
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


def render(results: list[dict[str, Any]], figures: dict[str, list[tuple[Path, str]]], out: Path,
           meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``claims.html`` (self-contained) and ``claims.md`` (PNGs beside it) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = f"{meta.get('mode')} mode, {meta.get('seconds', 0):.0f} s, blobbotronic {meta.get('version')}, " \
            f"{datetime.now():%Y-%m-%d %H:%M}"
    rows = "".join(
        f"<tr><td><a href='#{esc(r['id'])}'>{esc(r['id'])}</a></td><td>{_verdict_badge(r['verdict'])}</td>"
        f"<td class='key'>{esc(r['key'])}</td></tr>" for r in results)
    body = [f"<header><h1>The primer's claims, tested</h1><p class='meta'>{esc(stamp)}</p></header>",
            "<p class='lede'>Each claim of the CNN-vs-RNN primer, turned into an experiment on real offline data (or "
            "an honest generator). Verdicts are computed from the measured numbers by the rule stated under each "
            "claim; intervals are 95% over training seeds.</p>",
            f"<div class='table-wrap'><table class='verdicts'><thead><tr><th class='text'>claim</th>"
            f"<th class='text'>verdict</th><th class='text'>the key number</th></tr></thead><tbody>{rows}"
            "</tbody></table></div>"]
    md = [f"# The primer's claims, tested\n\n_{_md(stamp)}_\n", "| claim | verdict | the key number |", "|---|---|---|"]
    md += [f"| {_md(r['id'])} | **{_md(r['verdict'])}** | {_md(r['key'])} |" for r in results]
    for r in results:
        body.append(f"<section class='claim' id='{esc(r['id'])}'><h2>{esc(r['id'])} {_verdict_badge(r['verdict'])}</h2>")
        body.append(f"<p class='claimline'>{esc(r['claim'])}</p><p><b>Experiment.</b> {esc(r.get('experiment', ''))}</p>")
        body.append(f"<p><b>Result.</b> {esc(r['key'])}</p><p class='rule'><b>Rule.</b> {esc(r['rule'])}</p>")
        md += [f"\n## {_md(r['id'])}: {_md(r['verdict'])}\n", f"*{_md(r['claim'])}*\n",
               f"**Experiment.** {_md(r.get('experiment', ''))}\n",
               f"**Result.** {_md(r['key'])}\n", f"**Rule.** {_md(r['rule'])}\n"]
        if r.get("error"):
            body.append(f"<p class='error'>{esc(r['error'])}</p>")
            md.append(f"**Error.** {_md(r['error'])}\n")
        ev = _evidence_rows(r) if r.get("evidence") else []
        if ev:
            head = "".join(f"<th class='{'text' if i < 3 else ''}'>{esc(h)}</th>" for i, h in enumerate(EVIDENCE_HEADER))
            cells = "".join("<tr>" + "".join(f"<td class='{'text' if i < 3 else ''}'>{esc(c)}</td>"
                                             for i, c in enumerate(row)) + "</tr>" for row in ev)
            body.append(f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table></div>")
            md += ["| " + " | ".join(EVIDENCE_HEADER) + " |", "|" + "---|" * len(EVIDENCE_HEADER)]
            md += ["| " + " | ".join(_md(c) for c in row) + " |" for row in ev]
        for path, caption in figures.get(r["id"], []):
            if Path(path).is_file():
                body.append(f"<figure>{_img(path)}<figcaption>{esc(caption)}</figcaption></figure>")
                md.append(f"\n![{_md(caption)}]({Path(path).name})\n")
        body.append("</section>")
    html_path, md_path = out / "claims.html", out / "claims.md"
    html_path.write_text(PAGE.format(title="The primer's claims, tested", css=CSS + EXTRA_CSS, body="\n".join(body)),
                         encoding="utf-8")
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    (out / "claims.json").write_text(json.dumps({"claims": results, "meta": meta}, indent=1, default=str))
    return html_path, md_path


def _md(s: Any) -> str:
    from ..report.render import md_escape

    return md_escape(s)
