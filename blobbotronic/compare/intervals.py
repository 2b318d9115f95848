"""Intervals that count both the seeds and the test set's size and stay inside a metric's range, and paired
comparisons that cannot claim more than the runs show: the arithmetic under compare/stats.py.

Pure functions of numbers and per-example outcomes. The method, stated once (``METHOD`` says it again,
shorter, for the report):

A test score varies for two reasons: the seed (initialisation and batch order) and the finite test set, n
examples drawn from a population. Every seed is scored on the *same* test set, so the second part does not
average out over seeds. A Student-t interval over seeds alone misses it: in simulation (tests/test_stats.py)
its "95%" interval covered the true accuracy only 78-87% of the time when models disagree on a few
hundred test examples, and with two seeds it printed accuracies such as [-1.5, 2.7].

* **The two parts** (``components``). From the k x n table of per-example outcomes (1 right, 0 wrong; stored
  with every classification run): the seed part s^2/k, with s the standard deviation of the k per-seed
  scores; the test part V/n, with V the variance over examples of each example's outcome averaged over the
  seeds, less the share that flips between seeds add to it (W/k, W being the mean over examples of each
  example's variance across seeds): a two-way (example x seed) decomposition of the variance of the mean.
  Flips alone make per-seed scores vary by W/n, so the seed part is never taken below W/(nk): two seeds that
  tie by chance do not make it zero. A classification row from an older version has no outcomes but its
  confusion matrix gives n; V is then p(1-p), its upper bound.
* **The half-width** is sqrt(max(t^2 s^2/k, z^2 W/(nk)) + z^2 V/n): t is Student's quantile on k-1 degrees of
  freedom, since the seed part is estimated from k runs; z the normal quantile, since the test part comes from
  n examples. Each part keeps its own quantile, so two or three seeds are treated with caution where the
  caution belongs and a large test set is not (a single t on k-1 degrees of freedom for both parts covered 97-100%
  in simulation; Welch-Satterthwaite's pooled degrees of freedom only 82-92% with two or three seeds). With two
  seeds (one degree of freedom) the floor W/(nk) takes t as well: one difference of two numbers says almost
  nothing about the spread (a chi-square on 1 df is below a tenth of its mean a quarter of the time), so two
  seeds give wide intervals and, in practice, no p below 0.001.
* **Accuracy and other proportions**: the Wilson score interval whose width near the middle is that half-width
  (its "effective n" is p(1-p) z^2/h^2), so it stays inside [0, 1] and does not collapse at 0 or 1: every
  example right on n gives [n/(n+z^2), 1]. With one seed the test part alone, marked "seed-to-seed variation
  not measured".
* **The paired difference of two models** on the seeds both have: the same half-width over per-example
  differences of outcomes (A's minus B's, per example and seed). With one seed the test part is then the
  McNemar-style variance of a paired difference of proportions, made of the examples on which the two models
  disagree; Agresti and Min's half count in each discordant cell keeps it above zero. p is the level at which
  that interval just reaches zero.
* **Without outcomes** (older rows; tagging, translation, regression, forecasting): Student's t over the
  seeds (the paired t-test for pairs), clamped to the metric's range: [0, 1] for F1 and exact match, >= 0 for
  errors, a difference of a [0, 1] metric to [-1, 1].
* **Cannot tell, never p = 0**: a pair whose per-seed differences are all equal has no p when it has fewer
  than 3 seeds, or when no outcomes measure the test part; one seed gives no p.
* **Separated** means the Holm-corrected p (over all pairs of a data set) is below alpha. A pair that is not
  says why, and how many seeds would separate the observed difference at the observed spread (at alpha/m,
  Holm's strictest step) or, when the test part alone is wider than the difference, that more seeds cannot
  and how many test examples would be needed.
* **Rank:** 1 + the number of models that beat this one (separated and better). Models that nothing separates
  share a rank, so ties show where the evidence runs out.
* **Pareto front:** the models no other model beats on both the metric and a cost (at least as good on
  both, strictly better on one), computed on means.

Measured (tests/test_stats.py, 95% intervals, true accuracies known): 5 seeds on 400 examples covered 0.978 of
model accuracies and 0.970 of differences (Student's t over seeds: 0.872 and 0.867); 3 seeds on 2,000 examples
with a large seed effect 0.957 and 0.953. Two seeds cover 0.99-1.00, by design.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from statistics import fmean, variance
from typing import Any

TEST_NAME = ("paired comparison over the seeds both models have, counting the seed-to-seed spread (Student's t "
             "on k-1 degrees of freedom) and the test set's share from the examples the two models disagree on "
             "(McNemar-style); a paired t-test where no per-example outcomes are stored; two-sided, "
             "Holm-corrected over the pairs of a data set")
METHOD = [
    "Intervals count two sources of uncertainty: the seeds (Student's t on k-1 degrees of freedom for the "
    "spread of k seeds) and the test set's size (each example's right-or-wrong outcome is stored, and every seed "
    "is scored on the same test set, so this part does not shrink with more seeds). A t-interval over seeds "
    "alone misses the second part and covered the true accuracy only 78-87% of the time in simulation; these "
    "intervals covered 94-98% (two seeds: 99-100%, as one degree of freedom warrants).",
    "Accuracy intervals are Wilson score intervals of that width, so they stay inside [0, 1]; with one seed they "
    "cover the test set only (seed-to-seed variation not measured). Metrics without stored outcomes (F1, exact "
    "match, errors) get Student's t over seeds, clamped to the metric's range.",
    "A pair of models is compared on the seeds both have, from per-seed differences and the examples on which "
    "the two disagree; when per-seed differences are all equal over fewer than 3 seeds the spread is unknown and "
    "no p-value is given. A pair that is not separated says why and about how many seeds would separate it.",
]

# The range of each metric the tasks report (train/tasks.py, task_tag.py, task_translate.py, task_forecast.py).
METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    **{m: (0.0, 1.0) for m in ("accuracy", "macro_f1", "entity_f1", "entity_precision", "entity_recall",
                               "token_accuracy", "exact_match", "char_accuracy", "direction_accuracy")},
    **{m: (0.0, None) for m in ("mae", "rmse", "mase", "loss")},
    "r2": (None, 1.0),
}


def metric_range(metric: str) -> tuple[float | None, float | None]:
    """The (low, high) a metric can take, None for an open end; ``accuracy@shift4`` and ``val_accuracy`` as
    ``accuracy``.

    >>> metric_range("accuracy@shift4"), metric_range("mae"), metric_range("something new")
    ((0.0, 1.0), (0.0, None), (None, None))
    """
    base = metric.split("@")[0]
    return METRIC_RANGES.get(base.removeprefix("val_"), (None, None))


def t_quantile(p: float, df: float) -> float:
    from scipy.stats import norm, t

    return float(norm.ppf(p)) if df > 1e6 else float(t.ppf(p, df))


def _upper(tail: float, df: float) -> float:
    """The quantile with ``tail`` above it (precise for tiny tails, where 1 - tail rounds to 1)."""
    from scipy.stats import norm, t

    return float(norm.isf(tail)) if df > 1e6 else float(t.isf(tail, df))


# ---- per-example outcomes --------------------------------------------------------------------------


def outcome_matrix(outcomes: Sequence[str | None] | Any) -> Any:
    """An (examples x seeds) float array of 1 (right) and 0 (wrong) from one '0'/'1' string per seed (as
    ``RunTask.row`` stores them), or from such an array; None when any seed lacks them or their lengths differ.

    >>> outcome_matrix(["110", "100"]).tolist()
    [[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]]
    >>> outcome_matrix(["110", None]) is None, outcome_matrix(["11", "110"]) is None
    (True, True)
    """
    import numpy as np

    if isinstance(outcomes, np.ndarray):
        return outcomes.astype(float).reshape(len(outcomes), -1)
    strings = list(outcomes)
    if not strings or any(not isinstance(s, str) or not s for s in strings) or len({len(s) for s in strings}) > 1:
        return None
    codes = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8).reshape(len(strings), -1)
    return (codes == ord("1")).astype(float).T


def components(values: Sequence[float], outcomes: Any = None, n_test: int | None = None,
               pair: bool = False) -> dict[str, Any]:
    """The parts of the variance of a mean over seeds: k seeds, n test examples, s2 (variance of the per-seed
    scores), W (mean over examples of each one's variance across seeds) and V (the test set's per-example
    variance, what flips between seeds add taken out). ``outcomes``: the (n x k) table; for a pair, A's minus
    B's. Without it, ``n_test`` with V = p(1-p) (its upper bound), or no test part at all."""
    k = len(values)
    s2 = variance(values) if k > 1 else 0.0
    if outcomes is None:
        if not n_test:
            return {"k": k, "n": None, "s2": s2, "W": 0.0, "V": 0.0}
        p = min(1.0, max(0.0, fmean(values)))
        return {"k": k, "n": int(n_test), "s2": s2, "W": 0.0, "V": p * (1 - p)}
    import numpy as np

    n = outcomes.shape[0]
    per_example = outcomes.mean(1)
    if pair:  # Agresti-Min: half an example each way in the discordant cells and one concordant, weight 2 in all
        pts = np.concatenate([per_example, [1.0, -1.0, 0.0]])
        w = np.concatenate([np.ones(n), [0.5, 0.5, 1.0]])
        mu = np.average(pts, weights=w)
        v_i = float(np.sum(w * (pts - mu) ** 2) / (w.sum() - 1))
    else:
        v_i = float(per_example.var(ddof=1)) if n > 1 else 0.0
    w_flip = float(outcomes.var(1, ddof=1).mean()) if k > 1 else 0.0
    v = max(v_i - w_flip / k, 0.0) if k > 1 else v_i
    return {"k": k, "n": n, "s2": s2, "W": w_flip, "V": v}


def half_width(parts: dict[str, Any], level: float = 0.95) -> float:
    """sqrt(max(t^2 s2/k, z^2 W/(nk)) + z^2 V/n): the seed part on k-1 degrees of freedom, the test part on n-1
    (with two seeds the floor W/(nk) takes t too)."""
    return _half(parts, (1 - level) / 2)


def _half(parts: dict[str, Any], tail: float) -> float:
    k, n = parts["k"], parts["n"]
    z = _upper(tail, n - 1) if n and n > 1 else 0.0
    seed = 0.0
    if k > 1:
        t = _upper(tail, k - 1)
        seed = t * t * parts["s2"] / k
        if n:  # the floor from flips; with two seeds (one degree of freedom) it too takes t, see the docstring
            seed = max(seed, (t if k == 2 else z) ** 2 * parts["W"] / (n * k))
    test = z * z * parts["V"] / n if n and n > 1 else 0.0
    return math.sqrt(seed + test)


def p_value(parts: dict[str, Any], diff: float) -> float:
    """Two-sided: the alpha at which the (1 - alpha) interval of ``diff`` just reaches zero (1 when diff is 0).
    With no test part it is the paired t-test's p exactly."""
    if diff == 0:
        return 1.0
    k = parts["k"]
    if not parts["n"] and k > 1 and parts["s2"] > 0:
        from scipy.stats import t

        return max(1e-16, float(2 * t.sf(abs(diff) / math.sqrt(parts["s2"] / k), k - 1)))
    from scipy.optimize import brentq

    gap = lambda x: _half(parts, 10**x / 2) - abs(diff)  # noqa: E731  (x = log10 alpha; shrinks as alpha grows)
    if gap(-16.0) <= 0:
        return 1e-16
    return min(1.0, 10 ** brentq(gap, -16.0, math.log10(1 - 1e-12), xtol=1e-6))


def _wilson(p: float, r: float) -> tuple[float, float]:
    """Wilson's score interval written with r = z^2/n."""
    centre = (p + r / 2) / (1 + r)
    half = math.sqrt(r * p * (1 - p) + r * r / 4) / (1 + r)
    return max(0.0, centre - half), min(1.0, centre + half)


def _clamp(lo: float, hi: float, bounds: tuple[float | None, float | None]) -> tuple[float, float]:
    low, high = bounds
    if low is not None:
        lo, hi = max(lo, low), max(hi, low)
    if high is not None:
        lo, hi = min(lo, high), min(hi, high)
    return float(lo), float(hi)


# ---- one model's mean -------------------------------------------------------------------------------


def interval(values: Iterable[float], level: float = 0.95, *, bounds: tuple[float | None, float | None] | None = None,
             n_test: int | None = None, outcomes: Any = None) -> dict[str, Any]:
    """Mean over seeds with its interval and how it was made (see the module's docstring).

    A [0, 1] metric with a known test size (``outcomes``: one '0'/'1' string per seed, or ``n_test``) gets the
    Wilson interval of seeds and test set; other metrics Student's t over seeds, clamped to ``bounds``.

    >>> r = interval([0.9, 0.9, 0.9], bounds=(0, 1), outcomes=["1111111110", "1111111101", "1111111011"])
    >>> round(r["ci_low"], 3), round(r["ci_high"], 3), r["method"]
    (0.701, 0.972, 'Wilson score interval: seeds and test set')
    >>> interval([1.0], bounds=(0, 1), n_test=100)["ci_low"] > 0.96
    True
    """
    v = [float(x) for x in values]
    if not v:
        raise ValueError("an interval of no values")
    k, m = len(v), fmean(v)
    c = None if outcomes is None else outcome_matrix(outcomes)
    if c is not None and c.shape[1] != k:
        c = None
    n = c.shape[0] if c is not None else (int(n_test) if n_test else None)
    bounds = bounds or (None, None)
    out: dict[str, Any] = {"mean": m, "ci_low": None, "ci_high": None, "k": k, "n_test": None,
                           "seed_sd": math.sqrt(variance(v)) if k > 1 else None, "seeds_measured": k > 1}
    if n and n > 1 and tuple(bounds) == (0, 1):
        parts = components(v, c, n)
        h = half_width(parts, level)
        p = min(1.0, max(0.0, m))
        z = t_quantile(0.5 + level / 2, n - 1)
        r = h * h / (p * (1 - p)) if 0 < p < 1 and h > 0 else z * z / n
        lo, hi = _wilson(p, r)
        lo, hi = min(lo, m), max(hi, m)
        method = ("Wilson score interval: seeds and test set" if k > 1 else
                  "Wilson score interval: test set only (one seed: seed-to-seed variation not measured)")
        return {**out, "ci_low": lo, "ci_high": hi, "n_test": n, "method": method}
    if k < 2:
        return {**out, "method": "none (one seed, and no test-set size to go on)"}
    half = t_quantile(0.5 + level / 2, k - 1) * math.sqrt(variance(v) / k)
    lo, hi = _clamp(m - half, m + half, bounds)
    clamped = bounds != (None, None) and (lo, hi) != (m - half, m + half)
    return {**out, "ci_low": lo, "ci_high": hi,
            "method": "Student's t over seeds" + (", clamped to the metric's range" if clamped else "")}


def mean_ci(values: Iterable[float], level: float = 0.95, *, bounds: tuple[float | None, float | None] | None = None,
            n_test: int | None = None, outcomes: Any = None) -> tuple[float, float | None, float | None]:
    """Mean and a two-sided interval: by default Student's t over the values (none for fewer than two), as
    for costs and differences; with ``bounds``, ``n_test`` or ``outcomes`` as ``interval`` makes it.

    >>> m, lo, hi = mean_ci([0.90, 0.92, 0.94])
    >>> round(m, 3), round(lo, 3), round(hi, 3)
    (0.92, 0.87, 0.97)
    >>> mean_ci([0.5])
    (0.5, None, None)
    >>> mean_ci([0.2, 0.9], bounds=(0, 1))[1:]
    (0.0, 1.0)
    """
    r = interval(values, level, bounds=bounds, n_test=n_test, outcomes=outcomes)
    return r["mean"], r["ci_low"], r["ci_high"]


# ---- two models ---------------------------------------------------------------------------------------


def paired_test(a: dict[int, float], b: dict[int, float], level: float = 0.95, *,
                outcomes_a: dict[int, str | None] | None = None, outcomes_b: dict[int, str | None] | None = None,
                bounds: tuple[float | None, float | None] | None = None) -> dict[str, Any]:
    """a - b over the seeds both have: n (seeds), mean difference, its interval, p, and how they were made.

    With ``outcomes_a``/``outcomes_b`` (seed -> '0'/'1' string) the test set's share counts; without, it is
    the paired t-test over seeds. Equal differences on every seed are "cannot tell" (p None) with fewer than
    3 seeds or without outcomes; one seed gives no p.

    >>> r = paired_test({0: 0.93, 1: 0.94, 2: 0.92}, {0: 0.60, 1: 0.62, 2: 0.61})
    >>> r["n"], round(r["diff"], 3), r["p"] < 0.001
    (3, 0.32, True)
    >>> paired_test({0: 0.9}, {0: 0.8})["p"] is None, paired_test({0: 0.5, 1: 0.9}, {0: 0.4, 1: 0.8})["p"] is None
    (True, True)
    """
    seeds = sorted(set(a) & set(b))
    d = [a[s] - b[s] for s in seeds]
    k = len(d)
    out: dict[str, Any] = {"n": k, "seeds": seeds, "diff": fmean(d) if d else None, "ci_low": None, "ci_high": None,
                           "p": None, "test": "paired t-test", "n_test": None, "seed_sd": None, "cannot_tell": None,
                           "parts": None}
    if k == 0:
        out["cannot_tell"] = "no seed in common"
        return out
    e = None
    if outcomes_a and outcomes_b:
        ca = outcome_matrix([outcomes_a.get(s) for s in seeds])
        cb = outcome_matrix([outcomes_b.get(s) for s in seeds])
        if ca is not None and cb is not None and ca.shape == cb.shape:
            e = ca - cb
    parts = components(d, e, pair=True)
    m = fmean(d)
    span = None
    if bounds and bounds[0] is not None and bounds[1] is not None:
        span = bounds[1] - bounds[0]
    out.update(parts=parts, seed_sd=math.sqrt(parts["s2"]) if k > 1 else None, n_test=parts["n"],
               test="paired, seeds and test set" if e is not None else "paired t-test over seeds")
    if e is not None or k > 1:
        h = half_width(parts, level)
        if h > 0:
            lo, hi = (m - h, m + h) if span is None else _clamp(m - h, m + h, (-span, span))
            out.update(ci_low=lo, ci_high=hi)
    if k < 2:
        out["cannot_tell"] = "one seed: how much the difference varies from seed to seed was not measured"
        if e is not None:
            out["test"] = "test set only (one seed)"
        return out
    if _no_spread(d) and (k < 3 or e is None):
        if m == 0:
            out["p"] = 1.0
        else:
            out["cannot_tell"] = (f"all {k} seeds gave the same difference, so how much it varies from seed to seed "
                                  "is unknown" + ("" if e is not None else
                                                  " and no per-example outcomes measure the test set's share"))
        return out
    out["p"] = p_value(parts, m)
    return out


def _no_spread(values: Sequence[float]) -> bool:
    """All equal, up to floating-point rounding (0.7 - 0.6 and 0.8 - 0.7 differ in the 17th digit)."""
    return max(values) - min(values) <= 1e-12 * max(1.0, max(abs(v) for v in values))


def seeds_needed(parts: dict[str, Any], diff: float, alpha: float, most: int = 1000) -> dict[str, Any]:
    """How many seeds would make a difference of ``diff`` clear at ``alpha`` if the spread stayed as observed:
    {"seeds": k or None, "test_limited": the test part alone is at least the difference, "test_examples": the
    test size that would be needed then, "half_test": the test part's half-width}."""
    n, k = parts["n"], parts["k"]
    z2 = _upper(alpha / 2, n - 1) ** 2 if n and n > 1 else 0.0
    test = z2 * parts["V"] / n if n and n > 1 else 0.0
    out: dict[str, Any] = {"seeds": None, "test_limited": False, "test_examples": None, "half_test": math.sqrt(test)}
    if diff == 0:
        return out
    if test >= diff * diff:
        out.update(test_limited=True, test_examples=math.ceil(z2 * parts["V"] / (diff * diff)) + 1)
        return out
    if parts["s2"] == 0 and parts["W"] == 0:
        return out

    def enough(kk: int) -> bool:  # the half-width only shrinks as seeds are added: search by halves
        return _half({**parts, "k": kk}, alpha / 2) ** 2 < diff * diff

    lo, hi = max(k, 1) + 1, most
    if not enough(hi):
        return out
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid + 1, hi)
    out["seeds"] = lo
    return out
