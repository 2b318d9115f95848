"""Property-based tests of the file parsers: whatever bytes arrive, a Dataset or a BlobError naming the file.

Hypothesis drives the CSV reader (data/files.py), the .ts reader (data/ts_format.py; its write-read round
trip is in test_series.py), the CoNLL reader (data/tagging.py), JSON lines (data/text.py) and .npz archives.
Each property has two halves: well-formed input reads back exactly, and arbitrary garbage (random bytes,
or a valid file with bytes flipped) ends in a BlobError that names the file, never another exception.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blobbotronic.data import Dataset, load
from blobbotronic.data.table import read_table
from blobbotronic.data.tagging import parse_conll
from blobbotronic.data.ts_format import read_ts
from blobbotronic.errors import BlobError

# BLOBBOTRONIC_EXAMPLES=2000 for a longer hunt; 60 keeps the suite at a few seconds
FEW = settings(max_examples=int(os.environ.get("BLOBBOTRONIC_EXAMPLES", "60")), deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def put(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def dataset_or_clear_error(path: Path, **options) -> Dataset | BlobError:
    """load(path): a Dataset, or the BlobError it raised, which must name the file in one line."""
    try:
        ds = load(path, **options)
    except BlobError as e:
        assert path.name in str(e), str(e)
        assert "\n" not in str(e).strip(), str(e)
        return e
    assert isinstance(ds, Dataset) and sum(ds.sizes().values()) > 0
    return ds


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """``data`` with some bytes overwritten and, with ``cut``, the end cut off."""
    b = bytearray(data)
    for pos, value in edits:
        if b:
            b[pos % len(b)] = value
    return bytes(b[: cut % (len(b) + 1)] if cut is not None else b)


EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6)
CUTS = st.none() | st.integers(0, 10**6)
JUNK_TEXT = st.text(st.characters(codec="utf-8"), max_size=300)
JUNK_BYTES = st.binary(max_size=400)


# ---- CSV ------------------------------------------------------------------------------------------

CELL = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8).map(str.strip)


@st.composite
def tables(draw) -> tuple[list[str], list[list[str]]]:
    n_cols = draw(st.integers(2, 5))
    header = draw(st.lists(CELL.filter(bool), min_size=n_cols, max_size=n_cols, unique=True))
    rows = draw(st.lists(st.lists(CELL, min_size=n_cols, max_size=n_cols), max_size=8))
    return header, rows


@FEW
@given(tables(), st.sampled_from([",", "\t", ";"]))
def test_csv_written_by_the_csv_module_reads_back_exactly(folder, table, delimiter):
    header, rows = table
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter).writerows([header, *rows])
    path = put(folder, "t.tsv" if delimiter == "\t" else "t.csv", buf.getvalue().encode("utf-8"))
    got = read_table(path, delimiter=delimiter)
    assert got.header == header and got.rows == rows
    assert len(got.lines) == len(rows) and got.lines == sorted(got.lines)


@FEW
@given(JUNK_TEXT | JUNK_BYTES.map(lambda b: b.decode("latin-1")))
def test_csv_reader_takes_any_text(folder, text):
    path = put(folder, "junk.csv", text.encode("utf-8"))
    try:
        table = read_table(path)
    except BlobError as e:
        assert "junk.csv" in str(e)
        return
    assert all(len(r) == len(table.header) for r in table.rows)


@FEW
@given(JUNK_BYTES)
def test_csv_loader_takes_any_bytes(folder, data):
    dataset_or_clear_error(put(folder, "junk.csv", data))


@FEW
@given(EDITS, CUTS, st.sampled_from([{}, {"task": "regress"}, {"label": "b"}]))
def test_csv_loader_takes_a_damaged_table(folder, edits, cut, options):
    good = "a,b,label\n" + "".join(f"{i},{i % 3 * 1.5},{'xy'[i % 2]}\n" for i in range(12))
    dataset_or_clear_error(put(folder, "damaged.csv", mutate(good.encode(), edits, cut)), **options)


# ---- .ts ------------------------------------------------------------------------------------------

TS_GOOD = ("@problemName toy\n@timeStamps false\n@missing true\n@univariate false\n@dimensions 2\n"
           "@equalLength true\n@seriesLength 3\n@classLabel true a b\n@data\n"
           + "".join(f"{i},{i + 1},?:{i * 2},{i},{i}:{'ab'[i % 2]}\n" for i in range(10)))
TS_PIECES = st.sampled_from(["@problemName p", "@timeStamps true", "@timeStamps false", "@missing true",
                             "@univariate true", "@univariate false", "@dimensions 2", "@dimensions ²",
                             "@equalLength true", "@equalLength false", "@seriesLength 3", "@classLabel true a b",
                             "@classLabel false", "@targetLabel true", "@data", "1,2,3:a", "1,2:3,4:b", "(1,2),(3,4):a",
                             "?,?,?:b", "1,2,3", "1.5:2.5", "nan,inf:a", "", "# note", "@data extra"])


@FEW
@given(JUNK_BYTES | JUNK_TEXT.map(lambda t: t.encode("utf-8")))
def test_ts_reader_takes_any_bytes(folder, data):
    path = put(folder, "junk.ts", data)
    try:
        got = read_ts(path)
    except BlobError as e:
        assert "junk.ts" in str(e)
        return
    assert len(got.series) == len(got.labels) == len(got.lines) > 0


@FEW
@given(st.lists(TS_PIECES, max_size=14), st.lists(TS_PIECES, max_size=6))
def test_ts_loader_takes_any_arrangement_of_header_and_data_lines(folder, head, body):
    dataset_or_clear_error(put(folder, "mixed.ts", "\n".join(head + body).encode()))


@FEW
@given(EDITS, CUTS)
def test_ts_loader_takes_a_damaged_file(folder, edits, cut):
    dataset_or_clear_error(put(folder, "damaged.ts", mutate(TS_GOOD.encode(), edits, cut)))


# ---- CoNLL ----------------------------------------------------------------------------------------

TOKEN = st.text(st.characters(codec="utf-8", exclude_categories=("Z", "C")), min_size=1, max_size=6)
TAG = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-x.y", "I-ORG"])
SENTENCE = st.lists(st.tuples(TOKEN, TAG), min_size=1, max_size=6)


@FEW
@given(st.lists(SENTENCE, max_size=6), st.sampled_from(["\t", " ", "  "]), st.sampled_from(["\n", "\r\n"]))
def test_conll_written_reads_back_as_the_same_sentences(sentences, sep, newline):
    sentences = [s for s in sentences if s[0][0] != "-DOCSTART-"]
    text = (newline * 2).join(newline.join(f"{w}{sep}{t}" for w, t in s) for s in sentences) + newline
    got = parse_conll(Path("x.conll"), text)
    assert got == [([w for w, _ in s], [t for _, t in s]) for s in sentences]


@FEW
@given(JUNK_TEXT | st.lists(st.sampled_from(["a\tO", "b B-PER", "c\tI-PER\tx", "d", "", "  ", "-DOCSTART- O",
                                               "e\tPERSON", "\u2028", "f\t\tB-LOC"]), max_size=12).map("\n".join))
def test_conll_parser_takes_any_text(text):
    try:
        sentences = parse_conll(Path("odd.conll"), text)
    except BlobError as e:
        assert "odd.conll" in str(e)
        return
    assert all(len(tokens) == len(tags) > 0 for tokens, tags in sentences)


@FEW
@given(JUNK_BYTES, st.sampled_from([{}, {"tag_col": "1"}, {"token_col": "3"}, {"max_len": "2"}]))
def test_conll_loader_takes_any_bytes(folder, data, options):
    dataset_or_clear_error(put(folder, "junk.conll", data), **options)


# ---- JSON lines and .npz --------------------------------------------------------------------------

JSON_LINES = st.lists(st.sampled_from(['{"text": "good film", "label": "pos"}', '{"text": "bad", "label": "neg"}',
                                       '{"text": 3, "label": "x"}', '{"label": "x"}', "[1, 2]", "{", "null",
                                       '{"text": "a", "label": ' + "9" * 5000 + "}", "[" * 3000, "",
                                       '{"text": "\\ud800", "label": "x"}', '{"text": "", "label": "y"}']),
                      max_size=10)


@FEW
@given(JSON_LINES.map("\n".join) | JUNK_TEXT)
def test_jsonl_loader_takes_any_lines(folder, text):
    dataset_or_clear_error(put(folder, "junk.jsonl", text.encode("utf-8", "surrogatepass")))


def _npz_bytes() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buf, x=rng.random((12, 3)).astype(np.float32), y=np.arange(12) % 2)
    return buf.getvalue()


NPZ_GOOD = _npz_bytes()


@FEW
@given(EDITS, CUTS)
def test_npz_loader_takes_a_damaged_archive(folder, edits, cut):
    dataset_or_clear_error(put(folder, "damaged.npz", mutate(NPZ_GOOD, edits, cut)))
