"""Experiment logs: parameters, metrics and curves of train and compare runs land in TensorBoard and MLflow."""

from __future__ import annotations

import json
import sys

import pytest

import blobbotronic as bb
from blobbotronic import BlobError
from blobbotronic.cli import main
from blobbotronic.train.logging import ExperimentLog, writer

pytest.importorskip("tensorboard", reason="pip install tensorboard")


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return acc


def test_the_callback_logs_the_curve_at_every_validation_check(tmp_path):
    log = ExperimentLog("tensorboard", "xor/mlp/seed0", {"model": "mlp", "lr": 0.05}, root=tmp_path)
    run = bb.train("xor", "mlp", budget="30 steps", eval_every=10, lr=0.05, quiet=True, callbacks=[log])
    log.finish(run)
    folder = tmp_path / "xor_mlp_seed0"
    scalars = _events(folder).Scalars("val/accuracy")
    assert [e.step for e in scalars] == [h["step"] for h in run.history]
    assert [round(e.value, 6) for e in scalars] == [round(h["val_accuracy"], 6) for h in run.history]
    tags = _events(folder).Tags()
    assert "hparam/test_accuracy" in tags["scalars"] and "train/loss" in tags["scalars"]


def test_train_and_compare_take_log_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "and", "--model", "logistic", "--budget", "10 steps", "--no-save", "--quiet",
                 "--log", "tensorboard", "--log-dir", "tb"]) == 0
    assert (tmp_path / "tb" / "and_logistic_seed0").is_dir()
    capsys.readouterr()
    assert main(["compare", "--data", "xor", "--models", "mlp,logistic", "--seeds", "2", "--budget", "10 steps",
                 "--workers", "1", "--store", "r.db", "--out", "rep", "--log", "tensorboard", "--log-dir", "cmp",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    assert sorted(p.name for p in (tmp_path / "cmp").iterdir()) == [
        "xor_logistic_seed0", "xor_logistic_seed1", "xor_mlp_seed0", "xor_mlp_seed1"]
    steps = _events(tmp_path / "cmp" / "xor_mlp_seed1").Scalars("val/accuracy")
    assert len(steps) >= 1 and len(rows) == 4


def test_a_missing_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(BlobError, match="pip install mlflow"):
        writer("mlflow")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(BlobError, match="pip install tensorboard"):
        writer("tensorboard")
    with pytest.raises(BlobError, match="valid: tensorboard, mlflow"):
        writer("wandb")


@pytest.mark.slow
def test_mlflow_records_params_metrics_and_curves(tmp_path, monkeypatch):
    """Slow: MLflow creates its SQLite tables with a dozen migrations on first use."""
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    log = ExperimentLog("mlflow", "xor/mlp/seed0", {"model": "mlp", "dataset": "xor"}, root=tmp_path)
    run = bb.train("xor", "mlp", budget="30 steps", eval_every=10, quiet=True, callbacks=[log])
    log.finish(run)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    found = client.search_runs([client.get_experiment_by_name("blobbotronic").experiment_id])
    assert len(found) == 1 and found[0].info.run_name == "xor/mlp/seed0"
    assert found[0].data.params["model"] == "mlp" and found[0].data.params["model_params.hidden"] == "100"
    assert found[0].data.metrics["test_accuracy"] == run.metrics["accuracy"]
    curve = client.get_metric_history(found[0].info.run_id, "val_accuracy")
    assert [m.step for m in curve] == [h["step"] for h in run.history]
