"""The translate task: teacher-forced loss, greedy decoding, exact match and character accuracy.

Targets are (N, T) ids ending in ``</s>`` (3) and padded with 0. In training the loop calls
``task.forward``, which feeds the model the true previous tokens (``model.teacher_forced(x, lengths,
y)``); in evaluation the model's plain ``forward`` decodes greedily, so metrics score what the model
would really write.
"""

from __future__ import annotations

import torch
from torch import nn

from .task_base import TASK_KINDS, Task

PAD, EOS = 0, 3


def _target_mask(y: torch.Tensor) -> torch.Tensor:
    """(N, T) True at the target's characters and its ``</s>``."""
    return y != PAD


@TASK_KINDS.register("translate")
class Translate(Task):
    """Token cross-entropy under teacher forcing; headline exact match of the greedy output."""

    headline, higher_is_better = "exact_match", True

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return model.teacher_forced(x, lengths, y)

    def loss(self, out, y, lengths=None):
        T = min(out.shape[1], y.shape[1])
        return nn.functional.cross_entropy(out[:, :T].float().flatten(0, 1), y[:, :T].flatten(), ignore_index=PAD)

    def metrics(self, out, y, lengths=None):
        T = y.shape[1]
        pred = out.argmax(-1)[:, :T]
        if pred.shape[1] < T:  # a model that stopped early wrote padding for the rest
            pred = nn.functional.pad(pred, (0, T - pred.shape[1]), value=PAD)
        mask = _target_mask(y)
        right = (pred == y) & mask
        exact = (right.sum(1) == mask.sum(1)).float().mean().item()
        return {
            "exact_match": exact,
            "char_accuracy": right.sum().item() / max(1, mask.sum().item()),
            "loss": self.loss(out, y).item(),
        }
