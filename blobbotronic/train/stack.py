"""The machinery of stacked seeds (train/batched.py): N seed-initialised models' parameters stacked on a leading
dimension (``torch.func.stack_module_state``) and run by one ``vmap`` of ``functional_call``, their optimiser, and
the GRU scan under vmap.

The GRU's hand-written scan (models/rnn.py) takes a leading dimension of directions; under vmap the seeds are
folded into it, so N seeds run one batched recurrence.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..models.rnn import GRUScan
from .optim import ClippedAdamW


class StackedScan(torch.autograd.Function):
    """GRUScan under vmap: the seeds are folded into its leading (directions) dimension."""

    @staticmethod
    def forward(gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        return GRUScan.apply(gi, w_hh, b_hh)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:  # pragma: no cover - the vmap rule's ops carry autograd
        raise RuntimeError("StackedScan is only called under vmap")

    @staticmethod
    def vmap(info: Any, in_dims: tuple, gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> tuple:
        n = info.batch_size

        def fold(t: torch.Tensor, dim: int | None, at: int) -> torch.Tensor:
            t = t.expand(n, *t.shape) if dim is None else t.movedim(dim, 0)
            t = t.movedim(0, at)  # (..., N, D, ...)
            return t.reshape(*t.shape[:at], -1, *t.shape[at + 2 :]).contiguous()  # (..., N*D, ...)

        gi, w_hh, b_hh = fold(gi, in_dims[0], 1), fold(w_hh, in_dims[1], 0), fold(b_hh, in_dims[2], 0)
        out = folded_scan(gi)(gi, w_hh, b_hh)
        L, ND, B, H = out.shape
        return out.view(L, n, ND // n, B, H), 1


def folded_scan(gi: torch.Tensor) -> Any:
    """The compiled recurrence where it is built (it takes any number of independent directions, so the
    folded seeds are just more of them), else the PyTorch scan."""
    from ..models import native

    if gi.device.type == "cpu" and gi.dtype in (torch.float32, torch.float64) and native.kernels() is not None:
        return native.NativeGRUScan.apply
    return GRUScan.apply


@contextlib.contextmanager
def stackable_gru() -> Iterator[None]:
    """While stacked models run, FastGRU's scan is the vmap-aware one (same numbers, seeds in one bmm)."""
    from ..models import rnn

    rnn.GRUScan = StackedScan
    try:
        yield
    finally:
        rnn.GRUScan = GRUScan


# ---- the stack ----------------------------------------------------------------------------------------------


class NotStackable(Exception):
    """vmap refused the model (an operation without a batching rule): train one by one."""


class Stack:
    """N seeds' parameters stacked on a leading dimension, their optimiser, the training step of all of them at
    once, and slicing out stopped seeds. ``cfg`` is the resolved TrainConfig; ``task`` the data's (train/tasks.py)."""

    def __init__(self, models: list[nn.Module], cfg: Any, device: torch.device, task: Any, has_lengths: bool):
        self.base = copy.deepcopy(models[0]).to("meta")  # the structure only; weights come from the stack
        params, self.buffers = stack_module_state(models)
        self.params = {k: v.detach().to(device).requires_grad_(v.requires_grad) for k, v in params.items()}
        self.buffers = {k: v.to(device) for k, v in self.buffers.items()}
        self.cfg, self.device, self.task, self.fused = cfg, device, task, device.type in ("cpu", "cuda")
        self._train_fns: dict[bool, Any] = {}
        self.opt = self._optimizer()

        def one(p: dict, b: dict, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
            return functional_call(self.base, (p, b), (x, lengths))

        self.one = one
        self.eval_fn = vmap(one, in_dims=(0, 0, None, None))
        self.loss_fn: Callable[..., torch.Tensor] = vmap(lambda out, y, lengths: task.loss(out, y, lengths),
                                                         in_dims=(0, 0, 0 if has_lengths else None))

    def probe(self, split: Any, n: int) -> None:
        """Raise NotStackable where vmap cannot batch the model or its loss (an operation without a batching
        rule), trying them on two examples per seed."""
        try:
            with torch.no_grad():
                idx = torch.zeros(n, 2, dtype=torch.long, device=self.device)
                lengths = split.lengths[idx] if split.lengths is not None else None
                self.loss_fn(self.train_fn(split.x[idx], lengths), split.y[idx], lengths)
        except (RuntimeError, NotImplementedError, TypeError, ValueError) as e:
            raise NotStackable(f"vmap cannot batch it ({str(e).splitlines()[0][:200]})") from None

    def step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None], lr: float,
             amp: bool) -> torch.Tensor:
        """One optimiser step of every seed on its own batch (x (N, B, ...)); returns each seed's loss (N,)."""
        x, y, lengths = batch
        for g in self.opt.param_groups:
            g["lr"] = lr
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
            out = self.train_fn(x, lengths)
        losses = self.loss_fn(out, y, lengths)  # (N,): each seed's mean loss
        self.opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        if self.cfg.clip:
            self.clip_(self.cfg.clip)
        self.opt.step()
        return losses.detach()

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


    @torch.no_grad()
    def evaluate(self, split: Any, batch_size: int = 1024) -> list[dict[str, float]]:
        """Each stacked seed's task metrics on ``split`` (evaluation mode, as train/metrics.py ``evaluate``)."""
        self.base.eval()
        outs = []
        for i in range(0, len(split), batch_size):
            lengths = None if split.lengths is None else split.lengths[i : i + batch_size]
            outs.append(self.eval_fn(self.params, self.buffers, split.x[i : i + batch_size], lengths).float())
        self.base.train()
        out = torch.cat(outs, 1)  # (N, n, ...)
        return [self.task.metrics(o, split.y, split.lengths) for o in out]
