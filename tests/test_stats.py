"""Statistics: intervals that count seeds and the test set's size and stay in range, paired tests that cannot
claim more than the runs show (checked on simulated predictions with known accuracies), Holm, ranks with ties,
Pareto fronts, and the per-example outcomes every classification run stores."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest

from blobbotronic.compare import stats
from blobbotronic.compare.stats import analyze, holm, interval, mean_ci, pair, paired_test, summarize, variants


def row(model: str, seed: int, acc: float, *, dataset: str = "d", seconds: float = 1.0, params: int = 100,
        h: str = "h1", version: str = "0.1.0", metric: str = "accuracy", higher: bool = True) -> dict:
    """One literal stored row, as Store.rows returns it."""
    return {"dataset": dataset, "model": model, "params_hash": h, "seed": seed, "version": version, "metric": metric,
            "higher": higher, "metrics": {metric: acc, "loss": 1 - acc}, "val_metrics": {metric: acc},
            "cost": {"train_seconds": seconds, "params": params, "peak_rss_mb": 400.0},
            "history": [{"step": 10, f"val_{metric}": acc / 2}, {"step": 20, f"val_{metric}": acc}],
            "confusion": [[5, 1], [2, 4]], "classes": ["a", "b"], "params": {}, "config": {"budget": {"steps": 20}},
            "tuned": None}


def scored(model: str, seed: int, right: np.ndarray, **kw) -> dict:
    """A classification row whose accuracy and stored outcomes come from one seed's right/wrong per example."""
    right = np.asarray(right, dtype=bool)
    n = len(right)
    wrong = n - int(right.sum())
    return {**row(model, seed, float(right.mean()), **kw), "confusion": [[int(right.sum()), wrong], [0, 0]],
            "outcomes": (right.astype(np.uint8) + 48).tobytes().decode("ascii")}


# ---- simulated predictions with known accuracies -------------------------------------------------------------

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)


def true_accuracy(mu: float, tau: float, seed_sd: float, flip_sd: float) -> float:
    """A model's accuracy over the whole population of examples and seeds: P(right) = sigmoid(mu + tau x difficulty
    + seed effect + per-example noise), all normal, so the mean is one Gauss-Hermite integral."""
    s = math.sqrt(tau * tau + seed_sd * seed_sd + flip_sd * flip_sd)
    return float(np.sum(_GH_W / math.sqrt(2 * math.pi) / (1 + np.exp(-(mu + s * _GH_X)))))


def simulate(rng: np.random.Generator, n: int, seeds: int, models: dict[str, float], *, tau: float = 1.5,
             shared: float = 0.6, seed_sd: float = 0.05, flip_sd: float = 0.3, dataset: str = "sim") -> list[dict]:
    """Rows of a comparison on one test set of ``n`` examples drawn from a population. Each model finds each
    example hard to a degree that is partly shared with the other models (correlation ``shared``); each seed
    shifts a model's logit by N(0, seed_sd) and each (example, seed) by N(0, flip_sd)."""
    common = rng.normal(size=n)
    rows = []
    for name, mu in models.items():
        own = shared * common + math.sqrt(1 - shared * shared) * rng.normal(size=n)
        for s in range(seeds):
            logit = mu + tau * own + rng.normal(0, seed_sd) + rng.normal(0, flip_sd, n)
            rows.append(scored(name, s, rng.random(n) < 1 / (1 + np.exp(-logit)), dataset=dataset))
    return rows


def test_intervals_reach_their_nominal_coverage_where_a_t_interval_over_seeds_does_not():
    """300 simulated comparisons (two models, 5 seeds, 400 test examples, known true accuracies): the intervals
    of each model and of their difference cover the truth about 95% of the time; Student's t over seeds alone,
    which ignores that every seed is scored on the same finite test set, falls well short."""
    rng = np.random.default_rng(20240601)
    mus = {"a": 1.5, "b": 1.2}
    truth = {m: true_accuracy(mu, 1.5, 0.05, 0.3) for m, mu in mus.items()}
    hit_model = hit_pair = old_model = old_pair = 0
    runs = 300
    for _ in range(runs):
        (an,) = analyze(simulate(rng, 400, 5, mus))
        for e in an["entries"]:
            hit_model += e["ci_low"] <= truth[e["model"]] <= e["ci_high"]
            _, lo, hi = mean_ci(e["values"].values())  # the old method: Student's t over seeds
            old_model += lo <= truth[e["model"]] <= hi
        p = pair(an, "a", "b")
        true_diff = truth[p["a"]] - truth[p["b"]]
        hit_pair += p["ci_low"] <= true_diff <= p["ci_high"]
        by = {e["model"]: e["values"] for e in an["entries"]}
        _, lo, hi = mean_ci([by[p["a"]][s] - by[p["b"]][s] for s in range(5)])
        old_pair += lo <= true_diff <= hi
    cover_model, cover_pair = hit_model / (2 * runs), hit_pair / runs
    print(f"coverage: models {cover_model:.3f} (t over seeds {old_model / (2 * runs):.3f}), "
          f"differences {cover_pair:.3f} (t over seeds {old_pair / runs:.3f})")
    assert 0.92 <= cover_model <= 0.99
    assert 0.92 <= cover_pair <= 0.99
    assert old_model / (2 * runs) < 0.90 and old_pair / runs < 0.90  # the scenario is one where the old one fails


def test_coverage_holds_with_three_seeds_and_a_large_seed_effect():
    """Where the seeds, not the test set, make most of the variation (3 seeds, 2000 examples), the seed part with
    its t quantile on 2 degrees of freedom keeps the coverage; a test-set-only interval would not."""
    rng = np.random.default_rng(7)
    mus = {"a": 1.0, "b": 1.0}
    truth = true_accuracy(1.0, 1.5, 0.4, 0.3)
    hit = hit_pair = 0
    runs = 150
    for _ in range(runs):
        (an,) = analyze(simulate(rng, 2000, 3, mus, seed_sd=0.4))
        hit += sum(e["ci_low"] <= truth <= e["ci_high"] for e in an["entries"])
        p = an["pairs"][0]
        hit_pair += p["ci_low"] <= 0.0 <= p["ci_high"]
    print(f"coverage with 3 seeds: models {hit / (2 * runs):.3f}, differences {hit_pair / runs:.3f}")
    assert 0.90 <= hit / (2 * runs) <= 0.995 and 0.90 <= hit_pair / runs <= 0.995


def test_a_real_difference_on_a_big_test_set_with_five_seeds_is_separated():
    rng = np.random.default_rng(3)
    rows = simulate(rng, 5000, 5, {"cnn": 2.3, "mlp": 1.7})  # about 0.83 against 0.76
    (an,) = analyze(rows)
    p = pair(an, "cnn", "mlp")
    assert p["separated"] and p["better"] == "cnn" and p["p_holm"] < 1e-3 and p["why"] is None
    assert [e["model"] for e in an["entries"]] == ["cnn", "mlp"] and [e["rank"] for e in an["entries"]] == [1, 2]
    assert p["n_test"] == 5000 and all(e["n_test"] == 5000 for e in an["entries"])


def test_the_same_per_seed_differences_on_a_small_test_set_are_not_separated():
    """Five seeds, cnn 4-6 points ahead on each, steady: a t-test over seeds says p < 0.001. But the test set has
    100 examples and the two disagree on 45 of them, so the test set alone could make such a gap."""
    rows = []
    for s in range(5):
        a, b = np.zeros(100, bool), np.zeros(100, bool)
        a[:80], b[25:100] = True, True
        a[[80, 81, 85][: s % 3]] = True  # 80, 81 or 82 right against 75: differences 0.05-0.07
        rows += [scored("cnn", s, a), scored("mlp", s, b)]
    (an,) = analyze(rows)
    p = pair(an, "cnn", "mlp")
    seed_only = paired_test(an["entries"][0]["values"], an["entries"][1]["values"])
    assert seed_only["p"] < 1e-3  # what the old method said
    assert not p["separated"] and p["ci_low"] < 0 < p["ci_high"] and "test set" in p["why"]


# ---- never outside the range, never a certainty from nothing --------------------------------------------------


def test_bounded_intervals_stay_inside_zero_and_one_at_the_edges():
    for value, char in ((1.0, "1"), (0.0, "0")):
        rows = [{**row("m", s, value), "outcomes": char * 50, "confusion": [[50, 0], [0, 0]]} for s in range(3)]
        (e,) = summarize(rows)
        assert 0.0 <= e["ci_low"] < e["ci_high"] <= 1.0  # never zero width, never outside
        assert (e["ci_high"] == 1.0 and e["ci_low"] > 0.9) if value else (e["ci_low"] == 0.0 and e["ci_high"] < 0.1)
    # one seed, all right on 100: Wilson's [n / (n + z^2), 1], marked as the test set only
    one = interval([1.0], bounds=(0, 1), n_test=100)
    assert one["ci_low"] == pytest.approx(100 / (100 + 1.984**2), abs=2e-3) and one["ci_high"] == 1.0
    assert "seed-to-seed variation not measured" in one["method"] and not one["seeds_measured"]
    # two seeds far apart (compare --seeds 2 printed [-1.507, 2.729] for such): inside [0, 1] all the same
    rng = np.random.default_rng(0)
    apart = [scored("m", 0, rng.random(20) < 0.2), scored("m", 1, rng.random(20) < 0.9)]
    (e,) = summarize(apart)
    assert 0.0 <= e["ci_low"] <= e["mean"] <= e["ci_high"] <= 1.0
    # a bounded metric with no outcomes and no test size (entity F1): Student's t, clamped
    f1 = [{**row("tagger", s, v, metric="entity_f1"), "confusion": None} for s, v in enumerate([0.3, 0.95])]
    (e,) = summarize(f1)
    assert (e["ci_low"], e["ci_high"]) == (0.0, 1.0) and "clamped" in e["interval"]
    # an error metric never gets a negative lower end
    (e,) = summarize([row("r", s, v, metric="mae", higher=False) for s, v in enumerate([0.05, 0.9])])
    assert e["ci_low"] == 0.0 and e["ci_high"] > 0.9


def test_no_bounded_interval_leaves_zero_one_on_random_small_tables():
    rng = np.random.default_rng(11)
    for _ in range(300):
        n, k = int(rng.integers(2, 40)), int(rng.integers(1, 6))
        rate = float(rng.choice([0.0, 1.0, rng.random()]))
        rows = [scored("m", s, rng.random(n) < rate) for s in range(k)]
        (e,) = summarize(rows)
        assert 0.0 <= e["ci_low"] <= e["mean"] <= e["ci_high"] <= 1.0 and e["ci_low"] < e["ci_high"], (n, k, rate)


def test_two_seeds_with_equal_differences_are_never_a_certainty():
    rng = np.random.default_rng(5)
    n = 5000
    base = [rng.random(n) < 0.7 for _ in range(2)]
    better = []
    for b in base:  # the better model gets 500 more examples right than the other on both seeds: equal differences
        up = b.copy()
        up[np.flatnonzero(~b)[:500]] = True
        better.append(up)
    rows = [scored("cnn", s, better[s]) for s in range(2)] + [scored("mlp", s, base[s]) for s in range(2)]
    (an,) = analyze(rows)
    p = pair(an, "cnn", "mlp")
    assert p["diff"] == pytest.approx(0.1) and p["p"] is None and p["p_holm"] is None and not p["separated"]
    assert p["ci_high"] - p["ci_low"] > 0.01  # an interval, never of zero width
    assert "same difference" in p["why"] and "3 or more seeds" in p["why"]
    # without outcomes (older rows): the same, and no interval rather than one of zero width
    old = paired_test({0: 0.5, 1: 0.9}, {0: 0.4, 1: 0.8})
    assert old["p"] is None and old["ci_low"] is None and "same difference" in old["cannot_tell"]
    # two models right on exactly the same examples: no difference, and still an interval around it
    same = analyze([scored(m, s, base[s]) for m in ("x", "y") for s in range(2)])[0]["pairs"][0]
    assert same["diff"] == 0 and same["p"] == 1.0 and same["ci_low"] < 0 < same["ci_high"]


def test_paired_test_without_outcomes_is_the_paired_t_test():
    # differences 0.10, 0.09, 0.11: mean 0.1, sd 0.01, t = 17.32 on 2 degrees of freedom, p = 0.003317
    r = paired_test({0: 0.90, 1: 0.92, 2: 0.94}, {0: 0.80, 1: 0.83, 2: 0.83})
    assert r["n"] == 3 and r["diff"] == pytest.approx(0.1)
    assert r["p"] == pytest.approx(0.0033168, rel=1e-3)
    assert r["ci_low"] == pytest.approx(0.1 - 4.30265 * 0.01 / math.sqrt(3), rel=1e-4)
    # a [0, 1] metric's difference stays within [-1, 1]
    wide = paired_test({0: 0.9, 1: 0.1}, {0: 0.0, 1: 0.05}, bounds=(0.0, 1.0))
    assert -1.0 <= wide["ci_low"] and wide["ci_high"] <= 1.0
    # identical differences with 3 seeds and no outcomes: cannot tell, not p = 0
    assert paired_test({0: 0.5, 1: 0.9, 2: 0.7}, {0: 0.4, 1: 0.8, 2: 0.6})["p"] is None
    assert paired_test({0: 0.5, 1: 0.9}, {0: 0.5, 1: 0.9})["p"] == 1.0
    # only shared seeds count; one shared seed is no test
    only = paired_test({0: 0.9, 1: 0.8, 5: 0.1}, {1: 0.7, 2: 0.3})
    assert only["n"] == 1 and only["p"] is None and only["diff"] == pytest.approx(0.1)


def test_mean_ci_is_still_student_t_for_costs_and_differences():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])  # sd 1, n 3: half-width t(0.975, 2) / sqrt(3) = 4.3027 / 1.7321
    assert m == 2.0
    assert lo == pytest.approx(2 - 2.48414, abs=1e-4) and hi == pytest.approx(2 + 2.48414, abs=1e-4)
    assert mean_ci([0.7]) == (0.7, None, None)
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    assert mean_ci([-0.2, 0.3])[1] < -1  # a difference may be negative: no clamping unless asked
    assert mean_ci([0.2, 0.9], bounds=stats.metric_range("accuracy"))[1:] == (0.0, 1.0)


# ---- why a pair is not separated, and what would separate it -------------------------------------------------


def test_not_separated_says_how_many_seeds_would_be_needed():
    # per-seed differences 0.02, 0.00, 0.04 (no outcomes): mean 0.02, sd 0.02, p = 0.22. At that spread the
    # interval t(0.975, k-1) x 0.02 / sqrt(k) excludes 0.02 first at k = 7 (t(6) = 2.447 < sqrt(7) = 2.646)
    rows = [row(m, s, v, metric="mae", higher=False) for m, vs in (("x", (0.52, 0.50, 0.54)), ("y", (0.5,) * 3))
            for s, v in enumerate(vs)]
    (an,) = analyze(rows)
    p = an["pairs"][0]
    assert not p["separated"] and p["seeds_needed"] == 7
    assert "includes 0 with 3 seeds" in p["why"] and "about 7 seeds would be needed" in p["why"]


def test_a_test_set_too_small_is_said_to_be_the_limit():
    """Of 60 test examples, A gets 45 right and B 42, and they disagree on 27: a difference of 0.05 that the test
    set's own uncertainty (about ± 0.17) swamps, whatever the seeds do. Each seed flips one more example."""
    rows = []
    for s in range(6):
        a, b = np.zeros(60, bool), np.zeros(60, bool)
        a[:45], b[15:57] = True, True
        a[50 + s % 3] = True  # a seed-to-seed wobble: 46/60 right, on a different example per seed
        rows += [scored("a", s, a), scored("b", s, b)]
    (an,) = analyze(rows)
    p = pair(an, "a", "b")
    assert p["diff"] == pytest.approx(4 / 60) and not p["separated"] and p["seeds_needed"] is None
    assert "More seeds cannot separate them" in p["why"] and "a test set of at least" in p["why"]


# ---- Holm, Pareto, ranks ---------------------------------------------------------------------------------------


def test_holm_adjusts_in_order_and_keeps_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, None, 0.001]) == [pytest.approx(0.5), None, pytest.approx(0.002)]
    assert holm([0.6, 0.9]) == [pytest.approx(1.0), pytest.approx(1.0)]


def test_pareto_front_for_both_directions():
    pts = [("big", 0.95, 100.0), ("small", 0.80, 1.0), ("bad", 0.70, 50.0), ("mid", 0.90, 10.0), ("twin", 0.90, 10.0)]
    assert stats.pareto_front(pts) == ["big", "small", "mid", "twin"]  # equal points do not dominate each other
    errors = [("a", 0.1, 10.0), ("b", 0.3, 1.0), ("c", 0.4, 5.0)]  # lower error is better
    assert stats.pareto_front(errors, higher=False) == ["a", "b"]


def test_ranks_show_ties_where_the_evidence_does_not_separate():
    rows = []
    for s, (a, b, c) in enumerate([(0.95, 0.80, 0.79), (0.97, 0.81, 0.82), (0.94, 0.80, 0.78)]):
        rows += [row("best", s, a, seconds=5.0), row("tie1", s, b, seconds=1.0), row("tie2", s, c, seconds=2.0)]
    for r in rows:
        r["confusion"] = None  # literal accuracies with no test set behind them: Student's t over seeds
    (an,) = analyze(rows)
    ranks = {e["model"]: e["rank"] for e in an["entries"]}
    assert ranks == {"best": 1, "tie1": 2, "tie2": 2}
    assert [e["model"] for e in an["entries"]] == ["best", "tie1", "tie2"]
    assert pair(an, "tie2", "tie1")["separated"] is False
    best_vs = pair(an, "best", "tie1")
    assert best_vs["separated"] and best_vs["better"] == "best" and best_vs["p_holm"] <= 3 * best_vs["p"]
    assert an["fronts"]["train_seconds"] == ["best", "tie1"]  # tie2 is slower than tie1 and no better
    assert {"train_seconds", "params"} <= set(an["entries"][0]["pareto"])
    e = an["entries"][0]
    assert e["n"] == 3 and e["mean"] == pytest.approx(0.9533, abs=1e-3) and e["ci_low"] < 0.95 < e["ci_high"]


def test_lower_is_better_metrics_rank_the_other_way():
    rows = [row(m, s, v + 0.01 * s + (0.004 if m == "good" and s == 1 else 0), metric="mae", higher=False)
            for m, v in (("good", 0.1), ("poor", 0.5)) for s in range(3)]
    (an,) = analyze(rows)
    assert [(e["model"], e["rank"]) for e in an["entries"]] == [("good", 1), ("poor", 2)]


def test_one_seed_gives_a_test_set_interval_and_separates_nothing():
    (an,) = analyze([row("x", 0, 0.9), row("y", 0, 0.1)])  # their confusion matrices hold 12 test examples
    for e in an["entries"]:
        assert e["rank"] == 1 and e["n_test"] == 12 and 0 <= e["ci_low"] < e["mean"] < e["ci_high"] <= 1
        assert e["seed_sd"] is None
        assert "seed-to-seed variation not measured" in e["interval"]
    p = an["pairs"][0]
    assert p["p"] is None and not p["separated"] and "one seed" in p["why"] and "--seeds 3" in p["why"]
    (an,) = analyze([{**row("x", 0, 0.9), "confusion": None}])
    assert an["entries"][0]["ci_low"] is None  # nothing to go on: no interval


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


# ---- the outcomes every classification run stores ---------------------------------------------------------------

_OLD_SCHEMA = """CREATE TABLE runs (id INTEGER PRIMARY KEY, dataset TEXT NOT NULL, model TEXT NOT NULL,
params_hash TEXT NOT NULL, seed INTEGER NOT NULL, version TEXT NOT NULL, spec_name TEXT, metric TEXT NOT NULL,
higher INTEGER NOT NULL, params TEXT, config TEXT, metrics TEXT, val_metrics TEXT, cost TEXT, history TEXT,
confusion TEXT, classes TEXT, tuned TEXT, stopped TEXT, finished_at TEXT NOT NULL,
UNIQUE (dataset, model, params_hash, seed, version))"""


def test_a_store_from_before_outcomes_gains_the_columns_and_keeps_its_rows(tmp_path):
    from blobbotronic.compare.store import Store

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(_OLD_SCHEMA)
        db.execute("INSERT INTO runs (dataset, model, params_hash, seed, version, metric, higher, metrics, finished_at)"
                   " VALUES ('d', 'old', 'h', 0, 'v', 'accuracy', 1, '{\"accuracy\": 0.5}', 'then')")
    conv = {"best_step": 20, "steps": 20, "checks": 4, "improving": True, "converged": False,
            "suggested_budget": "40 steps"}
    with Store(path) as s:
        assert s.put({**row("new", 0, 0.75), "outcomes": "0111", "convergence": conv})
        got = {r["model"]: r for r in s.rows()}
        assert s.check() == []
    assert got["old"]["outcomes"] is None and got["old"]["convergence"] is None
    assert got["new"]["outcomes"] == "0111" and got["new"]["convergence"] == conv
    with Store(path) as s:  # opening again (or from a second process) changes nothing
        assert len(s.rows()) == 2


def test_a_classification_run_stores_each_test_examples_outcome():
    from blobbotronic.compare.runner import RunTask, dataset
    from blobbotronic.compare.store import RunKey

    task = RunTask("digits", "logistic", 0, {}, {"budget": "10 steps", "threads": 1},
                   RunKey("digits", "logistic", "h", 0, "v"))
    r = task.run()
    n = len(dataset("digits").test)
    assert len(r["outcomes"]) == n and set(r["outcomes"]) <= {"0", "1"}
    assert r["outcomes"].count("1") / n == pytest.approx(r["metrics"]["accuracy"], abs=1e-6)
    right = sum(r["confusion"][i][i] for i in range(len(r["confusion"])))
    assert r["outcomes"].count("1") == right and "convergence" in r
