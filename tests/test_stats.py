"""Statistics on tiny literal numbers: intervals, paired tests, Holm, ranks with ties, Pareto fronts."""

from __future__ import annotations

import math

import pytest

from blobbotronic.compare.stats import analyze, holm, mean_ci, pair, paired_test, pareto_front, summarize, variants


def row(model: str, seed: int, acc: float, *, dataset: str = "d", seconds: float = 1.0, params: int = 100,
        h: str = "h1", version: str = "0.1.0", metric: str = "accuracy", higher: bool = True) -> dict:
    """One literal stored row, as Store.rows returns it."""
    return {"dataset": dataset, "model": model, "params_hash": h, "seed": seed, "version": version, "metric": metric,
            "higher": higher, "metrics": {metric: acc, "loss": 1 - acc}, "val_metrics": {metric: acc},
            "cost": {"train_seconds": seconds, "params": params, "peak_rss_mb": 400.0},
            "history": [{"step": 10, f"val_{metric}": acc / 2}, {"step": 20, f"val_{metric}": acc}],
            "confusion": [[5, 1], [2, 4]], "classes": ["a", "b"], "params": {}, "config": {"budget": {"steps": 20}},
            "tuned": None}


def test_mean_ci_is_a_student_t_interval():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])  # sd 1, n 3: half-width t(0.975, 2) / sqrt(3) = 4.3027 / 1.7321
    assert m == 2.0
    assert lo == pytest.approx(2 - 2.48414, abs=1e-4) and hi == pytest.approx(2 + 2.48414, abs=1e-4)
    assert mean_ci([0.7]) == (0.7, None, None)
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)


def test_paired_test_on_per_seed_differences():
    # differences 0.10, 0.09, 0.11: mean 0.1, sd 0.01, t = 17.32 on 2 degrees of freedom, p = 0.003317
    r = paired_test({0: 0.90, 1: 0.92, 2: 0.94}, {0: 0.80, 1: 0.83, 2: 0.83})
    assert r["n"] == 3 and r["diff"] == pytest.approx(0.1)
    assert r["p"] == pytest.approx(0.0033168, rel=1e-3)
    assert r["ci_low"] == pytest.approx(0.1 - 4.30265 * 0.01 / math.sqrt(3), rel=1e-4)
    # pairing matters: the same numbers unpaired would overlap, paired they are consistent
    assert paired_test({0: 0.5, 1: 0.9}, {0: 0.4, 1: 0.8})["p"] == 0.0  # identical non-zero differences
    assert paired_test({0: 0.5, 1: 0.9}, {0: 0.5, 1: 0.9})["p"] == 1.0
    # only shared seeds count; one shared seed is no test
    only = paired_test({0: 0.9, 1: 0.8, 5: 0.1}, {1: 0.7, 2: 0.3})
    assert only["n"] == 1 and only["p"] is None and only["diff"] == pytest.approx(0.1)


def test_holm_adjusts_in_order_and_keeps_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, None, 0.001]) == [pytest.approx(0.5), None, pytest.approx(0.002)]
    assert holm([0.6, 0.9]) == [pytest.approx(1.0), pytest.approx(1.0)]


def test_pareto_front_for_both_directions():
    pts = [("big", 0.95, 100.0), ("small", 0.80, 1.0), ("bad", 0.70, 50.0), ("mid", 0.90, 10.0), ("twin", 0.90, 10.0)]
    assert pareto_front(pts) == ["big", "small", "mid", "twin"]  # equal points do not dominate each other
    errors = [("a", 0.1, 10.0), ("b", 0.3, 1.0), ("c", 0.4, 5.0)]  # lower error is better
    assert pareto_front(errors, higher=False) == ["a", "b"]


def test_ranks_show_ties_where_the_evidence_does_not_separate():
    rows = []
    for s, (a, b, c) in enumerate([(0.95, 0.80, 0.79), (0.96, 0.81, 0.82), (0.94, 0.79, 0.78)]):
        rows += [row("best", s, a, seconds=5.0), row("tie1", s, b, seconds=1.0), row("tie2", s, c, seconds=2.0)]
    (an,) = analyze(rows)
    ranks = {e["model"]: e["rank"] for e in an["entries"]}
    assert ranks == {"best": 1, "tie1": 2, "tie2": 2}
    assert [e["model"] for e in an["entries"]] == ["best", "tie1", "tie2"]
    assert pair(an, "tie2", "tie1")["separated"] is False
    best_vs = pair(an, "best", "tie1")
    assert best_vs["separated"] and best_vs["better"] == "best" and best_vs["p_holm"] <= 3 * best_vs["p"]
    assert an["fronts"]["train_seconds"] == ["best", "tie1"]  # tie2 is slower than tie1 and no better
    assert set(an["entries"][0]["pareto"]) == {"train_seconds", "params", "peak_rss_mb"}
    e = an["entries"][0]
    assert e["n"] == 3 and e["mean"] == pytest.approx(0.95) and e["ci_low"] < 0.95 < e["ci_high"]


def test_lower_is_better_metrics_rank_the_other_way():
    rows = [row(m, s, v + 0.01 * s, metric="mae", higher=False) for m, v in (("good", 0.1), ("poor", 0.5))
            for s in range(3)]
    (an,) = analyze(rows)
    assert [(e["model"], e["rank"]) for e in an["entries"]] == [("good", 1), ("poor", 2)]


def test_one_seed_gives_no_interval_and_separates_nothing():
    (an,) = analyze([row("x", 0, 0.9), row("y", 0, 0.1)])
    assert all(e["rank"] == 1 and e["ci_low"] is None for e in an["entries"])
    assert an["pairs"][0]["p"] is None and not an["pairs"][0]["separated"]


def test_variants_label_settings_and_versions_apart():
    rows = [row("mlp", 0, 0.9, h="aaaaaa11"), row("mlp", 0, 0.8, h="bbbbbb22"), row("cnn", 0, 0.7),
            row("cnn", 0, 0.6, version="0.2.0")]
    labels = sorted(label for _, label in variants(rows))
    assert labels == ["cnn @0.1.0", "cnn @0.2.0", "mlp #aaaaaa", "mlp #bbbbbb"]
    by = {e["model"]: e for e in summarize(rows)}
    assert by["mlp #aaaaaa"]["mean"] == 0.9 and by["cnn @0.2.0"]["mean"] == 0.6


def test_summaries_per_data_set_and_missing_metrics():
    rows = [row("m", s, 0.5 + 0.1 * s, dataset=d) for d in ("one", "two") for s in range(2)]
    rows.append({**row("m", 2, 0.0, dataset="two"), "metrics": {"loss": 1.0}})  # no headline metric: ignored
    ans = analyze(rows)
    assert [a["dataset"] for a in ans] == ["one", "two"]
    assert ans[1]["entries"][0]["n"] == 2 and ans[1]["entries"][0]["mean"] == pytest.approx(0.55)
