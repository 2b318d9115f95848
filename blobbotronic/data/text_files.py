"""Files of labelled texts for classification: CSV/TSV tables with a text column, and JSON lines; and plain text
files of new inputs for predict. Tokenising, the vocabulary and the Dataset are text.py's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import BlobError, where
from .reading import decode_utf8, read_bytes
from .spec import Dataset, Spec
from .table import read_table
from .text import LABEL_NAMES, TEXT_NAMES, encode_texts, labelled_texts_dataset, pick_column, text_options


def load_text_table(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """A CSV/TSV with a text column and a label column (options text=, label=, tokenizer=, min_freq=,
    max_len=, dedupe=). The CSV loader (csv_files.py) hands over here when ``text=`` is given or a text column
    is detected."""
    opts = text_options(path, options)
    table = read_table(path)
    text_col = pick_column(path, table.header, opts["text"], TEXT_NAMES, "text")
    label_col = pick_column(path, [c for c in table.header if c != text_col], opts["label"], LABEL_NAMES, "label")
    ds = labelled_texts_dataset(path, table.column(text_col), table.column(label_col), table.lines, opts)
    ds.spec.extra.update(text_column=text_col, label_column=label_col)
    return ds


def load_jsonl(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """JSON lines: one object per line with a text field and a label field (options as for CSV text)."""
    opts = text_options(path, options)
    rows, lines = [], []
    for n, line in enumerate(decode_utf8(path, read_bytes(path)).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as e:  # also numbers over 4300 digits and nesting too deep to read
            msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e).split(";")[0][:80]
            raise BlobError(
                f"{where(path, n, getattr(e, 'colno', None))}: not valid JSON ({msg}); each line must be one object."
            ) from None
        if not isinstance(obj, dict):
            raise BlobError(
                f"{where(path, n)}: a JSON {type(obj).__name__}, not an object such as "
                '{"text": "...", "label": "..."}.'
            )
        rows.append(obj)
        lines.append(n)
    if not rows:
        raise BlobError(f"{path}: holds no JSON objects; write one object per line with a text and a label.")
    keys = list(rows[0])
    text_key = pick_column(path, keys, opts["text"], TEXT_NAMES, "text")
    label_key = pick_column(path, [k for k in keys if k != text_key], opts["label"], LABEL_NAMES, "label")
    texts, labels = [], []
    for obj, n in zip(rows, lines, strict=True):
        for key in (text_key, label_key):
            if key not in obj:
                raise BlobError(
                    f"{where(path, n)}: the object has no field {key!r} (it has {', '.join(obj) or 'none'})."
                )
        if not isinstance(obj[text_key], str):
            raise BlobError(
                f"{where(path, n)}: field {text_key!r} must be a string, not {type(obj[text_key]).__name__}."
            )
        texts.append(obj[text_key])
        labels.append(str(obj[label_key]))
    ds = labelled_texts_dataset(path, texts, labels, lines, opts)
    ds.spec.extra.update(text_column=text_key, label_column=label_key)
    return ds


def read_text_inputs(spec: Spec, paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """New inputs for predict: plain UTF-8 text files, one text per line (blank lines skipped)."""
    if "vocab" not in spec.extra:
        raise BlobError(f"Data set {spec.name!r} recorded no vocabulary, so new text cannot be encoded for it.")
    texts, names = [], []
    for path in paths:
        for n, line in enumerate(decode_utf8(path, read_bytes(path)).splitlines(), 1):
            if line.strip():
                texts.append(line)
                names.append(f"{path.name}:line {n}")
    if not texts:
        raise BlobError(f"{', '.join(map(str, paths))}: no text to predict; write one text per line.")
    x, lengths = encode_texts(texts, spec.extra)
    return x, lengths, names
