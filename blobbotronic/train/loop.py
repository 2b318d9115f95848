"""fit(): one readable training loop. Sections: set-up, the step, evaluation, the end. Callbacks do the rest."""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Sequence

import torch
from torch import nn

from ..data.spec import Dataset
from ..errors import BlobError
from ..models.base import token_vectors
from . import policy
from .budget import Budget
from .metrics import (
    RunMeter,
    busy_cores,
    count_params,
    evaluate,
    flops_per_sample,
    headline,
    peak_rss_mb,
    reset_peak_rss,
    usable_cores,
)
from .optim import ClippedAdamW, WeightAverage
from .tasks import task_for


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
    pretrain: int | None = None  # text: steps of next-token language-model pretraining first (train/pretrain.py); 0: off
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

    def resolved(self, model: nn.Module, data: Dataset) -> "TrainConfig":
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


def default_threads() -> int:
    """The CPU threads of a training run that was given none.

    ``BLOBBOTRONIC_THREADS`` when set. Otherwise the cores this process may use (its affinity and any cgroup
    quota) that no other process is keeping busy right now, at least 1 and at most 8 (train/metrics.py
    ``usable_cores``, ``busy_cores``): the compiled recurrences split each batch across threads with no barrier
    per time step (models/rnn_scan.cpp), but every other parallel operation waits for its slowest thread, so one
    thread on a core a neighbour holds stalls them all (issue 24, xor MLP on 2 cores beside one busy process:
    2 threads ran 23 and 9.9 steps/s, 1 thread 635-699). Comparisons pass one thread per run and use one worker
    process per core instead (compare/runner.py), the better use of a CPU for a grid of small models
    (shared/PERF.md); their stored results never depend on the machine's core count or load.
    """
    if os.environ.get("BLOBBOTRONIC_THREADS"):
        return max(1, int(os.environ["BLOBBOTRONIC_THREADS"]))
    return max(1, min(8, usable_cores() - busy_cores()))


def roomy_malloc() -> None:
    """Ask glibc to keep freed memory instead of unmapping and trimming it after every large step.

    A training step allocates blocks of megabytes (a recurrence's saved gates, a stack of seeds); with glibc's
    defaults each such block is an mmap and each free a munmap plus page faults on reuse (shared/PERF.md: a
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


@dataclass
class State:
    """What callbacks see: progress, the latest numbers, and a flag to stop."""

    step: int = 0
    total_steps: int | None = None
    seconds: float | None = None
    eval_every: int = 1
    elapsed: float = 0.0
    train_loss: float = math.nan
    val: dict[str, float] = field(default_factory=dict)
    best: tuple[float, float] = (-math.inf, -math.inf)  # (signed headline metric, -loss) on validation: larger is better
    best_step: int = 0
    stop: str | None = None

    @property
    def progress(self) -> float:
        if self.total_steps:
            return min(1.0, self.step / self.total_steps)
        return min(1.0, self.elapsed / self.seconds) if self.seconds else 0.0


class Callback:
    """Hooks into fit(): override what you need. ``on_eval`` runs after each validation check."""

    def on_start(self, state: State, model: nn.Module) -> None: ...
    def on_step(self, state: State) -> None: ...
    def on_eval(self, state: State, model: nn.Module) -> None: ...
    def on_end(self, state: State, model: nn.Module) -> None: ...


class EarlyStopping(Callback):
    def __init__(self, patience: int):
        self.patience = patience

    def on_eval(self, state: State, model: nn.Module) -> None:
        checks_since_best = (state.step - state.best_step) / state.eval_every
        if checks_since_best >= self.patience:
            state.stop = "early"


class ProgressBar(Callback):
    """A rich progress bar on stderr; silent when stderr is not a terminal."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def on_start(self, state: State, model: nn.Module) -> None:
        import sys

        if not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                            TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=1000, info="")

    def on_step(self, state: State) -> None:
        if self.bar is not None and state.step % 20 == 0:
            self.bar.update(self.task, completed=int(1000 * state.progress))

    def on_eval(self, state: State, model: nn.Module) -> None:
        if self.bar is not None:
            info = f"loss {state.train_loss:.3f} " + " ".join(f"val {k} {v:.3f}" for k, v in list(state.val.items())[:1])
            self.bar.update(self.task, completed=int(1000 * state.progress), info=info)

    def on_end(self, state: State, model: nn.Module) -> None:
        if self.bar is not None:
            self.bar.stop()


def schedule_factor(kind: str, warmup: float):
    def factor(progress: float) -> float:
        if warmup > 0 and progress < warmup:
            return (progress + 1e-3) / warmup
        if kind == "constant":
            return 1.0
        p = (progress - warmup) / max(1e-9, 1 - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

    return factor


def adversarial(loss: torch.Tensor, vectors: torch.Tensor, eps: float) -> torch.Tensor:
    """The fast-gradient adversary of adversarial training for text (Miyato, Dai & Goodfellow 2017): each sample's
    token vectors (B, L, D) moved along the gradient of the loss, by ``eps`` of their own L2 norm (relative, so
    one ``eps`` suits learned embeddings and glyph features alike). The training step averages the loss of the
    perturbed batch with the clean one; padding has no gradient and is not moved. Costs a second forward and
    backward pass per step."""
    (grad,) = torch.autograd.grad(loss, vectors, retain_graph=True)
    size = vectors.detach().flatten(1).norm(dim=1) / grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return (eps * size).view(-1, *[1] * (grad.dim() - 1)) * grad


def checks_every(total: int | None, n_val: int, batch_size: int) -> int:
    """Steps between validation checks when the config leaves it open: about 30 checks a run, but never so
    often that checking costs more than about a sixth of training. A check reads the validation split forward
    only (about a third of a training step per sample), so checking every 2 * n_val / batch_size steps keeps
    it near 15% of the time. Measured: one epoch of the LSTM on chinese_sentiment (122 steps, 2,600 validation
    texts) spent half its 33 s in 30 checks. Depends on sizes only, so a seed reproduces the run."""
    return max(1, (total or 3000) // 30, math.ceil(2 * n_val / batch_size))


def fit(model: nn.Module, data: Dataset, config: TrainConfig | None = None,
        callbacks: Sequence[Callback] = (), **overrides: Any) -> Run:
    """Train ``model`` on ``data.train`` under the config's budget, choosing the best weights on
    ``data.val``, and measure the test split once at the end."""
    # ---- set-up ---------------------------------------------------------------------------------
    cfg = replace(config or TrainConfig(), **overrides).resolved(model, data)
    torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    if device.type == "cpu":
        roomy_malloc()
    amp = (device.type == "cuda") if cfg.amp is None else cfg.amp
    data = data.to(device)
    model.to(device)
    has_conv2d = any(isinstance(m, nn.Conv2d) for m in model.modules())
    if has_conv2d and cfg.channels_last:
        model.to(memory_format=torch.channels_last)  # convolutions then run NHWC; the inputs follow the weights
    # torch.compile where asked: on this project's CPU it did not pay for the small models (bench/train_speed.py
    # --compile), so it is a switch, off by default. Evaluation uses the plain module (no recompiles per shape).
    step_model = torch.compile(model) if cfg.compile else model
    model.train()
    metric, higher = headline(data.spec)
    sign = 1.0 if higher else -1.0
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # dropout and other in-model randomness
    # a model fitted in closed form (models/minirocket.py) fits here, once, on the whole training split and freezes
    # what it fitted, so the loop only measures it; the fit's costs join the run's at the end
    fitted = model.fit_readout(data.train.x, data.train.y, data.train.lengths) if hasattr(model, "fit_readout") \
        else {}

    rule = getattr(model, "rule", None) == "perceptron"
    params = [p for p in model.parameters() if p.requires_grad]
    learns = rule or bool(params)  # a baseline with nothing to learn (a naive forecast) is only measured
    # AdamW with the gradient clipping in its step (train/optim.py: one compiled call on a CPU)
    opt = None if rule or not params else ClippedAdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, clip=cfg.clip,
                                                       fused=device.type in ("cpu", "cuda"))
    factor = schedule_factor(cfg.schedule, cfg.warmup)
    # the policy's schedule (train/policy.py): the rate halves on validation plateaus and the run stops on the last
    plateau = policy.Plateau(cfg.patience or policy.PATIENCE, stops=cfg.patience is not None) \
        if cfg.schedule == "plateau" else None
    tokens = token_vectors(model) if cfg.adversarial and opt is not None else None
    if cfg.adversarial and (cfg.adversarial < 0 or not math.isfinite(cfg.adversarial)):
        raise BlobError(f"adversarial={cfg.adversarial} is not a valid strength: give a small positive fraction such "
                        "as 0.02 (the push's size relative to the token vectors'), or 0 for none.")
    if cfg.adversarial and opt is not None and tokens is None:
        raise BlobError(f"adversarial={cfg.adversarial}: adversarial training pushes a text model's token vectors, "
                        f"and {getattr(model, 'name', type(model).__name__)!r} on {data.spec.name} "
                        f"({data.spec.modality}) has none. Use it with a text model, or leave it at 0.")
    if cfg.pretrain < 0:
        raise BlobError(f"pretrain={cfg.pretrain} is not a number of steps: give 0 (none) or a positive count such as "
                        "1000 (next-token language-model steps before training).")
    if cfg.average and not 0 < cfg.average < 1:
        raise BlobError(f"average={cfg.average} is not a valid decay: give a number between 0 and 1 such as 0.99 (a "
                        "moving average of the weights over about the last 100 steps), or 0 for none.")
    pretrained = {}
    if cfg.pretrain and opt is not None:  # semi-supervised: the text inputs learn to predict the next token first
        from .pretrain import pretrain_language_model

        pretrained = pretrain_language_model(model, data, cfg.pretrain, seed=cfg.seed, corpus=data.meta.get("corpus"))
    n, bs = len(data.train), cfg.batch_size
    total = cfg.budget.steps_for(n, bs)
    eval_every = cfg.eval_every or (policy.check_every(n, len(data.val), bs) if plateau
                                    else checks_every(total, len(data.val), bs))
    state = State(total_steps=total, seconds=cfg.budget.seconds, eval_every=eval_every)
    cbs = list(callbacks)
    if cfg.patience is not None and plateau is None:
        cbs.append(EarlyStopping(cfg.patience))
    if not cfg.quiet:
        cbs.append(ProgressBar(f"{getattr(model, 'name', 'model')} on {data.spec.name}"))
    task = task_for(data.spec)
    history: list[dict[str, float]] = []
    best_state = copy.deepcopy(model.state_dict())
    averaged = WeightAverage(model, cfg.average) if cfg.average and opt is not None else None
    reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    meter = RunMeter(model, device).begin()  # the run's own memory, and the load it runs under (train/metrics.py)
    for cb in cbs:
        cb.on_start(state, model)
    compile_seconds = 0.0
    loss_sum = torch.zeros((), device=device)
    loss_count = 0
    perm = torch.randperm(n, generator=gen).to(device)
    pos = 0
    start = time.perf_counter()

    # ---- the loop -------------------------------------------------------------------------------
    while state.stop is None:
        if pos + bs > n:  # a new epoch: reshuffle (the last partial batch is dropped)
            perm, pos = torch.randperm(n, generator=gen).to(device), 0
        idx = perm[pos : pos + bs]
        pos += bs
        xb, yb = data.train.x[idx], data.train.y[idx]
        lb = None if data.train.lengths is None else data.train.lengths[idx]
        lr = cfg.lr * (plateau.factor(state.step) if plateau else factor(state.progress))
        if rule:
            loss = model.rule_step(xb, yb, lr)
        else:
            seen: list[torch.Tensor] = []
            hook = tokens.register_forward_hook(lambda m, i, o: seen.append(o)) if tokens is not None else None
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = task.forward(step_model, xb, yb, lb)  # model(xb, lb), or teacher forcing for translate
            loss = objective = task.loss(out, yb, lb)
            if hook is not None:
                hook.remove()
            if seen:  # adversarial training: the same batch again with its token vectors pushed uphill
                r = adversarial(loss, seen[0], cfg.adversarial)
                hook = tokens.register_forward_hook(lambda m, i, o: o + r)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    out_adv = task.forward(step_model, xb, yb, lb)
                hook.remove()
                objective = 0.5 * (loss + task.loss(out_adv, yb, lb))
            if opt is not None:
                for g in opt.param_groups:
                    g["lr"] = lr
                opt.zero_grad(set_to_none=True)
                objective.backward()
                opt.step()  # clips first where cfg.clip is set
                if averaged is not None:
                    averaged.update()
        loss_sum += loss.detach()
        loss_count += 1
        state.step += 1
        if state.step == 1:  # what the first step holds (batch, output, gradients, optimiser state): the run's memory
            meter.first_step(opt, xb, yb, lb, None if rule else out)
        if cfg.compile and state.step == 1:  # the first step compiled the model: report it apart, time the rest
            compile_seconds = time.perf_counter() - start
            start = time.perf_counter()
        state.elapsed = time.perf_counter() - start
        if not learns:
            state.stop = "untrained"  # one step to measure it; more would change nothing
        elif total is not None and state.step >= total:
            state.stop = "budget"
        elif cfg.budget.seconds is not None and state.elapsed >= cfg.budget.seconds:
            state.stop = "time"
        for cb in cbs:
            cb.on_step(state)

        # ---- evaluation -----------------------------------------------------------------------
        if state.step % eval_every == 0 or state.stop is not None:
            state.train_loss = (loss_sum / max(1, loss_count)).item()
            loss_sum.zero_()
            loss_count = 0
            with averaged.swapped() if averaged is not None else contextlib.nullcontext():  # judge the average
                state.val = evaluate(model, data.spec, data.val)
                if plateau is None:  # ties on the headline (common on small validation splits) go to the lower loss
                    score = (sign * state.val[metric], -state.val.get("loss", 0.0))
                    improved = keep = score > state.best
                else:  # the policy judges a smoothed curve, and a tie goes to the later, longer-trained weights
                    score = (plateau.smoothed(sign * state.val[metric]), 0.0)
                    improved, keep = score > state.best, score >= state.best
                if keep:
                    state.best, state.best_step = score, state.step
                    best_state = copy.deepcopy(model.state_dict())
            if plateau is not None:  # progress is a better validation check or a training loss still falling
                plateau.observe(state.step, improved or plateau.fitting(state.train_loss))
                state.stop = state.stop or ("early" if plateau.done else None)
            history.append({"step": state.step, "seconds": state.elapsed, "lr": lr, "train_loss": state.train_loss,
                            **{f"val_{k}": v for k, v in state.val.items()}})
            for cb in cbs:
                was = state.stop
                cb.on_eval(state, model)
                state.stop = was or state.stop

    # ---- the end --------------------------------------------------------------------------------
    train_seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    for cb in cbs:
        cb.on_end(state, model)
    cost = {
        **meter.finish(cfg.threads),  # memory_mb (the run's own) and its parts; load_start/end, cpu_share, contended
        "params": count_params(model),
        "flops_per_sample": flops_per_sample(model, data.test),
        "train_seconds": train_seconds,
        "steps": state.step,
        "steps_per_second": (state.step - (1 if cfg.compile else 0)) / max(train_seconds, 1e-9),
        "peak_rss_mb": peak_rss_mb(),  # the worker process's resident-memory high-water mark, not the run's own
        "threads": cfg.threads,
        "device": str(device),
    }
    if cfg.compile:
        cost["compile_seconds"] = compile_seconds
    cost.update(pretrained)  # pretrain_seconds (apart from train_seconds), its last loss and perplexity
    if fitted:  # the closed-form fit's seconds are training time, and its working memory may be the run's peak
        cost.update(fitted, train_seconds=train_seconds + fitted["fit_seconds"],
                    memory_mb=max(cost.get("memory_mb", 0.0), fitted["fit_memory_mb"]))
    if device.type == "cuda":
        cost["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    stopped = state.stop or "budget"
    return Run(model, cfg, test_metrics(model, data), evaluate(model, data.spec, data.val), history, cost, stopped,
               policy.convergence(history, metric, higher, state.best_step, state.step, stopped))


def test_metrics(model: nn.Module, data: Dataset) -> dict[str, float]:
    """The test split's metrics, plus the headline metric on each extra test set ("accuracy@shift4")."""
    metric, _ = headline(data.spec)
    metrics = evaluate(model, data.spec, data.test)
    for name, split in data.extra_tests.items():
        metrics[f"{metric}@{name}"] = evaluate(model, data.spec, split)[metric]
    return metrics
