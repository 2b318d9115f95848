"""The Ray backend: each run (or seed group) of a grid as one Ray task; the driver writes the rows.

``compare --backend ray`` sends every task to a Ray cluster (``--address auto`` for a cluster started
with ``ray start --head`` on this machine, ``ray://host:10001`` for a remote head, none for a private
local Ray) with a resource request: one CPU per task, and one GPU when the grid trains on CUDA. Tasks
return their rows to the driver, which writes them to its own store as each task finishes, so the
rows and the store are the same as with the local backend; only where the work ran differs.
Ray is optional: ``pip install 'blobbotronic[ray]'``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import BlobError


def _run_task(task: Any) -> dict[str, Any]:
    """What a Ray worker executes: the task's own run()."""
    return task.run()


def need_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BlobError("--backend ray needs Ray, which is not installed: pip install 'blobbotronic[ray]' "
                        "(or pip install 'ray>=2.9'); or use --backend local.") from None
    return ray


class RayBackend:  # registered as "ray" in compare/backends.py, which imports this module
    """Runs tasks as Ray tasks; ``workers`` caps how many are in flight (default: as many as Ray schedules).

    ``cpus``/``gpus`` are each task's resource request; ``gpus=None`` asks for one GPU when the task
    trains on CUDA and none otherwise (a fraction such as 0.25 packs several small models on one GPU).
    """

    def __init__(self, workers: int | None = None, address: str | None = None, cpus: float = 1.0,
                 gpus: float | None = None):
        self.ray = need_ray()
        self.workers, self.address, self.cpus, self.gpus = workers, address, cpus, gpus

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except ConnectionError as e:
            raise BlobError(f"Could not reach the Ray cluster at {self.address!r} ({e}). Start one with "
                            "`ray start --head`, then pass --address auto (on the head node) or "
                            "--address ray://HEAD:10001.") from None

    def _gpus(self, task: Any) -> float:
        if self.gpus is not None:
            return self.gpus
        first = task.tasks[0] if hasattr(task, "tasks") else task
        return 1.0 if str(getattr(first, "config", {}).get("device", "cpu")).startswith("cuda") else 0.0

    def run(self, tasks: Iterable[Any]) -> Iterator[dict[str, Any]]:
        tasks = list(tasks)
        if not tasks:
            return
        self._connect()
        ray = self.ray
        remote = ray.remote(_run_task)
        queue = list(reversed(tasks))
        limit = self.workers or len(tasks)
        pending: list[Any] = []

        def submit() -> None:
            while queue and len(pending) < limit:
                t = queue.pop()
                pending.append(remote.options(num_cpus=self.cpus, num_gpus=self._gpus(t)).remote(t))

        try:
            submit()
            while pending:
                done, rest = ray.wait(pending, num_returns=1)
                pending[:] = rest
                for ref in done:
                    yield self._result(ref)
                submit()
        finally:
            for ref in pending:  # the consumer stopped (an error, Ctrl-C): cancel what is still running
                ray.cancel(ref, force=True)

    def _result(self, ref: Any) -> dict[str, Any]:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, BlobError):
                raise cause from None
            raise
