"""The memory curve (how much each input position moves the output) and hidden-state trajectories.

``memory_curve`` attributes the output of a sequence model to every input value (gradient x input or
integrated gradients), takes absolute values, sums them over channels, averages them over a data
set and normalises the curve to sum 1: entry t is the share of the output's attribution that falls
on position t. A model that only remembers its last few inputs puts its mass at the end;
``last_quarter_share`` is that mass in one number (about 0.25 for a model reading every position
alike).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..data.spec import Split
from ..errors import BlobError
from .attribution import attribute, attribution_mode, device_of


@dataclass
class MemoryCurve:
    """Per-position shares of attribution (sum 1) for one model and method, with the numbers behind them."""

    model: str
    method: str
    shares: np.ndarray  # (L,)
    n: int  # sequences averaged
    extra: dict = field(default_factory=dict)

    @property
    def last_quarter(self) -> float:
        return last_quarter_share(self.shares)

    def to_dict(self) -> dict:
        return {"model": self.model, "method": self.method, "n": self.n, "last_quarter_share": self.last_quarter,
                "shares": [float(v) for v in self.shares], **self.extra}


def last_quarter_share(shares: np.ndarray | list[float]) -> float:
    """The share of attribution on the last quarter of positions: t >= L - L // 4 (all of them for L < 4)."""
    s = np.asarray(shares, dtype=np.float64)
    total = s.sum()
    return float(s[len(s) - max(1, len(s) // 4):].sum() / total) if total > 0 else float("nan")


def position_profile(attr: torch.Tensor) -> torch.Tensor:
    """(B, L, ...) attributions -> (B, L): absolute values summed over everything but the position."""
    a = attr.abs().float()
    return a.flatten(2).sum(2) if a.ndim > 2 else a


def memory_curve(model: nn.Module, split: Split, *, method: str = "integrated_gradients", target: str = "true",
                 n: int = 256, batch: int = 64, steps: int = 32) -> MemoryCurve:
    """The memory curve of ``model`` over the first ``n`` sequences of ``split``.

    ``target``: "true" explains the logit of each sequence's true class, "pred" that of the predicted
    class (regression: the output either way). Positions beyond a sequence's length add nothing.
    """
    spec = getattr(model, "spec", None)
    if spec is not None and spec.modality not in ("sequence", "text"):
        raise BlobError(f"A memory curve needs a sequence or text model; {getattr(model, 'name', 'this model')!r} "
                        f"reads {spec.modality} data.")
    if target not in ("true", "pred"):
        raise BlobError(f"target must be 'true' or 'pred', not {target!r}.")
    dev = device_of(model)
    n = min(n, len(split))
    total = None
    for i in range(0, n, batch):
        x = split.x[i : min(n, i + batch)].to(dev)
        lengths = None if split.lengths is None else split.lengths[i : min(n, i + batch)].to(dev)
        tgt = _targets(model, x, lengths, split.y[i : min(n, i + batch)].to(dev), target)
        prof = position_profile(attribute(model, x, lengths, tgt, method=method, steps=steps, batch=1024))
        total = prof.sum(0) if total is None else total + prof.sum(0)
    curve = (total / total.sum().clamp_min(1e-30)).cpu().numpy() if total is not None else np.zeros(0)
    return MemoryCurve(getattr(model, "name", "") or type(model).__name__, method, curve, n)


def _targets(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None, y: torch.Tensor,
             target: str) -> torch.Tensor | None:
    spec = getattr(model, "spec", None)
    if spec is None or not spec.is_classification:
        return None
    if target == "true":
        return y.long()
    with attribution_mode(model), torch.no_grad():
        return model(x, lengths).argmax(1)


@torch.no_grad()
def hidden_trajectories(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None,
                        components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The hidden state after every step, projected on its top principal components (PCA over all the steps shown).

    Returns the projections (B, L, components) and the share of variance each component explains.
    Needs a recurrent model (one with ``run(x, lengths) -> (per-step outputs, final state)``).
    """
    if not hasattr(model, "run"):
        raise BlobError(f"Hidden-state trajectories need a recurrent model (rnn, lstm, gru); "
                        f"{getattr(model, 'name', type(model).__name__)!r} has no per-step state.")
    was = model.training
    model.eval()
    try:
        states, _ = model.run(x.to(device_of(model)), lengths)  # (B, L, D)
    finally:
        model.train(was)
    B, L, D = states.shape
    flat = states.float().reshape(B * L, D)
    centred = flat - flat.mean(0, keepdim=True)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    k = min(components, v.shape[0])
    proj = (centred @ v[:k].T).reshape(B, L, k)
    var = s.pow(2)
    return proj.cpu().numpy(), (var[:k] / var.sum().clamp_min(1e-30)).cpu().numpy()
