"""Budgets: the same amount of training for every model (steps, epochs or seconds), so comparisons are fair."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import BlobError

_UNITS = {"step": "steps", "steps": "steps", "epoch": "epochs", "epochs": "epochs", "e": "epochs",
          "s": "seconds", "sec": "seconds", "secs": "seconds", "second": "seconds", "seconds": "seconds"}


@dataclass(frozen=True)
class Budget:
    """How long to train: exactly one of ``steps``, ``epochs`` (may be fractional) or ``seconds``.

    >>> Budget.parse("30 epochs").steps_for(n_train=1000, batch_size=100)
    300
    >>> Budget.parse("6000steps")
    Budget(steps=6000, epochs=None, seconds=None)
    """

    steps: int | None = None
    epochs: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.steps, self.epochs, self.seconds) if v is not None]
        if len(given) != 1 or given[0] <= 0:
            raise BlobError(f"A budget needs exactly one positive amount of steps, epochs or seconds, got {self}.")

    @classmethod
    def parse(cls, text: str | Budget | dict[str, Any]) -> Budget:
        if isinstance(text, Budget):
            return text
        if isinstance(text, dict):
            return cls(**text)
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*", str(text).lower())
        unit = _UNITS.get(m.group(2) or "steps") if m else None
        if not unit:
            raise BlobError(
                f"Cannot read the budget {text!r}: write a number and a unit, such as '6000 steps', "
                "'30 epochs' or '60s'."
            )
        value = float(m.group(1))
        return cls(**{unit: int(value) if unit == "steps" else value})

    def steps_for(self, n_train: int, batch_size: int) -> int | None:
        """The number of optimiser steps, or None for a time budget."""
        if self.steps is not None:
            return int(self.steps)
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * math.ceil(n_train / batch_size)))
        return None

    def __str__(self) -> str:
        if self.steps is not None:
            return f"{self.steps} steps"
        if self.epochs is not None:
            return f"{self.epochs:g} epochs"
        return f"{self.seconds:g} s"

    def to_dict(self) -> dict[str, Any]:
        amounts = (("steps", self.steps), ("epochs", self.epochs), ("seconds", self.seconds))
        return {k: v for k, v in amounts if v is not None}
