"""Convolutional networks: filters that scan the input, pooling that condenses it (1-D and 2-D)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..data.spec import Spec
from . import MODELS
from .base import (BIGRAM_BUCKETS, TEXT_EMBED_DROPOUT, TEXT_TOKEN_DROPOUT, TEXT_TRAIN_DEFAULTS, AsSequence, Model,
                   length_mask, make_head, pool_time)


class MaxPool1d(nn.MaxPool1d):
    """nn.MaxPool1d; for the usual window 2, stride 2 computed as a reshape and a max over pairs.

    The same numbers and gradients (the first maximum of each pair wins, as in PyTorch's pooling), but on
    this project's CPU 1.5x faster forward and backward for an MNIST-1D feature map (100 x 32 x 40, one
    thread: 0.85 against 1.30 ms), a tenth of a small CNN's step. Exporters get PyTorch's own operator.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pair = (self.kernel_size in (2, (2,)) and self.stride in (2, (2,)) and self.padding in (0, (0,))
                and self.dilation in (1, (1,)) and not self.ceil_mode and not self.return_indices)
        if not pair or torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export():
            return super().forward(x)
        n = x.shape[-1] // 2 * 2
        return x[..., :n].unflatten(-1, (-1, 2)).max(-1).values


class BatchNorm1d(nn.BatchNorm1d):
    """nn.BatchNorm1d (same parameters, buffers and numbers) that also takes the (B, C, 1, L) maps of the 1-D CNN's
    channels-last path (CNN.feature_maps)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != 4:
            super()._check_input_dim(input)


def channels_last_1d(body: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Run a 1-D conv_stack over (B, C, L) as 2-D layers over (B, C, 1, L) in channels-last memory.

    The same parameters and numbers as ``body(x)``, faster on the CPU: oneDNN's convolutions and PyTorch's batch
    normalisation and pooling have channels-last kernels, while their (B, C, L) ones are slow for small maps.
    Measured on MNIST-1D's default CNN, one thread, a training step: 8.9 -> 6.4 ms (batch normalisation alone:
    0.76 -> 0.34 ms forward and back for a 100 x 32 x 40 map). Returns (B, C', L') as a view of the last map.
    """
    h = x[:, :, None].contiguous(memory_format=torch.channels_last)
    for layer in body:
        if isinstance(layer, nn.Conv1d):
            h = nn.functional.conv2d(h, layer.weight[:, :, None], layer.bias, (1, layer.stride[0]),
                                     (0, layer.padding[0]), (1, layer.dilation[0]), layer.groups)
        elif isinstance(layer, nn.MaxPool1d):
            h = nn.functional.max_pool2d(h, (1, layer.kernel_size), (1, layer.stride), (0, layer.padding),
                                         (1, layer.dilation), layer.ceil_mode)
        else:  # ReLU, batch and group normalisation: the same on (B, C, 1, L)
            h = layer(h)
    return h[:, :, 0]


def _plain_forward(body: nn.Sequential) -> bool:
    """True unless something must see the 1-D layers as they are: an exporter or tracer, or a hook on a layer
    (the explainers read each layer's (B, C, L) output)."""
    if (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()
            or torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()):
        return False
    if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks for m in body)


def conv_stack(
    dims: int, in_ch: int, size: tuple[int, ...], *, width: int, depth: int, kernel: int, pool: bool,
    norm: str = "none",
) -> tuple[nn.Sequential, tuple[int, ...]]:
    """``depth`` blocks of conv (-> norm) -> ReLU (-> max-pool 2 while the map is large enough).

    ``norm``: "none", "batch" (BatchNorm) or "group" (GroupNorm with 4 groups: no running statistics, so
    stacked seeds can train as one batched model). Returns the stack and the spatial size of its output.
    """
    Conv = nn.Conv1d if dims == 1 else nn.Conv2d
    Pool = MaxPool1d if dims == 1 else nn.MaxPool2d
    Batch = BatchNorm1d if dims == 1 else nn.BatchNorm2d
    layers: list[nn.Module] = []
    ch = in_ch
    for _ in range(depth):
        layers.append(Conv(ch, width, kernel, padding=kernel // 2))
        if norm == "batch":
            layers.append(Batch(width))
        elif norm == "group":
            layers.append(nn.GroupNorm(4 if width % 4 == 0 else 1, width))
        layers.append(nn.ReLU())
        ch = width
        if pool and min(size) >= 2:
            layers.append(Pool(2))
            size = tuple(s // 2 for s in size)
    return nn.Sequential(*layers), size


@MODELS.register("cnn", accepts=("image", "sequence", "text"), family="cnn")
class CNN(Model):
    """Convolutional network: 2-D filters for images, 1-D filters along time for sequences and text.

    Use when: the signal is made of local patterns that can appear anywhere (strokes in digits,
    bumps in a series, n-grams in text). Filters share their weights across positions, so it needs
    few parameters and is fast on a CPU even for long sequences. ``pool`` halves the map after each
    block (cheaper, more shift-tolerant); ``readout="flatten"`` keeps where features are, ``"avg"``
    keeps only what they are; ``"auto"`` flattens images and averages over time for sequences and text
    (as fully convolutional time-series networks do: on GunPoint it lifted test accuracy from 0.94 to
    0.98 over three seeds). ``norm="auto"`` puts batch normalisation after each convolution for 1-D
    series (as fully convolutional series networks do; on MNIST-1D it lifted seed 0 from 0.967 to
    0.986 at the same 6,000 steps) and none for images and text; ``"group"`` normalises without
    running statistics (seeds can then train stacked). Not rotation invariant by construction. On text,
    ``adversarial=0.02`` (a training setting) lifted accuracy at full budgets (README, "Adversarial training").
    Cost: width^2 x kernel per block, times the number of positions.
    """

    def __init__(
        self,
        spec: Spec,
        *,
        width: int = 32,
        depth: int = 3,
        kernel: int = 0,
        pool: bool = True,
        norm: Literal["auto", "none", "batch", "group"] = "auto",
        readout: Literal["auto", "flatten", "avg", "max"] = "auto",
        dropout: float = 0.0,
        bigrams: int = BIGRAM_BUCKETS,
        embed_dropout: float = TEXT_EMBED_DROPOUT,
        token_dropout: float = TEXT_TOKEN_DROPOUT,
    ):
        super().__init__(spec)
        self.dims = 2 if spec.modality == "image" else 1
        kernel = kernel or (3 if self.dims == 2 else 5)
        if self.dims == 2:
            in_ch, size = spec.input_shape[0], tuple(spec.input_shape[1:])
        else:
            self.inputs = AsSequence(spec, bigrams=bigrams, embed_dropout=embed_dropout,
                                     token_dropout=token_dropout)
            in_ch, size = self.inputs.channels, (self.inputs.length,)
        if norm == "auto":  # batch norm for 1-D series (MNIST-1D seed 0: 0.967 -> 0.986); images and text as before
            norm = "batch" if spec.modality == "sequence" else "none"
        self.body, out_size = conv_stack(self.dims, in_ch, size, width=width, depth=depth, kernel=kernel, pool=pool,
                                         norm=norm)
        self.readout = readout if readout != "auto" else {"image": "flatten", "text": "max"}.get(spec.modality, "avg")
        if spec.modality == "text":
            self.train_defaults = {**self.train_defaults, **TEXT_TRAIN_DEFAULTS}
        self.pools = sum(isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)) for m in self.body)
        dim = width * (1 if self.readout in ("avg", "max") else int(torch.tensor(out_size).prod()))
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = make_head(spec, dim)

    def feature_maps(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The last convolutional block's maps: (B, C, L) or (B, C, H, W)."""
        if self.dims == 1:
            x = self.inputs(x)  # (B, L, C)
            mask = length_mask(lengths, x.shape[1], x.device)
            if mask is not None:
                x = x * mask[..., None]
            x = x.transpose(1, 2)  # (B, C, L)
            if _plain_forward(self.body):
                return channels_last_1d(self.body, x)
        return self.body(x)

    def forward_features(self, x, lengths=None):
        maps = self.feature_maps(x, lengths)
        if self.readout == "flatten":
            f = maps.flatten(1)
        elif self.readout == "avg":
            f = maps.flatten(2).mean(2)
        else:  # max over positions; a sequence's padding (its share of each pooled map) never wins
            mask = None
            if self.dims == 1 and lengths is not None:
                n = lengths.to(maps.device)
                for _ in range(self.pools):
                    n = torch.div(n + 1, 2, rounding_mode="floor")  # a pooled step is real if either input was
                mask = length_mask(n.clamp_min(1), maps.shape[-1], maps.device)
            f = pool_time(maps.flatten(2).transpose(1, 2), mask, "max")
        return self.drop(f)
