"""The temporal convolutional network (TCN) of Bai, Kolter & Koltun (2018): dilated causal convolutions for sequences.

"An Empirical Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling" builds one generic
architecture: residual blocks, each two causal 1-D convolutions of the same dilation with weight normalisation,
ReLU and dropout, the dilation doubling from block to block (1, 2, 4, ...) so that the receptive field grows
exponentially with depth. A 1x1 convolution carries the residual where a block changes the width. An output at
step t sees inputs 0..t only, so one network gives a prediction for every step (the tag task) or reads the last
real step (classification, regression), like a recurrent network but with every step computed at once.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ..data.spec import Spec
from ..errors import BlobError
from . import MODELS
from .base import (
    BIGRAM_BUCKETS,
    TEXT_EMBED_DROPOUT,
    TEXT_TOKEN_DROPOUT,
    TEXT_TRAIN_DEFAULTS,
    AsSequence,
    Model,
    last_valid,
    length_mask,
    make_head,
    pool_time,
)

SEQ = ("sequence", "image", "text", "video")
TASKS = ("classify", "regress", "forecast", "tag")  # tag: one output per step (the copy-memory task, entity tags)
MAX_LEVELS = 24  # 2**24 steps of receptive field at kernel 2: more than any sequence this package reads


def receptive_field(levels: int, kernel: int) -> int:
    """The steps an output sees (itself included): each level adds two convolutions of dilation 2**i.

    >>> receptive_field(4, 7), receptive_field(7, 7), receptive_field(1, 2)
    (181, 1525, 3)
    """
    return 1 + 2 * (kernel - 1) * (2**levels - 1)


def levels_for(length: int, kernel: int) -> int:
    """The fewest levels whose receptive field covers ``length`` steps (at least one).

    >>> levels_for(120, 7), levels_for(784, 7), levels_for(1020, 8)
    (4, 7, 7)
    """
    if kernel < 2:
        raise BlobError(f"tcn: kernel={kernel} sees only the current step; give a kernel of at least 2.")
    levels = 1
    while receptive_field(levels, kernel) < length:
        levels += 1
    return levels


class CausalConv(nn.Module):
    """A weight-normalised 1-D convolution padded on the left, so that step t sees steps t and before only.

    It runs on (B, C, 1, L) maps in channels-last memory as a 2-D convolution of height 1: the same numbers as
    ``nn.Conv1d``, and oneDNN's channels-last kernels are the faster ones for small maps (a 16-channel, kernel 8,
    dilation 8 convolution over 32 x 200 steps, forward and back, one thread: 2.7 ms against 4.6 ms as a Conv1d).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int):
        super().__init__()
        # PyTorch's default initialisation, each filter's norm then its own weight-norm scale. With the paper's
        # N(0, 0.01) weights the adding problem at T=200 stayed at the guessing loss for 1,200 steps (lr 1e-2,
        # seed 0); from the default it left the plateau after about 800.
        conv = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)
        self.conv = weight_norm(conv)
        self.dilation = dilation
        self.pad = (kernel - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.pad(x, (self.pad, 0)).contiguous(memory_format=torch.channels_last)  # (B, C, 1, pad + L)
        return nn.functional.conv2d(h, self.conv.weight[:, :, None], self.conv.bias, dilation=(1, self.dilation))


class TemporalBlock(nn.Module):
    """Two causal convolutions (weight norm, ReLU, dropout), a residual: ReLU(F(x) + x), 1x1 conv if widths differ.

    Maps are (B, C, 1, L), channels-last (see CausalConv)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.conv1 = CausalConv(c_in, c_out, kernel, dilation)
        self.conv2 = CausalConv(c_out, c_out, kernel, dilation)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.conv1(x)))
        h = self.drop(torch.relu(self.conv2(h)))
        return torch.relu(h + self.shortcut(x))


@MODELS.register("tcn", accepts=SEQ, family="cnn", tasks=TASKS)
class TCN(Model):
    """Temporal convolutional network (Bai, Kolter & Koltun 2018): dilated causal convolutions in residual blocks.

    Use when: a sequence task needs memory over hundreds or thousands of steps (the adding problem, copy memory,
    pixel-by-pixel digits), where the paper's TCN matched or beat LSTMs and GRUs; or when training speed matters,
    since every step is computed at once instead of one after another. ``levels=0`` picks the fewest blocks whose
    receptive field, 1 + 2 (kernel - 1) (2**levels - 1) steps, covers the data set's length; the network sees
    nothing further back. A classifier reads the last real step (``readout="last"``; text averages the steps);
    the tag task gets one output per step. Alternatives: ``lstm``/``gru`` (memory not bounded by a window, a
    state to carry between calls), ``cnn`` (non-causal, pooled), ``mingru`` (a parallel-scan RNN).
    Cost: 2 x levels x kernel x width^2 multiply-adds per step, all steps in parallel; activations of
    2 x levels x width values per step are kept for the backward pass.
    """

    # Measured on copy memory at T=100 (seed 0, batch 32, 600 steps): lr 2e-3 left the loss at guessing's (0.174),
    # 5e-3 reached 4.7e-4, 1e-2 6e-5. A constant rate, as the recurrent family's: the adding problem sits on its
    # guessing plateau for several hundred steps before the loss drops, and a decaying rate would stall it there.
    train_defaults = {"lr": 1e-2, "clip": 1.0, "schedule": "constant"}

    def __init__(
        self,
        spec: Spec,
        *,
        width: int = 32,
        levels: int = 0,
        kernel: int = 7,
        dropout: float = 0.0,
        readout: Literal["auto", "last", "mean", "max"] = "auto",
        bigrams: int = BIGRAM_BUCKETS,
        embed_dropout: float = TEXT_EMBED_DROPOUT,
        token_dropout: float = TEXT_TOKEN_DROPOUT,
    ):
        super().__init__(spec)
        if width < 1:
            raise BlobError(f"tcn: width={width} leaves no channels; give a width of at least 1.")
        if kernel < 2:
            raise BlobError(f"tcn: kernel={kernel} sees only the current step; give a kernel of at least 2.")
        if levels > MAX_LEVELS:
            raise BlobError(f"tcn: levels={levels} is more than {MAX_LEVELS}; 0 picks the fewest levels that cover "
                            "the sequence.")
        self.inputs = AsSequence(spec, bigrams=bigrams, embed_dropout=embed_dropout, token_dropout=token_dropout)
        self.levels = levels or levels_for(self.inputs.length, kernel)
        self.kernel = kernel
        self.receptive_field = receptive_field(self.levels, kernel)
        self.per_step = spec.task == "tag"
        self.readout = readout if readout != "auto" else ("mean" if spec.modality == "text" else "last")
        if spec.modality == "text":
            self.train_defaults = {**self.train_defaults, **TEXT_TRAIN_DEFAULTS}
        self.blocks = nn.Sequential(*(TemporalBlock(self.inputs.channels if i == 0 else width, width, kernel, 2**i,
                                                    dropout) for i in range(self.levels)))
        self.head = make_head(spec, width)

    def steps(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Every step's features (B, L, width); step t depends on inputs 0..t only."""
        seq = self.inputs(x)  # (B, L, C)
        maps = seq.transpose(1, 2)[:, :, None].contiguous(memory_format=torch.channels_last)  # (B, C, 1, L)
        return self.blocks(maps)[:, :, 0].transpose(1, 2)  # (B, L, width)

    def forward_features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = self.steps(x, lengths)
        if self.per_step:
            return h  # (B, L, width): the head maps each step
        if self.readout == "last":
            return last_valid(h, lengths)
        return pool_time(h, length_mask(lengths, h.shape[1], h.device), self.readout)
