"""What each claim cost: its share of the shared pool's training, and its own measurements after it.

The suite trains every claim's runs in one pool of workers (suite.train_all), so a claim's wall time alone
would hide its training. ``Timed`` wraps each unit of work (a run, or a group of stacked seeds) and measures
it where it runs: wall seconds and the CPU seconds of the process that ran it (one thread per worker, so
its CPU seconds are the work's own, whatever else the machine runs). ``TimedEngine`` wraps a backend and
keeps those numbers by run key; ``claim_costs`` charges each run to the claims that read it, a run that
several claims share split evenly between them, so the claims' shares add up to the pool's work.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# The order work is handed to the pool: the largest first, so that no worker is left with a long run at the end
# while the other idles. A unit's size is unknown before it runs; recurrent and hybrid models step through time and
# cost the most, so they go first, then the units with the most seeds.
_SLOW_FIRST = {"recurrent": 0, "hybrid": 1, "attention": 2, "cnn": 3}


def largest_first(unit: Any) -> tuple:
    from ..models import MODELS

    if isinstance(unit, MeasureUnit):  # one model or several trained one after another: among the first
        return (0, 0)
    tasks = getattr(unit, "tasks", (unit,))
    try:
        family = MODELS.tags(tasks[0].model).get("family", "")
    except Exception:  # noqa: BLE001 - an unknown name fails later, where the run builds the model
        family = ""
    return (_SLOW_FIRST.get(family, 9), -len(tasks))


@dataclass(frozen=True)
class Timed:
    """One unit of pool work (a RunTask or SeedGroup) that reports its own wall and CPU seconds."""

    task: Any

    def run(self) -> dict[str, Any]:
        wall, cpu = time.perf_counter(), time.process_time()
        result = self.task.run()
        return {"timed_result": result, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


@dataclass(frozen=True)
class MeasureUnit:
    """A claim's own measurements (``Claim.measure``: probes, attribution curves) as a unit of pool work, so they
    run beside the training instead of after it on one core. Its error comes back as its result."""

    claim_id: str
    context: Any  # base.Context

    def run(self) -> dict[str, Any]:
        from .base import CLAIMS

        try:
            return {"measured_claim": self.claim_id, "measured": CLAIMS.get(self.claim_id).measure(self.context)}
        except Exception as e:  # noqa: BLE001 - the claim's own turn reports it as "could not run"
            return {"measured_claim": self.claim_id, "failed": e}


def run_keys(result: dict[str, Any]) -> list[tuple]:
    """The identity of each stored row in a unit's result (a group's several rows, a run's one)."""
    from ..compare.groups import rows_of

    return [(r["dataset"], r["model"], r["params_hash"], r["seed"]) for r in rows_of(result)]


def task_key(task: Any) -> tuple:
    return (task.dataset, task.model, task.key.params_hash, task.seed)


@dataclass
class TimedEngine:
    """A backend whose work is timed; ``seconds`` maps a run's key to its (wall, cpu) share of its unit."""

    inner: Any
    order: Any = None  # key function for the work's order (largest first), or None to keep the backend's
    extra: list[Any] = field(default_factory=list)  # MeasureUnits to run in the same pool
    seconds: dict[tuple, tuple[float, float]] = field(default_factory=dict)
    measured: dict[str, dict[str, Any]] = field(default_factory=dict)  # claim -> {"measured"|"failed", wall, cpu}

    @property
    def workers(self) -> int:
        return getattr(self.inner, "workers", 1) or 1

    def run(self, tasks: Iterable[Any]) -> Iterator[dict[str, Any]]:
        work, self.extra = list(tasks) + self.extra, []  # the measurements run once, with the first batch of work
        if self.order is not None:
            work.sort(key=self.order)
        for out in self.inner.run([Timed(t) for t in work]):
            result = out["timed_result"]
            if "measured_claim" in result:  # not a stored run: kept for the claim's turn
                self.measured[result.pop("measured_claim")] = {**result, "wall": out["wall"], "cpu": out["cpu"]}
                continue
            keys = run_keys(result)
            for k in keys:  # stacked seeds share their unit's time evenly
                self.seconds[k] = (out["wall"] / len(keys), out["cpu"] / len(keys))
            yield result


def claim_costs(planned: dict[str, list[Any]], seconds: dict[tuple, tuple[float, float]]) -> dict[str, dict]:
    """Per claim: runs planned, runs trained now, shared with other claims, and its share of their seconds."""
    readers: dict[tuple, set[str]] = {}
    for cid, tasks in planned.items():
        for t in tasks:
            readers.setdefault(task_key(t), set()).add(cid)
    out = {}
    for cid, tasks in planned.items():
        keys = list(dict.fromkeys(task_key(t) for t in tasks))
        trained = [k for k in keys if k in seconds]
        out[cid] = {"runs": len(keys), "trained": len(trained), "shared": sum(len(readers[k]) > 1 for k in keys),
                    "train_worker_seconds": sum(seconds[k][0] / len(readers[k]) for k in trained),
                    "train_cpu_seconds": sum(seconds[k][1] / len(readers[k]) for k in trained)}
    return out
