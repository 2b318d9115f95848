"""Recurrent networks: a vanilla tanh RNN, the LSTM and the GRU, each feeding its state back into itself."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ..data.spec import Spec
from . import MODELS
from .base import AsSequence, Model, last_valid, length_mask, make_head

SEQ = ("sequence", "image", "text", "video")


def reverse_within(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence's real steps, leaving padding at the end: (B, L, C) -> (B, L, C)."""
    if lengths is None:
        return x.flip(1)
    L = x.shape[1]
    t = torch.arange(L, device=x.device)[None, :]
    n = lengths.to(x.device)[:, None]
    idx = torch.where(t < n, n - 1 - t, t)  # (B, L)
    return x.gather(1, idx[..., None].expand_as(x))


class FastGRU(nn.Module):
    """A GRU with PyTorch's equations, written as one loop over time for CPU speed.

    ``nn.GRU`` runs about 90 small operations per time step on the CPU; this loop projects every
    input step at once with one matrix product and then needs one batched product and a handful of
    element-wise operations per step, with both directions of a bidirectional layer in the same
    product. Weights use nn.GRU's layout (gates r, z, n), so the two are interchangeable (tested).
    """

    def __init__(self, input_size: int, hidden: int, layers: int = 1, bidirectional: bool = False):
        super().__init__()
        self.hidden, self.layers, self.dirs = hidden, layers, 2 if bidirectional else 1
        self.weight_ih, self.weight_hh = nn.ParameterList(), nn.ParameterList()
        self.bias_ih, self.bias_hh = nn.ParameterList(), nn.ParameterList()
        for layer in range(layers):
            fan_in = input_size if layer == 0 else hidden * self.dirs
            self.weight_ih.append(nn.Parameter(torch.empty(self.dirs, 3 * hidden, fan_in)))
            self.weight_hh.append(nn.Parameter(torch.empty(self.dirs, 3 * hidden, hidden)))
            self.bias_ih.append(nn.Parameter(torch.empty(self.dirs, 3 * hidden)))
            self.bias_hh.append(nn.Parameter(torch.empty(self.dirs, 3 * hidden)))
        bound = 1 / math.sqrt(hidden)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, C) -> outputs (B, L, dirs*H) and the final states (B, dirs*H) of the last layer."""
        H = self.hidden
        for layer in range(self.layers):
            streams = [x] if self.dirs == 1 else [x, reverse_within(x, lengths)]
            seq = torch.stack(streams)  # (D, B, L, C)
            gi = torch.einsum("dblc,dgc->dblg", seq, self.weight_ih[layer]) + self.bias_ih[layer][:, None, None]
            w_hh = self.weight_hh[layer].transpose(1, 2)  # (D, H, 3H)
            b_hh = self.bias_hh[layer][:, None]  # (D, 1, 3H)
            h = x.new_zeros(self.dirs, x.shape[0], H)
            outs = []
            for g in gi.unbind(2):  # g: (D, B, 3H); unbind avoids zero-filling gi's gradient each step
                gh = torch.baddbmm(b_hh, h, w_hh)  # (D, B, 3H)
                rz = torch.sigmoid(g[..., : 2 * H] + gh[..., : 2 * H])
                r, z = rz[..., :H], rz[..., H:]
                n = torch.tanh(g[..., 2 * H :] + r * gh[..., 2 * H :])
                h = n + z * (h - n)
                outs.append(h)
            out = torch.stack(outs, 2)  # (D, B, L, H) in each stream's own time order
            final = [last_valid(out[d], lengths) for d in range(self.dirs)]
            aligned = [out[0]] if self.dirs == 1 else [out[0], reverse_within(out[1], lengths)]
            x = torch.cat(aligned, -1)  # (B, L, D*H)
        return x, torch.cat(final, -1)


class Recurrent(Model):
    """Shared body of the recurrent family: read the input as a sequence, run the cell, read out."""

    cell = "rnn"
    train_defaults = {"lr": 3e-3, "clip": 1.0}

    def __init__(
        self,
        spec: Spec,
        *,
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = False,
        readout: Literal["last", "mean"] = "last",
        dropout: float = 0.0,
    ):
        super().__init__(spec)
        self.inputs = AsSequence(spec)
        self.readout = readout
        if self.cell == "gru":
            self.rnn = FastGRU(self.inputs.channels, hidden, layers, bidirectional)
        else:
            Cell = {"rnn": nn.RNN, "lstm": nn.LSTM}[self.cell]
            self.rnn = Cell(self.inputs.channels, hidden, layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        dim = hidden * (2 if bidirectional else 1)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = make_head(spec, dim)

    def run(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step outputs (B, L, D) and the final state (B, D) of the last layer."""
        seq = self.inputs(x)
        if isinstance(self.rnn, FastGRU):
            return self.rnn(seq, lengths)
        if lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(seq, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=seq.shape[1])
        else:
            out, state = self.rnn(seq)
        h = state[0] if isinstance(state, tuple) else state  # (layers*D, B, H)
        dirs = 2 if self.rnn.bidirectional else 1
        return out, torch.cat(list(h[-dirs:]), -1)

    def forward_features(self, x, lengths=None):
        out, final = self.run(x, lengths)
        if self.readout == "mean":
            mask = length_mask(lengths, out.shape[1], out.device)
            final = out.mean(1) if mask is None else (out * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return self.drop(final)


@MODELS.register("rnn", accepts=SEQ, family="recurrent")
class VanillaRNN(Recurrent):
    """Vanilla (Elman) RNN: h_t = tanh(W x_t + U h_{t-1} + b); the output is fed back as the next state.

    Use when: teaching, or for short sequences. Its gradient shrinks (or explodes) through every step,
    so it forgets inputs more than a few dozen steps back: the primer's "memory loss". Alternatives:
    LSTM or GRU for long memory, a 1-D CNN for local patterns. Cost: hidden^2 per step, sequential
    in time, so long sequences are slow.
    """

    cell = "rnn"


@MODELS.register("lstm", accepts=SEQ, family="recurrent")
class LSTM(Recurrent):
    """Long short-term memory: a cell state guarded by input, forget and output gates.

    Use when: the answer depends on inputs far back in the sequence (the gates let the gradient flow
    through hundreds of steps). Alternatives: the GRU (fewer weights, similar memory), attention (all
    positions at once), a 1-D CNN when patterns are local. Cost: 4 x hidden^2 per step; on a CPU
    PyTorch runs it as one fused kernel, so it is faster than its FLOPs suggest.
    """

    cell = "lstm"


@MODELS.register("gru", accepts=SEQ, family="recurrent")
class GRU(Recurrent):
    """Gated recurrent unit: an LSTM simplified to two gates (reset, update) and no separate cell.

    Use when: as for the LSTM, with fewer weights. An image is read row by row, text token by token.
    Cost: 3 x hidden^2 per step, sequential in time.
    """

    cell = "gru"
