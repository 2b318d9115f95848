"""blobbotronic: weigh convolutional and recurrent neural networks on evidence instead of folklore.

>>> import blobbotronic as bb
>>> ds = bb.load("xor")
>>> run = bb.train(ds, "mlp", seed=0, quiet=True)
>>> run.metrics["accuracy"]
1.0

The names below load on first use (PEP 562), so ``import blobbotronic`` and ``blobbotronic --help`` do not
import torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_API = ("Budget", "Checkpoint", "Dataset", "Model", "Run", "Spec", "TrainConfig", "claims", "compare", "create_model",
        "explain", "fit", "list_datasets", "list_models", "load", "load_checkpoint", "params_schema", "save_checkpoint",
        "train")
_WHERE = {**{name: ".api" for name in _API}, "from_arrays": ".data.ecosystem", "from_frame": ".data.ecosystem",
          "BlobError": ".errors"}

__all__ = ["BlobError", *_API, "from_arrays", "from_frame"]


class _Package(types.ModuleType):
    """The package's module type: ``bb.train``, ``bb.compare``, ``bb.explain`` and ``bb.claims`` are the API's
    functions even after their subpackages of the same names are imported (the import system then sets the
    package attribute to the subpackage; here the function wins, as it did when these names were imported
    eagerly)."""

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name in _API and isinstance(value, types.ModuleType):
            return getattr(importlib.import_module(".api", __name__), name)
        return value


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'blobbotronic' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
