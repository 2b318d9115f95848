"""Recurrent networks: a vanilla tanh RNN, the LSTM and the GRU, each feeding its state back into itself."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ..data.spec import Spec
from ..errors import BlobError
from . import MODELS, native
from .base import (BIGRAM_BUCKETS, TEXT_EMBED_DROPOUT, TEXT_TOKEN_DROPOUT, TEXT_TRAIN_DEFAULTS, AsSequence, Model,
                   last_valid, length_mask, make_head, pool_time)

SEQ = ("sequence", "image", "text", "video")
TASKS = ("classify", "regress", "forecast", "tag")  # tag: one output per step (copy memory, entity tags)
# The most steps a recurrent model reads one at a time by default. A longer series is read in frames of
# ceil(L / 256) consecutive steps (their values side by side), as speech is read in frames of samples: the
# recurrence then runs 256 steps or fewer. Unframed, an LSTM over ACSF1's 1,460 steps took 500 CPU-s a run and
# reached 0.47 test accuracy (3 seeds); see docs/experiments/training-policy.md for the framed numbers.
# Data whose steps are the task's atomic symbols (the adding problem, copy memory, digits read pixel by pixel:
# ``spec.extra["stepwise"]``) are never framed by default: reading them one step at a time is the point.
MAX_STEPS = 256


def frame_size(spec: Spec, frame: int) -> int:
    """Steps per recurrent input step: ``frame`` when set (>= 1); for 0 ("auto"), ceil(L / MAX_STEPS) on series
    longer than MAX_STEPS that are not step-wise tasks, else 1. Images, text and video are never framed."""
    if frame:
        return frame
    if spec.modality != "sequence" or spec.extra.get("stepwise") or spec.task == "tag":
        return 1
    return max(1, math.ceil(spec.input_shape[0] / MAX_STEPS))


def to_frames(x: torch.Tensor, lengths: torch.Tensor | None,
              f: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, L, C) -> (B, ceil(L/f), f*C), zero-padded at the end, and each sequence's length in frames."""
    if f == 1:
        return x, lengths
    B, L, C = x.shape
    pad = -L % f
    if pad:
        x = nn.functional.pad(x, (0, 0, 0, pad))
    x = x.reshape(B, (L + pad) // f, f * C)
    return x, None if lengths is None else torch.div(lengths + f - 1, f, rounding_mode="floor")


def reverse_within(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence's real steps, leaving padding at the end: (B, L, C) -> (B, L, C)."""
    if lengths is None:
        return x.flip(1)
    L = x.shape[1]
    t = torch.arange(L, device=x.device)[None, :]
    n = lengths.to(x.device)[:, None]
    idx = torch.where(t < n, n - 1 - t, t)  # (B, L)
    return x.gather(1, idx[..., None].expand_as(x))


class GRUScan(torch.autograd.Function):
    """The GRU recurrence over precomputed input projections, with a hand-written backward pass.

    Autograd would record about a dozen nodes per time step; here the forward saves the gates once
    and the backward walks time in reverse with one batched matrix product per step, then forms the
    recurrent weights' gradient with a single product over all steps. Checked by gradcheck.
    Shapes: gi (L, D, B, 3H) with gates r, z, n; w_hh (D, 3H, H); b_hh (D, 3H) -> states (L, D, B, H).
    """

    @staticmethod
    def forward(ctx, gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        L, D, B, G = gi.shape
        H = G // 3
        wt, bias = w_hh.transpose(1, 2), b_hh[:, None]
        h = gi.new_zeros(D, B, H)
        outs, ns, ghn = gi.new_empty(L, D, B, H), gi.new_empty(L, D, B, H), gi.new_empty(L, D, B, H)
        rzs = gi.new_empty(L, D, B, 2 * H)
        for t in range(L):
            gh = torch.baddbmm(bias, h, wt)  # (D, B, 3H)
            g = gi[t]
            rz = torch.sigmoid(g[..., : 2 * H] + gh[..., : 2 * H], out=rzs[t])
            ghn[t] = gh[..., 2 * H :]
            n = torch.tanh(torch.addcmul(g[..., 2 * H :], rz[..., :H], ghn[t]), out=ns[t])
            h = torch.lerp(n, h, rz[..., H:])  # (1 - z) * n + z * h
            outs[t] = h
        ctx.save_for_backward(w_hh, outs, rzs, ns, ghn)
        return outs

    @staticmethod
    def backward(ctx, dout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w_hh, outs, rzs, ns, ghn = ctx.saved_tensors
        L, D, B, H = outs.shape
        dgh, dgi = dout.new_empty(L, D, B, 3 * H), dout.new_empty(L, D, B, 3 * H)
        dh, zero = dout.new_zeros(D, B, H), dout.new_zeros(D, B, H)
        for t in range(L - 1, -1, -1):
            dh = dh + dout[t]
            h_prev = outs[t - 1] if t else zero
            rz, n = rzs[t], ns[t]
            r, z = rz[..., :H], rz[..., H:]
            dn_pre = dh * (1 - z) * (1 - n * n)  # through tanh
            drz = torch.cat([dn_pre * ghn[t], dh * (h_prev - n)], -1) * rz * (1 - rz)  # through sigmoid
            dgi[t, ..., : 2 * H] = drz
            dgi[t, ..., 2 * H :] = dn_pre
            dgh[t, ..., : 2 * H] = drz
            dgh[t, ..., 2 * H :] = dn_pre * r
            dh = torch.baddbmm(dh * z, dgh[t], w_hh)  # to h_{t-1}: directly and through W_hh
        h_prev_all = torch.cat([outs.new_zeros(1, D, B, H), outs[:-1]])
        dw = torch.bmm(dgh.permute(1, 3, 0, 2).reshape(D, 3 * H, L * B), h_prev_all.permute(1, 0, 2, 3).reshape(D, L * B, H))
        return dgi, dw, dgh.sum((0, 2))


def gru_scan_plain(gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """GRUScan's forward in standard operations only, for exporters (ONNX, TorchScript tracing) that cannot
    trace a custom autograd.Function. Same shapes and equations; autograd would differentiate it, slowly."""
    L, D, B, G = gi.shape
    H = G // 3
    wt, bias = w_hh.transpose(1, 2), b_hh[:, None]
    h = gi.new_zeros(D, B, H)
    outs = []
    for t in range(L):
        gh = torch.baddbmm(bias, h, wt)  # (D, B, 3H)
        rz = torch.sigmoid(gi[t, ..., : 2 * H] + gh[..., : 2 * H])
        n = torch.tanh(gi[t, ..., 2 * H :] + rz[..., :H] * gh[..., 2 * H :])
        h = n + rz[..., H:] * (h - n)  # (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs)  # (L, D, B, H)


def exporting() -> bool:
    """True while a model is being traced or exported (ONNX, TorchScript, torch.export)."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting()


class FastGRU(nn.Module):
    """A GRU with PyTorch's equations, written for CPU speed.

    ``nn.GRU`` runs about 90 small operations per time step on the CPU. Here every input step is
    projected at once with one product, both directions of a bidirectional layer share each batched
    product, and the recurrence has a hand-written backward (GRUScan). Weights use nn.GRU's layout
    (gates r, z, n), so the two are interchangeable (tested against nn.GRU).
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

    def _project(self, seq: torch.Tensor, layer: int) -> torch.Tensor:
        """Every step's input projection at once, one batched product: (D, B, L, C) -> an (L, D, B, 3H) view of
        a (D, B, L, 3H) tensor (the product's own order: no transposing copy, forward or backward)."""
        D, B, L, C = seq.shape
        w, b = self.weight_ih[layer], self.bias_ih[layer]
        gi = torch.baddbmm(b[:, None], seq.reshape(D, B * L, C), w.transpose(1, 2))  # (D, B*L, 3H)
        return gi.view(D, B, L, -1).permute(2, 0, 1, 3)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, C) -> outputs (B, L, dirs*H) and the final states (B, dirs*H) of the last layer."""
        for layer in range(self.layers):
            streams = [x] if self.dirs == 1 else [x, reverse_within(x, lengths)]
            seq = torch.stack(streams)  # (D, B, L, C)
            if exporting():
                scan, gi = gru_scan_plain, self._project(seq, layer).contiguous()
            elif native.usable(seq, self.weight_hh[layer]):
                # the same recurrence, compiled (models/rnn_scan.cpp); it reads gi in the projection's order
                scan, gi = native.NativeGRUScan.apply, self._project(seq, layer)
            else:
                scan, gi = GRUScan.apply, self._project(seq, layer).contiguous()
            out = scan(gi, self.weight_hh[layer], self.bias_hh[layer])  # (L, D, B, H)
            out = out.permute(1, 2, 0, 3)  # (D, B, L, H), each stream in its own time order
            final = [last_valid(out[d], lengths) for d in range(self.dirs)]
            aligned = [out[0]] if self.dirs == 1 else [out[0], reverse_within(out[1], lengths)]
            x = torch.cat(aligned, -1)  # (B, L, D*H)
        return x, torch.cat(final, -1)


_FUSED = {"LSTM": torch.lstm, "GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}


def _both_ways_over_padding(rnn: nn.RNNBase, seq: torch.Tensor,
                            lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A bidirectional PyTorch RNN over a padded batch without packing: each layer runs its forward weights over
    the batch as it is, and its reverse weights over each sequence reversed within its length (padding stays
    behind the real steps, so it never reaches them), each through the fused one-way kernel. The packed
    numbers, faster: a packed batch runs the kernel step by step on shrinking batches (glyph_cnn_lstm on
    chinese_sentiment, 40 training steps, one thread: 26.4 s packed against 17.3 s)."""
    run = _FUSED[rnn.mode]
    B, L = seq.shape[:2]
    mask = length_mask(lengths, L, seq.device)[..., None]
    x, finals = seq, []
    for layer in range(rnn.num_layers):
        outs = []
        for suffix in ("", "_reverse"):
            names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
            if rnn.bias:
                names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
            params = [getattr(rnn, n) for n in names]
            inp = x if not suffix else reverse_within(x, lengths)
            h0 = inp.new_zeros(1, B, rnn.hidden_size)
            hx = (h0, h0) if rnn.mode == "LSTM" else h0
            out = run(inp, hx, params, rnn.bias, 1, 0.0, rnn.training, False, True)[0]
            outs.append(out if not suffix else reverse_within(out, lengths))
        x = torch.cat(outs, -1) * mask  # (B, L, 2H), padding zeroed as packing leaves it
        finals = [last_valid(outs[0], lengths), outs[1][:, 0]]  # forward ends at the last step, reverse at the first
        if rnn.dropout and rnn.training and layer < rnn.num_layers - 1:
            x = nn.functional.dropout(x, rnn.dropout, training=True)
    return x, torch.cat(finals, -1)


def _lstm_layer(streams: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One LSTM layer on the compiled kernel: streams (D, B, L, C) -> states (D, B, L, H)."""
    out = native.NativeLSTM.apply(streams.permute(0, 2, 1, 3), w_ih, w_hh, bias)  # time-major: (D, L, B, H)
    return out.permute(0, 2, 1, 3)


def _tanh_rnn_layer(streams: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One vanilla (tanh) RNN layer on the compiled kernel: every step's input projected at once, both biases in
    it, in the product's own (D, B, L, H) order, which the kernel reads as it is; -> states (D, B, L, H)."""
    D, B, L, C = streams.shape
    gi = torch.baddbmm(bias[:, None], streams.reshape(D, B * L, C), w_ih.transpose(1, 2)).view(D, B, L, -1)
    return native.NativeRNN.apply(gi.permute(2, 0, 1, 3), w_hh).permute(1, 2, 0, 3)


_NATIVE_LAYERS = {"LSTM": _lstm_layer, "RNN_TANH": _tanh_rnn_layer}


def _native_layers(rnn: nn.RNNBase, seq: torch.Tensor,
                   lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.LSTM's or nn.RNN's numbers from its own parameters on the compiled kernels (models/rnn_scan.cpp): each
    layer projects every step's input at once, both directions share the kernel call, and the batch is split
    across threads. A reverse direction reads each sequence reversed within its length, so padding never reaches
    real steps."""
    L = seq.shape[1]
    x, final = seq, None
    layer_fn = _NATIVE_LAYERS[rnn.mode]
    sfx = ["", "_reverse"][: 2 if rnn.bidirectional else 1]
    for layer in range(rnn.num_layers):
        w_ih, w_hh, b_ih, b_hh = (torch.stack([getattr(rnn, f"{n}_l{layer}{s}") for s in sfx])
                                  for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        streams = torch.stack([x] if len(sfx) == 1 else [x, reverse_within(x, lengths)])  # (D, B, L, C)
        out = layer_fn(streams, w_ih, w_hh, b_ih + b_hh)  # (D, B, L, H), each stream in its own time order
        final = torch.cat([last_valid(out[d], lengths) for d in range(len(sfx))], -1)
        x = out[0] if len(sfx) == 1 else torch.cat([out[0], reverse_within(out[1], lengths)], -1)  # (B, L, D*H)
        if rnn.dropout and rnn.training and layer < rnn.num_layers - 1:
            x = nn.functional.dropout(x, rnn.dropout, training=True)
    if lengths is not None:
        x = x * length_mask(lengths, L, x.device)[..., None]  # padding's outputs zeroed, as packing leaves them
    return x, final


def run_rnn(rnn: nn.Module, seq: torch.Tensor,
            lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run FastGRU, nn.LSTM, nn.GRU or nn.RNN (batch_first) over (B, L, C): per-step outputs (B, L, D*H)
    and the final state of the last layer (B, D*H) at each sequence's last real step.

    FastGRU, nn.LSTM and nn.RNN (tanh) run on the compiled kernels where they are built (models/native.py; the LSTM
    and RNN from their own parameters, with PyTorch's numbers); otherwise PyTorch's modules run over the padded
    batch through their fused kernels (one way as it is, both ways with each direction apart), and only a projected
    LSTM is packed so that its kernel stops at each sequence's length."""
    if isinstance(rnn, FastGRU):
        return rnn(seq, lengths)
    if (isinstance(rnn, (nn.LSTM, nn.RNN)) and rnn.mode in _NATIVE_LAYERS and rnn.bias and not rnn.proj_size
            and rnn.batch_first and native.usable(seq, rnn.weight_hh_l0)):
        return _native_layers(rnn, seq, lengths)
    if lengths is not None and not rnn.bidirectional:
        # One way, the steps past a sequence's end change nothing before it: the fused kernel over the padded batch
        # gives the packed numbers 3x faster (LSTM, 100 texts of up to 150 characters, one thread: 0.27 against
        # 0.83 s a step forward and back), and ONNX has no packed sequences. Padding's outputs are zeroed as packing's.
        out, _ = rnn(seq)
        mask = length_mask(lengths, out.shape[1], out.device)
        return out * mask[..., None], last_valid(out, lengths)
    if lengths is not None and rnn.mode in _FUSED and not rnn.proj_size:
        return _both_ways_over_padding(rnn, seq, lengths)
    if lengths is not None:
        packed = nn.utils.rnn.pack_padded_sequence(seq, lengths.cpu().clamp_min(1), batch_first=True,
                                                   enforce_sorted=False)
        out, state = rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=seq.shape[1])
    else:
        out, state = rnn(seq)
    h = state[0] if isinstance(state, tuple) else state  # (layers*D, B, H)
    dirs = 2 if rnn.bidirectional else 1
    return out, torch.cat(list(h[-dirs:]), -1)


class Recurrent(Model):
    """Shared body of the recurrent family: read the input as a sequence, run the cell, read out.

    ``readout="auto"`` reads the last real step's state, except on text, where it averages the outputs over
    the real steps; the tag task gets one output per step. ``frame``: read this many consecutive steps as one (0: auto, frames only on series longer
    than MAX_STEPS, see above). Text only: each token's embedding plus a hashed embedding of the pair it ends
    (``bigrams`` buckets, 0 for none), ``embed_dropout`` on them, ``token_dropout`` of whole tokens, and weight
    decay 1.0 at lr 3e-3 (TEXT_TRAIN_DEFAULTS in models/base.py).
    """

    cell = "rnn"
    # A constant rate: recurrent nets sit on a plateau before they "click", and a cosine decay lowered the rate
    # before they left it (MNIST-1D, 1,500 steps, seeds 0/1: LSTM 0.726/0.715 cosine, 0.902/0.925 constant;
    # GRU 0.845/0.898 against 0.947/0.956). At 6,000 steps constant was as good (GRU seed 1: 0.973 vs 0.969).
    # The best validation weights are kept either way, so the constant rate's last noisy steps cost nothing.
    train_defaults = {"lr": 3e-3, "clip": 1.0, "schedule": "constant"}

    def __init__(
        self,
        spec: Spec,
        *,
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = False,
        readout: Literal["auto", "last", "mean", "max"] = "auto",
        dropout: float = 0.0,
        bigrams: int = BIGRAM_BUCKETS,
        embed_dropout: float = TEXT_EMBED_DROPOUT,
        token_dropout: float = TEXT_TOKEN_DROPOUT,
        frame: int = 0,
    ):
        super().__init__(spec)
        if frame > 1 and spec.task == "tag":
            raise BlobError(f"{type(self).__name__.lower()}: frame={frame} cannot serve the tag task of "
                            f"{spec.name!r}, which needs one output per step; use frame=1 or leave it at 0 (auto).")
        self.inputs = AsSequence(spec, bigrams=bigrams, embed_dropout=embed_dropout, token_dropout=token_dropout)
        self.frame = frame_size(spec, frame)  # 1 for the tag task: one output per step
        self.per_step = spec.task == "tag"
        self.readout = readout if readout != "auto" else ("mean" if spec.modality == "text" else "last")
        if spec.modality == "text":
            self.train_defaults = {**self.train_defaults, **TEXT_TRAIN_DEFAULTS}
        if self.cell == "gru":
            self.rnn = FastGRU(self.inputs.channels * self.frame, hidden, layers, bidirectional)
        else:
            Cell = {"rnn": nn.RNN, "lstm": nn.LSTM}[self.cell]
            self.rnn = Cell(self.inputs.channels * self.frame, hidden, layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        dim = hidden * (2 if bidirectional else 1)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = make_head(spec, dim)

    def language_model_parts(self):
        """For language-model pretraining (train/pretrain.py): the text inputs, and the LSTM that reads them."""
        return self.inputs, (self.rnn if isinstance(self.rnn, nn.LSTM) else None)

    def run(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step outputs (B, L, D) and the final state (B, D) of the last layer."""
        return run_rnn(self.rnn, *to_frames(self.inputs(x), lengths, self.frame))

    def forward_features(self, x, lengths=None):
        out, final = self.run(x, lengths)
        if self.per_step:
            return self.drop(out)  # (B, L, D): the head maps each step
        if self.readout != "last":
            frames = None if lengths is None else torch.div(lengths + self.frame - 1, self.frame, rounding_mode="floor")
            final = pool_time(out, length_mask(frames, out.shape[1], out.device), self.readout)
        return self.drop(final)


@MODELS.register("rnn", accepts=SEQ, family="recurrent", tasks=TASKS)
class VanillaRNN(Recurrent):
    """Vanilla (Elman) RNN: h_t = tanh(W x_t + U h_{t-1} + b); the output is fed back as the next state.

    Use when: teaching, or for short sequences. Its gradient shrinks (or explodes) through every step,
    so it forgets inputs more than a few dozen steps back: the primer's "memory loss". Alternatives:
    LSTM or GRU for long memory, a 1-D CNN for local patterns. Cost: hidden^2 per step, sequential
    in time, so long sequences are slow.
    """

    cell = "rnn"


@MODELS.register("lstm", accepts=SEQ, family="recurrent", tasks=TASKS)
class LSTM(Recurrent):
    """Long short-term memory: a cell state guarded by input, forget and output gates.

    Use when: the answer depends on inputs far back in the sequence (the gates let the gradient flow
    through hundreds of steps). Alternatives: the GRU (fewer weights, similar memory), attention (all
    positions at once), a 1-D CNN when patterns are local. Cost: 4 x hidden^2 per step, sequential in
    time; on a CPU it runs on blobbotronic's compiled kernels (the batch split across threads).
    """

    cell = "lstm"


@MODELS.register("gru", accepts=SEQ, family="recurrent", tasks=TASKS)
class GRU(Recurrent):
    """Gated recurrent unit: an LSTM simplified to two gates (reset, update) and no separate cell.

    Use when: as for the LSTM, with fewer weights. An image is read row by row, text token by token.
    Cost: 3 x hidden^2 per step, sequential in time.
    """

    cell = "gru"
