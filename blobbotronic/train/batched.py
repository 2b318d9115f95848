"""fit_many(): the seeds of one model trained as one batched computation, with fit()'s numbers.

A comparison trains the same small model under several seeds. One at a time, each step is a few dozen
tiny operations and per-operation overhead dominates (shared/PERF.md); stacked, N seeds share each
operation. Here the N seed-initialised models' parameters are stacked (``torch.func.stack_module_state``)
and one ``vmap`` of ``functional_call`` runs them all. Everything else is fit()'s, per seed: its own
batch order (a generator seeded with the seed, a fresh permutation each epoch, the last partial batch
dropped), fused AdamW (element-wise, so AdamW on stacked tensors is AdamW on each seed), the same
schedule, gradient clipping by each seed's own norm, evaluation every ``eval_every`` steps, early
stopping and the best validation weights. A seed that stops early leaves the stack (its parameters and
optimiser state are sliced out), so the others go on exactly as they would alone. The final metrics
come from each seed's own module through ``evaluate``, like fit()'s. The batched path matches the
sequential one up to floating-point rounding (tests/test_batched.py).

The GRU's hand-written scan (models/rnn.py) takes a leading dimension of directions; under vmap the
seeds are folded into it, so N seeds run one batched recurrence. Models that cannot be stacked exactly
(dropout or other randomness inside the model, batch norm, nn.LSTM/nn.RNN, the perceptron rule,
time budgets, one seed) train one by one through fit().
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..data.spec import Dataset
from ..models.rnn import FastGRU, GRUScan
from . import policy
from .loop import (
    Run,
    TrainConfig,
    schedule_factor,
    checks_every,
    fit,
    pick_device,
    roomy_malloc,
    seed_everything,
    test_metrics,
)
from .metrics import (
    RunMeter,
    count_params,
    evaluate,
    flops_per_sample,
    headline,
    peak_rss_mb,
    reset_peak_rss,
    training_memory,
)
from .optim import ClippedAdamW
from .tasks import Task, task_for

# ---- what can be stacked ------------------------------------------------------------------------------------


def why_sequential(model: nn.Module, config: TrainConfig, n_seeds: int, task: Task | None = None) -> str | None:
    """Why the seeds of ``model`` must train one by one under ``config``, or None when they can be stacked."""
    if n_seeds < 2:
        return "one seed"
    if task is not None and type(task).forward is not Task.forward:
        return "the task shows the model its targets in training (teacher forcing)"
    if getattr(model, "rule", None) == "perceptron":
        return "the perceptron rule is not a gradient step"
    if not any(p.requires_grad for p in model.parameters()):
        return "it has nothing to train"
    if config.adversarial:
        return "adversarial training runs each batch twice, the second time perturbed"
    if config.pretrain:
        return "language-model pretraining runs model by model"
    if config.average:
        return "weight averaging keeps its average model by model"
    if config.schedule == "plateau":
        return "the training policy's plateau schedule gives each seed its own learning rate and length"
    if config.budget is not None and getattr(config.budget, "seconds", None) is not None:
        return "a time budget gives each model its own seconds"
    for m in model.modules():
        if isinstance(m, nn.Dropout) and m.p > 0:
            return "dropout draws random numbers that a stack would draw differently"
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return "batch norm keeps running statistics"
        if isinstance(m, nn.RNNBase):
            return f"{type(m).__name__} has no batching rule"
        if isinstance(m, FastGRU) and not STACK_COMPILED_GRU and _compiled_here(config):
            return ("its recurrence runs on compiled CPU kernels, faster one seed at a time (MNIST-1D GRU, "
                    "3 seeds x 300 steps: 8-10 CPU-s one by one, 22 stacked)")
    return None


# Stack FastGRU seeds even where the compiled kernels would train them one by one faster (tests set it to
# compare the stacked scan with the sequential one).
STACK_COMPILED_GRU = False


def _compiled_here(config: TrainConfig) -> bool:
    from ..models import native

    return pick_device(config.device).type == "cpu" and native.kernels() is not None


class _StackedScan(torch.autograd.Function):
    """GRUScan under vmap: the seeds are folded into its leading (directions) dimension."""

    @staticmethod
    def forward(gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        return GRUScan.apply(gi, w_hh, b_hh)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:  # pragma: no cover - the vmap rule's ops carry autograd
        raise RuntimeError("_StackedScan is only called under vmap")

    @staticmethod
    def vmap(info: Any, in_dims: tuple, gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> tuple:
        n = info.batch_size

        def fold(t: torch.Tensor, dim: int | None, at: int) -> torch.Tensor:
            t = t.expand(n, *t.shape) if dim is None else t.movedim(dim, 0)
            t = t.movedim(0, at)  # (..., N, D, ...)
            return t.reshape(*t.shape[:at], -1, *t.shape[at + 2 :]).contiguous()  # (..., N*D, ...)

        gi, w_hh, b_hh = fold(gi, in_dims[0], 1), fold(w_hh, in_dims[1], 0), fold(b_hh, in_dims[2], 0)
        out = _folded_scan(gi)(gi, w_hh, b_hh)
        L, ND, B, H = out.shape
        return out.view(L, n, ND // n, B, H), 1


def _folded_scan(gi: torch.Tensor) -> Any:
    """The compiled recurrence where it is built (it takes any number of independent directions, so the
    folded seeds are just more of them), else the PyTorch scan."""
    from ..models import native

    if gi.device.type == "cpu" and gi.dtype in (torch.float32, torch.float64) and native.kernels() is not None:
        return native.NativeGRUScan.apply
    return GRUScan.apply


@contextlib.contextmanager
def _stackable_gru() -> Iterator[None]:
    """While stacked models run, FastGRU's scan is the vmap-aware one (same numbers, seeds in one bmm)."""
    from ..models import rnn

    rnn.GRUScan = _StackedScan
    try:
        yield
    finally:
        rnn.GRUScan = GRUScan


# ---- the stack ----------------------------------------------------------------------------------------------


class _Stack:
    """N seeds' parameters stacked on a leading dimension, their optimiser, and slicing out stopped seeds."""

    def __init__(self, models: list[nn.Module], cfg: TrainConfig, device: torch.device):
        self.base = copy.deepcopy(models[0]).to("meta")  # the structure only; weights come from the stack
        params, self.buffers = stack_module_state(models)
        self.params = {k: v.detach().to(device).requires_grad_(v.requires_grad) for k, v in params.items()}
        self.buffers = {k: v.to(device) for k, v in self.buffers.items()}
        self.cfg, self.fused = cfg, device.type in ("cpu", "cuda")
        self._train_fns: dict[bool, Any] = {}
        self.opt = self._optimizer()

        def one(p: dict, b: dict, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
            return functional_call(self.base, (p, b), (x, lengths))

        self.one = one
        self.eval_fn = vmap(one, in_dims=(0, 0, None, None))

    def train_fn(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Each seed's outputs on its own batch: x (N, B, ...) -> (N, B, ...)."""
        fn = self._train_fns.get(lengths is None)
        if fn is None:
            fn = self._train_fns[lengths is None] = vmap(self.one, in_dims=(0, 0, 0, None if lengths is None else 0))
        return fn(self.params, self.buffers, x, lengths)

    def _optimizer(self) -> torch.optim.Optimizer:
        trainable = [p for p in self.params.values() if p.requires_grad]
        # fit()'s optimiser with its clipping off (each seed clips by its own norm, clip_): the same update arithmetic,
        # so a stacked seed's numbers follow its one-by-one run
        return ClippedAdamW(trainable, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay, fused=self.fused)

    def trainable(self) -> list[torch.Tensor]:
        return [p for p in self.params.values() if p.requires_grad]

    def clip_(self, max_norm: float) -> None:
        """clip_grad_norm_ for each seed by its own total norm."""
        grads = [p.grad for p in self.trainable() if p.grad is not None]
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads]).norm(dim=0)  # (N,)
        coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))

    def seed(self, i: int) -> dict[str, torch.Tensor]:
        """Seed ``i``'s state dict (parameters and buffers), detached copies."""
        return {k: v[i].detach().clone() for k, v in {**self.params, **self.buffers}.items()}

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the seeds at ``rows`` (a LongTensor), parameters and optimiser state alike."""
        old_state = {id(p): self.opt.state.get(p, {}) for p in self.trainable()}
        new_params = {}
        for k, v in self.params.items():
            new_params[k] = v.detach()[rows].clone().requires_grad_(v.requires_grad)
            new_params[k]._old = id(v)  # type: ignore[attr-defined]
        self.params = new_params
        self.buffers = {k: v[rows].clone() for k, v in self.buffers.items()}
        self.opt = self._optimizer()
        for p in self.trainable():
            st = old_state.get(p._old, {})  # type: ignore[attr-defined]
            if st:
                self.opt.state[p] = {k: (t if k == "step" else t[rows].clone()) for k, t in st.items()}
            del p._old  # type: ignore[attr-defined]


# ---- training -----------------------------------------------------------------------------------------------


def fit_many(model_name: str, dataset: Dataset, seeds: Sequence[int], params: dict[str, Any] | None = None,
             config: TrainConfig | None = None, batched: bool = True) -> list[Run]:
    """Train ``model_name`` on ``dataset`` once per seed; returns one Run per seed, in the order given.

    The seeds train as one stacked computation when the model allows it (see ``why_sequential``), else one
    by one through fit(); either way each Run holds the numbers fit() gives for that seed, up to rounding.
    ``cost["batched"]`` says how many seeds shared the computation; ``train_seconds`` is the seed's share
    of the group's time.
    """
    from ..models import create

    seeds, params, config = [int(s) for s in seeds], dict(params or {}), config or TrainConfig()
    models = []
    for s in seeds:
        seed_everything(s)
        models.append(create(model_name, dataset.spec, **params))
    cfg = replace(config, quiet=True).resolved(models[0], dataset)
    reason = "asked for one by one" if not batched else why_sequential(models[0], cfg, len(seeds),
                                                                       task_for(dataset.spec))
    if reason is None:
        try:
            return _fit_stacked(models, dataset, config, seeds)
        except _NotStackable as e:
            reason = str(e)
    runs = []
    for s, m in zip(seeds, models, strict=True):
        run = fit(m, dataset, replace(config, seed=s, quiet=True))
        run.cost.update(batched=1, sequential_because=reason)
        runs.append(run)
    return runs




class _NotStackable(Exception):
    """vmap refused the model (an operation without a batching rule): train one by one."""


def _fit_stacked(models: list[nn.Module], data: Dataset, config: TrainConfig, seeds: list[int]) -> list[Run]:
    # ---- set-up: as fit(), once per group ---------------------------------------------------------------
    cfg = replace(config, quiet=True).resolved(models[0], data)
    torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    amp = (device.type == "cuda") if cfg.amp is None else cfg.amp
    data = data.to(device)
    for m in models:
        m.to(device).train()
    metric, higher = headline(data.spec)
    sign = 1.0 if higher else -1.0
    task = task_for(data.spec)
    N = len(seeds)
    roomy_malloc()
    gens = [torch.Generator(device="cpu").manual_seed(s) for s in seeds]
    stack = _Stack(models, cfg, device)
    has_lengths = data.train.lengths is not None
    loss_fn = vmap(lambda out, y, lengths: task.loss(out, y, lengths), in_dims=(0, 0, 0 if has_lengths else None))
    with _stackable_gru():
        try:  # a probe: vmap raises here for operations it cannot batch, in the model or in the loss
            with torch.no_grad():
                probe = torch.zeros(N, 2, dtype=torch.long, device=device)
                lp = data.train.lengths[probe] if has_lengths else None
                loss_fn(stack.train_fn(data.train.x[probe], lp), data.train.y[probe], lp)
        except (RuntimeError, NotImplementedError, TypeError, ValueError) as e:
            raise _NotStackable(f"vmap cannot batch it ({str(e).splitlines()[0][:200]})") from None
        factor = schedule_factor(cfg.schedule, cfg.warmup)
        n, bs = len(data.train), cfg.batch_size
        total = cfg.budget.steps_for(n, bs)
        eval_every = cfg.eval_every or checks_every(total, len(data.val), bs)
        active = list(range(N))  # positions in ``seeds`` of the seeds still in the stack, in stack order
        best = [(-math.inf, -math.inf)] * N  # as fit(): (signed headline, -loss) on validation, larger is better
        best_step = [0] * N
        best_state = [stack.seed(i) for i in range(N)]
        history: list[list[dict[str, float]]] = [[] for _ in range(N)]
        stopped: list[str | None] = [None] * N
        steps = [0] * N
        reset_peak_rss()
        clock = RunMeter(models[0], device, watch=False).begin()  # the group's load and CPU share (train/metrics.py)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        loss_sum = torch.zeros(N, device=device)
        loss_count = 0
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens])  # (N, n): each seed's order
        rows = torch.arange(N)
        pos, step = 0, 0
        start = time.perf_counter()

        # ---- the loop: every active seed takes the same step count ----------------------------------------
        while active:
            if pos + bs > n:  # a new epoch for every seed at once: each reshuffles with its own generator
                perms, pos = torch.stack([torch.randperm(n, generator=g) for g in gens]), 0
            idx = perms[rows, pos : pos + bs].to(device)  # (N', B): each active seed's batch
            pos += bs
            xb, yb = data.train.x[idx], data.train.y[idx]  # (N', B, ...)
            lb = None if data.train.lengths is None else data.train.lengths[idx]
            step += 1
            lr = cfg.lr * factor((step - 1) / total if total else 0.0)
            for g in stack.opt.param_groups:
                g["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = stack.train_fn(xb, lb)
            losses = loss_fn(out, yb, lb)  # (N',): each seed's mean loss
            stack.opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            if cfg.clip:
                stack.clip_(cfg.clip)
            stack.opt.step()
            loss_sum[active] += losses.detach()
            loss_count += 1
            at_end = total is not None and step >= total

            # ---- evaluation, per seed, as fit() does it -----------------------------------------------------
            if step % eval_every == 0 or at_end:
                elapsed = time.perf_counter() - start
                train_loss = (loss_sum / max(1, loss_count)).tolist()
                loss_sum.zero_()
                loss_count = 0
                vals = _evaluate_stack(stack, task, data.val)
                leaving = []
                for row, i in enumerate(active):
                    steps[i] = step
                    val = vals[row]
                    score = (sign * val[metric], -val.get("loss", 0.0))  # ties go to the lower loss, as in fit()
                    if score > best[i]:
                        best[i], best_step[i] = score, step
                        best_state[i] = stack.seed(row)
                    history[i].append({"step": step, "seconds": elapsed, "lr": lr, "train_loss": train_loss[i],
                                       **{f"val_{k}": v for k, v in val.items()}})
                    if at_end:
                        stopped[i] = "budget"
                    elif cfg.patience is not None and (step - best_step[i]) / eval_every >= cfg.patience:
                        stopped[i] = "early"
                    if stopped[i]:
                        leaving.append(row)
                if leaving:
                    keep = [row for row in range(len(active)) if row not in leaving]
                    active = [active[row] for row in keep]
                    rows = torch.tensor(active, dtype=torch.long)
                    if active:
                        stack.keep(torch.tensor(keep, device=device))
        train_seconds = time.perf_counter() - start

    # ---- the end: each seed's own module, its best weights, fit()'s measurements ---------------------------
    rss = peak_rss_mb()  # the process's resident-memory high-water mark, shared by the group
    usage = clock.finish(cfg.threads)  # load_start/end, cpu_share and contended: the group's, the same for each seed
    seed_steps = max(1, sum(steps))
    runs = []
    for i, (s, m) in enumerate(zip(seeds, models, strict=True)):
        m.load_state_dict(best_state[i])
        share = train_seconds * steps[i] / seed_steps
        # memory_mb: the seed's own, measured on one step of its module alone, its share of the stack's memory
        own = training_memory(m, data, task, cfg.batch_size, amp=amp, lr=cfg.lr, weight_decay=cfg.weight_decay,
                              fused=device.type in ("cpu", "cuda"))
        cost = {**own, **usage, "params": count_params(m), "flops_per_sample": flops_per_sample(m, data.test),
                "train_seconds": share, "steps": steps[i], "steps_per_second": steps[i] / max(share, 1e-9),
                "peak_rss_mb": rss, "threads": cfg.threads, "device": str(device), "batched": N,
                "group_seconds": train_seconds}
        if device.type == "cuda":
            cost["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        runs.append(Run(m, replace(cfg, seed=s), test_metrics(m, data), evaluate(m, data.spec, data.val),
                        history[i], cost, stopped[i] or "budget",
                        policy.convergence(history[i], metric, higher, best_step[i], steps[i], stopped[i] or "budget")))
    return runs


@torch.no_grad()
def _evaluate_stack(stack: _Stack, task: Any, split: Any, batch_size: int = 1024) -> list[dict[str, float]]:
    """Each stacked seed's task metrics on ``split`` (evaluation mode, as ``evaluate``)."""
    stack.base.eval()
    outs = []
    for i in range(0, len(split), batch_size):
        lengths = None if split.lengths is None else split.lengths[i : i + batch_size]
        outs.append(stack.eval_fn(stack.params, stack.buffers, split.x[i : i + batch_size], lengths).float())
    stack.base.train()
    out = torch.cat(outs, 1)  # (N, n, ...)
    return [task.metrics(o, split.y, split.lengths) for o in out]
