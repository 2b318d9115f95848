"""Attribution of one output to every input value: gradient x input and integrated gradients, batched.

Both answer "how much did this input value move the output?". Gradient x input is one backward pass:
the local slope times the value. Integrated gradients (Sundararajan et al. 2017) average the slope
along the straight path from a baseline (zeros) to the input, so the attributions add up to
f(input) - f(baseline) (completeness): here a midpoint rule with ``steps`` points, evaluated in
batches. Text inputs are token ids: they are attributed through the output of the model's first
embedding layer (baseline: the zero embedding), one value per token and embedding dimension.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ..errors import BlobError


def target_output(out: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """The scalar per sample to explain: the logit of class ``target`` (B,), or for regression the output(s) summed."""
    out = out.float()
    if target is None:
        return out.sum(1) if out.ndim > 1 else out
    return out.gather(1, target.view(-1, 1).to(out.device)).squeeze(1)


@contextlib.contextmanager
def attribution_mode(model: nn.Module) -> Iterator[None]:
    """Evaluation mode with gradients that work on every device.

    cuDNN's recurrent kernels refuse a backward pass in evaluation mode, so on a GPU cuDNN is
    switched off while attributing (PyTorch then runs its own CUDA recurrent kernels, which allow it).
    Dropout stays off, so attributions are deterministic; the previous mode is restored afterwards.
    """
    was = model.training
    model.eval()
    try:
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            yield
    finally:
        model.train(was)


def device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _first_embedding(model: nn.Module) -> nn.Module:
    """The layer whose output is the per-token input vectors: a text model's marked TokenVectors (the sum of
    its token and pair embeddings, or a glyph model's glyph features with them), else its first embedding."""
    from ..models.base import token_vectors

    marked = token_vectors(model)
    if marked is not None:
        return marked
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            return m
    raise BlobError(f"Model {getattr(model, 'name', '')!r} takes integer inputs but has no embedding layer to "
                    "attribute through.")


def _path_forward(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None, alpha: torch.Tensor,
                  baseline: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the model at ``baseline + alpha * (x - baseline)`` (alpha (B,) per sample).

    Returns the outputs, the point the gradient is taken at, and the difference input - baseline.
    """
    if x.is_floating_point():
        base = torch.zeros_like(x) if baseline is None else baseline.expand_as(x).to(x)
        delta = x - base
        point = (base + alpha.view(-1, *[1] * (x.ndim - 1)) * delta).detach().requires_grad_(True)
        return model(point, lengths), point, delta
    seen: dict[str, torch.Tensor] = {}

    def scale(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        seen["delta"] = output.detach()
        seen["point"] = output * alpha.view(-1, *[1] * (output.ndim - 1)).to(output)
        return seen["point"]

    handle = _first_embedding(model).register_forward_hook(scale)
    try:
        out = model(x, lengths)
    finally:
        handle.remove()
    return out, seen["point"], seen["delta"]


def gradient_x_input(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None,
                     target: torch.Tensor | None = None, baseline: torch.Tensor | None = None) -> torch.Tensor:
    """Gradient of the target output times (input - baseline), same shape as the input (text: (B, L, E))."""
    with attribution_mode(model):
        alpha = torch.ones(len(x), device=x.device)
        out, point, delta = _path_forward(model, x, lengths, alpha, baseline)
        (grad,) = torch.autograd.grad(target_output(out, target).sum(), point)
    return (grad * delta).detach()


def integrated_gradients(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None,
                         target: torch.Tensor | None = None, baseline: torch.Tensor | None = None,
                         steps: int = 32, batch: int = 1024) -> torch.Tensor:
    """Integrated gradients from ``baseline`` (zeros) to ``x``: (input - baseline) x the mean gradient on the path.

    The ``steps`` path points of every sample are evaluated together, ``batch`` rows at a time.
    """
    B, rest = len(x), [1] * (x.ndim - 1)
    alphas = (torch.arange(steps, device=x.device, dtype=torch.float32) + 0.5) / steps  # midpoint rule
    per_chunk = max(1, batch // max(B, 1))
    base = None if baseline is None or not x.is_floating_point() else baseline.expand_as(x).to(x)
    total, delta = None, None
    with attribution_mode(model):
        for chunk in alphas.split(per_chunk):
            k = len(chunk)
            xs = x.repeat(k, *rest)  # (k*B, ...): every sample at alpha[0], then every sample at alpha[1], ...
            ls = None if lengths is None else lengths.repeat(k)
            ts = None if target is None else target.repeat(k)
            bs = None if base is None else base.repeat(k, *rest)
            out, point, d = _path_forward(model, xs, ls, chunk.repeat_interleave(B), bs)
            (grad,) = torch.autograd.grad(target_output(out, ts).sum(), point)
            g = grad.view(k, B, *grad.shape[1:]).sum(0)
            total = g if total is None else total + g
            delta = d[:B]
    return (delta * total / steps).detach()


METHODS = {"integrated_gradients": integrated_gradients, "gradient_x_input": gradient_x_input}


def attribute(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None,
              target: torch.Tensor | None = None, method: str = "integrated_gradients",
              baseline: torch.Tensor | None = None, steps: int = 32, batch: int = 1024) -> torch.Tensor:
    """Attributions by ``method`` (integrated_gradients or gradient_x_input), the shape of the input."""
    if method == "integrated_gradients":
        return integrated_gradients(model, x, lengths, target, baseline, steps=steps, batch=batch)
    if method == "gradient_x_input":
        return gradient_x_input(model, x, lengths, target, baseline)
    raise BlobError(f"Unknown attribution method {method!r}; valid: {', '.join(METHODS)}.")
