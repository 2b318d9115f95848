"""Entity-tagging data: the tagging Dataset, the CoNLL-style (token, BIO tag) file format, and People's Daily
'word/pos' text read as character tags. The tweet and Chinese entity built-ins are tagging_sets.py's.

A tagging sample is a row of token ids (``text`` modality, task ``tag``) and a row of tag ids of the
same length, padded with ``IGNORE`` (-100, PyTorch's ignored target) where there is no token;
``spec.classes`` are the tag names (``O``, ``B-PER``, ``I-PER``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BlobError, where
from .options import truth
from .reading import decode_utf8, read_bytes
from .spec import Dataset, Spec, Split, split_indices
from .text import MAX_LEN_CAP, build_vocab, encode

IGNORE = -100
FRACTIONS = (0.7, 0.15, 0.15)
_TAG = re.compile(r"O|[BI]-\S+")

Sentence = tuple[list[str], list[str]]  # tokens, tags


def conll_fields(line: str) -> list[str]:
    r"""The columns of one CoNLL line. A line holding a tab is split on tabs only, so a token may hold any other
    space (U+3000, the ideographic space of Japanese text, or be one); each column loses only the ASCII spaces
    around it, and empty columns are dropped. A line without a tab is split on any whitespace (CoNLL-2003's
    space-separated columns).

    >>> conll_fields("\u3000\tO"), conll_fields("EU NNP B-NP B-ORG")
    (['\u3000', 'O'], ['EU', 'NNP', 'B-NP', 'B-ORG'])
    """
    if "\t" not in line:
        return line.split()
    fields = [f.strip(" \r\n\f\v") for f in line.split("\t")]
    return [f for f in fields if f]


def parse_conll(path: Path, text: str, token_col: int = 0, tag_col: int = -1) -> list[Sentence]:
    """Sentences of a CoNLL-style text: one ``token<TAB>tag`` (or space-separated) line per token, the tag in the
    last column (``tag_col``), a blank (or whitespace-only) line between sentences; ``-DOCSTART-`` lines are
    skipped. Columns are split as ``conll_fields`` says."""
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        fields = conll_fields(line)
        if not fields:
            if tokens:
                sentences.append((tokens, tags))
            tokens, tags = [], []
            continue
        if fields[0] == "-DOCSTART-":
            continue
        if len(fields) < 2:
            raise BlobError(
                f"{where(path, n)}: expected a token and a tag separated by a tab or spaces, found only {fields[0]!r}. "
                "Each line is 'token<TAB>tag', the tag in the last column (O, B-TYPE, I-TYPE); a blank line ends a "
                "sentence."
            )
        try:
            token, tag = fields[token_col], fields[tag_col]
        except IndexError:
            raise BlobError(
                f"{where(path, n)}: has {len(fields)} columns; the token or tag column is missing."
            ) from None
        if not _TAG.fullmatch(tag):
            raise BlobError(
                f"{where(path, n)}: {tag!r} is not a BIO tag; tags are O, B-TYPE (an entity's first token) or "
                "I-TYPE (inside it), e.g. B-PER, I-PER."
            )
        tokens.append(token)
        tags.append(tag)
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def open_vocabulary(known: Sequence[str], token_lists: Sequence[Sequence[str]], max_len: int) -> list[str]:
    """The trained vocabulary, then every other word the sentences hold, in order of first appearance.

    The words past the trained vocabulary (rare training words under ``min_freq``, and the words only validation
    and test hold) keep ids of their own, so that a character model reads their spelling, as it will read an
    unseen word's in ``predict``; every word table reads them as ``<unk>`` (models/base.py ``known_ids``), and
    ``spec.vocab_size`` counts the trained words only. Only the words' forms are read, never their tags.

    >>> open_vocabulary(["<pad>", "<unk>", "a"], [["a", "b"], ["c", "b"]], 5)
    ['<pad>', '<unk>', 'a', 'b', 'c']
    """
    vocab, seen = list(known), set(known)
    for tokens in token_lists:
        for t in tokens[:max_len]:
            if t not in seen:
                seen.add(t)
                vocab.append(t)
    return vocab


def tag_dataset(
    name: str,
    sentences: Sequence[Sentence],
    *,
    min_freq: int = 1,
    max_len: int | None = None,
    seed: int = 0,
    lower: bool = False,
    tokenizer: str = "given",
    meta: dict[str, Any] | None = None,
) -> Dataset:
    """Split sentences, fit the token vocabulary on the training split, encode tokens and tags."""
    source = (meta or {}).get("source", name)  # errors name the file when there is one
    if len(sentences) < 3:
        raise BlobError(f"{source}: has {len(sentences)} sentence(s); a tagging data set needs at least 3 to split.")
    tag_names = sorted({t for _, tags in sentences for t in tags}, key=lambda t: (t != "O", t[2:], t))
    if tag_names == ["O"]:
        raise BlobError(f"{source}: every token is tagged O; there are no entities to learn.")
    tag_index = {t: i for i, t in enumerate(tag_names)}
    tokens = [[w.lower() for w in ws] if lower else list(ws) for ws, _ in sentences]
    parts = split_indices(len(tokens), FRACTIONS, seed)
    known = build_vocab([tokens[i] for i in parts[0]], min_freq)
    max_len = int(max_len or min(MAX_LEN_CAP, max(len(t) for t in tokens)))
    vocab = open_vocabulary(known, tokens, max_len)
    x, lengths = encode(tokens, vocab, max_len)
    y = np.full((len(tokens), max_len), IGNORE, dtype=np.int64)
    for i, (_, tags) in enumerate(sentences):
        ids = [tag_index[t] for t in tags[:max_len]]
        y[i, : len(ids)] = ids
    extra = {"tokenizer": tokenizer, "lower": lower, "vocab": vocab, "known_words": len(known), "max_len": max_len,
             "tags": tag_names}
    spec = Spec(name, "text", "tag", (max_len,), len(tag_names), tag_names, vocab_size=len(known), extra=extra)
    full = Split(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(lengths))
    info = {
        "sentences": len(tokens),
        "tokens": sum(map(len, tokens)),
        "truncated": int(sum(len(t) > max_len for t in tokens)),
        **(meta or {}),
    }
    return Dataset(spec, *(full.subset(p) for p in parts), meta=info)


CONLL_OPTIONS = {"min_freq": 1, "max_len": None, "lower": False, "token_col": 0, "tag_col": -1}


def load_conll(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """A CoNLL-style file (.conll, .bio, .iob): options min_freq, max_len, lower, token_col, tag_col."""
    unknown = sorted(set(options) - set(CONLL_OPTIONS))
    if unknown:
        raise BlobError(f"{path}: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(CONLL_OPTIONS)}.")
    opts = {**CONLL_OPTIONS, **options}
    try:
        ints = {k: int(opts[k]) for k in ("min_freq", "token_col", "tag_col")}
        max_len = None if opts["max_len"] is None else int(opts["max_len"])
    except (TypeError, ValueError):
        raise BlobError(f"{path}: options min_freq, max_len, token_col and tag_col must be whole numbers.") from None
    lower = truth(opts["lower"]) is True  # anything but a "yes" word keeps the case
    sentences = parse_conll(path, decode_utf8(path, read_bytes(path)), ints["token_col"], ints["tag_col"])
    if not sentences:
        raise BlobError(f"{path}: holds no tagged tokens; write one 'token<TAB>tag' line per token.")
    return tag_dataset(
        path.stem,
        sentences,
        min_freq=ints["min_freq"],
        max_len=max_len,
        seed=seed,
        lower=lower,
        meta={"source": str(path)},
    )


# --- People's Daily 'word/pos' text, as characters ----------------------------------------------

PD_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
PD_SENTENCE_END = "。！？；"  # a word ending in one of these ends a sentence
PD_MAX_CHARS = 80  # longer sentences (after splitting lines at 。！？；) are left out, counted in meta


def people_daily_sentences(text: str, limit: int | None = None) -> tuple[list[Sentence], int]:
    """Character-level BIO sentences from People's Daily 'word/pos' lines: nr -> PER (a family name and
    a given name written as two nr words make one person), ns -> LOC, nt -> ORG. Returns the sentences
    of at most PD_MAX_CHARS characters (the first ``limit`` of them) and how many longer ones were left out."""
    out: list[Sentence] = []
    too_long = 0

    def close(chars: list[str], tags: list[str]) -> None:
        nonlocal too_long
        if len(chars) > PD_MAX_CHARS:
            too_long += 1
        elif chars:
            out.append((chars, tags))

    for line in text.splitlines():
        if limit is not None and len(out) >= limit:
            break
        chars: list[str] = []
        tags: list[str] = []
        prev = None
        for item in line.split():
            word, _, pos = item.rpartition("/")
            if not word:
                continue
            kind = PD_TYPES.get(pos)
            if kind is None:
                tags += ["O"] * len(word)
            else:
                inside = kind == "PER" and prev == "nr"  # the given name continues the family name
                tags += ([f"I-{kind}"] if inside else [f"B-{kind}"]) + [f"I-{kind}"] * (len(word) - 1)
            chars += list(word)
            prev = pos
            if word[-1] in PD_SENTENCE_END:
                close(chars, tags)
                chars, tags, prev = [], [], None
        close(chars, tags)
    return out, too_long
