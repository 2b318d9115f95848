"""Hugging Face `datasets` folders written by ``save_to_disk``, read offline with pyarrow (no `datasets` needed).

A folder holds ``dataset_info.json`` (the features: which column is an Image, which a ClassLabel),
``state.json`` (the Arrow files) and ``data-*.arrow``; a DatasetDict folder holds ``dataset_dict.json``
and one such folder per split. An Image column makes an image data set, a text column a text data set,
anything else a table. A ``test`` split is kept as the test split for images and tables.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BlobError
from .ecosystem import HF_OPTIONS, frame_dataset, named_classes
from .images import GREY_MODES, default_image_size, load_image, peek_image
from .options import class_name, flag, size_option
from .parquet import class_labels, need_pyarrow, to_pandas
from .spec import Dataset, Spec, make_dataset
from .table import LABEL_NAMES
from .text import TEXT_NAMES

TEST_SPLITS = ("test",)
HINT = "A folder written by datasets' save_to_disk holds dataset_info.json, state.json and data-*.arrow files."


def is_hf_folder(path: Path, options: dict[str, Any] | None = None) -> bool:
    """A folder saved by Hugging Face ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk`` (``options``, which
    the format registry passes, change nothing)."""
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file())


def load_hf_folder(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """Load a ``save_to_disk`` folder: options ``label``, ``task``, ``text`` (the text column), ``image``
    (the image column), ``size`` and ``grey`` for images, and the text options of CSV files."""
    known = set(HF_OPTIONS) | {"tokenizer", "min_freq", "max_len", "dedupe"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise BlobError(f"{path}: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(known))}.")
    splits = _splits(path)
    tables = {name: _read_split(folder) for name, folder in splits.items()}
    features = _features(next(iter(splits.values())))
    test_name = next((s for s in TEST_SPLITS if s in tables and len(tables) > 1), None)
    pool = [t for name, t in tables.items() if name != test_name]
    pa = need_pyarrow()
    train = pa.concat_tables(pool) if len(pool) > 1 else pool[0]
    test = tables.get(test_name) if test_name else None
    image_col = options.get("image") or next((k for k, f in features.items() if _type(f) == "Image"), None)
    names = class_labels(features)
    meta = {"source": str(path), "hf_splits": {k: t.num_rows for k, t in tables.items()}}
    if image_col is not None:
        ds = _images(path, train, test, image_col, names, options, seed)
    else:
        rest = {k: v for k, v in options.items() if k not in ("image", "size", "grey")}
        frame, test_frame = to_pandas(path, train), None if test is None else to_pandas(path, test)
        if _is_text(features, frame, rest) and test_frame is not None:
            frame, test_frame = _concat(frame, test_frame), None  # text data sets split themselves
            meta["published_split_merged"] = True
        ds = frame_dataset(path, frame, rest, seed, test=test_frame, class_names=names)
    ds.meta.update(meta)
    return ds


def _splits(path: Path) -> dict[str, Path]:
    if (path / "dataset_dict.json").is_file():
        try:
            names = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BlobError(f"{path / 'dataset_dict.json'}: unreadable ({e}); it should list the splits.") from None
        missing = [n for n in names if not (path / n / "state.json").is_file()]
        if missing:
            raise BlobError(f"{path}: dataset_dict.json lists split(s) {', '.join(missing)} with no folder. {HINT}")
        return {n: path / n for n in names}
    return {"train": path}


def _features(folder: Path) -> dict[str, Any]:
    try:
        info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BlobError(f"{folder / 'dataset_info.json'}: unreadable ({e}). {HINT}") from None
    return info.get("features") or {}


def _type(feature: Any) -> str | None:
    return feature.get("_type") if isinstance(feature, dict) else None


def _read_split(folder: Path) -> Any:
    """All Arrow files of one split, in the order state.json lists them."""
    pa = need_pyarrow()
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        files = [folder / f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BlobError(f"{folder / 'state.json'}: unreadable ({e}). {HINT}") from None
    if not files:
        raise BlobError(f"{folder}: state.json lists no Arrow files. {HINT}")
    tables = []
    for file in files:
        try:
            with pa.memory_map(str(file)) as source:
                try:
                    tables.append(pa.ipc.open_stream(source).read_all())
                except pa.ArrowInvalid:
                    source.seek(0)
                    tables.append(pa.ipc.open_file(source).read_all())
        except (OSError, pa.ArrowInvalid) as e:
            raise BlobError(f"{file}: not a readable Arrow file ({str(e).splitlines()[0][:200]}). {HINT}") from None
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _is_text(features: dict[str, Any], frame: Any, options: dict[str, Any]) -> bool:
    strings = [k for k, f in features.items() if _type(f) == "Value" and f.get("dtype") in ("string", "large_string")]
    return bool(options.get("text")) or any(s.lower() in TEXT_NAMES for s in strings)


def _concat(a: Any, b: Any) -> Any:
    import pandas as pd

    return pd.concat([a, b], ignore_index=True)


# --- images ----------------------------------------------------------------------------------------


class _Encoded(io.BytesIO):
    """An image's bytes from an Arrow row, named for error messages ('folder, row 7')."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.label = name

    def __str__(self) -> str:
        return self.label


def _images(path: Path, train: Any, test: Any, column: str, names: dict[str, list[str]],
            options: dict[str, Any], seed: int) -> Dataset:
    if column not in train.column_names:
        raise BlobError(f"{path}: there is no image column {column!r}; columns: {', '.join(train.column_names)}.")
    label = options.get("label") or next((c for c in names if c != column), None) or next(
        (c for c in train.column_names if c.lower() in LABEL_NAMES), None)
    if label is None or label not in train.column_names:
        raise BlobError(f"{path}: cannot tell which column holds the labels; name it with the option label=COLUMN "
                        f"(columns: {', '.join(train.column_names)}).")
    if options.get("task") not in (None, "classify"):
        raise BlobError(f"{path}: image folders are classified; option task={options['task']!r} is not valid here.")
    sources = [_image_source(path, v, i) for i, v in enumerate(train.column(column).to_pylist())]
    test_cells = [] if test is None else test.column(column).to_pylist()
    test_sources = [_image_source(path, v, i) for i, v in enumerate(test_cells)]
    headers = [peek_image(s) for s in sources]
    size = size_option(path, options.get("size")) or default_image_size([s for s, _ in headers])
    grey = flag(path, "grey", options.get("grey"))
    grey = all(mode in GREY_MODES for _, mode in headers) if grey is None else grey
    decode = lambda items: np.stack([load_image(s, size, grey) for s in items])  # noqa: E731
    raw_y = train.column(label).to_pylist() + ([] if test is None else test.column(label).to_pylist())
    named = named_classes(_labels_frame(label, raw_y), {label: names[label]} if label in names else {})
    text_y = [class_name(v) for v in named[label].tolist()]
    if any(v in ("", "None", "nan") for v in text_y):
        raise BlobError(f"{path}: some rows have no label in column {label!r}; every image needs a label.")
    classes = tuple(names.get(label) or sorted(set(text_y)))
    classes = tuple(c for c in classes if c in set(text_y))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in text_y], dtype=np.int64)
    if len(classes) < 2:
        raise BlobError(f"{path}: every image has the label {classes[0]!r}; a classifier needs at least two classes.")
    spec = Spec(path.name, "image", "classify", (1 if grey else 3, *size), len(classes), classes,
                extra={"size": list(size), "grey": grey, "classes": list(classes)})
    n = len(sources)
    held_out = None if test is None else (decode(test_sources), y[n:])
    return make_dataset(spec, decode(sources), y[:n], test=held_out, seed=seed,
                        meta={"published_split": test is not None})


def _labels_frame(label: str, values: list[Any]) -> Any:
    import pandas as pd

    return pd.DataFrame({label: values})


def _image_source(path: Path, value: Any, row: int) -> Any:
    """An Image cell is {'bytes': ..., 'path': ...}: the bytes when embedded, else the file it names."""
    where = f"{path}, row {row + 1}"
    if isinstance(value, dict) and value.get("bytes"):
        return _Encoded(value["bytes"], where)
    if isinstance(value, dict) and value.get("path"):
        file = Path(value["path"])
        file = file if file.is_absolute() else path / file
        if not file.is_file():
            raise BlobError(f"{where}: the image is not embedded and its file {file} does not exist.")
        return file
    raise BlobError(f"{where}: holds no image (neither bytes nor a path).")
