"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): recurrent networks trained by a parallel scan.

The GRU's and LSTM's gates read the previous state h_{t-1}, so step t must wait for step t-1. Drop that
dependence and let the gates read only the input x_t, and the recurrence becomes linear in the state:

    minGRU   z_t = sigmoid(W_z x_t),  h~_t = g(W_h x_t),  h_t = (1 - z_t) * h_{t-1} + z_t * h~_t
    minLSTM  f_t, i_t = sigmoid(W_f x_t), sigmoid(W_i x_t),  f'_t, i'_t = f_t / (f_t + i_t), i_t / (f_t + i_t),
             h_t = f'_t * h_{t-1} + i'_t * h~_t

h_t = a_t * h_{t-1} + b_t with a_t, b_t known for every step at once: h_t = sum_{k<=t} (prod_{k<j<=t} a_j) b_k.
In log space that is log h_t = A_t + logcumsumexp_k(log b_k - A_k) with A_t = sum_{j<=t} log a_j (h_0 = 0),
one cumulative sum and one cumulative log-sum-exp over time instead of a loop (``log_scan``, the paper's form,
used on accelerators). The candidate state goes through g(x) = x + 0.5 for x >= 0 and sigmoid(x) below, so that it
is positive and has a logarithm. On a CPU, where PyTorch's logcumsumexp is slow and there are no thousands of
parallel lanes to fill, the same recurrence runs as an element-wise loop: a compiled kernel that fuses the gates'
activations into it, forward and backward (minrnn_native.py), or where that is not built or under vmap, a loop of
PyTorch operations with a hand-written backward (``LerpScan``); either way every matrix product is done for all
steps at once, outside the loop. Layers stack: each layer's states are the next one's inputs, which is where the
model gets the non-linear memory that one linear recurrence lacks. ``step_by_step`` runs the paper's equations one
step at a time: the reference every scan is tested against, and the form exporters trace.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.functional import softplus

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
    length_mask,
    make_head,
    pool_time,
)
from .minrnn_native import native_scan, usable
from .rnn import exporting, reverse_within

SEQ = ("sequence", "image", "text", "video")
# Without gradients (validation checks, predictions) a large batch runs in slices of rows whose widest projection
# stays under this many bytes: a whole validation split at once (399 series of 1,000 steps) made blocks of 100-200 MB,
# above glibc's mmap threshold, page-faulted in afresh at every call (one thread: 241 ms a check; in slices, 150).
INFERENCE_BYTES = 16 * 2**20
TASKS = ("classify", "regress", "forecast", "tag")  # tag: one output per step


def g(x: torch.Tensor) -> torch.Tensor:
    """x + 0.5 for x >= 0, sigmoid(x) below: continuous, increasing and always positive. Written as
    relu(x) + sigmoid(min(x, 0)): three operations instead of a select between two computed branches."""
    return torch.relu(x) + torch.sigmoid(x.clamp_max(0))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), computed without forming g(x) where it underflows (log sigmoid(x) = -softplus(-x))."""
    return torch.where(x >= 0, (x.clamp_min(0) + 0.5).log(), -softplus(-x))


def log_scan(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t from h_0 = 0 for every t at once, in log space (the paper's form): (L, ..., H) in,
    time first, log a and log b -> h. One cumulative sum and one cumulative log-sum-exp over time."""
    a_star = log_a.cumsum(0)  # A_t = log of prod_{j<=t} a_j
    return (a_star + torch.logcumsumexp(log_b - a_star, 0)).exp()


class LerpScan(torch.autograd.Function):
    """h_t = (1 - z_t) h_{t-1} + z_t v_t from h_0 = 0, time first (L, ..., H): an element-wise loop, its own backward.

    Both cells are this recurrence (minGRU: z the update gate, v the candidate; minLSTM: z = i'_t, as f'_t = 1 - i'_t),
    the same function as ``log_scan`` (tested). On a CPU it is the faster of the two: nothing in the loop is a matrix
    product, so 1,000 steps over a (100, 64) state cost about 16 ms forward, where ``torch.logcumsumexp`` alone took
    180 ms forward and 580 ms forward and back for the same tensor (one thread, measured). The backward is the same
    recurrence in reverse: G_t = dh_t + (1 - z_{t+1}) G_{t+1}, then dz_t = G_t (v_t - h_{t-1}) and dv_t = G_t z_t.
    Under ``vmap`` (seeds trained as one stack, train/batched.py) the seeds become one more batch dimension of a
    single scan, so each step stays one operation however many seeds run.
    """

    @staticmethod
    def forward(z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        h, out = torch.zeros_like(v[0]), []
        for z_t, v_t in zip(z.unbind(0), v.unbind(0), strict=True):
            h = torch.lerp(h, v_t, z_t)
            out.append(h)
        return torch.stack(out)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs, output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z, v, h = ctx.saved_tensors
        steps, keep = grad.unbind(0), (1 - z[1:]).unbind(0)
        acc, back = steps[-1], [steps[-1]]
        for t in range(len(steps) - 2, -1, -1):
            acc = torch.addcmul(steps[t], keep[t], acc)
            back.append(acc)
        total = torch.stack(back[::-1])  # G_t: the loss's gradient through h_t, from every later step too
        # G_t decays by (1 - z) a step going back: a loss read at the last step alone takes it near the smallest
        # normal float a few hundred steps earlier, and the products of such values are subnormal numbers, which ran
        # 40x slower here (the weight gradient of the adding problem at T=200: 50 ms against 1.2 ms). Values under
        # 2**32 times the smallest normal float (5e-29 in float32) are set to zero: 20 orders of magnitude below
        # anything that can move a float32 weight, and far enough above it that products stay normal.
        total.masked_fill_(total.abs() < torch.finfo(total.dtype).tiny * 2.0**32, 0.0)
        return total * torch.cat([v[:1], v[1:] - h[:-1]]), total * z

    @staticmethod
    def vmap(info, in_dims: tuple, z: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, int]:
        def seeds_second(t: torch.Tensor, dim: int | None) -> torch.Tensor:  # (L, N, ...): time stays first
            n = info.batch_size
            return t.unsqueeze(1).expand(t.shape[0], n, *t.shape[1:]) if dim is None else t.movedim(dim, 1)

        h = LerpScan.apply(seeds_second(z, in_dims[0]), seeds_second(v, in_dims[1]))  # (L, N, ...)
        return h.movedim(1, 0).contiguous(), 0  # seeds first in memory, as the projections that follow expect


def parallel_scan(layer: MinGRULayer, x: torch.Tensor) -> torch.Tensor:
    """A layer's states (L, B, H) from its inputs (L, B, C), time first: the log-space scan on accelerators (every
    step at once), the compiled scan on the CPU (models/minrnn_native.py; LerpScan where it is not built or under
    vmap), the step-by-step loop while exporting (ONNX has no logcumsumexp)."""
    if exporting():
        return layer.step_by_step(x)
    if x.device.type == "cpu":
        if usable(x):
            return native_scan(layer, x)
        return LerpScan.apply(*layer.lerp_coefficients(x))
    return log_scan(*layer.log_coefficients(x))


def last_step(h: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """The state at each sequence's last real step, (L, B, H) -> (B, H): last_valid's numbers, read time first so
    that the gradient comes back time first too, in the scan's own layout (read through a (B, L, H) view, it came
    back transposed, and the kernel's strided reading of it cost a fifth of a 1,000-step minGRU backward)."""
    if lengths is None:
        return h[-1]
    last = (lengths.to(h.device) - 1).clamp_min(0)
    return h[last, torch.arange(h.shape[1], device=h.device)]


class MinGRULayer(nn.Module):
    """One minGRU layer, time first: (L, B, C) -> (L, B, H), one projection of every step's input, then the scan."""

    gates = 2  # z and the candidate

    def __init__(self, c_in: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.proj = nn.Linear(c_in, self.gates * hidden)

    def project(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each gate's pre-activation for every step, (L, B, C) -> ``gates`` tensors (L, B, H), each contiguous: one
        product per gate over its rows of the weight (a chunk of one product is strided, and element-wise operations
        on strided views ran 4x slower here). The steps are flattened into the rows of one product: with the seeds
        stacked (vmap), a 3-D input became one small product per seed and step, 60x slower."""
        flat = x.reshape(-1, x.shape[-1])  # (L*B, C): under vmap one product per seed, not one per step
        return [nn.functional.linear(flat, w, b).view(*x.shape[:-1], -1)
                for w, b in zip(self.proj.weight.chunk(self.gates), self.proj.bias.chunk(self.gates), strict=True)]

    def log_coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log a_t and log b_t of h_t = a_t h_{t-1} + b_t: (L, B, C) -> two (L, B, H)."""
        k, cand = self.project(x)
        return -softplus(k), -softplus(-k) + log_g(cand)  # log(1 - z), log(z) + log h~

    def lerp_coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z_t and v_t of h_t = (1 - z_t) h_{t-1} + z_t v_t: the update gate and the candidate."""
        k, cand = self.project(x)
        return torch.sigmoid(k), g(cand)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return parallel_scan(self, x)

    def step_by_step(self, x: torch.Tensor) -> torch.Tensor:
        """The same states from the paper's recurrence run one step at a time, plain autograd throughout."""
        k, cand = self.proj(x).chunk(2, -1)
        z, h_new = torch.sigmoid(k), g(cand)
        h, out = torch.zeros_like(h_new[0]), []
        for t in range(x.shape[0]):
            h = (1 - z[t]) * h + z[t] * h_new[t]
            out.append(h)
        return torch.stack(out)


class MinLSTMLayer(MinGRULayer):
    """One minLSTM layer: forget and input gates from x_t alone, normalised to sum to one."""

    gates = 3  # f, i and the candidate

    def log_coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kf, ki, cand = self.project(x)
        diff = softplus(-kf) - softplus(-ki)  # log i - log f
        return -softplus(diff), -softplus(-diff) + log_g(cand)  # log f/(f+i), log i/(f+i) + log h~

    def lerp_coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kf, ki, cand = self.project(x)
        logsig = nn.functional.logsigmoid
        return torch.sigmoid(logsig(ki) - logsig(kf)), g(cand)  # i' = i / (f + i), and f' = 1 - i'

    def step_by_step(self, x: torch.Tensor) -> torch.Tensor:
        kf, ki, cand = self.proj(x).chunk(3, -1)
        f, i, h_new = torch.sigmoid(kf), torch.sigmoid(ki), g(cand)
        f, i = f / (f + i), i / (f + i)
        h, out = torch.zeros_like(h_new[0]), []
        for t in range(x.shape[0]):
            h = f[t] * h + i[t] * h_new[t]
            out.append(h)
        return torch.stack(out)


class MinStack(nn.Module):
    """minGRU or minLSTM layers as a cell behind a hybrid's CNN (models/cells.py), batch first: (B, L, C) ->
    (states at every step (B, L, D*H); each sequence's state at its last real step (B, D*H)).
    Bidirectional runs a second stack over each sequence reversed within its length, so that padding stays behind
    the real steps in both directions and never reaches them."""

    def __init__(self, Layer: type[MinGRULayer], c_in: int, hidden: int, layers: int = 1,
                 bidirectional: bool = False):
        super().__init__()
        self.ways = nn.ModuleList(nn.Sequential(*(Layer(c_in if i == 0 else hidden, hidden) for i in range(layers)))
                                  for _ in range(2 if bidirectional else 1))

    def forward(self, seq: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        outs, finals = [], []
        for way, stack in enumerate(self.ways):
            x = reverse_within(seq, lengths) if way else seq
            h = stack(x.transpose(0, 1))  # (L, B, H): time first, as the layers compute
            finals.append(last_step(h, lengths))  # the reverse way ends at the sequence's first step
            out = h.transpose(0, 1)
            outs.append(reverse_within(out, lengths) if way else out)
        return torch.cat(outs, -1), torch.cat(finals, -1)


class MinRNN(Model):
    """Shared body of minGRU and minLSTM: read the input as a sequence, run the stacked layers, read out.

    Readouts as the recurrent family's (models/rnn.py): the last real step's state, or (``readout="auto"`` on text)
    the mean over real steps; the tag task gets one output per step. States at step t depend on steps 0..t only,
    so padding after a sequence's end never reaches its real steps.
    """

    Layer: type[MinGRULayer] = MinGRULayer
    # the recurrent family's settings: a constant rate (see Recurrent in models/rnn.py) and gradient clipping
    train_defaults = {"lr": 3e-3, "clip": 1.0, "schedule": "constant"}

    def __init__(
        self,
        spec: Spec,
        *,
        hidden: int = 64,
        layers: int = 2,
        readout: Literal["auto", "last", "mean", "max"] = "auto",
        dropout: float = 0.0,
        bigrams: int = BIGRAM_BUCKETS,
        embed_dropout: float = TEXT_EMBED_DROPOUT,
        token_dropout: float = TEXT_TOKEN_DROPOUT,
    ):
        super().__init__(spec)
        name = type(self).__name__.lower()
        if hidden < 1 or layers < 1:
            raise BlobError(f"{name}: hidden={hidden}, layers={layers}; give at least one unit and one layer.")
        self.inputs = AsSequence(spec, bigrams=bigrams, embed_dropout=embed_dropout, token_dropout=token_dropout)
        self.per_step = spec.task == "tag"
        self.readout = readout if readout != "auto" else ("mean" if spec.modality == "text" else "last")
        if spec.modality == "text":
            self.train_defaults = {**self.train_defaults, **TEXT_TRAIN_DEFAULTS}
        self.layers = nn.ModuleList(self.Layer(self.inputs.channels if i == 0 else hidden, hidden)
                                    for i in range(layers))
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = make_head(spec, hidden)

    def steps(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
              scan: Literal["auto", "log", "loop", "native", "steps"] = "auto") -> torch.Tensor:
        """The last layer's state at every step (B, L, hidden). ``scan`` picks how: the device's choice
        (parallel_scan), the log-space scan, LerpScan, the compiled CPU scan, or the step-by-step recurrence (the
        tests compare them)."""
        return self.time_first(x, scan).transpose(0, 1)

    def time_first(self, x: torch.Tensor, scan: str = "auto") -> torch.Tensor:
        """The last layer's states (L, B, hidden), time first as the layers compute them."""
        h = self.inputs(x).transpose(0, 1)  # (L, B, C): time first, so each step is one contiguous block
        for i, layer in enumerate(self.layers):
            if scan == "auto":
                h = layer(h)
            elif scan == "log":
                h = log_scan(*layer.log_coefficients(h))
            elif scan == "loop":
                h = LerpScan.apply(*layer.lerp_coefficients(h))
            elif scan == "native":
                h = native_scan(layer, h)
            else:
                h = layer.step_by_step(h)
            if i < len(self.layers) - 1:
                h = self.drop(h)
        return h

    def forward_features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        rows = max(1, INFERENCE_BYTES // (x.shape[1] * self.Layer.gates * self.layers[0].hidden * 4))
        if not torch.is_grad_enabled() and x.shape[0] > rows and usable(self.layers[0].proj.weight):  # compiled scan
            parts = [(x[i : i + rows], None if lengths is None else lengths[i : i + rows])
                     for i in range(0, x.shape[0], rows)]
            return torch.cat([self.forward_features(*part) for part in parts])
        h = self.time_first(x)
        if self.readout == "last" and not self.per_step:
            return self.drop(last_step(h, lengths))
        h = h.transpose(0, 1)  # (B, L, hidden)
        if self.per_step:
            return self.drop(h)  # the head maps each step
        return self.drop(pool_time(h, length_mask(lengths, h.shape[1], h.device), self.readout))


@MODELS.register("mingru", accepts=SEQ, family="recurrent", tasks=TASKS)
class MinGRU(MinRNN):
    """minGRU (Feng et al. 2024): a GRU whose update gate and candidate read only the input, trained by a parallel scan.

    Use when: long sequences make a GRU or LSTM slow to train: with no state inside the gates, every step's
    gates come from one matrix product and the recurrence is a cumulative log-sum-exp over time, so training
    costs about as much as a 1-D convolution per step instead of a sequential loop (``bench/train_speed.py
    --models mingru,gru --length 1000``). Memory: h_t = (1 - z_t) h_{t-1} + z_t h~_t keeps a value for as long as
    z stays near 0. One layer is a linear recurrence; stacked ``layers`` (default 2) give it non-linear memory.
    Alternatives: ``gru``/``lstm`` (gates that see the state), ``tcn`` (dilated convolutions), ``minlstm``;
    behind a CNN: ``cnn_rnn`` or ``crnn`` with ``cell=mingru``.
    Cost: 2 x hidden x (inputs + 1) weights per layer (a GRU has 3 x hidden x (inputs + hidden + 2)), all steps
    at once; about 6 values per step and unit are kept for the backward pass.
    """

    Layer = MinGRULayer


@MODELS.register("minlstm", accepts=SEQ, family="recurrent", tasks=TASKS)
class MinLSTM(MinRNN):
    """minLSTM (Feng et al. 2024): an LSTM whose forget and input gates read only the input, normalised to sum to one.

    Use when: as ``mingru``, with separate forget and input gates (f'_t + i'_t = 1 keeps the state's scale
    independent of time, as the paper's normalisation intends); trained by the same parallel scan.
    Alternatives: ``mingru`` (a third fewer weights), ``lstm`` (gates that see the state). Cost: 3 x hidden x
    (inputs + 1) weights per layer, all steps at once.
    """

    Layer = MinLSTMLayer
