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
from ..errors import BlobError, where
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
    """Files of sequences (.npy, .npz with one array or key 'x', or a numeric .csv), each read as ``series_in``
    says; sequences of other lengths are zero-padded, with lengths (``conform`` then checks them against the
    model's length: predict refuses or, asked to, resamples them)."""
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
    return [a.astype(np.float32) for a in series_in(array, spec, path)]


def series_in(array: np.ndarray, spec: Spec, path: Path | str) -> list[np.ndarray]:
    """The (L, C) series an array holds, read the way a univariate file usually lays them out.

    For a model of one channel: (L,) or (L, 1) is one series and (N, L) one series per row (the common CSV of
    time series; a single row is one series); for C channels (L, C) is one series, a time step per row. A 3-D
    array (N, L, C) holds N series either way.

    >>> [a.shape for a in series_in(np.zeros((3, 150)), Spec("s", "sequence", "classify", (150, 1), 2), "x.csv")]
    [(150, 1), (150, 1), (150, 1)]
    """
    length, channels = spec.input_shape[0], spec.input_shape[-1]
    if array.ndim == 1 and channels == 1:
        array = array[:, None]
    elif array.ndim == 2 and channels == 1 and array.shape[1] > 1:
        array = array[..., None]  # one series per row
    if array.ndim not in (2, 3) or array.shape[-1] != channels or array.shape[-2] == 0:
        layouts = ("(length,) or (length, 1) for one series, (count, length) for one series per row, or "
                   "(count, length, 1)" if channels == 1 else
                   f"(length, {channels}) for one series, a time step per row, or (count, length, {channels})")
        raise BlobError(
            f"{path}: holds an array of shape {array.shape}, but the model reads series of {length} steps with "
            f"{channels} channel{'s' * (channels != 1)} (trained on data set {spec.name!r}); give {layouts}."
        )
    return list(array) if array.ndim == 3 else [array]


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
    """A numeric CSV as an array, row by row (``series_in`` decides what a row is); a first row that is not all
    numbers is taken as a header."""
    table = files.read_table(path, header_row=False)  # rows of unequal width are refused there, by line
    rows, lines = table.rows, table.lines
    if rows and any(files.parse_number(v) is None for v in rows[0]):
        rows, lines = rows[1:], lines[1:]
    if not rows:
        raise BlobError(f"{path}: holds no rows of numbers; a sequence CSV has one series per row, or (several "
                        "channels) one row per time step.")
    for row, line in zip(rows, lines, strict=True):
        bad = next((v for v in row if files.parse_number(v) is None), None)
        if bad is not None:
            raise BlobError(f"{where(path, line)}: {bad!r} is not a number; a sequence CSV holds only numbers (a "
                            "first row of names is read as a header).")
    return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)


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


def conform(spec: Spec, x: torch.Tensor, lengths: torch.Tensor | None, names: list[str],
            resample: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, int]]:
    """Sequences checked against the model's length: exactly ``spec.input_shape[0]`` steps, or at most that for
    a model trained on sequences of varying length (``extra['variable_length']``). Others are an error naming
    them and the shape expected, or with ``resample`` are interpolated linearly to that length; the third value
    maps each resampled input's name to its own length. Other modalities pass through unchanged."""
    if spec.modality != "sequence":
        return x, lengths, {}
    want, channels = spec.input_shape[0], spec.input_shape[-1]
    have = [want] * len(names) if lengths is None else [int(n) for n in lengths]
    variable = bool(spec.extra.get("variable_length"))
    wrong = [i for i, n in enumerate(have) if (n > want if variable else n != want)]
    resampled = set(wrong)
    if not wrong:
        return x, lengths, {}
    if not resample:
        first = wrong[0]
        others = [f"{names[i]} ({have[i]})" for i in wrong[1:4]] + (["..."] if len(wrong) > 4 else [])
        also = f" ({len(wrong) - 1} more input{'s' * (len(wrong) > 2)} too: {', '.join(others)})" if others else ""
        shape = f"{'at most' if variable else 'exactly'} {want} steps of {channels} channel{'s' * (channels != 1)}"
        raise BlobError(
            f"{names[first]}: a series of {have[first]} steps{also}, but the model reads series of {shape}, "
            f"shape ({want}, {channels}), as it was trained on data set {spec.name!r}; it would answer a series of "
            f"another length as confidently, and wrongly. Give series of {'up to ' if variable else ''}{want} "
            f"values, or add --resample to interpolate each one linearly to {want} steps (the predictions then say "
            "so)."
        )
    out = torch.zeros(len(names), want, channels)
    for i, n in enumerate(have):
        series = x[i, :n]
        if i not in resampled:
            out[i, :n] = series
        elif n == 1:
            out[i] = series.expand(want, channels)
        else:
            out[i] = torch.nn.functional.interpolate(series.T[None], size=want, mode="linear", align_corners=True)[0].T
    have = [want if i in resampled else n for i, n in enumerate(have)]
    new_lengths = None if all(n == want for n in have) else torch.tensor(have, dtype=torch.long)
    return out, new_lengths, {names[i]: int(lengths[i]) for i in wrong}  # lengths is set: some differ


# --- video: clip files, frame folders and .npy clips, read by data/video.py --------------------------
reads("video")(video.read_video_inputs)
