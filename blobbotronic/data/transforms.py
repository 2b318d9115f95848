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


def shift_images(x: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """Move each image (N, C, H, W) by k pixels in one of eight directions, chosen per image; zeros fill in."""
    dirs = torch.tensor([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])
    pick = dirs[torch.randint(0, 8, (len(x),), generator=g)] * k
    out = torch.zeros_like(x)
    H, W = x.shape[-2:]
    for i, (dy, dx) in enumerate(pick.tolist()):
        ys, yd = (slice(0, H - dy), slice(dy, H)) if dy >= 0 else (slice(-dy, H), slice(0, H + dy))
        xs, xd = (slice(0, W - dx), slice(dx, W)) if dx >= 0 else (slice(-dx, W), slice(0, W + dx))
        out[i, :, yd, xd] = x[i, :, ys, xs]
    return out


def rotate_images(x: torch.Tensor, degrees: float, g: torch.Generator) -> torch.Tensor:
    """Rotate each image (N, C, H, W) about its centre by +-degrees (sign chosen per image), bilinear."""
    import math

    sign = torch.randint(0, 2, (len(x),), generator=g).float() * 2 - 1
    a = sign * math.radians(degrees)
    cos, sin = torch.cos(a), torch.sin(a)
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(a)], 1),
                         torch.stack([sin, cos, torch.zeros_like(a)], 1)], 1)  # (N, 2, 3)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
