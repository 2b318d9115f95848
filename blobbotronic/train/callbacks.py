"""The training features fit() runs as callbacks (train/hooks.py), each owning its state, and
``training_callbacks``, which picks them from a TrainConfig in the order they run.

Each declares whether seeds trained as one stack (train/batched.py) can run it: the stack asks them
(``batched.why_sequential``) instead of keeping a list of features. Adversarial training for text is in
train/adversarial_training.py. docs/architecture-train.md shows how to add a feature as one more callback.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import torch
from torch import nn

from . import policy
from .adversarial_training import Adversarial, adversarial  # noqa: F401  (adversarial re-exported)
from .budget import Budget
from .hooks import Callback, State
from .metrics import RunMeter, count_params, flops_per_sample, peak_rss_mb, reset_peak_rss
from .optim import WeightAverage


def training_callbacks(config: Any, model: nn.Module) -> list[Callback]:
    """The built-in callbacks ``config`` (a TrainConfig, normally resolved) asks for on ``model``, in the order
    they run. The cost meter comes first, so that its costs open the run's cost; the callbacks that change the
    model before training come before those that watch it; the best weights are judged before the schedule and
    early stopping read the judgement. Features that train by gradient are left out for a model with nothing to
    learn that way (the perceptron rule, a baseline)."""
    by_gradient = getattr(model, "rule", None) != "perceptron" and any(p.requires_grad for p in model.parameters())
    plateau = policy.Plateau(config.patience or policy.PATIENCE, stops=config.patience is not None) \
        if config.schedule == "plateau" else None
    budget = Budget.parse(config.budget) if config.budget is not None else None
    cbs: list[Callback] = [CostMeter()]
    if config.adversarial and by_gradient:
        cbs.append(Adversarial(config.adversarial))
    if config.channels_last and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        cbs.append(ChannelsLast())
    if config.compile:
        cbs.append(Compile())
    if hasattr(model, "fit_readout"):
        cbs.append(ClosedFormFit())
    if config.pretrain and by_gradient:
        cbs.append(Pretraining(config.pretrain))
    cbs.append(KeepBest(plateau))
    if config.average and by_gradient:
        cbs.append(WeightAveraging(config.average))
    cbs.append(PlateauSchedule(plateau) if plateau is not None else Schedule(config.schedule, config.warmup))
    if config.patience and plateau is None:
        cbs.append(EarlyStopping(config.patience))
    if budget is not None and budget.seconds is not None:
        cbs.append(TimeBudget(budget.seconds))
    if not config.quiet:
        cbs.append(ProgressBar())
    return cbs


# ---- costs, layout and compilation --------------------------------------------------------------------------


class CostMeter(Callback):
    """The run's costs: its own memory (train/metrics.py RunMeter, measured on the first step), the load it ran
    under, and parameters, FLOPs, time and steps at the end. The meter starts with the first batch, after every
    callback's set-up. A stack measures its group itself (train/batched.py)."""

    sequential_because, in_stack = None, False

    def __init__(self) -> None:
        self.meter: RunMeter | None = None
        self.model: nn.Module | None = None

    def on_start(self, state: State, model: nn.Module) -> None:
        self.model = model

    def on_batch(self, state: State) -> None:
        if self.meter is None:
            reset_peak_rss()
            if state.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(state.device)
            self.meter = RunMeter(self.model, state.device).begin()  # the run's own memory, and the load it runs under

    def on_step(self, state: State) -> None:
        if state.step == 1:  # what the first step holds (batch, output, gradients, optimiser state): the run's memory
            self.meter.first_step(state.optimizer, *state.batch, state.output)

    def on_end(self, state: State, model: nn.Module) -> None:
        cfg, seconds = state.config, state.elapsed
        state.cost.update({
            **(self.meter.finish(cfg.threads) if self.meter else {}),  # memory_mb and its parts; load, cpu_share
            "params": count_params(model),
            "flops_per_sample": flops_per_sample(model, state.data.test),
            "train_seconds": seconds,
            "steps": state.step,
            "steps_per_second": state.step / max(seconds, 1e-9),
            "peak_rss_mb": peak_rss_mb(),  # the worker process's resident-memory high-water mark, not the run's own
            "threads": cfg.threads,
            "device": str(state.device),
        })
        if state.device.type == "cuda":
            state.cost["peak_cuda_mb"] = torch.cuda.max_memory_allocated(state.device) / 2**20


class ChannelsLast(Callback):
    """2-D convolutions in channels-last layout (CPU: 1.2-1.4x per step, measured); the inputs follow the weights.
    A stack leaves it out: a layout changes the order of sums, not what is computed."""

    sequential_because, in_stack = None, False

    def on_start(self, state: State, model: nn.Module) -> None:
        model.to(memory_format=torch.channels_last)


class Compile(Callback):
    """torch.compile the training step's model. On this project's CPU it did not pay for the small models
    (bench/train_speed.py --compile), so it is a switch, off by default. Evaluation uses the plain module (no
    recompiles per shape). The first step compiles: its time is reported apart and the clock restarts after it.
    A stack runs its own vmapped computation, uncompiled."""

    sequential_because, in_stack = None, False

    def __init__(self) -> None:
        self.seconds = 0.0

    def on_start(self, state: State, model: nn.Module) -> None:
        state.step_model = torch.compile(model)

    def on_step(self, state: State) -> None:
        if state.step == 1:
            now = time.perf_counter()
            self.seconds, state.started, state.elapsed = now - state.started, now, 0.0

    def on_end(self, state: State, model: nn.Module) -> None:
        state.cost["steps_per_second"] = (state.step - 1) / max(state.cost["train_seconds"], 1e-9)
        state.cost["compile_seconds"] = self.seconds


# ---- what prepares the model ----------------------------------------------------------------------------------


class ClosedFormFit(Callback):
    """A model fitted in closed form (models/minirocket.py) fits once, on the whole training split, and freezes
    what it fitted, so the loop only measures it. The fit's seconds are training time, and its working memory
    may be the run's peak."""

    sequential_because = "it is fitted in closed form, model by model"

    def __init__(self) -> None:
        self.fitted: dict[str, Any] = {}

    def on_start(self, state: State, model: nn.Module) -> None:
        train = state.data.train
        self.fitted = model.fit_readout(train.x, train.y, train.lengths)

    def on_end(self, state: State, model: nn.Module) -> None:
        if self.fitted:
            cost = state.cost
            cost.update(self.fitted, train_seconds=cost["train_seconds"] + self.fitted["fit_seconds"],
                        memory_mb=max(cost.get("memory_mb", 0.0), self.fitted["fit_memory_mb"]))


class Pretraining(Callback):
    """Semi-supervised text: the inputs learn to predict the next token first (train/pretrain.py), for ``steps``
    steps; its seconds, last loss and perplexity join the costs (apart from train_seconds)."""

    sequential_because = "language-model pretraining runs model by model"

    def __init__(self, steps: int):
        self.steps, self.cost = steps, {}

    def on_start(self, state: State, model: nn.Module) -> None:
        from .pretrain import pretrain_language_model

        self.cost = pretrain_language_model(model, state.data, self.steps, seed=state.config.seed,
                                            corpus=state.data.meta.get("corpus"))

    def on_end(self, state: State, model: nn.Module) -> None:
        state.cost.update(self.cost)


# ---- the best weights, and weight averaging -------------------------------------------------------------------


class KeepBest(Callback):
    """The weights of the best validation check, put back in the model at the end. Ties on the headline metric
    (common on small validation splits) go to the lower validation loss; under the policy's plateau schedule the
    score is the smoothed headline (policy.Plateau.smoothed) and a tie goes to the later, longer-trained weights.
    Sets ``state.best``, ``state.best_step`` and ``state.improved``. In a stack, per seed."""

    sequential_because = None

    def __init__(self, plateau: policy.Plateau | None = None):
        self.plateau = plateau
        self.kept: dict[str, torch.Tensor] | None = None

    def on_start(self, state: State, model: nn.Module) -> None:
        self.metric, self.sign = state.task.headline, 1.0 if state.task.higher_is_better else -1.0
        self.kept = state.weights()

    def on_eval(self, state: State, model: nn.Module) -> None:
        signed = self.sign * state.val[self.metric]
        if self.plateau is None:
            score = (signed, -state.val.get("loss", 0.0))
            improved = keep = score > state.best
        else:
            score = (self.plateau.smoothed(signed), 0.0)
            improved, keep = score > state.best, score >= state.best
        state.improved = improved
        if keep:
            state.best, state.best_step = score, state.step
            self.kept = state.weights()

    def on_end(self, state: State, model: nn.Module) -> None:
        model.load_state_dict(self.kept)


class WeightAveraging(Callback):
    """A moving average of the weights (train/optim.py WeightAverage), updated after every step; validation, the
    kept weights and so the test use the average, while training goes on from the live weights."""

    sequential_because = "weight averaging keeps its average model by model"

    def __init__(self, decay: float):
        self.decay = decay
        self.average: WeightAverage | None = None

    def on_start(self, state: State, model: nn.Module) -> None:
        self.average = WeightAverage(model, self.decay)

    def on_step(self, state: State) -> None:
        self.average.update()

    def validating(self, state: State, model: nn.Module) -> contextlib.AbstractContextManager[Any]:
        return self.average.swapped()


# ---- the learning rate and stopping ----------------------------------------------------------------------------


def schedule_factor(kind: str | None, warmup: float):
    def factor(progress: float) -> float:
        if warmup > 0 and progress < warmup:
            return (progress + 1e-3) / warmup
        if kind == "constant":
            return 1.0
        p = (progress - warmup) / max(1e-9, 1 - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

    return factor


class Schedule(Callback):
    """The learning rate over the budget: a linear warm-up over its first ``warmup``, then a cosine decay (or
    constant). Every seed of a stack is at the same step, so at the same rate."""

    sequential_because = None

    def __init__(self, kind: str | None, warmup: float):
        self.factor = schedule_factor(kind, warmup)

    def on_batch(self, state: State) -> None:
        state.lr = state.config.lr * self.factor(state.progress)


class PlateauSchedule(Callback):
    """The training policy's schedule (train/policy.py): the rate halves on validation plateaus and the run stops
    on the last. Progress is a better validation check or a training loss still falling."""

    sequential_because = "the training policy's plateau schedule gives each seed its own learning rate and length"

    def __init__(self, plateau: policy.Plateau):
        self.plateau = plateau

    def on_batch(self, state: State) -> None:
        state.lr = state.config.lr * self.plateau.factor(state.step)

    def on_eval(self, state: State, model: nn.Module) -> None:
        self.plateau.observe(state.step, state.improved or self.plateau.fitting(state.train_loss))
        if self.plateau.done:
            state.stop = "early"


class EarlyStopping(Callback):
    """Stop after ``patience`` validation checks without a better one. In a stack, per seed: a seed that stops
    leaves the stack."""

    sequential_because = None

    def __init__(self, patience: int):
        self.patience = patience

    def on_eval(self, state: State, model: nn.Module) -> None:
        checks_since_best = (state.step - state.best_step) / state.eval_every
        if checks_since_best >= self.patience:
            state.stop = "early"


class TimeBudget(Callback):
    """Stop once training has taken ``seconds``."""

    sequential_because = "a time budget gives each model its own seconds"

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_step(self, state: State) -> None:
        if state.elapsed >= self.seconds:
            state.stop = state.stop or "time"


# ---- progress -----------------------------------------------------------------------------------------------


class ProgressBar(Callback):
    """A rich progress bar on stderr; silent when stderr is not a terminal. A stack trains quietly."""

    sequential_because, in_stack = None, False

    def __init__(self, label: str | None = None):
        self.label = label
        self.bar = None

    def on_start(self, state: State, model: nn.Module) -> None:
        import sys

        if not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        label = self.label or f"{getattr(model, 'name', 'model')} on {state.data.spec.name}"
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                            TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task(label, total=1000, info="")

    def on_step(self, state: State) -> None:
        if self.bar is not None and state.step % 20 == 0:
            self.bar.update(self.task, completed=int(1000 * state.progress))

    def on_eval(self, state: State, model: nn.Module) -> None:
        if self.bar is not None:
            first = list(state.val.items())[:1]
            info = f"loss {state.train_loss:.3f} " + " ".join(f"val {k} {v:.3f}" for k, v in first)
            self.bar.update(self.task, completed=int(1000 * state.progress), info=info)

    def on_end(self, state: State, model: nn.Module) -> None:
        if self.bar is not None:
            self.bar.stop()
