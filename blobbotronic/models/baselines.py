"""Forecasting baselines with nothing to learn: the last value again, and the value one season back."""

from __future__ import annotations

import torch

from ..data.spec import Spec
from ..errors import BlobError
from . import MODELS
from .base import Model


def _change_channel(spec: Spec) -> int:
    """Which input channel holds the change from the last value (data/forecast.py puts it first)."""
    inputs = spec.extra.get("inputs", ["change"])
    if "change" not in inputs:
        raise BlobError(f"Data set {spec.name!r} does not give its inputs as changes from the last value; the "
                        "forecasting baselines read windows built by blobbotronic's forecast loaders.")
    return inputs.index("change")


@MODELS.register("naive", accepts=("sequence",), family="baseline", tasks=("forecast",))
class Naive(Model):
    """Naive forecast: every future value equals the last one observed (a random walk's best guess).

    Use when: always, as the bar any forecaster must clear; MASE is its in-sample error's ratio, and
    for prices it is famously hard to beat. Cost: no parameters, no training, nothing to compute.
    """

    def __init__(self, spec: Spec):
        super().__init__(spec)
        self.channel = _change_channel(spec)

    def forward_features(self, x, lengths=None):
        return x[..., self.channel]  # (B, L): the window as changes from its last value (which is 0)

    def forward_head(self, features):
        return features.new_zeros(features.shape[0], self.spec.n_outputs)  # no change, at every horizon


@MODELS.register("seasonal_naive", accepts=("sequence",), family="baseline", tasks=("forecast",))
class SeasonalNaive(Model):
    """Seasonal naive forecast: each future value equals the value one season earlier (12 for months).

    Use when: the series repeats with a fixed period (monthly counts, hourly loads); it is the bar for
    seasonal series as the naive forecast is for random walks. ``season=0`` takes the data set's own
    season. Cost: no parameters, no training; needs a window at least one season long.
    """

    def __init__(self, spec: Spec, *, season: int = 0):
        super().__init__(spec)
        self.channel = _change_channel(spec)
        self.season = season or spec.extra.get("season") or 0
        window = spec.input_shape[0]
        if not self.season:
            raise BlobError(f"Data set {spec.name!r} has no known season; give one, e.g. --param season=12.")
        if self.season > window:
            raise BlobError(f"seasonal_naive with season={self.season} needs a window of at least {self.season} steps; "
                            f"the windows of {spec.name!r} hold {window}.")
        # Horizon h (1-based) repeats the value at time t+h-k*season, the latest one already seen.
        h = torch.arange(spec.n_outputs)
        self.register_buffer("index", window - self.season + h % self.season, persistent=False)

    def forward_features(self, x, lengths=None):
        return x[..., self.channel]  # (B, L)

    def forward_head(self, features):
        return features[:, self.index]  # (B, horizon)
