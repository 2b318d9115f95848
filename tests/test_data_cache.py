"""The disk cache for slow built-in arrays: built once, read back identical, rebuilt when damaged."""

from __future__ import annotations

import numpy as np

from blobbotronic.data import cache


def test_arrays_are_built_once_read_back_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.array([1, 0])}

    first = cache.cached_arrays("demo", "v1", build)
    cache._MEMORY.clear()  # as a new process would
    again = cache.cached_arrays("demo", "v1", build)
    assert len(calls) == 1 and np.array_equal(again["x"], first["x"]) and again["x"].dtype == np.float32
    (file,) = (tmp_path / "blobbotronic" / "arrays").glob("demo-*.npz")
    file.write_bytes(b"not an npz")
    cache._MEMORY.clear()
    assert np.array_equal(cache.cached_arrays("demo", "v1", build)["y"], [1, 0]) and len(calls) == 2
    cache.cached_arrays("demo", "v2", build)  # another package version: another file
    assert len(calls) == 3 and len(list(file.parent.glob("demo-*.npz"))) == 2
