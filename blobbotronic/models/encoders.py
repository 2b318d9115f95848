"""Convolutional front ends that turn a picture or a clip into a sequence for a recurrent network to read.

``FrameEncoder``: the same 2-D CNN on every frame of a clip, one feature vector per frame (video CRNNs).
``ColumnEncoder``: a 2-D CNN over one picture whose columns are time, one feature vector per column (the
audio CRNN over a spectrogram; a sequence of feature frames such as MFCCs is read as that picture).
Both start with ``PatchStem``, the cheap first layer.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.spec import Spec
from .base import AsSequence, length_mask
from .cnn import conv_stack


class PatchStem(nn.Module):
    """Cut each picture into patches and map each to ``width`` features: (N, C, H, W) -> (N, width, H/ph, W/pw).
    Mathematically a convolution with kernel = stride = the patch.

    Small video models on a CPU are dominated by their first layer, which sees every pixel of every
    frame; written as one matrix product over patches it ran about 5x faster than the same strided
    nn.Conv2d (forward + backward, 1,600 frames of 32x32, one thread), and its filters still encode
    where in the patch things are. ``patch`` is a square side, shrunk to the picture's smaller side, or a
    (rows, columns) pair. Rows and columns beyond a multiple of the patch are dropped.
    """

    def __init__(self, shape: tuple[int, int, int], width: int, patch: int | tuple[int, int]):
        super().__init__()
        c, h, w = shape
        if isinstance(patch, int):
            p = max(1, min(patch, h, w))
            patch = (p, p)
        self.patch = ph, pw = patch
        self.size = (h // ph, w // pw)
        self.proj = nn.Linear(c * ph * pw, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        (gh, gw), (ph, pw) = self.size, self.patch
        x = x[:, :, : gh * ph, : gw * pw].reshape(n, c, gh, ph, gw, pw)
        x = x.permute(0, 2, 4, 1, 3, 5).reshape(n, gh, gw, c * ph * pw)  # one row per patch
        return torch.relu(self.proj(x)).permute(0, 3, 1, 2)  # (N, width, H/ph, W/pw)


class FrameEncoder(nn.Module):
    """The same 2-D CNN applied to every frame: (B, T, C, H, W) -> (B, T, D).

    A patchifying stem, then ``depth`` blocks of conv -> ReLU -> max-pool (models/cnn.py's
    conv_stack). ``readout="flatten"`` keeps where things are in the frame (needed to see motion),
    ``"avg"`` keeps only what they are.
    """

    def __init__(self, spec: Spec, width: int, depth: int, kernel: int, patch: int, readout: str):
        super().__init__()
        self.stem = PatchStem(spec.input_shape[1:], width, patch)
        self.body, (oh, ow) = conv_stack(2, width, self.stem.size, width=width, depth=depth, kernel=kernel, pool=True)
        self.readout = readout
        self.dim = width * (1 if readout == "avg" else oh * ow)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None):
        b, t = x.shape[:2]
        maps = self.body(self.stem(x.flatten(0, 1)))  # (B*T, width, H', W')
        f = maps.mean((2, 3)) if self.readout == "avg" else maps.flatten(1)
        return f.view(b, t, -1), lengths  # (B, T, D)


class ColumnEncoder(nn.Module):
    """A 2-D CNN over a picture whose columns are time: (B, C, H, W) -> (B, W', D), one vector per column.

    This is the audio CRNN's front: on a spectrogram (mel bands up the rows, frames along the columns) the
    filters see a patch of frequencies over a few frames, and the recurrent network then reads the columns in
    time order. A sequence of feature frames (B, T, F), such as MFCCs or a multivariate series, is read as the
    1-channel picture (F, T), the way a spectrogram is drawn. A ``patch`` stem (narrowed to a side shorter than
    the patch: a univariate series is a 1-row picture), then ``depth`` blocks of conv -> ReLU -> max-pool 2 along
    each axis still at least 2 long, so a long series reaches the recurrent network shortened by patch x 2^depth.
    ``readout="flatten"`` gives each column its channels x rows (where in frequency), ``"avg"`` the mean over rows.
    """

    def __init__(self, spec: Spec, width: int, depth: int, kernel: int, patch: int, readout: str):
        super().__init__()
        self.frames = spec.modality != "image"
        if self.frames:
            self.inputs = AsSequence(spec)
            c, h, w = 1, self.inputs.channels, self.inputs.length
        else:
            c, h, w = spec.input_shape
        self.stem = PatchStem((c, h, w), width, (max(1, min(patch, h)), max(1, min(patch, w))))
        layers: list[nn.Module] = []
        (h, w), self.stride = self.stem.size, self.stem.patch[1]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, kernel, padding=kernel // 2), nn.ReLU()]
            pool = (2 if h >= 2 else 1, 2 if w >= 2 else 1)
            if max(pool) > 1:
                layers.append(nn.MaxPool2d(pool))
                h, w, self.stride = h // pool[0], w // pool[1], self.stride * pool[1]
        self.body = nn.Sequential(*layers)
        self.readout = readout
        self.dim = width * (1 if readout == "avg" else h)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None):
        if self.frames:
            x = self.inputs(x)  # (B, T, F)
            mask = length_mask(lengths, x.shape[1], x.device)
            if mask is not None:  # padding reads as silence
                x = x * mask[..., None]
            x = x.transpose(1, 2).unsqueeze(1)  # (B, 1, F, T): the spectrogram picture
        maps = self.body(self.stem(x))  # (B, width, H', W')
        f = maps.mean(2) if self.readout == "avg" else maps.flatten(1, 2)  # (B, D, W')
        seq = f.transpose(1, 2)  # (B, W', D): columns in time order
        if lengths is not None:
            lengths = (lengths // self.stride).clamp(1, seq.shape[1])
        return seq, lengths
