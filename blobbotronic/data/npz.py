"""The .npz format: named arrays x and y (and optionally x_test, y_test, lengths, lengths_test), whose dimensions
say the modality. ``arrays_dataset`` also serves ``from_arrays`` (ecosystem.py), which reads arrays in memory
exactly as a .npz file holding them would be read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import guards
from ..errors import BlobError
from .options import FLOAT32_MAX, check_options, class_name, task_option
from .reading import ARRAY_FILE_ERRORS, open_binary, short_reason
from .spec import Dataset, Spec, make_dataset
from .transforms import standardize

NPZ_KEYS = ("x", "y", "x_test", "y_test", "lengths", "lengths_test")
NDIM_MODALITY = {2: "table", 3: "sequence", 4: "image", 5: "video"}
MODALITY_NDIM = {"table": 2, "text": 2, "sequence": 3, "image": 4, "video": 5}
NPZ_KINDS = {"x": ("biuf", "numbers"), "y": ("biufU", "numbers or text labels"), "lengths": ("iu", "whole numbers")}
SAVEZ_HINT = "Save one with numpy.savez(path, x=inputs, y=targets)."


def load_npz(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """Load arrays ``x`` and ``y`` (optionally ``x_test``, ``y_test``, ``lengths``, ``lengths_test``):
    options ``modality`` (default from x's dimensions) and ``task`` (default: classify for integer or text y)."""
    opts = check_options(path, options, {"modality": None, "task": None})
    task = task_option(path, opts["task"])
    return arrays_dataset(path, _read_npz(path), name=path.stem, modality=opts["modality"], task=task, seed=seed,
                          kind="npz", source=str(path))


def arrays_dataset(where: Path, a: dict[str, np.ndarray], *, name: str, modality: str | None, task: str | None,
                   seed: int, kind: str, source: str) -> Dataset:
    """A Dataset from named arrays, checked: the modality from x's dimensions unless given, classification for
    whole-number or text labels unless ``task`` says, a stratified split (or, with x_test and y_test, validation
    carved out of the training data), image values scaled to [0, 1], tables standardised. ``kind`` is recorded
    as ``spec.extra["source"]``, ``source`` as ``meta["source"]``."""
    _check_pairs(where, a)
    modality = _npz_modality(where, a["x"], modality)
    for key in ("x", "x_test"):
        if key in a:
            a[key] = _add_channel_axis(a[key], modality)
    _check_lengths(where, a, modality)
    task = task or ("classify" if a["y"].dtype.kind in "biuU" else "regress")
    y, y_test, classes = _npz_targets(where, a, task)
    extra: dict[str, Any] = {"source": kind}
    x, x_test = a["x"], a.get("x_test")
    if modality in ("image", "video"):
        x, x_test, extra["value_scale"] = _unit_range(where, x, x_test)
    if modality == "table":
        extra["features"] = [f"x{i}" for i in range(x.shape[1])]
    vocab = int(max(x.max(), -1 if x_test is None else x_test.max())) + 1 if modality == "text" else 0
    n_outputs = len(classes) if task == "classify" else (1 if y.ndim == 1 else y.shape[1])
    spec = Spec(name, modality, task, x.shape[1:], n_outputs, classes, vocab_size=vocab, extra=extra)
    test = None if x_test is None else (x_test, y_test)
    ds = make_dataset(spec, x, y, test=test, seed=seed, lengths=a.get("lengths"), test_lengths=a.get("lengths_test"),
                      meta={"source": source, "published_split": test is not None})
    return standardize(ds) if modality == "table" else ds


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with open_binary(path) as f:  # numpy leaves a file it opened itself open when the archive is broken
        if not f.read(6).startswith((b"PK", b"\x93NUMPY")):
            raise BlobError(f"{path}: not an .npz archive (it does not start like a zip file). {SAVEZ_HINT}")
        f.seek(0)
        try:
            archive = np.load(f, allow_pickle=False)
        except ARRAY_FILE_ERRORS as e:
            raise BlobError(f"{path}: not a readable .npz archive ({short_reason(e)}). {SAVEZ_HINT}") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise BlobError(f"{path}: holds a single array, not an .npz archive of named arrays. {SAVEZ_HINT}")
        return _npz_arrays(path, archive)


def _npz_arrays(path: Path, archive: np.lib.npyio.NpzFile) -> dict[str, np.ndarray]:
    with archive:
        absent = [k for k in ("x", "y") if k not in archive.files]
        if absent:
            raise BlobError(
                f"{path}: has no array named {' or '.join(map(repr, absent))}; it holds "
                f"{', '.join(map(repr, archive.files)) or 'no arrays'}. {SAVEZ_HINT}"
            )
        guards.check_npz_memory(archive, path)  # from the shapes the headers declare, before any array is read
        return {k: _npz_array(path, archive, k) for k in NPZ_KEYS if k in archive.files}


def _npz_array(path: Path, archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        array = archive[key]
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickled" in str(e):
            raise BlobError(
                f"{path}: array {key!r} is an object array, which could only be read by unpickling it, and pickles "
                "can run code, so it is refused. Store plain numeric arrays (numpy.savez with numbers, not lists)."
            ) from None
        raise BlobError(f"{path}: cannot read array {key!r} ({short_reason(e)}). {SAVEZ_HINT}") from None
    except ARRAY_FILE_ERRORS as e:
        raise BlobError(f"{path}: array {key!r} is damaged ({short_reason(e)}). {SAVEZ_HINT}") from None
    kinds, words = NPZ_KINDS[key.removesuffix("_test")]
    if array.dtype.kind not in kinds:
        raise BlobError(f"{path}: array {key!r} has type {array.dtype}; it must hold {words}.")
    if array.dtype.kind == "f":
        check_finite_array(path, key, array)
    return array


def check_finite_array(path: Path, key: str, array: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(array) <= FLOAT32_MAX)  # NaN compares false
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(array[first]) else "infinite" if np.isinf(array[first]) else "too large"
        raise BlobError(
            f"{path}: array {key!r} has {int(bad.sum())} NaN, infinite or too large value(s), the first ({kind}) "
            f"at index {first}; clean or impute them before loading."
        )


def _check_pairs(path: Path, a: dict[str, np.ndarray]) -> None:
    """x and y (and x_test and y_test) must agree in length, and the test arrays must come as a pair."""
    if ("x_test" in a) != ("y_test" in a):
        raise BlobError(f"{path}: has only one of 'x_test' and 'y_test'; give both or neither.")
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        if xk not in a:
            continue
        if a[xk].ndim == 0 or a[yk].ndim == 0:
            raise BlobError(f"{path}: {xk!r} and {yk!r} must be arrays with one entry per sample, not single values.")
        if a[xk].size == 0:
            raise BlobError(f"{path}: {xk!r} is empty (shape {a[xk].shape}); it needs samples with values.")
        if len(a[xk]) != len(a[yk]):
            raise BlobError(
                f"{path}: {xk!r} has {len(a[xk])} samples but {yk!r} has {len(a[yk])}; they must have the same "
                "length (one target per input)."
            )
    if "x_test" in a and a["x_test"].shape[1:] != a["x"].shape[1:]:
        raise BlobError(
            f"{path}: 'x_test' samples have shape {a['x_test'].shape[1:]} but 'x' samples have shape "
            f"{a['x'].shape[1:]}; they must match."
        )


def _npz_modality(path: Path, x: np.ndarray, modality: str | None) -> str:
    if modality is None:
        if x.ndim not in NDIM_MODALITY:
            raise BlobError(
                f"{path}: 'x' has shape {x.shape}; expected (N, F) table, (N, L, C) sequence, (N, C, H, W) image "
                "or (N, T, C, H, W) video (add a trailing axis for one feature: x[:, None])."
            )
        return NDIM_MODALITY[x.ndim]
    if modality not in MODALITY_NDIM:
        raise BlobError(f"{path}: option modality={modality!r} is not valid; use one of {', '.join(MODALITY_NDIM)}.")
    want = MODALITY_NDIM[modality]
    if x.ndim != want and not (x.ndim == want - 1 and modality in ("sequence", "image")):
        raise BlobError(f"{path}: modality {modality!r} needs 'x' with {want} dimensions, but 'x' has shape {x.shape}.")
    if modality == "text" and (x.dtype.kind not in "iu" or x.min() < 0):
        raise BlobError(f"{path}: modality 'text' needs 'x' of non-negative whole-number token ids.")
    return modality


def _add_channel_axis(x: np.ndarray, modality: str) -> np.ndarray:
    """Add the missing channel axis: (N, L) -> (N, L, 1) for sequences, (N, H, W) -> (N, 1, H, W) for images."""
    if x.ndim == MODALITY_NDIM[modality] - 1:
        x = x[..., None] if modality == "sequence" else x[:, None]
    return x


def _check_lengths(path: Path, a: dict[str, np.ndarray], modality: str) -> None:
    for key, xk in (("lengths", "x"), ("lengths_test", "x_test")):
        if key not in a:
            continue
        if modality not in ("sequence", "text") or xk not in a:
            raise BlobError(f"{path}: {key!r} is only meaningful for sequence or text data with an {xk!r} array.")
        n, steps = a[xk].shape[:2]
        lengths = a[key]
        if lengths.shape != (n,) or lengths.min(initial=1) < 1 or lengths.max(initial=1) > steps:
            raise BlobError(f"{path}: {key!r} must have shape ({n},) with every length between 1 and {steps}.")


def _npz_targets(path: Path, a: dict[str, np.ndarray], task: str) -> tuple[np.ndarray, Any, tuple[str, ...]]:
    y, y_test = a["y"], a.get("y_test")
    if y_test is not None and y_test.shape[1:] != y.shape[1:]:
        raise BlobError(f"{path}: 'y_test' has shape {y_test.shape} but 'y' has shape {y.shape}; they must match.")
    if y.ndim == 2 and y.shape[1] == 1:
        y, y_test = y[:, 0], None if y_test is None else y_test[:, 0]
    if task == "regress":
        if y.dtype.kind == "U":
            raise BlobError(f"{path}: 'y' holds text, but task='regress' needs numeric targets.")
        return y.astype(np.float32), None if y_test is None else y_test.astype(np.float32), ()
    if y.ndim != 1:
        raise BlobError(f"{path}: 'y' has shape {y.shape}; classification needs one label per sample, shape (N,).")
    values = np.unique(y if y_test is None else np.concatenate([y, y_test.reshape(-1)]))
    if len(values) < 2:
        only = class_name(values[0])
        raise BlobError(f"{path}: 'y' has a single class ({only!r}); a classifier needs at least two classes.")
    index = lambda v: np.searchsorted(values, v).astype(np.int64)  # noqa: E731
    return index(y), None if y_test is None else index(y_test), tuple(class_name(v) for v in values)


def _unit_range(path: Path, x: np.ndarray, x_test: np.ndarray | None) -> tuple[np.ndarray, Any, float]:
    """Images as floats in [0, 1]: whole numbers 0..255 are divided by 255; floats must already be in range."""
    both = [x] if x_test is None else [x, x_test]
    if all(v.dtype.kind in "biu" for v in both) and max(v.max() for v in both) > 1:
        scale = 255.0
        if min(v.min() for v in both) < 0 or max(v.max() for v in both) > 255:
            raise BlobError(f"{path}: image values in 'x' must be 0..255 (whole numbers) or 0..1 (floats).")
    else:
        scale = 1.0
        if min(v.min() for v in both) < 0 or max(v.max() for v in both) > 1:
            raise BlobError(
                f"{path}: image values in 'x' must lie in [0, 1] (or be whole numbers 0..255); found "
                f"{float(min(v.min() for v in both)):g} to {float(max(v.max() for v in both)):g}."
            )
    scaled = [(v / scale).astype(np.float32) for v in both]
    return scaled[0], (scaled[1] if x_test is not None else None), scale

