"""The report reads the same in HTML and Markdown (issue 28): the Markdown twin is plain text (no HTML
entities such as ``&lt; 0.001``), each verdict is said once, arms of one model are named by the settings that
set them apart (``mlp (budget 50 steps)``, not ``mlp #e90b50``), and both formats have the same sections and
the same numbers. Hand-made rows (tests/test_stats.py's ``row``), no training."""

from __future__ import annotations

import html
import json
import re

from blobbotronic.compare.stats import analyze, variants
from blobbotronic.report import render
from blobbotronic.report.escape import md_escape
from blobbotronic.report.tables import ranked_table, verdict

from .test_report_honesty import conv
from .test_stats import row

HASH_NAME = re.compile(r"#[0-9a-f]{6}")


def arm(model: str, seed: int, acc: float, h: str, steps: int, lr: float = 0.01, **kw) -> dict:
    """A stored row whose settings are those Store.rows gives: resolved model parameters and training config."""
    return {**row(model, seed, acc, h=h, **kw), "confusion": None, "params": {"hidden": 100, "depth": 2},
            "config": {"budget": {"steps": steps}, "lr": lr, "batch_size": 16, "schedule": "cosine"}}


def grid() -> list[dict]:
    """On 'xor': mlp at 50 and at 200 steps (nothing else differs), a logistic far below both (a pair with
    p < 0.001), the 50-step arm not converged (the warning section); on 'spiral': mlp at two learning rates."""
    rows = []
    for s in range(5):
        short, long = arm("mlp", s, 0.80 + 0.01 * s, "e90b50aa11", 50, dataset="xor"), \
            arm("mlp", s, 0.95 + 0.005 * s, "542871bb22", 200, dataset="xor")
        rows.append({**short, "convergence": conv(False, 48, 50)})
        rows.append({**long, "convergence": conv(True, 150, 200)})
        rows.append({**arm("logistic", s, 0.30 + 0.01 * s, "186f90cc33", 50, dataset="xor"), "params": {}})
        rows.append(arm("mlp", s, 0.7 + 0.01 * s, "aaaaaa0001", 100, lr=0.01, dataset="spiral"))
        rows.append(arm("mlp", s, 0.6 + 0.01 * s, "bbbbbb0002", 100, lr=0.1, dataset="spiral"))
    return rows


def write(tmp_path, rows=None) -> tuple[str, str]:
    """Render with a peers file beside the report folder and a default model set, so every section appears."""
    peers = {"rows": [{"dataset": "xor", "tool": "tsai", "model": "FCN", "accuracy": 0.5, "wall_seconds": 1.0}],
             "meta": {"date": "today", "cpus": 2}}
    (tmp_path / "peers.json").write_text(json.dumps(peers))
    path = render(rows or grid(), tmp_path / "report", chosen=[("mlp", "a baseline"), ("logistic", "the floor")])
    return path.read_text(encoding="utf-8"), (tmp_path / "report" / "report.md").read_text(encoding="utf-8")


def test_markdown_escaping_keeps_comparisons_plain_and_markup_out():
    assert md_escape("p < 0.001; a & b; x > y") == "p < 0.001; a & b; x > y"
    assert md_escape("<b>d&d</b> a|b") == "&lt;b&gt;d&d&lt;/b&gt; a\\|b"  # what a renderer would read as HTML
    assert md_escape("&lt;") == "&amp;lt;"  # a literal entity in a name stays literal


def test_markdown_has_no_html_entities_and_says_p_below_as_the_page_does(tmp_path):
    page, md = write(tmp_path)
    for entity in ("&lt;", "&gt;", "&amp;", "&#x27;", "&quot;"):
        assert entity not in md, entity
    assert "< 0.001" in md and "&lt; 0.001" in page  # the pairs table: the same words, each in its own markup
    assert "p < 0.05" in md and "p &lt; 0.05" in page  # the method notes


def test_each_verdict_is_said_once_in_each_format(tmp_path):
    page, md = write(tmp_path)
    analyses = analyze(grid())
    assert len(analyses) == 2
    for a in analyses:
        text = verdict(a)
        assert md.count(md_escape(text)) == 1 and page.count(html.escape(text)) == 1
        assert md.count(md_escape(text)) == 1 and md.index("## Verdict") < md.index(md_escape(text))


def test_arms_that_differ_only_in_budget_or_lr_are_named_by_that_setting(tmp_path):
    labels = {label for _, label in variants(grid())}
    assert {"mlp (budget 50 steps)", "mlp (budget 200 steps)", "mlp (lr=0.01)", "mlp (lr=0.1)", "logistic"} == labels
    page, md = write(tmp_path)
    for text in (page, md):
        assert "mlp (budget 50 steps)" in text and "mlp (budget 200 steps)" in text and "mlp (lr=0.1)" in text
        assert not HASH_NAME.search(re.sub(r"<style>.*?</style>", "", text, flags=re.S))  # CSS colours aside


def test_arms_the_settings_cannot_tell_apart_keep_a_hash_and_a_version_suffix():
    rows = [{**arm("mlp", 0, 0.9, "aaaaaa11", 50), "params": {}, "config": {}},
            {**arm("mlp", 0, 0.8, "bbbbbb22", 50), "params": {}, "config": {}},
            {**arm("cnn", 0, 0.7, "cccccc33", 50), "version": "0.2.0"},
            {**arm("cnn", 0, 0.6, "dddddd44", 200), "version": "0.1.0"}]
    labels = sorted(label for _, label in variants(rows))
    assert labels == ["cnn (budget 200 steps) @0.1.0", "cnn (budget 50 steps) @0.2.0", "mlp #aaaaaa", "mlp #bbbbbb"]


def headings_html(page: str) -> list[str]:
    found = re.findall(r"<h([1-3])[^>]*>(.*?)</h\1>", page, flags=re.S)
    return [f"{level} {html.unescape(re.sub(r'<[^>]+>', '', text)).strip()}" for level, text in found]


def headings_md(md: str) -> list[str]:
    found = re.findall(r"^(#{1,3}) (.+)$", md, flags=re.M)
    unescape = re.compile(r"\\(.)")  # Markdown's backslash escapes
    return [f"{len(hashes)} " + unescape.sub(r"\1", text).strip() for hashes, text in found]


def test_both_formats_have_the_same_sections_in_the_same_order(tmp_path):
    page, md = write(tmp_path)
    ours = headings_html(page)
    assert ours == headings_md(md)
    assert {"2 Verdict", "2 xor", "2 spiral", "3 Paired comparisons", "2 Peers, side by side",
            "2 How these numbers were made"} <= set(ours) and any(h.startswith("2 Not converged") for h in ours)
    chosen = "No models were named, so the default set for this data ran: mlp (a baseline); logistic (the floor)."
    for text in (page[page.index("<footer>"):], md[md.index("## How these numbers"):]):
        assert chosen in text  # the same place in both: under how the numbers were made


def test_both_formats_show_the_same_numbers_in_the_ranked_table(tmp_path):
    page, md = write(tmp_path)
    visible = re.sub(r'title="[^"]*"', "", page)  # a tooltip is not text on the page
    for a in analyze(grid()):
        header, trows = ranked_table(a)
        lede = f"{len(a['entries'])} models, 5 seeds each, {5 * len(a['entries'])} runs, ranked by test accuracy."
        assert lede in md and lede in page
        for r in trows:
            md_row = "| " + " | ".join(md_escape(c) for c in r) + " |"
            assert md_row in md
            for c, cell in enumerate(r):
                if header[c] != "Pareto front":  # drawn as '★ time · params' on the page
                    assert f">{html.escape(cell)}<" in visible, (header[c], cell)
