"""Folders of files, whatever the files hold: the published-split layout (train/, val/, test/ folders of class
folders) and reading each file of a folder, skipping unreadable ones when asked (``skip_bad``).

The folder formats (images.py, video.py, and the sound folders) share these, so that every folder that keeps a
published split keeps it the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BlobError
from .spec import split_indices

SPLIT_FOLDERS = {"train": "train", "test": "test", "val": "val", "valid": "val", "validation": "val"}
VAL_FRACTION = 0.2  # without a val/ folder, validation is this share of train/, stratified, seed 0


def split_folders(path: Path) -> dict[str, Path] | None:
    """``{"train": ..., "test": ..., "val": ...}`` when a folder is laid out as published splits, else None.

    The layout: every visible subfolder is train/, test/ or val/ (also valid/, validation/; any case), train/
    is among them and holds subfolders (the classes). A train/ holding images itself is a class called
    'train', and a folder with any other subfolder is one folder per class. train/ without test/ is an error.
    """
    subs = [d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")]
    named: dict[str, Path] = {}
    for d in sorted(subs):
        split = SPLIT_FOLDERS.get(d.name.lower())
        if split is None:
            return None
        if split in named:
            raise BlobError(f"{path}: both {named[split].name}/ and {d.name}/ hold the {split} split; keep one.")
        named[split] = d
    train = named.get("train")
    if train is None or not any(c.is_dir() and not c.name.startswith(".") for c in train.iterdir()):
        return None
    if "test" not in named:
        raise BlobError(
            f"{path}: has {', '.join(d.name + '/' for d in named.values())} but no test/ folder. A folder laid out as "
            "splits holds train/ and test/ (and optionally val/), each with one subfolder per class, e.g. "
            f"{path / 'train' / 'cat' / '1.png'} and {path / 'test' / 'cat' / '2.png'}."
        )
    return named


def check_split_classes(path: Path, classes: dict[str, list[str]]) -> list[str]:
    """The class names of train/, which test/ (and val/) must have too; a BlobError names any difference."""
    train = classes["train"]
    for split in ("test", "val"):
        if split not in classes or set(classes[split]) == set(train):
            continue
        only_there = sorted(set(classes[split]) - set(train))
        only_train = sorted(set(train) - set(classes[split]))
        parts = [f"{split}/ has {', '.join(map(repr, only_there))} that train/ lacks"] if only_there else []
        parts += [f"train/ has {', '.join(map(repr, only_train))} that {split}/ lacks"] if only_train else []
        raise BlobError(
            f"{path}: the class folders of train/ and {split}/ differ: {'; '.join(parts)}. Each split holds the same "
            f"class folders ({', '.join(train)} in train/), with at least one example each."
        )
    return train


def split_parts(origin: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], str]:
    """Train/val/test indices from where each example came from (0 train, 1 val, 2 test), and a note saying how:
    the published folders, with validation carved from train/ (20%, stratified, seed 0) when there is no val/."""
    train, val, test = (np.flatnonzero(origin == k) for k in range(3))
    if len(val):
        return [train, val, test], "published split: the train/, val/ and test/ folders as given"
    keep, carve = split_indices(len(train), (1 - VAL_FRACTION, VAL_FRACTION), 0, y[train])
    return [train[keep], train[carve], test], (
        f"published split: train/ and test/ as given; validation {VAL_FRACTION:.0%} of train/, stratified, seed 0")



def read_each(files: list[Path], read: Callable[[Path], Any], skip_bad: bool, skipped: list[Path]) -> dict[Path, Any]:
    """``read(file)`` for every file; with ``skip_bad`` an unreadable one is noted in ``skipped``, else it raises."""
    out = {}
    for file in files:
        try:
            out[file] = read(file)
        except BlobError:
            if not skip_bad:
                raise
            skipped.append(file)
    return out

