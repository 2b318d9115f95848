"""The Parquet format: a table, or texts with labels, read through pyarrow into a DataFrame and on as one
(ecosystem.frame_dataset); the pyarrow helpers Hugging Face folders (hf_folders.py) share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import BlobError
from .ecosystem import frame_dataset
from .spec import Dataset


def load_parquet(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """A Parquet file of a table or of texts with labels: options as for CSV (label, task) and CSV text
    (text, tokenizer, min_freq, max_len, dedupe). Class names saved by Hugging Face ``to_parquet`` are kept."""
    pq = need_pyarrow().parquet
    try:
        table = pq.read_table(str(path))
    except (OSError, ValueError) as e:
        raise BlobError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:200]}).") from None
    names = class_labels(_hf_features_from_schema(table.schema))
    return frame_dataset(path, to_pandas(path, table), options, seed, class_names=names)


def need_pyarrow() -> Any:
    """The pyarrow module (with its ipc and parquet parts), or a BlobError naming the package to install."""
    try:
        import pyarrow
        import pyarrow.ipc
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise BlobError("Reading Parquet files and Hugging Face folders needs the Python package 'pyarrow': "
                        "pip install pyarrow (or pip install 'blobbotronic[ecosystem]').") from None
    return pyarrow


def to_pandas(where: Path, table: Any) -> Any:
    """An Arrow table as a DataFrame; an empty one is a BlobError."""
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


def class_labels(features: dict[str, Any]) -> dict[str, list[str]]:
    """The class names of each ClassLabel column in Hugging Face ``features``."""
    return {k: list(f["names"]) for k, f in features.items() if isinstance(f, dict) and f.get("_type") == "ClassLabel"}
