"""Presets and the time-series models: presets resolve and build, training settings apply, BatchNorm behaves."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from blobbotronic.cli import main
from blobbotronic.data.spec import Spec, make_dataset
from blobbotronic.errors import BlobError
from blobbotronic.models import MODELS, create, resolve_params
from blobbotronic.models.presets import COUNT_SPEC, PRESETS, configure, listing, preset, resolve
from blobbotronic.train import TrainConfig, evaluate, fit, train

from .conftest import SPECS, random_batch

SERIES = ("fcn", "resnet1d", "inception_time", "lstm_fcn")


def tiny_series(n: int = 60, length: int = 24, seed: int = 0):
    """Two classes: a bump early or late in the series, plus noise; learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, length, 1)).astype(np.float32)
    for i, c in enumerate(y):
        start = 3 if c == 0 else length - 9
        x[i, start : start + 6, 0] += 2.0
    spec = Spec("bumps", "sequence", "classify", (length, 1), 2, classes=["early", "late"])
    test = (x[-20:], y[-20:])
    return make_dataset(spec, x[:-20], y[:-20], test=test, val_fraction=0.25, seed=0)


def test_series_models_are_registered_with_docstrings_that_say_when_and_cost():
    for name in SERIES:
        doc = MODELS.get(name).__doc__
        assert "Use when" in doc and "Cost" in doc, name
        assert MODELS.tags(name)["accepts"] == ("sequence", "image", "text")


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_resolves_and_builds_its_model(name):
    p = PRESETS.get(name)
    # a sequence where the model takes one, else text (the chinese_sentiment presets' glyph model)
    spec = SPECS["sequence" if "sequence" in MODELS.tags(p.model)["accepts"] else "text"]
    model = create(name, spec)
    assert type(model) is MODELS.get(p.model)
    assert model.preset == name and model.name == p.model  # checkpoints name the model, so they outlive presets
    assert model.params == resolve_params(p.model, p.params)
    for key, value in p.optimiser().items():
        assert model.train_defaults[key] == value
    x, _, lengths = random_batch(spec, 4)
    out = model(x, lengths)
    assert out.shape == (4, spec.n_outputs)


def test_caller_parameters_override_the_preset():
    model, params, p = resolve("gru_deep", {"hidden": 8})
    assert model == "gru" and params["hidden"] == 8 and params["layers"] == 2 and p is not None
    assert create("gru_deep", SPECS["sequence"], hidden=8).params["hidden"] == 8
    assert resolve("gru", {"hidden": 8}) == ("gru", {"hidden": 8}, None)  # plain models pass through


def test_preset_training_settings_fill_only_what_the_caller_left_at_default():
    cfg = configure("mnist1d_paper_cnn")
    assert cfg.batch_size == 100 and cfg.lr == 1e-2 and cfg.schedule == "constant" and cfg.patience is None
    mine = configure("mnist1d_paper_cnn", TrainConfig(batch_size=32, budget="5 steps"))
    assert mine.batch_size == 32 and mine.budget == "5 steps" and mine.lr == 1e-2
    assert configure("mnist1d_paper_cnn", None, {"lr": 0.5}).lr is None  # an override passed beside it wins later
    assert configure("cnn", None) is None and configure("cnn", mine) is mine


def test_paper_presets_match_the_papers_parameter_counts():
    counts = {r["name"]: r["param_count"] for r in listing(COUNT_SPEC)}
    assert counts["mnist1d_paper_mlp"] == 15_210  # 40-100-100-10, exactly the paper's MLP
    assert abs(counts["mnist1d_paper_cnn"] - 5_210) < 100  # max-pooling instead of strides: 5,160


def test_bad_presets_fail_when_registered():
    with pytest.raises(BlobError, match="no parameter 'wdth'"):
        preset("bad_preset_params", "fcn", {"wdth": 3}, about="")
    with pytest.raises(ValueError, match="hide the model"):
        preset("fcn", "cnn", about="")
    assert "bad_preset_params" not in PRESETS


def test_every_presets_training_settings_are_trainconfig_fields():
    from blobbotronic.models.presets import training_settings

    for name in PRESETS:
        assert set(PRESETS.get(name).train) <= training_settings(), name


def test_a_preset_with_an_unknown_training_setting_fails_when_used(monkeypatch):
    from blobbotronic.models import presets
    from blobbotronic.registry import Registry

    monkeypatch.setattr(presets, "PRESETS", Registry("preset"))  # the real registry stays clean
    preset("bad_preset_train", "fcn", about="", epochs=3)
    with pytest.raises(ValueError, match="not training settings"):
        configure("bad_preset_train")


@pytest.mark.parametrize("name", SERIES)
def test_series_models_learn_a_tiny_task_in_a_few_steps(name):
    ds = tiny_series()
    torch.manual_seed(0)
    model = create(name, ds.spec, width=8, **({"hidden": 8} if name == "lstm_fcn" else {}))
    run = fit(model, ds, TrainConfig(budget="40 steps", batch_size=16, lr=1e-2, quiet=True, patience=None))
    assert run.metrics["accuracy"] >= 0.85, run.metrics


def test_batchnorm_evaluates_with_running_statistics_and_restores_the_mode():
    torch.manual_seed(0)
    ds = tiny_series()
    model = create("fcn", ds.spec, width=8)
    fit(model, ds, TrainConfig(budget="10 steps", batch_size=16, quiet=True, patience=None))
    model.train()
    x = ds.test.x
    before = [b.running_mean.clone() for b in model.modules() if isinstance(b, torch.nn.BatchNorm1d)]
    evaluate(model, ds.spec, ds.test)
    assert model.training  # evaluate() puts the mode back
    after = [b.running_mean for b in model.modules() if isinstance(b, torch.nn.BatchNorm1d)]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))  # evaluation does not move the statistics
    model.eval()
    with torch.no_grad():
        alone = model(x[:1])
        in_batch = model(x)[:1]
    torch.testing.assert_close(alone, in_batch)  # in eval mode a sample's output does not depend on its batch
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(x[:2])[:1], model(x)[:1])  # in training mode it does: batch statistics


def test_training_a_preset_is_deterministic_and_uses_its_settings():
    ds = tiny_series()
    runs = [train(ds, "mnist1d_paper_cnn", seed=3, budget="6 steps", quiet=True) for _ in range(2)]
    assert runs[0].metrics == runs[1].metrics
    assert runs[0].config.lr == 1e-2 and runs[0].config.schedule == "constant"  # from the preset
    assert runs[0].config.batch_size == len(ds.train)  # the preset's 100, capped at the 30 training samples
    assert runs[0].cost["steps"] == 6  # the caller's budget won over the preset's 6,000 steps
    assert runs[0].model.params["width"] == 25


def test_cli_lists_presets_with_parameter_counts(capsys):
    assert main(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    presets = {r["name"]: r for r in out["presets"]}
    assert presets["mnist1d_paper_mlp"]["param_count"] == 15_210 and presets["gru_deep"]["model"] == "gru"
    models = {r["name"]: r for r in out["models"]}
    assert "mnist1d_paper_gru" in models["gru"]["presets"]
    assert main(["models", "--params", "gru_deep", "--json"]) == 0
    shown = {p["name"]: p["default"] for p in json.loads(capsys.readouterr().out)["params"]}
    assert shown["layers"] == 2 and shown["bidirectional"] is True


def test_cli_trains_a_preset(tmp_path, capsys):
    code = main(["train", "--data", "temporal_order:lag=10", "--model", "gru_deep", "--param", "hidden=4",
                 "--budget", "3 steps", "--save", str(tmp_path / "ck"), "--json"])
    assert code == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["model"] == "gru_deep" and rec["cost"]["steps"] == 3
    saved = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert saved["model"] == "gru" and saved["params"]["layers"] == 2 and saved["params"]["hidden"] == 4
    assert main(["evaluate", "--checkpoint", str(tmp_path / "ck"), "--json"]) == 0  # reloads without the preset


def test_report_shows_the_peers_rows_when_the_benchmark_wrote_them(tmp_path):
    from blobbotronic.report import peers

    assert peers.load(tmp_path / "peers.json") is None and peers.html(None) == "" and peers.markdown(None) == ""
    obj = {"rows": [{"dataset": "gunpoint", "tool": "blobbotronic", "model": "gunpoint_fcn", "accuracy": 1.0,
                     "wall_seconds": 8.25, "cpu_seconds": 7.0, "train_seconds": 4.5, "peak_rss_mb": 350.4,
                     "params": 16930},
                    {"dataset": "gunpoint", "tool": "tsai", "model": "FCN", "error": "timed out", "wall_seconds": 9.0,
                     "peak_rss_mb": 600.0}],
           "reference": [], "meta": {"date": "today", "load_average": [1.5], "cpus": 2, "tsai": "tsai 1.0.1"}}
    (tmp_path / "peers.json").write_text(json.dumps(obj))
    loaded = peers.load(tmp_path / "peers.json")
    md = peers.markdown(loaded)
    assert "| gunpoint | blobbotronic | gunpoint_fcn | 100.0% | 8.2 | 7.0 | 4.5 | 350 | 16,930 |" in md
    assert "failed: timed out" in md and "load average 1.5 on 2 CPUs" in md
    assert "<td>gunpoint_fcn</td>" in peers.html(loaded)
    (tmp_path / "bad.json").write_text("{not json")
    assert peers.load(tmp_path / "bad.json") is None


def _bench_peers():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "peers.py"
    spec = importlib.util.spec_from_file_location("bench_peers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_measures_each_run_in_its_own_process(tmp_path):
    import sys

    bench = _bench_peers()
    script = ("import os, json, pathlib; b = bytearray(200 * 2**20); "
              "pathlib.Path(os.environ['PEERS_RESULT']).write_text(json.dumps({'accuracy': 0.5, 'threads': "
              "os.environ['OMP_NUM_THREADS']}))")
    r = bench.run_measured([sys.executable, "-c", script], timeout=120)
    assert r["accuracy"] == 0.5 and r["threads"] == "1"  # one thread each
    assert r["peak_rss_mb"] >= 200 and r["wall_seconds"] > 0  # the child's own peak, from wait4
    assert r["cpu_seconds"] > 0
    bad = bench.run_measured([sys.executable, "-c", "import sys; sys.exit('no data here')"], timeout=120)
    assert bad["error"] == "no data here" and "accuracy" not in bad
    text = bench.table([{"dataset": "d", "tool": "t", "model": "m", **r, "params": 10}, {"dataset": "d", **bad}], "T")
    assert "50.0%" in text and "no data here" in text
