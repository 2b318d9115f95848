"""The CNN-BiLSTM-CRF tagger: character CNN features of each word, a word-level BiLSTM, a CRF over the tags.

The architecture of Ma and Hovy (2016, "End-to-end Sequence Labeling via Bi-directional LSTM-CNNs-CRF"): a
convolution over each word's characters, max-pooled, concatenated with the word's embedding; a bidirectional
LSTM over the words; a linear-chain CRF (models/crf.py) that scores whole taggings. Lample et al. (2016, "Neural
Architectures for Named Entity Recognition") read the characters with a BiLSTM instead, and add the CRF the
same way. Kept apart from models/text.py, whose taggers it shares (``Tagger``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..data.spec import Spec
from ..errors import BlobError
from . import MODELS
from .base import TokenVectors, known_ids, length_mask
from .crf import CRF, CRFEmissions
from .rnn import run_rnn
from .text import TAG, Tagger

PAD_CHAR, UNKNOWN_CHAR, UNKNOWN_WORD = 0, 1, 2  # character ids: padding, a character no training word has, <unk>
MAX_WORD_CHARS = 20  # characters read per word, the first ones (longer tokens are mostly links and hashtags)


def char_rows(words: Sequence[str], chars: dict[str, int], grow: bool,
              max_chars: int = MAX_WORD_CHARS) -> list[list[int]]:
    """Each word's character ids (its first ``max_chars``): from ``chars``, which ``grow`` extends with every new
    character (numbered after the ids taken), else a new character is UNKNOWN_CHAR."""
    def cid(c: str) -> int:
        if grow:
            return chars.setdefault(c, UNKNOWN_WORD + 1 + len(chars))
        return chars.get(c, UNKNOWN_CHAR)

    return [[cid(c) for c in word[:max_chars]] for word in words]


def char_table(words: Sequence[str] | None, n_words: int, known: int | None = None,
               max_chars: int = MAX_WORD_CHARS) -> tuple[torch.Tensor, int, dict[str, int]]:
    """Each word id's character ids, (n_words, C), 0 after the word's end; the number of character ids; the
    characters' ids.

    The characters are numbered in order of first appearance in the trained words (the first ``known`` of the
    vocabulary the loader recorded in ``spec.extra["vocab"]``; all of it where ``known`` is None), after the three
    reserved ids. The words past them (rare training words, the words only validation and test hold: see
    data/tagging.py ``open_vocabulary``) are spelt with those ids, and a character no trained word has is
    UNKNOWN_CHAR. Id 0 (padding) has no characters; id 1, ``<unk>``, is one UNKNOWN_WORD marker. Without a
    vocabulary every word is one UNKNOWN_CHAR: the characters then carry nothing, and the word embeddings
    everything.

    >>> table, n, _ = char_table(["<pad>", "<unk>", "ab", "ba", "bc"], 5, known=4)
    >>> table.tolist(), n
    ([[0, 0], [2, 0], [3, 4], [4, 3], [4, 1]], 5)
    """
    chars: dict[str, int] = {}
    if not words:
        table = torch.full((n_words, 1), UNKNOWN_CHAR, dtype=torch.long)
        table[0] = PAD_CHAR
        table[1:2] = UNKNOWN_WORD
        return table, UNKNOWN_WORD + 1, chars
    words = list(words)
    known = len(words) if known is None else known
    rows = [[], [UNKNOWN_WORD], *char_rows(words[2:known], chars, grow=True),
            *char_rows(words[max(2, known):], chars, grow=False)]
    return pad_rows(rows, max(n_words, len(rows))), UNKNOWN_WORD + 1 + len(chars), chars


def pad_rows(rows: list[list[int]], n: int) -> torch.Tensor:
    """(n, C) character ids, each row padded with PAD_CHAR (0) to the longest."""
    table = torch.zeros(n, max(1, max(map(len, rows), default=1)), dtype=torch.long)
    for i, row in enumerate(rows):
        table[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return table


class CharCNN(nn.Module):
    """Word ids (B, L) -> (B, L, filters): each word's character embeddings, dropout, one 1-D convolution over
    them, and the maximum over the word's characters (Ma and Hovy 2016, section 2.1). It runs once per distinct
    word of the batch; case stays (``Paris`` and ``paris`` share their last four characters, not the first).
    An id past its table reads as ``<unk>``; ``add_words`` spells new words (predict's unseen words)."""

    def __init__(self, words: Sequence[str] | None, n_words: int, dim: int, filters: int, kernel: int,
                 dropout: float, known: int | None = None):
        super().__init__()
        table, n_chars, self.char_ids = char_table(words, n_words, known)
        self.register_buffer("table", table, persistent=False)  # rebuilt from the spec's vocabulary
        self.base = len(table)  # the vocabulary's words; add_words spells others after them
        self.embed = nn.Embedding(n_chars, dim, padding_idx=PAD_CHAR)
        with torch.no_grad():  # no training word has an unknown character, so its vector is never trained: it
            self.embed.weight[UNKNOWN_CHAR].zero_()  # says nothing rather than something random
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv = nn.Conv1d(dim, filters, kernel, padding=kernel // 2)

    def add_words(self, words: Sequence[str]) -> None:
        """Spell ``words`` after the vocabulary's (in place of any added before), with the trained characters' ids
        (a new character is UNKNOWN_CHAR): their ids are the vocabulary's length onward, in order."""
        if not self.char_ids:
            return
        rows = [row.tolist() for row in self.table[: self.base]] + char_rows(words, self.char_ids, grow=False)
        self.table = pad_rows([[c for c in row if c != PAD_CHAR] for row in rows], len(rows)).to(self.table.device)

    def words(self, chars: torch.Tensor) -> torch.Tensor:
        """(W, C) character ids -> (W, filters); a word without characters (padding) -> zeros."""
        real = chars != PAD_CHAR
        h = self.conv(self.drop(self.embed(chars)).transpose(1, 2)).transpose(1, 2)  # (W, C, filters)
        h = h.masked_fill(~real[..., None], float("-inf")).amax(1)
        return torch.where(real.any(1, keepdim=True), h, torch.zeros_like(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = known_ids(x, len(self.table))
        if torch.jit.is_tracing() or torch.compiler.is_exporting():  # a traced graph fixes the number of distinct
            return self.words(self.table)[x]  # words: exported, it reads the whole vocabulary (the same numbers)
        ids, where = torch.unique(x, return_inverse=True)
        return self.words(self.table[ids])[where]


@MODELS.register("cnn_bilstm_crf_tagger", family="hybrid", **TAG)
class CNNBiLSTMCRFTagger(Tagger):
    """Entity extraction as it is usually done: a character CNN per word, a word BiLSTM, a CRF over the tags.

    Use when: tagging entities in text whose words are often rare or unseen, where spelling and case carry
    the evidence (``Obama``, ``#Paris``), and tags must form whole entities. The CRF scores tag pairs, so
    decoding (Viterbi) returns the best tagging as a whole and never an ``I-X`` that continues nothing (BIO
    constraints); ``crf=False`` puts a per-token softmax in its place, to measure what the CRF adds.
    ``unk``: while training, the share of words whose embedding is replaced by ``<unk>``'s (their characters stay),
    so the model learns to read the words it will not know at test time by their spelling: a word training never
    held is read by its characters and the ``<unk>`` embedding, in evaluation and in ``predict`` alike.
    Alternatives: ``bilstm_tagger`` (no characters, no CRF), ``cnn_bilstm_tagger`` (a convolution over words, not
    characters). Cost: the character CNN over the batch's distinct words (characters x char_dim x char_filters x
    kernel each), 2 x 4 x hidden^2 per token for the BiLSTM, and T^2 per token for the CRF's forward algorithm and
    Viterbi decoding.
    """

    def __init__(
        self,
        spec: Spec,
        *,
        embed_dim: int = 64,
        char_dim: int = 30,
        char_filters: int = 30,
        char_kernel: int = 3,
        hidden: int = 64,
        dropout: float = 0.5,
        unk: float = 0.25,
        crf: bool = True,
    ):
        super().__init__(spec, embed_dim, 2 * hidden, dropout)
        if not 0 <= unk < 1:
            raise BlobError(f"Model 'cnn_bilstm_crf_tagger': parameter 'unk' is the share of words replaced by <unk> "
                            f"while training, a number from 0 up to (not including) 1, not {unk!r}; 0 turns it off.")
        self.unk = unk
        extra = spec.extra or {}
        words = extra.get("vocab")
        n_words = max(spec.vocab_size, len(words or ()), 2)  # the trained words, then the words seen beyond them
        self.chars = CharCNN(words, n_words, char_dim, char_filters, char_kernel, dropout,
                             known=extra.get("known_words"))
        self.tokens = TokenVectors()  # each word's input (embedding and character features): attributed here
        self.lstm = nn.LSTM(embed_dim + char_filters, hidden, batch_first=True, bidirectional=True)
        self.crf = CRF(spec.classes or spec.n_outputs) if crf else None

    def add_words(self, words: Sequence[str]) -> None:
        """Spell ``words``, which the vocabulary does not hold, for ``predict``: their ids follow the vocabulary's
        (``spec.extra["vocab"]``), in order; the word embedding reads them as ``<unk>``."""
        self.chars.add_words(words)

    def forward_features(self, x, lengths=None):
        words = x
        if self.training and self.unk:  # word dropout of the embedding to <unk> (id 1); padding stays padding
            words = torch.where((x > 1) & (torch.rand(x.shape, device=x.device) < self.unk), torch.ones_like(x), x)
        h = torch.cat([self.embed(words), self.chars(x)], -1)
        out, _ = run_rnn(self.lstm, self.tokens(self.drop(h)), lengths)
        return out

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Tag scores (B, L, T). With the CRF: in training its emissions, carrying the CRF for the loss
        (``CRFEmissions``); in evaluation Viterbi's step scores, whose argmax is the decoded tagging."""
        emissions = self.forward_head(self.forward_features(x, lengths))
        if self.crf is None:
            return emissions
        if self.training:
            return CRFEmissions.wrap(emissions, self.crf)
        mask = length_mask(lengths, x.shape[1], x.device)
        return self.crf.decode_scores(emissions, (x != 0) if mask is None else mask)[1]

