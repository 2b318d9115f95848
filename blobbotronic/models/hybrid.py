"""CNN + RNN hybrids: a convolutional front end finds local features, a recurrent network reads them in order."""

from __future__ import annotations

from typing import Literal

from ..data.spec import Spec
from . import MODELS
from .base import AsSequence, Model, length_mask, make_head
from .cells import make_cell, run_cell
from .cnn import conv_stack


@MODELS.register("cnn_rnn", accepts=("sequence", "image", "text"), family="hybrid")
class CNNRNN(Model):
    """Convolutions feeding a recurrent network (a CRNN): local patterns first, their order second.

    Use when: a signal has local motifs whose order or long-range arrangement matters (speech
    frames, handwriting, long series: the convolutions with pooling shorten the sequence the RNN must
    carry). Images are convolved in 2-D, then their columns are read left to right. Alternatives: a
    pure CNN when order matters little, a pure LSTM for short inputs. Cost: the CNN's plus the RNN's
    on a sequence shortened by 2 per pooled block.
    """

    train_defaults = {"lr": 3e-3, "clip": 1.0}

    def __init__(
        self,
        spec: Spec,
        *,
        width: int = 32,
        depth: int = 2,
        kernel: int = 0,
        pool: bool = True,
        cell: Literal["lstm", "gru", "mingru", "minlstm"] = "lstm",
        hidden: int = 64,
        bidirectional: bool = False,
    ):
        super().__init__(spec)
        self.dims = 2 if spec.modality == "image" else 1
        kernel = kernel or (3 if self.dims == 2 else 5)
        self.pools = depth if pool else 0
        if self.dims == 2:
            c, h, w = spec.input_shape
            self.body, (oh, _) = conv_stack(2, c, (h, w), width=width, depth=depth, kernel=kernel, pool=pool)
            rnn_in = width * oh
        else:
            self.inputs = AsSequence(spec)
            self.body, _ = conv_stack(1, self.inputs.channels, (self.inputs.length,), width=width, depth=depth,
                                      kernel=kernel, pool=pool)
            rnn_in = width
        self.rnn = make_cell(cell, rnn_in, hidden, bidirectional)
        self.head = make_head(spec, hidden * (2 if bidirectional else 1))

    def forward_features(self, x, lengths=None):
        if self.dims == 2:
            maps = self.body(x)  # (B, C, H', W')
            seq = maps.permute(0, 3, 1, 2).flatten(2)  # (B, W', C*H'): columns left to right
            lengths = None
        else:
            x = self.inputs(x)
            mask = length_mask(lengths, x.shape[1], x.device)
            if mask is not None:
                x = x * mask[..., None]
            seq = self.body(x.transpose(1, 2)).transpose(1, 2)  # (B, L', C)
            if lengths is not None:  # pooling shortens every sequence by the same factor
                lengths = (lengths // (2**self.pools)).clamp(1, seq.shape[1])
        return run_cell(self.rnn, seq, lengths)[1]
