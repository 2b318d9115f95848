"""The built-in forecasting series: Microsoft's daily close, airline passengers and sunspot numbers."""

from __future__ import annotations

import csv
import gzip
import io
import tarfile

import numpy as np

from .builtin import DATASETS
from .forecast import forecast_dataset
from .series import package_file
from .spec import Dataset


def _msft_close() -> tuple[list[str], np.ndarray]:
    path = package_file("pmdarima", "datasets", "data", "msft.tar.gz", extra="forecast")
    with tarfile.open(path, "r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".csv"))
        text = tar.extractfile(member).read().decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    return [r["Date"] for r in rows], np.array([float(r["Close"]) for r in rows])


@DATASETS.register("msft", modality="sequence", task="forecast",
                   source="pmdarima load_msft (Kaggle price-volume data, MSFT daily, 1986-2017)",
                   about="Microsoft's daily closing price, as log price, 7,983 trading days; next-day forecast.")
def _msft(seed: int = 0, *, window: int = 30, horizon: int = 1) -> Dataset:
    dates, close = _msft_close()
    # Log prices: a day's move is then a relative move, comparable across three decades in which the
    # price rose a thousandfold, so the training period's naive error (the MASE scale) means the same
    # thing in the test years. Errors are in log units (0.01 = about 1%). The price level is not given
    # to the models: it lies outside the training range in the test years and predicts nothing.
    return forecast_dataset("msft", np.log(close), window=window, horizon=horizon, level=False, dates=dates,
                            units="log price")


@DATASETS.register("airpassengers", modality="sequence", task="forecast",
                   source="Box & Jenkins airline passengers 1949-1960 (the Airline.csv bundled with aeon)",
                   about="Monthly international airline passengers, as log count, 144 months; next-month forecast.")
def _airpassengers(seed: int = 0, *, window: int = 24, horizon: int = 1) -> Dataset:
    path = package_file("aeon", "datasets", "data", "Airline", "Airline.csv", extra="forecast")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    # Log counts, as in Box & Jenkins' airline model: the seasonal swing grows with the level, and on
    # the log scale it is a constant shape the models can learn from the early years.
    values = np.log([float(r["Passengers"]) for r in rows])
    return forecast_dataset("airpassengers", values, window=window, horizon=horizon, level=False, season=12,
                            dates=[r["Date"] for r in rows], units="log passengers (thousands)")


@DATASETS.register("sunspots", modality="sequence", task="forecast",
                   source="pmdarima load_sunspots (monthly mean sunspot number, 1749-1983)",
                   about="Monthly mean sunspot numbers, 2,820 months; next-month forecast.")
def _sunspots(seed: int = 0, *, window: int = 60, horizon: int = 1) -> Dataset:
    path = package_file("pmdarima", "datasets", "data", "sunspots.txt.gz", extra="forecast")
    with gzip.open(path, "rt") as f:
        values = np.loadtxt(f).ravel()
    dates = [f"{1749 + i // 12}-{i % 12 + 1:02d}" for i in range(len(values))]
    # The level matters here (counts revert towards the cycle's mean), so it is a second input channel.
    return forecast_dataset("sunspots", values, window=window, horizon=horizon, level=True, dates=dates,
                            units="sunspot number")
