"""Compiled CPU kernels for the GRU, LSTM and vanilla RNN recurrences, built once on first use and cached.

The kernels (rnn_scan.cpp, beside this file) are compiled with the system's C++ compiler through PyTorch's extension
builder (needs g++ and the ``ninja`` package); the build is cached under PyTorch's extension folder
(``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``), so it costs about a minute once per
machine. ``make`` builds it at install time (by calling ``status()``). Where it cannot
be built, or with ``BLOBBOTRONIC_NATIVE=0``, the GRU uses its pure-PyTorch scan and the LSTM and RNN PyTorch's own
kernels, which compute the same numbers more slowly; ``status()`` says which is in use and why.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import threading
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

SOURCE = Path(__file__).with_name("rnn_scan.cpp")
# -fno-trapping-math lets the compiler turn the clamps and rounding in the exponential into vector selects
# (without it the gate loops stay scalar: 5x slower); the kernels never rely on floating-point traps.
#
# -fopenmp: at::parallel_for is a header template whose threads are OpenMP pragmas compiled into this extension;
# without the flag they are ignored and the batch chunks run one after another. The extension then needs
# libgomp.so.1, which the process has already loaded from PyTorch's own lib folder (the same soname), so PyTorch
# and the kernels share one OpenMP runtime and one thread pool.
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math"]
LDFLAGS = ["-fopenmp"]


def kernels() -> Any | None:
    """The compiled module, or None (not built here: see ``status()``)."""
    return EXTENSION.kernels()


def status() -> str:
    """One line: whether the compiled kernels are in use, and why not where they are not."""
    return "compiled CPU kernels in use" if kernels() is not None else f"pure-PyTorch recurrences ({EXTENSION.why})"


def extension_name(prefix: str, source: Path, flags: list[str], ldflags: list[str]) -> str:
    """An extension's name: one build per source, flags and CPU (``-march=native`` code must not run on
    another CPU of a cluster that shares a home folder) and PyTorch version."""
    try:
        cpu = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")), "")
    except OSError:
        cpu = platform.processor()
    digest = hashlib.sha256("\n".join([source.read_text(), " ".join(flags + ldflags), cpu, torch.__version__]).encode())
    return f"{prefix}_{digest.hexdigest()[:12]}"


def compile_extension(prefix: str, source: Path, flags: list[str], ldflags: list[str],
                      what: str) -> tuple[Any | None, str]:
    """(the module, "") or (None, why not), building ``source`` if needed with PyTorch's extension builder;
    prints one line (naming ``what``) where the build fails, and the caller falls back to plain PyTorch."""
    if os.environ.get("BLOBBOTRONIC_NATIVE", "1") == "0":
        return None, "BLOBBOTRONIC_NATIVE=0"
    try:
        import ninja  # noqa: F401  (torch's builder needs it; say so plainly rather than through its error)
    except ImportError:
        return None, "the ninja package is not installed: pip install ninja"
    try:
        from torch.utils.cpp_extension import load

        return load(name=extension_name(prefix, source, flags, ldflags), sources=[str(source)], extra_cflags=flags,
                    extra_ldflags=ldflags, verbose=False), ""
    except Exception as exc:  # no compiler, no headers, a failed build: fall back, once, and say why
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"blobbotronic: {what} unavailable ({first}); using the pure-PyTorch path.", file=sys.stderr)
        return None, first


class LazyExtension:
    """One compiled extension, built (or found in the build cache) on first use, once per process, thread-safe:
    ``kernels()`` is the module or None, ``why`` says why not, ``build()`` builds without caching the answer."""

    def __init__(self, prefix: str, source: Path, flags: list[str], ldflags: list[str], what: str):
        self.prefix, self.source, self.flags, self.ldflags, self.what = prefix, source, flags, ldflags, what
        self._lock = threading.Lock()
        self._built: tuple[Any | None, str] | None = None

    def build(self) -> tuple[Any | None, str]:
        """(the module, "") or (None, why not); prints one line where the build fails."""
        return compile_extension(self.prefix, self.source, self.flags, self.ldflags, self.what)

    def kernels(self) -> Any | None:
        if self._built is None:
            with self._lock:
                if self._built is None:
                    self._built = self.build()
        return self._built[0]

    @property
    def why(self) -> str:
        self.kernels()
        return self._built[1] if self._built else ""

    def name(self) -> str:
        """One build per source, flags, CPU (``-march=native``) and PyTorch version."""
        return extension_name(self.prefix, self.source, self.flags, self.ldflags)


EXTENSION = LazyExtension("blobbotronic_rnn_scan", SOURCE, FLAGS, LDFLAGS, "compiled recurrent kernels")


def usable(*tensors: torch.Tensor) -> bool:
    """True where the compiled kernels apply: CPU float32/float64 tensors, not while exporting or compiling."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
        return False
    if torch._C._are_functorch_transforms_active():  # vmap (stacked seeds: train/batched.py) has its own scan
        return False
    if _get_current_dispatch_mode() is not None:  # FLOP counting and other dispatch modes see PyTorch's own operators
        return False
    if any(t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64) for t in tensors):
        return False
    return kernels() is not None


class NativeGRUScan(torch.autograd.Function):
    """GRUScan (models/rnn.py) on the compiled kernels: same shapes, same numbers."""

    @staticmethod
    def forward(ctx, gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        outs, rzs, ns, ghn = kernels().gru_forward(gi, w_hh.contiguous(), b_hh.contiguous())
        ctx.save_for_backward(w_hh, outs, rzs, ns, ghn)
        # gi in the projection's (D, B, L, 3H) memory order: its gradient is written in that order too
        ctx.projection_layout = not gi.is_contiguous() and gi.permute(1, 2, 0, 3).is_contiguous()
        return outs

    @staticmethod
    def backward(ctx, dout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w_hh, outs, rzs, ns, ghn = ctx.saved_tensors
        dgi, dw, db = kernels().gru_backward(dout, w_hh.contiguous(), outs, rzs, ns, ghn, ctx.projection_layout)
        return dgi, dw, db


class NativeLSTM(torch.autograd.Function):
    """One LSTM layer on the compiled kernels, every direction at once, time-major: x (D, L, B, C) each direction's
    input stream, w_ih (D, 4H, C), w_hh (D, 4H, H), bias (D, 4H) (nn.LSTM's two biases summed), gates i, f, g, o as
    in nn.LSTM -> states h (D, L, B, H)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x, w_ih, w_hh, bias = (t.contiguous() for t in (x, w_ih, w_hh, bias))
        outs, acts, cs, tcs, layout = kernels().lstm_forward(x, w_ih, w_hh, bias)
        ctx.save_for_backward(x, w_ih, w_hh, outs, acts, cs, tcs, layout)
        return outs

    @staticmethod
    def backward(ctx, dout: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(kernels().lstm_backward(dout, *ctx.saved_tensors))


class NativeRNN(torch.autograd.Function):
    """nn.RNN's tanh recurrence on the compiled kernels, every direction at once: gi (L, D, B, H) the input
    projections with both biases in them (any view whose last dimension is contiguous), w_hh (D, H, H) -> states
    h (L, D, B, H), h_t = tanh(gi_t + W_hh h_{t-1})."""

    @staticmethod
    def forward(ctx, gi: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
        outs = kernels().rnn_forward(gi, w_hh.contiguous())
        ctx.save_for_backward(w_hh, outs)
        return outs

    @staticmethod
    def backward(ctx, dout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w_hh, outs = ctx.saved_tensors
        dgi, dw = kernels().rnn_backward(dout, w_hh.contiguous(), outs)
        return dgi, dw
