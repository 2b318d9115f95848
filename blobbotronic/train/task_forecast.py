"""The forecast task: loss, MAE/RMSE/MASE and direction accuracy.

Outputs and targets are changes from the last observed value in scaled units (see data/forecast.py), so
an error in the series' own units is ``(output - target) * spec.extra["scale"]``: the last value cancels.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .task_base import TASK_KINDS, Task


def direction_accuracy(pred_change: torch.Tensor, true_change: torch.Tensor) -> float:
    """Share of forecasts whose change from the last observed value has the sign of the actual change.

    Steps where the series did not move are left out (no direction to get right); a forecast of no
    change scores 0.5, a coin toss, so the naive forecast sits exactly at chance.

    >>> direction_accuracy(torch.tensor([0.5, -1.0, 0.0, 2.0]), torch.tensor([1.0, 1.0, -3.0, 0.0]))
    0.5
    """
    moved = true_change != 0
    if not moved.any():
        return math.nan
    p, a = pred_change[moved].sign(), true_change[moved].sign()
    return torch.where(p == 0, 0.5, (p == a).double()).mean().item()


@TASK_KINDS.register("forecast")
class Forecast(Task):
    """Mean squared error on scaled changes to train; MASE ranks (below 1 beats the in-sample naive error).

    MASE divides the mean absolute error by the mean absolute one-step change of the training series
    (``spec.extra["naive_mae"]``, Hyndman & Koehler 2006); without it, by the naive forecast's error on
    the split being measured.
    """

    headline, higher_is_better = "mase", False

    def loss(self, out, y, lengths=None):
        return nn.functional.mse_loss(out.float(), y.view_as(out))

    def metrics(self, out, y, lengths=None):
        out, y = out.float(), y.view_as(out).float()
        scale = float(self.spec.extra.get("scale", 1.0))
        err = (out - y).double() * scale  # in the series' units
        naive = self.spec.extra.get("naive_mae") or (y.double().abs().mean().item() * scale)
        mae = err.abs().mean().item()
        return {
            "mase": mae / naive if naive else math.nan,
            "mae": mae,
            "rmse": err.pow(2).mean().sqrt().item(),
            "direction_accuracy": direction_accuracy(out, y),
            "loss": self.loss(out, y).item(),
        }
