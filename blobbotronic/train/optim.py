"""The training loop's optimiser: AdamW with the gradient clipping folded into its step.

``clip_grad_norm_`` and ``AdamW.step`` are a few dozen small operations each, and on a small model they cost
about as much as its backward pass (MNIST-1D LSTM in ``fit``: clipping 0.5 ms and the step 0.4 ms a step, against
2.3 ms for the whole backward kernel). Where the compiled kernels are built and every parameter is a float32 CPU
tensor, one call (models/rnn_scan.cpp ``clip_adamw``) computes the global norm and applies PyTorch's AdamW update;
elsewhere (a GPU, other dtypes, no compiler) the step is ``clip_grad_norm_`` followed by
``torch.optim.AdamW`` (fused where the device has it). Both compute the same update and keep the same state; they
differ only in float rounding (the compiled norm sums in double).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from ..models import native


class ClippedAdamW(torch.optim.AdamW):
    """AdamW whose ``step()`` first scales the gradients to a global L2 norm of at most ``clip`` (None or 0: no
    clipping), as ``nn.utils.clip_grad_norm_`` does. ``last_norm`` is the gradients' norm before clipping (a float,
    or None where no clipping was asked for)."""

    def __init__(self, params: Iterable[torch.Tensor], *, lr: float, weight_decay: float, clip: float | None = None,
                 fused: bool | None = None):
        super().__init__(params, lr=lr, weight_decay=weight_decay, fused=fused)
        self.clip = float(clip or 0.0)
        self.last_norm: float | None = None
        self._lists: tuple[list, list, list, list] | None = None  # params, exp_avgs, exp_avg_sqs, steps

    def _compiled_lists(self) -> tuple[list, list, list, list] | None:
        """The compiled step's tensors, built once: every parameter (all must have gradients) with its state, or
        None where the compiled step does not apply."""
        if len(self.param_groups) != 1:
            return None
        g = self.param_groups[0]
        params = g["params"]
        if (g["amsgrad"] or g["maximize"] or g.get("capturable") or g.get("differentiable") or not params
                or not native.usable(*params)):
            return None
        if not all(p.dtype == torch.float32 and _dense(p) and _alike(p.grad, p) for p in params):
            return None
        for p in params:
            if not self.state[p]:  # as torch.optim.AdamW keeps it, so either path can take over from the other
                self.state[p].update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p),
                                     exp_avg_sq=torch.zeros_like(p))
        states = [self.state[p] for p in params]
        laid_out = all(_alike(s["exp_avg"], p) and _alike(s["exp_avg_sq"], p)
                       for s, p in zip(states, params, strict=True))
        if (len({float(s["step"]) for s in states}) != 1 or any(s["step"].dtype != torch.float32 for s in states)
                or not laid_out):
            return None  # stepped apart (PyTorch's per-parameter bias correction), or moments laid out otherwise
        return (params, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [s["step"] for s in states])

    def zero_grad(self, set_to_none: bool = True) -> None:
        """As torch.optim.Optimizer's, without its profiler scope and checks where the gradients are only dropped
        (MNIST-1D LSTM, after each backward: 0.137 -> 0.016 ms)."""
        if not set_to_none:
            return super().zero_grad(set_to_none=False)
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None
        return None

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._lists = None  # the state's tensors were replaced

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:  # the closure makes the gradients, which are clipped after it
            with torch.enable_grad():
                loss = closure()
        if self._lists is None:
            self._lists = self._compiled_lists()
        if self._lists is not None:
            params, avgs, sqs, steps = self._lists
            grads = [p.grad for p in params]
            if all(_alike(gr, p) for gr, p in zip(grads, params, strict=True)):
                g = self.param_groups[0]
                beta1, beta2 = g["betas"]
                norm = native.kernels().clip_adamw(params, grads, avgs, sqs, steps, float(g["lr"]), beta1, beta2,
                                                   g["eps"], g["weight_decay"], self.clip)
                self.last_norm = norm if self.clip else None
                return loss
            self._lists = None  # a parameter without a gradient this time: steps may part, so check again later
        if self.clip:
            params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
            self.last_norm = float(nn.utils.clip_grad_norm_(params, self.clip))
        super().step()
        return loss


def _dense(t: torch.Tensor) -> bool:
    """Its elements fill one block of memory (contiguous, or channels-last as fit() lays out 2-D convolutions)."""
    return t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last))


def _alike(t: torch.Tensor | None, p: torch.Tensor) -> bool:
    """t (a gradient or a moment) is a dense float32 tensor laid out element for element as parameter p."""
    return (t is not None and t.layout == torch.strided and t.dtype == torch.float32 and t.shape == p.shape
            and t.stride() == p.stride())


class WeightAverage:
    """An exponential moving average of a model's floating-point weights and buffers, updated after each step:
    ``avg += (1 - d) * (live - avg)`` with ``d = min(decay, (1 + t) / (10 + t))`` at step ``t``, so the first steps'
    weights do not linger. ``swapped()`` puts the average into the model for a while (an evaluation) and the live
    weights back afterwards; training always continues from the live weights."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must lie strictly between 0 and 1, not {decay}")
        self.decay = float(decay)
        state = model.state_dict()
        self.live = [v for v in state.values() if v.is_floating_point()]  # share storage with the model's
        self.avg = [v.detach().clone() for v in self.live]
        self.t = 0

    @torch.no_grad()
    def update(self) -> None:
        d = min(self.decay, (1 + self.t) / (10 + self.t))
        self.t += 1
        torch._foreach_lerp_(self.avg, self.live, 1.0 - d)

    @torch.no_grad()
    def _exchange(self) -> None:
        for a, v in zip(self.avg, self.live, strict=True):
            tmp = v.clone()
            v.copy_(a)
            a.copy_(tmp)

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """A context in which the model holds the averaged weights."""
        self._exchange()
        try:
            yield
        finally:
            self._exchange()
