"""``--skip-bad``: load a user's data skipping unreadable files, and say which files were skipped.

Folders of images or clips are read file by file, so one broken or truncated file can be left out and
counted (``skip_bad`` of images.load_image_folder and video.load_video_folder, which record ``skipped``
and ``skipped_files`` in ``Dataset.meta``). Everything else is read as a whole: a built-in data set, or
one file (CSV, .npz, .ts, CoNLL, ...) whose bad row is an error naming its line. For those the flag has
nothing to skip and is ignored, so one ``compare --skip-bad`` can mix folders with built-ins; if such a
source fails anyway, its error says why ``--skip-bad`` did not help.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import BlobError
from .spec import Dataset, Spec

SHOWN = 5  # file names a one-line summary lists before "and N more"


def reads_file_by_file(source: str | Path) -> bool:
    """True for a folder of images or clips (whose loader can skip a bad file); False for a built-in name,
    a single file, or a Hugging Face ``save_to_disk`` folder (Arrow tables, read whole)."""
    from .builtin import DATASETS
    from .hf_folders import is_hf_folder

    name = str(source)
    if name in DATASETS or name.partition(":")[0] in DATASETS:
        return False
    path = Path(name).expanduser()
    return path.is_dir() and not is_hf_folder(path)


def load_data(source: str | Path, seed: int = 0, skip_bad: bool = False,
              options: dict[str, Any] | None = None) -> Dataset:
    """``data.load(source, seed, **options)`` with ``skip_bad`` passed only where files are read one by one
    (see the module text); ``options`` may hold skip_bad already (``--data-option``, a checkpoint's)."""
    from . import load

    options = dict(options or {})
    if skip_bad and reads_file_by_file(source):
        return load(source, seed=seed, **{**options, "skip_bad": True})
    if not skip_bad:
        return load(source, seed=seed, **options)
    try:
        return load(source, seed=seed, **options)
    except BlobError as e:
        raise BlobError(f"{e} (--skip-bad skips only unreadable files inside a folder of images or clips; "
                        f"{source} is read as a whole, so its problem must be fixed in place.)") from None


def skipped_info(ds: Dataset) -> dict[str, Any]:
    """``{"skipped": N, "skipped_files": [...]}`` from a Dataset's meta (names relative to its folder,
    at most the 20 the loaders keep); N is 0 for data read as a whole."""
    meta = ds.meta or {}
    source = Path(str(meta.get("source", "")))
    names = []
    for f in meta.get("skipped_files", []):
        try:
            names.append(str(Path(f).resolve().relative_to(source.resolve())))
        except (ValueError, OSError):
            names.append(str(f))
    return {"skipped": int(meta.get("skipped", 0) or 0), "skipped_files": names}


def skipped_line(info: dict[str, Any] | None, shown: int = SHOWN) -> str:
    """'2 unreadable files skipped: a.mp4, b.mp4' (names capped at ``shown``); '' when none were skipped.

    >>> skipped_line({"skipped": 3, "skipped_files": ["a.png", "b.png", "c.png"]}, shown=2)
    '3 unreadable files skipped: a.png, b.png and 1 more'
    """
    n = int((info or {}).get("skipped", 0) or 0)
    if n <= 0:
        return ""
    names = list((info or {}).get("skipped_files", []))[:shown]
    more = n - len(names)
    listed = ", ".join(names) + (f" and {more} more" if more > 0 and names else "")
    return f"{n} unreadable file{'s' if n != 1 else ''} skipped" + (f": {listed}" if listed else "")


def read_inputs_skipping(spec: Spec, paths: list[str | Path],
                         skip_bad: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, list[str], list[str]]:
    """``data.read_inputs`` for predict; with ``skip_bad`` an input file that cannot be read is left out
    and listed (the fourth value) instead of stopping the whole prediction."""
    from . import read_inputs

    if not skip_bad:
        return (*read_inputs(spec, paths), [])
    good, bad = [], []
    for p in paths:
        try:
            read_inputs(spec, [p])
        except BlobError:
            bad.append(str(p))
        else:
            good.append(p)
    if not good:
        raise BlobError(f"None of the {len(bad)} input file(s) could be read: {', '.join(bad[:SHOWN])}.")
    return (*read_inputs(spec, good), bad)
