"""Training: fit() with budgets, callbacks and checkpoints, and train() that does load + create + fit."""

from __future__ import annotations

from typing import Any

from .budget import Budget
from .checkpoint import Checkpoint
from .checkpoint import load as load_checkpoint
from .checkpoint import save as save_checkpoint
from .loop import Callback, Run, State, TrainConfig, fit, seed_everything
from .metrics import evaluate, headline

__all__ = ["Budget", "Callback", "Checkpoint", "Run", "State", "TrainConfig", "fit", "train", "seed_everything",
           "evaluate", "headline", "load_checkpoint", "save_checkpoint"]


def train(data: Any, model: str, *, seed: int = 0, params: dict[str, Any] | None = None,
          config: TrainConfig | None = None, **overrides: Any) -> Run:
    """Load ``data`` (a name, path or Dataset), build ``model`` from its Spec with the given seed, and fit it.

    >>> run = train("and", "perceptron", quiet=True)
    >>> run.metrics["accuracy"]
    1.0
    """
    from ..data import Dataset, load
    from ..models import create
    from ..models.presets import configure

    config = configure(model, config, overrides)  # a preset's budget, batch size, ... where the caller gave none
    ds = data if isinstance(data, Dataset) else load(data)
    seed_everything(seed)
    net = create(model, ds.spec, **(params or {}))
    return fit(net, ds, config, seed=seed, **overrides)
