"""New sequences for predict: .npy, .npz (one array, or 'x') and numeric .csv files, read as ``series_in`` lays them
out, scaled as in training and zero-padded to a common length (``inputs.conform`` then fits them to the model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import guards
from ..errors import BlobError, where
from .inputs import Batch
from .options import FLOAT32_MAX
from .reading import ARRAY_FILE_ERRORS, open_binary, short_reason
from .spec import Spec
from .table import parse_number, read_table
from .transforms import apply_scaler

SEQUENCE_SUFFIXES = (".npy", ".npz", ".csv")


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
        finite = bool((np.abs(array) <= FLOAT32_MAX).all())  # NaN compares false
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
        with open_binary(path) as f:
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
    except ARRAY_FILE_ERRORS as e:
        raise BlobError(
            f"{path}: not a readable array of numbers ({short_reason(e)}); object arrays (pickles) are refused."
        ) from None


def _load_csv(path: Path) -> np.ndarray:
    """A numeric CSV as an array, row by row (``series_in`` decides what a row is); a first row that is not all
    numbers is taken as a header."""
    table = read_table(path, header_row=False)  # rows of unequal width are refused there, by line
    rows, lines = table.rows, table.lines
    if rows and any(parse_number(v) is None for v in rows[0]):
        rows, lines = rows[1:], lines[1:]
    if not rows:
        raise BlobError(f"{path}: holds no rows of numbers; a sequence CSV has one series per row, or (several "
                        "channels) one row per time step.")
    for row, line in zip(rows, lines, strict=True):
        bad = next((v for v in row if parse_number(v) is None), None)
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
