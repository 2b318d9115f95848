"""render(rows, out_dir): the self-contained HTML report (plots inlined) and its Markdown twin with PNGs.

Both say the same things under the same headings. Every string that came from a user (data set names, model
labels, class names, settings) is escaped where it is written: ``html.escape`` for the page; for Markdown,
escape.md_escape (backslashes for Markdown's own markup, entities only for what would be read as HTML).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from ..compare.stats import analyze, convergence_warnings
from ..errors import BlobError
from . import peers, plots
from .escape import md_escape
from .tables import OFF_FRONT, dataset_lede, method_notes, pairs_lede, pairs_table, ranked_table, verdict
from .templates import CSS, PAGE

esc = html.escape
TEXT_HEADERS = ("Pareto front", "tuned settings")
NOT_CONVERGED = "Not converged: read the rankings below with care"
NOTES = "How these numbers were made"


def slug(name: str) -> str:
    """A file-name-safe stem for a data set (a path gets a short hash so two never collide)."""
    s = re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-")[:40] or "data"
    return s if s == name else f"{s}-{hashlib.sha256(str(name).encode()).hexdigest()[:6]}"


def curve_note(rows: list[dict[str, Any]]) -> str:
    """The learning curves' caption on convergence: which arms were still improving when they stopped."""
    late = sorted({r["model"] for r in rows if (r.get("convergence") or {}).get("converged") is False})
    known = [r for r in rows if isinstance(r.get("convergence"), dict)]
    if not known:
        return "Convergence was not recorded for these runs."
    if late:
        return f"Not converged when training stopped (curves still rising or too short): {', '.join(late)}."
    return "Every run had converged: its curve had flattened, or early stopping saw the plateau."


def figures(rows: list[dict[str, Any]], analysis: dict[str, Any],
            colours: dict[str, str]) -> list[tuple[str, bytes, str]]:
    """(file stem, PNG bytes, caption) for one data set's figures."""
    out = []
    stem = slug(analysis["dataset"])
    ds_rows = [r for r in rows if r["dataset"] == analysis["dataset"]]
    made = [
        ("curves", plots.learning_curves(ds_rows, analysis, colours),
         f"Validation {analysis['metric']} during training; each line is one seed. " + curve_note(ds_rows)),
        ("cost", plots.metric_vs_cost(analysis, colours),
         f"Test {analysis['metric']} (mean, 95% interval) against cost; "
         "dashed line and large points: the Pareto front."),
        ("confusion", plots.confusion_matrices(ds_rows, analysis),
         "Confusion matrices of the best model and the runner-up on the test split, summed over seeds."),
    ]
    for kind, fig, caption in made:
        if fig is not None:
            out.append((f"{stem}-{kind}", plots.png(fig), caption))
    return out


# ---- HTML ---------------------------------------------------------------------------------------------


def _table_html(header: list[str], rows: list[list[str]], cls: str, text_cols: set[int], first_row: bool = False,
                extra: dict[tuple[int, int], str] | None = None) -> str:
    th = "".join(f'<th class="{"text" if i in text_cols else ""}{" rank" if h == "rank" else ""}">{esc(h)}</th>'
                 for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        tds = []
        for c, cell in enumerate(row):
            klass = "model" if header[c] in ("model", "comparison") else ("rank" if header[c] == "rank" else
                                                                           ("text" if c in text_cols else ""))
            inner = (extra or {}).get((r, c), esc(cell))
            tds.append(f'<td class="{klass}">{inner}</td>')
        tr_cls = ' class="first"' if first_row and row[0] == "1" else ""
        body.append(f"<tr{tr_cls}>{''.join(tds)}</tr>")
    return (f'<div class="table-wrap"><table class="{cls}"><thead><tr>{th}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _interval_cells(analysis: dict[str, Any], rows: list[list[str]], col: int) -> dict[tuple[int, int], str]:
    """The 95% interval column drawn as a small forest plot on a common scale, its numbers beside it."""
    es = analysis["entries"]
    lows = [e["ci_low"] if e["ci_low"] is not None else e["mean"] for e in es]
    highs = [e["ci_high"] if e["ci_high"] is not None else e["mean"] for e in es]
    lo, hi = min(lows), max(highs)
    pad = (hi - lo) * 0.05 or 1e-9
    lo, hi = lo - pad, hi + pad
    pos = lambda v: 100 * (v - lo) / (hi - lo)  # noqa: E731
    out = {}
    for i, e in enumerate(es):
        width = max(0.8, pos(highs[i]) - pos(lows[i]))
        band = f'<span class="band" style="left:{pos(lows[i]):.1f}%;width:{width:.1f}%"></span>'
        dot = f'<span class="dot" style="left:{pos(e["mean"]):.1f}%"></span>'
        out[(i, col)] = (f'<span class="track" aria-hidden="true">{band}{dot}</span>'
                         f'<span class="ci">{esc(rows[i][col])}</span>')
    return out


def _pareto_cells(rows: list[list[str]], col: int) -> dict[tuple[int, int], str]:
    off = f'<span class="off">{esc(OFF_FRONT)}</span>'
    return {(i, col): f'<span class="front">★ {esc(r[col].replace(", ", " · "))}</span>'
            if r[col] not in ("", OFF_FRONT) else off for i, r in enumerate(rows)}


def classes_of(rows: list[dict[str, Any]], dataset: str, limit: int = 24) -> str:
    """The data set's class names in one line (empty for regression), cut after ``limit``."""
    classes = next((r.get("classes") for r in rows if r["dataset"] == dataset and r.get("classes")), None)
    if not classes:
        return ""
    more = f", … ({len(classes)} in all)" if len(classes) > limit else ""
    return f"{len(classes)} classes: " + ", ".join(map(str, classes[:limit])) + more


def skipped_of(rows: list[dict[str, Any]], dataset: str) -> str:
    """'N unreadable files skipped: ...' when --skip-bad left files of the data set out, else ''."""
    from ..data.bad_files import skipped_line

    info = next(((r.get("config") or {}).get("data") for r in rows
                 if r["dataset"] == dataset and (r.get("config") or {}).get("data")), None)
    return skipped_line(info)


def _classes_html(rows: list[dict[str, Any]], dataset: str) -> str:
    lines = [line for line in (classes_of(rows, dataset), skipped_of(rows, dataset)) if line]
    return "".join(f'<p class="classes">{esc(line)}</p>' for line in lines)


def _dataset_html(rows: list[dict[str, Any]], a: dict[str, Any], figs: list) -> str:
    """One data set's section: heading, what was run, classes, ranked table, paired comparisons, figures."""
    header, trows = ranked_table(a)
    extra = {**_interval_cells(a, trows, 3), **_pareto_cells(trows, header.index("Pareto front"))}
    sec = [f'<section class="dataset"><h2>{esc(a["dataset"])}</h2><p class="lede">{esc(dataset_lede(a))}.</p>',
           _classes_html(rows, a["dataset"]),
           _table_html(header, trows, "ranked", {1, *(i for i, h in enumerate(header) if h in TEXT_HEADERS)},
                       first_row=True, extra=extra)]
    if a["pairs"]:
        ph, prows = pairs_table(a)
        sec.append(f"<details open><summary><h3>Paired comparisons</h3> ({esc(pairs_lede(a))})</summary>"
                   + _table_html(ph, prows, "pairs", {0, 5, 6}) + "</details>")
    for _, data, caption in figs:
        b64 = base64.b64encode(data).decode("ascii")
        sec.append(f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{b64}">'
                   f"<figcaption>{esc(caption)}</figcaption></figure>")
    return "".join(sec) + "</section>"


def _html(rows: list[dict[str, Any]], analyses: list[dict[str, Any]], figs: dict[str, list], meta: str,
          title: str, side: dict[str, Any] | None = None, picked: str = "") -> str:
    parts = [f"<header><h1>{esc(title)}</h1><p class=\"meta\">{esc(meta)}</p></header>"]
    warnings = convergence_warnings(rows)
    if warnings:  # before any ranking: an arm that had not converged is ranked on an unfinished run
        parts.append(f'<section class="warning"><h2>{esc(NOT_CONVERGED)}</h2>'
                     + "".join(f"<p>{esc(w)}</p>" for w in warnings) + "</section>")
    parts.append('<section class="verdict"><h2>Verdict</h2>' + "".join(f"<p>{esc(verdict(a))}</p>" for a in analyses)
                 + "</section>")
    parts += [_dataset_html(rows, a, figs[a["dataset"]]) for a in analyses]
    parts.append(peers.html(side))
    chosen = f'<p class="chosen">{esc(picked)}</p>' if picked else ""
    notes = "".join(f"<li>{esc(n)}</li>" for n in method_notes(analyses))
    parts.append(f'<footer><h2>{esc(NOTES)}</h2>{chosen}<ul class="notes">{notes}</ul></footer>')
    return PAGE.format(title=esc(title), css=CSS, body="\n".join(p for p in parts if p))


# ---- Markdown -----------------------------------------------------------------------------------------


def _table_md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _dataset_md(rows: list[dict[str, Any]], a: dict[str, Any], figs: list) -> list[str]:
    """One data set's section, as in the HTML (its verdict is said once, under "Verdict")."""
    out = [f"## {md_escape(a['dataset'])}", "", md_escape(dataset_lede(a)) + ".", ""]
    for line in (classes_of(rows, a["dataset"]), skipped_of(rows, a["dataset"])):
        if line:
            out += [md_escape(line), ""]
    out += [_table_md(*ranked_table(a)), ""]
    if a["pairs"]:
        out += ["### Paired comparisons", "", md_escape(pairs_lede(a)) + ".", "", _table_md(*pairs_table(a)), ""]
    for stem, _, caption in figs:
        out += [f"![{md_escape(caption)}]({stem}.png)", "", md_escape(caption), ""]
    return out


def _markdown(rows: list[dict[str, Any]], analyses: list[dict[str, Any]], figs: dict[str, list], meta: str,
              title: str, side: dict[str, Any] | None = None, picked: str = "") -> str:
    out = [f"# {md_escape(title)}", "", f"_{md_escape(meta)}_", ""]
    warnings = convergence_warnings(rows)
    if warnings:  # before any ranking, as in the HTML
        out += [f"## {md_escape(NOT_CONVERGED)}", ""] + [f"- {md_escape(w)}" for w in warnings] + [""]
    out += ["## Verdict", ""]
    out += [md_escape(verdict(a)) + "\n" for a in analyses]
    for a in analyses:
        out += _dataset_md(rows, a, figs[a["dataset"]])
    out += [peers.markdown(side)] if side else []
    out += [f"## {md_escape(NOTES)}", ""] + ([md_escape(picked), ""] if picked else [])
    out += [f"- {md_escape(n)}" for n in method_notes(analyses)]
    return "\n".join(out) + "\n"


# ---- the entry point ------------------------------------------------------------------------------


def render(rows: list[dict[str, Any]], out_dir: str | Path, store: str | Path | None = None,
           title: str | None = None, chosen: list[tuple[str, str]] | None = None) -> Path:
    """Write report.html (self-contained), report.md and the PNG figures into ``out_dir``; return the HTML path.
    ``chosen``: (model, why) when the comparison was given no models and ran the default set."""
    if not rows:
        raise BlobError("There are no finished runs to report on: run `blobbotronic compare` first, or point "
                        "--store at the results file it wrote.")
    from .. import __version__

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    analyses = analyze(rows)
    colours = plots.colours_for(analyses)
    figs = {a["dataset"]: figures(rows, a, colours) for a in analyses}
    for items in figs.values():
        for stem, data, _ in items:
            (out / f"{stem}.png").write_bytes(data)
    models = {e["model"] for a in analyses for e in a["entries"]}
    title = title or (f"blobbotronic report: {len(models)} model{'s' if len(models) != 1 else ''} on "
                      f"{len(analyses)} data set{'s' if len(analyses) != 1 else ''}")
    meta = (f"{len(rows)} runs · store {store or 'in memory'} · blobbotronic {__version__} · "
            f"written {datetime.now().strftime('%Y-%m-%d %H:%M')}")
    side = peers.load(out.parent / peers.PEERS_FILE.name)  # bench/peers.py's rows, if written beside
    picked = "No models were named, so the default set for this data ran: " + "; ".join(
        f"{m} ({why})" for m, why in chosen or []) + "." if chosen else ""
    (out / "report.md").write_text(_markdown(rows, analyses, figs, meta, title, side, picked), encoding="utf-8")
    path = out / "report.html"
    path.write_text(_html(rows, analyses, figs, meta, title, side, picked), encoding="utf-8")
    return path
