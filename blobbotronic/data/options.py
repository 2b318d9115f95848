"""Loader options: checking their names, and coercing the text a command line gives to what a loader needs.

Every loader takes ``**options`` as given by ``data.load(path, **options)`` or ``--data-option KEY=VALUE``,
so a value may arrive as a Python value or as text. The one truth parser is ``truth``: the words below, in
any case, and bools; ``flag`` and ``yes_no`` turn it into a checked option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BlobError

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
TASK_CHOICES = ("classify", "regress")
FLOAT32_MAX = float(np.finfo(np.float32).max)  # the largest value the 32-bit floats of models hold


def check_options(path: Path, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The loader's options with defaults filled in; an unknown option is a BlobError listing the valid ones."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise BlobError(
            f"{path}: unknown option(s) {', '.join(unknown)} for this file type; "
            f"valid options: {', '.join(defaults) or 'none'}."
        )
    return {**defaults, **given}


def truth(value: Any) -> bool | None:
    """True or False for a bool or a yes/no word ('true', 'no', '1', 'off', ...; any case), None for anything else."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in TRUE_WORDS else False if text in FALSE_WORDS else None


def yes_no(path: Path, name: str, value: Any) -> bool:
    """A yes/no option; anything that is not one (None included) is a BlobError."""
    answer = truth(value)
    if answer is None:
        raise BlobError(f"{path}: option {name}={value!r} is not a yes/no value; use true or false.")
    return answer


def flag(path: Path, name: str, value: Any) -> bool | None:
    """A yes/no option given as a bool or as text such as 'true' or 'no'; None (not given) stays None."""
    return None if value is None else yes_no(path, name, value)


def task_option(path: Path, task: Any) -> str | None:
    """The ``task`` option of a table or arrays: classify, regress or None (decide from the labels)."""
    if task is not None and task not in TASK_CHOICES:
        raise BlobError(f"{path}: option task={task!r} is not valid; use one of {', '.join(TASK_CHOICES)}.")
    return task


def size_option(path: Path, size: Any) -> tuple[int, int] | None:
    """``size`` as (height, width): 28, "28", "28x32" or (28, 32)."""
    if size is None:
        return None
    parts = size if isinstance(size, (list, tuple)) else str(size).lower().replace("x", " ").split()
    try:
        hw = [int(p) for p in parts]
    except (TypeError, ValueError):
        hw = []
    if len(hw) == 1:
        hw *= 2
    if len(hw) != 2 or not all(1 <= s <= 1024 for s in hw):
        raise BlobError(f"{path}: option size={size!r} is not valid; use a side such as 32, or HxW such as 28x32.")
    return hw[0], hw[1]


def class_name(value: Any) -> str:
    """A class label as text: 3.0 -> '3', 'cat' -> 'cat'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value.item() if isinstance(value, np.generic) else value)
