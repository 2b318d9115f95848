"""Where a grid's tasks run. A backend is anything with ``run(tasks) -> iterator of results``.

Backends register in ``BACKENDS``: "local" (this module: this process, or a pool of one-thread worker
processes) and "ray" (compare/ray_backend.py, which imports nothing from here; it is registered below, so
that the dependency runs one way). ``make_backend(name, workers, **options)`` builds one by name.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any

from ..errors import BlobError
from ..registry import Registry
from .ray_backend import RayBackend

BACKENDS = Registry("backend")


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _init_worker(parent: int) -> None:
    """In each worker: one thread, Ctrl-C left to the parent, and exit when the parent is gone (SIGKILL)."""
    import torch

    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _call(task: Any) -> dict[str, Any]:
    return task.run()


@contextmanager
def _one_thread_env() -> Iterator[None]:
    """Worker processes inherit one-thread settings before they import torch."""
    keys = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "BLOBBOTRONIC_THREADS": "1"}
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@BACKENDS.register("local", about="this machine: in this process, or in N worker processes of one thread each")
class LocalBackend:
    """Runs tasks in this process (``workers=1``) or in a pool of spawned processes, one thread each."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, int(workers or default_workers()))

    def run(self, tasks: Iterable[Any]) -> Iterator[dict[str, Any]]:
        tasks = list(tasks)
        if self.workers == 1 or len(tasks) <= 1:
            for t in tasks:
                yield t.run()
            return
        with _one_thread_env():
            pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=get_context("spawn"),
                                       initializer=_init_worker, initargs=(os.getpid(),))
            try:
                for fut in as_completed([pool.submit(_call, t) for t in tasks]):
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        raise BlobError(
                            "A worker process died before finishing its run (out of memory, killed, or it could "
                            "not start). From a Python script, call compare() under `if __name__ == \"__main__\":` "
                            "(worker processes import the script); or run with workers=1 (--workers 1). "
                            "Finished runs are stored: rerun to resume."
                        ) from None
                    yield result
            except BaseException:  # a failed, interrupted or abandoned grid does not wait for the runs in flight
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    proc.terminate()
                raise
            finally:
                pool.shutdown(wait=False, cancel_futures=True)


BACKENDS.register("ray", about="a Ray cluster: one Ray task per run or seed group, rows written by the driver")(
    RayBackend)


def make_backend(name: str, workers: int | None = None, **options: Any) -> Any:
    """A backend by name; ``options`` (such as a Ray ``address``) go to its constructor when given."""
    return BACKENDS.get(name)(workers=workers, **{k: v for k, v in options.items() if v is not None})
