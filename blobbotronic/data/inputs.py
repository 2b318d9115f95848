"""Readers of new inputs for predict, one per modality, preparing them exactly as the training data was.

``read(spec, paths)`` returns ``(x, lengths, names)``: a batch tensor shaped ``(N, *spec.input_shape)``
(sequences may be longer or shorter, with ``lengths``), ``None`` or the true lengths, and one name per
sample such as ``cat.png`` or ``new.csv:row 3``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .. import guards
from ..errors import BlobError
from . import files, video
from .spec import Spec
from .transforms import apply_scaler

Batch = tuple[torch.Tensor, torch.Tensor | None, list[str]]
Reader = Callable[[Spec, list[Path]], Batch]
READERS: dict[str, Reader] = {}


def reads(modality: str) -> Callable[[Reader], Reader]:
    """Register the reader of new inputs for one modality."""

    def decorate(fn: Reader) -> Reader:
        READERS[modality] = fn
        return fn

    return decorate


def read(spec: Spec, paths: list[Path]) -> Batch:
    """Read new inputs for prediction, prepared as the training data of ``spec`` was."""
    reader = READERS.get(spec.modality)
    if reader is None:
        raise BlobError(
            f"Predict reads {', '.join(sorted(READERS))} inputs from files; data set {spec.name!r} is "
            f"{spec.modality}, which it cannot read new inputs for."
        )
    if not paths:
        raise BlobError("Predict needs at least one input file.")
    absent = [str(p) for p in paths if not p.exists()]
    if absent:
        raise BlobError(f"Input file(s) not found: {', '.join(absent)}.")
    return reader(spec, list(paths))


# --- images ----------------------------------------------------------------------------------------


@reads("image")
def read_images(spec: Spec, paths: list[Path]) -> Batch:
    """Image files (a folder stands for the images in it), resized and converted as in training."""
    size, grey = _image_format(spec)
    images = [f for p in paths for f in (files.image_files(p, recursive=False) if p.is_dir() else [p])]
    if not images:
        raise BlobError(f"No image files ({', '.join(files.IMAGE_SUFFIXES)}) in {', '.join(map(str, paths))}.")
    x = np.stack([files.load_image(f, size, grey) for f in images])
    return torch.from_numpy(x), None, [str(f) for f in images]


def _image_format(spec: Spec) -> tuple[tuple[int, int], bool]:
    """(height, width) and grey from what the image loader recorded, else from the input shape (C, H, W)."""
    channels, h, w = spec.input_shape
    if channels not in (1, 3):
        raise BlobError(
            f"Data set {spec.name!r} has {channels}-channel images; predict reads image files only for "
            "1-channel (grey) or 3-channel (RGB) models."
        )
    size = spec.extra.get("size") or (h, w)
    grey = spec.extra.get("grey", channels == 1)
    return (int(size[0]), int(size[1])), bool(grey)


# --- tables ----------------------------------------------------------------------------------------


@reads("table")
def read_tables(spec: Spec, paths: list[Path]) -> Batch:
    """CSV/TSV files with a header naming the training feature columns: one prediction per row."""
    blocks, names = [], []
    for path in paths:
        if path.suffix.lower() not in (".csv", ".tsv"):
            raise BlobError(f"{path}: table inputs are read from .csv or .tsv files with a header row.")
        table = files.read_table(path)
        if not table.rows:
            raise BlobError(f"{path}: has a header ({', '.join(table.header)}) but no data rows to predict.")
        x = files.encode_table(table, spec.extra)
        if x.shape[1] != spec.input_shape[0]:
            raise BlobError(
                f"{path}: encodes to {x.shape[1]} features but data set {spec.name!r} has {spec.input_shape[0]}."
            )
        blocks.append(x)
        names += [f"{path.name}:row {i + 1}" for i in range(len(table.rows))]
    return torch.from_numpy(np.concatenate(blocks)), None, names


# --- sequences -------------------------------------------------------------------------------------

SEQUENCE_SUFFIXES = (".npy", ".npz", ".csv")


@reads("sequence")
def read_sequences(spec: Spec, paths: list[Path]) -> Batch:
    """Files holding one (L, C) array each (.npy, .npz with one array or key 'x', or a numeric .csv);
    a 3-D array (N, L, C) gives N sequences. Sequences of other lengths are zero-padded, with lengths."""
    arrays, names = [], []
    for path in paths:
        found = _sequence_arrays(path, spec)
        arrays += found
        names += [path.name] if len(found) == 1 else [f"{path.name}:row {i + 1}" for i in range(len(found))]
    return _pad(spec, arrays), _lengths(spec, arrays), names


def _sequence_arrays(path: Path, spec: Spec) -> list[np.ndarray]:
    """The (L, C) sequences in one file, checked against the data set's channel count."""
    reader = {".npy": _load_array, ".npz": _load_array, ".csv": _load_csv}.get(path.suffix.lower())
    if reader is None:
        raise BlobError(f"{path}: sequence inputs are read from {', '.join(SEQUENCE_SUFFIXES)} files.")
    array = reader(path)
    if array.dtype.kind not in "biuf":
        raise BlobError(f"{path}: holds {array.dtype} values; a sequence must hold numbers.")
    with np.errstate(invalid="ignore"):
        finite = bool((np.abs(array) <= files.FLOAT32_MAX).all())  # NaN compares false
    if not finite:
        raise BlobError(f"{path}: holds NaN, infinite or too large values; a sequence must hold finite numbers.")
    channels = spec.input_shape[-1]
    if array.ndim == 1 and channels == 1:
        array = array[:, None]
    if array.ndim not in (2, 3) or array.shape[-1] != channels or array.shape[-2] == 0:
        raise BlobError(
            f"{path}: holds an array of shape {array.shape}; expected (length, {channels}) for data set "
            f"{spec.name!r}, or (count, length, {channels}) for several sequences."
        )
    return list(array.astype(np.float32)) if array.ndim == 3 else [array.astype(np.float32)]


def _load_array(path: Path) -> np.ndarray:
    """The array in a .npy file or in a .npz archive (its 'x', or its only array); never unpickles."""
    try:
        with files.open_binary(path) as f:
            guards.check_npy_memory(f, path)  # from the header, before the array is read
            loaded = np.load(f, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                return loaded
            with loaded:
                guards.check_npz_memory(loaded, path)
                key = "x" if "x" in loaded.files else loaded.files[0] if len(loaded.files) == 1 else None
                if key is None:
                    raise BlobError(f"{path}: holds arrays {', '.join(loaded.files) or 'none'}; name the sequence 'x'.")
                return loaded[key]
    except files.ARRAY_FILE_ERRORS as e:
        raise BlobError(
            f"{path}: not a readable array of numbers ({files.short_reason(e)}); object arrays (pickles) are refused."
        ) from None


def _load_csv(path: Path) -> np.ndarray:
    """A numeric CSV, one row per time step; a first row that is not all numbers is taken as a header."""
    table = files.read_table(path, header_row=False)
    rows = table.rows
    if rows and any(files.parse_number(v) is None for v in rows[0]):
        rows = rows[1:]
    if not rows:
        raise BlobError(f"{path}: holds no rows of numbers; a sequence CSV has one row per time step.")
    try:
        return np.array([[float(v) for v in row] for row in rows], dtype=np.float64).reshape(len(rows), -1)
    except ValueError:
        raise BlobError(f"{path}: a sequence CSV must hold only numbers, one row per time step.") from None


def _pad(spec: Spec, arrays: list[np.ndarray]) -> torch.Tensor:
    """Scale each sequence as in training, then zero-pad them to a common length (at least the training one)."""
    longest = max(spec.input_shape[0], *(len(a) for a in arrays))
    x = torch.zeros(len(arrays), longest, spec.input_shape[-1])
    for i, a in enumerate(arrays):
        x[i, : len(a)] = apply_scaler(torch.from_numpy(a), spec.extra)
    return x


def _lengths(spec: Spec, arrays: list[np.ndarray]) -> torch.Tensor | None:
    """True lengths when any sequence differs from the training length, else None."""
    lengths = [len(a) for a in arrays]
    if all(n == spec.input_shape[0] for n in lengths):
        return None
    return torch.tensor(lengths, dtype=torch.long)


# --- video: clip files, frame folders and .npy clips, read by data/video.py --------------------------
reads("video")(video.read_video_inputs)
