"""The ``export`` command: a checkpoint to ONNX or TorchScript, checked against PyTorch before it is reported."""

from __future__ import annotations

import argparse
from typing import Any

from .cli_kit import command, console, emit


def register(add) -> None:
    """Add ``blobbotronic export``: ``sp = add(name, help)`` returns an argparse sub-parser."""
    sp = add("export", "export a checkpoint to ONNX or TorchScript for deployment elsewhere")
    sp.add_argument("--checkpoint", required=True, help="a checkpoint folder written by 'blobbotronic train'")
    sp.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    sp.add_argument("--out", metavar="FILE", help="output file (default: model.onnx or model.torchscript.pt "
                                                  "in the checkpoint folder)")
    sp.add_argument("--opset", type=int, help="ONNX opset version (default: the exporter's)")
    sp.add_argument("--no-check", action="store_true", help="skip comparing the file's outputs with PyTorch's")


@command("export")
def cmd_export(args: argparse.Namespace) -> None:
    from .export import default_path, export
    from .train import load_checkpoint

    model, cfg = load_checkpoint(args.checkpoint)
    out = args.out or default_path(args.checkpoint, args.format)
    rec = export(model, model.spec, out, args.format, check=not args.no_check, opset=args.opset)
    rec["checkpoint"] = str(args.checkpoint)

    def show(r: dict[str, Any]) -> None:
        checked = "not checked" if r["max_abs_diff"] is None else (
            f"outputs within {r['max_abs_diff']:.1e} of PyTorch's (allowed {r['tolerance']:g})")
        console().print(f"{r['model']} -> {r['path']} ({r['format']} by the {r['exporter']} exporter; inputs "
                        f"{', '.join(r['inputs'])} with a free batch axis; {checked})", markup=False)

    emit(args, rec, show)
