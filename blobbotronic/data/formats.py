"""How ``data.load(PATH)`` picks a loader: the registry of file formats, and its catalogue.

A file format is a loader ``load(path, seed=0, **options) -> Dataset`` registered under a name with the suffixes
it reads (``""`` for a folder) and, optionally:

* ``sniff(path, options) -> bool``: the format claims a path only when this says so (a ``.tsv`` named
  ``NAME_TRAIN`` whose first line is numbers is a UCR series file; a folder holding clips is a video folder);
* ``task``: the format reads its suffixes only when the options name that task (``task=forecast``).

For a path, the formats of its suffix are asked in this order: one for the task the options name; then those
with a sniff, in the order they were registered, the first that claims the path reading it; then the one
without a sniff. Loaders and sniffs may be given as ``"module:function"`` (a module of this package), imported
when first used, so that the catalogue below names every format without importing any.

Adding a format is one module (its loader) and one ``register_format`` line in the catalogue below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BlobError
from ..registry import Registry
from .spec import Dataset, TooFewToSplit

Loader = Callable[..., Dataset]
Sniff = Callable[[Path, dict[str, Any]], bool]

FILE_FORMATS = Registry("file format")


def resolve(ref: Any) -> Any:
    """A callable, or the function a ``"module:function"`` reference names (the module within this package)."""
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def register_format(name: str, loader: Loader | str, *, suffixes: tuple[str, ...], sniff: Sniff | str | None = None,
                    task: str | None = None) -> None:
    """Register a file format (see the module text); suffixes are lower case with their dot, ``""`` a folder."""
    FILE_FORMATS.register(name, suffixes=tuple(suffixes), sniff=sniff, task=task)(loader)


def file_key(path: Path) -> str:
    """What a path's format is looked up by: ``""`` for a folder, else its suffix in lower case (``.csv.gz`` whole)."""
    if path.is_dir():
        return ""
    return "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()


def readable_kinds() -> str:
    """The suffixes read, for messages: '.bio, .conll, .csv, .csv:forecast, ..., a folder'."""
    keys = set()
    for name in FILE_FORMATS:
        tags = FILE_FORMATS.tags(name)
        keys |= {f"{s}:{tags['task']}" if tags["task"] else s for s in tags["suffixes"]}
    return ", ".join(sorted(s or "a folder" for s in keys))


def format_of(path: Path, options: dict[str, Any]) -> str:
    """The name of the format that reads ``path`` with ``options`` (see the module text), or a BlobError."""
    key = file_key(path)
    named = [n for n in FILE_FORMATS if key in FILE_FORMATS.tags(n)["suffixes"]]
    task = options.get("task")
    for name in named:
        if task is not None and FILE_FORMATS.tags(name)["task"] == task:
            return name
    general = [n for n in named if FILE_FORMATS.tags(n)["task"] is None]
    for name in general:
        sniff = FILE_FORMATS.tags(name)["sniff"]
        if sniff is not None and resolve(sniff)(path, options):
            return name
    for name in general:
        if FILE_FORMATS.tags(name)["sniff"] is None:
            return name
    raise BlobError(f"{path}: files of type {key or path.name!r} cannot be read; readable types: {readable_kinds()}.")


def load_file(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """Read a file or folder with the loader of its format."""
    loader = resolve(FILE_FORMATS.get(format_of(path, options)))
    try:
        return loader(path, seed=seed, **options)
    except TooFewToSplit as e:  # split_indices cannot name the file it splits
        raise e.named_by(path) from None


# --- the catalogue -------------------------------------------------------------------------------------
# One line a format. Sniffs of one suffix are asked in this order, so the narrower claim comes first.

register_format("table", "csv_files:load_table", suffixes=(".csv", ".tsv"))
register_format("forecast table", "forecast:load_forecast_table", suffixes=(".csv", ".tsv"), task="forecast")
register_format("UCR series table", "ucr_text:load_ucr_text", suffixes=(".tsv",), sniff="ucr_text:is_ucr_file")
register_format("UCR series text", "ucr_text:load_ucr_txt", suffixes=(".txt",))
register_format(".ts series", "series:load_ts_file", suffixes=(".ts",))
register_format("arrays", "npz:load_npz", suffixes=(".npz",))
register_format("JSON lines", "text_files:load_jsonl", suffixes=(".jsonl",))
register_format("CoNLL tags", "tagging:load_conll", suffixes=(".conll", ".bio", ".iob"))
register_format("Parquet", "parquet:load_parquet", suffixes=(".parquet",))
register_format("folder of sounds", "audio:load_audio_folder", suffixes=("",), sniff="audio:is_audio_folder")
register_format("Hugging Face folder", "hf_folders:load_hf_folder", suffixes=("",), sniff="hf_folders:is_hf_folder")
register_format("folder of clips", "video:load_video_folder", suffixes=("",), sniff="video:holds_clips")
register_format("folder of images", "images:load_image_folder", suffixes=("",))
