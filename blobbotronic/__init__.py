"""blobbotronic: weigh convolutional and recurrent neural networks on evidence instead of folklore.

>>> import blobbotronic as bb
>>> ds = bb.load("xor")
>>> run = bb.train(ds, "mlp", seed=0, quiet=True)
>>> run.metrics["accuracy"]
1.0
"""

__version__ = "0.1.0"

from .api import (  # noqa: E402
    Budget, Dataset, Model, Run, Spec, TrainConfig, claims, compare, create_model, explain, fit, list_datasets,
    list_models, load, load_checkpoint, params_schema, save_checkpoint, train,
)
from .data.ecosystem import from_arrays, from_frame  # noqa: E402
from .errors import BlobError  # noqa: E402

__all__ = ["BlobError", "Budget", "Dataset", "Model", "Run", "Spec", "TrainConfig", "claims", "compare",
           "create_model", "explain", "fit", "list_datasets", "list_models", "load", "load_checkpoint", "params_schema", "save_checkpoint", "train"]
__all__ += ["from_arrays", "from_frame"]
