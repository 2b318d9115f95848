"""Inputs from the Python ecosystem: numpy arrays and pandas DataFrames, read exactly as the files holding them.

Arrays go through the .npz format's ``arrays_dataset``; DataFrames become the CSV loader's Table (``frame_table``)
or, with a text column, labelled texts, so a model trained on a DataFrame predicts on CSV rows prepared exactly
the same way. Parquet files (parquet.py) and Hugging Face folders (hf_folders.py) are read through
``frame_dataset`` here.

>>> import numpy as np
>>> ds = from_arrays(np.random.default_rng(0).normal(size=(50, 3)), np.arange(50) % 2)
>>> ds.spec.modality, ds.spec.classes, ds.sizes()["train"]
('table', ('0', '1'), 36)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BlobError
from .npz import NPZ_KINDS, arrays_dataset, check_finite_array
from .options import task_option
from .spec import Dataset
from .table import Table, table_dataset
from .text import LABEL_NAMES, TEXT_NAMES, labelled_texts_dataset, pick_column, text_options

__all__ = ["HF_OPTIONS", "from_arrays", "from_frame", "frame_dataset", "frame_table", "named_classes"]

TABLE_OPTIONS = {"label": None, "task": None}
TEXT_ONLY = ("text", "tokenizer", "min_freq", "max_len", "dedupe")
HF_OPTIONS = {"label": None, "task": None, "text": None, "image": None, "size": None, "grey": None}  # hf_folders.py


# --- numpy arrays ----------------------------------------------------------------------------------


def from_arrays(x: Any, y: Any, *, x_test: Any = None, y_test: Any = None, lengths: Any = None,
                lengths_test: Any = None, modality: str | None = None, task: str | None = None,
                name: str = "arrays", seed: int = 0) -> Dataset:
    """A Dataset from arrays, read exactly as a ``.npz`` file with the same arrays would be: the modality
    from x's dimensions (2 table, 3 sequence (N, L, C), 4 image (N, C, H, W), 5 video) unless given,
    classification for whole-number or text labels, a stratified train/val/test split (or, with
    ``x_test``/``y_test``, validation carved out of the training data), tables standardised."""
    where = Path(name)
    task = task_option(where, task)
    given = {"x": x, "y": y, "x_test": x_test, "y_test": y_test, "lengths": lengths, "lengths_test": lengths_test}
    a = {k: _as_array(where, k, v) for k, v in given.items() if v is not None}
    return arrays_dataset(where, a, name=name, modality=modality, task=task, seed=seed, kind="arrays",
                          source="arrays")


def _as_array(where: Path, key: str, value: Any) -> np.ndarray:
    """A numpy array from a numpy array, tensor, list or pandas object, with the checks a .npz array gets."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64 if key.startswith(("x", "lengths")) else str)
        except (TypeError, ValueError):
            raise BlobError(f"{where}: {key!r} holds mixed Python objects; give numbers (or text labels).") from None
    kinds, words = NPZ_KINDS[key.removesuffix("_test")]
    if array.dtype.kind not in kinds:
        raise BlobError(f"{where}: {key!r} has type {array.dtype}; it must hold {words}.")
    if array.dtype.kind == "f":
        check_finite_array(where, key, array)
    return array


# --- pandas DataFrames -----------------------------------------------------------------------------


def from_frame(frame: Any, label: str | None = None, *, task: str | None = None, text: str | None = None,
               test: Any = None, name: str = "frame", seed: int = 0, **text_options: Any) -> Dataset:
    """A Dataset from a pandas DataFrame, encoded as a CSV with the same cells would be: numeric columns
    imputed with training medians and standardised, text columns one-hot (at most 100 categories), the label
    column ``label`` (default: one named label/target/class/y, else the last). With ``text=COLUMN`` (or a
    string column named text, sentence, review...) it is a text data set instead (options tokenizer,
    min_freq, max_len, dedupe). ``test``: a second frame with the same columns used as the test split."""
    frame = _pandas_frame(frame, name)
    if test is not None:
        test = _pandas_frame(test, f"{name} (test)")
    return frame_dataset(Path(name), frame, {"label": label, "task": task, "text": text, **text_options}, seed, test)


def _pandas_frame(frame: Any, name: str) -> Any:
    import pandas as pd

    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise BlobError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}.")
    if frame.empty:
        raise BlobError(f"{name}: the DataFrame is empty; it needs rows and at least a feature and a label column.")
    return frame


def frame_dataset(where: Path, frame: Any, options: dict[str, Any], seed: int, test: Any = None,
                  class_names: dict[str, list[str]] | None = None) -> Dataset:
    """Tables and text from a DataFrame (Parquet, Hugging Face folders and from_frame all come here)."""
    options = {k: v for k, v in options.items() if v is not None}
    frame = named_classes(frame, class_names or {})
    if test is not None:
        test = named_classes(test, class_names or {})
        if list(test.columns) != list(frame.columns):
            raise BlobError(f"{where}: the test rows have columns {list(test.columns)}, the training rows "
                            f"{list(frame.columns)}; they must match.")
    strings = [str(c) for c in frame.columns if _is_text_column(frame[c])]
    text_col = options.get("text") or next((c for c in strings if c.lower() in TEXT_NAMES), None)
    if text_col is not None or any(k in options for k in TEXT_ONLY):
        return _text_from_frame(where, frame if test is None else _concat(frame, test), text_col, options, seed)
    unknown = sorted(set(options) - set(TABLE_OPTIONS))
    if unknown:
        raise BlobError(f"{where}: unknown option(s) {', '.join(unknown)} for a table; valid options: "
                        f"{', '.join(TABLE_OPTIONS)} (and, for text, {', '.join(TEXT_ONLY)}).")
    table = frame_table(where, frame if test is None else _concat(frame, test))
    return table_dataset(table, options.get("label"), task_option(where, options.get("task")), seed,
                         test_rows=0 if test is None else len(test))


def _is_text_column(column: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_string_dtype(column.dtype) or (column.dtype == object and column.map(
        lambda v: isinstance(v, str) or v is None).all())


def _concat(a: Any, b: Any) -> Any:
    import pandas as pd

    return pd.concat([a, b], ignore_index=True)


def named_classes(frame: Any, class_names: dict[str, list[str]]) -> Any:
    """Replace class codes by their names (Hugging Face ClassLabel columns) so classes read as words."""
    if not class_names:
        return frame
    frame = frame.copy()
    for column, names in class_names.items():
        if column in frame.columns:
            frame[column] = [names[int(v)] if v is not None and not _is_nan(v) and 0 <= int(v) < len(names) else None
                             for v in frame[column]]
    return frame


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def frame_table(where: Path, frame: Any) -> Any:
    """A DataFrame as the CSV loader's Table: every cell as the text a CSV would hold ('' when missing)."""

    class FrameTable(Table):
        def at(self, row: int, column: str | None = None) -> str:
            return f"{self.path}, row {row + 1}" + (f", column {column!r}" if column is not None else "")

    header = [str(c) for c in frame.columns]
    if len(set(header)) != len(header):
        raise BlobError(f"{where}: column names repeat ({', '.join(header)}); every column needs a unique name.")
    columns = [[_cell(v) for v in frame[c].tolist()] for c in frame.columns]
    rows = [list(r) for r in zip(*columns, strict=True)]
    return FrameTable(where, header, rows, list(range(1, len(rows) + 1)))


def _cell(value: Any) -> str:
    """A cell as CSV text: missing (None, NaN, pandas NA/NaT) -> '', floats exactly (repr round-trips)."""
    import pandas as pd

    if not isinstance(value, (str, bytes, bytearray, list, dict, tuple, np.ndarray)) and pd.isna(value):
        return ""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace").strip()
    return str(value).strip()


def _text_from_frame(where: Path, frame: Any, text_col: str | None, options: dict[str, Any], seed: int) -> Dataset:
    if options.get("task") not in (None, "classify"):
        raise BlobError(f"{where}: text data sets are classified; option task={options['task']!r} is not valid here.")
    opts = text_options(where, {k: v for k, v in options.items() if k != "task"})
    columns = [str(c) for c in frame.columns]
    text_col = pick_column(where, columns, text_col, TEXT_NAMES, "text")
    label_col = pick_column(where, [c for c in columns if c != text_col], opts["label"], LABEL_NAMES, "label")
    texts = [_cell(v) if not isinstance(v, str) else v for v in frame[text_col].tolist()]
    labels = [_cell(v) for v in frame[label_col].tolist()]
    ds = labelled_texts_dataset(where, texts, labels, list(range(1, len(texts) + 1)), opts)
    ds.spec.extra.update(text_column=text_col, label_column=label_col)
    return ds
