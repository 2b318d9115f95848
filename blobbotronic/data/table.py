"""Tables: CSV/TSV text parsed into a Table, and the encoding fitted on its training rows.

``read_table`` parses; ``fit_table`` fits medians, category lists and a scaler on the training rows and records
them in ``spec.extra``; ``encode_table`` repeats that encoding on any rows, so that predict (csv_files.py),
DataFrames and Parquet files (ecosystem.py) encode exactly as a CSV file's training rows were.
``table_dataset`` runs the whole recipe: label, targets, split, encoding.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BlobError, where
from .options import FLOAT32_MAX, class_name
from .reading import read_text
from .spec import Dataset, Spec, Split, split_indices

FRACTIONS = (0.7, 0.15, 0.15)
VAL_FRACTION = 0.1  # of the training rows, when the test rows are given
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
LABEL_NAMES = ("label", "target", "class", "y")
MAX_GUESSED_CLASSES = 20
MAX_CATEGORIES = 100


@dataclass
class Table:
    """A parsed CSV file: its header and its data rows (stripped text), with the line each row ends on."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column(self, name: str) -> list[str]:
        i = self.header.index(name)
        return [row[i] for row in self.rows]

    def at(self, row: int, column: str | None = None) -> str:
        """Where data row ``row`` (0-based) is, for error messages: ``file, line 7, column 'age'``."""
        return where(self.path, self.lines[row], column)


def is_missing(text: str) -> bool:
    return text.lower() in MISSING


def parse_number(text: str) -> float | None:
    """The number in ``text``, or None when it is not one (missing values are handled before this)."""
    try:
        return float(text)
    except ValueError:
        return None


TABLE_ADVICE = "The file must be UTF-8 text; re-save it as UTF-8 (in a spreadsheet, choose 'CSV UTF-8')."


def read_table(path: Path, delimiter: str | None = None, header_row: bool = True) -> Table:
    """Parse a UTF-8 CSV (or TSV, by suffix) with a header row (or, without ``header_row``, columns named
    'column 1', ...); BlobError on anything malformed."""
    text = read_text(path, "table", TABLE_ADVICE, text_only="a CSV must be plain UTF-8 text with a header row")
    delimiter = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows, lines = [], []
    try:
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            if header is None:
                header = _header(path, fields if header_row else [""] * len(fields), reader.line_num)
                if header_row:
                    continue
            if len(fields) != len(header):
                raise BlobError(
                    f"{where(path, reader.line_num)}: expected {len(header)} fields (as in the header) but found "
                    f"{len(fields)}. Every row needs one value per column; quote values that contain {delimiter!r}."
                )
            rows.append([f.strip() for f in fields])
            lines.append(reader.line_num)
    except csv.Error as e:
        if "field limit" in str(e):
            raise BlobError(
                f"{where(path, reader.line_num)}: a value longer than {csv.field_size_limit():,} characters; a table "
                "cell is rarely that long: is a quote left open, or is this not a table with one row per line?"
            ) from None
        raise BlobError(
            f"{where(path, reader.line_num)}: malformed CSV ({e}). A value that contains {delimiter!r}, a quote or a "
            'line break must be wrapped in double quotes, with quotes inside it doubled ("").'
        ) from None
    if header is None:
        raise BlobError(f"{path}: the file is empty; a table needs a header row and at least one data row.")
    return Table(path, header, rows, lines)



def _header(path: Path, fields: list[str], line: int) -> list[str]:
    names = [f.strip() or f"column {i + 1}" for i, f in enumerate(fields)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BlobError(
            f"{where(path, line)}: the header names {', '.join(map(repr, twice))} more than once; "
            "every column needs a unique name."
        )
    return names



def delimiter_hint(table: Table) -> str:
    header = table.header[0]
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), (",", "commas"), ("|", "bars")):
        if sep in header:
            suffix = "tabs (.tsv)" if table.path.suffix.lower() == ".tsv" else "commas (.csv)"
            return f" The header {header!r} looks separated by {name}; this file must be separated by {suffix}."
    return ""


def label_column(table: Table, label: str | None) -> str:
    if label is not None:
        if label not in table.header:
            raise BlobError(
                f"{table.path}: there is no label column {label!r}. Columns present: {', '.join(table.header)}."
            )
        return label
    named = [c for c in table.header if c.lower() in LABEL_NAMES]
    return named[0] if named else table.header[-1]


def table_targets(table: Table, label: str, task: str | None) -> tuple[np.ndarray, tuple[str, ...], str]:
    """Targets as class indices (classify) or floats (regress), the class names, and the task."""
    raw = table.column(label)
    for i, value in enumerate(raw):
        if is_missing(value):
            raise BlobError(f"{table.at(i, label)}: the label is missing ({value!r}); every row needs a label.")
    numbers = [parse_number(v) for v in raw]
    numeric = all(n is not None for n in numbers)
    if numeric:
        _check_finite(table, label, numbers)
    if task is None:
        whole = numeric and all(n.is_integer() for n in numbers)
        task = "classify" if not numeric or (whole and len(set(numbers)) <= MAX_GUESSED_CLASSES) else "regress"
    if task == "regress":
        if not numeric:
            i = next(i for i, n in enumerate(numbers) if n is None)
            raise BlobError(f"{table.at(i, label)}: {raw[i]!r} is not a number; task='regress' needs numeric labels.")
        return np.array(numbers, dtype=np.float32), (), task
    keys = numbers if numeric else raw
    distinct = sorted(set(keys))
    if len(distinct) < 2:
        raise BlobError(
            f"{table.path}: the label column {label!r} has a single class ({class_name(distinct[0])!r}); "
            "a classifier needs at least two classes."
        )
    index = {k: i for i, k in enumerate(distinct)}
    return np.array([index[k] for k in keys], dtype=np.int64), tuple(class_name(k) for k in distinct), task


def fits_float32(n: float) -> bool:
    """Finite and small enough for the 32-bit floats that models compute with."""
    return bool(np.isfinite(n)) and abs(n) <= FLOAT32_MAX


def _check_finite(table: Table, column: str, numbers: list[float | None]) -> None:
    for i, n in enumerate(numbers):
        if n is not None and not fits_float32(n):
            raise BlobError(
                f"{table.at(i, column)}: the value {table.column(column)[i]!r} is infinite or too large; "
                "use a finite number, or leave the cell empty to mark it missing."
            )


def _numeric_column(table: Table, name: str) -> list[float | None] | None:
    """The column's numbers (None for missing), or None when any present value is text (a categorical column)."""
    out: list[float | None] = []
    for text in table.column(name):
        if is_missing(text):
            out.append(None)
            continue
        n = parse_number(text)
        if n is None:
            return None
        out.append(None if np.isnan(n) else n)
    return out


def fit_table(table: Table, features: list[str], train: np.ndarray) -> dict[str, Any]:
    """Fit the encoding on the training rows: a median per numeric column, a category list per text column,
    then a scaler over the numeric features (one-hot columns are left as 0/1). Columns with no training values,
    or with more than MAX_CATEGORIES distinct texts, are dropped and listed in ``dropped``."""
    medians: dict[str, float] = {}
    categories: dict[str, list[str]] = {}
    for name in features:
        numbers = _numeric_column(table, name)
        if numbers is None:
            values = table.column(name)
            seen = sorted({values[i] for i in train if not is_missing(values[i])})
            if len(seen) <= MAX_CATEGORIES:  # more is likely an identifier or free text, and is dropped
                categories[name] = seen
        else:
            _check_finite(table, name, numbers)
            present = [numbers[i] for i in train if numbers[i] is not None]
            if present:
                medians[name] = float(np.median(present))
    columns = [c for c in features if c in medians or categories.get(c)]
    if not columns:
        raise BlobError(f"{table.path}: no feature column has any values in the training rows.")
    extra: dict[str, Any] = {
        "columns": columns,
        "features": _feature_names(columns, categories),
        "medians": medians,
        "categories": categories,
    }
    raw = _encode_unscaled(table, extra)[train]
    numeric = np.array([name in medians for name in extra["features"]])
    mean = np.where(numeric, raw.mean(axis=0), 0.0)
    std = np.where(numeric, raw.std(axis=0), 1.0)
    extra["scaler"] = {"mean": mean.tolist(), "std": np.where(std < 1e-8, 1.0, std).tolist()}
    extra["dropped"] = [c for c in features if c not in columns]
    return extra


def _feature_names(columns: list[str], categories: dict[str, list[str]]) -> list[str]:
    names: list[str] = []
    for c in columns:
        names += [f"{c}={v}" for v in categories[c]] if c in categories else [c]
    return names


def encode_table(table: Table, extra: dict[str, Any]) -> np.ndarray:
    """Encode every row as recorded in ``extra``: impute medians, one-hot categories (unknown -> all zeros),
    then apply the scaler. Tables of built-in data sets, which record only ``features``, read those as numbers."""
    x = _encode_unscaled(table, extra)
    scaler = extra.get("scaler")
    if scaler:
        x = (x - np.array(scaler["mean"])) / np.array(scaler["std"])
    return x.astype(np.float32)


def _encode_unscaled(table: Table, extra: dict[str, Any]) -> np.ndarray:
    columns = extra.get("columns") or extra.get("features") or []
    absent = [c for c in columns if c not in table.header]
    if absent:
        looks_like_data = any(parse_number(c) is not None for c in table.header)
        hint = (
            " Its first line looks like data: a header row naming the columns is required." if looks_like_data else ""
        )
        raise BlobError(
            f"{table.path}: missing feature column(s) {', '.join(map(repr, absent))}. The header must name the "
            f"training columns ({', '.join(columns)}); it has {', '.join(table.header)}.{hint}"
        )
    blocks = [_encode_column(table, c, extra) for c in columns]
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(table.rows), 0))


def _encode_column(table: Table, name: str, extra: dict[str, Any]) -> np.ndarray:
    values = table.column(name)
    categories = extra.get("categories", {}).get(name)
    if categories is None:
        median = extra.get("medians", {}).get(name)
        return np.array([[_encode_number(table, row, name, text, median)] for row, text in enumerate(values)])
    index = {c: i for i, c in enumerate(categories)}
    out = np.zeros((len(values), len(categories)))
    for row, value in enumerate(values):
        if value in index:
            out[row, index[value]] = 1.0
    return out


def _encode_number(table: Table, row: int, name: str, text: str, median: float | None) -> float:
    n = None if is_missing(text) else parse_number(text)
    if n is None and not is_missing(text):
        raise BlobError(f"{table.at(row, name)}: {text!r} is not a number; this column held numbers in training.")
    if n is None or np.isnan(n):
        if median is None:
            raise BlobError(f"{table.at(row, name)}: the value is missing and no training median was recorded.")
        return median
    if not fits_float32(n):
        raise BlobError(f"{table.at(row, name)}: the value {text!r} is infinite or too large; use a finite number.")
    return n


def missing_counts(table: Table, features: list[str]) -> dict[str, Any]:
    by_column = {c: sum(is_missing(v) for v in table.column(c)) for c in features}
    return {"missing": sum(by_column.values()), "missing_by_column": {c: n for c, n in by_column.items() if n}}


def table_dataset(table: Table, label: str | None, task: str | None, seed: int, *, hint: str = "",
                  test_rows: int | None = None) -> Dataset:
    """A table Dataset: the label column (``label``, else one named label/target/class/y, else the last), targets
    (``task`` or decided from them), a stratified 70/15/15 split, the encoding fitted on the training rows.

    ``test_rows`` (DataFrames and Parquet): the last that many rows are the test split and validation is 10% of the
    rest; given at all, ``meta`` records ``published_split``. ``hint`` ends the error of a table with no feature
    column (the CSV loader's guess at a wrong delimiter)."""
    label = label_column(table, label)
    features = [c for c in table.header if c != label]
    if not features:
        raise BlobError(f"{table.path}: has no feature columns besides the label {label!r}.{hint}")
    y, classes, task = table_targets(table, label, task)
    strat = y if task == "classify" else None
    if test_rows:
        n = len(y) - test_rows
        tr, va = split_indices(n, (1 - VAL_FRACTION, VAL_FRACTION), seed, None if strat is None else strat[:n])
        parts = [tr, va, np.arange(n, len(y))]
    else:
        parts = split_indices(len(y), FRACTIONS, seed, strat)
    extra = fit_table(table, features, parts[0])
    extra["label"] = label
    x = encode_table(table, extra)
    spec = Spec(table.path.stem, "table", task, (x.shape[1],), len(classes) or 1, classes, extra=extra)
    full = Split(torch.from_numpy(x), torch.as_tensor(y, dtype=torch.long if classes else torch.float32))
    meta = {"source": str(table.path), "rows": len(y), "dropped": extra["dropped"]}
    if test_rows is not None:
        meta["published_split"] = bool(test_rows)
    return Dataset(spec, *(full.subset(p) for p in parts), meta={**meta, **missing_counts(table, features)})
