"""The comparison grid: every data set x model x seed under one budget, resumable, run through a backend.

``compare(...)`` plans the grid, skips the runs its store already holds, optionally tunes each model
with the same number of Optuna trials (scored on the validation split only), runs what is left through a
backend and returns the stored rows with their statistics. A backend is anything with
``run(tasks) -> iterator of results``, where a task is a picklable object whose ``run()`` returns a dict;
backends register in ``BACKENDS`` ("local" here; a Ray backend plugs in the same way).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..errors import BlobError
from ..registry import Registry
from .groups import SeedGroup, group_seeds, rows_of
from .stats import analyze, summary_records
from .store import DEFAULT_STORE, RunKey, Store, now, params_hash

BACKENDS = Registry("backend")
DATA_SEED = 0  # every run of a grid sees the same split; training seeds vary initialisation and batch order
TUNE_SEED = 12345  # tuning trials use a seed that no reported run uses
_DATA: dict[tuple[str, bool], Any] = {}  # data sets loaded in this process, by source and skip_bad


def version() -> str:
    from .. import __version__

    return __version__


def dataset(source: str, skip_bad: bool = False):
    """Load a data set once per process (the split is fixed: DATA_SEED); ``skip_bad``: data/bad_files.py."""
    if (source, skip_bad) not in _DATA:
        from ..data.bad_files import load_data

        _DATA[(source, skip_bad)] = load_data(source, seed=DATA_SEED, skip_bad=skip_bad)
    return _DATA[(source, skip_bad)]


# ---- tasks: what a backend runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunTask:
    """Train one model on one data set with one seed and measure it; ``run()`` returns the store row."""

    dataset: str
    model: str
    seed: int
    params: dict[str, Any]  # resolved model parameters
    config: dict[str, Any]  # TrainConfig keywords, seed and quiet left out
    key: RunKey
    tuned: dict[str, Any] | None = None
    skip_bad: bool = False  # leave unreadable files of a folder out (--skip-bad)

    def run(self) -> dict[str, Any]:
        import torch

        from ..models import create
        from ..train import TrainConfig, fit, seed_everything

        torch.set_num_threads(int(self.config.get("threads") or 1))
        ds = dataset(self.dataset, self.skip_bad)
        seed_everything(self.seed)
        model = create(self.model, ds.spec, **self.params)
        return self.row(fit(model, ds, TrainConfig(**self.config, seed=self.seed, quiet=True)))

    def row(self, run: Any) -> dict[str, Any]:
        """The store row of this task's finished Run (seed groups train several, then call this per seed)."""
        import torch

        from ..data.bad_files import skipped_info
        from ..train import headline
        from ..train.loop import pick_device
        from ..train.metrics import inference_cost, predict_batches
        from ..train.tasks import confusion

        ds = dataset(self.dataset, self.skip_bad)
        test = ds.test.to(pick_device(run.config.device))
        cost = {**run.cost, **inference_cost(run.model, test)}
        cm = outcomes = None
        if ds.spec.task == "classify":
            pred = predict_batches(run.model, test).argmax(1)
            cm = confusion(pred, test.y, ds.spec.n_outputs).tolist()
            # each test example right ('1') or wrong ('0'), in test order: what the statistics need to count the
            # test set's own sampling uncertainty and the examples on which two models disagree (compare/stats.py)
            outcomes = (pred == test.y.to(pred.device)).to(torch.uint8).add(48).cpu().numpy().tobytes().decode("ascii")
        metric, higher = headline(ds.spec)
        config = {k: v for k, v in run.config.to_dict().items() if k != "quiet"}
        if skipped_info(ds)["skipped"]:  # the files --skip-bad left out, kept with the row for the report
            config["data"] = skipped_info(ds)
        return {"dataset": self.dataset, "model": self.model, "params_hash": self.key.params_hash, "seed": self.seed,
                "version": self.key.version, "spec_name": ds.spec.name, "metric": metric, "higher": higher,
                "params": self.params, "config": config, "metrics": run.metrics, "val_metrics": run.val_metrics,
                "cost": cost, "history": run.history, "confusion": cm, "classes": list(ds.spec.classes),
                "tuned": self.tuned, "stopped": run.stopped, "finished_at": now(), "outcomes": outcomes,
                "convergence": getattr(run, "convergence", None)}


@dataclass(frozen=True)
class TuneTask:
    """Optuna's TPE search over ``space`` with ``trials`` trainings, each scored on the validation split."""

    dataset: str
    model: str
    trials: int
    params: dict[str, Any]
    config: dict[str, Any]
    space: dict[str, tuple[str, float, float]]  # name -> (int|float, low, high), log scale
    base_hash: str
    skip_bad: bool = False

    def run(self) -> dict[str, Any]:
        from ..models import create
        from ..train import TrainConfig, fit, headline, seed_everything

        try:
            import optuna
        except ImportError:
            raise BlobError("--tune needs Optuna: pip install 'blobbotronic[tune]' (or pip install optuna).") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        ds = dataset(self.dataset, self.skip_bad)
        metric, higher = headline(ds.spec)

        def objective(trial) -> float:
            params, config = dict(self.params), dict(self.config)
            for name, (kind, low, high) in self.space.items():
                suggest = trial.suggest_int if kind == "int" else trial.suggest_float
                value = suggest(name, low, high, log=True)
                (config if name == "lr" else params)[name] = value
            seed_everything(TUNE_SEED)
            model = create(self.model, ds.spec, **params)
            return float(fit(model, ds, TrainConfig(**config, seed=TUNE_SEED, quiet=True)).val_metrics[metric])

        sampler = optuna.samplers.TPESampler(seed=0)
        study = optuna.create_study(direction="maximize" if higher else "minimize", sampler=sampler)
        study.optimize(objective, n_trials=self.trials)
        return {"dataset": self.dataset, "model": self.model, "base_hash": self.base_hash,
                "trials": self.trials, "chosen": dict(study.best_params), "best_val": float(study.best_value),
                "metric": f"val {metric}"}


def search_space(model: str, params: dict[str, Any], lr: float, fixed: Iterable[str]) -> dict[str, tuple]:
    """A small space per family: the learning rate (log-uniform over 100x around the family's default) and
    the width (``hidden`` or ``width``, from a quarter to twice the default) where the model has one."""
    fixed = set(fixed)
    space: dict[str, tuple] = {}
    if "lr" not in fixed:
        space["lr"] = ("float", lr / 10, min(1.0, lr * 10))
    for name in ("hidden", "width"):
        if name in params and name not in fixed and isinstance(params[name], int) and params[name] > 1:
            space[name] = ("int", max(2, params[name] // 4), params[name] * 2)
    return space


# ---- backends ---------------------------------------------------------------------------------------


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _init_worker(parent: int) -> None:
    """In each worker: one thread, Ctrl-C left to the parent, and exit when the parent is gone (SIGKILL)."""
    import torch

    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _call(task: Any) -> dict[str, Any]:
    return task.run()


@contextmanager
def _one_thread_env() -> Iterator[None]:
    """Worker processes inherit one-thread settings before they import torch."""
    keys = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "BLOBBOTRONIC_THREADS": "1"}
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@BACKENDS.register("local", about="this machine: in this process, or in N worker processes of one thread each")
class LocalBackend:
    """Runs tasks in this process (``workers=1``) or in a pool of spawned processes, one thread each."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, int(workers or default_workers()))

    def run(self, tasks: Iterable[Any]) -> Iterator[dict[str, Any]]:
        tasks = list(tasks)
        if self.workers == 1 or len(tasks) <= 1:
            for t in tasks:
                yield t.run()
            return
        with _one_thread_env():
            pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=get_context("spawn"),
                                       initializer=_init_worker, initargs=(os.getpid(),))
            try:
                for fut in as_completed([pool.submit(_call, t) for t in tasks]):
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        raise BlobError(
                            "A worker process died before finishing its run (out of memory, killed, or it could "
                            "not start). From a Python script, call compare() under `if __name__ == \"__main__\":` "
                            "(worker processes import the script); or run with workers=1 (--workers 1). "
                            "Finished runs are stored: rerun to resume."
                        ) from None
                    yield result
            except BaseException:  # a failed, interrupted or abandoned grid does not wait for the runs in flight
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    proc.terminate()
                raise
            finally:
                pool.shutdown(wait=False, cancel_futures=True)


def make_backend(name: str, workers: int | None = None, **options: Any) -> Any:
    """A backend by name; ``options`` (such as a Ray ``address``) go to its constructor when given."""
    return BACKENDS.get(name)(workers=workers, **{k: v for k, v in options.items() if v is not None})


# ---- the grid ---------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """What ``compare`` returns: the grid's stored rows, their statistics per data set, and bookkeeping."""

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
                  emit: Callable[..., None] | None = None) -> tuple[int, int]:
    """Train the tasks not yet in ``db`` (seed groups where ``batch_seeds``), storing each as it finishes;
    returns (runs trained, runs reused). Emits "plan" once and "row" per stored run."""
    emit = emit or (lambda kind, **info: None)
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


def as_list(v: str | Iterable[str]) -> list[str]:
    items = v.split(",") if isinstance(v, str) else list(v)
    return [s.strip() for s in items if str(s).strip()]


def compare(datasets: str | Iterable[str], models: str | Iterable[str] | None = None, seeds: int | Iterable[int] = 3,
            budget: str | None = None, params: dict[str, dict[str, Any]] | None = None, tune: int = 0,
            store: str | Path | Store = DEFAULT_STORE, backend: str = "local", workers: int | None = None,
            quiet: bool = True, device: str = "auto", on_event: Callable[..., None] | None = None,
            batch_seeds: bool = True, address: str | None = None, skip_bad: bool = False, plan_only: bool = False,
            **config: Any) -> Any:
    """Train every model on every data set for every seed under the same policy or budget; return rows and statistics.

    ``models`` None or empty: the default set for the data's modality and task (compare/defaults.py).

    ``params`` maps a model name to its parameters; ``tune=K`` gives each (data set, model) K Optuna
    trials on the validation split first. Runs already in ``store`` are reused, not rerun.
    ``on_event(kind, **info)`` hears "plan", "tuned" and "row" as the grid advances.
    ``batch_seeds`` trains the seeds of one model as one stacked computation where the model allows it
    (compare/groups.py; the same rows up to rounding); ``address`` is the Ray cluster for ``backend="ray"``.
    ``skip_bad`` leaves unreadable files of image or clip folders out, counted in the rows and the report.
    ``plan_only`` returns the grid's RunTasks without training or storing anything (``train_pending`` runs
    the tasks of several grids in one pool: the claims suite does that).
    """
    from ..models import create, resolve_params
    from ..train import TrainConfig
    from ..train.budget import Budget
    from ..train.loop import pick_device

    datasets, models = as_list(datasets), as_list(models or [])
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not datasets or not seeds:
        raise BlobError("compare needs at least one data set and one seed (--data, --seeds).")
    chosen: list[tuple[str, str]] = []
    if not models:  # none named: the primer's families that fit the data (compare/defaults.py), said in the report
        from .defaults import union

        chosen = union([dataset(source, skip_bad).spec for source in datasets])
        models = [name for name, _ in chosen]
    params = {m: dict(p) for m, p in (params or {}).items()}
    strays = sorted(set(params) - set(models))
    if strays:
        raise BlobError(f"Parameters were given for {', '.join(strays)}, which is not among the models compared "
                        f"({', '.join(models)}).")
    emit = on_event or (lambda kind, **info: None)
    ver = version()
    base_cfg = {"device": str(pick_device(device)), "threads": 1, **config}
    if budget is not None:
        base_cfg["budget"] = Budget.parse(budget).to_dict()
    if not isinstance(store, Store):
        from ..guards import check_writable

        check_writable(store)  # a read-only store or a full disk is refused before any training is spent
    db = store if isinstance(store, Store) else Store(store)
    engine = make_backend(backend, 1 if base_cfg["device"].startswith("cuda") and not workers else workers,
                          address=address)

    # ---- plan: resolve every (data set, model), skipping pairs that cannot meet -------------------
    plan, skipped = [], []
    for source in datasets:
        ds = dataset(source, skip_bad)
        for name in models:
            try:
                net = create(name, ds.spec, **params.get(name, {}))
            except BlobError as e:
                if "cannot take" in str(e) or "cannot do" in str(e):
                    skipped.append(f"{name} on {source}: {e}")
                    continue
                raise
            resolved = resolve_params(name, params.get(name, {}))
            cfg = {k: v for k, v in TrainConfig(**base_cfg).resolved(net, ds).to_dict().items()
                   if k not in ("seed", "quiet")}
            plan.append((source, name, resolved, cfg))
    if not plan:
        raise BlobError("No model in the grid can take any of its data sets:\n" + "\n".join(skipped))

    # ---- tune: the same number of trials for every model, on the validation split ---------------
    tuned: dict[tuple[str, str], dict[str, Any]] = {}
    if tune > 0:
        todo = []
        for source, name, resolved, cfg in plan:
            base = params_hash(resolved, cfg)
            hit = db.tuned(source, name, base, tune, ver)
            if hit is not None:
                tuned[(source, name)] = hit
                continue
            fixed = set(params.get(name, {})) | ({"lr"} if "lr" in config else set())
            space = search_space(name, resolved, cfg["lr"], fixed)
            todo.append(TuneTask(source, name, tune, resolved, cfg, space, base, skip_bad))
        emit("plan", phase="tune", total=len(plan), reused=len(plan) - len(todo))
        for res in engine.run(todo):
            db.put_tuned(res["dataset"], res["model"], res["base_hash"], tune, ver, res["chosen"], res["best_val"])
            tuned[(res["dataset"], res["model"])] = res
            emit("tuned", **res)

    # ---- run: every (data set, model, seed) not in the store ------------------------------------
    tasks = []
    for source, name, resolved, cfg in plan:
        info = None
        if (source, name) in tuned:
            chosen = tuned[(source, name)]["chosen"]
            resolved = resolve_params(name, {**resolved, **{k: v for k, v in chosen.items() if k != "lr"}})
            cfg = {**cfg, **({"lr": float(chosen["lr"])} if "lr" in chosen else {})}
            info = {"trials": tune, "chosen": chosen, "best_val": tuned[(source, name)].get("best_val")}
        h = params_hash(resolved, cfg)
        for seed in seeds:
            tasks.append(RunTask(source, name, seed, resolved, cfg, RunKey(source, name, h, seed, ver), info, skip_bad))
    tasks.sort(key=lambda t: (t.seed, datasets.index(t.dataset), models.index(t.model)))  # whole seeds first
    if plan_only:
        if not isinstance(store, Store):
            db.close()
        return tasks
    ran, reused = train_pending(tasks, db, engine, batch_seeds, emit)
    rows = db.rows(keys=[t.key for t in tasks])
    result = Comparison(rows, analyze(rows), db.path, ran=ran, reused=reused, skipped=skipped, chosen=chosen)
    if not isinstance(store, Store):
        db.close()
    return result


from . import ray_backend  # noqa: E402,F401  (registers the "ray" backend; Ray itself loads lazily)
