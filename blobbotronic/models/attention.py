"""Attention: a small transformer encoder, the modern reference beside CNNs and RNNs."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..data.spec import Spec
from . import MODELS
from .base import AsSequence, Model, length_mask, make_head


@MODELS.register("attention", accepts=("sequence", "image", "text", "video"), family="attention")
class Attention(Model):
    """A transformer encoder: every position attends to every other, with learned position embeddings.

    Use when: long-range relations matter and there is enough data; it has no built-in notion of
    locality (CNN) or order (RNN) beyond its position embeddings, so small data sets favour the
    others. Images are read as a sequence of rows. Cost: layers x (length^2 x dim + length x dim^2);
    parallel over positions, unlike an RNN.
    """

    train_defaults = {"lr": 1e-3, "clip": 1.0}

    def __init__(
        self,
        spec: Spec,
        *,
        dim: int = 64,
        heads: int = 4,
        layers: int = 2,
        ff: int = 128,
        dropout: float = 0.0,
        pooling: Literal["mean", "cls"] = "mean",
        bigrams: int = 0,
        embed_dropout: float = 0.0,
        token_dropout: float = 0.0,
    ):
        super().__init__(spec)
        if dim % heads:
            from ..errors import BlobError

            raise BlobError(f"Model 'attention': dim ({dim}) must be divisible by heads ({heads}).")
        self.inputs = AsSequence(spec, bigrams=bigrams, embed_dropout=embed_dropout, token_dropout=token_dropout)
        self.proj = nn.Linear(self.inputs.channels, dim)
        self.pooling = pooling
        extra = 1 if pooling == "cls" else 0
        self.pos = nn.Parameter(torch.zeros(1, self.inputs.length + extra, dim))
        nn.init.normal_(self.pos, std=0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim)) if pooling == "cls" else None
        layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = make_head(spec, dim)

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-position encodings (B, L, dim) and the mask of real positions."""
        h = self.proj(self.inputs(x))  # (B, L, dim)
        mask = length_mask(lengths, h.shape[1], h.device)
        if self.cls is not None:
            h = torch.cat([self.cls.expand(len(h), -1, -1), h], 1)
            if mask is not None:
                mask = torch.cat([mask.new_ones(len(h), 1), mask], 1)
        h = h + self.pos[:, : h.shape[1]]
        h = self.encoder(h, src_key_padding_mask=None if mask is None else ~mask)
        return self.norm(h), mask

    def forward_features(self, x, lengths=None):
        h, mask = self.encode(x, lengths)
        if self.cls is not None:
            return h[:, 0]
        if mask is None:
            return h.mean(1)
        return (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
