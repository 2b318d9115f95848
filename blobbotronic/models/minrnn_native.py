"""minGRU's and minLSTM's compiled CPU scan (minrnn_scan.cpp): gates and recurrence fused, built on first use.

On the CPU the pure-PyTorch scan (``LerpScan`` in models/minrnn.py, with the gates' activations around it) makes
about twenty passes over (length, batch, hidden) tensors per layer, forward and back; at 1,000 steps each is 25 MB
and the passes were the layer's cost. The kernel reads every step's input projection once and writes the states
(forward), and reads the states' gradient, the projection and the states once to write the projection's gradient
(backward), recomputing the gates; docs/speed.md has the numbers.

Built like the recurrent kernels (models/native.py): PyTorch's extension builder with the system's C++ compiler
and the ``ninja`` package, cached under ``TORCH_EXTENSIONS_DIR``. Where it cannot be built, with
``BLOBBOTRONIC_NATIVE=0``, on a GPU, under vmap (stacked seeds), or while exporting, compiling or counting FLOPs,
the layers run their pure-PyTorch scans, which compute the same numbers within float rounding (tested).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

from .native import LazyExtension

SOURCE = Path(__file__).with_name("minrnn_scan.cpp")
# as the recurrent kernels' flags (models/native.py): -fno-trapping-math lets the exponential's clamps vectorise
FLAGS = ["-O3", "-march=native", "-mprefer-vector-width=512", "-fopenmp", "-fno-math-errno", "-fno-trapping-math"]
LDFLAGS = ["-fopenmp"]
EXTENSION = LazyExtension("blobbotronic_minrnn_scan", SOURCE, FLAGS, LDFLAGS, "compiled minGRU/minLSTM scan")


def kernels() -> Any | None:
    """The compiled module, or None (not built here: see ``status()``)."""
    return EXTENSION.kernels()


def status() -> str:
    """One line: whether the compiled minGRU/minLSTM scan is in use, and why not where it is not."""
    return "compiled minGRU/minLSTM scan in use" if kernels() is not None else (
        f"pure-PyTorch minGRU/minLSTM scan ({EXTENSION.why})")


def usable(x: torch.Tensor) -> bool:
    """True where the compiled scan applies: a CPU float32/float64 tensor, outside exporting, compiling, vmap and
    dispatch modes (FLOP counting sees PyTorch's own operators), and the extension built."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
        return False
    if torch._C._are_functorch_transforms_active() or _get_current_dispatch_mode() is not None:
        return False
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    return kernels() is not None


def build() -> tuple[Any | None, str]:
    """(the module, "") or (None, why not), building it if needed; prints one line where the build fails."""
    return EXTENSION.build()


# A layer with at most this many inputs (the first layer over a raw series) is projected inside the kernel, row by
# row, so that its projection and the projection's gradient never reach memory; wider inputs are projected first by
# one matrix product, whose gradients autograd takes.
PROJECT_INSIDE = 8


def native_scan(layer: Any, x: torch.Tensor) -> torch.Tensor:
    """A MinGRULayer's or MinLSTMLayer's states (L, B, H) from its inputs (L, B, C), time first, on the kernel."""
    w, b = layer.proj.weight, layer.proj.bias
    if x.shape[-1] <= PROJECT_INSIDE:
        return NativeMinScan.apply(x.contiguous(), w, b, layer.gates)
    p = torch.mm(x.reshape(-1, x.shape[-1]), w.t()).view(*x.shape[:-1], -1)  # the bias is added in the kernel
    return NativeMinScan.apply(p, None, b, layer.gates)


class NativeMinScan(torch.autograd.Function):
    """A minGRU (``gates`` 2: update gate, candidate) or minLSTM (3: forget, input, candidate) layer's states
    (L, B, H), time first, from ``inp``: every step's projection without its bias (L, B, gates * H) where ``w`` is
    None, else the inputs (L, B, C) and the weight (gates * H, C). Gradients flow to ``inp``, ``w`` and ``bias``."""

    @staticmethod
    def forward(ctx, inp: torch.Tensor, w: torch.Tensor | None, bias: torch.Tensor, gates: int) -> torch.Tensor:
        inp, bias = inp.contiguous(), bias.contiguous()
        w = inp.new_empty(0) if w is None else w.contiguous()
        h = kernels().scan_forward(inp, w, bias, gates)
        ctx.save_for_backward(inp, w, bias, h)
        ctx.gates = gates
        return h

    @staticmethod
    def backward(ctx, dh: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        inp, w, bias, h = ctx.saved_tensors
        d_in, dw, db = kernels().scan_backward(dh, inp, w, bias, h, ctx.gates, ctx.needs_input_grad[0])
        return d_in, (dw if w.numel() else None), db, None
