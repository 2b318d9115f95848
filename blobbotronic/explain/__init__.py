"""Explain: filters, feature maps, saliency, memory curves and memory horizons.

Names load on first use, so that the command line (which imports ``explain.commands``) starts fast.

>>> from blobbotronic.explain import EXPLAINERS
>>> sorted(EXPLAINERS)[:3]
['feature_maps', 'filters', 'gradcam']
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "attribute": "attribution", "gradient_x_input": "attribution", "integrated_gradients": "attribution",
    "EXPLAINERS": "explainers", "Explanation": "explainers", "explain_model": "explainers",
    "feature_maps": "filters", "first_filters": "filters", "grad_cam": "filters", "pooling_table": "filters",
    "saliency": "filters", "HorizonConfig": "horizon", "summarize": "horizon", "MemoryCurve": "memory",
    "hidden_trajectories": "memory", "last_quarter_share": "memory", "memory_curve": "memory",
    "memory_study": "study", "explain_checkpoint": "commands", "explain_section": "section",
    "memory_section": "section",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'blobbotronic.explain' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
