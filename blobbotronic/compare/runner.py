"""The comparison grid: every data set x model x seed under one budget, resumable, run through a backend.

Two steps, each with a typed result::

    config = CompareConfig(datasets="xor,digits", models="mlp,cnn", seeds=3, budget="40 steps")
    plan = plan_compare(config)      # Plan: the (data set, model) pairs that can meet, and those skipped
    result = run_compare(plan)       # CompareResult: the stored rows and their statistics

``plan_compare`` trains and stores nothing. ``run_compare`` skips the runs its store already holds,
optionally tunes each model with the same number of Optuna trials (scored on the validation split only),
runs what is left through a backend (compare/backends.py) and returns the rows with their statistics.
``compare(datasets, models, seeds, **keywords)`` is the older one-call form, kept for its callers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import BlobError, IncompatiblePair
from .backends import BACKENDS, default_workers, make_backend
from .groups import SeedGroup, group_seeds, rows_of
from .stats import analyze, summary_records
from .store import DEFAULT_STORE, RunKey, Store, params_hash
from .tasks import DATA_SEED, TUNE_SEED, RunTask, TuneTask, dataset, search_space, version

Emit = Callable[..., None]  # on_event(kind, **info): "plan", "tuned" and "row" as the grid advances


def _silent(kind: str, **info: Any) -> None:
    pass


def as_list(v: str | Iterable[str]) -> list[str]:
    items = v.split(",") if isinstance(v, str) else list(v)
    return [s.strip() for s in items if str(s).strip()]


# ---- the typed surface ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareConfig:
    """Everything that defines a comparison grid; its fields are the schema (comma-separated strings and a
    seed count are accepted and normalised to tuples)."""

    datasets: tuple[str, ...]  # built-in names, files or folders
    models: tuple[str, ...] = ()  # empty: the default set for the data's modality and task (compare/defaults.py)
    seeds: tuple[int, ...] = (0, 1, 2)  # an int N means 0..N-1
    budget: str | None = None  # the same for every model; None: the training policy
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # model name -> its parameters
    train: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig settings for every run (lr, patience...)
    data_options: Mapping[str, Any] = field(default_factory=dict)  # how every data set is read (--data-option)
    tune: int = 0  # Optuna trials per (data set, model) on the validation split, before the seeded runs
    store: str | Path | Store = DEFAULT_STORE  # runs already in it are reused, not rerun
    backend: str = "local"  # a name in BACKENDS
    workers: int | None = None  # parallel runs; None: the cores (one on CUDA)
    address: str | None = None  # the Ray cluster for backend="ray"
    device: str = "auto"
    batch_seeds: bool = True  # the seeds of a model as one stacked computation where it allows (compare/groups.py)
    skip_bad: bool = False  # leave unreadable files of image or clip folders out, counted in rows and report

    def __post_init__(self) -> None:
        seeds = range(self.seeds) if isinstance(self.seeds, int) else self.seeds
        normal = {"datasets": tuple(as_list(self.datasets)), "models": tuple(as_list(self.models or ())),
                  "seeds": tuple(int(s) for s in seeds), "params": {m: dict(p) for m, p in (self.params or {}).items()},
                  "train": dict(self.train or {}), "data_options": dict(self.data_options or {})}
        for name, value in normal.items():
            object.__setattr__(self, name, value)
        if not self.datasets or not self.seeds:
            raise BlobError("compare needs at least one data set and one seed (--data, --seeds).")
        if self.tune < 0:
            raise BlobError(f"tune must be 0 or more trials, got {self.tune}.")
        if self.budget is not None:
            from ..train.budget import Budget

            Budget.parse(self.budget)  # a budget that cannot be read is refused here, before any data is loaded

    @classmethod
    def of(cls, datasets: Any, models: Any = None, seeds: Any = 3, **keywords: Any) -> CompareConfig:
        """The keyword form: this class's fields by name, any other keyword a training setting (``lr=0.01``)."""
        names = {f.name for f in fields(cls)}
        own = {k: v for k, v in keywords.items() if k in names}
        train = {**own.pop("train", {}), **{k: v for k, v in keywords.items() if k not in names}}
        return cls(datasets, models, seeds, **own, train=train)


@dataclass(frozen=True)
class Pair:
    """One (data set, model) of the grid that can meet: resolved model parameters and training config."""

    dataset: str
    model: str
    params: dict[str, Any]
    config: dict[str, Any]  # TrainConfig keywords resolved for this model and data, seed and quiet left out


@dataclass(frozen=True)
class Plan:
    """What ``plan_compare`` returns: the grid resolved, nothing trained or stored."""

    config: CompareConfig
    pairs: tuple[Pair, ...]
    models: tuple[str, ...]  # the models compared: those named, or the defaults chosen
    device: str  # the device resolved ("cpu", "cuda:0")
    version: str
    skipped: tuple[str, ...] = ()  # "MODEL on DATA: why", for the pairs that cannot meet
    chosen: tuple[tuple[str, str], ...] = ()  # (model, why) when the models were the defaults

    def tasks(self, tuned: Mapping[tuple[str, str], Mapping[str, Any]] | None = None) -> list[RunTask]:
        """Every (data set, model, seed) run, whole seeds first; ``tuned`` maps (data set, model) to a tuning's
        result, whose choices replace the parameters and learning rate of that pair."""
        cfg, tuned, out = self.config, tuned or {}, []
        for pair in self.pairs:
            params, train, info = pair.params, pair.config, None
            hit = tuned.get((pair.dataset, pair.model))
            if hit is not None:
                picked = hit["chosen"]
                params = _resolve(pair.model, {**params, **{k: v for k, v in picked.items() if k != "lr"}})
                train = {**train, **({"lr": float(picked["lr"])} if "lr" in picked else {})}
                info = {"trials": cfg.tune, "chosen": picked, "best_val": hit.get("best_val")}
            h = params_hash(params, train, cfg.data_options)
            for seed in cfg.seeds:
                key = RunKey(pair.dataset, pair.model, h, seed, self.version)
                out.append(RunTask(pair.dataset, pair.model, seed, params, train, key, info, cfg.skip_bad,
                                   dict(cfg.data_options)))
        out.sort(key=lambda t: (t.seed, cfg.datasets.index(t.dataset), self.models.index(t.model)))
        return out


@dataclass
class CompareResult:
    """What ``run_compare`` returns: the grid's stored rows, their statistics per data set, and bookkeeping."""

    rows: list[dict[str, Any]]
    analyses: list[dict[str, Any]]
    store: Path
    ran: int = 0
    reused: int = 0
    skipped: list[str] = field(default_factory=list)
    chosen: list[tuple[str, str]] = field(default_factory=list)  # (model, why) when the models were the defaults

    @property
    def summary(self) -> list[dict[str, Any]]:
        return summary_records(self.analyses)

    def runs(self) -> list[dict[str, Any]]:
        """Per-run records, as ``blobbotronic train --json`` prints them."""
        keys = ("dataset", "model", "seed", "metrics", "val_metrics", "cost", "stopped", "params", "params_hash",
                "tuned")
        return [{k: r.get(k) for k in keys} for r in self.rows]

    def report(self, out_dir: str | Path) -> Path:
        from ..report import render

        return render(self.rows, out_dir, store=self.store, chosen=self.chosen)


Comparison = CompareResult  # the name before plan and run were split


def _resolve(model: str, params: dict[str, Any]) -> dict[str, Any]:
    from ..models import resolve_params

    return resolve_params(model, params)


# ---- planning -------------------------------------------------------------------------------------


def plan_compare(config: CompareConfig) -> Plan:
    """Resolve every (data set, model) of the grid; pairs that cannot meet (IncompatiblePair) are skipped
    and said why. Loads the data sets; trains and stores nothing."""
    from ..models import create
    from ..train import TrainConfig
    from ..train.budget import Budget
    from ..train.loop import pick_device

    models, chosen = config.models, ()
    if not models:  # none named: the primer's families that fit the data (compare/defaults.py), said in the report
        from .defaults import union

        chosen = tuple(union([dataset(s, config.skip_bad, config.data_options).spec for s in config.datasets]))
        models = tuple(name for name, _ in chosen)
    strays = sorted(set(config.params) - set(models))
    if strays:
        raise BlobError(f"Parameters were given for {', '.join(strays)}, which is not among the models compared "
                        f"({', '.join(models)}).")
    device = str(pick_device(config.device))
    base = {"device": device, "threads": 1, **config.train}
    if config.budget is not None:
        base["budget"] = Budget.parse(config.budget).to_dict()
    pairs, skipped = [], []
    for source in config.datasets:
        ds = dataset(source, config.skip_bad, config.data_options)
        for name in models:
            given = config.params.get(name, {})
            try:
                net = create(name, ds.spec, **given)
            except IncompatiblePair as e:
                skipped.append(f"{name} on {source}: {e}")
                continue
            cfg = {k: v for k, v in TrainConfig(**base).resolved(net, ds).to_dict().items()
                   if k not in ("seed", "quiet")}
            pairs.append(Pair(source, name, _resolve(name, given), cfg))
    if not pairs:
        raise BlobError("No model in the grid can take any of its data sets:\n" + "\n".join(skipped))
    return Plan(config, tuple(pairs), models, device, version(), tuple(skipped), chosen)


# ---- running --------------------------------------------------------------------------------------


def check_store(store: str | Path | Store) -> None:
    """Refuse a store that cannot be written (read-only, a full disk) before any work is done for it."""
    if not isinstance(store, Store):
        from ..guards import check_writable

        check_writable(store)


@contextmanager
def _opened(store: str | Path | Store) -> Iterator[Store]:
    """The config's store, opened (and closed after) unless it came open."""
    if isinstance(store, Store):
        yield store
        return
    check_store(store)  # a read-only store or a full disk is refused before any training is spent
    db = Store(store)
    try:
        yield db
    finally:
        db.close()


def _engine(plan: Plan) -> Any:
    cfg = plan.config
    workers = 1 if plan.device.startswith("cuda") and not cfg.workers else cfg.workers
    return make_backend(cfg.backend, workers, address=cfg.address)


def tune_pairs(plan: Plan, db: Store, engine: Any, emit: Emit = _silent) -> dict[tuple[str, str], dict[str, Any]]:
    """Tune every pair with the config's number of trials (a tuning the store holds is reused); returns
    (data set, model) -> {"chosen": ..., "best_val": ...}. Nothing to do when the config's ``tune`` is 0."""
    cfg, ver = plan.config, plan.version
    tuned: dict[tuple[str, str], dict[str, Any]] = {}
    if cfg.tune <= 0:
        return tuned
    todo = []
    for pair in plan.pairs:
        base = params_hash(pair.params, pair.config, cfg.data_options)
        hit = db.tuned(pair.dataset, pair.model, base, cfg.tune, ver)
        if hit is not None:
            tuned[(pair.dataset, pair.model)] = hit
            continue
        fixed = set(cfg.params.get(pair.model, {})) | ({"lr"} if "lr" in cfg.train else set())
        space = search_space(pair.model, pair.params, pair.config["lr"], fixed)
        todo.append(TuneTask(pair.dataset, pair.model, cfg.tune, pair.params, pair.config, space, base, cfg.skip_bad,
                             dict(cfg.data_options)))
    emit("plan", phase="tune", total=len(plan.pairs), reused=len(plan.pairs) - len(todo))
    for res in engine.run(todo):
        db.put_tuned(res["dataset"], res["model"], res["base_hash"], cfg.tune, ver, res["chosen"], res["best_val"])
        tuned[(res["dataset"], res["model"])] = res
        emit("tuned", **res)
    return tuned


def planned_runs(plan: Plan, on_event: Emit | None = None) -> list[RunTask]:
    """The plan's RunTasks with tuning applied (tuning trains and stores its trials); no run is trained, so that
    ``train_pending`` can run the tasks of several grids in one pool (the claims suite does that)."""
    with _opened(plan.config.store) as db:
        return plan.tasks(tune_pairs(plan, db, _engine(plan), on_event or _silent))


def run_compare(plan: Plan, on_event: Emit | None = None) -> CompareResult:
    """Tune if the config asks, train every run of the plan the store does not hold, and measure them.

    ``on_event(kind, **info)`` hears "plan", "tuned" and "row" as the grid advances."""
    emit, cfg = on_event or _silent, plan.config
    with _opened(cfg.store) as db:
        engine = _engine(plan)
        tasks = plan.tasks(tune_pairs(plan, db, engine, emit))
        ran, reused = train_pending(tasks, db, engine, cfg.batch_seeds, emit)
        rows = db.rows(keys=[t.key for t in tasks])
        return CompareResult(rows, analyze(rows), db.path, ran=ran, reused=reused, skipped=list(plan.skipped),
                             chosen=list(plan.chosen))


def pending_groups(tasks: list[RunTask], done: set[RunKey], workers: int) -> list[Any]:
    """The seed groups of the whole grid that still have runs to do.

    Groups are formed over every task, done or not, so a resumed grid trains its seeds in the same groups
    as an uninterrupted one and gives the same numbers (stacking changes floating-point rounding). A group
    is stored in one transaction, so it is either all done or all to do; a partly stored group (from an
    older store) trains just its missing seeds.
    """
    out = []
    for item in group_seeds(tasks, workers):
        members = item.tasks if isinstance(item, SeedGroup) else (item,)
        left = [t for t in members if t.key not in done]
        if len(left) == len(members):
            out.append(item)
        elif left:
            out.append(left[0] if len(left) == 1 else SeedGroup(tuple(left)))
    return out


def train_pending(tasks: list[RunTask], db: Store, engine: Any, batch_seeds: bool = True,
                  emit: Emit | None = None) -> tuple[int, int]:
    """Train the tasks not yet in ``db`` (seed groups where ``batch_seeds``), storing each as it finishes;
    returns (runs trained, runs reused). Emits "plan" once and "row" per stored run."""
    emit = emit or _silent
    unique = list({t.key: t for t in tasks}.values())  # two grids may ask for the same run: train it once
    done = db.done()
    todo_runs = [t for t in unique if t.key not in done]
    reused = len(unique) - len(todo_runs)
    emit("plan", phase="run", total=len(unique), reused=reused)
    ran = 0
    work = pending_groups(unique, done, getattr(engine, "workers", 1) or 1) if batch_seeds else todo_runs
    for res in engine.run(work):
        group = rows_of(res)  # a seed group's result holds several rows: stored together, in one transaction
        db.put_many(group)
        for row in group:
            ran += 1
            emit("row", row=row, done=reused + ran, total=len(unique))
    return ran, reused


# ---- the one-call form ----------------------------------------------------------------------------


def compare(datasets: str | Iterable[str], models: str | Iterable[str] | None = None, seeds: int | Iterable[int] = 3,
            *, on_event: Emit | None = None, plan_only: bool = False, quiet: bool = True,
            **keywords: Any) -> Any:
    """``run_compare(plan_compare(CompareConfig.of(datasets, models, seeds, **keywords)), on_event)``.

    ``keywords``: CompareConfig's fields by name (budget, params, tune, store, backend, workers, device,
    batch_seeds, address, skip_bad, data_options), any other a training setting for every run (``lr=0.01``).
    ``plan_only`` returns the grid's RunTasks instead (``planned_runs``), training no run. ``quiet`` is
    accepted for older callers: a grid's runs never print.
    """
    config = CompareConfig.of(datasets, models, seeds, **keywords)
    check_store(config.store)  # refused before any data set is loaded
    plan = plan_compare(config)
    return planned_runs(plan, on_event) if plan_only else run_compare(plan, on_event)


__all__ = ["BACKENDS", "DATA_SEED", "DEFAULT_STORE", "TUNE_SEED", "CompareConfig", "CompareResult", "Comparison",
           "Pair", "Plan", "RunTask", "TuneTask", "as_list", "check_store", "compare", "dataset", "default_workers",
           "make_backend", "pending_groups", "plan_compare", "planned_runs", "run_compare", "search_space",
           "train_pending", "tune_pairs", "version"]
