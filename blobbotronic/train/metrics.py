"""Evaluation of a model on a split (metrics come from the task) and cost meters (parameters, FLOPs, memory, latency,
the machine's load)."""

from __future__ import annotations

import math
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.spec import Spec, Split
from ..errors import BlobError
from .tasks import confusion, task_for  # noqa: F401  (confusion re-exported for reports)


@torch.no_grad()
def predict_batches(model: nn.Module, split: Split, batch_size: int = 1024) -> torch.Tensor:
    """Model outputs for a whole split, in batches, in evaluation mode (the caller restores the mode)."""
    model.eval()
    batch_size = min(batch_size, getattr(split.x, "max_batch", batch_size))  # lazy data (data/video.py ClipStore)
    outs = []
    for i in range(0, len(split), batch_size):
        lengths = None if split.lengths is None else split.lengths[i : i + batch_size]
        outs.append(model(split.x[i : i + batch_size], lengths).float())
    return torch.cat(outs) if outs else torch.empty(0)


def evaluate(model: nn.Module, spec: Spec, split: Split) -> dict[str, float]:
    """The task's metrics of ``model`` on a split (evaluation mode, restored afterwards). An empty split has no
    metrics: that is an error saying so, not a crash in the task's arithmetic (``split_indices`` never makes one)."""
    if len(split) == 0:
        raise BlobError(f"Data set {spec.name!r}: the split to measure holds no examples, so it has no "
                        f"{task_for(spec).headline}; it needs at least one.")
    was = model.training
    out = predict_batches(model, split)
    model.train(was)
    return task_for(spec).metrics(out, split.y, split.lengths)


def headline(spec: Spec) -> tuple[str, bool]:
    """The metric that ranks models, and whether higher is better."""
    task = task_for(spec)
    return task.headline, task.higher_is_better


# ---- cost meters -------------------------------------------------------------------------------


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _fused_lstm_flops(inp, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    """One direction of one layer of the fused CPU LSTM: 2 x steps x batch x 4H x (input + H)."""
    return 2 * inp[0] * inp[1] * w_ih[0] * (w_ih[1] + w_hh[1])


def flops_per_sample(model: nn.Module, split: Split) -> int | None:
    """Forward FLOPs for one sample, counted by torch's flop counter (matrix products and convolutions).

    Two kernels escape that counter and are counted here: the fused CPU LSTM (by its gate sizes) and the fused
    inference path of attention layers (switched off while counting)."""
    from torch.utils.flop_counter import FlopCounterMode

    was = model.training
    model.eval()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        lengths = None if split.lengths is None else split.lengths[:1]
        extra = {torch.ops.aten.mkldnn_rnn_layer: _fused_lstm_flops} if hasattr(torch.ops.aten, "mkldnn_rnn_layer") \
            else {}
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=extra) as counter:
            model(split.x[:1], lengths)
        return int(counter.get_total_flops())
    except Exception:  # some fused kernels are not counted; report unknown rather than a wrong number
        return None
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        model.train(was)


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark for this process (Linux). The mark still counts everything the process
    holds (torch itself, the data, the heap kept from earlier runs), so it is no run's own memory: see RunMeter."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """The process's resident-memory high-water mark since the last reset, in MiB (``peak_rss_mb`` in a run's
    cost). It includes torch's own few hundred MiB, the data set and whatever earlier runs left in the heap, so
    it describes the worker process, not the run: compare runs by ``memory_mb`` (RunMeter) instead."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


# ---- a run's own memory ------------------------------------------------------------------------

MIB = 2**20
CONTENDED_SHARE = 0.75  # a run whose threads got less CPU than this share of the wall time had neighbours


def _block(t: torch.Tensor) -> tuple[Any, int]:
    """The memory block under ``t`` (a key and its size in bytes): views of one block count once."""
    try:
        storage = t.untyped_storage()
        return (str(t.device), storage.data_ptr()), storage.nbytes()
    except (RuntimeError, NotImplementedError, TypeError, AttributeError):  # a wrapper tensor without a storage
        return ("tensor", id(t)), t.numel() * t.element_size()


def tensors_mb(tensors: Iterable[Any]) -> float:
    """The MiB of the distinct memory blocks under ``tensors`` (other objects are skipped)."""
    blocks = dict(_block(t) for t in tensors if isinstance(t, torch.Tensor))
    return sum(blocks.values()) / MIB


def optimizer_mb(opt: torch.optim.Optimizer | None) -> float:
    """The optimiser's state (AdamW: two moments per parameter and a step count), in MiB."""
    if opt is None:
        return 0.0
    return tensors_mb(v for state in opt.state.values() for v in state.values())


def _unpack(t: torch.Tensor) -> torch.Tensor:
    return t


class RunMeter:
    """What a training run costs itself, apart from the process around it.

    ``memory_mb`` is the run's own memory: its parameters and buffers, their gradients, the optimiser's state and
    the activations of one training step. On a CPU PyTorch keeps no allocator peak, so the activations are
    measured during the first real step: every tensor saved for the backward pass goes through a
    ``saved_tensors_hooks`` pack hook (the compiled recurrent kernels' ``ctx.save_for_backward`` included), and
    the distinct memory blocks under them, plus the batch and the model's output, are summed. Parameters are not
    counted twice. That is the memory held when the forward pass ends, where a step's memory peaks; the short-lived
    temporaries inside a kernel and the gradients of activations during backward are not counted. On CUDA the
    allocator's peak over the whole run (``torch.cuda.max_memory_allocated``, less what was allocated before the
    run began, plus the parameters) is used instead. None of it depends on what ran earlier in the process,
    unlike ``peak_rss_mb``, the process's resident-memory high-water mark.

    It also records the machine's load beside the timing: the 1-minute load average at the start and end, the
    share of CPU the run's threads actually got (process CPU time / (wall time x threads)), and ``contended``
    where that share fell below CONTENDED_SHARE on a CPU (a neighbour took the cores, the timing is theirs).

    Use: ``meter = RunMeter(model, device).begin()`` before the first step, ``meter.first_step(opt, batch...)``
    right after it, ``meter.finish(threads)`` at the end, a dict for the run's cost.
    """

    _local = threading.local()  # .meter: the meter whose hooks are pushed in this thread (hooks are per thread)

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", watch: bool = True):
        self.device, self.watch = torch.device(device), watch  # watch=False: the clocks and the load only
        self._model = tuple(model.parameters()) + tuple(model.buffers())
        self._own = {_block(t)[0] for t in self._model}
        self._saved: dict[Any, int] = {}
        self._hooks: Any = None
        self.parts: dict[str, float] = {}

    def begin(self) -> RunMeter:
        """Start watching tensors saved for backward (where asked), and the clocks."""
        stale = getattr(RunMeter._local, "meter", None)
        if stale is not None:  # a run that failed inside its first step left its hooks pushed
            stale._unhook()
        if self.watch:
            self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, _unpack)
            self._hooks.__enter__()
            RunMeter._local.meter = self
        self._cuda_start = torch.cuda.memory_allocated(self.device) if self.device.type == "cuda" else 0
        self.load_start = load_average()
        self._cpu_start, self._wall_start = time.process_time(), time.perf_counter()
        return self

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        key, size = _block(t)
        if key not in self._own:
            self._saved[key] = size
        return t

    def _unhook(self) -> None:
        if self._hooks is not None:
            self._hooks.__exit__(None, None, None)
            self._hooks = None
        if getattr(RunMeter._local, "meter", None) is self:
            RunMeter._local.meter = None

    def first_step(self, opt: torch.optim.Optimizer | None, *alive: Any) -> None:
        """After the first training step (``alive``: the batch and the output, held at the step's peak): stop
        watching and measure the parameters, gradients and optimiser state the run now holds. Later calls do
        nothing."""
        if self._hooks is None:
            return
        self._unhook()
        for t in alive:
            if isinstance(t, torch.Tensor):
                self._pack(t)
        params = [t for t in self._model if isinstance(t, nn.Parameter)]
        self.parts = {"params_mb": tensors_mb(self._model),
                      "grads_mb": tensors_mb(p.grad for p in params if p.grad is not None),
                      "optimizer_mb": optimizer_mb(opt),
                      "activations_mb": sum(self._saved.values()) / MIB}

    def finish(self, threads: int) -> dict[str, Any]:
        """The run's own memory with its parts (MiB), and the load it ran under."""
        wall, cpu = time.perf_counter() - self._wall_start, time.process_time() - self._cpu_start
        self._unhook()
        out: dict[str, Any] = {}
        if self.parts:
            out["memory_mb"] = sum(self.parts.values())
            out.update(self.parts)
        if self.device.type == "cuda":
            peak = (torch.cuda.max_memory_allocated(self.device) - self._cuda_start) / MIB
            out["memory_mb"] = self.parts.get("params_mb", tensors_mb(self._model)) + max(0.0, peak)
        share = cpu / max(1e-9, wall * max(1, threads))
        out.update(load_start=self.load_start, load_end=load_average(), cpu_share=share)
        if self.device.type == "cpu":  # a GPU run waits on its device, so a low share says nothing there
            out["contended"] = share < CONTENDED_SHARE
        return out


def training_memory(model: nn.Module, data: Any, task: Any, batch_size: int, amp: bool = False,
                    **optimizer: Any) -> dict[str, float]:
    """The memory one training step of ``model`` holds on ``data.train`` (RunMeter's parts and memory_mb),
    measured on a copy with an optimiser of its own, so ``model`` and the random state are left as they were.
    For runs that trained inside a stack of seeds (train/batched.py): each seed's memory as if alone, its share
    of the stack."""
    import copy

    from .optim import ClippedAdamW

    net = copy.deepcopy(model).train()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = ClippedAdamW(params, fused=optimizer.pop("fused", None), **optimizer) if params else None
    idx = torch.arange(min(batch_size, len(data.train)), device=data.train.y.device)
    xb, yb = data.train.x[idx], data.train.y[idx]
    lb = None if data.train.lengths is None else data.train.lengths[idx]
    with torch.random.fork_rng(devices=[]):
        meter = RunMeter(net, "cpu").begin()
        try:
            with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=amp):
                out = task.forward(net, xb, yb, lb)
            if opt is not None:
                task.loss(out, yb, lb).backward()
                opt.step()
            meter.first_step(opt, xb, yb, lb, out)
        finally:
            meter._unhook()
    return {"memory_mb": sum(meter.parts.values()), **meter.parts}


# ---- the machine's load ------------------------------------------------------------------------


def load_average() -> float | None:
    """The machine's 1-minute load average (None where the system keeps none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def usable_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup (v2) CPU quota where one is set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def _proc_snapshot() -> tuple[int, int] | None:
    """(tasks runnable on the machine, this process's threads among them) now, from /proc; None off Linux."""
    try:
        runnable = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    own = 0
    try:
        for task in Path("/proc/self/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:  # the thread ended meanwhile
                continue
            own += stat[stat.rfind(")") + 2 :].startswith("R")
    except OSError:
        own = 1
    return runnable, max(1, own)  # the thread reading is running


def busy_cores(samples: int = 5, gap: float = 0.004) -> int:
    """Cores that other processes keep busy right now: the tasks runnable on the machine less this process's own
    threads (the median of a few readings of /proc/loadavg, so a passing task is not counted), scaled to the
    share of the machine's CPUs this process may use. Off Linux: the 1-minute load average less one (ours)."""
    counts = []
    for i in range(samples):
        snap = _proc_snapshot()
        if snap is None:
            break
        counts.append(max(0, snap[0] - snap[1]))
        if i + 1 < samples:
            time.sleep(gap)
    if counts:
        others = statistics.median(counts)
    else:
        load = load_average()
        others = max(0.0, load - 1) if load is not None else 0.0
    machine = os.cpu_count() or 1
    try:
        mine = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mine = machine
    return int(math.floor(others * min(1.0, mine / machine) + 0.5))


@torch.no_grad()
def inference_cost(model: nn.Module, split: Split, repeats: int = 20, batch: int = 256) -> dict[str, float]:
    """Latency for one sample (median ms) and throughput for a large batch (samples/s), warm-up excluded."""
    was = model.training
    model.eval()
    sync = torch.cuda.synchronize if split.x.is_cuda else (lambda: None)

    def timed(x: torch.Tensor, lengths: torch.Tensor | None, n: int) -> list[float]:
        model(x, lengths)  # warm-up
        sync()
        times = []
        for _ in range(n):
            t = time.perf_counter()
            model(x, lengths)
            sync()
            times.append(time.perf_counter() - t)
        return sorted(times)

    l1 = None if split.lengths is None else split.lengths[:1]
    one = timed(split.x[:1], l1, repeats)
    b = min(batch, len(split))
    lb = None if split.lengths is None else split.lengths[:b]
    big = timed(split.x[:b], lb, max(3, repeats // 4))
    model.train(was)
    return {"latency_ms": 1000 * one[len(one) // 2], "throughput": b / big[len(big) // 2]}
