"""Seeds trained as one stacked computation give fit()'s numbers; what cannot be stacked trains one by one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blobbotronic.data import Spec, load
from blobbotronic.data.spec import make_dataset
from blobbotronic.train import TrainConfig
from blobbotronic.train.batched import fit_many, why_sequential

SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def digits():
    return load("digits")


def assert_same_runs(stacked, sequential, tol: float = 1e-4) -> None:
    assert len(stacked) == len(sequential)
    for a, b in zip(stacked, sequential, strict=True):
        assert a.cost["batched"] == len(stacked), a.cost.get("sequential_because")
        assert b.cost["batched"] == 1
        assert a.config.seed == b.config.seed
        assert a.metrics["accuracy"] == b.metrics["accuracy"]
        assert a.metrics["loss"] == pytest.approx(b.metrics["loss"], abs=tol)
        assert a.val_metrics["accuracy"] == b.val_metrics["accuracy"]
        assert (a.stopped, a.cost["steps"]) == (b.stopped, b.cost["steps"])
        assert [h["step"] for h in a.history] == [h["step"] for h in b.history]
        for ha, hb in zip(a.history, b.history, strict=True):
            assert ha["train_loss"] == pytest.approx(hb["train_loss"], abs=tol)
            assert ha["val_loss"] == pytest.approx(hb["val_loss"], abs=tol)
        for (ka, pa), (kb, pb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
            assert ka == kb
            # rounding only: a few of the CNN's 9,216 weights drift by up to 3.7e-4 after 50 steps on an Intel Xeon
            # host (oneDNN sums the stacked convolution in another order), none by 1e-4 on the AMD host before
            torch.testing.assert_close(pa, pb, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_stacked_seeds_match_sequential(digits, model):
    # one memory layout on both sides: channels-last (fit()'s default for 2-D convolutions) sums in another
    # order, which after 50 steps moves weights by ~3e-4, more than this comparison of algorithms allows
    cfg = TrainConfig(budget="50 steps", channels_last=False)
    stacked = fit_many(model, digits, SEEDS, config=cfg)
    sequential = fit_many(model, digits, SEEDS, config=cfg, batched=False)
    assert_same_runs(stacked, sequential)
    # the seeds really differ (their own initialisation and batch order), so equality is not trivial
    assert len({r.metrics["loss"] for r in stacked}) == len(SEEDS)


@pytest.fixture
def stack_gru(monkeypatch):
    """Stack GRU seeds even where the compiled kernels would train them one by one (the default there)."""
    from blobbotronic.train import batched

    monkeypatch.setattr(batched, "STACK_COMPILED_GRU", True)


def test_compiled_gru_trains_one_by_one_unless_asked(digits):
    from blobbotronic.models import native

    runs = fit_many("gru", digits, [0, 1], params={"hidden": 4}, config=TrainConfig(budget="3 steps"))
    if native.kernels() is None:
        assert runs[0].cost["batched"] == 2
    else:
        assert runs[0].cost["batched"] == 1 and "compiled CPU kernels" in runs[0].cost["sequential_because"]


def test_stacked_gru_with_clipping_and_early_stops(digits, stack_gru):
    """The GRU's scan folds seeds into its direction dimension; clipping is per seed; seeds that stop early
    leave the stack while the others go on."""
    cfg = TrainConfig(budget="60 steps", patience=2, eval_every=3, lr=0.1, schedule="constant")
    stacked = fit_many("gru", digits, SEEDS, params={"hidden": 8, "bidirectional": True}, config=cfg)
    sequential = fit_many("gru", digits, SEEDS, params={"hidden": 8, "bidirectional": True}, config=cfg,
                          batched=False)
    assert stacked[0].config.clip == 1.0
    assert len({r.cost["steps"] for r in sequential}) == len(SEEDS)  # each seed stops at its own step
    assert_same_runs(stacked, sequential)


def test_variable_lengths_and_regression(stack_gru):
    """Padded sequences (lengths ride along per seed) and a regression loss."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 12, 2)).astype(np.float32)
    lengths = rng.integers(4, 13, size=120)
    x[np.arange(12)[None, :] >= lengths[:, None]] = 0
    y = np.array([x[i, : lengths[i], 0].sum() for i in range(120)], dtype=np.float32)[:, None]
    spec = Spec("padded", "sequence", "regress", (12, 2), 1)
    ds = make_dataset(spec, x, y, lengths=lengths)
    cfg = TrainConfig(budget="30 steps", batch_size=16)
    stacked = fit_many("gru", ds, [3, 4], params={"hidden": 6}, config=cfg)
    sequential = fit_many("gru", ds, [3, 4], params={"hidden": 6}, config=cfg, batched=False)
    for a, b in zip(stacked, sequential, strict=True):
        assert a.cost["batched"] == 2
        assert a.metrics["mae"] == pytest.approx(b.metrics["mae"], abs=1e-4)
        assert a.stopped == b.stopped and a.cost["steps"] == b.cost["steps"]


@pytest.mark.parametrize("model, params, reason", [
    ("lstm", {"hidden": 4}, "LSTM"),
    ("mlp", {"dropout": 0.2}, "dropout"),
    ("perceptron", {}, "perceptron rule"),
])
def test_unstackable_models_train_one_by_one(digits, model, params, reason):
    runs = fit_many(model, digits, [0, 1], params=params, config=TrainConfig(budget="3 steps"))
    assert [r.cost["batched"] for r in runs] == [1, 1]
    assert reason in runs[0].cost["sequential_because"]
    assert [r.config.seed for r in runs] == [0, 1]


def test_time_budgets_and_single_seeds_are_not_stacked(digits):
    from blobbotronic.models import create

    net = create("mlp", digits.spec)
    assert why_sequential(net, TrainConfig(budget="1s").resolved(net, digits), 3) is not None
    assert why_sequential(net, TrainConfig(budget="5 steps").resolved(net, digits), 1) == "one seed"
    assert why_sequential(net, TrainConfig(budget="5 steps").resolved(net, digits), 2) is None


def test_group_seeds_groups_by_model_and_splits_for_idle_workers():
    from blobbotronic.compare.groups import SeedGroup, group_seeds, rows_of
    from blobbotronic.compare.runner import RunTask
    from blobbotronic.compare.store import RunKey

    def task(model, seed, h="h1"):
        return RunTask("digits", model, seed, {}, {"threads": 1}, RunKey("digits", model, h, seed, "v"))

    tasks = [task(m, s) for s in range(4) for m in ("mlp", "gru")] + [task("cnn", 0, "h2")]
    work = group_seeds(tasks, workers=1)
    assert [type(w).__name__ for w in work] == ["SeedGroup", "RunTask", "SeedGroup"]  # slow families first
    assert work[0].tasks[0].model == "gru" and work[0].seeds == [0, 1, 2, 3]
    assert sorted(s for w in work if isinstance(w, SeedGroup) for s in w.seeds) == [0, 0, 1, 1, 2, 2, 3, 3]
    # two groups, four workers: each group splits in two parts of two seeds
    split = group_seeds([t for t in tasks if t.model != "cnn"], workers=4)
    assert sorted(len(w.seeds) for w in split) == [2, 2, 2, 2]
    assert rows_of({"rows": [{"a": 1}, {"a": 2}]}) == [{"a": 1}, {"a": 2}] and rows_of({"a": 1}) == [{"a": 1}]


def test_compare_rows_are_the_same_batched_or_not(tmp_path):
    from blobbotronic.compare.runner import compare

    kw = dict(seeds=2, budget="15 steps", workers=1)
    a = compare("digits", "logistic,cnn", store=tmp_path / "a.db", **kw)
    b = compare("digits", "logistic,cnn", store=tmp_path / "b.db", batch_seeds=False, **kw)
    assert [(r["model"], r["seed"], r["params_hash"]) for r in a.rows] == \
        [(r["model"], r["seed"], r["params_hash"]) for r in b.rows]
    for ra, rb in zip(a.rows, b.rows, strict=True):
        assert ra["cost"]["batched"] == 2 and rb["cost"].get("batched", 1) == 1
        assert ra["metrics"]["accuracy"] == rb["metrics"]["accuracy"]
        assert ra["confusion"] == rb["confusion"]
        assert ra["metrics"]["loss"] == pytest.approx(rb["metrics"]["loss"], abs=1e-4)
