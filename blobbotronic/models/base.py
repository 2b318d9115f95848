"""The uniform model surface and the input adapters that let one family read every modality."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from ..data.spec import Spec


class Model(nn.Module):
    """Every model: ``forward_features(x, lengths) -> (B, D)`` then ``forward_head(f) -> (B, n_outputs)``.

    Explainers and reports rely on this surface. ``train_defaults`` are the optimiser settings that
    suit the family (a transformer wants a smaller learning rate than a tiny CNN).
    """

    train_defaults: ClassVar[dict[str, Any]] = {}
    name: str = ""
    params: dict[str, Any] = {}

    def __init__(self, spec: Spec):
        super().__init__()
        self.spec = spec

    def forward_features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, lengths))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def make_head(spec: Spec, dim: int) -> nn.Module:
    """Class logits for classification, one value per target for regression."""
    return nn.Linear(dim, spec.n_outputs)


BIGRAM_BUCKETS = 2**17  # hash buckets of the text models' token-pair embedding (``bigrams``): few collisions
# among the ~58,000 pairs seen twice in chinese_sentiment's training split (2**15 put ~4 distinct pairs in each)
TEXT_EMBED_DROPOUT = 0.5  # the text models' default dropout on their input embeddings
TEXT_TOKEN_DROPOUT = 0.0  # the text models' default share of whole tokens dropped while training (TokenDropout)
# The optimiser settings of the CNN and LSTM on text, tuned on chinese_sentiment's validation split: weight decay
# keeps the large embedding tables from memorising the training sentences; the cosine schedule they were tuned
# under (recurrent models elsewhere train at a constant rate).
TEXT_TRAIN_DEFAULTS = {"lr": 3e-3, "weight_decay": 1.0, "schedule": "cosine"}


def bigram_buckets(spec: Spec, most: int) -> int:
    """The bigram table a text model builds for ``spec``: ``most`` buckets at most, and no more than a power of
    two at least four times the distinct token pairs its training split holds (``train_pairs``, recorded by the
    text loader), so the table scales with the data: 200 short sentences hold a few thousand pairs, and a
    131,072-row table for them was 8 of an LSTM's 8.4 million parameters. About a fifth of the pairs then
    share a bucket with another (at most a ninth at the full size on the largest built-in set).

    >>> from blobbotronic.data.spec import Spec
    >>> bigram_buckets(Spec("t", "text", "classify", (20,), 2, extra={"train_pairs": 3000}), 2**17)
    16384
    >>> plain = Spec("t", "text", "classify", (20,), 2)
    >>> bigram_buckets(plain, 2**17), bigram_buckets(plain, 0)
    (131072, 0)
    """
    pairs = (spec.extra or {}).get("train_pairs")
    if not most or not pairs:
        return most
    return int(min(most, 2 ** math.ceil(math.log2(4 * max(1, int(pairs))))))


def bigram_ids(x: torch.Tensor, buckets: int) -> torch.Tensor:
    """Each position's pair (previous token, this token) hashed to 1..buckets; 0 at padding: (B, L) -> (B, L).

    The first token pairs with a start marker (id 0), so a text's opening character has a bigram of its own.
    Computed from the token ids alone, so predict and export need nothing beyond the unigram vocabulary.
    """
    prev = torch.nn.functional.pad(x[:, :-1], (1, 0))
    h = (prev * 1_000_003 + x * 7_919) % buckets + 1  # the two multipliers are primes; ids < 2**31 cannot overflow
    return torch.where(x != 0, h, torch.zeros_like(h))


class TokenVectors(nn.Identity):
    """Marks a text model's per-token input vectors (B, L, D): attributions (explain/attribution.py) scale them there,
    adversarial training (train/loop.py) pushes them there."""


def token_vectors(model: nn.Module) -> nn.Module | None:
    """A text model's per-token input vectors: its first TokenVectors (a glyph model's outermost, the glyph features
    with the character embeddings), or None."""
    return next((m for m in model.modules() if isinstance(m, TokenVectors)), None)


class TokenDropout(nn.Module):
    """Drops whole tokens while training: each position's vector (B, L, D) is zeroed with probability ``p`` and the
    kept ones scaled by 1/(1 - p); identity in evaluation. Unlike dropout on single embedding values, a model then
    cannot lean on any one character or word being there ("word dropout": Iyyer et al. 2015; Gal and Ghahramani
    2016 drop words' embeddings for recurrent nets the same way)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"token_dropout={p}: give a probability in [0, 1)")
        self.p = p

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.p:
            return e
        keep = torch.rand(e.shape[:-1], device=e.device) >= self.p
        return e * (keep.to(e.dtype) / (1 - self.p))[..., None]


def known_ids(x: torch.Tensor, rows: int) -> torch.Tensor:
    """Token ids with every id past a table of ``rows`` read as ``<unk>`` (1). A tagging set gives the words its
    training split never held ids of their own past the trained vocabulary (``spec.extra["known_words"]``), so
    that a character model can read their spelling; every word table reads them as ``<unk>``."""
    return torch.where(x < rows, x, torch.ones_like(x))


class WordEmbedding(nn.Embedding):
    """nn.Embedding over token ids that reads ids past its table as ``<unk>`` (``known_ids``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(known_ids(x, self.num_embeddings))


class TextEmbedding(nn.Module):
    """Token ids (B, L) -> vectors (B, L, dim): a learned embedding of each token, plus (``bigrams`` > 0) an
    embedding of the pair it ends, hashed into ``bigrams`` buckets as fastText does; then dropout.

    Adjacent-character pairs carry much of the meaning in Chinese, where most words are two characters
    (不错 'not bad', 满意 'satisfied'), and a word pair ("not good") in English. Padding embeds to zero.
    ``token_dropout`` drops whole tokens (TokenDropout) before the dropout on single values.
    """

    def __init__(self, vocab_size: int, dim: int, *, bigrams: int = 0, dropout: float = 0.0,
                 token_dropout: float = 0.0):
        super().__init__()
        self.embed = nn.Embedding(max(vocab_size, 2), dim, padding_idx=0)  # ids past it: <unk> (known_ids)
        self.buckets = bigrams
        self.bigram = nn.Embedding(bigrams + 1, dim, padding_idx=0) if bigrams else None
        if self.bigram is not None:  # a pair starts as nothing but its characters; a pair never trained on adds nothing
            nn.init.zeros_(self.bigram.weight)
        self.drop_tokens = TokenDropout(token_dropout) if token_dropout else nn.Identity()
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.vectors = TokenVectors()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = known_ids(x, self.embed.num_embeddings)  # the pairs, too, of the words training knew
        e = self.embed(x)
        if self.bigram is not None:
            e = e + self.bigram(bigram_ids(x, self.buckets))
        return self.vectors(self.drop(self.drop_tokens(e)))


class AsSequence(nn.Module):
    """Read any modality as a sequence (B, L, C): image rows, text embeddings, video frames.

    ``length`` and ``channels`` tell the next layer what it gets. Text only: ``bigrams`` hash buckets for
    an embedding of each token pair added to the token's own (0: none), ``embed_dropout`` on the embeddings,
    ``token_dropout`` of whole tokens.
    """

    def __init__(self, spec: Spec, embed_dim: int = 64, *, bigrams: int = 0, embed_dropout: float = 0.0,
                 token_dropout: float = 0.0):
        super().__init__()
        self.modality = spec.modality
        shape = spec.input_shape
        if spec.modality == "sequence":
            self.length, self.channels = shape
        elif spec.modality == "image":  # (C, H, W): each row is one step of C*W values
            self.length, self.channels = shape[1], shape[0] * shape[2]
        elif spec.modality == "text":
            self.length, self.channels = shape[0], embed_dim
            self.embed = TextEmbedding(spec.vocab_size, embed_dim, bigrams=bigram_buckets(spec, bigrams),
                                       dropout=embed_dropout, token_dropout=token_dropout)
        elif spec.modality == "video":  # (T, C, H, W): each frame is one step
            self.length, self.channels = shape[0], math.prod(shape[1:])
        else:
            raise ValueError(f"{spec.modality} data cannot be read as a sequence")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.modality == "sequence":
            return x
        if self.modality == "image":
            return x.permute(0, 2, 1, 3).flatten(2)  # (B, H, C*W)
        if self.modality == "text":
            return self.embed(x)  # (B, L, E)
        return x.flatten(2)  # video (B, T, C*H*W)


class AsVector(nn.Module):
    """Read any modality as one flat vector per sample (text: the mean of its token embeddings)."""

    def __init__(self, spec: Spec, embed_dim: int = 64):
        super().__init__()
        self.modality = spec.modality
        if spec.modality == "text":
            self.embed = WordEmbedding(max(spec.vocab_size, 2), embed_dim, padding_idx=0)
            self.dim = embed_dim
        else:
            self.dim = math.prod(spec.input_shape)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.modality != "text":
            return x.flatten(1)
        e = self.embed(x)  # (B, L, E); padding embeds to zero
        n = (x != 0).sum(1, keepdim=True).clamp_min(1)
        return e.sum(1) / n


def last_valid(outputs: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """The output at each sequence's last real step: (B, L, D) -> (B, D)."""
    if lengths is None:
        return outputs[:, -1]
    idx = (lengths.to(outputs.device) - 1).clamp_min(0).view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
    return outputs.gather(1, idx).squeeze(1)


def pool_time(h: torch.Tensor, mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """The mean or the maximum over the real steps of (B, L, D) -> (B, D); padding never counts."""
    if how == "max":
        return h.amax(1) if mask is None else h.masked_fill(~mask[..., None], -torch.inf).amax(1)
    if mask is None:
        return h.mean(1)
    return (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)


def length_mask(lengths: torch.Tensor | None, length: int, device: torch.device) -> torch.Tensor | None:
    """(B, L) True where a position is real, or None when all are."""
    if lengths is None:
        return None
    return torch.arange(length, device=device)[None, :] < lengths.to(device)[:, None]
