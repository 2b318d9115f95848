"""The scikit-learn estimators: scikit-learn's own estimator checks, pipelines, cross-validation, 3-D/4-D inputs."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from blobbotronic.sklearn import EXPECTED_FAILED_CHECKS, NeuralClassifier, NeuralRegressor

TINY = {"params": {"hidden": 16, "depth": 1}, "budget": "60 steps", "lr": 3e-2}


@parametrize_with_checks([NeuralClassifier(**TINY), NeuralRegressor(**TINY)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_init_only_stores_arguments_and_clone_round_trips():
    clf = NeuralClassifier(model="lstm", params={"hidden": 8}, budget="5 steps", seed=3)
    assert clf.get_params()["model"] == "lstm" and clf.get_params()["seed"] == 3
    twin = clone(clf).set_params(seed=4)
    assert twin.get_params()["params"] == {"hidden": 8} and twin.seed == 4 and clf.seed == 3
    assert not [k for k in vars(clf) if k.endswith("_")]  # nothing learned before fit


def test_dataframe_keeps_feature_names_and_refuses_other_columns():
    X, y = make_classification(60, 4, random_state=0)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = NeuralClassifier(**TINY).fit(df, y)
    assert list(clf.feature_names_in_) == ["a", "b", "c", "d"] and clf.n_features_in_ == 4
    assert clf.predict(df).shape == (60,)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df.rename(columns={"a": "z"}))


def test_string_labels_and_probabilities():
    X, y = make_classification(80, 5, n_informative=3, n_classes=3, random_state=1)
    names = np.array(["cat", "dog", "eel"])[y]
    clf = NeuralClassifier(**TINY).fit(X, names)
    assert list(clf.classes_) == ["cat", "dog", "eel"]
    p = clf.predict_proba(X)
    assert p.shape == (80, 3) and np.allclose(p.sum(1), 1)
    assert set(clf.predict(X)) <= {"cat", "dog", "eel"}
    assert (clf.classes_[p.argmax(1)] == clf.predict(X)).all()


def test_sequences_are_3d_and_images_4d():
    rng = np.random.default_rng(0)
    seq = rng.normal(size=(64, 12, 2)).astype(np.float32)
    y = (seq[:, :, 0].sum(1) > 0).astype(int)  # the sign of the sum of channel 0 over time
    clf = NeuralClassifier(model="gru", params={"hidden": 8}, budget="80 steps", lr=3e-2, batch_size=32).fit(seq, y)
    assert clf.spec_.modality == "sequence" and clf.spec_.input_shape == (12, 2)
    assert clf.score(seq, y) > 0.8
    with pytest.raises(ValueError, match="12 features"):
        clf.predict(seq[:, :10])  # scikit-learn's own check of the second dimension
    with pytest.raises(ValueError, match=r"samples of shape \(12, 1\)"):
        clf.predict(seq[:, :, :1])
    img = rng.random(size=(40, 1, 6, 6)).astype(np.float32)
    reg = NeuralRegressor(model="cnn", params={"width": 4, "depth": 1}, budget="5 steps").fit(img, img.mean((1, 2, 3)))
    assert reg.spec_.modality == "image" and reg.predict(img).shape == (40,)


def test_regressor_multioutput_and_target_scaling():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = np.stack([1000 + 50 * X[:, 0], -3 * X[:, 1] + X[:, 2]], 1)  # very different scales
    reg = NeuralRegressor(params={"hidden": 32, "depth": 1}, budget="300 steps", lr=1e-2).fit(X, Y)
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X, Y) > 0.9


def test_grid_search_over_model_parameters():
    X, y = make_classification(90, 4, random_state=2)
    grid = GridSearchCV(NeuralClassifier(budget="30 steps", lr=3e-2), {"params": [{"hidden": 4}, {"hidden": 16}]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["params"] in ({"hidden": 4}, {"hidden": 16})
    assert len(grid.cv_results_["mean_test_score"]) == 2


def test_unknown_model_parameter_is_an_error_at_fit_not_init():
    from blobbotronic import BlobError

    clf = NeuralClassifier(params={"hidden_size": 3})  # __init__ validates nothing
    with pytest.raises(BlobError, match="hidden_size"):
        clf.fit(*make_classification(20, 4, random_state=0))


def test_acceptance_breast_cancer_pipeline_cross_validation():
    """Issue 9's acceptance: Pipeline(StandardScaler, NeuralClassifier(mlp)) in 5-fold CV scores >= 0.95."""
    X, y = load_breast_cancer(return_X_y=True)
    start = time.perf_counter()
    scores = cross_val_score(make_pipeline(StandardScaler(), NeuralClassifier(model="mlp")), X, y, cv=5)
    seconds = time.perf_counter() - start
    print(f"breast_cancer 5-fold accuracy {scores.mean():.4f} ({scores.round(4)}) in {seconds:.1f} s")
    assert scores.mean() >= 0.95


def test_threads_is_a_parameter_that_reaches_training(monkeypatch):
    import sys

    import torch

    train = sys.modules["blobbotronic.train"]  # the package (blobbotronic.train is also the name of a function)
    clf = NeuralClassifier(budget="3 steps", threads=2)
    assert clf.get_params()["threads"] == 2 and NeuralClassifier().threads is None  # stored as given
    twin = clone(clf)
    assert twin.threads == 2 and clone(clf.set_params(threads=1)).threads == 1
    seen, real = [], train.fit

    def spy(net, data, config):
        seen.append(config.threads)
        return real(net, data, config)

    monkeypatch.setattr(train, "fit", spy)
    before = torch.get_num_threads()
    try:
        X, y = make_classification(40, 4, random_state=0)
        twin.fit(X, y)
        assert seen == [2] and twin.n_iter_ == 3
        twin.set_params(threads=None).fit(X, y)
        assert seen[-1] is None  # left to default_threads(), which reads the machine's load
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="threads"):
                clone(clf).set_params(threads=bad).fit(X, y)
    finally:
        torch.set_num_threads(before)
