"""What fit()'s callbacks are: the hooks a training feature can implement, the State they see, and how fit() calls
them in order (``Hooks``). The built-in features are in train/callbacks.py; docs/architecture-train.md shows how
to add one.

A hook runs at a fixed point of the loop (train/loop.py fit()):

* ``on_start(state, model)``: once, after set-up and before the first step. Callbacks that change the model (its
  layout, a compiled copy, a closed-form fit, pretraining) come first in the list, so the ones that watch it see
  the model that will train.
* ``on_batch(state)``: a batch has been drawn (``state.batch``), before the forward pass.
* ``objective(state, loss) -> Tensor``: the quantity the step minimises, from the batch's loss (default: the loss
  itself). Each callback receives the previous one's result.
* ``on_step(state)``: the step is done; ``state.step``, ``state.elapsed`` and ``state.stop`` are current.
* ``validating(state, model)``: a context around each validation check (evaluation, the check's record and every
  ``on_eval``): weight averaging puts its average in the model for it.
* ``on_eval(state, model)``: after each validation check (``state.val``, ``state.train_loss``). A callback may
  stop the run by setting ``state.stop``, but never clears a reason set before it: the first reason stands.
* ``on_end(state, model)``: once, after the loop, in list order; callbacks add what they measured to
  ``state.cost``.

Stacked seeds (train/batched.py) train several seeds as one computation. Every callback says how it takes that:
``sequential_because`` is None when it can run there, else why the seeds must train one by one; where it can,
``in_stack`` says whether its hooks run for each seed in the stack (on that seed's State, with the seed's own
module, which holds its weights only at the start and the end; ``state.weights()`` gives the live ones) or whether
the stack leaves it out because it changes nothing the stack computes (a memory layout, compilation, a meter the
stack replaces).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class State:
    """What callbacks see: progress, the latest numbers, a flag to stop, and the run they belong to."""

    step: int = 0
    total_steps: int | None = None
    seconds: float | None = None
    eval_every: int = 1
    elapsed: float = 0.0
    train_loss: float = math.nan
    val: dict[str, float] = field(default_factory=dict)
    best: tuple[float, float] = (-math.inf, -math.inf)  # (signed headline, -loss) on validation: larger is better
    best_step: int = 0
    stop: str | None = None
    improved: bool = False  # the last check beat the best one before it
    lr: float = math.nan  # the learning rate of the current step (set by the schedule's on_batch)
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per validation check
    started: float = 0.0  # time.perf_counter() when training began (compilation restarts it after the first step)
    # ---- the run: set by fit() (or for each seed of a stack) before on_start ----
    config: Any = None  # the resolved TrainConfig
    data: Any = None  # the Dataset, on the run's device
    task: Any = None  # train/tasks.py: the loss, the metrics and the headline metric
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: bool = False
    optimizer: torch.optim.Optimizer | None = None  # None for a model with nothing to learn by gradient, and in a stack
    step_model: nn.Module | None = None  # what the training step runs (a compiled copy where asked)
    weights: Callable[[], dict[str, torch.Tensor]] | None = None  # a copy of the live weights (a state dict)
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None  # (x, y, lengths) of this step
    output: torch.Tensor | None = None  # the model's output on the batch (None for the perceptron rule)
    loss: torch.Tensor | None = None  # the batch's loss, detached
    cost: dict[str, Any] = field(default_factory=dict)  # the run's costs, filled in on_end

    @property
    def progress(self) -> float:
        if self.total_steps:
            return min(1.0, self.step / self.total_steps)
        return min(1.0, self.elapsed / self.seconds) if self.seconds else 0.0

    def forward(self, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """The training step's forward pass: the task's (teacher forcing where it has one) through the step model,
        in the run's precision."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            return self.task.forward(self.step_model, x, y, lengths)


class Callback:
    """Hooks into fit(): override what you need (see the module's docstring for when each runs)."""

    # None: seeds trained as one stack can run it; else why they must train one by one. A callback written for one
    # run says so unless it declares otherwise.
    sequential_because: str | None = "a callback written for one run at a time"
    in_stack: bool = True  # where it can run stacked: its hooks run per seed (True), or the stack leaves it out

    def on_start(self, state: State, model: nn.Module) -> None: ...
    def on_batch(self, state: State) -> None: ...
    def objective(self, state: State, loss: torch.Tensor) -> torch.Tensor:
        return loss
    def on_step(self, state: State) -> None: ...
    def validating(self, state: State, model: nn.Module) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()
    def on_eval(self, state: State, model: nn.Module) -> None: ...
    def on_end(self, state: State, model: nn.Module) -> None: ...


class Hooks:
    """A run's callbacks, called in list order."""

    def __init__(self, callbacks: Sequence[Callback]):
        self.callbacks = list(callbacks)

    def on_start(self, state: State, model: nn.Module) -> None:
        for cb in self.callbacks:
            cb.on_start(state, model)

    def on_batch(self, state: State) -> None:
        for cb in self.callbacks:
            cb.on_batch(state)

    def objective(self, state: State, loss: torch.Tensor) -> torch.Tensor:
        for cb in self.callbacks:
            loss = cb.objective(state, loss)
        return loss

    def on_step(self, state: State) -> None:
        for cb in self.callbacks:
            cb.on_step(state)

    @contextlib.contextmanager
    def validating(self, state: State, model: nn.Module) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for cb in self.callbacks:
                stack.enter_context(cb.validating(state, model))
            yield

    def on_eval(self, state: State, model: nn.Module) -> None:
        for cb in self.callbacks:
            was = state.stop
            cb.on_eval(state, model)
            state.stop = was or state.stop

    def on_end(self, state: State, model: nn.Module) -> None:
        for cb in self.callbacks:
            cb.on_end(state, model)
