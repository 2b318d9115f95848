"""Encoder-decoder models for translation: recurrent with attention, convolutional, transformer.

Every model here is a ``Seq2Seq``: ``teacher_forced(x, lengths, y)`` gives the logits (B, T, V) of each
target position when the decoder is fed the true previous tokens (training), ``forward(x, lengths)``
decodes greedily, feeding back its own choices, and returns the logits of each chosen token (B, T, V)
(evaluation and predict), and ``generate`` returns the chosen ids. Target ids follow data/translation.py:
0 padding, 2 ``<s>`` (fed first), 3 ``</s>``. ``forward_features`` is the mean encoder state (B, D).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from ..data.spec import Spec
from . import MODELS
from .base import Model, length_mask
from .rnn import FastGRU

BOS = 2
S2S = dict(accepts=("text",), tasks=("translate",))


class Seq2Seq(Model):
    """Shared surface: ``encode`` the source once, ``decode`` target prefixes against it."""

    train_defaults = {"lr": 3e-3, "clip": 1.0}

    def __init__(self, spec: Spec):
        super().__init__(spec)
        self.target_len = int(spec.extra.get("target_len", 16))
        self.src_vocab, self.tgt_vocab = max(spec.vocab_size, 2), max(spec.n_outputs, 4)

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None) -> dict[str, Any]:
        raise NotImplementedError

    def decode(self, enc: dict[str, Any], y_in: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) for every position of the fed target prefix ``y_in`` (B, T)."""
        raise NotImplementedError

    def teacher_forced(self, x: torch.Tensor, lengths: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor:
        """Training: the decoder reads ``<s>`` then the true targets shifted by one; logits (B, T, V)."""
        y_in = torch.cat([torch.full_like(y[:, :1], BOS), y[:, :-1]], 1)
        return self.decode(self.encode(x, lengths), y_in)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Greedy decoding for ``target_len`` steps: the logits of each step (B, T, V)."""
        enc = self.encode(x, lengths)
        ids = torch.full((x.shape[0], 1), BOS, dtype=torch.long, device=x.device)
        steps = []
        for _ in range(self.target_len):
            logits = self.decode(enc, ids)[:, -1]  # (B, V)
            steps.append(logits)
            ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], 1)
        return torch.stack(steps, 1)

    @torch.no_grad()
    def generate(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Greedy output ids (B, T)."""
        return self.forward(x, lengths).argmax(-1)

    def forward_features(self, x, lengths=None):
        memory = self.encode(x, lengths)["memory"]  # (B, L, D)
        mask = length_mask(lengths, memory.shape[1], memory.device)
        if mask is None:
            return memory.mean(1)
        return (memory * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)


def attend(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Dot-product attention of queries (B, T, D) over keys/values (B, L, D), padding masked: (B, T, D)."""
    scores = query @ keys.transpose(1, 2) / keys.shape[-1] ** 0.5  # (B, T, L)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None], float("-inf"))
    return scores.softmax(-1) @ values


@MODELS.register("seq2seq_gru", family="recurrent", **S2S)
class RecurrentSeq2Seq(Seq2Seq):
    """A recurrent encoder-decoder with attention (Bahdanau/Luong style): a bidirectional GRU (or LSTM)
    reads the source, a GRU (or LSTM) cell writes the target one token at a time, attending to the
    source at each step.

    Use when: mapping one sequence to another of a different length (translation, normalising dates).
    Attention lets the decoder look up the source position it needs instead of squeezing the whole
    source into one vector. Alternatives: ``seq2seq_cnn`` (parallel encoder and decoder),
    ``seq2seq_attention`` (transformer). Cost: 2 x 3 x hidden^2 per source step, and per target step
    3 x hidden^2 plus attention over the source; sequential in both.
    """

    def __init__(self, spec: Spec, *, embed_dim: int = 32, hidden: int = 64, cell: Literal["gru", "lstm"] = "gru"):
        super().__init__(spec)
        self.cell = cell
        self.src_embed = nn.Embedding(self.src_vocab, embed_dim, padding_idx=0)
        self.tgt_embed = nn.Embedding(self.tgt_vocab, embed_dim, padding_idx=0)
        if cell == "gru":
            self.encoder = FastGRU(embed_dim, hidden, bidirectional=True)
        else:
            self.encoder = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.keys = nn.Linear(2 * hidden, hidden)
        self.values = nn.Linear(2 * hidden, hidden)
        self.init = nn.Linear(2 * hidden, hidden)
        self.decoder = (nn.GRUCell if cell == "gru" else nn.LSTMCell)(embed_dim + hidden, hidden)
        self.out = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, self.tgt_vocab))

    def encode(self, x, lengths):
        seq = self.src_embed(x)
        if isinstance(self.encoder, FastGRU):
            memory, _ = self.encoder(seq, lengths)
        elif lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(
                seq, lengths.cpu().clamp_min(1), batch_first=True, enforce_sorted=False
            )
            memory, _ = self.encoder(packed)
            memory, _ = nn.utils.rnn.pad_packed_sequence(memory, batch_first=True, total_length=x.shape[1])
        else:
            memory, _ = self.encoder(seq)
        mask = length_mask(lengths, x.shape[1], x.device)
        pooled = memory.mean(1) if mask is None else (memory * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        h = torch.tanh(self.init(pooled))  # (B, H)
        state = h if self.cell == "gru" else (h, torch.zeros_like(h))
        return {
            "memory": memory,
            "keys": self.keys(memory),
            "values": self.values(memory),
            "mask": mask,
            "state": state,
            "context": torch.zeros_like(h),
        }

    def step(self, enc: dict[str, Any], state: Any, context: torch.Tensor, ids: torch.Tensor) -> tuple:
        """One decoder step: previous token ids (B,) -> logits (B, V), new state and new context."""
        state = self.decoder(torch.cat([self.tgt_embed(ids), context], -1), state)
        h = state if self.cell == "gru" else state[0]
        context = attend(h[:, None], enc["keys"], enc["values"], enc["mask"])[:, 0]  # (B, H)
        return self.out(torch.cat([h, context], -1)), state, context

    def decode(self, enc, y_in):
        state, context, logits = enc["state"], enc["context"], []
        for ids in y_in.unbind(1):
            out, state, context = self.step(enc, state, context, ids)
            logits.append(out)
        return torch.stack(logits, 1)

    def forward(self, x, lengths=None):
        """Greedy decoding, one recurrent step per output token (the state carries the prefix)."""
        enc = self.encode(x, lengths)
        state, context = enc["state"], enc["context"]
        ids = torch.full((x.shape[0],), BOS, dtype=torch.long, device=x.device)
        steps = []
        for _ in range(self.target_len):
            logits, state, context = self.step(enc, state, context, ids)
            steps.append(logits)
            ids = logits.argmax(-1)
        return torch.stack(steps, 1)


class ConvBlock(nn.Module):
    """Conv1d -> GLU with a residual connection; ``causal`` pads on the left only (a decoder sees no future)."""

    def __init__(self, dim: int, kernel: int, causal: bool):
        super().__init__()
        self.conv = nn.Conv1d(dim, 2 * dim, kernel)
        self.pad = (kernel - 1, 0) if causal else ((kernel - 1) // 2, kernel // 2)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:  # (B, L, D)
        z = h if mask is None else h * mask[..., None]
        z = nn.functional.pad(z.transpose(1, 2), self.pad)
        return (h + nn.functional.glu(self.conv(z), dim=1).transpose(1, 2)) * 0.5**0.5


@MODELS.register("seq2seq_cnn", family="cnn", **S2S)
class ConvSeq2Seq(Seq2Seq):
    """A convolutional encoder-decoder (in the spirit of ConvS2S): gated 1-D convolutions encode the
    source; causal convolutions over the target prefix, each followed by attention to the source,
    decode it.

    Use when: sequences are short and local patterns dominate; both sides train in parallel over
    positions (no recurrence), which is fast on any hardware. Alternatives: ``seq2seq_gru``,
    ``seq2seq_attention``. Cost: layers x 2 x dim^2 x kernel per position; greedy decoding re-reads
    the prefix at each step (T^2 / 2 positions for T outputs).
    """

    def __init__(self, spec: Spec, *, dim: int = 96, layers: int = 3, kernel: int = 3):
        super().__init__(spec)
        self.src_embed = nn.Embedding(self.src_vocab, dim, padding_idx=0)
        self.tgt_embed = nn.Embedding(self.tgt_vocab, dim, padding_idx=0)
        self.src_pos = nn.Parameter(torch.randn(1, spec.input_shape[0], dim) * 0.02)
        self.tgt_pos = nn.Parameter(torch.randn(1, self.target_len + 1, dim) * 0.02)
        self.enc_blocks = nn.ModuleList(ConvBlock(dim, kernel, causal=False) for _ in range(layers))
        self.dec_blocks = nn.ModuleList(ConvBlock(dim, kernel, causal=True) for _ in range(layers))
        self.queries = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))
        self.out = nn.Linear(2 * dim, self.tgt_vocab)

    def encode(self, x, lengths):
        mask = length_mask(lengths, x.shape[1], x.device)
        if mask is None:
            mask = x != 0
        h = self.src_embed(x) + self.src_pos[:, : x.shape[1]]
        for block in self.enc_blocks:
            h = block(h, mask)
        return {"memory": h, "values": h + self.src_embed(x), "mask": mask}

    def decode(self, enc, y_in):
        h = self.tgt_embed(y_in) + self.tgt_pos[:, : y_in.shape[1]]
        for block, query in zip(self.dec_blocks, self.queries, strict=True):
            h = block(h)
            h = (h + attend(query(h), enc["memory"], enc["values"], enc["mask"])) * 0.5**0.5
        context = attend(h, enc["memory"], enc["values"], enc["mask"])
        return self.out(torch.cat([h, context], -1))


@MODELS.register("seq2seq_attention", family="attention", **S2S)
class TransformerSeq2Seq(Seq2Seq):
    """A small transformer encoder-decoder: self-attention over the source, masked self-attention over
    the target prefix and cross-attention from target to source.

    Use when: there is enough data and long-range alignments; every position is computed in parallel
    in training. Alternatives: ``seq2seq_gru`` (often better with little data), ``seq2seq_cnn``.
    Cost: layers x (L^2 x dim + L x dim^2) on each side; greedy decoding re-reads the prefix each step.
    """

    train_defaults = {"lr": 1e-3, "clip": 1.0}

    def __init__(
        self, spec: Spec, *, dim: int = 64, heads: int = 4, layers: int = 2, ff: int = 128, dropout: float = 0.0
    ):
        super().__init__(spec)
        self.src_embed = nn.Embedding(self.src_vocab, dim, padding_idx=0)
        self.tgt_embed = nn.Embedding(self.tgt_vocab, dim, padding_idx=0)
        self.src_pos = nn.Parameter(torch.randn(1, spec.input_shape[0], dim) * 0.02)
        self.tgt_pos = nn.Parameter(torch.randn(1, self.target_len + 1, dim) * 0.02)
        enc_layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout, batch_first=True, norm_first=True)
        dec_layer = nn.TransformerDecoderLayer(dim, heads, ff, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(enc_layer, layers, nn.LayerNorm(dim), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec_layer, layers, nn.LayerNorm(dim))
        self.out = nn.Linear(dim, self.tgt_vocab)

    def encode(self, x, lengths):
        mask = length_mask(lengths, x.shape[1], x.device)
        if mask is None:
            mask = x != 0
        h = self.src_embed(x) + self.src_pos[:, : x.shape[1]]
        return {"memory": self.encoder(h, src_key_padding_mask=~mask), "mask": mask}

    def decode(self, enc, y_in):
        T = y_in.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=y_in.device), 1)
        h = self.tgt_embed(y_in) + self.tgt_pos[:, :T]
        h = self.decoder(h, enc["memory"], tgt_mask=causal, memory_key_padding_mask=~enc["mask"])
        return self.out(h)
