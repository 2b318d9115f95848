"""File loaders: CSV/TSV tables, .npz arrays and folders of images, each read into a Dataset with a Spec.

Each loader registers in FILE_LOADERS under the suffix it reads ("" for a folder) and is called as
``loader(path, seed=0, **options)``. Whatever a loader fits on the training split (medians, category
lists, a scaler, an image size) is recorded in ``spec.extra`` so that ``inputs.read`` can prepare new
inputs for prediction exactly the same way; the helpers both sides share (``read_table``,
``encode_table``, ``load_image``) live here.
"""

from __future__ import annotations

import collections
import csv
import io
import struct
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps

from .. import guards
from ..errors import BlobError, where
from . import FILE_LOADERS
from .spec import Dataset, Spec, Split, make_dataset, split_indices
from .transforms import standardize

FRACTIONS = (0.7, 0.15, 0.15)
TASK_CHOICES = ("classify", "regress")


# --- options ---------------------------------------------------------------------------------------


def _options(path: Path, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The loader's options with defaults filled in; an unknown option is a BlobError listing the valid ones."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise BlobError(
            f"{path}: unknown option(s) {', '.join(unknown)} for this file type; "
            f"valid options: {', '.join(defaults) or 'none'}."
        )
    return {**defaults, **given}


def _flag(path: Path, name: str, value: Any) -> bool | None:
    """A yes/no option given as a bool or as text such as 'true' or 'no' (None stays None)."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise BlobError(f"{path}: option {name}={value!r} is not a yes/no value; use true or false.")


def _task_option(path: Path, task: Any) -> str | None:
    if task is not None and task not in TASK_CHOICES:
        raise BlobError(f"{path}: option task={task!r} is not valid; use one of {', '.join(TASK_CHOICES)}.")
    return task


def _class_name(value: Any) -> str:
    """A class label as text: 3.0 -> '3', 'cat' -> 'cat'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value.item() if isinstance(value, np.generic) else value)


# --- CSV and TSV tables ----------------------------------------------------------------------------

FLOAT32_MAX = float(np.finfo(np.float32).max)
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


def read_table(path: Path, delimiter: str | None = None, header_row: bool = True) -> Table:
    """Parse a UTF-8 CSV (or TSV, by suffix) with a header row (or, without ``header_row``, columns named
    'column 1', ...); BlobError on anything malformed."""
    guards.check_file_memory(path, "table")  # a file too large to parse in memory is refused before it is read
    text = _decode_utf8(path, _read_bytes(path))
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


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise BlobError(f"{path}: cannot read the file ({e.strerror or e}).") from None


def _decode_utf8(path: Path, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BlobError(f"{path}: the file is UTF-16 encoded; it must be UTF-8 text. Re-save it as UTF-8.")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data[:nul].count(b"\n") + 1
        raise BlobError(
            f"{where(path, line)}: this is not a text file (a NUL byte at byte offset {nul}); "
            "a CSV must be plain UTF-8 text with a header row."
        )
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = bom + e.start
        line = data[:offset].count(b"\n") + 1
        raise BlobError(
            f"{where(path, line)}: byte 0x{data[offset]:02x} at byte offset {offset} is not valid UTF-8. "
            "The file must be UTF-8 text; re-save it as UTF-8 (in a spreadsheet, choose 'CSV UTF-8')."
        ) from None


def _header(path: Path, fields: list[str], line: int) -> list[str]:
    names = [f.strip() or f"column {i + 1}" for i, f in enumerate(fields)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BlobError(
            f"{where(path, line)}: the header names {', '.join(map(repr, twice))} more than once; "
            "every column needs a unique name."
        )
    return names


@FILE_LOADERS.register(".csv")
@FILE_LOADERS.register(".tsv")
def load_table(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """Load a CSV/TSV table: options ``label`` (column name) and ``task`` ("classify" or "regress").

    Two other kinds of file share these suffixes and are handed over: a UCR series file (``NAME_TRAIN.tsv``
    with a numeric first line, data/ucr_text.py) and a text-classification table, read by data/text.py, when
    ``text=COLUMN`` names its text column or one is detected (``free_text_column``); ``text=none`` keeps a
    table with a free-text column a table."""
    from .text import TEXT_OPTIONS, load_text_table
    from .ucr_text import is_ucr_table, load_ucr_text

    if "text" not in options and is_ucr_table(path):
        return load_ucr_text(path, seed=seed, **options)
    detect = "text" not in options
    if not detect and str(options["text"]).strip().lower() in ("none", "no", "false"):
        options = {k: v for k, v in options.items() if k != "text"}
    elif not detect:
        return load_text_table(path, seed=seed, **options)
    table_options = {k: v for k, v in options.items() if k not in TEXT_OPTIONS or k in ("label", "task")}
    opts = _options(path, table_options, {"label": None, "task": None})
    task = _task_option(path, opts["task"])
    table = read_table(path)
    if not table.rows:
        raise BlobError(f"{path}: has a header ({', '.join(table.header)}) but no data rows.")
    found = free_text_column(table, opts["label"]) if detect and task != "regress" else None
    if found:
        column, label, why = found
        ds = load_text_table(path, seed=seed, **{**options, "text": column, "label": label})
        ds.meta["text_column_detected"] = why
        return ds
    _options(path, options, {"label": None, "task": None})  # text options without a text column are refused
    label = _label_column(table, opts["label"])
    features = [c for c in table.header if c != label]
    if not features:
        raise BlobError(f"{path}: has no feature columns besides the label {label!r}.{_delimiter_hint(table)}")
    y, classes, task = _labels(table, label, task)
    parts = split_indices(len(y), FRACTIONS, seed, y if task == "classify" else None)
    extra = fit_table(table, features, parts[0])
    extra["label"] = label
    x = encode_table(table, extra)
    spec = Spec(path.stem, "table", task, (x.shape[1],), len(classes) or 1, classes, extra=extra)
    full = Split(torch.from_numpy(x), torch.as_tensor(y, dtype=torch.long if classes else torch.float32))
    meta = {"source": str(path), "rows": len(y), "dropped": extra["dropped"], **_missing_counts(table, features)}
    return Dataset(spec, *(full.subset(p) for p in parts), meta=meta)


TEXT_MIN_DISTINCT = 0.5  # a free-text column: at least this share of its values distinct (a category repeats),
TEXT_MIN_WORDS = 3  # and its median value this many words
TEXT_MIN_CHARS = 20  # or this many characters (for languages written without spaces)
TEXT_SAMPLE = 2000  # a column is judged on its first this many present values


def _is_free_text(values: list[str]) -> bool:
    """Values that read as sentences rather than numbers, codes or categories (see ``free_text_column``)."""
    present = [v for v in values if not is_missing(v)][:TEXT_SAMPLE]
    if not present or all(parse_number(v) is not None for v in present):
        return False
    if len(set(present)) < TEXT_MIN_DISTINCT * len(present):
        return False
    return bool(np.median([len(v.split()) for v in present]) >= TEXT_MIN_WORDS
                or np.median([len(v) for v in present]) >= TEXT_MIN_CHARS)


def free_text_column(table: Table, label: str | None = None) -> tuple[str, str, str] | None:
    """(text column, label column, why) when a table is a text-classification table, else None.

    The rule: exactly one column holds free text (judged on its first 2,000 values: some are not numbers, at
    least half are distinct, and the median one has at least 3 words or 20 characters, so codes, short names
    and categories with a few repeated levels do not count); the table has just that column and a label, or
    the column is called text, sentence, review, content, document, comment or tweet (other columns are then
    left unused); and the label column (``label=``, else one called label, target, class, sentiment or y, else
    the other or the last column) holds classes: text, or at most 20 distinct whole numbers (a numeric target
    stays a table). Titanic's names, say, are free text, but in a table of twelve columns under the name
    'Name': a table.
    """
    from .text import LABEL_NAMES as TEXT_LABEL_NAMES
    from .text import TEXT_NAMES

    texts = [c for c in table.header if c != label and _is_free_text(table.column(c))]
    if len(texts) != 1:
        return None
    text = texts[0]
    if len(table.header) != 2 and text.lower() not in TEXT_NAMES:
        return None
    others = [c for c in table.header if c != text]
    named = [c for c in others if c.lower() in TEXT_LABEL_NAMES]
    label = label or (named[0] if named else others[-1])
    if label == text or label not in table.header:
        return None
    numbers = [parse_number(v) for v in table.column(label) if not is_missing(v)]
    if numbers and all(n is not None for n in numbers):
        if not all(np.isfinite(n) and n.is_integer() for n in numbers) or len(set(numbers)) > MAX_GUESSED_CLASSES:
            return None
    why = (f"column {text!r} holds free text (varied values, most of several words), so the file is read as text "
           f"classification by {label!r}; text=none reads it as a table")
    return text, label, why


def _delimiter_hint(table: Table) -> str:
    header = table.header[0]
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), (",", "commas"), ("|", "bars")):
        if sep in header:
            suffix = "tabs (.tsv)" if table.path.suffix.lower() == ".tsv" else "commas (.csv)"
            return f" The header {header!r} looks separated by {name}; this file must be separated by {suffix}."
    return ""


def _label_column(table: Table, label: str | None) -> str:
    if label is not None:
        if label not in table.header:
            raise BlobError(
                f"{table.path}: there is no label column {label!r}. Columns present: {', '.join(table.header)}."
            )
        return label
    named = [c for c in table.header if c.lower() in LABEL_NAMES]
    return named[0] if named else table.header[-1]


def _labels(table: Table, label: str, task: str | None) -> tuple[np.ndarray, tuple[str, ...], str]:
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
            f"{table.path}: the label column {label!r} has a single class ({_class_name(distinct[0])!r}); "
            "a classifier needs at least two classes."
        )
    index = {k: i for i, k in enumerate(distinct)}
    return np.array([index[k] for k in keys], dtype=np.int64), tuple(_class_name(k) for k in distinct), task


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


def _missing_counts(table: Table, features: list[str]) -> dict[str, Any]:
    by_column = {c: sum(is_missing(v) for v in table.column(c)) for c in features}
    return {"missing": sum(by_column.values()), "missing_by_column": {c: n for c, n in by_column.items() if n}}


# --- .npz arrays -----------------------------------------------------------------------------------

NPZ_KEYS = ("x", "y", "x_test", "y_test", "lengths", "lengths_test")
NDIM_MODALITY = {2: "table", 3: "sequence", 4: "image", 5: "video"}
MODALITY_NDIM = {"table": 2, "text": 2, "sequence": 3, "image": 4, "video": 5}
NPZ_KINDS = {"x": ("biuf", "numbers"), "y": ("biufU", "numbers or text labels"), "lengths": ("iu", "whole numbers")}
# What numpy, zipfile and tokenize (reading .npy headers) raise on damaged, encrypted or absurd archives.
ARRAY_FILE_ERRORS = (
    ValueError,
    OSError,
    EOFError,
    zipfile.BadZipFile,
    tokenize.TokenError,
    SyntaxError,
    NotImplementedError,
    RuntimeError,
    zlib.error,
    MemoryError,
)
SAVEZ_HINT = "Save one with numpy.savez(path, x=inputs, y=targets)."


@FILE_LOADERS.register(".npz")
def load_npz(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """Load arrays ``x`` and ``y`` (optionally ``x_test``, ``y_test``, ``lengths``, ``lengths_test``):
    options ``modality`` (default from x's dimensions) and ``task`` (default: classify for integer or text y)."""
    opts = _options(path, options, {"modality": None, "task": None})
    task = _task_option(path, opts["task"])
    a = _read_npz(path)
    _check_pairs(path, a)
    modality = _npz_modality(path, a["x"], opts["modality"])
    for key in ("x", "x_test"):
        if key in a:
            a[key] = _add_channel_axis(a[key], modality)
    _check_lengths(path, a, modality)
    task = task or ("classify" if a["y"].dtype.kind in "biuU" else "regress")
    y, y_test, classes = _npz_targets(path, a, task)
    extra: dict[str, Any] = {"source": "npz"}
    x, x_test = a["x"], a.get("x_test")
    if modality in ("image", "video"):
        x, x_test, extra["value_scale"] = _unit_range(path, x, x_test)
    if modality == "table":
        extra["features"] = [f"x{i}" for i in range(x.shape[1])]
    vocab = int(max(x.max(), -1 if x_test is None else x_test.max())) + 1 if modality == "text" else 0
    n_outputs = len(classes) if task == "classify" else (1 if y.ndim == 1 else y.shape[1])
    spec = Spec(path.stem, modality, task, x.shape[1:], n_outputs, classes, vocab_size=vocab, extra=extra)
    test = None if x_test is None else (x_test, y_test)
    ds = make_dataset(
        spec,
        x,
        y,
        test=test,
        seed=seed,
        lengths=a.get("lengths"),
        test_lengths=a.get("lengths_test"),
        meta={"source": str(path), "published_split": test is not None},
    )
    return standardize(ds) if modality == "table" else ds


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with open_binary(path) as f:  # numpy leaves a file it opened itself open when the archive is broken
        if not f.read(6).startswith((b"PK", b"\x93NUMPY")):
            raise BlobError(f"{path}: not an .npz archive (it does not start like a zip file). {SAVEZ_HINT}")
        f.seek(0)
        try:
            archive = np.load(f, allow_pickle=False)
        except ARRAY_FILE_ERRORS as e:
            raise BlobError(f"{path}: not a readable .npz archive ({short_reason(e)}). {SAVEZ_HINT}") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise BlobError(f"{path}: holds a single array, not an .npz archive of named arrays. {SAVEZ_HINT}")
        return _npz_arrays(path, archive)


def _npz_arrays(path: Path, archive: np.lib.npyio.NpzFile) -> dict[str, np.ndarray]:
    with archive:
        absent = [k for k in ("x", "y") if k not in archive.files]
        if absent:
            raise BlobError(
                f"{path}: has no array named {' or '.join(map(repr, absent))}; it holds "
                f"{', '.join(map(repr, archive.files)) or 'no arrays'}. {SAVEZ_HINT}"
            )
        guards.check_npz_memory(archive, path)  # from the shapes the headers declare, before any array is read
        return {k: _npz_array(path, archive, k) for k in NPZ_KEYS if k in archive.files}


def open_binary(path: Path) -> BinaryIO:
    """Open a file for reading bytes, or raise a BlobError saying why it cannot be."""
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as e:
        raise BlobError(f"{path}: cannot read the file ({e.strerror or e}).") from None


def short_reason(e: BaseException) -> str:
    return str(e).split(". ")[0].rstrip(".")


def _npz_array(path: Path, archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        array = archive[key]
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickled" in str(e):
            raise BlobError(
                f"{path}: array {key!r} is an object array, which could only be read by unpickling it, and pickles "
                "can run code, so it is refused. Store plain numeric arrays (numpy.savez with numbers, not lists)."
            ) from None
        raise BlobError(f"{path}: cannot read array {key!r} ({short_reason(e)}). {SAVEZ_HINT}") from None
    except ARRAY_FILE_ERRORS as e:
        raise BlobError(f"{path}: array {key!r} is damaged ({short_reason(e)}). {SAVEZ_HINT}") from None
    kinds, words = NPZ_KINDS[key.removesuffix("_test")]
    if array.dtype.kind not in kinds:
        raise BlobError(f"{path}: array {key!r} has type {array.dtype}; it must hold {words}.")
    if array.dtype.kind == "f":
        _check_finite_array(path, key, array)
    return array


def _check_finite_array(path: Path, key: str, array: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(array) <= FLOAT32_MAX)  # NaN compares false
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(array[first]) else "infinite" if np.isinf(array[first]) else "too large"
        raise BlobError(
            f"{path}: array {key!r} has {int(bad.sum())} NaN, infinite or too large value(s), the first ({kind}) "
            f"at index {first}; clean or impute them before loading."
        )


def _check_pairs(path: Path, a: dict[str, np.ndarray]) -> None:
    """x and y (and x_test and y_test) must agree in length, and the test arrays must come as a pair."""
    if ("x_test" in a) != ("y_test" in a):
        raise BlobError(f"{path}: has only one of 'x_test' and 'y_test'; give both or neither.")
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        if xk not in a:
            continue
        if a[xk].ndim == 0 or a[yk].ndim == 0:
            raise BlobError(f"{path}: {xk!r} and {yk!r} must be arrays with one entry per sample, not single values.")
        if a[xk].size == 0:
            raise BlobError(f"{path}: {xk!r} is empty (shape {a[xk].shape}); it needs samples with values.")
        if len(a[xk]) != len(a[yk]):
            raise BlobError(
                f"{path}: {xk!r} has {len(a[xk])} samples but {yk!r} has {len(a[yk])}; they must have the same "
                "length (one target per input)."
            )
    if "x_test" in a and a["x_test"].shape[1:] != a["x"].shape[1:]:
        raise BlobError(
            f"{path}: 'x_test' samples have shape {a['x_test'].shape[1:]} but 'x' samples have shape "
            f"{a['x'].shape[1:]}; they must match."
        )


def _npz_modality(path: Path, x: np.ndarray, modality: str | None) -> str:
    if modality is None:
        if x.ndim not in NDIM_MODALITY:
            raise BlobError(
                f"{path}: 'x' has shape {x.shape}; expected (N, F) table, (N, L, C) sequence, (N, C, H, W) image "
                "or (N, T, C, H, W) video (add a trailing axis for one feature: x[:, None])."
            )
        return NDIM_MODALITY[x.ndim]
    if modality not in MODALITY_NDIM:
        raise BlobError(f"{path}: option modality={modality!r} is not valid; use one of {', '.join(MODALITY_NDIM)}.")
    want = MODALITY_NDIM[modality]
    if x.ndim != want and not (x.ndim == want - 1 and modality in ("sequence", "image")):
        raise BlobError(f"{path}: modality {modality!r} needs 'x' with {want} dimensions, but 'x' has shape {x.shape}.")
    if modality == "text" and (x.dtype.kind not in "iu" or x.min() < 0):
        raise BlobError(f"{path}: modality 'text' needs 'x' of non-negative whole-number token ids.")
    return modality


def _add_channel_axis(x: np.ndarray, modality: str) -> np.ndarray:
    """Add the missing channel axis: (N, L) -> (N, L, 1) for sequences, (N, H, W) -> (N, 1, H, W) for images."""
    if x.ndim == MODALITY_NDIM[modality] - 1:
        x = x[..., None] if modality == "sequence" else x[:, None]
    return x


def _check_lengths(path: Path, a: dict[str, np.ndarray], modality: str) -> None:
    for key, xk in (("lengths", "x"), ("lengths_test", "x_test")):
        if key not in a:
            continue
        if modality not in ("sequence", "text") or xk not in a:
            raise BlobError(f"{path}: {key!r} is only meaningful for sequence or text data with an {xk!r} array.")
        n, steps = a[xk].shape[:2]
        lengths = a[key]
        if lengths.shape != (n,) or lengths.min(initial=1) < 1 or lengths.max(initial=1) > steps:
            raise BlobError(f"{path}: {key!r} must have shape ({n},) with every length between 1 and {steps}.")


def _npz_targets(path: Path, a: dict[str, np.ndarray], task: str) -> tuple[np.ndarray, Any, tuple[str, ...]]:
    y, y_test = a["y"], a.get("y_test")
    if y_test is not None and y_test.shape[1:] != y.shape[1:]:
        raise BlobError(f"{path}: 'y_test' has shape {y_test.shape} but 'y' has shape {y.shape}; they must match.")
    if y.ndim == 2 and y.shape[1] == 1:
        y, y_test = y[:, 0], None if y_test is None else y_test[:, 0]
    if task == "regress":
        if y.dtype.kind == "U":
            raise BlobError(f"{path}: 'y' holds text, but task='regress' needs numeric targets.")
        return y.astype(np.float32), None if y_test is None else y_test.astype(np.float32), ()
    if y.ndim != 1:
        raise BlobError(f"{path}: 'y' has shape {y.shape}; classification needs one label per sample, shape (N,).")
    values = np.unique(y if y_test is None else np.concatenate([y, y_test.reshape(-1)]))
    if len(values) < 2:
        only = _class_name(values[0])
        raise BlobError(f"{path}: 'y' has a single class ({only!r}); a classifier needs at least two classes.")
    index = lambda v: np.searchsorted(values, v).astype(np.int64)  # noqa: E731
    return index(y), None if y_test is None else index(y_test), tuple(_class_name(v) for v in values)


def _unit_range(path: Path, x: np.ndarray, x_test: np.ndarray | None) -> tuple[np.ndarray, Any, float]:
    """Images as floats in [0, 1]: whole numbers 0..255 are divided by 255; floats must already be in range."""
    both = [x] if x_test is None else [x, x_test]
    if all(v.dtype.kind in "biu" for v in both) and max(v.max() for v in both) > 1:
        scale = 255.0
        if min(v.min() for v in both) < 0 or max(v.max() for v in both) > 255:
            raise BlobError(f"{path}: image values in 'x' must be 0..255 (whole numbers) or 0..1 (floats).")
    else:
        scale = 1.0
        if min(v.min() for v in both) < 0 or max(v.max() for v in both) > 1:
            raise BlobError(
                f"{path}: image values in 'x' must lie in [0, 1] (or be whole numbers 0..255); found "
                f"{float(min(v.min() for v in both)):g} to {float(max(v.max() for v in both)):g}."
            )
    scaled = [(v / scale).astype(np.float32) for v in both]
    return scaled[0], (scaled[1] if x_test is not None else None), scale


# --- folders of images -----------------------------------------------------------------------------

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
IMAGE_FORMATS = ["PNG", "JPEG", "BMP", "GIF"]
MAX_SIDE = 64  # default images are shrunk so that neither side exceeds this
MAX_IMAGE_PIXELS = 50_000_000  # larger images are refused as possible decompression bombs
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N"})
BAD_IMAGE_HINT = "Replace or delete it (a folder loads with skip_bad=True to skip unreadable images)."


@FILE_LOADERS.register("")
def load_image_folder(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """Load a folder with one subfolder of images per class: options ``size`` (int, "HxW" or (H, W); default
    the most common size shrunk to fit 64x64), ``grey`` (default: all images greyscale) and ``skip_bad``.
    A folder of train/ and test/ (and val/) folders of classes keeps that split (``split_folders``); it holds
    images or, when its class folders hold clips, clips (video.load_video_folder)."""
    from .hf_folders import is_hf_folder, load_hf_folder  # a Hugging Face save_to_disk folder is read there
    if is_hf_folder(path):
        return load_hf_folder(path, seed=seed, **options)
    from . import video  # a folder of clips (video files, frame folders) goes to the video loader
    splits = split_folders(path)
    if splits is not None:
        if video.is_video_folder(splits["train"], options):
            return video.load_video_folder(path, seed=seed, splits=splits, **options)
        return _load_split_image_folder(path, splits, **options)
    if video.is_video_folder(path, options):
        return video.load_video_folder(path, seed=seed, **options)
    opts = _options(path, options, {"size": None, "grey": None, "skip_bad": False})
    skip_bad = bool(_flag(path, "skip_bad", opts["skip_bad"]))
    files = _class_files(path)
    skipped: list[Path] = []
    headers = _read_each([f for fs in files.values() for f in fs], peek_image, skip_bad, skipped)
    if not headers:
        raise BlobError(f"{path}: none of the {len(skipped)} images could be read.")
    size = _size_option(path, opts["size"]) or default_image_size([s for s, _ in headers.values()])
    grey = _flag(path, "grey", opts["grey"])
    grey = all(mode in GREY_MODES for _, mode in headers.values()) if grey is None else grey
    guards.check_decoded_memory(len(headers), (1 if grey else 3, *size), path, "images",
                                "Read them smaller (size=32) or in grey (grey=true), or use fewer images.")
    arrays = _read_each(list(headers), lambda f: load_image(f, size, grey), skip_bad, skipped)
    label_of = {f: i for i, fs in enumerate(files.values()) for f in fs}
    y = [label_of[f] for f in arrays]
    classes = _surviving_classes(path, list(files), y)
    spec = Spec(
        path.name,
        "image",
        "classify",
        (1 if grey else 3, *size),
        len(classes),
        classes,
        extra={"size": list(size), "grey": grey, "classes": list(classes)},
    )
    meta = {"source": str(path), "skipped": len(skipped), "skipped_files": [str(f) for f in skipped[:20]]}
    return make_dataset(spec, np.stack(list(arrays.values())), _renumber(y), seed=seed, meta=meta)


SPLIT_FOLDERS = {"train": "train", "test": "test", "val": "val", "valid": "val", "validation": "val"}
VAL_FRACTION = 0.2  # without a val/ folder, validation is this share of train/, stratified, seed 0


def split_folders(path: Path) -> dict[str, Path] | None:
    """``{"train": ..., "test": ..., "val": ...}`` when a folder is laid out as published splits, else None.

    The layout: every visible subfolder is train/, test/ or val/ (also valid/, validation/; any case), train/
    is among them and holds subfolders (the classes). A train/ holding images itself is a class called
    'train', and a folder with any other subfolder is one folder per class. train/ without test/ is an error.
    """
    subs = [d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")]
    named: dict[str, Path] = {}
    for d in sorted(subs):
        split = SPLIT_FOLDERS.get(d.name.lower())
        if split is None:
            return None
        if split in named:
            raise BlobError(f"{path}: both {named[split].name}/ and {d.name}/ hold the {split} split; keep one.")
        named[split] = d
    train = named.get("train")
    if train is None or not any(c.is_dir() and not c.name.startswith(".") for c in train.iterdir()):
        return None
    if "test" not in named:
        raise BlobError(
            f"{path}: has {', '.join(d.name + '/' for d in named.values())} but no test/ folder. A folder laid out as "
            "splits holds train/ and test/ (and optionally val/), each with one subfolder per class, e.g. "
            f"{path / 'train' / 'cat' / '1.png'} and {path / 'test' / 'cat' / '2.png'}."
        )
    return named


def check_split_classes(path: Path, classes: dict[str, list[str]]) -> list[str]:
    """The class names of train/, which test/ (and val/) must have too; a BlobError names any difference."""
    train = classes["train"]
    for split in ("test", "val"):
        if split not in classes or set(classes[split]) == set(train):
            continue
        only_there = sorted(set(classes[split]) - set(train))
        only_train = sorted(set(train) - set(classes[split]))
        parts = [f"{split}/ has {', '.join(map(repr, only_there))} that train/ lacks"] if only_there else []
        parts += [f"train/ has {', '.join(map(repr, only_train))} that {split}/ lacks"] if only_train else []
        raise BlobError(
            f"{path}: the class folders of train/ and {split}/ differ: {'; '.join(parts)}. Each split holds the same "
            f"class folders ({', '.join(train)} in train/), with at least one example each."
        )
    return train


def split_parts(origin: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], str]:
    """Train/val/test indices from where each example came from (0 train, 1 val, 2 test), and a note saying how:
    the published folders, with validation carved from train/ (20%, stratified, seed 0) when there is no val/."""
    train, val, test = (np.flatnonzero(origin == k) for k in range(3))
    if len(val):
        return [train, val, test], "published split: the train/, val/ and test/ folders as given"
    keep, carve = split_indices(len(train), (1 - VAL_FRACTION, VAL_FRACTION), 0, y[train])
    return [train[keep], train[carve], test], (
        f"published split: train/ and test/ as given; validation {VAL_FRACTION:.0%} of train/, stratified, seed 0")


def _load_split_image_folder(path: Path, splits: dict[str, Path], **options: Any) -> Dataset:
    """Images laid out as train/, test/ (and val/) folders of class folders, the published split kept."""
    opts = _options(path, options, {"size": None, "grey": None, "skip_bad": False})
    skip_bad = bool(_flag(path, "skip_bad", opts["skip_bad"]))
    per_split = {s: _class_files(d) for s, d in splits.items()}
    classes = check_split_classes(path, {s: list(f) for s, f in per_split.items()})
    origin_of = {"train": 0, "val": 1, "test": 2}
    found = {f: (origin_of[s], classes.index(c)) for s, fs in per_split.items() for c, cf in fs.items() for f in cf}
    skipped: list[Path] = []
    headers = _read_each(list(found), peek_image, skip_bad, skipped)
    trained = [h for f, h in headers.items() if found[f][0] == 0]
    if not trained:
        raise BlobError(f"{path}: none of the images in train/ could be read.")
    size = _size_option(path, opts["size"]) or default_image_size([s for s, _ in trained])
    grey = _flag(path, "grey", opts["grey"])
    grey = all(mode in GREY_MODES for _, mode in headers.values()) if grey is None else grey
    guards.check_decoded_memory(len(headers), (1 if grey else 3, *size), path, "images",
                                "Read them smaller (size=32) or in grey (grey=true), or use fewer images.")
    arrays = _read_each(list(headers), lambda f: load_image(f, size, grey), skip_bad, skipped)
    origin = np.array([found[f][0] for f in arrays])
    y = np.array([found[f][1] for f in arrays], dtype=np.int64)
    lost = [c for i, c in enumerate(classes) if not (y[origin == 0] == i).any()]
    if lost:
        raise BlobError(f"{path}: after skipping unreadable images, train/ has none of class(es) {', '.join(lost)}.")
    parts, how = split_parts(origin, y)
    spec = Spec(path.name, "image", "classify", (1 if grey else 3, *size), len(classes), tuple(classes),
                extra={"size": list(size), "grey": grey, "classes": list(classes)})
    full = Split(torch.from_numpy(np.stack(list(arrays.values()))), torch.from_numpy(y))
    counts = {s: int((origin == k).sum()) for s, k in origin_of.items() if s in splits}
    meta = {"source": str(path), "split": how, "published_split": counts,
            "skipped": len(skipped), "skipped_files": [str(f) for f in skipped[:20]]}
    return Dataset(spec, *(full.subset(p) for p in parts), meta=meta)


def _read_each(files: list[Path], read: Callable[[Path], Any], skip_bad: bool, skipped: list[Path]) -> dict[Path, Any]:
    """``read(file)`` for every file; with ``skip_bad`` an unreadable one is noted in ``skipped``, else it raises."""
    out = {}
    for file in files:
        try:
            out[file] = read(file)
        except BlobError:
            if not skip_bad:
                raise
            skipped.append(file)
    return out


def _class_files(path: Path) -> dict[str, list[Path]]:
    """Image files per class subfolder (searched recursively, hidden entries ignored), classes in name order."""
    subfolders = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not subfolders:
        loose = len(image_files(path, recursive=False))
        found = f"found {loose} images directly in it but no subfolders" if loose else "found no subfolders"
        raise BlobError(
            f"{path}: an image folder needs one subfolder per class, e.g. {path / 'cat' / '1.png'} and "
            f"{path / 'dog' / '2.png'}; {found}."
        )
    files = {d.name: image_files(d, recursive=True) for d in subfolders}
    files = {name: fs for name, fs in files.items() if fs}
    if len(files) < 2:
        which = f"only the class {next(iter(files))!r} has images" if files else "no subfolder holds images"
        raise BlobError(
            f"{path}: {which} ({', '.join(IMAGE_SUFFIXES)}); a classifier needs at least two class subfolders "
            "with images."
        )
    return files


def image_files(folder: Path, recursive: bool) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        f
        for f in candidates
        if f.suffix.lower() in IMAGE_SUFFIXES
        and f.is_file()
        and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    )


def _surviving_classes(path: Path, names: list[str], y: list[int]) -> tuple[str, ...]:
    kept = sorted(set(y))
    if len(kept) < 2:
        raise BlobError(f"{path}: after skipping unreadable images fewer than two classes have images left.")
    return tuple(names[i] for i in kept)


def _renumber(y: list[int]) -> np.ndarray:
    """Class indices made contiguous after classes that lost all their images are dropped."""
    kept = sorted(set(y))
    return np.searchsorted(kept, np.array(y)).astype(np.int64)


def _size_option(path: Path, size: Any) -> tuple[int, int] | None:
    """``size`` as (height, width): 28, "28", "28x32" or (28, 32)."""
    if size is None:
        return None
    parts = size if isinstance(size, (list, tuple)) else str(size).lower().replace("x", " ").split()
    try:
        hw = [int(p) for p in parts]
    except (TypeError, ValueError):
        hw = []
    if len(hw) == 1:
        hw *= 2
    if len(hw) != 2 or not all(1 <= s <= 1024 for s in hw):
        raise BlobError(f"{path}: option size={size!r} is not valid; use a side such as 32, or HxW such as 28x32.")
    return hw[0], hw[1]


def default_image_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The most common (width, height), shrunk to fit within MAX_SIDE, returned as (height, width)."""
    (w, h), _ = collections.Counter(sizes).most_common(1)[0]
    f = min(1.0, MAX_SIDE / max(w, h))
    return max(1, round(h * f)), max(1, round(w * f))


@contextmanager
def _image_errors(file: Path) -> Iterator[None]:
    """Turn Pillow's failures on one file into a BlobError naming it; refuse decompression bombs."""
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BlobError(
            f"{file}: refused as a possible decompression bomb: it declares more than {MAX_IMAGE_PIXELS:,} pixels. "
            f"{BAD_IMAGE_HINT}"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise BlobError(
            f"{file}: cannot read this image ({e}); it is corrupt, truncated or not a "
            f"{'/'.join(IMAGE_FORMATS)} file. {BAD_IMAGE_HINT}"
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit


def peek_image(file: Path) -> tuple[tuple[int, int], str]:
    """An image's (width, height) and Pillow mode, from its header only."""
    with _image_errors(file), Image.open(file, formats=IMAGE_FORMATS) as im:
        return im.size, im.mode


def load_image(file: Path, size: tuple[int, int], grey: bool) -> np.ndarray:
    """Decode an image, turn it upright, convert to grey or RGB and resize to (height, width):
    a float32 array (C, H, W) in [0, 1]. Training and predict both read images through here."""
    h, w = size
    mode = "L" if grey else "RGB"
    with _image_errors(file), Image.open(file, formats=IMAGE_FORMATS) as im:
        im.draft(mode, (w, h))  # JPEGs decode at a reduced scale when that is enough
        im = ImageOps.exif_transpose(_eight_bit(im))
        im = im.convert(mode).resize((w, h), Image.Resampling.LANCZOS)
        array = np.asarray(im, dtype=np.float32) / 255.0
    return array[None] if grey else array.transpose(2, 0, 1).copy()


def _eight_bit(im: Image.Image) -> Image.Image:
    """16-bit greyscale as 8-bit (Pillow's own conversion clips instead of scaling)."""
    if im.mode.startswith("I"):
        return Image.fromarray((np.asarray(im, dtype=np.float64) / 257.0).round().clip(0, 255).astype(np.uint8))
    return im
