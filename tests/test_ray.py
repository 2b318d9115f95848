"""The Ray backend: a local Ray of 2 CPUs writes the same rows as the local backend, for the same seeds."""

from __future__ import annotations

import sys

import pytest

from blobbotronic.compare.runner import BACKENDS, compare
from blobbotronic.errors import BlobError

COMPARED = ("dataset", "model", "seed", "params_hash", "version", "metric", "params", "config", "metrics",
            "val_metrics", "confusion", "stopped")


def without_times(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


@pytest.fixture(scope="module")
def local_ray():
    import ray  # an error, not a skip, when Ray is missing: `make test` installs it (the ray extra)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_rows_equal_local_rows(tmp_path, local_ray):
    kw = dict(seeds=2, budget="12 steps")
    local = compare("xor,digits", "mlp,gru", store=tmp_path / "local.db", backend="local", workers=1, **kw)
    remote = compare("xor,digits", "mlp,gru", store=tmp_path / "ray.db", backend="ray", **kw)
    assert remote.ran == len(local.rows) == 6  # the GRU cannot take xor's table: 3 pairs x 2 seeds
    assert [[r[k] for k in COMPARED] for r in remote.rows] == [[r[k] for k in COMPARED] for r in local.rows]
    assert [without_times(r["history"]) for r in remote.rows] == [without_times(r["history"]) for r in local.rows]
    # the work ran in Ray's worker processes, not in this one
    # (seed groups went to Ray as tasks: the MLP's seeds stacked; the GRU's train one by one where its compiled
    # kernels are built, which is faster there)
    assert {r["cost"]["batched"] for r in remote.rows if r["model"] == "mlp"} == {2}
    again = compare("xor,digits", "mlp,gru", store=tmp_path / "ray.db", backend="ray", **kw)
    assert (again.ran, again.reused) == (0, 6)  # the driver's store already holds every row


def test_ray_backend_says_how_to_install_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(BlobError, match=r"pip install 'blobbotronic\[ray\]'"):
        BACKENDS.get("ray")()


def test_ray_is_a_compare_backend():
    assert "ray" in BACKENDS.names() and "local" in BACKENDS.names()
