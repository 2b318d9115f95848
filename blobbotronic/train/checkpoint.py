"""Checkpoints: weights as safetensors plus a JSON of the resolved configuration. Nothing is unpickled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from ..data.spec import Spec
from ..errors import BlobError

WEIGHTS, CONFIG = "model.safetensors", "config.json"


def save(model: nn.Module, path: str | Path, **info: Any) -> Path:
    """Write ``path/model.safetensors`` and ``path/config.json`` (model name, parameters, spec, ``info``)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    cfg = {"format": "blobbotronic-checkpoint/1", "model": model.name, "params": model.params,
           "spec": model.spec.to_dict(), **info}
    tmp = path / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path / WEIGHTS)
    (path / CONFIG).write_text(json.dumps(cfg, indent=2, default=str))
    return path


def load(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from the JSON and load its safetensors weights; returns (model, config)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..models import create

    given = path = Path(path)
    if path.is_file():
        path = path.parent
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise BlobError(
            f"{given}: not a blobbotronic checkpoint; a checkpoint is a folder holding {WEIGHTS} and {CONFIG} "
            "(written by 'blobbotronic train --save DIR'). Pickled files (.pt, .pth, .pkl) are never loaded."
        )
    try:
        cfg = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        spec = Spec.from_dict(cfg["spec"])
        model = create(cfg["model"], spec, **cfg.get("params", {}))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BlobError(f"{path / CONFIG}: unreadable checkpoint configuration ({e}).") from None
    except BlobError as e:  # an unknown model or parameter: say which file named it
        raise BlobError(f"{path / CONFIG}: {e}") from None
    try:
        state = load_file(str(path / WEIGHTS), device=device)
    except (SafetensorError, OSError, ValueError) as e:
        raise BlobError(f"{path / WEIGHTS}: not a readable safetensors file ({e}).") from None
    own = model.state_dict()
    bad = [k for k in own if k not in state or state[k].shape != own[k].shape]
    if bad or set(state) - set(own):
        raise BlobError(
            f"{path / WEIGHTS}: the weights do not fit model {cfg['model']!r} with parameters {cfg.get('params')} "
            f"(mismatched tensors: {', '.join(bad[:5]) or ', '.join(sorted(set(state) - set(own))[:5])}). "
            "Was the checkpoint written by another model or version?"
        )
    model.load_state_dict(state)
    model.to(device).eval()
    return model, cfg
