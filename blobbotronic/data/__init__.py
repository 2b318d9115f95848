"""Data: turn a source (a built-in name, a file or a folder) into a Dataset of tensors and a Spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BlobError
from ..registry import Registry
from .builtin import DATASETS
from . import series, forecast, text, translation, video, synthetic, copy_memory  # noqa: E402,F401 (built-ins register)
from . import audio, audio_words  # noqa: E402,F401  (folders of sound files: load and read_inputs hand them on)
from .spec import MODALITIES, TASKS, Dataset, Spec, Split, TooFewToSplit, make_dataset, split_indices

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
    base, colon, option_text = name.partition(":")  # "adding:lag=300" = load("adding", lag=300)
    if name in DATASETS or (colon and base in DATASETS):
        options = {**_builtin_options(base, option_text), **options}
        ds = DATASETS.get(base)(seed=seed, **_coerce_builtin_options(base, options))
        ds.meta.setdefault("source", DATASETS.tags(base).get("source"))
        return ds
    path = Path(name).expanduser()
    if not path.exists():
        kinds = ", ".join(sorted(s or "a folder" for s in FILE_LOADERS))
        raise BlobError(
            f"{name!r} is neither a built-in data set nor an existing file or folder. "
            f"Built-in data sets: {', '.join(DATASETS)}. Files read: {kinds}."
        )
    if audio.is_audio_folder(path, options):
        return audio.load_audio_folder(path, seed=seed, **options)
    key = "" if path.is_dir() else "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    task_key = f"{key}:{options.get('task')}"  # a loader for one task of a file type (".csv:forecast") goes first
    if task_key not in FILE_LOADERS and key not in FILE_LOADERS:
        kinds = ", ".join(sorted(s or "a folder" for s in FILE_LOADERS))
        raise BlobError(f"{path}: files of type {key or path.name!r} cannot be read; readable types: {kinds}.")
    try:
        return FILE_LOADERS.get(task_key if task_key in FILE_LOADERS else key)(path, seed=seed, **options)
    except TooFewToSplit as e:  # split_indices cannot name the file it splits
        raise e.named_by(path) from None


def _builtin_options(name: str, option_text: str) -> dict[str, str]:
    """``lag=300,n=2000`` -> {"lag": "300", "n": "2000"} (the part of ``adding:lag=300,n=2000`` after the colon)."""
    out = {}
    for pair in filter(None, (p.strip() for p in option_text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BlobError(f"Cannot read the option {pair!r} of data set {name!r}: "
                            f"write {name}:NAME=VALUE,NAME=VALUE.")
        out[key.strip()] = value.strip()
    return out


def _coerce_builtin_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Check options against the built-in's keyword-only parameters and convert CLI strings to their types."""
    import inspect

    params = {p.name: p for p in inspect.signature(DATASETS.get(name)).parameters.values()
              if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(options) - set(params))
    if unknown:
        valid = ", ".join(f"{p.name}={p.default!r}" for p in params.values())
        raise BlobError(f"Built-in data set {name!r} has no option {', '.join(map(repr, unknown))}; "
                        + (f"its options: {valid}." if valid else "it takes no options."))
    out = {}
    for key, value in options.items():
        kind = type(params[key].default)
        try:
            out[key] = kind(value) if kind in (int, float, str) else value
            if kind is int and float(value) != out[key]:
                raise ValueError
        except ValueError:
            kind_name = "whole number" if kind is int else kind.__name__
            raise BlobError(f"Option {key!r} of data set {name!r} must be a {kind_name}, not {value!r}.") from None
    return out


def read_inputs(spec: Spec, paths: list[str | Path]) -> Any:
    """Read new inputs for prediction, prepared exactly as the training data was (see each loader)."""
    _register_file_loaders()
    from . import inputs

    if audio.reads_inputs(spec):
        return audio.read_audio_inputs(spec, paths)
    return inputs.read(spec, [Path(p) for p in paths])


def _register_file_loaders() -> None:
    """Import the loader modules once so that they register (kept lazy to keep start-up fast)."""
    from . import files, series_files  # noqa: F401
    from . import ecosystem  # noqa: F401  (.parquet; Hugging Face folders are read through files.load_image_folder)
    from . import ucr_text  # noqa: F401  (.txt UCR series; UCR .tsv files are told from tables by files.load_table)

    text.register_file_loaders()  # .jsonl and CoNLL-style files, and text inputs for predict (data/text.py)
