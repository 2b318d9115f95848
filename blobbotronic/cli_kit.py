"""The pieces every command module shares: the command table, JSON-or-table output, parameter parsing and the
--skip-bad flag. cli.py builds the parser over them; each package's commands.py imports them from here (not
from cli.py, which imports those modules: no cycle)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import BlobError

COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {}


def command(name: str) -> Callable:
    def deco(fn: Callable) -> Callable:
        COMMANDS[name] = fn
        return fn

    return deco


def parse_params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BlobError(f"Cannot read the model parameter {pair!r}: write NAME=VALUE, for example hidden=128.")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def parse_data_options(pairs: list[str]) -> dict[str, str]:
    """``--data-option KEY=VALUE`` pairs, passed to data.load as keyword options (each loader converts them)."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BlobError(f"Cannot read the data option {pair!r}: write KEY=VALUE, for example task=forecast.")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def emit(args: argparse.Namespace, obj: Any, show: Callable[[Any], None]) -> None:
    """Exactly one JSON object on stdout with --json; a readable rendering otherwise."""
    if getattr(args, "json", False):
        print(json.dumps(obj, default=_jsonable))
    else:
        show(obj)


def _jsonable(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def reflow(doc: str) -> str:
    """A docstring as paragraphs the terminal can wrap: dedented, each paragraph's lines joined."""
    import inspect

    return "\n\n".join(" ".join(par.split()) for par in inspect.cleandoc(doc).split("\n\n") if par.strip())


def console():
    from rich.console import Console

    return Console()


def no_data_recorded(path: Any, checkpoint: Any, command: str) -> BlobError:
    """The error for a command that needs a checkpoint's data set when the checkpoint records none (it was saved
    by ``save_checkpoint`` without ``data=``): say so, and that ``--data NAME`` gives one."""
    spec = checkpoint.spec
    return BlobError(
        f"{path}: the checkpoint records no data set (it was saved by save_checkpoint without data=), so "
        f"'{command}' does not know which data to read. Pass --data NAME: a built-in data set name, a file or a "
        f"folder of {spec.modality} inputs of shape {tuple(spec.input_shape)} (the model's spec calls its data "
        f"{spec.name!r}), or save the checkpoint again with save_checkpoint(model, path, data=NAME).")


def skip_bad_flag(sp: argparse.ArgumentParser) -> None:
    """``--skip-bad`` for the commands that read a user's files (data/bad_files.py does the skipping)."""
    sp.add_argument("--skip-bad", action="store_true", help="skip unreadable or truncated files in a folder of "
                    "images or clips and count them in the results (default: stop with an error naming the file)")
