"""Adversarial training for text (Miyato, Dai & Goodfellow 2017) as a fit() callback: each batch runs a second time
with its token vectors pushed uphill, and the step minimises the mean of both losses."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import BlobError
from ..models.base import token_vectors
from .hooks import Callback, State


def adversarial(loss: torch.Tensor, vectors: torch.Tensor, eps: float) -> torch.Tensor:
    """The fast-gradient adversary of adversarial training for text (Miyato, Dai & Goodfellow 2017): each sample's
    token vectors (B, L, D) moved along the gradient of the loss, by ``eps`` of their own L2 norm (relative, so
    one ``eps`` suits learned embeddings and glyph features alike). The training step averages the loss of the
    perturbed batch with the clean one; padding has no gradient and is not moved. Costs a second forward and
    backward pass per step."""
    (grad,) = torch.autograd.grad(loss, vectors, retain_graph=True)
    size = vectors.detach().flatten(1).norm(dim=1) / grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return (eps * size).view(-1, *[1] * (grad.dim() - 1)) * grad


class Adversarial(Callback):
    """Adversarial training on a text model's token vectors: each batch's token vectors are caught by a forward
    hook, pushed uphill (``adversarial``), and the batch runs again; the step minimises the mean of both losses."""

    sequential_because = "adversarial training runs each batch twice, the second time perturbed"

    def __init__(self, eps: float):
        self.eps = eps
        self.seen: list[torch.Tensor] = []
        self.hook: Any = None

    def on_start(self, state: State, model: nn.Module) -> None:
        self.tokens = token_vectors(model)
        if self.tokens is None:
            spec = state.data.spec
            raise BlobError(f"adversarial={self.eps}: adversarial training pushes a text model's token vectors, "
                            f"and {getattr(model, 'name', type(model).__name__)!r} on {spec.name} "
                            f"({spec.modality}) has none. Use it with a text model, or leave it at 0.")

    def on_batch(self, state: State) -> None:
        self.seen = []
        self.hook = self.tokens.register_forward_hook(lambda m, i, o: self.seen.append(o))

    def objective(self, state: State, loss: torch.Tensor) -> torch.Tensor:
        self.hook.remove()
        if not self.seen:
            return loss
        r = adversarial(loss, self.seen[0], self.eps)
        push = self.tokens.register_forward_hook(lambda m, i, o: o + r)
        try:
            out = state.forward(*state.batch)
        finally:
            push.remove()
        x, y, lengths = state.batch
        return 0.5 * (loss + state.task.loss(out, y, lengths))
