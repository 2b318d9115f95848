"""The report says what it cannot claim: arms that had not converged come first, each arm's steps and budget
are its own, the interval method is stated, and pairs that are not separated say why and what would separate
them. Hand-made rows (tests/test_stats.py's ``row``), no training."""

from __future__ import annotations

import re

import pytest

from blobbotronic.compare.stats import analyze, convergence_warnings, summary_records
from blobbotronic.report import render
from blobbotronic.report.tables import method_notes, pairs_table, ranked_table

from .test_stats import row


def conv(converged: bool, best: int = 380, steps: int = 400, budget: str | None = None) -> dict:
    return {"best_step": best, "steps": steps, "checks": 20, "improving": not converged, "converged": converged,
            "suggested_budget": budget if budget is not None else (None if converged else f"{2 * steps} steps")}


def grid() -> list[dict]:
    """On 'digits': cnn (3 seeds, two of them not converged, one of those trained longer), mlp (converged),
    and on 'old': an arm from before the convergence check."""
    rows = []
    for s, (acc, c, steps) in enumerate([(0.91, conv(False, 390, 400), 400), (0.93, conv(True, 250, 400), 400),
                                         (0.92, conv(False, 590, 600, "1200 steps"), 600)]):
        rows.append({**row("cnn", s, acc, dataset="digits"), "convergence": c,
                     "cost": {"train_seconds": 2.0, "params": 500, "peak_rss_mb": 400.0, "steps": steps},
                     "config": {"budget": {"steps": 400}}, "stopped": "budget"})
    for s, acc in enumerate([0.85, 0.95, 0.86]):
        rows.append({**row("mlp", s, acc, dataset="digits"), "convergence": conv(True, 120 + 10 * s, 200 + 20 * s),
                     "cost": {"train_seconds": 1.0, "params": 100, "peak_rss_mb": 400.0, "steps": 200 + 20 * s},
                     "config": {"budget": {"epochs": 30}}, "stopped": "early"})
    for s, acc in enumerate([0.7, 0.72, 0.71]):
        rows.append({**row("logistic", s, acc, dataset="old"), "cost": {"train_seconds": 1.0, "params": 10}})
    return rows


def test_convergence_warnings_name_the_arm_its_seeds_and_a_budget():
    (w,) = convergence_warnings(grid())
    assert w.startswith("cnn on digits had not converged in 2 of 3 seeds")
    assert "best validation check at step 390–590 of 400–600; still improving" in w
    assert "1200 steps" in w and "800 steps" not in w  # the larger of the two suggestions
    assert convergence_warnings([r for r in grid() if r["model"] != "cnn"]) == []  # converged or unknown: silent


def test_each_arm_shows_its_best_step_and_whether_it_converged():
    rows = grid()
    ans = analyze(rows)
    by = {(a["dataset"], e["model"]): e for a in ans for e in a["entries"]}
    assert by[("digits", "cnn")]["converged"] is False and by[("digits", "mlp")]["converged"] is True
    assert by[("old", "logistic")]["converged"] is None and by[("old", "logistic")]["best_step"] is None
    assert by[("digits", "mlp")]["best_step"] == 130
    recs = {(r["dataset"], r["model"]): r for r in summary_records(ans)}
    assert recs[("digits", "cnn")]["converged"] is False and recs[("digits", "cnn")]["best_step"] == 410
    assert recs[("old", "logistic")]["converged"] is None
    digits = next(a for a in ans if a["dataset"] == "digits")
    header, trows = ranked_table(digits)
    cells = {r[header.index("model")]: r for r in trows}
    assert cells["cnn"][header.index("converged")] == "no (2 of 3 seeds)"
    assert cells["mlp"][header.index("converged")] == "yes" and cells["mlp"][header.index("best step")] == "130"
    steps = header.index("steps")
    assert cells["cnn"][steps] == "467 (400–600)" and cells["mlp"][steps] == "220 (200–240)"
    old = next(a for a in ans if a["dataset"] == "old")
    header, trows = ranked_table(old)
    assert trows[0][header.index("converged")] == "unknown" and trows[0][header.index("best step")] == "unknown"


def test_method_notes_give_each_arms_steps_and_budget_and_the_interval_method():
    notes = method_notes(analyze(grid()))
    text = " ".join(notes)
    assert "same budget" not in text
    assert "cnn 467 (400–600) steps (allowed 400 steps)" in text
    assert "mlp 220 (200–240) steps (allowed 30 epochs; 3 of 3 stopped early)" in text
    assert "logistic steps not recorded" in text
    assert "Wilson" in text and "test set" in text and "Student's t" in text


def test_pairs_that_are_not_separated_say_why_and_how_many_seeds_would():
    (an,) = analyze([{**r, "confusion": None} for r in grid() if r["dataset"] == "digits"])
    header, prows = pairs_table(an)
    (p,) = prows
    assert p[header.index("verdict")] == "not separated"
    why = p[header.index("why not separated")]
    assert "includes 0 with 3 seeds" in why and re.search(r"about \d+ seeds would be needed", why)


def test_the_report_warns_before_any_ranking_in_html_and_markdown(tmp_path):
    path = render(grid(), tmp_path / "rep")
    page = path.read_text()
    md = (tmp_path / "rep" / "report.md").read_text()
    for text, verdict, table in ((page, "<h2>Verdict</h2>", '<table class="ranked"'), (md, "## Verdict", "| rank |")):
        warn = text.index("Not converged")
        assert warn < text.index(verdict) and warn < text.index(table)
        assert "cnn on digits had not converged in 2 of 3 seeds" in text and "1200 steps" in text
        assert "no (2 of 3 seeds)" in text and "unknown" in text
        assert "would be needed" in text  # pair statements where pairs are shown
    assert "How these numbers were made" in md and "allowed 400 steps" in md and "same budget" not in md


def test_no_warning_when_every_arm_converged(tmp_path):
    rows = [r for r in grid() if r["model"] == "mlp"]
    page = render(rows, tmp_path / "rep").read_text()
    assert "Not converged" not in page and "Not converged" not in (tmp_path / "rep" / "report.md").read_text()


@pytest.mark.parametrize("seeds", [1, 2])
def test_few_seeds_never_give_an_interval_outside_zero_one(seeds):
    rows = [{**row(m, s, v), "outcomes": "1" * int(v * 20) + "0" * (20 - int(v * 20)), "confusion": [[20, 0], [0, 0]]}
            for m, vs in (("a", (0.95, 0.35)), ("b", (1.0, 0.1))) for s, v in enumerate(vs[:seeds])]
    (an,) = analyze(rows)
    for e in an["entries"]:
        assert 0.0 <= e["ci_low"] <= e["mean"] <= e["ci_high"] <= 1.0
    for p in an["pairs"]:
        assert p["p"] is None or p["p"] > 1e-3
