"""Experiment logs: every run's parameters, metrics and curves to TensorBoard or MLflow (``--log``).

``ExperimentLog`` is a training Callback: it opens a run in ``on_start``, logs the training loss and
validation metrics at every validation check (``on_eval``), and ``finish(run)`` adds the test metrics
and costs once fit() has measured them. ``log_row`` writes a finished comparison row (compare runs
in worker processes; their rows, which carry the same curves, are logged by the parent as they arrive).

Where logs go: TensorBoard event files under ``blobbotronic-out/tensorboard/<run>`` (view with
``tensorboard --logdir blobbotronic-out/tensorboard``); MLflow to ``$MLFLOW_TRACKING_URI`` when set, else
a local SQLite store ``mlflow.db`` (MLflow's own default: ``mlflow ui`` in the same folder shows it).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ..errors import BlobError
from .hooks import Callback, State

LOGGERS = ("tensorboard", "mlflow")
DEFAULT_DIRS = {"tensorboard": Path("blobbotronic-out") / "tensorboard", "mlflow": Path(".")}
EXPERIMENT = "blobbotronic"


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: both trackers want flat parameters."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def _numbers(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in _flat(d).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


class Writer:
    """One tracker: ``start(name, params)``, ``scalars(values, step)``, ``end(metrics)``."""

    def start(self, name: str, params: dict[str, Any]) -> None: ...
    def scalars(self, values: dict[str, float], step: int) -> None: ...
    def end(self, metrics: dict[str, float]) -> None: ...


class TensorBoardWriter(Writer):
    """One event-file folder per run; parameters as TensorBoard hparams (with the final metrics) and as text."""

    def __init__(self, root: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise BlobError("--log tensorboard needs the Python package 'tensorboard': pip install tensorboard "
                            "(or pip install 'blobbotronic[ecosystem]').") from None
        self.root, self.SummaryWriter, self.w, self.params = Path(root), SummaryWriter, None, {}

    def start(self, name: str, params: dict[str, Any]) -> None:
        folder = self.root / re.sub(r"[^\w.=-]+", "_", name)
        self.w = self.SummaryWriter(str(folder))
        self.params = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
                       for k, v in _flat(params).items() if v is not None}
        self.w.add_text("params", "\n".join(f"    {k} = {v}" for k, v in self.params.items()), 0)
        self.path = folder

    def scalars(self, values: dict[str, float], step: int) -> None:
        for k, v in values.items():
            self.w.add_scalar(k.replace("_", "/", 1) if k.startswith(("val_", "train_")) else k, v, step)

    def end(self, metrics: dict[str, float]) -> None:
        self.w.add_hparams(self.params, {f"hparam/{k}": v for k, v in metrics.items()}, run_name=".")
        self.w.close()


class MLflowWriter(Writer):
    """One MLflow run per training run, in experiment ``blobbotronic`` of a local store."""

    def __init__(self, root: Path, experiment: str = EXPERIMENT):
        import os

        try:
            import mlflow
        except ImportError:
            raise BlobError("--log mlflow needs the Python package 'mlflow': pip install mlflow "
                            "(or pip install 'blobbotronic[ecosystem]').") from None
        self.mlflow = mlflow
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(root) / 'mlflow.db').resolve()}"
        Path(root).mkdir(parents=True, exist_ok=True)
        _quiet_mlflow()
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
        self.uri = uri

    def start(self, name: str, params: dict[str, Any]) -> None:
        self.run = self.mlflow.start_run(run_name=name)
        flat = {k: (json.dumps(v) if isinstance(v, (list, tuple)) else v) for k, v in _flat(params).items()}
        self.mlflow.log_params({k: str(v)[:500] for k, v in flat.items() if v is not None})

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics(values, step=step)

    def end(self, metrics: dict[str, float]) -> None:
        self.mlflow.log_metrics(metrics)
        self.mlflow.end_run()


def _quiet_mlflow() -> None:
    import logging

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def writer(kind: str, root: str | Path | None = None) -> Writer:
    """The writer for ``kind`` ("tensorboard" or "mlflow"), logging under ``root`` (default: see module doc)."""
    if kind not in LOGGERS:
        raise BlobError(f"Unknown experiment log {kind!r}; valid: {', '.join(LOGGERS)}.")
    root = Path(root) if root is not None else DEFAULT_DIRS[kind]
    return TensorBoardWriter(root) if kind == "tensorboard" else MLflowWriter(root)


class ExperimentLog(Callback):
    """Log one training run live: parameters at the start, loss and validation metrics at every check.

    >>> import blobbotronic as bb, tempfile
    >>> log = ExperimentLog("tensorboard", "xor/mlp/seed0", {"model": "mlp"}, root=tempfile.mkdtemp())
    >>> run = bb.train("xor", "mlp", budget="20 steps", patience=None, quiet=True, callbacks=[log])
    >>> log.finish(run)
    >>> log.logged_steps[-1]
    20
    """

    def __init__(self, kind: str, name: str, params: dict[str, Any], root: str | Path | None = None):
        self.kind, self.name, self.params = kind, name, params
        self.w = writer(kind, root)
        self.logged_steps: list[int] = []

    def on_start(self, state: State, model: Any) -> None:
        self.w.start(self.name, {**self.params, "model_params": getattr(model, "params", {})})

    def on_eval(self, state: State, model: Any) -> None:
        self.w.scalars({"train_loss": state.train_loss, **{f"val_{k}": v for k, v in _numbers(state.val).items()}},
                       state.step)
        self.logged_steps.append(state.step)

    def finish(self, run: Any) -> None:
        """After fit(): the test metrics and the costs, then close the run."""
        self.w.end({**{f"test_{k}": v for k, v in _numbers(run.metrics).items()},
                    **{f"cost_{k}": v for k, v in _numbers(run.cost).items()}})


def log_row(w: Writer, row: dict[str, Any]) -> None:
    """Log one finished comparison row (compare/runner.py) with its curve, as if it had been logged live."""
    name = f"{row['dataset']}/{row['model']}/seed{row['seed']}"
    w.start(name, {"dataset": row["dataset"], "model": row["model"], "seed": row["seed"],
                   "params_hash": row.get("params_hash"), "model_params": row.get("params") or {},
                   "train": row.get("config") or {}, "tuned": row.get("tuned")})
    for point in row.get("history") or []:
        values = {k: v for k, v in _numbers(point).items() if k not in ("step", "seconds", "lr")}
        values["lr"] = float(point.get("lr", math.nan))
        w.scalars({k: v for k, v in values.items() if math.isfinite(v)}, int(point["step"]))
    w.end({**{f"test_{k}": v for k, v in _numbers(row.get("metrics") or {}).items()},
           **{f"cost_{k}": v for k, v in _numbers(row.get("cost") or {}).items()}})


class RowLogger:
    """An ``on_event`` hook for compare: logs each row as it arrives, then passes the event on."""

    def __init__(self, kind: str, root: str | Path | None = None, then: Any = None):
        self.w, self.then, self.logged = writer(kind, root), then, 0

    def __call__(self, kind: str, **info: Any) -> None:
        if kind == "row":
            log_row(self.w, info["row"])
            self.logged += 1
        if self.then is not None:
            self.then(kind, **info)

    def stop(self) -> None:
        if self.then is not None and hasattr(self.then, "stop"):
            self.then.stop()


def from_args(args: Any, dataset: str) -> ExperimentLog | None:
    """The ``train`` command's log for ``--log``, named dataset/model/seedN, or None without the flag."""
    if not getattr(args, "log", None):
        return None
    params = {"dataset": dataset, "model": args.model, "seed": args.seed,
              "train": {k: getattr(args, k, None) for k in ("budget", "batch_size", "lr", "patience", "device")}}
    return ExperimentLog(args.log, f"{dataset}/{args.model}/seed{args.seed}", params, args.log_dir)


__all__ = ["LOGGERS", "ExperimentLog", "RowLogger", "from_args", "log_row", "writer"]
