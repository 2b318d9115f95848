"""fit()'s features are callbacks (train/hooks.py, train/callbacks.py): a new one plugs in as documented in
docs/architecture-train.md, each declares whether stacked seeds can run it, and TrainConfig checks itself."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import blobbotronic as bb
from blobbotronic.errors import BlobError
from blobbotronic.train import Callback, TrainConfig, fit
from blobbotronic.train import callbacks as builtin
from blobbotronic.train.batched import fit_many, why_sequential
from blobbotronic.train.callbacks import training_callbacks

DOCS = Path(__file__).resolve().parent.parent / "docs"


def documented_example() -> type:
    """The L1Penalty class of the worked example, run from the document itself (wherever the architecture docs
    keep it), so that the document cannot drift from what works."""
    for md in sorted(DOCS.glob("*.md")):
        for block in re.findall(r"```python\n(.*?)```", md.read_text(encoding="utf-8"), flags=re.S):
            if "class L1Penalty(Callback)" in block:
                namespace: dict = {}
                exec(compile(block, str(md), "exec"), namespace)
                return namespace["L1Penalty"]
    raise AssertionError("no worked example 'class L1Penalty(Callback)' in docs/*.md")


def l1(model: torch.nn.Module) -> float:
    return sum(p.abs().sum().item() for n, p in model.named_parameters() if n.endswith("weight"))


def test_the_documented_callback_is_called_with_the_runs_real_losses_and_changes_training():
    L1Penalty = documented_example()
    ds = bb.load("breast_cancer")
    cfg = TrainConfig(budget="200 steps", patience=None, quiet=True, seed=0, threads=1)
    penalty = L1Penalty(1e-3)
    torch.manual_seed(0)
    with_penalty = fit(bb.create_model("mlp", ds.spec), ds, cfg, callbacks=[penalty])
    torch.manual_seed(0)
    plain = fit(bb.create_model("mlp", ds.spec), ds, cfg)
    # called once per step, with the batch's real loss: finite, and falling as the model learns
    assert len(penalty.losses) == with_penalty.cost["steps"] == 200
    assert all(torch.isfinite(torch.tensor(penalty.losses)))
    first, last = sum(penalty.losses[:20]) / 20, sum(penalty.losses[-20:]) / 20
    assert last < 0.5 * first
    # its objective reached the optimiser: the penalised weights are smaller than the same run's without it
    assert l1(with_penalty.model) < 0.9 * l1(plain.model)
    assert penalty.sequential_because  # it says why a stack cannot run it


def test_the_training_curve_is_the_mean_of_the_losses_callbacks_see():
    seen: list[float] = []

    class Losses(Callback):
        def on_step(self, state):
            seen.append(state.loss.item())

    ds = bb.load("xor")
    run = fit(bb.create_model("mlp", ds.spec), ds, TrainConfig(budget="30 steps", eval_every=10, patience=None,
                                                               quiet=True, threads=1), callbacks=[Losses()])
    assert [h["step"] for h in run.history] == [10, 20, 30]
    for i, h in enumerate(run.history):
        assert h["train_loss"] == pytest.approx(sum(seen[10 * i : 10 * i + 10]) / 10, rel=1e-5)


def test_a_stop_reason_stands_once_given():
    class Stop(Callback):
        def on_eval(self, state, model):
            if state.step == 20:
                state.stop = "enough"

    class Resume(Callback):  # a later callback cannot take the reason back
        def on_eval(self, state, model):
            if state.stop == "enough":
                state.stop = None

    ds = bb.load("xor")
    run = fit(bb.create_model("mlp", ds.spec), ds, TrainConfig(budget="100 steps", eval_every=10, patience=None,
                                                               quiet=True, threads=1), callbacks=[Stop(), Resume()])
    assert run.stopped == "enough" and run.cost["steps"] == 20


def test_every_builtin_callback_says_whether_stacked_seeds_can_run_it():
    ds = bb.load("digits")
    net = bb.create_model("cnn", ds.spec)
    everything = TrainConfig(budget="60s", average=0.9, pretrain=5, compile=True, patience=3).resolved(net, ds)
    cbs = training_callbacks(everything, net)
    names = [type(cb).__name__ for cb in cbs]
    assert names[0] == "CostMeter" and names.index("ChannelsLast") < names.index("KeepBest") < names.index("Schedule")
    for cb in cbs:
        assert cb.sequential_because is None or (isinstance(cb.sequential_because, str) and cb.sequential_because)
        assert isinstance(cb.in_stack, bool)
    # the stacked path asks the callbacks, in their order: the first that cannot stack gives the reason
    first = next(cb.sequential_because for cb in cbs if cb.sequential_because)
    assert why_sequential(net, everything, 3) == first
    plain = TrainConfig(budget="5 steps").resolved(net, ds)
    assert why_sequential(net, plain, 3) is None
    assert why_sequential(net, replace(plain, average=0.9), 3) == builtin.WeightAveraging.sequential_because


def test_a_callback_that_cannot_stack_sends_the_seeds_one_by_one(monkeypatch):
    ds = bb.load("digits")
    cfg = TrainConfig(budget="4 steps", eval_every=2)
    stacked = fit_many("mlp", ds, [0, 1], config=cfg)
    assert [r.cost["batched"] for r in stacked] == [2, 2]
    monkeypatch.setattr(builtin.EarlyStopping, "sequential_because", "a test says so")
    runs = fit_many("mlp", ds, [0, 1], config=cfg)
    assert [r.cost["batched"] for r in runs] == [1, 1] and runs[0].cost["sequential_because"] == "a test says so"
    for a, b in zip(stacked, runs, strict=True):
        assert a.metrics["accuracy"] == b.metrics["accuracy"]
        assert a.metrics["loss"] == pytest.approx(b.metrics["loss"], abs=1e-4)


@pytest.mark.parametrize("setting, message", [
    ({"average": 1.0}, "not a valid decay"),
    ({"average": float("nan")}, "not a valid decay"),
    ({"pretrain": -5}, "not a number of steps"),
    ({"adversarial": -1.0}, "not a valid strength"),
    ({"adversarial": float("inf")}, "not a valid strength"),
])
def test_train_config_checks_itself_when_built(setting, message):
    with pytest.raises(BlobError, match=message):
        TrainConfig(**setting)
    with pytest.raises(BlobError, match=message):  # a changed copy is checked too
        replace(TrainConfig(), **setting)


def test_train_config_takes_every_valid_setting():
    for ok in ({}, {"average": 0.99}, {"average": 0}, {"pretrain": 0}, {"pretrain": 100}, {"adversarial": 0.02},
               {"adversarial": 0.0}):
        assert TrainConfig(**ok).validate() is None
