"""What a backend runs: one seeded training (RunTask) or one model's tuning (TuneTask), both picklable.

A task's ``run()`` returns a dict: a RunTask the store row of its run, a TuneTask the parameters Optuna
chose. Data sets load once per process (``dataset``), always with the same split (DATA_SEED), so that
training seeds vary only initialisation and batch order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BlobError
from .store import RunKey, now

DATA_SEED = 0  # every run of a grid sees the same split; training seeds vary initialisation and batch order
TUNE_SEED = 12345  # tuning trials use a seed that no reported run uses
_DATA: dict[tuple, Any] = {}  # data sets loaded in this process, by source, skip_bad and options


def version() -> str:
    from .. import __version__

    return __version__


def dataset(source: str, skip_bad: bool = False, options: Mapping[str, Any] | None = None):
    """Load a data set once per process (the split is fixed: DATA_SEED); ``skip_bad``: data/bad_files.py;
    ``options``: the reader's options (``--data-option KEY=VALUE``), the same for every data set of a grid."""
    key = (source, skip_bad, tuple(sorted((k, repr(v)) for k, v in (options or {}).items())))
    if key not in _DATA:
        from ..data.bad_files import load_data

        _DATA[key] = load_data(source, seed=DATA_SEED, skip_bad=skip_bad, options=dict(options or {}))
    return _DATA[key]


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
    data_options: dict[str, Any] = field(default_factory=dict)  # how the data set is read (--data-option)

    def data(self) -> Any:
        """This task's data set, loaded once per process."""
        return dataset(self.dataset, self.skip_bad, self.data_options)

    def run(self) -> dict[str, Any]:
        import torch

        from ..models import create
        from ..train import TrainConfig, fit, seed_everything

        torch.set_num_threads(int(self.config.get("threads") or 1))
        ds = self.data()
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

        ds = self.data()
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
        if self.data_options:  # how the data was read: part of the run's identity (its params_hash) too
            config["data_options"] = dict(self.data_options)
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
    data_options: dict[str, Any] = field(default_factory=dict)

    def run(self) -> dict[str, Any]:
        from ..models import create
        from ..train import TrainConfig, fit, headline, seed_everything

        try:
            import optuna
        except ImportError:
            raise BlobError("--tune needs Optuna: pip install 'blobbotronic[tune]' (or pip install optuna).") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        ds = dataset(self.dataset, self.skip_bad, self.data_options)
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
