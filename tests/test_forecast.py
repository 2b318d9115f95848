"""Tests of forecasting: windows without look-ahead, time-ordered splits, the metrics and the baselines."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from blobbotronic.cli import main
from blobbotronic.data import Spec, load
from blobbotronic.data.forecast import forecast_dataset, plan_windows
from blobbotronic.models import create
from blobbotronic.train import train
from blobbotronic.train.task_forecast import Forecast, direction_accuracy


@pytest.mark.parametrize("n,window,horizon", [(100, 10, 1), (57, 5, 4), (300, 30, 7), (40, 3, 3)])
def test_windows_never_look_ahead_and_splits_follow_time(n, window, horizon):
    starts, part, (cut1, cut2) = plan_windows(n, window, horizon)
    first_target, last_target = starts + window, starts + window + horizon - 1
    assert (starts + window - 1 < first_target).all() and (last_target < n).all()
    assert (last_target[part == 0] < cut1).all()
    assert (first_target[part == 1] >= cut1).all() and (last_target[part == 1] < cut2).all()
    assert (first_target[part == 2] >= cut2).all()
    assert (part == -1).sum() <= 2 * (horizon - 1)  # only windows straddling a cut are dropped


def test_the_dataset_holds_the_right_values_in_time_order():
    t = np.arange(200, dtype=float)
    values = t**1.5  # strictly increasing, so every value tells its time
    ds = forecast_dataset("toy", values, window=12, horizon=3, level=True)
    extra = ds.spec.extra
    assert ds.spec.input_shape == (12, 2) and ds.spec.n_outputs == 3 and ds.spec.task == "forecast"
    time_of = lambda v: np.round(np.asarray(v, dtype=float) ** (1 / 1.5)).astype(int)  # noqa: E731
    spans = []
    for split in (ds.train, ds.val, ds.test):
        seen = split.x[..., 1].double().numpy() * extra["level"]["std"] + extra["level"]["mean"]
        last = seen[:, -1:]
        target = last + split.y.double().numpy() * extra["scale"]
        # the change channel is the same window relative to its last value
        np.testing.assert_allclose(split.x[..., 0].double().numpy() * extra["scale"], seen - last, atol=0.05)
        ts, tt = time_of(seen), time_of(target)
        assert (np.diff(ts, axis=1) == 1).all() and (tt[:, 0] == ts[:, -1] + 1).all()  # last input < first target
        spans.append((tt.min(), tt.max()))
    assert spans[0][1] < spans[1][0] and spans[1][1] < spans[2][0]  # train, then val, then test


def test_scaling_is_fitted_on_the_training_period_only():
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(size=400))
    values[300:] *= 50  # wild later years must not leak into the scale
    ds = forecast_dataset("toy", values, window=10, horizon=1)
    cut1 = round(0.7 * 400)
    steps = np.diff(values[:cut1])
    assert ds.spec.extra["scale"] == pytest.approx(steps.std())
    assert ds.spec.extra["naive_mae"] == pytest.approx(np.abs(steps).mean())
    assert ds.spec.extra["level"]["mean"] == pytest.approx(values[:cut1].mean())


def test_naive_mase_is_one_on_a_plus_minus_one_walk():
    steps = np.random.default_rng(1).choice([-1.0, 1.0], size=500)
    ds = forecast_dataset("walk", np.cumsum(steps), window=8, horizon=2)
    run = train(ds, "naive", quiet=True)
    assert run.stopped == "untrained" and run.cost["params"] == 0 and run.cost["steps"] == 1
    # every step moves by exactly 1; two steps ahead the naive error is 0 or 2, about 1 on average
    assert run.val_metrics["mase"] == pytest.approx(1.0, abs=0.15)
    one_step = train(forecast_dataset("walk", np.cumsum(steps), window=8, horizon=1), "naive", quiet=True)
    assert one_step.metrics["mase"] == pytest.approx(1.0) and one_step.val_metrics["mase"] == pytest.approx(1.0)
    assert one_step.metrics["direction_accuracy"] == 0.5  # "no change" is a coin toss


def test_direction_accuracy_on_a_literal_example():
    pred = torch.tensor([0.3, -0.2, 0.0, 1.0, -4.0])
    actual = torch.tensor([1.0, 2.0, -1.0, 0.0, -0.5])
    # right, wrong, no forecast of a direction (0.5); the fourth did not move and is left out; right
    assert direction_accuracy(pred, actual) == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    assert math.isnan(direction_accuracy(pred, torch.zeros(5)))


def test_forecast_metrics_are_in_the_series_units():
    spec = Spec("f", "sequence", "forecast", (5, 1), 1, extra={"scale": 2.0, "naive_mae": 4.0})
    out, y = torch.tensor([[1.0], [-1.0], [0.5]]), torch.tensor([[2.0], [1.0], [0.0]])
    m = Forecast(spec).metrics(out, y)
    # errors in scaled units -1, -2, 0.5 are -2, -4, 1 in the series' units
    assert m["mae"] == pytest.approx(7 / 3) and m["rmse"] == pytest.approx(math.sqrt(7))
    assert m["mase"] == pytest.approx(7 / 12) and m["direction_accuracy"] == pytest.approx(0.5)


def test_seasonal_naive_repeats_the_season_at_every_horizon():
    pattern = np.array([0.0, 1.0, 3.0, 2.0, 5.0])
    ds = forecast_dataset("seasons", np.tile(pattern, 40), window=10, horizon=7, season=5)
    model = create("seasonal_naive", ds.spec)
    out = model(ds.test.x)
    assert torch.allclose(out, ds.test.y, atol=1e-5)  # a perfectly periodic series is forecast exactly
    assert create("naive", ds.spec)(ds.test.x).abs().sum() == 0
    with pytest.raises(Exception, match="window of at least 12"):
        create("seasonal_naive", ds.spec, season=12)


def test_a_short_series_says_what_is_needed():
    with pytest.raises(Exception, match="too few for window=30"):
        forecast_dataset("short", np.arange(40.0) ** 2, window=30)


PRICES = "date,close,volume\n" + "".join(
    f"2024-{1 + d // 28:02d}-{1 + d % 28:02d},{100 + 5 * math.sin(d / 3) + d / 10:.3f},{1000 + d}\n" for d in range(120)
)


def test_a_users_csv_sorted_by_date_with_gaps(tmp_path):
    lines = PRICES.splitlines()
    lines[10] = lines[10].rsplit(",", 2)[0] + ",,1009"  # a missing close
    shuffled = [lines[0]] + lines[1:][::-1]  # newest first, as many exports are
    path = tmp_path / "prices.csv"
    path.write_text("\n".join(shuffled) + "\n")
    ds = load(path, task="forecast", target="close", window="10", horizon="3")
    assert ds.meta["sorted_by_date"] and ds.meta["missing_filled"] == 1 and ds.meta["date"] == "date"
    assert ds.spec.input_shape == (10, 2) and ds.train.y.shape[1] == 3
    assert ds.meta["target_periods"]["train"].startswith("2024-01-11")  # the 11th day is the first target
    assert ds.meta["target_periods"]["test"].endswith("2024-05-08")


def test_cli_forecasts_a_csv_with_data_options(tmp_path, capsys):
    path = tmp_path / "prices.csv"
    path.write_text(PRICES)
    code = main(["train", "--data", str(path), "--data-option", "task=forecast", "--data-option", "target=close",
                 "--data-option", "window=10", "--model", "naive", "--no-save", "--json"])
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record["metrics"]) >= {"mase", "mae", "rmse", "direction_accuracy"}


def test_built_in_series_load_in_time_order():
    msft = load("msft")
    assert msft.spec.input_shape == (30, 1) and msft.spec.extra["units"] == "log price"
    periods = msft.meta["target_periods"]
    assert periods["train"] < periods["val"] < periods["test"] and periods["test"].endswith("2017-11-10")
    air = load("airpassengers")
    assert sum(air.sizes().values()) == 144 - 24 and air.spec.extra["season"] == 12
    assert load("sunspots:window=24").spec.input_shape == (24, 2)


def test_new_windows_are_prepared_and_forecasts_descaled_as_in_training():
    from blobbotronic.data.forecast import forecast_values, prepare_windows

    values = np.cumsum(np.random.default_rng(3).normal(size=300)) + 50
    ds = forecast_dataset("toy", values, window=6, horizon=2, level=True)
    x = prepare_windows(values[-8:-2], ds.spec.extra)  # the last test window, from raw values
    assert torch.allclose(torch.from_numpy(x), ds.test.x[-1:], atol=1e-5)
    np.testing.assert_allclose(forecast_values(ds.test.y[-1:], values[-3], ds.spec.extra)[0], values[-2:], rtol=1e-5)
