"""Checkpoints: weights as safetensors plus a JSON of the resolved configuration. Nothing is unpickled.

``save(model, path, data=..., data_options=...)`` writes one; ``load(path)`` returns a ``Checkpoint``: the
rebuilt model and the saved configuration, which unpacks as ``model, config = load(path)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from torch import nn

from ..data.spec import Spec
from ..errors import BlobError

WEIGHTS, CONFIG = "model.safetensors", "config.json"


class Checkpoint(NamedTuple):
    """A loaded checkpoint: ``model``, rebuilt with its weights and in eval mode, and ``config``, the dict saved
    in its config.json. It is a tuple of those two, so ``model, config = load_checkpoint(path)`` unpacks it.

    The properties read the configuration: ``spec`` (the data contract the model was built for),
    ``model_name`` and ``params`` (what ``create_model`` was given), ``data`` (the data set name or path it
    was trained on, or None when the saver did not say), ``data_options`` (the options that data was read
    with) and ``seed``.

    >>> ckpt = load_checkpoint("blobbotronic-out/checkpoints/xor-mlp-seed0")  # doctest: +SKIP
    >>> ckpt.model_name, ckpt.data, ckpt.spec.classes  # doctest: +SKIP
    ('mlp', 'xor', ('0', '1'))
    """

    model: nn.Module
    config: dict[str, Any]

    @property
    def spec(self) -> Spec:
        """The Spec the model was built for: modality, task, input shape, outputs, class names."""
        return self.model.spec

    @property
    def model_name(self) -> str:
        """The registered model name (``mlp``, ``cnn``, ``lstm``, ...)."""
        return self.config["model"]

    @property
    def params(self) -> dict[str, Any]:
        """The model's resolved parameters, as given to ``create_model`` (a copy)."""
        return dict(self.config.get("params") or {})

    @property
    def data(self) -> str | None:
        """The data set it was trained on, as a built-in name or a path, or None when none was recorded
        (``save_checkpoint`` without ``data=``)."""
        return self.config.get("dataset")

    @property
    def data_options(self) -> dict[str, Any]:
        """The options the data was read with (``--data-option`` / ``load(name, **options)``), a copy."""
        return dict(self.config.get("data_options") or {})

    @property
    def seed(self) -> int | None:
        """The training seed, which also drew a random split of the data; None when none was recorded."""
        return self.config.get("seed")


def save(model: nn.Module, path: str | Path, *, data: str | os.PathLike | None = None,
         data_options: dict[str, Any] | None = None, **info: Any) -> Path:
    """Write ``path/model.safetensors`` and ``path/config.json`` (model name, parameters, spec, ``info``).

    ``data`` is the data set the model was trained on (a built-in name, or a file or folder path) and
    ``data_options`` the options it was read with; with them, ``blobbotronic evaluate`` and ``explain`` find
    the data again without ``--data``, as for a checkpoint written by ``blobbotronic train``. Other keywords
    (``seed``, ``metrics``, ...) are stored as given.
    """
    from safetensors.torch import save_file

    if data is not None:
        if not isinstance(data, (str, os.PathLike)):
            raise BlobError(f"save_checkpoint(data=...): give the name or path the data set was loaded from, "
                            f"not a {type(data).__name__} (it does not say where it was read from).")
        if info.get("dataset") is not None:
            raise BlobError("save_checkpoint: give the data set as data=..., not also as dataset=....")
        info["dataset"] = os.fspath(data)
    if data_options is not None:
        info["data_options"] = dict(data_options)
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


def load(path: str | Path, device: str = "cpu") -> Checkpoint:
    """Rebuild the model from the JSON and load its safetensors weights; returns a ``Checkpoint``, which
    unpacks as ``model, config``."""
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
    return Checkpoint(model, cfg)
