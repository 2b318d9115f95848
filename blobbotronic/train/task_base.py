"""The task base: each task's loss, metrics and headline metric, registered by the Spec's task name, and the two
basic tasks (classify, regress). The other tasks (train/task_forecast.py, task_tag.py, task_translate.py) import
this module and register themselves; train/tasks.py imports them all and looks tasks up.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.spec import Spec
from ..registry import Registry

TASK_KINDS = Registry("task")


class Task:
    """``loss`` drives training; ``metrics`` returns a dict whose ``headline`` key ranks models."""

    headline = "loss"
    higher_is_better = False

    def __init__(self, spec: Spec):
        self.spec = spec

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """The model's output in a training step; a task that must show the model its targets (teacher
        forcing) overrides this. Evaluation always calls ``model(x, lengths)``."""
        return model(x, lengths)

    def loss(self, out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def metrics(self, out: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, float]:
        raise NotImplementedError


def confusion(pred: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    """(n, n) counts, rows = true class, columns = predicted class."""
    return torch.bincount(y.long() * n + pred.long(), minlength=n * n).view(n, n).cpu()


@TASK_KINDS.register("classify")
class Classify(Task):
    headline, higher_is_better = "accuracy", True

    def loss(self, out, y, lengths=None):
        return nn.functional.cross_entropy(out.float(), y)

    def metrics(self, out, y, lengths=None):
        pred = out.argmax(1)
        cm = confusion(pred, y, self.spec.n_outputs).double()
        tp, support, predicted = cm.diag(), cm.sum(1), cm.sum(0)
        f1 = 2 * tp / (support + predicted).clamp_min(1)
        return {
            "accuracy": (pred == y).float().mean().item(),
            "macro_f1": f1[support > 0].mean().item(),
            "loss": self.loss(out, y).item(),
        }


@TASK_KINDS.register("regress")
class Regress(Task):
    headline, higher_is_better = "mae", False

    def loss(self, out, y, lengths=None):
        return nn.functional.mse_loss(out.float(), y.view_as(out))

    def metrics(self, out, y, lengths=None):
        err = out.float() - y.view_as(out)
        var = (y - y.mean()).pow(2).mean().clamp_min(1e-12)
        return {
            "mae": err.abs().mean().item(),
            "rmse": err.pow(2).mean().sqrt().item(),
            "r2": (1 - err.pow(2).mean() / var).item(),
            "loss": err.pow(2).mean().item(),
        }
