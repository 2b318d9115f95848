"""scikit-learn estimators: any blobbotronic model as a NeuralClassifier or NeuralRegressor in a Pipeline.

The array's dimensions say what it is: 2-D (N, F) a table, 3-D (N, L, C) a sequence with time first,
4-D (N, C, H, W) an image. ``fit`` carves a validation split out of the training data (stratified
for classes) to choose the best weights and stop early, then trains with ``blobbotronic.train.fit``.

>>> from sklearn.datasets import load_iris
>>> X, y = load_iris(return_X_y=True)
>>> clf = NeuralClassifier(model="mlp", budget="150 steps").fit(X, y)
>>> clf.score(X, y) > 0.9
True
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .data.spec import Dataset, Spec, Split, split_indices

NDIM_MODALITY = {2: "table", 3: "sequence", 4: "image"}
PREDICT_BATCH = 4096

# The one place for scikit-learn estimator checks that cannot apply, check name -> why; tests/test_sklearn.py
# passes it to parametrize_with_checks, and every check not named here must pass. It is empty: all the
# checks scikit-learn 1.9 yields pass. Notes: the sample-weight checks are never yielded (fit takes no
# sample_weight; mini-batches are drawn uniformly); the sparse-input checks pass because sparse X is refused
# with scikit-learn's own TypeError (networks take dense tensors); check_array_api_input skips itself
# unless SCIPY_ARRAY_API=1 is set.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


class _NeuralEstimator(BaseEstimator):
    """The shared machinery: validate inputs, build a Spec and Dataset, train, predict in batches."""

    _task = "classify"

    def __init__(
        self,
        model: str = "mlp",
        params: dict[str, Any] | None = None,
        budget: str | None = None,
        lr: float | None = None,
        batch_size: int = 100,
        val_fraction: float = 0.1,
        patience: int | None = 10,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = False,
        threads: int | None = None,
    ):
        self.model = model
        self.params = params
        self.budget = budget
        self.lr = lr
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.threads = threads

    # ---- fitting --------------------------------------------------------------------------------

    def _check_fit_data(self, X: Any, y: Any, regress: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, allow_nd=True, dtype=np.float32, y_numeric=regress, multi_output=regress)
        self._check_ndim(X)
        return X, y

    def _check_ndim(self, X: np.ndarray) -> None:
        if X.ndim not in NDIM_MODALITY:
            raise ValueError(
                f"{type(self).__name__} reads 2-D tables (N, F), 3-D sequences (N, L, C) or 4-D images "
                f"(N, C, H, W); got an array of shape {X.shape}."
            )

    def _check_X(self, X: Any) -> np.ndarray:
        """New inputs for predict, checked against what fit saw."""
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        self._check_ndim(X)
        if X.shape[1:] != tuple(self.spec_.input_shape):
            raise ValueError(
                f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} was fitted on samples of shape "
                f"{tuple(self.spec_.input_shape)}."
            )
        return X

    def _fit(self, X: np.ndarray, y: np.ndarray, spec: Spec) -> None:
        from .models import create
        from .train import TrainConfig, fit, seed_everything

        threads = self.threads
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
                                    or threads < 1):
            raise ValueError(f"threads={threads!r}: give a positive whole number of CPU threads for training, or None "
                             "for the cores no other process is keeping busy (up to 8).")
        strat = y if self._task == "classify" else None
        n_val = int(round(self.val_fraction * len(y)))
        if 1 <= n_val < len(y) - 1:
            tr, va = split_indices(len(y), (1 - self.val_fraction, self.val_fraction), self.seed, strat)
        else:  # too few samples to hold some out: choose the weights on the training data itself
            tr = va = np.arange(len(y))
        y_dtype = torch.long if self._task == "classify" else torch.float32
        full = Split(torch.from_numpy(np.ascontiguousarray(X)), torch.as_tensor(y, dtype=y_dtype))
        train, val = full.subset(tr), full.subset(va)
        data = Dataset(spec, train, val, val, {"source": "scikit-learn arrays"})
        seed_everything(self.seed)
        net = create(self.model, spec, **(self.params or {}))
        config = TrainConfig(budget=self.budget, lr=self.lr, batch_size=self.batch_size, patience=self.patience,
                             seed=self.seed, device=self.device, quiet=not self.verbose,
                             threads=None if threads is None else int(threads))
        run = fit(net, data, config)
        self.model_ = run.model.cpu().eval()
        self.spec_ = spec
        self.history_ = run.history
        self.n_iter_ = int(run.cost["steps"])
        self.best_val_ = run.val_metrics

    def _forward(self, X: Any) -> np.ndarray:
        """The network's outputs for X (N, n_outputs), in batches.

        A float64 copy of the network computes them: float32 matrix products round differently with the
        batch size, and scikit-learn rightly expects a sample's prediction not to depend on its neighbours."""
        check_is_fitted(self, "model_")
        X = self._check_X(X).astype(np.float64)
        net = copy.deepcopy(self.model_).double().eval()
        with torch.no_grad():
            outs = [net(torch.from_numpy(X[i : i + PREDICT_BATCH])) for i in range(0, len(X), PREDICT_BATCH)]
        return torch.cat(outs).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.device != "cpu"  # CUDA kernels may reorder sums
        return tags


class NeuralClassifier(ClassifierMixin, _NeuralEstimator):
    """A blobbotronic network as a scikit-learn classifier: ``fit``, ``predict``, ``predict_proba``, ``score``.

    ``model`` is any registered model that accepts the array's modality (``blobbotronic models``),
    ``params`` its parameters, ``budget`` how long to train ('300 steps', '30 epochs', '10s'; default
    None: the training policy, until the validation curve plateaus), ``lr`` the learning rate (default: the family's), ``threads`` the CPU threads training
    uses (default None: the cores no other process is keeping busy, up to 8; give 1 when several
    estimators train at once, as in ``cross_val_score(..., n_jobs=4)``). Learned state: ``model_`` (the
    PyTorch module), ``classes_``, ``n_features_in_``, ``spec_``, ``history_`` (validation curve),
    ``n_iter_`` (optimiser steps).
    """

    _task = "classify"

    def fit(self, X: Any, y: Any) -> NeuralClassifier:
        X, y = self._check_fit_data(X, y, regress=False)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"NeuralClassifier needs at least 2 classes; y holds only 1 class ({self.classes_[0]}).")
        spec = Spec("arrays", NDIM_MODALITY[X.ndim], "classify", X.shape[1:], len(self.classes_),
                    tuple(str(c) for c in self.classes_))
        self._fit(X, codes.astype(np.int64), spec)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, n_classes), columns in the order of ``classes_``."""
        z = self._forward(X)
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        scores = self._forward(X)
        return self.classes_[scores.argmax(1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class NeuralRegressor(RegressorMixin, _NeuralEstimator):
    """A blobbotronic network as a scikit-learn regressor: ``fit``, ``predict``, ``score`` (R^2).

    Targets are standardised for training (``y_mean_``, ``y_scale_``) and mapped back by ``predict``;
    a 2-D ``y`` gives one output per column. Other arguments as for NeuralClassifier.
    """

    _task = "regress"

    def fit(self, X: Any, y: Any) -> NeuralRegressor:
        X, y = self._check_fit_data(X, y, regress=True)
        y = np.asarray(y, dtype=np.float64)
        self._y_2d = y.ndim == 2
        y2 = y.reshape(len(y), -1)
        self.y_mean_ = y2.mean(0)
        self.y_scale_ = np.where(y2.std(0) > 1e-12, y2.std(0), 1.0)
        spec = Spec("arrays", NDIM_MODALITY[X.ndim], "regress", X.shape[1:], y2.shape[1])
        self._fit(X, ((y2 - self.y_mean_) / self.y_scale_).astype(np.float32), spec)
        return self

    def predict(self, X: Any) -> np.ndarray:
        out = self._forward(X) * self.y_scale_ + self.y_mean_
        return out if self._y_2d else out[:, 0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


__all__ = ["EXPECTED_FAILED_CHECKS", "NeuralClassifier", "NeuralRegressor"]
