"""The claim machinery: a Claim declares arms (model x data sets), seeds, budgets and a predicate.

Running a claim trains its arms through ``compare`` (so runs land in the shared store and a rerun
reuses them), gathers the numbers into Evidence, lets the claim's optional ``measure`` add
measurements that are not training runs (probes, attribution curves), and applies the claim's
``decide`` predicate. Verdicts are computed from the evidence, never written in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from ..registry import Registry

CLAIMS = Registry("claim")
MODES = ("quick", "full")
Mode = Literal["quick", "full"]


@dataclass(frozen=True)
class Arm:
    """One line of an experiment: ``model`` with ``params`` on each of ``datasets``.

    ``datasets`` may map a mode to its own list (``{"quick": [...], "full": [...]}``). ``budget`` maps a mode to
    this arm's training budget where it differs from the claim's (an application with its own data set's pace).
    """

    label: str
    model: str
    datasets: tuple[str, ...] | dict[str, tuple[str, ...]]
    params: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, str | None] = field(default_factory=dict)

    def sources(self, mode: Mode) -> tuple[str, ...]:
        return tuple(self.datasets[mode] if isinstance(self.datasets, dict) else self.datasets)

    def budget_for(self, claim: Claim, mode: Mode) -> str | None:
        return self.budget[mode] if mode in self.budget else claim.budget.get(mode)


def arms_per_quick_set(models: tuple[str, ...], data: dict[str, tuple[str, ...]], quick_budget: dict[str, str],
                       quick_models: tuple[str, ...] | None = None, skip: frozenset = frozenset()) -> list[Arm]:
    """Each model on all its --full data sets in one arm, and (``quick_models``, default all) on each --quick data
    set in an arm of its own with that set's --quick budget where ``quick_budget`` gives one; (model, set) pairs
    in ``skip`` are left out of --quick."""
    arms = []
    for m in models:
        arms.append(Arm(m, m, {"quick": (), "full": data["full"]}))
        if quick_models is None or m in quick_models:
            arms += [Arm(m, m, {"quick": (ds,), "full": ()}, budget={"quick": quick_budget[ds]} if ds in quick_budget
                         else {}) for ds in data["quick"] if (m, ds) not in skip]
    return arms


@dataclass(frozen=True)
class Verdict:
    """``verdict`` is supported, refuted or mixed; ``key`` the one number a reader needs; ``rule`` the predicate."""

    verdict: Literal["supported", "refuted", "mixed"]
    key: str
    rule: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stat:
    """A metric over seeds: mean and 95% interval (None with a single seed)."""

    mean: float
    lo: float | None
    hi: float | None
    n: int

    @property
    def low(self) -> float:
        return self.mean if self.lo is None else self.lo

    @property
    def high(self) -> float:
        return self.mean if self.hi is None else self.hi

    def __str__(self) -> str:
        if self.lo is None or self.hi is None:
            return f"{self.mean:.3f}"
        return f"{self.mean:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


def stat(values: list[float], **how: Any) -> Stat:
    """Mean and 95% interval over seeds; ``how`` (bounds, outcomes) as compare/stats.py's ``mean_ci``."""
    from ..compare.stats import mean_ci

    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return Stat(math.nan, None, None, 0)
    m, lo, hi = mean_ci(vals, **(how if len(vals) == len(values) else {"bounds": how.get("bounds")}))
    return Stat(m, lo, hi, len(vals))


def _outcomes(rows: list[dict[str, Any]], name: str) -> list[str] | None:
    """The per-example outcomes of the rows when ``name`` is their headline metric and every row kept them."""
    outs = [r.get("outcomes") for r in rows]
    return outs if name == rows[0]["metric"] and all(outs) else None


@dataclass
class Evidence:
    """The rows of every arm, by (arm label, data set), plus the claim's own measurements."""

    rows: dict[tuple[str, str], list[dict[str, Any]]]
    measured: dict[str, Any] = field(default_factory=dict)
    mode: Mode = "quick"

    def runs(self, arm: str, dataset: str) -> list[dict[str, Any]]:
        if (arm, dataset) not in self.rows:
            raise KeyError(f"no runs for arm {arm!r} on {dataset!r}; have {sorted(self.rows)}")
        return self.rows[(arm, dataset)]

    def metric(self, arm: str, dataset: str, name: str | None = None) -> Stat:
        """A test metric (default: the headline one) over seeds."""
        from ..compare.stats import metric_range

        rows = self.runs(arm, dataset)
        name = name or rows[0]["metric"]
        # the interval counts the seeds and the test set's size, inside the metric's range (compare/stats.py)
        return stat([r["metrics"].get(name) for r in rows], bounds=metric_range(name), outcomes=_outcomes(rows, name))

    def cost(self, arm: str, dataset: str, name: str) -> Stat:
        """A cost (train_seconds, steps_per_second, params, peak_rss_mb, flops_per_sample, ...) over seeds."""
        return stat([(r.get("cost") or {}).get(name) for r in self.runs(arm, dataset)])

    def across(self, arm: str, dataset_a: str, dataset_b: str, name: str | None = None) -> Stat:
        """The per-seed difference of one arm's metric between two data sets (a - b)."""
        a = {r["seed"]: r for r in self.runs(arm, dataset_a)}
        b = {r["seed"]: r for r in self.runs(arm, dataset_b)}
        name = name or next(iter(a.values()))["metric"]
        return stat([a[s]["metrics"][name] - b[s]["metrics"][name] for s in sorted(set(a) & set(b))])

    def paired(self, arm_a: str, arm_b: str, dataset: str, name: str | None = None) -> Stat:
        """The per-seed difference a - b of a metric, over the seeds both arms ran."""
        from ..compare.stats import metric_range, paired_test

        a = {r["seed"]: r for r in self.runs(arm_a, dataset)}
        b = {r["seed"]: r for r in self.runs(arm_b, dataset)}
        name = name or next(iter(a.values()))["metric"]
        seeds = sorted(set(a) & set(b))
        if not seeds:
            return Stat(math.nan, None, None, 0)
        outs = _outcomes([a[s] for s in seeds] + [b[s] for s in seeds], name)
        lo, hi = metric_range(name)
        t = paired_test({s: a[s]["metrics"][name] for s in seeds}, {s: b[s]["metrics"][name] for s in seeds},
                        outcomes_a={s: a[s].get("outcomes") for s in seeds} if outs else None,
                        outcomes_b={s: b[s].get("outcomes") for s in seeds} if outs else None,
                        bounds=None if lo is None or hi is None else (lo - hi, hi - lo))
        return Stat(t["diff"], t["ci_low"], t["ci_high"], t["n"])


@dataclass
class Claim:
    """One claim of the primer as an experiment. Adding a claim is adding a module that registers one."""

    id: str
    claim: str  # the primer's claim, in one line
    experiment: str  # what is run, in a sentence or two
    arms: list[Arm]
    decide: Callable[[Evidence], Verdict]
    seeds: dict[str, int] = field(default_factory=lambda: {"quick": 3, "full": 5})
    budget: dict[str, str | None] = field(default_factory=lambda: {"quick": None, "full": None})
    train: dict[str, Any] = field(default_factory=dict)  # training settings shared by every arm (batch_size, ...)
    measure: Callable[["Context"], dict[str, Any]] | None = None  # measurements beyond the runs
    figures: Callable[[Evidence, Path], list[tuple[Path, str]]] | None = None  # (png path, caption)
    order: int = 100
    # checked before any run is trained: raises (a BlobError saying what to install) when the claim cannot run here
    requires: Callable[[], Any] | None = None
    # verdicts that --quick's budgets cannot settle (they may differ at --full), each with the reason; the report
    # says so beside the verdict
    quick_unsettled: str | None = None


@dataclass
class Context:
    """What a claim's ``measure`` gets: the mode, a seed list, a folder for figures and the store path."""

    mode: Mode
    seeds: list[int]
    out: Path
    store: Path
    quiet: bool = True


def register(claim: Claim) -> Claim:
    CLAIMS.register(claim.id, order=claim.order)(claim)
    return claim


@dataclass
class ClaimResult:
    claim: Claim
    verdict: Verdict
    evidence: Evidence
    figures: list[tuple[Path, str]]
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        table = [{"arm": arm, "dataset": ds, "metric": rows[0]["metric"], **_stat_json(self.evidence.metric(arm, ds)),
                  "train_seconds": self.evidence.cost(arm, ds, "train_seconds").mean,
                  "params": self.evidence.cost(arm, ds, "params").mean}
                 for (arm, ds), rows in self.evidence.rows.items() if rows]
        return {"id": self.claim.id, "claim": self.claim.claim, "status": "decided", "verdict": self.verdict.verdict,
                "key": self.verdict.key, "rule": self.verdict.rule,
                "evidence": {"numbers": self.verdict.numbers, "table": table}, "error": self.error,
                "quick_cannot_settle": self.claim.quick_unsettled if self.evidence.mode == "quick" else None}


def _stat_json(s: Stat) -> dict[str, Any]:
    return {"mean": s.mean, "ci_low": s.lo, "ci_high": s.hi, "n": s.n}


def plan_claim(claim: Claim, mode: Mode, store: Path, device: str = "auto") -> list[Any]:
    """The claim's runs as compare's RunTasks, nothing trained (the suite trains every claim's runs in one pool)."""
    from ..compare.runner import compare

    seeds = list(range(claim.seeds[mode]))
    tasks: list[Any] = []
    for arm in claim.arms:
        if arm.sources(mode):
            tasks += compare(list(arm.sources(mode)), [arm.model], seeds=seeds, budget=arm.budget_for(claim, mode),
                             params={arm.model: dict(arm.params)} if arm.params else None, store=store,
                             device=device, plan_only=True, **claim.train)
    return tasks


def run_claim(claim: Claim, mode: Mode, store: Path, out: Path, workers: int | None = None, quiet: bool = True,
              device: str = "auto", on_event: Callable[..., None] | None = None,
              measured: dict[str, Any] | None = None) -> ClaimResult:
    """Train the claim's arms through compare (reusing stored runs), measure (unless ``measured`` brings the
    measurements, taken in the suite's pool), and decide."""
    from ..compare.runner import compare

    seeds = list(range(claim.seeds[mode]))
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for arm in claim.arms:
        if not arm.sources(mode):
            continue
        result = compare(list(arm.sources(mode)), [arm.model], seeds=seeds, budget=arm.budget_for(claim, mode),
                         params={arm.model: dict(arm.params)} if arm.params else None, store=store,
                         workers=workers, quiet=quiet, device=device, on_event=on_event, **claim.train)
        for source in arm.sources(mode):
            rows[(arm.label, source)] = sorted((r for r in result.rows if r["dataset"] == source),
                                               key=lambda r: r["seed"])
    evidence = Evidence(rows, mode=mode)
    if measured is not None:
        evidence.measured = measured
    elif claim.measure is not None:
        evidence.measured = claim.measure(Context(mode, seeds, out, store, quiet))
    verdict = claim.decide(evidence)
    figs = claim.figures(evidence, out) if claim.figures else []
    return ClaimResult(claim, verdict, evidence, figs)
