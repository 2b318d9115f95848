"""fit_many(): the seeds of one model trained as one batched computation, with fit()'s numbers.

A comparison trains the same small model under several seeds. One at a time, each step is a few dozen
tiny operations and per-operation overhead dominates (docs/speed.md); stacked, N seeds share each
operation. Here the N seed-initialised models' parameters are stacked (``torch.func.stack_module_state``)
and one ``vmap`` of ``functional_call`` runs them all. Everything else is fit()'s, per seed: its own
batch order (a generator seeded with the seed, a fresh permutation each epoch, the last partial batch
dropped), fused AdamW (element-wise, so AdamW on stacked tensors is AdamW on each seed), the same
schedule, gradient clipping by each seed's own norm, evaluation every ``eval_every`` steps, early
stopping and the best validation weights. A seed that stops early leaves the stack (its parameters and
optimiser state are sliced out), so the others go on exactly as they would alone. The final metrics
come from each seed's own module through ``evaluate``, like fit()'s. The batched path matches the
sequential one up to floating-point rounding (tests/test_batched.py).

It is fit()'s loop: each seed has its own State, batch order (train/loop.py ``BatchOrder``) and the
callbacks that can run per seed (train/callbacks.py: the schedule, early stopping, the best weights), and
the check is fit()'s ``record_check``. Only the step (one vmapped computation, train/stack.py) and the
costs (measured for the group) are the stack's own. Whether a config can be stacked is asked of the
callbacks it brings (each declares it); models that cannot be stacked exactly (dropout or other
randomness inside the model, batch norm, nn.LSTM/nn.RNN, the perceptron rule) and single seeds train
one by one through fit().
"""


from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from ..data.spec import Dataset
from ..models.rnn import FastGRU
from .callbacks import training_callbacks
from .hooks import Hooks, State
from .loop import (
    BatchOrder,
    Run,
    TrainConfig,
    batch_of,
    end_step,
    finished_run,
    fit,
    new_state,
    pick_device,
    prepare,
    record_check,
    seed_everything,
    subnormals_flushed,
)
from .metrics import RunMeter, count_params, flops_per_sample, peak_rss_mb, reset_peak_rss, training_memory
from .stack import NotStackable, Stack, stackable_gru
from .tasks import Task, task_for

# ---- what can be stacked ------------------------------------------------------------------------------------


def why_sequential(model: nn.Module, config: TrainConfig, n_seeds: int, task: Task | None = None) -> str | None:
    """Why the seeds of ``model`` must train one by one under ``config``, or None when they can be stacked: the
    model's reasons, and any the config's callbacks give (train/callbacks.py, each declares it)."""
    if n_seeds < 2:
        return "one seed"
    if task is not None and type(task).forward is not Task.forward:
        return "the task shows the model its targets in training (teacher forcing)"
    if getattr(model, "rule", None) == "perceptron":
        return "the perceptron rule is not a gradient step"
    if not any(p.requires_grad for p in model.parameters()):
        return "it has nothing to train"
    for cb in training_callbacks(config, model):
        if cb.sequential_because is not None:
            return cb.sequential_because
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
            return fit_stacked(models, dataset, config, seeds)
        except NotStackable as e:
            reason = str(e)
    runs = []
    for s, m in zip(seeds, models, strict=True):
        run = fit(m, dataset, replace(config, seed=s, quiet=True))
        run.cost.update(batched=1, sequential_because=reason)
        runs.append(run)
    return runs


@dataclass
class Seat:
    """One seed in the stack: its module (its weights at the start and the end), State, callbacks and batches."""

    index: int  # its position in the seeds given
    model: nn.Module
    state: State
    hooks: Hooks
    order: BatchOrder


@subnormals_flushed()
def fit_stacked(models: list[nn.Module], data: Dataset, config: TrainConfig, seeds: list[int]) -> list[Run]:
    """fit() for each of ``seeds`` (its model in ``models``), as one stacked computation. Raises NotStackable
    where vmap cannot batch the model, or a callback the config brings cannot run in a stack."""
    cfg = replace(config, quiet=True).resolved(models[0], data)
    device, amp = prepare(cfg)
    data = data.to(device)
    for m in models:
        m.to(device).train()
    stack = Stack(models, cfg, device, task_for(data.spec), data.train.lengths is not None)
    with stackable_gru():
        stack.probe(data.train, len(seeds))
        seats = [seat(i, s, m, cfg, data, device, amp, stack)
                 for i, (s, m) in enumerate(zip(seeds, models, strict=True))]
        reset_peak_rss()
        clock = RunMeter(models[0], device, watch=False).begin()  # the group's load and CPU share (train/metrics.py)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        train_seconds = train_stack(stack, seats, data, amp)
    # ---- the end: each seed's own module, its best weights, fit()'s measurements ---------------------------
    rss = peak_rss_mb()  # the process's resident-memory high-water mark, shared by the group
    usage = clock.finish(cfg.threads)  # load_start/end, cpu_share and contended: the group's, the same for each seed
    seed_steps = max(1, sum(p.state.step for p in seats))
    runs = []
    for p in seats:
        p.hooks.on_end(p.state, p.model)  # its best weights go back into its module
        share = train_seconds * p.state.step / seed_steps
        # memory_mb: the seed's own, measured on one step of its module alone, its share of the stack's memory
        own = training_memory(p.model, data, stack.task, cfg.batch_size, amp=amp, lr=cfg.lr,
                              weight_decay=cfg.weight_decay, fused=device.type in ("cpu", "cuda"))
        p.state.cost = {**own, **usage, "params": count_params(p.model),
                        "flops_per_sample": flops_per_sample(p.model, data.test), "train_seconds": share,
                        "steps": p.state.step, "steps_per_second": p.state.step / max(share, 1e-9),
                        "peak_rss_mb": rss, "threads": cfg.threads, "device": str(device), "batched": len(seats),
                        "group_seconds": train_seconds}
        if device.type == "cuda":
            p.state.cost["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        runs.append(finished_run(p.model, p.state.config, data, p.state))
    return runs


def seat(i: int, seed: int, model: nn.Module, cfg: TrainConfig, data: Dataset, device: torch.device, amp: bool,
         stack: Stack) -> Seat:
    """Seed ``i``'s place in the stack, its callbacks started: those that run per seed; those that change nothing
    the stack computes are left out."""
    cfg = replace(cfg, seed=seed)
    callbacks = training_callbacks(cfg, model)
    refused = next((cb.sequential_because for cb in callbacks if cb.sequential_because is not None), None)
    if refused:
        raise NotStackable(refused)
    state = new_state(cfg, data, device, amp, weights=functools.partial(stack.seed, i))
    hooks = Hooks([cb for cb in callbacks if cb.in_stack])
    hooks.on_start(state, model)
    return Seat(i, model, state, hooks, BatchOrder(len(data.train), cfg.batch_size, seed, device))


def train_stack(stack: Stack, seats: list[Seat], data: Dataset, amp: bool) -> float:
    """fit()'s loop for every seed at once: every seat still in the stack takes the same step, and a seat whose
    run stopped at a check leaves it. Returns the group's training seconds."""
    active = list(seats)
    loss_sum = torch.zeros(len(seats), device=stack.device)
    loss_count = 0
    start = time.perf_counter()
    for p in seats:
        p.state.started = start
    while active:
        idx = torch.stack([p.order.next() for p in active])  # (N', B): each active seed's batch
        for p in active:
            p.hooks.on_batch(p.state)  # the learning rate: every seed is at the same step, so at the same rate
        losses = stack.step(batch_of(data.train, idx), active[0].state.lr, amp)
        loss_sum[[p.index for p in active]] += losses
        loss_count += 1
        for p in active:
            end_step(p.state)
            p.hooks.on_step(p.state)
        if any(p.state.step % p.state.eval_every == 0 or p.state.stop is not None for p in active):
            # ---- the check, per seed, as fit() does it ----------------------------------------------------
            train_loss = (loss_sum / max(1, loss_count)).tolist()
            loss_sum.zero_()
            loss_count = 0
            for row, (p, val) in enumerate(zip(active, stack.evaluate(data.val), strict=True)):
                p.state.train_loss, p.state.val = train_loss[p.index], val
                p.state.weights = functools.partial(stack.seed, row)
                record_check(p.state, p.hooks, p.model)
            staying = [row for row, p in enumerate(active) if p.state.stop is None]
            if len(staying) < len(active):
                active = [active[row] for row in staying]
                if active:
                    stack.keep(torch.tensor(staying, device=stack.device))
    return time.perf_counter() - start
