"""The CSV/TSV file format: a table (table.py encodes it), or, when it holds free text, texts with labels
(text_files.py); and table rows read for predict.

A ``.tsv`` named ``NAME_TRAIN`` whose first line is all numbers is a UCR series file instead: the format
registry (formats.py) asks ucr_text.py before this loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BlobError
from .inputs import Batch
from .options import check_options, task_option
from .spec import Dataset, Spec
from .table import (
    MAX_GUESSED_CLASSES,
    Table,
    delimiter_hint,
    encode_table,
    is_missing,
    parse_number,
    read_table,
    table_dataset,
)
from .text import LABEL_NAMES as TEXT_LABEL_NAMES
from .text import TEXT_NAMES, TEXT_OPTIONS
from .text_files import load_text_table

NO_TEXT = ("none", "no", "false")  # text=none: read a table with a free-text column as a table
TABLE_OPTIONS = {"label": None, "task": None}


def load_table(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """Load a CSV/TSV table: options ``label`` (column name) and ``task`` ("classify" or "regress").

    A text-classification table is handed to text_files.load_text_table when ``text=COLUMN`` names its text
    column or one is detected (``free_text_column``); ``text=none`` keeps a table with a free-text column a
    table."""
    detect = "text" not in options
    if not detect and str(options["text"]).strip().lower() in NO_TEXT:
        options = {k: v for k, v in options.items() if k != "text"}
    elif not detect:
        return load_text_table(path, seed=seed, **options)
    table_options = {k: v for k, v in options.items() if k not in TEXT_OPTIONS or k in ("label", "task")}
    opts = check_options(path, table_options, TABLE_OPTIONS)
    task = task_option(path, opts["task"])
    table = read_table(path)
    if not table.rows:
        raise BlobError(f"{path}: has a header ({', '.join(table.header)}) but no data rows.")
    found = free_text_column(table, opts["label"]) if detect and task != "regress" else None
    if found:
        column, label, why = found
        ds = load_text_table(path, seed=seed, **{**options, "text": column, "label": label})
        ds.meta["text_column_detected"] = why
        return ds
    check_options(path, options, TABLE_OPTIONS)  # text options without a text column are refused
    return table_dataset(table, opts["label"], task, seed, hint=delimiter_hint(table))


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



# --- new rows for predict ------------------------------------------------------------------------------


def read_tables(spec: Spec, paths: list[Path]) -> Batch:
    """CSV/TSV files with a header naming the training feature columns: one prediction per row."""
    blocks, names = [], []
    for path in paths:
        if path.suffix.lower() not in (".csv", ".tsv"):
            raise BlobError(f"{path}: table inputs are read from .csv or .tsv files with a header row.")
        table = read_table(path)
        if not table.rows:
            raise BlobError(f"{path}: has a header ({', '.join(table.header)}) but no data rows to predict.")
        x = encode_table(table, spec.extra)
        if x.shape[1] != spec.input_shape[0]:
            raise BlobError(
                f"{path}: encodes to {x.shape[1]} features but data set {spec.name!r} has {spec.input_shape[0]}."
            )
        blocks.append(x)
        names += [f"{path.name}:row {i + 1}" for i in range(len(table.rows))]
    return torch.from_numpy(np.concatenate(blocks)), None, names
