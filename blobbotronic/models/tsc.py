"""Time-series classifiers at their best: FCN, ResNet-1D, InceptionTime and LSTM-FCN, built for a CPU.

The architectures follow the papers that set the state of the art for their kind on the UCR/UEA archive
(Wang et al. 2017; Fawaz et al. 2020; Karim et al. 2017); widths are parameters, so the same code runs
at the papers' sizes or at the smaller sizes that train in seconds on one CPU thread. Every model
reads its input as a sequence (B, L, C) and ends in global average pooling over time, so it takes any
length and is shift tolerant. All use BatchNorm: it trains in batch statistics and evaluates with the
running averages (fit() switches modes through ``evaluate``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.spec import Spec
from . import MODELS
from .base import AsSequence, Model, length_mask, make_head

ACCEPTS = ("sequence", "image", "text")


def conv_bn(c_in: int, c_out: int, kernel: int, relu: bool = True) -> nn.Sequential:
    """Conv1d ('same' length, no bias: BatchNorm has one) -> BatchNorm (-> ReLU)."""
    layers: list[nn.Module] = [nn.Conv1d(c_in, c_out, kernel, padding="same", bias=False), nn.BatchNorm1d(c_out)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SeriesModel(Model):
    """Shared front and back: read as (B, C, L) with padding zeroed; average the maps over real steps."""

    train_defaults = {"lr": 1e-2, "weight_decay": 1e-2}

    def __init__(self, spec: Spec):
        super().__init__(spec)
        self.inputs = AsSequence(spec)

    def channels_first(self, x: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.inputs(x)  # (B, L, C)
        mask = length_mask(lengths, x.shape[1], x.device)
        if mask is not None:
            x = x * mask[..., None]
        return x.transpose(1, 2), mask

    @staticmethod
    def pool(maps: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Global average over time: (B, C, L) -> (B, C), counting only real steps."""
        if mask is None:
            return maps.mean(2)
        m = mask[:, None, :].to(maps.dtype)
        return (maps * m).sum(2) / m.sum(2).clamp_min(1)


@MODELS.register("fcn", accepts=ACCEPTS, family="cnn")
class FCN(SeriesModel):
    """Fully convolutional network (Wang et al. 2017): three conv-BatchNorm-ReLU blocks, then global average pooling.

    Use when: classifying time series; it is the strong, simple baseline of the UCR archive and converges
    in a few epochs thanks to BatchNorm. No pooling inside, so every position keeps its own features
    until the final average (shift tolerant, any length). Filters are width, 2*width, width with kernels
    8, 5, 3 (the paper: width 128). Alternatives: ``resnet1d`` (deeper, residual), ``inception_time``
    (several kernel sizes at once), ``cnn`` (pooling, cheaper on long inputs). Cost: about
    13 x width^2 multiply-adds per position, so it grows with length x width^2.
    """

    def __init__(self, spec: Spec, *, width: int = 64, dropout: float = 0.0):
        super().__init__(spec)
        c = self.inputs.channels
        self.body = nn.Sequential(conv_bn(c, width, 7), conv_bn(width, 2 * width, 5), conv_bn(2 * width, width, 3))
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = make_head(spec, width)

    def feature_maps(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The last block's maps (B, width, L)."""
        return self.body(self.channels_first(x, lengths)[0])

    def forward_features(self, x, lengths=None):
        x, mask = self.channels_first(x, lengths)
        return self.drop(self.pool(self.body(x), mask))


class ResidualBlock(nn.Module):
    """Three conv-BatchNorm layers (kernels 8, 5, 3) plus a shortcut (1x1 conv + BatchNorm when widths differ)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.convs = nn.Sequential(conv_bn(c_in, c_out, 7), conv_bn(c_out, c_out, 5),
                                   conv_bn(c_out, c_out, 3, relu=False))
        self.short = conv_bn(c_in, c_out, 1, relu=False) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.convs(x) + self.short(x))


@MODELS.register("resnet1d", accepts=ACCEPTS, family="cnn")
class ResNet1D(SeriesModel):
    """Residual 1-D CNN (Wang et al. 2017): three residual blocks of three convolutions each, global average pooling.

    Use when: an FCN underfits (hard, larger data sets): the shortcuts let nine conv layers train as
    easily as three. Widths width, 2*width, 2*width (the paper: width 64). Alternatives: ``fcn`` (a
    third of the layers, usually as accurate on small data), ``inception_time``. Cost: about three
    times an FCN of the same width, per position.
    """

    def __init__(self, spec: Spec, *, width: int = 32, dropout: float = 0.0):
        super().__init__(spec)
        dims = [self.inputs.channels, width, 2 * width, 2 * width]
        self.body = nn.Sequential(*[ResidualBlock(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)])
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = make_head(spec, dims[-1])

    def forward_features(self, x, lengths=None):
        x, mask = self.channels_first(x, lengths)
        return self.drop(self.pool(self.body(x), mask))


class InceptionModule(nn.Module):
    """A 1x1 bottleneck, then three convolutions of different lengths beside a max-pool + 1x1 branch, concatenated."""

    def __init__(self, c_in: int, width: int, kernels: tuple[int, ...], bottleneck: int):
        super().__init__()
        use_bottleneck = bottleneck and c_in > 1
        self.bottleneck = nn.Conv1d(c_in, bottleneck, 1, bias=False) if use_bottleneck else nn.Identity()
        mid = bottleneck if use_bottleneck else c_in
        self.convs = nn.ModuleList(nn.Conv1d(mid, width, k, padding="same", bias=False) for k in kernels)
        self.pool_branch = nn.Sequential(nn.MaxPool1d(3, stride=1, padding=1), nn.Conv1d(c_in, width, 1, bias=False))
        self.bn = nn.BatchNorm1d(width * (len(kernels) + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bottleneck(x)
        out = torch.cat([conv(b) for conv in self.convs] + [self.pool_branch(x)], 1)
        return torch.relu(self.bn(out))


@MODELS.register("inception_time", accepts=ACCEPTS, family="cnn")
class InceptionTime(SeriesModel):
    """InceptionTime (Fawaz et al. 2020): Inception modules that look at three time scales at once, residual
    every three modules, global average pooling.

    Use when: patterns come at several lengths (short spikes and long shapes) and you can afford more
    compute; it leads the UCR archive among deep models. ``kernel`` is the longest filter (the paper: 40,
    with 20 and 10 beside it; made odd here so 'same' padding is symmetric); ``depth`` modules of
    4 x width channels (the paper: width 32, depth 6). Alternatives: ``fcn`` (one scale, cheaper),
    ``resnet1d``. Cost: about width x (bottleneck x (k + k/2 + k/4) + 8 x width) multiply-adds per
    position and module: the long kernels dominate.
    """

    def __init__(self, spec: Spec, *, width: int = 16, depth: int = 6, kernel: int = 40, bottleneck: int = 16,
                 dropout: float = 0.0):
        super().__init__(spec)
        kernels = tuple(max(1, k - (k % 2 == 0)) for k in (kernel, kernel // 2, kernel // 4))
        c = self.inputs.channels
        out = 4 * width
        self.blocks = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        res_in = c
        for i in range(max(1, depth)):
            self.blocks.append(InceptionModule(c if i == 0 else out, width, kernels, bottleneck))
            if i % 3 == 2:
                self.shortcuts.append(conv_bn(res_in, out, 1, relu=False))
                res_in = out
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = make_head(spec, out)

    def forward_features(self, x, lengths=None):
        x, mask = self.channels_first(x, lengths)
        res = x
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i % 3 == 2:
                x = torch.relu(x + self.shortcuts[i // 3](res))
                res = x
        return self.drop(self.pool(x, mask))


@MODELS.register("lstm_fcn", accepts=ACCEPTS, family="hybrid")
class LSTMFCN(SeriesModel):
    """LSTM-FCN (Karim et al. 2017): an LSTM branch beside an FCN branch, their features concatenated.

    Use when: the FCN alone is close but not enough: the LSTM adds a view of the whole series. With
    ``shuffle`` (the paper's "dimension shuffle") the LSTM reads the C channels as C steps of L values
    each, so a univariate series is a single step: cheap, and the LSTM acts as a gated dense layer on
    the raw series. Without it the LSTM walks the L time steps (sequential, slower). Alternatives:
    ``fcn`` (the same minus the LSTM), ``cnn_rnn`` (the RNN reads the CNN's output instead). Cost: the
    FCN's plus 4 x hidden x (hidden + inputs) per LSTM step.
    """

    def __init__(self, spec: Spec, *, width: int = 64, hidden: int = 64, shuffle: bool = True,
                 dropout: float = 0.0):
        super().__init__(spec)
        c, length = self.inputs.channels, self.inputs.length
        self.shuffle = shuffle
        self.lstm = nn.LSTM(length if shuffle else c, hidden, batch_first=True)
        self.fcn = nn.Sequential(conv_bn(c, width, 7), conv_bn(width, 2 * width, 5), conv_bn(2 * width, width, 3))
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = make_head(spec, width + hidden)

    def forward_features(self, x, lengths=None):
        x, mask = self.channels_first(x, lengths)  # (B, C, L)
        seq = x if self.shuffle else x.transpose(1, 2)  # shuffled: C steps of L values
        out, (h, _) = self.lstm(seq)
        if self.shuffle or mask is None:
            r = h[-1]
        else:  # the state at each sequence's last real step
            last = (mask.sum(1) - 1).clamp_min(0)
            r = out[torch.arange(len(out), device=out.device), last]
        return self.drop(torch.cat([r, self.pool(self.fcn(x), mask)], 1))
