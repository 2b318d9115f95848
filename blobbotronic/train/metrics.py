"""Evaluation of a model on a split (metrics come from the task) and cost meters (parameters, FLOPs, memory, latency)."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import torch
from torch import nn

from ..data.spec import Spec, Split
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
    """The task's metrics of ``model`` on a split (evaluation mode, restored afterwards)."""
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
    """Reset the kernel's peak-RSS mark for this process (Linux), so each run measures its own peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory of this process since the last reset, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


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
