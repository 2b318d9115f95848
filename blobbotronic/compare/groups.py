"""Seed groups: the runs of one (data set, model, parameters) that differ only in seed, as one batched task.

``group_seeds(tasks, workers)`` turns a grid's RunTasks into SeedGroups (train/batched.py's ``fit_many``
trains the seeds as one stacked computation where the model allows it) and leaves single runs alone. A
SeedGroup's ``run()`` returns ``{"rows": [...]}``: one store row per seed, exactly the rows its RunTasks
would have written (the same keys, the same numbers up to floating-point rounding).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Recurrent and hybrid models loop over time steps and cost the most per step: they go first, so that a
# pool of workers does not end the grid waiting on one long group started last.
_SLOW_FIRST = {"recurrent": 0, "hybrid": 1, "attention": 2, "cnn": 3}


@dataclass(frozen=True)
class SeedGroup:
    """Several RunTasks that share data set, model, parameters and config; trained together."""

    tasks: tuple[Any, ...]  # RunTask, the same but for the seed

    @property
    def seeds(self) -> list[int]:
        return [t.seed for t in self.tasks]

    def run(self) -> dict[str, Any]:
        import torch

        from ..train import TrainConfig
        from ..train.batched import fit_many

        first = self.tasks[0]
        torch.set_num_threads(int(first.config.get("threads") or 1))
        ds = first.data()  # compare/tasks.py: loaded once per process
        runs = fit_many(first.model, ds, self.seeds, first.params, TrainConfig(**first.config))
        return {"rows": [t.row(run) for t, run in zip(self.tasks, runs, strict=True)]}


def _family(model: str) -> str:
    from ..models import MODELS

    try:
        return MODELS.tags(model).get("family", "")
    except Exception:  # an unknown name fails later, where the run builds the model
        return ""


def group_seeds(tasks: Iterable[Any], workers: int = 1) -> list[Any]:
    """Group RunTasks by (data set, model, params hash, tuning); slow families first. Runs under the training
    policy's plateau schedule cannot be stacked (batched.why_sequential), so they stay single tasks.

    When there are fewer groups than workers, each group is split into about ``workers / groups`` parts so
    that no worker idles (a part keeps at least two seeds where it can).
    """
    groups: dict[tuple, list[Any]] = {}
    singles: list[Any] = []
    for t in tasks:
        if t.config.get("schedule") == "plateau":  # the policy's runs each find their own length: never stacked,
            singles.append(t)  # so each is a task of its own (finer load balance, stored as soon as it finishes)
            continue
        groups.setdefault((t.dataset, t.model, t.key.params_hash, t.key.version, repr(t.tuned)), []).append(t)
    parts = max(1, math.ceil(max(1, workers) / max(1, len(groups))))
    out: list[Any] = list(singles)
    for members in groups.values():
        members.sort(key=lambda t: t.seed)
        k = max(1, min(parts, len(members) // 2))
        for i in range(k):
            chunk = members[i::k]
            out.append(chunk[0] if len(chunk) == 1 else SeedGroup(tuple(chunk)))

    def order(item: Any) -> tuple:
        t = item.tasks[0] if isinstance(item, SeedGroup) else item
        n = len(item.tasks) if isinstance(item, SeedGroup) else 1
        return (_SLOW_FIRST.get(_family(t.model), 9), -n)

    return sorted(out, key=order)


def rows_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The store rows in a task's result: a SeedGroup's several, a RunTask's one."""
    return list(result["rows"]) if "rows" in result else [result]
