"""Inputs from the Python ecosystem: numpy arrays, pandas DataFrames, Parquet files, Hugging Face `datasets` folders.

All of them end in the encoders the file loaders use (``files.fit_table``/``encode_table`` for tables,
``text.text_dataset`` for text, ``files.load_image`` for images), so a model trained on a DataFrame
predicts on CSV rows, and one trained on a Hugging Face folder predicts on image or text files, prepared
exactly the same way.

>>> import numpy as np
>>> ds = from_arrays(np.random.default_rng(0).normal(size=(50, 3)), np.arange(50) % 2)
>>> ds.spec.modality, ds.spec.classes, ds.sizes()["train"]
('table', ('0', '1'), 36)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BlobError
from . import FILE_LOADERS
from .spec import Dataset, Spec, Split, split_indices

FRACTIONS = (0.7, 0.15, 0.15)
VAL_FRACTION = 0.1  # of the training rows, when the test rows are given
TABLE_OPTIONS = {"label": None, "task": None}
TEXT_ONLY = ("text", "tokenizer", "min_freq", "max_len", "dedupe")
HF_OPTIONS = {"label": None, "task": None, "text": None, "image": None, "size": None, "grey": None}


# --- numpy arrays ----------------------------------------------------------------------------------


def from_arrays(x: Any, y: Any, *, x_test: Any = None, y_test: Any = None, lengths: Any = None,
                lengths_test: Any = None, modality: str | None = None, task: str | None = None,
                name: str = "arrays", seed: int = 0) -> Dataset:
    """A Dataset from arrays, read exactly as a ``.npz`` file with the same arrays would be: the modality
    from x's dimensions (2 table, 3 sequence (N, L, C), 4 image (N, C, H, W), 5 video) unless given,
    classification for whole-number or text labels, a stratified train/val/test split (or, with
    ``x_test``/``y_test``, validation carved out of the training data), tables standardised."""
    from . import files
    from .spec import make_dataset
    from .transforms import standardize

    where = Path(name)
    task = files._task_option(where, task)
    given = {"x": x, "y": y, "x_test": x_test, "y_test": y_test, "lengths": lengths, "lengths_test": lengths_test}
    a = {k: _as_array(where, k, v) for k, v in given.items() if v is not None}
    files._check_pairs(where, a)
    modality = files._npz_modality(where, a["x"], modality)
    for key in ("x", "x_test"):
        if key in a:
            a[key] = files._add_channel_axis(a[key], modality)
    files._check_lengths(where, a, modality)
    task = task or ("classify" if a["y"].dtype.kind in "biuU" else "regress")
    y, y_test, classes = files._npz_targets(where, a, task)
    extra: dict[str, Any] = {"source": "arrays"}
    x, x_test = a["x"], a.get("x_test")
    if modality in ("image", "video"):
        x, x_test, extra["value_scale"] = files._unit_range(where, x, x_test)
    if modality == "table":
        extra["features"] = [f"x{i}" for i in range(x.shape[1])]
    vocab = int(max(x.max(), -1 if x_test is None else x_test.max())) + 1 if modality == "text" else 0
    n_outputs = len(classes) if task == "classify" else (1 if y.ndim == 1 else y.shape[1])
    spec = Spec(name, modality, task, x.shape[1:], n_outputs, classes, vocab_size=vocab, extra=extra)
    test = None if x_test is None else (x_test, y_test)
    ds = make_dataset(spec, x, y, test=test, seed=seed, lengths=a.get("lengths"), test_lengths=a.get("lengths_test"),
                      meta={"source": "arrays", "published_split": test is not None})
    return standardize(ds) if modality == "table" else ds


def _as_array(where: Path, key: str, value: Any) -> np.ndarray:
    """A numpy array from a numpy array, tensor, list or pandas object, with the checks a .npz array gets."""
    from . import files

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64 if key.startswith(("x", "lengths")) else str)
        except (TypeError, ValueError):
            raise BlobError(f"{where}: {key!r} holds mixed Python objects; give numbers (or text labels).") from None
    kinds, words = files.NPZ_KINDS[key.removesuffix("_test")]
    if array.dtype.kind not in kinds:
        raise BlobError(f"{where}: {key!r} has type {array.dtype}; it must hold {words}.")
    if array.dtype.kind == "f":
        files._check_finite_array(where, key, array)
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
    return _frame_dataset(Path(name), frame, {"label": label, "task": task, "text": text, **text_options}, seed, test)


def _pandas_frame(frame: Any, name: str) -> Any:
    import pandas as pd

    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise BlobError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}.")
    if frame.empty:
        raise BlobError(f"{name}: the DataFrame is empty; it needs rows and at least a feature and a label column.")
    return frame


def _frame_dataset(where: Path, frame: Any, options: dict[str, Any], seed: int, test: Any = None,
                   class_names: dict[str, list[str]] | None = None) -> Dataset:
    """Tables and text from a DataFrame (Parquet, Hugging Face folders and from_frame all come here)."""
    from .text import TEXT_NAMES

    options = {k: v for k, v in options.items() if v is not None}
    frame = _named_classes(frame, class_names or {})
    if test is not None:
        test = _named_classes(test, class_names or {})
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
    return _table_dataset(table, where, options.get("label"), options.get("task"), seed,
                          test_rows=0 if test is None else len(test))


def _is_text_column(column: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_string_dtype(column.dtype) or (column.dtype == object and column.map(
        lambda v: isinstance(v, str) or v is None).all())


def _concat(a: Any, b: Any) -> Any:
    import pandas as pd

    return pd.concat([a, b], ignore_index=True)


def _named_classes(frame: Any, class_names: dict[str, list[str]]) -> Any:
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
    from .files import Table

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


def _table_dataset(table: Any, where: Path, label: str | None, task: str | None, seed: int,
                   test_rows: int = 0) -> Dataset:
    """The CSV loader's steps on a Table: label, targets, split, encoding fitted on the training rows."""
    from . import files

    task = files._task_option(where, task)
    label = files._label_column(table, label)
    features = [c for c in table.header if c != label]
    if not features:
        raise BlobError(f"{where}: has no feature columns besides the label {label!r}.")
    y, classes, task = files._labels(table, label, task)
    strat = y if task == "classify" else None
    if test_rows:
        n = len(y) - test_rows
        tr, va = split_indices(n, (1 - VAL_FRACTION, VAL_FRACTION), seed, None if strat is None else strat[:n])
        parts = [tr, va, np.arange(n, len(y))]
    else:
        parts = split_indices(len(y), FRACTIONS, seed, strat)
    extra = files.fit_table(table, features, parts[0])
    extra["label"] = label
    x = files.encode_table(table, extra)
    spec = Spec(where.stem, "table", task, (x.shape[1],), len(classes) or 1, classes, extra=extra)
    full = Split(torch.from_numpy(x), torch.as_tensor(y, dtype=torch.long if classes else torch.float32))
    meta = {"source": str(where), "rows": len(y), "dropped": extra["dropped"], "published_split": bool(test_rows),
            **files._missing_counts(table, features)}
    return Dataset(spec, *(full.subset(p) for p in parts), meta=meta)


def _text_from_frame(where: Path, frame: Any, text_col: str | None, options: dict[str, Any], seed: int) -> Dataset:
    from . import text

    if options.get("task") not in (None, "classify"):
        raise BlobError(f"{where}: text data sets are classified; option task={options['task']!r} is not valid here.")
    opts = text._text_options(where, {k: v for k, v in options.items() if k != "task"})
    columns = [str(c) for c in frame.columns]
    text_col = text._pick(where, columns, text_col, text.TEXT_NAMES, "text")
    label_col = text._pick(where, [c for c in columns if c != text_col], opts["label"], text.LABEL_NAMES, "label")
    texts = [_cell(v) if not isinstance(v, str) else v for v in frame[text_col].tolist()]
    labels = [_cell(v) for v in frame[label_col].tolist()]
    ds = text._finish(where, texts, labels, list(range(1, len(texts) + 1)), opts)
    ds.spec.extra.update(text_column=text_col, label_column=label_col)
    return ds


# --- Parquet ---------------------------------------------------------------------------------------


@FILE_LOADERS.register(".parquet")
def load_parquet(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """A Parquet file of a table or of texts with labels: options as for CSV (label, task) and CSV text
    (text, tokenizer, min_freq, max_len, dedupe). Class names saved by Hugging Face ``to_parquet`` are kept."""
    pq = _need_pyarrow().parquet
    try:
        table = pq.read_table(str(path))
    except (OSError, ValueError) as e:
        raise BlobError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:200]}).") from None
    names = _class_labels(_hf_features_from_schema(table.schema))
    return _frame_dataset(path, _to_pandas(path, table), options, seed, class_names=names)


def _need_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.ipc
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise BlobError("Reading Parquet files and Hugging Face folders needs the Python package 'pyarrow': "
                        "pip install pyarrow (or pip install 'blobbotronic[ecosystem]').") from None
    return pyarrow


def _to_pandas(where: Path, table: Any) -> Any:
    if table.num_rows == 0:
        raise BlobError(f"{where}: holds no rows.")
    return table.to_pandas()


def _hf_features_from_schema(schema: Any) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return {}
    try:
        return json.loads(raw).get("info", {}).get("features", {}) or {}
    except (ValueError, AttributeError):
        return {}


def _class_labels(features: dict[str, Any]) -> dict[str, list[str]]:
    return {k: list(f["names"]) for k, f in features.items() if isinstance(f, dict) and f.get("_type") == "ClassLabel"}


# --- Hugging Face `datasets` folders (save_to_disk) ------------------------------------------------

from .hf_folders import is_hf_folder, load_hf_folder  # noqa: E402  (kept in its own file)

__all__ = ["from_arrays", "from_frame", "frame_table", "is_hf_folder", "load_hf_folder", "load_parquet"]
