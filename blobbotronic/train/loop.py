"""fit(): one readable training loop. Sections: set-up, the step, the validation check, the end. The features
(schedules, early stopping, the best weights, weight averaging, adversarial training, pretraining, compilation,
costs, progress) are callbacks (train/callbacks.py, train/hooks.py); the loop only calls them.

The pieces a run is made of (``prepare``, ``BatchOrder``, ``end_step``, ``record_check``, ``finished_run``) are
shared with the stacked path (train/batched.py), which trains several seeds as one computation.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..data.spec import Dataset, Split
from ..errors import BlobError
from . import policy
from .budget import Budget
from .callbacks import adversarial, schedule_factor, training_callbacks  # noqa: F401  (the first two re-exported)
from .hooks import Callback, Hooks, State
from .metrics import busy_cores, evaluate, headline, usable_cores
from .optim import ClippedAdamW
from .tasks import task_for

__all__ = ["Callback", "Run", "State", "TrainConfig", "adversarial", "checks_every", "default_threads", "fit",
           "pick_device", "roomy_malloc", "schedule_factor", "seed_everything", "test_metrics"]


@dataclass
class TrainConfig:
    """Every training setting in one place. ``None`` means: the model family's default, else the global one."""

    budget: Budget | str | None = None  # None: the training policy (train/policy.py) decides the length from the
    # validation curve, up to a cap; a budget instead trains exactly that long (early stopping aside)
    batch_size: int | None = None  # None: the policy's, min(100, max(16, n_train // 8))
    lr: float | None = None  # None: the model family's default (train_defaults), else 1e-2
    weight_decay: float | None = None
    schedule: Literal["cosine", "constant", "plateau"] | None = None  # None: "plateau" under the policy (halve
    # the rate on a validation plateau), else the family's default, else "cosine" over the budget
    warmup: float = 0.02  # fraction of the budget spent ramping the learning rate up
    clip: float | None = None  # gradient-norm clipping; recurrent families default to 1.0
    adversarial: float | None = None  # text: adversarial training on the token vectors (see adversarial()); 0: off
    pretrain: int | None = None  # text: steps of next-token language-model pretraining first (train/pretrain.py);
    # 0: off
    average: float | None = None  # weight averaging: the decay of a moving average of the weights per step (0.99
    # averages about the last 100 steps); validation, the kept checkpoint and the test use the average. 0: off
    eval_every: int | None = None  # steps between validation checks; None: see checks_every()
    patience: int | None = 10  # validation checks without improvement before stopping (under the plateau schedule:
    # the rate halves every patience // 2 such checks, twice, then the run stops); None or 0: never stop early
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool | None = None  # mixed precision (bf16); None: on for CUDA
    threads: int | None = None  # CPU threads; None: see default_threads()
    compile: bool = False  # torch.compile the training step's model; its compile time is reported apart
    channels_last: bool = True  # 2-D convolutions in channels-last layout (CPU: 1.2-1.4x per step, measured)
    quiet: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse a setting no run can use, with a message that says what to give instead. Runs on every
        TrainConfig built (and so on every ``replace``): the resolved config, with the model family's defaults
        filled in, is checked too."""
        eps = self.adversarial
        if _number(eps) and eps and (eps < 0 or not math.isfinite(eps)):
            raise BlobError(f"adversarial={eps} is not a valid strength: give a small positive fraction "
                            "such as 0.02 (the push's size relative to the token vectors'), or 0 for none.")
        if _number(self.pretrain) and self.pretrain < 0:
            raise BlobError(f"pretrain={self.pretrain} is not a number of steps: give 0 (none) or a positive count "
                            "such as 1000 (next-token language-model steps before training).")
        if _number(self.average) and self.average and not 0 < self.average < 1:
            raise BlobError(f"average={self.average} is not a valid decay: give a number between 0 and 1 such as 0.99 "
                            "(a moving average of the weights over about the last 100 steps), or 0 for none.")

    def resolved(self, model: nn.Module, data: Dataset) -> TrainConfig:
        """Fill every None from the model's train_defaults, the data set's hints and global defaults."""
        fam = getattr(model, "train_defaults", {})
        pick = lambda k, default: getattr(self, k) if getattr(self, k) is not None else fam.get(k, default)  # noqa: E731
        n = len(data.train)
        batch = min(int(self.batch_size), n) if self.batch_size else policy.batch_size(n)
        by_policy = self.budget is None  # no budget: the policy's cap, and its plateau schedule unless one is named
        return replace(
            self,
            budget=policy.budget(n, batch) if by_policy else Budget.parse(self.budget),
            batch_size=batch,
            lr=float(pick("lr", 1e-2)),
            weight_decay=float(pick("weight_decay", 0.0)),
            schedule=self.schedule or ("plateau" if by_policy else fam.get("schedule", "cosine")),
            patience=self.patience or None,
            clip=pick("clip", None),
            adversarial=float(pick("adversarial", 0.0)),
            pretrain=int(pick("pretrain", 0)),
            average=float(pick("average", 0.0)),
            threads=self.threads or default_threads(),
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["budget"] = Budget.parse(self.budget).to_dict() if self.budget is not None else None
        return d


def _number(value: Any) -> bool:
    """A number to check (None means: not given; a bool is no number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def default_threads() -> int:
    """The CPU threads of a training run that was given none.

    ``BLOBBOTRONIC_THREADS`` when set. Otherwise the cores this process may use (its affinity and any cgroup
    quota) that no other process is keeping busy right now, at least 1 and at most 8 (train/metrics.py
    ``usable_cores``, ``busy_cores``): the compiled recurrences split each batch across threads with no barrier
    per time step (models/rnn_scan.cpp), but every other parallel operation waits for its slowest thread, so one
    thread on a core a neighbour holds stalls them all (issue 24, xor MLP on 2 cores beside one busy process:
    2 threads ran 23 and 9.9 steps/s, 1 thread 635-699). Comparisons pass one thread per run and use one worker
    process per core instead (compare/runner.py), the better use of a CPU for a grid of small models
    (docs/speed.md); their stored results never depend on the machine's core count or load.
    """
    if os.environ.get("BLOBBOTRONIC_THREADS"):
        return max(1, int(os.environ["BLOBBOTRONIC_THREADS"]))
    return max(1, min(8, usable_cores() - busy_cores()))


def roomy_malloc() -> None:
    """Ask glibc to keep freed memory instead of unmapping and trimming it after every large step.

    A training step allocates blocks of megabytes (a recurrence's saved gates, a stack of seeds); with glibc's
    defaults each such block is an mmap and each free a munmap plus page faults on reuse (docs/speed.md: a
    64-seed GRU step 688 -> 166 ms with these settings; one MNIST-1D GRU here, 300 steps, one thread:
    42-46 -> 62 steps/s). Linux/glibc only; elsewhere nothing happens. Process-wide and set once.
    """
    global _MALLOC_SET
    if _MALLOC_SET:
        return
    _MALLOC_SET = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: its maximum, 32 MiB on 64-bit
        libc.mallopt(-1, 2**30)  # M_TRIM_THRESHOLD: give memory back only past 1 GiB free at the top
        libc.mallopt(-2, 256 * 2**20)  # M_TOP_PAD: grow the heap in 256 MiB steps
    except (OSError, AttributeError):
        pass


_MALLOC_SET = False


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BlobError(f"Device {name!r} was asked for, but PyTorch sees no CUDA GPU here; use --device cpu.")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class Run:
    """What fit() returns: the trained model (best validation weights), metrics, curves and costs."""

    model: nn.Module
    config: TrainConfig
    metrics: dict[str, float]  # on the test split
    val_metrics: dict[str, float]
    history: list[dict[str, float]]
    cost: dict[str, Any]
    stopped: str  # budget | early | time | untrained (nothing to learn: a baseline)
    convergence: dict[str, Any] = field(default_factory=dict)  # policy.convergence(): best check, still improving?

    def summary(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "val_metrics": self.val_metrics, "cost": self.cost, "stopped": self.stopped,
                "convergence": self.convergence}


def checks_every(total: int | None, n_val: int, batch_size: int) -> int:
    """Steps between validation checks when the config leaves it open: about 30 checks a run, but never so
    often that checking costs more than about a sixth of training. A check reads the validation split forward
    only (about a third of a training step per sample), so checking every 2 * n_val / batch_size steps keeps
    it near 15% of the time. Measured: one epoch of the LSTM on chinese_sentiment (122 steps, 2,600 validation
    texts) spent half its 33 s in 30 checks. Depends on sizes only, so a seed reproduces the run."""
    return max(1, (total or 3000) // 30, math.ceil(2 * n_val / batch_size))


@contextmanager
def subnormals_flushed() -> Iterator[None]:
    """Subnormal floats (below 1.2e-38) read and written as zero while a run trains, and the caller's mode after.

    A gradient read at the last step shrinks through every step of a recurrent network into subnormals, and the
    CPU's arithmetic on them is slow (a vanilla RNN on the adding problem, T = 200: 106 against 14 ms a step, one
    thread); they cannot move a float32 weight. PyTorch's switch covers the calling thread, the compiled kernels
    set it on each of theirs (models/rnn_scan.cpp). The mode is the thread's processor state, which other code on
    it relies on (hypothesis refuses to draw floats under it), so it is put back when the run ends. numpy
    measures its float limits once, on first use, and under the flush warns that the smallest subnormal is zero:
    they are measured first."""
    before = torch.tensor([1e-39]).mul(1.0).item() == 0.0  # already flushing?
    for dtype in (np.float16, np.float32, np.float64):
        np.finfo(dtype)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


@subnormals_flushed()
def fit(model: nn.Module, data: Dataset, config: TrainConfig | None = None,
        callbacks: Sequence[Callback] = (), **overrides: Any) -> Run:
    """Train ``model`` on ``data.train`` under the config's budget, choosing the best weights on
    ``data.val``, and measure the test split once at the end."""
    # ---- set-up ---------------------------------------------------------------------------------
    cfg = replace(config or TrainConfig(), **overrides).resolved(model, data)
    device, amp = prepare(cfg)
    data = data.to(device)
    model.to(device).train()
    hooks = Hooks([*training_callbacks(cfg, model), *callbacks])
    state = new_state(cfg, data, device, amp, optimizer=make_optimizer(model, cfg, device), step_model=model,
                      weights=lambda: copy.deepcopy(model.state_dict()))
    rule = getattr(model, "rule", None) == "perceptron"
    learns = rule or state.optimizer is not None  # a baseline with nothing to learn (a naive forecast) is only measured
    order = BatchOrder(len(data.train), cfg.batch_size, cfg.seed, device)
    torch.manual_seed(cfg.seed)  # dropout and other in-model randomness
    hooks.on_start(state, model)
    loss_sum, loss_count = torch.zeros((), device=device), 0
    state.started = time.perf_counter()

    # ---- the loop -------------------------------------------------------------------------------
    while state.stop is None:
        state.batch = batch_of(data.train, order.next())
        hooks.on_batch(state)  # the learning rate; adversarial training starts watching the token vectors
        state.loss = (model.rule_step(*state.batch[:2], state.lr) if rule else gradient_step(state, hooks)).detach()
        loss_sum += state.loss
        loss_count += 1
        end_step(state, learns)
        hooks.on_step(state)

        # ---- the validation check -------------------------------------------------------------
        if state.step % state.eval_every == 0 or state.stop is not None:
            state.train_loss = (loss_sum / max(1, loss_count)).item()
            loss_sum.zero_()
            loss_count = 0
            with hooks.validating(state, model):  # under weight averaging, the average is judged and kept
                state.val = evaluate(model, data.spec, data.val)
                record_check(state, hooks, model)

    # ---- the end --------------------------------------------------------------------------------
    state.elapsed = time.perf_counter() - state.started
    hooks.on_end(state, model)  # the best weights go back into the model; the costs are measured
    return finished_run(model, cfg, data, state)


def gradient_step(state: State, hooks: Hooks) -> torch.Tensor:
    """One optimiser step on ``state.batch``; returns the batch's loss. The callbacks may change what is minimised
    (adversarial training adds a perturbed pass)."""
    x, y, lengths = state.batch
    state.output = state.forward(x, y, lengths)  # model(x, lengths), or teacher forcing for translate
    loss = state.task.loss(state.output, y, lengths)
    objective = hooks.objective(state, loss)
    opt = state.optimizer
    if opt is not None:
        for g in opt.param_groups:
            g["lr"] = state.lr
        opt.zero_grad(set_to_none=True)
        objective.backward()
        opt.step()  # clips first where the config's clip is set
    return loss


# ---- the pieces of a run, shared with the stacked path (train/batched.py) -----------------------------------


def prepare(cfg: TrainConfig) -> tuple[torch.device, bool]:
    """The run's threads and device; returns the device and whether it trains in mixed precision."""
    torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    if device.type == "cpu":
        roomy_malloc()
    return device, (device.type == "cuda") if cfg.amp is None else cfg.amp


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> ClippedAdamW | None:
    """AdamW with the gradient clipping in its step (train/optim.py: one compiled call on a CPU); None for a
    model that learns by a rule or has nothing to learn."""
    params = [p for p in model.parameters() if p.requires_grad]
    if getattr(model, "rule", None) == "perceptron" or not params:
        return None
    return ClippedAdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, clip=cfg.clip,
                        fused=device.type in ("cpu", "cuda"))


def new_state(cfg: TrainConfig, data: Dataset, device: torch.device, amp: bool, **run: Any) -> State:
    """A run's State before its first step: its length, its checks and what the callbacks need of the run."""
    n, bs = len(data.train), cfg.batch_size
    total = cfg.budget.steps_for(n, bs)
    every = cfg.eval_every or (policy.check_every(n, len(data.val), bs) if cfg.schedule == "plateau"
                               else checks_every(total, len(data.val), bs))
    return State(total_steps=total, seconds=cfg.budget.seconds, eval_every=every, config=cfg, data=data,
                 task=task_for(data.spec), device=device, amp=amp, **run)


class BatchOrder:
    """A run's batches: a permutation of the training split drawn from a generator seeded with the run's seed, a
    fresh one each epoch; the last partial batch is dropped."""

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device):
        self.n, self.bs, self.device = n, batch_size, device
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.perm, self.pos = torch.randperm(n, generator=self.gen).to(device), 0

    def next(self) -> torch.Tensor:
        if self.pos + self.bs > self.n:  # a new epoch: reshuffle
            self.perm, self.pos = torch.randperm(self.n, generator=self.gen).to(self.device), 0
        idx = self.perm[self.pos : self.pos + self.bs]
        self.pos += self.bs
        return idx


def batch_of(split: Split, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x, y, lengths) at ``idx``: (B,) for one run, (N, B) for a stack of seeds."""
    return split.x[idx], split.y[idx], None if split.lengths is None else split.lengths[idx]


def end_step(state: State, learns: bool = True) -> None:
    """Count a finished step, and stop where the budget is spent (or at once where nothing can be learnt: one step
    measures the model, more would change nothing)."""
    state.step += 1
    state.elapsed = time.perf_counter() - state.started
    if not learns:
        state.stop = "untrained"
    elif state.total_steps is not None and state.step >= state.total_steps:
        state.stop = "budget"


def record_check(state: State, hooks: Hooks, model: nn.Module) -> None:
    """After the validation split was measured (``state.val``): the check joins the history, then the callbacks
    judge it (the best weights first, then the schedule, early stopping and the rest)."""
    state.history.append({"step": state.step, "seconds": state.elapsed, "lr": state.lr,
                          "train_loss": state.train_loss, **{f"val_{k}": v for k, v in state.val.items()}})
    hooks.on_eval(state, model)


def finished_run(model: nn.Module, cfg: TrainConfig, data: Dataset, state: State) -> Run:
    """The Run of a finished training: the test split measured once, and where the kept weights came from."""
    metric, higher = headline(data.spec)
    stopped = state.stop or "budget"
    return Run(model, cfg, test_metrics(model, data), evaluate(model, data.spec, data.val), state.history, state.cost,
               stopped, policy.convergence(state.history, metric, higher, state.best_step, state.step, stopped))


def test_metrics(model: nn.Module, data: Dataset) -> dict[str, float]:
    """The test split's metrics, plus the headline metric on each extra test set ("accuracy@shift4")."""
    metric, _ = headline(data.spec)
    metrics = evaluate(model, data.spec, data.test)
    for name, split in data.extra_tests.items():
        metrics[f"{metric}@{name}"] = evaluate(model, data.spec, split)[metric]
    return metrics
