"""Data: turn a source (a built-in name, a file or a folder) into a Dataset of tensors and a Spec.

docs/architecture-data.md maps the modules: a core (spec, options, reading, files, formats, inputs) that no
format is imported by, one module a file format, the built-in sets apart. File formats register in formats.py,
predict's readers in inputs.py; built-in data sets register in DATASETS from the modules imported below.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..errors import BlobError
from .builtin import DATASETS, is_builtin, load_builtin
from .formats import FILE_FORMATS, load_file, readable_kinds
from .spec import MODALITIES, TASKS, Dataset, Spec, Split, TooFewToSplit, make_dataset, split_indices

# The modules of built-in data sets besides builtin.py's, imported so that they register; `blobbotronic datasets`
# lists the sets in this order.
BUILTIN_MODULES = ("series_sets", "forecast_sets", "text_sets", "tagging_sets", "translation", "video_gen", "synthetic",
                   "copy_memory", "audio_words")
for _module in BUILTIN_MODULES:
    importlib.import_module(f"{__name__}.{_module}")
del _module

__all__ = [
    "DATASETS", "FILE_FORMATS", "MODALITIES", "TASKS", "Dataset", "Spec", "Split", "TooFewToSplit", "load",
    "make_dataset", "split_indices", "read_inputs",
]


def load(source: str | Path, seed: int = 0, **options: Any) -> Dataset:
    """Load a built-in data set by name, or a user's file or folder by its type (data/formats.py).

    >>> load("xor").spec.modality
    'table'
    """
    name = str(source)
    if is_builtin(name):
        return load_builtin(name, seed, **options)
    path = Path(name).expanduser()
    if not path.exists():
        raise BlobError(
            f"{name!r} is neither a built-in data set nor an existing file or folder. "
            f"Built-in data sets: {', '.join(DATASETS)}. Files read: {readable_kinds()}."
        )
    return load_file(path, seed, **options)


def read_inputs(spec: Spec, paths: list[str | Path]) -> Any:
    """Read new inputs for prediction, prepared exactly as the training data was (data/inputs.py)."""
    from . import inputs

    return inputs.read(spec, [Path(p) for p in paths])
