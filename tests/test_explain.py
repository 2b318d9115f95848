"""Explainers: attribution identities, memory curves, filters and maps of CNNs, horizon statistics, the command."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn

from blobbotronic.data import Spec, Split
from blobbotronic.errors import BlobError
from blobbotronic.explain.attribution import gradient_x_input, integrated_gradients
from blobbotronic.explain.filters import feature_maps, first_filters, grad_cam, pooling_table, saliency
from blobbotronic.explain.horizon import (
    bootstrap_horizon,
    largest_solved_lag,
    outcomes,
    parse_lags,
    per_seed_horizons,
    success_rates,
    summarize,
    wilson,
)
from blobbotronic.explain.memory import hidden_trajectories, last_quarter_share, memory_curve
from blobbotronic.models import create
from blobbotronic.models.base import Model

from .conftest import SPECS, random_batch

SEQ = Spec("s", "sequence", "classify", (20, 3), 4, classes="abcd")
REG = Spec("r", "sequence", "regress", (16, 2), 1)


class Linear(Model):
    """f(x) = sum(w * x) + b per output: integrated gradients must equal gradient x input exactly."""

    def __init__(self, spec: Spec):
        super().__init__(spec)
        self.head = nn.Linear(int(np.prod(spec.input_shape)), spec.n_outputs)

    def forward_features(self, x, lengths=None):
        return x.flatten(1)


class LastOnly(Model):
    """Reads only the last position, through a non-linearity."""

    def __init__(self, spec: Spec):
        super().__init__(spec)
        self.head = nn.Linear(spec.input_shape[1], spec.n_outputs)

    def forward_features(self, x, lengths=None):
        return torch.tanh(x[:, -1])


def test_integrated_gradients_of_a_linear_model_is_gradient_x_input_and_complete():
    torch.manual_seed(0)
    model = Linear(SEQ)
    x = torch.randn(5, 20, 3)
    target = torch.tensor([0, 1, 2, 3, 1])
    ig = integrated_gradients(model, x, target=target, steps=7)
    gxi = gradient_x_input(model, x, target=target)
    assert torch.allclose(ig, gxi, atol=1e-6)
    with torch.no_grad():
        f = model(x).gather(1, target[:, None]).squeeze(1)
        f0 = model(torch.zeros_like(x)).gather(1, target[:, None]).squeeze(1)
    assert torch.allclose(ig.flatten(1).sum(1), f - f0, atol=1e-5)  # completeness


def test_integrated_gradients_are_complete_for_a_recurrent_network():
    torch.manual_seed(1)
    model = create("lstm", REG, hidden=8)
    x = torch.rand(4, 16, 2)
    ig = integrated_gradients(model, x, steps=64, batch=64)  # several chunks of path points
    with torch.no_grad():
        gap = model.eval()(x).squeeze(1) - model(torch.zeros_like(x)).squeeze(1)
    assert torch.allclose(ig.flatten(1).sum(1), gap, atol=2e-3)
    assert model.training is False  # eval() above; attribution itself restores the mode it found
    model.train()
    integrated_gradients(model, x, steps=4)
    assert model.training


def test_a_model_that_reads_only_the_last_position_has_all_attribution_at_the_end():
    torch.manual_seed(2)
    model = LastOnly(SEQ)
    split = Split(torch.randn(30, 20, 3), torch.randint(0, 4, (30,)))
    for method in ("integrated_gradients", "gradient_x_input"):
        curve = memory_curve(model, split, method=method, n=30, batch=8)
        assert curve.shares.shape == (20,) and curve.shares.sum() == pytest.approx(1.0)
        assert curve.shares[-1] == pytest.approx(1.0) and curve.last_quarter == pytest.approx(1.0)
    uniform = Linear(SEQ)
    with torch.no_grad():
        uniform.head.weight.fill_(1.0)
    curve = memory_curve(uniform, Split(torch.ones(8, 20, 3), torch.zeros(8, dtype=torch.long)), n=8)
    assert np.allclose(curve.shares, 1 / 20) and curve.last_quarter == pytest.approx(5 / 20)


def test_last_quarter_share_counts_the_last_quarter_of_positions():
    assert last_quarter_share([1, 1, 1, 1, 1, 1, 1, 3]) == pytest.approx(4 / 10)  # L=8: the last 2 positions
    assert last_quarter_share([0, 0, 0, 0, 0, 1]) == pytest.approx(1.0)  # L=6: the last one
    assert last_quarter_share([2, 2]) == pytest.approx(0.5)


def test_memory_curve_on_every_sequence_family_and_text():
    x, y, _ = random_batch(SEQ, n=6)
    for name in ("rnn", "lstm", "gru", "cnn", "attention"):
        curve = memory_curve(create(name, SEQ), Split(x, y), n=6, steps=4)
        assert curve.shares.shape == (20,) and np.isfinite(curve.shares).all()
        assert curve.shares.sum() == pytest.approx(1.0, abs=1e-5)
    text = SPECS["text"]
    tx, ty, tl = random_batch(text, n=6)
    curve = memory_curve(create("lstm", text), Split(tx, ty, tl), n=6, steps=4)
    beyond = torch.arange(10)[None] >= tl[:, None]  # padding positions
    assert curve.shares.shape == (10,) and np.isfinite(curve.shares).all()
    assert beyond.any() and curve.shares.sum() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(BlobError, match="sequence or text"):
        memory_curve(create("cnn", SPECS["image"]), Split(*random_batch(SPECS["image"])[:2]))


def test_hidden_trajectories_project_every_step():
    model = create("gru", SEQ, hidden=12)
    proj, var = hidden_trajectories(model, torch.randn(3, 20, 3))
    assert proj.shape == (3, 20, 2) and 0 < var.sum() <= 1 + 1e-6 and var[0] >= var[1]
    with pytest.raises(BlobError, match="recurrent"):
        hidden_trajectories(create("cnn", SEQ), torch.randn(3, 20, 3))


def test_feature_map_shapes_and_pooling_table_of_a_2d_cnn():
    spec = SPECS["image"]  # (1, 12, 12)
    model = create("cnn", spec, width=6, depth=3)
    x = torch.rand(1, *spec.input_shape)
    shapes = [(o.module, tuple(o.output.shape)) for o in feature_maps(model, x)]
    assert shapes == [("ReLU", (6, 12, 12)), ("MaxPool2d", (6, 6, 6)), ("ReLU", (6, 6, 6)), ("MaxPool2d", (6, 3, 3)),
                      ("ReLU", (6, 3, 3)), ("MaxPool2d", (6, 1, 1))]
    table = pooling_table(model, x)
    assert [(r["before"], r["after"]) for r in table] == [([6, 12, 12], [6, 6, 6]), ([6, 6, 6], [6, 3, 3]),
                                                          ([6, 3, 3], [6, 1, 1])]
    assert [r["values_before"] for r in table] == [864, 216, 54] and table[0]["reduction"] == 4.0
    assert tuple(first_filters(model).shape) == (6, 1, 3, 3)
    assert pooling_table(create("cnn", spec, pool=False), x) == []


def test_feature_maps_of_a_1d_cnn_and_filters_as_curves():
    model = create("cnn", SEQ, width=5, depth=2, kernel=3)
    x = torch.randn(1, 20, 3)
    shapes = [tuple(o.output.shape) for o in feature_maps(model, x)]
    assert shapes == [(5, 20), (5, 10), (5, 10), (5, 5)]
    assert tuple(first_filters(model).shape) == (5, 3, 3)
    with pytest.raises(BlobError, match="no convolutional layer"):
        feature_maps(create("lstm", SEQ), x)


def test_grad_cam_and_saliency_point_at_the_evidence():
    spec = SPECS["image"]
    torch.manual_seed(0)
    model = create("cnn", spec, width=4, depth=1, pool=False, readout="avg")
    with torch.no_grad():  # one filter that copies the input; class 0 reads it, the others ignore it
        for p in model.parameters():
            p.zero_()
        conv = model.body[0]
        conv.weight[0, 0, 1, 1] = 1.0
        model.head.weight[0, 0] = 1.0
    x = torch.zeros(1, 1, 12, 12)
    x[0, 0, 2:5, 7:10] = 1.0  # a bright patch, top right
    cam, cls = grad_cam(model, x)
    assert cls == 0 and cam.shape == (12, 12) and float(cam.max()) == pytest.approx(1.0)
    assert cam[2:5, 7:10].mean() > 0.9 and cam[8:, :4].max() < 0.1
    sal = saliency(model, x)
    assert sal.shape == (12, 12) and sal[2:5, 7:10].min() > 0 and sal.sum() == pytest.approx(sal[2:5, 7:10].sum())


# ---- horizon statistics ---------------------------------------------------------------------------


def _outcomes(table: dict[str, dict[int, list[bool]]]) -> list[dict]:
    return [{"task": "adding", "lag": lag, "model": m, "seed": s, "value": 0.0, "metric": "loss", "solved": ok,
             "seconds": 1.0} for m, by_lag in table.items() for lag, oks in by_lag.items() for s, ok in enumerate(oks)]


def test_success_rates_horizons_and_intervals():
    res = _outcomes({"rnn": {10: [True, True, True], 30: [True, False, False], 100: [False] * 3},
                     "lstm": {10: [True] * 3, 30: [True] * 3, 100: [True, True, False]}})
    rates = success_rates(res)
    assert rates["rnn"]["adding"][30]["rate"] == pytest.approx(1 / 3)
    assert largest_solved_lag(rates["rnn"]["adding"]) == 10 and largest_solved_lag(rates["lstm"]["adding"]) == 100
    assert largest_solved_lag({10: {"rate": 0.0}}) == 0
    assert largest_solved_lag({10: {"rate": 0.4}, 30: {"rate": 0.6}}) == 30  # the rule does not need every lag below
    assert per_seed_horizons(res)["rnn"]["adding"] == {0: 30, 1: 10, 2: 10}
    low, high = bootstrap_horizon(res, "rnn", "adding")
    assert low == 10 and high in (10, 30)
    s = summarize(res)
    assert s["horizons"] == {"lstm": {"adding": 100}, "rnn": {"adding": 10}}


def test_runs_under_other_parameters_than_todays_defaults_are_named():
    from blobbotronic.explain.study import stale_parameters

    res = _outcomes({"cnn": {10: [True]}, "rnn": {10: [True]}})
    res[0]["params"] = {"width": 32, "readout": "no-such-readout"}
    res[1]["params"] = {"hidden": 64}
    (line,) = stale_parameters(res, ["cnn", "rnn"])
    assert line.startswith("cnn's runs were trained with readout='no-such-readout'") and "width" not in line


def test_wilson_interval_known_values():
    low, high = wilson(3, 3)
    assert high == 1.0 and low == pytest.approx(0.4385, abs=1e-3)
    low, high = wilson(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-3), pytest.approx(0.7634, abs=1e-3))
    assert wilson(0, 0) == (0.0, 1.0)


def test_outcomes_read_store_rows():
    rows = [{"dataset": "adding:lag=30", "model": "lstm", "seed": 1, "metrics": {"loss": 0.01}, "cost": {}},
            {"dataset": "temporal_order:lag=100,n=500", "model": "rnn", "seed": 0, "metrics": {"accuracy": 0.9},
             "cost": {"train_seconds": 2.0}},
            {"dataset": "digits", "model": "cnn", "seed": 0, "metrics": {"accuracy": 0.99}}]
    out = outcomes(rows)
    assert [(o["task"], o["lag"], o["solved"]) for o in out] == [("adding", 30, True), ("temporal_order", 100, False)]
    assert parse_lags("100, 10,30") == [10, 30, 100]
    for bad in ("ten", "3,10", ""):
        with pytest.raises(BlobError):
            parse_lags(bad)


# ---- the command ----------------------------------------------------------------------------------


def test_explain_command_on_a_cnn_checkpoint(tmp_path, capsys):
    import blobbotronic as bb
    from blobbotronic.cli import main

    run = bb.train("digits", "cnn", seed=0, quiet=True, budget="30 steps", params={"width": 8})
    bb.save_checkpoint(run.model, tmp_path / "ckpt", dataset="digits", seed=0)
    assert main(["explain", "--checkpoint", str(tmp_path / "ckpt"), "--input", "test:3", "--out",
                 str(tmp_path / "out"), "--target", "7", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in obj["explanations"]] == ["filters", "feature_maps", "pooling", "gradcam"]
    assert len(obj["figures"]) == 3 and all((tmp_path / "out" / f.split("/")[-1]).stat().st_size > 1000
                                            for f in obj["figures"])
    assert obj["explanations"][3]["numbers"]["class"] == "7"
    html = (tmp_path / "out" / "section.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "<script" not in html
    assert main(["explain", "--checkpoint", str(tmp_path / "ckpt"), "--input", "test:99999"]) == 2
    assert "items" in capsys.readouterr().err
    assert main(["explain", "--checkpoint", str(tmp_path / "ckpt"), "--lags", "10"]) == 2
    assert "explain memory" in capsys.readouterr().err
    assert main(["explain"]) == 2


def test_explain_writes_the_result_json_it_announces_and_names_class_probability_and_truth(tmp_path, capsys):
    import blobbotronic as bb
    from blobbotronic.cli import main

    run = bb.train("digits", "cnn", seed=0, quiet=True, budget="10 steps", params={"width": 4})
    bb.save_checkpoint(run.model, tmp_path / "ckpt", dataset="digits", seed=0)
    assert main(["explain", "--checkpoint", str(tmp_path / "ckpt"), "--input", "test:5", "--out",
                 str(tmp_path / "out"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved == printed and printed["result"] == str(tmp_path / "out" / "result.json")
    assert {"model", "input", "prediction", "explanations", "figures", "html"} <= set(saved)
    truth = str(int(bb.load("digits").test.y[5]))
    assert saved["prediction"]["true"] == truth and 0 < saved["prediction"]["probability"] <= 1
    assert main(["explain", "--checkpoint", str(tmp_path / "ckpt"), "--input", "test:5", "--target", "4",
                 "--out", str(tmp_path / "out2")]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert re.search(rf"class '4' \(p = 0\.\d\d\).*true label '{truth}'", text), text
    # the console may wrap a long path anywhere: compare without whitespace
    assert f"numbers:{tmp_path / 'out2' / 'result.json'}".replace(" ", "") in text.replace(" ", "")


def test_explain_rereads_the_checkpoint_data_with_its_stored_options(tmp_path, capsys):
    from blobbotronic.api import load, save_checkpoint, train
    from blobbotronic.cli import main

    options = {"lag": 12, "n": 120}  # plain "adding" would be lag 100 with 6,000 sequences
    ds = load("adding", **options)
    run = train(ds, "cnn", seed=0, quiet=True, budget="5 steps", params={"width": 4})
    save_checkpoint(run.model, tmp_path / "ckpt", dataset="adding", data_options=options, seed=0)
    assert main(["explain", "--checkpoint", str(tmp_path / "ckpt"), "--input", "test:3", "--out",
                 str(tmp_path / "out"), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert len(obj["curves"]["cnn"]) == 12  # the memory curve averaged the checkpoint's own test split
    assert obj["prediction"]["true"] == [pytest.approx(float(ds.test.y[3]))] and "true value" in obj["summary"]
    assert main(["explain", "--checkpoint", str(tmp_path / "ckpt"), "--input", f"test:{len(ds.test)}"]) == 2
    assert f"has {len(ds.test)} items" in capsys.readouterr().err


def test_gradcam_of_a_series_is_drawn_over_the_series_not_as_a_channel_strip():
    from blobbotronic.explain.figures import draw_gradcam

    t = np.linspace(0, 6, 40)
    cam, sal = np.exp(-((t - 2) ** 2)), np.abs(np.sin(t))
    fig = draw_gradcam(np.sin(t)[:, None], cam, sal, title="x")
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2
    for ax in panels:
        assert not ax.images and "channel" not in ax.get_ylabel()
        (line,) = ax.get_lines()  # the series itself, in data units
        assert np.allclose(line.get_ydata(), np.sin(t))
        assert any(type(c).__name__ == "LineCollection" for c in ax.collections)  # coloured by the attribution
    two = draw_gradcam(np.stack([np.sin(t), np.cos(t)], 1), cam, sal, channels=["value", "marker"])
    ax = [a for a in two.axes if a.get_label() != "<colorbar>"][0]
    assert not ax.images and [line.get_label() for line in ax.get_lines()] == ["value", "marker"]
    text = draw_gradcam(np.arange(12.0)[:, None], cam[:12], sal[:12], tokens=True)
    assert all(not a.images for a in text.axes if a.get_label() != "<colorbar>")


def test_explain_memory_default_is_the_small_sweep_and_takes_quiet(monkeypatch, tmp_path):
    from blobbotronic.explain import study
    from blobbotronic.cli import main

    seen = {}

    def capture(models, tasks, lags, seeds, cfg, out, **kw):
        seen.update(models=models, tasks=tasks, lags=lags, seeds=seeds, budget=cfg.budget, progress=kw["progress"])
        raise BlobError("captured")

    monkeypatch.setattr(study, "memory_study", capture)
    assert main(["explain", "memory", "--models", "rnn,lstm", "--quiet", "--out", str(tmp_path)]) == 2
    assert seen == {"models": ["rnn", "lstm"], "tasks": ["adding"], "lags": [10, 30], "seeds": 3,
                    "budget": "1500 steps", "progress": None}
    assert main(["explain", "memory", "--task", "both", "--lags", "10,100", "--out", str(tmp_path)]) == 2
    assert seen["tasks"] == ["adding", "temporal_order"] and seen["lags"] == [10, 100] and seen["progress"]


def test_memory_section_escapes_user_text(tmp_path):
    from blobbotronic.explain.section import memory_section

    res = _outcomes({"<b>rnn</b>": {10: [True]}})
    result = {"summary": summarize(res), "config": {"budget": "<i>5 steps</i>"}, "figures": [],
              "last_quarter_share": {"<b>rnn</b>": 0.5}, "curve_data": "adding:lag=10"}
    html = memory_section(result, ["a <script>alert(1)</script> finding"])
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;rnn&lt;/b&gt;" in html
    assert "<b>" not in html and "&lt;i&gt;5 steps" in html


@pytest.mark.slow
def test_explain_memory_command_end_to_end(tmp_path, capsys):
    from blobbotronic.cli import main

    args = ["explain", "memory", "--models", "rnn,cnn", "--lags", "8,12", "--seeds", "2", "--task", "both",
            "--budget", "20 steps", "--n", "100", "--workers", "1", "--device", "cpu", "--curve-lag", "12",
            "--store", str(tmp_path / "runs.db"), "--out", str(tmp_path / "mem"), "--quiet", "--json"]
    assert main(args) == 0
    obj = json.loads(capsys.readouterr().out)
    assert json.loads((tmp_path / "mem" / "result.json").read_text())["horizons"] == obj["horizons"]
    assert set(obj["horizons"]) == {"rnn", "cnn"} and set(obj["horizons"]["rnn"]) == {"adding", "temporal_order"}
    assert all(v in (0, 8, 12) for m in obj["horizons"].values() for v in m.values())
    assert len(obj["curves"]["rnn"]) == 12 and sum(obj["curves"]["cnn"]) == pytest.approx(1.0)
    assert set(obj["last_quarter_share"]) == {"rnn", "cnn"} and len(obj["runs"]) == 2 * 2 * 2 * 2
    assert len(obj["figures"]) == 3 and (tmp_path / "mem" / "section.html").is_file()
    assert main(args) == 0  # a rerun reuses the stored runs and the saved curve models
    again = json.loads(capsys.readouterr().out)
    assert again["horizons"] == obj["horizons"] and again["curves"] == obj["curves"]
    wider = [a for a in args if a != "8,12"]
    wider[wider.index("--lags")] = "--stored-only"  # summarise what is stored, for a grid with one lag never run
    assert main([*wider[:2], "--lags", "8,12,16", *wider[2:]]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert stored["horizons"] == obj["horizons"] and len(stored["runs"]) == len(obj["runs"])
    assert {(c["lag"], c["runs"]) for c in stored["missing"]} == {(16, 0)} and len(stored["missing"]) == 4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_memory_curve_on_a_gpu_matches_the_cpu():
    torch.manual_seed(0)
    x, y, _ = random_batch(SEQ, n=8)
    for name in ("rnn", "lstm", "gru"):
        model = create(name, SEQ, hidden=16)
        cpu = memory_curve(model, Split(x, y), n=8, steps=8).shares
        model.cuda().eval()  # evaluation mode: cuDNN's recurrent backward would refuse it
        gpu = memory_curve(model, Split(x, y).to("cuda"), n=8, steps=8).shares
        assert not model.training
        assert np.allclose(cpu, gpu, atol=1e-4), name
