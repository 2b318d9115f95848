"""Video models: a CNN per frame (averaged or read by an RNN), 3-D convolutions, and a ConvLSTM.

Every model here reads clips shaped (B, T, C, H, W) in [0, 1] (``crnn`` reads sound too). The four differ in how
they treat time:
``frame_cnn`` ignores it (the baseline), ``crnn`` reads per-frame CNN features in order with an LSTM/GRU,
``cnn3d`` convolves over time like over space, and ``convlstm`` keeps a spatial memory map over time.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..data.spec import Spec
from . import MODELS
from .base import Model, make_head
from .cells import make_cell, run_cell
from .cnn import conv_stack
from .encoders import ColumnEncoder, FrameEncoder, PatchStem

VIDEO = ("video",)


@MODELS.register("frame_cnn", accepts=VIDEO, family="cnn")
class FrameCNN(Model):
    """A 2-D CNN on each frame, its features averaged over time: the no-time baseline.

    Use when: what is in the clip matters, not the order of its frames (which digit is moving,
    whether a ball is present). Averaging makes it blind to order by construction: a clip and its
    time-reversal get the same output, so it cannot tell a rising ball from a falling one, a swipe
    left from a swipe right. ``time="middle"`` reads the middle frame only (one picture).
    Cost: the per-frame CNN times T frames (``middle``: one frame); no recurrent step.
    """

    train_defaults = {"lr": 3e-3}

    def __init__(
        self,
        spec: Spec,
        *,
        width: int = 24,
        depth: int = 1,
        kernel: int = 3,
        patch: int = 4,
        readout: Literal["flatten", "avg"] = "flatten",
        time: Literal["mean", "middle"] = "mean",
        hidden: int = 64,
    ):
        super().__init__(spec)
        self.time = time
        self.encoder = FrameEncoder(spec, width, depth, kernel, patch, readout)
        self.mix = nn.Sequential(nn.Linear(self.encoder.dim, hidden), nn.ReLU())
        self.head = make_head(spec, hidden)

    def forward_features(self, x, lengths=None):
        if self.time == "middle":
            x = x[:, x.shape[1] // 2 :][:, :1]  # (B, 1, C, H, W)
        return self.mix(self.encoder(x)[0].mean(1))  # average over time, then one layer


# What the CRNN's 2-D CNN reads as its picture, and so what its recurrent network reads as time.
CRNN_ENCODERS = {"video": FrameEncoder, "image": ColumnEncoder, "sequence": ColumnEncoder}


@MODELS.register("crnn", accepts=tuple(CRNN_ENCODERS), family="hybrid")
class CRNN(Model):
    """A 2-D CNN, then an LSTM or GRU over time (a CRNN): on clips, frame by frame; on sound, over the spectrogram.

    Use when: both what is in each frame and how it changes matter (direction of motion, gestures,
    video tagging, words in sound). Clips: the same CNN reads every frame, so the parameter count does not
    grow with clip length. Pictures (a log-mel spectrogram, ``view=image``) and sequences of feature frames
    (MFCCs, multivariate series, read as the picture (features, steps)): the CNN convolves frequency and time
    together and the recurrent network reads its columns in time order, the usual audio CRNN (models/encoders.py).
    Alternatives: ``frame_cnn`` when order is irrelevant, ``cnn3d`` for short clips with local motion,
    ``convlstm`` when where-things-move needs a spatial memory, ``cnn_rnn`` for 1-D convolutions over a
    series. Cost: the CNN over every frame (or the picture once) plus one recurrent step per frame (column).
    """

    train_defaults = {"lr": 3e-3, "clip": 1.0}

    def __init__(
        self,
        spec: Spec,
        *,
        width: int = 24,
        depth: int = 1,
        kernel: int = 3,
        patch: int = 4,
        readout: Literal["flatten", "avg"] = "flatten",
        cell: Literal["lstm", "gru", "mingru", "minlstm"] = "lstm",
        hidden: int = 64,
        bidirectional: bool = False,
    ):
        super().__init__(spec)
        self.encoder = CRNN_ENCODERS[spec.modality](spec, width, depth, kernel, patch, readout)
        self.rnn = make_cell(cell, self.encoder.dim, hidden, bidirectional)
        self.head = make_head(spec, hidden * (2 if bidirectional else 1))

    def forward_features(self, x, lengths=None):
        seq, lengths = self.encoder(x, lengths)  # (B, T, D), one vector per frame or column
        return run_cell(self.rnn, seq, lengths)[1]  # (B, hidden * dirs)


@MODELS.register("cnn3d", accepts=VIDEO, family="cnn")
class CNN3D(Model):
    """3-D convolutions: filters that span a few frames as well as a few pixels.

    Use when: the motion that matters is local in time (a few frames), as in short clips of
    gestures or moving objects: a filter can respond to "moved up by a pixel". Each frame is first
    cut into patches (as in frame_cnn), then ``depth`` blocks of kernel^3 convolutions pool space
    and time by 2. Cost: kernel^3 x width^2 per (time, row, column) position per block, several
    times a per-frame 2-D CNN of the same width, and the memory of a (T, H, W) map per channel.
    """

    train_defaults = {"lr": 3e-3}

    def __init__(
        self,
        spec: Spec,
        *,
        width: int = 16,
        depth: int = 2,
        kernel: int = 3,
        patch: int = 4,
        readout: Literal["flatten", "avg"] = "flatten",
        hidden: int = 64,
    ):
        super().__init__(spec)
        t = spec.input_shape[0]
        self.stem = PatchStem(spec.input_shape[1:], width, patch)
        layers: list[nn.Module] = []
        ch, size = width, [t, *self.stem.size]
        for _ in range(depth):
            layers += [nn.Conv3d(ch, width, kernel, padding=kernel // 2), nn.ReLU()]
            ch = width
            pool = [2 if s >= 2 else 1 for s in size]
            if max(pool) > 1:
                layers.append(nn.MaxPool3d(pool))
                size = [s // p for s, p in zip(size, pool, strict=True)]
        self.body = nn.Sequential(*layers)
        self.readout = readout
        dim = ch * (1 if readout == "avg" else size[0] * size[1] * size[2])
        self.mix = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.head = make_head(spec, hidden)

    def forward_features(self, x, lengths=None):
        b, t = x.shape[:2]
        maps = self.stem(x.flatten(0, 1))  # (B*T, width, H', W')
        maps = maps.view(b, t, *maps.shape[1:]).transpose(1, 2)  # (B, width, T, H', W')
        maps = self.body(maps)  # (B, width, T'', H'', W'')
        f = maps.mean((2, 3, 4)) if self.readout == "avg" else maps.flatten(1)
        return self.mix(f)


class ConvLSTMCell(nn.Module):
    """An LSTM whose state is a stack of maps and whose products are convolutions (Shi et al., 2015)."""

    def __init__(self, in_ch: int, hidden: int, kernel: int):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_ch + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state  # (B, hidden, H, W) each
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


@MODELS.register("convlstm", accepts=VIDEO, family="hybrid")
class ConvLSTM(Model):
    """A small CNN shrinks each frame, then a ConvLSTM cell carries a memory *map* across frames.

    Use when: where something moves matters as much as that it moves (tracking, trajectories): the
    recurrent state keeps the layout of the frame instead of flattening it into one vector. Cost:
    per frame, the front CNN plus one convolution over (input + hidden) channels producing 4 x hidden
    gate maps; T sequential steps that cannot be parallelised over time (slower per sample than crnn).
    """

    train_defaults = {"lr": 3e-3, "clip": 1.0}

    def __init__(
        self,
        spec: Spec,
        *,
        width: int = 16,
        depth: int = 1,
        kernel: int = 3,
        patch: int = 4,
        hidden: int = 16,
    ):
        super().__init__(spec)
        stem = PatchStem(spec.input_shape[1:], width, patch)
        body, (oh, ow) = conv_stack(2, width, stem.size, width=width, depth=depth, kernel=kernel, pool=True)
        self.front = nn.Sequential(stem, body)
        self.cell = ConvLSTMCell(width, hidden, kernel)
        self.head = make_head(spec, hidden * oh * ow)

    def forward_features(self, x, lengths=None):
        b, t = x.shape[:2]
        maps = self.front(x.flatten(0, 1))  # (B*T, width, H', W')
        maps = maps.view(b, t, *maps.shape[1:])
        h = maps.new_zeros(b, self.cell.hidden, *maps.shape[3:])
        c = torch.zeros_like(h)
        for frame in maps.unbind(1):  # unbind: indexing x[:, t] would give each step a zero-filled gradient buffer
            h, c = self.cell(frame, (h, c))
        return h.flatten(1)  # (B, hidden * H' * W'): the final memory map
