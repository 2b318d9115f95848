"""What a convolutional network computes: its filters, each layer's maps, pooling sizes, Grad-CAM and saliency.

Everything here works from the modules themselves (any model holding Conv1d/Conv2d layers, found in
the order they are defined), so the CNN, the CNN+RNN hybrids and later convolutional models are
explained alike. Forward hooks collect each layer's output for one input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import BlobError
from .attribution import attribution_mode, device_of, gradient_x_input, target_output

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
        nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
ACT = (nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.SiLU)


def named_layers(model: nn.Module, kinds: tuple = CONV + POOL + ACT) -> list[tuple[str, nn.Module]]:
    """The model's convolution, activation and pooling modules, in definition order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, kinds)]


def convolutions(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return named_layers(model, CONV)


def has_convolutions(model: nn.Module) -> bool:
    return bool(convolutions(model))


def _need_conv(model: nn.Module) -> list[tuple[str, nn.Module]]:
    convs = convolutions(model)
    if not convs:
        raise BlobError(f"Model {getattr(model, 'name', type(model).__name__)!r} has no convolutional layer: "
                        "filters, feature maps and Grad-CAM explain convolutional models (cnn, cnn_rnn, ...).")
    return convs


def first_filters(model: nn.Module) -> torch.Tensor:
    """The first convolution's weights: (out, in, k) for 1-D, (out, in, kh, kw) for 2-D."""
    return _need_conv(model)[0][1].weight.detach().float().cpu()


@dataclass
class LayerOutput:
    """One layer's output for the explained input (batch dimension removed)."""

    name: str
    kind: str  # conv | act | pool
    module: str  # class name, e.g. Conv2d
    input_shape: tuple[int, ...]
    output: torch.Tensor


def _kind(m: nn.Module) -> str:
    return "conv" if isinstance(m, CONV) else "pool" if isinstance(m, POOL) else "act"


@torch.no_grad()
def layer_outputs(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None) -> list[LayerOutput]:
    """Run one input (batch of 1) and collect every convolution, activation and pooling layer's output."""
    _need_conv(model)
    records: list[LayerOutput] = []

    def hook(name: str):
        def fn(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if isinstance(output, torch.Tensor):
                records.append(LayerOutput(name, _kind(module), type(module).__name__,
                                           tuple(inputs[0].shape[1:]), output[0].detach().float().cpu()))
        return fn

    handles = [m.register_forward_hook(hook(name)) for name, m in named_layers(model)]
    was = model.training
    model.eval()
    try:
        model(x[:1].to(device_of(model)), None if lengths is None else lengths[:1])
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return records


def feature_maps(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None) -> list[LayerOutput]:
    """Each block's maps as the next layer sees them: the output of every activation and pooling layer
    (a convolution's output is shown after its activation, when it has one)."""
    outs = layer_outputs(model, x, lengths)
    shown = [o for i, o in enumerate(outs)
             if o.kind != "conv" or i + 1 == len(outs) or outs[i + 1].kind != "act"]
    return shown


def pooling_table(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None) -> list[dict]:
    """Data size before and after each pooling layer: shapes, values per sample and the factor saved."""
    rows = []
    for o in layer_outputs(model, x, lengths):
        if o.kind != "pool":
            continue
        before, after = math.prod(o.input_shape), math.prod(o.output.shape)
        rows.append({"layer": o.name, "module": o.module, "before": list(o.input_shape),
                     "after": list(o.output.shape), "values_before": before, "values_after": after,
                     "reduction": before / max(after, 1)})
    return rows


def grad_cam(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None,
             target: int | None = None) -> tuple[torch.Tensor, int | None]:
    """Grad-CAM (Selvaraju et al. 2017) on the last convolution (after its activation, when it has one).

    Each channel of that layer is weighted by the mean gradient of the target logit over its
    positions; the weighted sum, clipped at zero, is resized to the input's spatial size and scaled
    to [0, 1]. Returns the map ((H, W) for images, (L,) for sequences) and the class explained
    (the predicted one unless ``target`` is given; None for regression).
    """
    layers = named_layers(model, CONV + ACT)
    convs = [i for i, (_, m) in enumerate(layers) if isinstance(m, CONV)]
    if not convs:
        _need_conv(model)
    last = convs[-1]
    if last + 1 < len(layers) and isinstance(layers[last + 1][1], ACT):
        last += 1
    seen: dict[str, torch.Tensor] = {}

    def keep(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        seen["maps"] = output

    handle = layers[last][1].register_forward_hook(keep)
    x1 = x[:1].to(device_of(model))
    try:
        with attribution_mode(model):
            out = model(x1, None if lengths is None else lengths[:1])
            spec = getattr(model, "spec", None)
            classify = spec is not None and spec.is_classification
            if classify and target is None:
                target = int(out.argmax(1))
            t = torch.tensor([target], device=x1.device) if classify else None
            maps = seen["maps"]  # (1, C, *spatial)
            (grad,) = torch.autograd.grad(target_output(out, t).sum(), maps)
    finally:
        handle.remove()
    weights = grad.mean(dim=tuple(range(2, grad.ndim)), keepdim=True)
    cam = torch.relu((weights * maps).sum(1, keepdim=True)).detach().float()  # (1, 1, *spatial)
    size = _spatial_size(model, x1)
    mode = "bilinear" if cam.ndim == 4 else "linear"
    cam = nn.functional.interpolate(cam, size=size, mode=mode, align_corners=False)[0, 0]
    cam = cam / cam.max() if cam.max() > 0 else cam
    return cam.cpu(), (target if classify else None)


def _spatial_size(model: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    """The input's positions as the convolutions see them: (H, W) for images, (L,) for sequences and text."""
    if getattr(getattr(model, "spec", None), "modality", "image") == "image":
        return tuple(x.shape[-2:])
    return (x.shape[1],)


def saliency(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None,
             target: int | None = None) -> torch.Tensor:
    """Gradient x input for one input, absolute values summed over channels: (H, W) for images, (L,) otherwise."""
    x1 = x[:1].to(device_of(model))
    l1 = None if lengths is None else lengths[:1]
    spec = getattr(model, "spec", None)
    t = None
    if spec is not None and spec.is_classification:
        if target is None:
            with attribution_mode(model), torch.no_grad():
                target = int(model(x1, l1).argmax(1))
        t = torch.tensor([target], device=x1.device)
    a = gradient_x_input(model, x1, l1, t)[0].abs().float().cpu()
    if getattr(spec, "modality", None) == "image":
        return a.sum(0)  # (C, H, W) -> (H, W)
    return a.flatten(1).sum(1) if a.ndim > 1 else a  # (L, C) -> (L,)
