"""The adding and temporal-order generators: literal targets, the mean-guess MSE, determinism, options by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blobbotronic.data import load
from blobbotronic.data.synthetic import adding_arrays, make_adding, make_temporal_order, temporal_order_arrays
from blobbotronic.errors import BlobError


def test_adding_target_is_the_sum_of_the_two_marked_values():
    x, y, pos = adding_arrays(12, 50, np.random.default_rng(3))
    assert x.shape == (50, 12, 2) and y.shape == (50,)
    for i in range(50):
        marks = np.flatnonzero(x[i, :, 1])
        assert len(marks) == 2 and list(marks) == sorted(pos[i])
        assert marks[0] < 6 <= marks[1]  # one in each half
        assert y[i] == pytest.approx(x[i, marks[0], 0] + x[i, marks[1], 0])
    assert ((x[..., 0] >= 0) & (x[..., 0] < 1)).all()


def test_adding_literal_example():
    # a hand-made sequence: the generator's rule applied to it must give 0.25 + 0.5
    x = np.array([[0.9, 0], [0.25, 1], [0.1, 0], [0.5, 1]], dtype=np.float32)
    assert (x[:, 0] * x[:, 1]).sum() == pytest.approx(0.75)
    xs, ys, _ = adding_arrays(4, 200, np.random.default_rng(0))
    assert np.allclose((xs[..., 0] * xs[..., 1]).sum(1), ys)


def test_adding_guess_the_mean_scores_about_one_sixth():
    ds = make_adding(lag=40, n=20000, seed=0)
    y = ds.train.y
    assert float(((y - 1.0) ** 2).mean()) == pytest.approx(1 / 6, abs=0.005)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.01)


def test_temporal_order_class_is_the_order_of_x_and_y():
    x, y, pos = temporal_order_arrays(100, 300, np.random.default_rng(1))
    assert x.shape == (300, 100, 6) and (x.sum(-1) == 1).all()
    sym = x.argmax(-1)  # 0 = X, 1 = Y, 2..5 = distractors
    for i in range(300):
        relevant = np.flatnonzero(sym[i] < 2)
        assert list(relevant) == list(pos[i])
        assert 10 <= relevant[0] <= 20 and 50 <= relevant[1] <= 60  # the 1997 positions at length 100
        assert y[i] == 2 * sym[i, relevant[0]] + sym[i, relevant[1]]
    assert set(np.unique(y)) == {0, 1, 2, 3}


def test_temporal_order_literal_classes():
    ds = make_temporal_order(lag=10, n=400, seed=2)
    assert ds.spec.classes == ("XX", "XY", "YX", "YY")
    x, y = ds.test.x, ds.test.y
    for i in range(len(y)):
        order = "".join("XY"[int(s)] for s in x[i].argmax(-1) if s < 2)
        assert ds.spec.classes[int(y[i])] == order


def test_deterministic_by_seed_and_different_across_seeds():
    a, b, c = make_adding(30, 100, seed=5), make_adding(30, 100, seed=5), make_adding(30, 100, seed=6)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)
    t1, t2 = make_temporal_order(20, 100, 1), make_temporal_order(20, 100, 1)
    assert torch.equal(t1.train.x, t2.train.x)


def test_load_by_name_with_options_round_trips():
    ds = load("adding:lag=25,n=200")
    assert ds.spec.input_shape == (25, 2) and len(ds.train) + len(ds.val) + len(ds.test) == 200
    assert ds.spec.name == "adding:lag=25,n=200"
    again = load(ds.spec.name)
    assert torch.equal(again.train.x, ds.train.x)
    assert load("temporal_order", lag=12, n=100).spec.input_shape == (12, 6)
    assert load("adding", n=100).spec.input_shape == (100, 2)  # the default lag


@pytest.mark.parametrize("name, words", [
    ("adding:lag=abc", "whole number"), ("adding:lag=2.5", "whole number"), ("adding:speed=3", "lag=100"),
    ("adding:lag", "NAME=VALUE"), ("xor:lag=3", "takes no options"), ("adding:lag=1", "at least 2"),
    ("temporal_order:lag=4", "at least 8"),
])
def test_bad_options_are_explained(name, words):
    with pytest.raises(BlobError, match=words):
        load(name)
