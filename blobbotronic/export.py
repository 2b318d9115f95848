"""Export a trained model for deployment elsewhere: ONNX (checked under onnxruntime) or TorchScript.

The exported graph takes a batch of inputs shaped as the Spec says (any batch size) and, for text,
the true lengths; it returns logits (classification) or predictions (regression). The Spec (classes,
input shape, encoding details) travels inside the file: ONNX metadata ``blobbotronic.spec`` or the
TorchScript extra file ``spec.json``.

>>> import blobbotronic as bb, tempfile, pathlib
>>> ds = bb.load("xor")
>>> net = bb.create_model("mlp", ds.spec)
>>> out = pathlib.Path(tempfile.mkdtemp()) / "xor.onnx"
>>> export(net, ds.spec, out, "onnx")["max_abs_diff"] < 1e-4
True
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data.spec import Spec
from .errors import BlobError

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
TOLERANCE = 1e-4  # the largest difference from PyTorch's outputs an export may show
EXAMPLE_BATCH, CHECK_BATCH = 3, 5  # traced with one batch size, checked with another: the batch axis is free


class Exported(nn.Module):
    """The model as exporters see it: ``forward(x)`` or, with lengths, ``forward(x, lengths)``."""

    def __init__(self, model: nn.Module, with_lengths: bool):
        super().__init__()
        self.model = model
        self.with_lengths = with_lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x, lengths if self.with_lengths else None)


def example_inputs(spec: Spec, n: int, seed: int = 0, with_lengths: bool | None = None) -> tuple[torch.Tensor, ...]:
    """Random valid inputs for ``spec``: (x,) or, for text, (x, lengths) with padding after each length."""
    g = torch.Generator().manual_seed(seed)
    shape = (n, *spec.input_shape)
    if spec.modality == "text":
        length = spec.input_shape[0]
        lengths = torch.randint(1, length + 1, (n,), generator=g)
        lengths[0] = length  # one full-length row, so no position is padding in every row
        x = torch.randint(1, max(2, spec.vocab_size), shape, generator=g)
        x = x * (torch.arange(length)[None] < lengths[:, None])
        return (x, lengths) if with_lengths is not False else (x,)
    x = torch.rand(shape, generator=g) if spec.modality in ("image", "video") else torch.randn(shape, generator=g)
    return (x,)


def uses_lengths(spec: Spec) -> bool:
    """Text carries its true lengths beside the padded ids; other modalities are exported at full length."""
    return spec.modality == "text"


def export(model: nn.Module, spec: Spec | None, path: str | Path, format: str = "onnx", *,
           check: bool = True, opset: int | None = None) -> dict[str, Any]:
    """Write ``model`` to ``path`` as ONNX or TorchScript and (with ``check``) compare the file's outputs
    with PyTorch's on random valid inputs of another batch size; a difference over 1e-4 is a BlobError.

    Returns a record: path, format, exporter, inputs, outputs, max_abs_diff (None when not checked)."""
    if format not in FORMATS:
        raise BlobError(f"Cannot export to {format!r}; formats: {', '.join(FORMATS)}.")
    spec = spec or model.spec
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with_lengths = uses_lengths(spec)
    was_training = model.training
    device = next(iter(model.parameters()), torch.empty(0)).device
    model = model.cpu().eval()
    wrapped = Exported(model, with_lengths).eval()
    example = example_inputs(spec, EXAMPLE_BATCH, seed=0, with_lengths=with_lengths)
    names = ["x", "lengths"][: len(example)]
    output = "logits" if spec.is_classification else "prediction"
    try:
        if format == "onnx":
            exporter = _to_onnx(wrapped, example, names, output, path, opset)
            _add_onnx_metadata(path, spec, model)
            record_inputs = _onnx_inputs(path)
        else:
            exporter = _to_torchscript(wrapped, example, path, spec, model)
            record_inputs = names
        diff = _check(wrapped, spec, path, format, record_inputs) if check else None
    finally:
        model.to(device).train(was_training)
    if diff is not None and diff > TOLERANCE:
        raise BlobError(
            f"{path}: the exported model's outputs differ from PyTorch's by up to {diff:.2g} (allowed {TOLERANCE:g}); "
            f"the {exporter} exporter did not reproduce model {getattr(model, 'name', '?')!r} faithfully."
        )
    return {"path": str(path), "format": format, "exporter": exporter, "inputs": record_inputs,
            "outputs": [output], "output_shape": ["batch", spec.n_outputs], "max_abs_diff": diff,
            "tolerance": TOLERANCE, "model": getattr(model, "name", ""), "spec": spec.name}


@contextlib.contextmanager
def _quiet():
    """Exporters print progress, log and warn; the command line's --json needs a clean stdout."""
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def _to_onnx(wrapped: nn.Module, example: tuple, names: list[str], output: str, path: Path, opset: int | None) -> str:
    """The TorchScript-based exporter first (fast); torch.export's (dynamo) when that cannot trace the model."""
    _need("onnx", "onnx")
    axes = {name: {0: "batch"} for name in [*names, output]}
    try:
        with _quiet():
            torch.onnx.export(wrapped, example, str(path), input_names=names, output_names=[output],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
        return "TorchScript-based"
    except Exception as first:  # noqa: BLE001 - any tracing failure sends us to the other exporter
        _need("onnxscript", "onnxscript")
        batch = torch.export.Dim("batch", min=1)
        try:
            with _quiet():
                torch.onnx.export(wrapped, example, str(path), input_names=names, output_names=[output],
                                  dynamic_shapes=tuple({0: batch} for _ in example), opset_version=opset, dynamo=True)
            return "dynamo"
        except Exception as second:  # noqa: BLE001
            raise BlobError(
                f"Neither ONNX exporter could export this model: TorchScript-based: {_first_line(first)}; "
                f"torch.export-based: {_first_line(second)}. The torchscript format may still work."
            ) from None


def _first_line(e: BaseException) -> str:
    """The gist of an exporter's (often page-long, coloured) message: its exception summary or first line."""
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(e)).splitlines() if ln.strip()]
    for i, line in enumerate(lines[:-1]):
        if "Exception summary" in line:
            return lines[i + 1][:300]
    return f"{type(e).__name__}: {lines[0][:300] if lines else ''}"


def _add_onnx_metadata(path: Path, spec: Spec, model: nn.Module) -> None:
    import onnx

    proto = onnx.load(str(path))
    props = {"blobbotronic.spec": spec.to_json(), "blobbotronic.model": getattr(model, "name", ""),
             "blobbotronic.params": json.dumps(getattr(model, "params", {}), default=str)}
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(path))


def _onnx_inputs(path: Path) -> list[str]:
    """The graph's inputs: an input the model ignores (lengths for an MLP) is dropped by the exporter."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers]


def _to_torchscript(wrapped: nn.Module, example: tuple, path: Path, spec: Spec, model: nn.Module) -> str:
    with _quiet(), torch.no_grad():
        traced = torch.jit.trace(wrapped, example, check_trace=False)
    extra = {"spec.json": spec.to_json(), "model.json": json.dumps(
        {"model": getattr(model, "name", ""), "params": getattr(model, "params", {})}, default=str)}
    torch.jit.save(traced, str(path), _extra_files=extra)
    return "torch.jit.trace"


def _check(wrapped: nn.Module, spec: Spec, path: Path, format: str, inputs: list[str]) -> float:
    """The largest absolute difference between the file's outputs and PyTorch's, on a fresh batch."""
    fresh = example_inputs(spec, CHECK_BATCH, seed=1, with_lengths=wrapped.with_lengths)
    with torch.no_grad():
        want = wrapped(*fresh).float()
    if format == "onnx":
        feed = dict(zip(["x", "lengths"][: len(fresh)], (t.numpy() for t in fresh), strict=True))
        got = torch.from_numpy(run_onnx(path, feed))
    else:
        with torch.no_grad():
            got = torch.jit.load(str(path))(*fresh).float()
    if got.shape != want.shape:
        raise BlobError(f"{path}: the exported model returns shape {tuple(got.shape)}, PyTorch {tuple(want.shape)}.")
    return float((got - want).abs().max())


def run_onnx(path: str | Path, feed: dict[str, Any]) -> Any:
    """Run an exported ONNX file under onnxruntime; inputs the graph does not take are left out."""
    _need("onnxruntime", "onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v for k, v in feed.items() if k in wanted})[0]


def read_onnx_spec(path: str | Path) -> Spec:
    """The Spec stored in an exported ONNX file's metadata."""
    _need("onnx", "onnx")
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    if "blobbotronic.spec" not in props:
        raise BlobError(f"{path}: has no blobbotronic.spec metadata; it was not written by blobbotronic export.")
    return Spec.from_dict(json.loads(props["blobbotronic.spec"]))


def default_path(checkpoint: str | Path, format: str) -> Path:
    """Where ``blobbotronic export`` writes by default: beside the checkpoint's weights."""
    folder = Path(checkpoint)
    return (folder.parent if folder.is_file() else folder) / f"model{SUFFIXES[format]}"


def _need(module: str, package: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise BlobError(
            f"Exporting needs the Python package {package!r}, which is not installed: pip install {package} "
            "(or pip install 'blobbotronic[ecosystem]')."
        )


__all__ = ["FORMATS", "TOLERANCE", "default_path", "example_inputs", "export", "read_onnx_spec", "run_onnx"]
