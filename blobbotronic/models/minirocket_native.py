"""MiniRocket's compiled CPU transform (minirocket_ppv.cpp): convolution and PPV counting fused, built on first use.

Eager PyTorch cannot count a convolution output against its biases without writing each comparison to memory and
reading it back; on one CPU thread that capped the count at about 5 x 10^9 comparisons a second, where the
long UCR sets need about twice that to match aeon's numba MiniRocket (docs/speed.md, MiniRocket). The kernel
here keeps each kernel's output over one series in L1 and counts it there.

Built like the recurrent kernels (models/native.py): PyTorch's extension builder with the system's C++ compiler
and the ``ninja`` package, cached under ``TORCH_EXTENSIONS_DIR`` (about half a minute, once per machine). Where it
cannot be built, with ``BLOBBOTRONIC_NATIVE=0``, on a GPU, or while exporting, compiling or counting FLOPs,
MiniRocketTransform runs its pure-PyTorch path, which gives the same features within float rounding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode

from .native import LazyExtension

SOURCE = Path(__file__).with_name("minirocket_ppv.cpp")
# -ffp-contract=off: no fused multiply-adds, so a convolution gives the same numbers in fitting and transforming
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"]
LDFLAGS = ["-fopenmp"]
EXTENSION = LazyExtension("blobbotronic_minirocket", SOURCE, FLAGS, LDFLAGS, "compiled MiniRocket transform")


def kernels() -> Any | None:
    """The compiled module, or None (not built here: see ``status()``)."""
    return EXTENSION.kernels()


def status() -> str:
    """One line: whether the compiled MiniRocket transform is in use, and why not where it is not."""
    return "compiled MiniRocket transform in use" if kernels() is not None else (
        f"pure-PyTorch MiniRocket transform ({EXTENSION.why})")


def usable(x: torch.Tensor) -> bool:
    """True where the compiled transform applies: a CPU tensor, outside exporting, compiling, vmap and dispatch
    modes (FLOP counting sees PyTorch's own operators), and the extension built."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
        return False
    if torch._C._are_functorch_transforms_active() or _get_current_dispatch_mode() is not None:
        return False
    return x.device.type == "cpu" and kernels() is not None


def build() -> tuple[Any | None, str]:
    """(the module, "") or (None, why not), building it if needed; prints one line where the build fails."""
    return EXTENSION.build()
