"""Models for text and tagging: the glyph CNN+LSTM, and per-token taggers (BiLSTM, 1-D CNN, CNN-BiLSTM, attention).

Taggers output one row of tag logits per token, ``(B, L, n_tags)``; their ``forward_features`` gives
per-token features ``(B, L, D)`` and ``forward_head`` maps each position to tag logits.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import nn

from ..data.spec import Spec
from . import MODELS
from .base import (
    BIGRAM_BUCKETS,
    TEXT_EMBED_DROPOUT,
    TEXT_TOKEN_DROPOUT,
    TEXT_TRAIN_DEFAULTS,
    Model,
    TextEmbedding,
    TokenDropout,
    TokenVectors,
    WordEmbedding,
    bigram_buckets,
    length_mask,
    make_head,
    pool_time,
)
from .rnn import run_rnn

# --- glyphs ----------------------------------------------------------------------------------------


def glyph_cnn(size: int, channels: int, dim: int) -> nn.Sequential:
    """A small 2-D CNN that turns one (1, size, size) glyph bitmap into a ``dim`` vector."""
    side = size // 4
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(channels, 2 * channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * channels * side * side, dim),
        nn.ReLU(),
    )


def vocabulary_tokens(spec: Spec) -> list[str]:
    """The token of each id, from the vocabulary the text loader recorded in ``spec.extra``."""
    vocab = spec.extra.get("vocab")
    if vocab:
        return list(vocab)
    warnings.warn(
        f"Data set {spec.name!r} recorded no vocabulary (token ids without their characters); glyph_cnn_lstm "
        "draws an arbitrary distinct Han character for each id, so its glyphs carry no meaning. Load text "
        "from a CSV/JSONL/built-in to give it the real characters.",
        stacklevel=3,
    )
    return ["<pad>", "<unk>", *(chr(0x4E00 + i) for i in range(max(spec.vocab_size, 2) - 2))]


@MODELS.register("glyph_cnn_lstm", accepts=("text",), family="hybrid")
class GlyphCNNLSTM(Model):
    """Reads each character as a picture: a small CNN over its bitmap, then an LSTM over the sentence.

    Use when: the text is Chinese (or Japanese, Korean), where a character's shape carries meaning
    (the radical 氵 'water' in 河 海 湖) and rare characters share parts with common ones, which a
    character embedding cannot see. The bitmaps are drawn once from the vocabulary with a CJK font
    (``fonts-wqy-microhei``) and kept as a fixed buffer; each step the CNN runs only on the distinct
    characters of the batch. By default the LSTM reads both ways and the sentence is the mean of its
    per-character outputs (``readout="last"``: the final states). Alternatives: ``lstm``/``cnn`` with
    learned character embeddings (cheaper, as good when every character is frequent), ``attention``.
    Cost: the CNN over the batch's distinct characters (about channels^2 x size^2 each) plus
    2 x 4 x hidden^2 per character for the bidirectional LSTM.
    """

    train_defaults = {"lr": 3e-3, "clip": 1.0, **TEXT_TRAIN_DEFAULTS}

    def __init__(
        self,
        spec: Spec,
        *,
        size: int = 16,
        channels: int = 16,
        dim: int = 64,
        hidden: int = 64,
        bidirectional: bool = True,
        readout: Literal["last", "mean", "max"] = "mean",
        dropout: float = 0.2,
        embed_dim: int = 64,
        bigrams: int = BIGRAM_BUCKETS,
        embed_dropout: float = TEXT_EMBED_DROPOUT,
        token_dropout: float = TEXT_TOKEN_DROPOUT,
    ):
        super().__init__(spec)
        from ..data.glyphs import glyph_table

        self.readout = readout
        self.tokens = TokenVectors()  # each character's input (glyph features, then its embedding): attributed here
        # Glyce (Meng et al. 2019): a learned character embedding (and its bigram) beside the glyph features
        buckets = bigram_buckets(spec, bigrams)
        self.embed = TextEmbedding(spec.vocab_size, embed_dim, bigrams=buckets) if embed_dim else None
        self.drop_tokens = TokenDropout(token_dropout) if token_dropout else nn.Identity()  # glyph and embedding alike
        self.embed_drop = nn.Dropout(embed_dropout) if embed_dropout else nn.Identity()

        size = max(8, size - size % 4)
        bitmaps = torch.from_numpy(glyph_table(vocabulary_tokens(spec), size))
        self.register_buffer("glyphs", bitmaps[:, None], persistent=False)  # (V, 1, S, S), rebuilt from the spec
        self.cnn = glyph_cnn(size, channels, dim)
        self.lstm = nn.LSTM(dim + embed_dim, hidden, batch_first=True, bidirectional=bidirectional)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = make_head(spec, hidden * (2 if bidirectional else 1))

    def token_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, L, dim): the CNN runs once per distinct id in the batch."""
        x = x.clamp(0, len(self.glyphs) - 1)
        if torch.jit.is_tracing() or torch.compiler.is_exporting():  # a traced graph fixes how many are distinct:
            vectors = self.cnn(self.glyphs)[x]  # exported, the CNN reads the whole vocabulary (the same numbers)
        else:
            ids, where = torch.unique(x, return_inverse=True)
            vectors = self.cnn(self.glyphs[ids])[where]
        vectors = vectors * (x != 0)[..., None]  # (B, L, dim)
        if self.embed is not None:
            vectors = torch.cat([vectors, self.embed(x)], -1)
        return self.tokens(self.embed_drop(self.drop_tokens(vectors)))

    def language_model_parts(self):
        """For language-model pretraining (train/pretrain.py): glyph features with embeddings, and the LSTM."""
        return self.token_vectors, self.lstm

    def forward_features(self, x, lengths=None):
        out, final = run_rnn(self.lstm, self.token_vectors(x), lengths)
        if self.readout != "last":
            mask = length_mask(lengths, out.shape[1], out.device)
            final = pool_time(out, (x != 0) if mask is None else mask, self.readout)
        return self.drop(final)


# --- taggers ---------------------------------------------------------------------------------------

TAG = dict(accepts=("text",), tasks=("tag",))


class Tagger(Model):
    """Shared surface of the taggers: embed tokens, a body per family, one tag-logit row per token."""

    train_defaults = {"lr": 3e-3, "clip": 1.0}

    def __init__(self, spec: Spec, embed_dim: int, out_dim: int, dropout: float):
        super().__init__(spec)
        self.embed = WordEmbedding(max(spec.vocab_size, 2), embed_dim, padding_idx=0)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = nn.Linear(out_dim, spec.n_outputs)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(features))  # (B, L, n_tags)


def conv_layers(in_dim: int, width: int, depth: int, kernel: int) -> nn.ModuleList:
    return nn.ModuleList(
        nn.Conv1d(in_dim if i == 0 else width, width, kernel, padding=kernel // 2) for i in range(depth)
    )


def run_convs(convs: nn.ModuleList, h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Same-length 1-D convolutions over (B, L, C), padding zeroed before each so it leaks nothing."""
    h = h.transpose(1, 2)  # (B, C, L)
    for conv in convs:
        if mask is not None:
            h = h * mask[:, None]
        h = torch.relu(conv(h))
    return h.transpose(1, 2)  # (B, L, width)


@MODELS.register("bilstm_tagger", family="recurrent", **TAG)
class BiLSTMTagger(Tagger):
    """Bidirectional LSTM tagger: each token's tag sees the whole sentence, left and right.

    Use when: tags depend on context on both sides ("Paris" in "Paris Hilton" vs "in Paris"); the
    standard neural baseline for entity extraction. Alternatives: ``cnn_tagger`` (faster, local
    context only), ``cnn_bilstm_tagger``, ``attention_tagger``. Cost: 2 x 4 x hidden^2 per token,
    sequential in time.
    """

    def __init__(self, spec: Spec, *, embed_dim: int = 64, hidden: int = 64, layers: int = 1, dropout: float = 0.0):
        super().__init__(spec, embed_dim, 2 * hidden, dropout)
        self.lstm = nn.LSTM(embed_dim, hidden, layers, batch_first=True, bidirectional=True)

    def forward_features(self, x, lengths=None):
        out, _ = run_rnn(self.lstm, self.embed(x), lengths)
        return out


@MODELS.register("cnn_tagger", family="cnn", **TAG)
class CNNTagger(Tagger):
    """1-D convolutional tagger: each token's tag from a window of neighbours (``depth`` x (kernel - 1) + 1 wide).

    Use when: speed matters and the evidence for a tag is local (a capitalised word after "Mr"). Sees
    no further than its receptive field. Alternatives: ``bilstm_tagger`` for sentence-wide context.
    Cost: width^2 x kernel per layer per token, parallel over positions.
    """

    def __init__(
        self,
        spec: Spec,
        *,
        embed_dim: int = 64,
        width: int = 128,
        depth: int = 3,
        kernel: int = 5,
        dropout: float = 0.0,
    ):
        super().__init__(spec, embed_dim, width, dropout)
        self.convs = conv_layers(embed_dim, width, depth, kernel)

    def forward_features(self, x, lengths=None):
        return run_convs(self.convs, self.embed(x), length_mask(lengths, x.shape[1], x.device))


@MODELS.register("cnn_bilstm_tagger", family="hybrid", **TAG)
class CNNBiLSTMTagger(Tagger):
    """A 1-D convolution extracts local n-gram features, a bidirectional LSTM spreads them across the sentence.

    Use when: both local patterns and long context matter; the convolution shortens what the LSTM
    must learn. Alternatives: the pure ``bilstm_tagger`` or ``cnn_tagger``. Cost: the sum of both.
    """

    def __init__(
        self,
        spec: Spec,
        *,
        embed_dim: int = 64,
        width: int = 64,
        kernel: int = 3,
        hidden: int = 64,
        dropout: float = 0.0,
    ):
        super().__init__(spec, embed_dim, 2 * hidden, dropout)
        self.convs = conv_layers(embed_dim, width, 1, kernel)
        self.lstm = nn.LSTM(width, hidden, batch_first=True, bidirectional=True)

    def forward_features(self, x, lengths=None):
        h = run_convs(self.convs, self.embed(x), length_mask(lengths, x.shape[1], x.device))
        out, _ = run_rnn(self.lstm, h, lengths)
        return out


@MODELS.register("attention_tagger", family="attention", **TAG)
class AttentionTagger(Tagger):
    """A transformer encoder tagger: every token attends to every other (padding masked out).

    Use when: long-range context matters and there is enough data; with little data the BiLSTM is
    usually better (no built-in notion of order beyond learned positions). Cost: layers x (L^2 x dim
    + L x dim^2), parallel over positions.
    """

    train_defaults = {"lr": 1e-3, "clip": 1.0}

    def __init__(
        self, spec: Spec, *, dim: int = 64, heads: int = 4, layers: int = 2, ff: int = 128, dropout: float = 0.0
    ):
        super().__init__(spec, dim, dim, dropout)
        self.pos = nn.Parameter(torch.randn(1, spec.input_shape[0], dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward_features(self, x, lengths=None):
        mask = length_mask(lengths, x.shape[1], x.device)
        if mask is None:
            mask = x != 0
        h = self.embed(x) + self.pos[:, : x.shape[1]]
        return self.norm(self.encoder(h, src_key_padding_mask=~mask))
