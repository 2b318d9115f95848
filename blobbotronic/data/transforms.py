"""Preprocessing fitted on the training split and recorded in the Spec, so predict can repeat it."""

from __future__ import annotations

import torch

from .spec import Dataset, Split


def standardize(ds: Dataset) -> Dataset:
    """Scale table or sequence features to zero mean, unit variance using training statistics only."""
    x = ds.train.x
    dims = tuple(range(x.ndim - 1))  # every axis but the feature axis
    mean = x.mean(dim=dims)
    std = x.std(dim=dims).clamp_min(1e-8)
    ds.spec.extra["scaler"] = {"mean": mean.tolist(), "std": std.tolist()}

    def apply(s: Split) -> Split:
        return Split((s.x - mean) / std, s.y, s.lengths)

    return Dataset(ds.spec, apply(ds.train), apply(ds.val), apply(ds.test), ds.meta)


def apply_scaler(x: torch.Tensor, extra: dict) -> torch.Tensor:
    """Repeat a recorded standardisation on new inputs (no-op when none was recorded)."""
    sc = extra.get("scaler")
    if not sc:
        return x
    return (x - torch.tensor(sc["mean"])) / torch.tensor(sc["std"])
