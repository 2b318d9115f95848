"""UCR time series in the archive's text formats: ``NAME_TRAIN.tsv`` (2018) and ``NAME_TRAIN.txt`` (classic).

Both hold one univariate series a line: the class label first, then the values, with no header. The 2018
archive separates fields by tabs and pads the shorter series of a variable-length set with ``NaN`` at the
end; the classic files separate them by spaces (the label often written ``1.0000000e+00``). ``NAME_TEST``
beside ``NAME_TRAIN`` keeps the published split, as the ``.ts`` loader does: validation is ``val_fraction``
(0.2) of TRAIN, stratified; ``test="none"`` ignores the sibling, ``test=PATH`` names another file. The
series go through ``series.ts_dataset`` exactly as a ``.ts`` file's do, so the same data read from either
gives equal tensors: trailing ``NaN`` is padding (the series is that much shorter; lengths are recorded when
they differ), a ``NaN`` inside a series is a missing value, filled by interpolation. Classes are the labels
in numeric order. Multivariate series do not exist in these formats (use ``.ts``).

How a file is recognised, and why:

* ``.tsv`` is also the suffix of tables (read by csv_files.load_table), so a ``.tsv`` is read as UCR only when
  its name ends ``_TRAIN`` or ``_TEST`` (any case) **and** its first non-blank line is all numbers with a
  whole-number first field: a table's first line is a header of column names, never all numbers. Every
  later line must then be numeric too, and an error names the line and column that is not.
* ``.txt`` is read by no other loader (predict reads texts from .txt, but never through ``data.load``), so
  any ``.txt`` whose first line looks like that is read as UCR, whatever its name; one that does not is
  refused with a message naming the formats that hold text (``.csv``/``.jsonl``) instead of guessing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BlobError, where
from .series import ts_dataset, val_fraction_option
from .spec import Dataset
from .ts_format import TsData, read_series_text

FIRST_LINE_BYTES = 4 * 2**20  # the first line is sniffed from at most this much of the file
_SPLIT_NAME = re.compile(r"_(train|test)$", re.IGNORECASE)
FORMATS = {".tsv": "tab-separated (the 2018 UCR archive)", ".txt": "whitespace-separated (the classic UCR format)"}
LAYOUT = ("one series a line: a whole-number class label, then the values ({sep}), no header; NaN marks a missing "
          "value, or pads a shorter series at its end")


def _layout(path: Path) -> str:
    return LAYOUT.format(sep="tab-separated" if path.suffix.lower() == ".tsv" else "separated by spaces or tabs")


def _fields(path: Path, line: str) -> list[str]:
    if path.suffix.lower() == ".tsv":
        return [f.strip(" \r") for f in line.rstrip().split("\t")]
    return line.split()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _looks_ucr(fields: list[str]) -> bool:
    """A class label that is a whole number, then at least one value, every field a number (or NaN)."""
    numbers = [_number(f) for f in fields]
    if len(fields) < 2 or any(n is None for n in numbers):
        return False
    return bool(np.isfinite(numbers[0])) and float(numbers[0]).is_integer()


def _first_fields(path: Path) -> list[str] | None:
    """The fields of the first non-blank line (read from at most FIRST_LINE_BYTES), None when not UTF-8 text."""
    try:
        with open(path, "rb") as f:
            head = f.read(FIRST_LINE_BYTES)
    except OSError:
        return None
    complete = len(head) < FIRST_LINE_BYTES
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4 or complete:  # only a character cut at the end of the sample is forgiven
            return None
        text = head[: e.start].decode("utf-8-sig")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip():
            fields = _fields(path, line)
            cut = i == len(lines) - 1 and not complete and not text.endswith(("\n", "\r"))
            return fields[:-1] if cut else fields  # the last field of a cut line may be cut too
    return None


def is_ucr_file(path: Path, options: dict[str, Any]) -> bool:
    """The format registry's sniff for ``.tsv`` files: a UCR file (``is_ucr_table``) given no ``text`` option."""
    return "text" not in options and is_ucr_table(path)


def is_ucr_table(path: Path) -> bool:
    """Whether a ``.tsv`` is a UCR file rather than a table: a ``_TRAIN``/``_TEST`` name and a numeric first line."""
    if path.suffix.lower() != ".tsv" or not _SPLIT_NAME.search(path.stem):
        return False
    fields = _first_fields(path)
    return fields is not None and _looks_ucr(fields)


# ---- reading ------------------------------------------------------------------------------------


def read_ucr(path: Path) -> TsData:
    """Parse a UCR ``.tsv``/``.txt`` file into the TsData a ``.ts`` file would give; BlobError at the first fault."""
    text = read_series_text(path, f"a UCR file is plain text, {_layout(path)}")
    series, labels, lines = [], [], []
    width = first = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = _fields(path, line)
        if width is None:
            width, first = len(fields), number
        if len(fields) != width:
            raise BlobError(f"{where(path, number)}: {len(fields)} fields, but line {first} has {width}; every line "
                            f"holds a class label and the same number of values (a shorter series is padded with NaN "
                            f"at its end). The file is {_layout(path)}.")
        labels.append(_label(path, number, fields[0]))
        series.append(_values(path, number, fields[1:]))
        lines.append(number)
    if not series:
        raise BlobError(f"{path}: holds no series; a UCR file is {_layout(path)}.")
    classes = tuple(sorted(set(labels), key=int))
    return TsData(path, series, labels, classes, False, lines, header={"format": FORMATS[path.suffix.lower()]})


def _label(path: Path, number: int, text: str) -> str:
    value = _number(text)
    if value is None or not np.isfinite(value) or not value.is_integer():
        what = "empty" if not text else f"{text[:20]!r}, not a whole number"
        raise BlobError(f"{where(path, number, 1)}: the class label is {what}. A UCR file is {_layout(path)}.")
    return str(int(value))


def _values(path: Path, number: int, tokens: list[str]) -> np.ndarray:
    """One series as a (length, 1) array: trailing NaN (padding) cut off, NaN inside kept as missing."""
    try:
        a = np.array(tokens, dtype=np.float64)
    except ValueError:
        column = next(i for i, t in enumerate(tokens, 2) if _number(t) is None)
        token = tokens[column - 2]
        what = "an empty value" if not token else f"{token[:20]!r}"
        raise BlobError(f"{where(path, number, column)}: {what} is not a number; after the class label every value is "
                        "a number, or NaN where it is missing (and as padding after a shorter series).") from None
    if np.isinf(a).any():
        column = int(np.flatnonzero(np.isinf(a))[0]) + 2
        raise BlobError(f"{where(path, number, column)}: the value {tokens[column - 2]!r} is infinite; values must be "
                        "finite numbers, or NaN where missing.")
    present = np.flatnonzero(~np.isnan(a))
    if not len(present):
        raise BlobError(f"{where(path, number)}: the series has no values (every one is NaN); a series needs at least "
                        "one number after its class label.")
    return a[: present[-1] + 1, None]


# ---- loading ------------------------------------------------------------------------------------


def test_sibling(path: Path) -> Path | None:
    """``NAME_TEST.tsv`` beside ``NAME_TRAIN.tsv`` (the same case and suffix), when it exists."""
    match = _SPLIT_NAME.search(path.stem)
    if not match or match.group(1).lower() != "train":
        return None
    word = match.group(1)
    test = "TEST" if word.isupper() else "test" if word.islower() else "Test"
    sibling = path.with_name(path.stem[: match.start(1)] + test + path.suffix)
    return sibling if sibling.is_file() else None


def load_ucr_text(path: Path, seed: int = 0, *, test: str | None = None, val_fraction: float | str = 0.2,
                  **unknown: Any) -> Dataset:
    """A UCR ``.tsv``/``.txt`` file as a sequence Dataset: options ``test`` and ``val_fraction`` (as for ``.ts``)."""
    if unknown:
        raise BlobError(f"{path}: unknown option(s) {', '.join(sorted(unknown))}: this file is read as a UCR "
                        f"time-series file ({_layout(path)}), whose options are test and val_fraction.")
    fraction = val_fraction_option(path, val_fraction)
    test_path = None
    if test is not None and str(test).lower() != "none":
        test_path = Path(test).expanduser()
        if not test_path.is_file() or test_path.suffix.lower() not in FORMATS:
            raise BlobError(f"{path}: option test={str(test)!r} is not an existing UCR .tsv or .txt file.")
    elif test is None:
        test_path = test_sibling(path)
    train = read_ucr(path)
    tested = read_ucr(test_path) if test_path else None
    meta: dict[str, Any] = {"format": FORMATS[path.suffix.lower()]}
    if tested is not None:
        meta.update(test_file=str(test_path), published_split=f"{len(train.series)}/{len(tested.series)}",
                    split=f"the published TRAIN/TEST files; validation {fraction:.0%} of TRAIN, stratified")
    name = _SPLIT_NAME.sub("", path.stem) or path.stem
    return ts_dataset(name, train, tested, val_fraction=fraction, seed=seed, meta=meta)


def load_ucr_txt(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """A ``.txt`` file: read as a classic UCR file when its first line is one (see the module text)."""
    fields = _first_fields(path)
    if fields is None or not _looks_ucr(fields):
        raise BlobError(f"{path}: a .txt file is read as a UCR time-series file ({_layout(path)}), and its first line "
                        "is not one. Text for classification goes in a .csv with text and label columns or a .jsonl "
                        "file; tagged tokens in a CoNLL file (.conll).")
    return load_ucr_text(path, seed=seed, **options)
