"""Data: turn a source (a built-in name, a file or a folder) into a Dataset of tensors and a Spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BlobError
from ..registry import Registry
from .builtin import DATASETS
from . import series, forecast, text, translation, video, synthetic  # noqa: E402,F401  (built-ins register)
from .spec import MODALITIES, TASKS, Dataset, Spec, Split, make_dataset, split_indices

# File loaders register here by the suffixes they read ("" = a folder): loader(path, seed=..., **options).
FILE_LOADERS = Registry("file type")

__all__ = [
    "DATASETS", "FILE_LOADERS", "MODALITIES", "TASKS", "Dataset", "Spec", "Split", "load", "make_dataset",
    "split_indices", "read_inputs",
]


def load(source: str | Path, seed: int = 0, **options: Any) -> Dataset:
    """Load a built-in data set by name, or a user's file or folder by its type.

    >>> load("xor").spec.modality
    'table'
    """
    _register_file_loaders()
    name = str(source)
    if name in DATASETS:
        if options:
            raise BlobError(f"Built-in data set {name!r} takes no options (got {', '.join(options)}).")
        ds = DATASETS.get(name)(seed=seed)
        ds.meta.setdefault("budget", DATASETS.tags(name).get("budget"))
        ds.meta.setdefault("source", DATASETS.tags(name).get("source"))
        return ds
    path = Path(name).expanduser()
    if not path.exists():
        kinds = ", ".join(sorted(s or "a folder" for s in FILE_LOADERS))
        raise BlobError(
            f"{name!r} is neither a built-in data set nor an existing file or folder. "
            f"Built-in data sets: {', '.join(DATASETS)}. Files read: {kinds}."
        )
    key = "" if path.is_dir() else "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if key not in FILE_LOADERS:
        kinds = ", ".join(sorted(s or "a folder" for s in FILE_LOADERS))
        raise BlobError(f"{path}: files of type {key or path.name!r} cannot be read; readable types: {kinds}.")
    return FILE_LOADERS.get(key)(path, seed=seed, **options)


def read_inputs(spec: Spec, paths: list[str | Path]) -> Any:
    """Read new inputs for prediction, prepared exactly as the training data was (see each loader)."""
    _register_file_loaders()
    from . import inputs

    return inputs.read(spec, [Path(p) for p in paths])


def _register_file_loaders() -> None:
    """Import the loader modules once so that they register (kept lazy to keep start-up fast)."""
    from . import files  # noqa: F401
