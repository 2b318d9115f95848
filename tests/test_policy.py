"""The training policy (train/policy.py): the defaults derive from the data, stop on a plateau, and say so."""

from __future__ import annotations

import pytest
import torch

import blobbotronic as bb
from blobbotronic.data import DATASETS
from blobbotronic.train import TrainConfig, fit, policy
from blobbotronic.train.policy import Plateau, convergence


def test_no_built_in_data_set_carries_a_budget_of_its_own():
    # the defaults must stand on the policy, never on a hand-set per-data-set budget
    assert [n for n in DATASETS if "budget" in DATASETS.tags(n)] == []


def test_resolved_config_follows_the_data_not_the_data_sets_name():
    tiny, large = bb.load("xor"), bb.load("digits")
    a = TrainConfig().resolved(bb.create_model("mlp", tiny.spec), tiny)
    b = TrainConfig().resolved(bb.create_model("mlp", large.spec), large)
    assert (a.schedule, b.schedule) == ("plateau", "plateau")
    assert a.batch_size == policy.batch_size(len(tiny.train)) and b.batch_size == 100
    assert a.budget.steps == policy.step_cap(len(tiny.train), a.batch_size) >= policy.MIN_CAP
    # a budget given replaces the policy: the family's schedule over exactly that many steps
    c = TrainConfig(budget="40 steps").resolved(bb.create_model("mlp", tiny.spec), tiny)
    assert c.budget.steps == 40 and c.schedule != "plateau"
    assert TrainConfig(patience=0).resolved(bb.create_model("mlp", tiny.spec), tiny).patience is None


def test_plateau_halves_twice_then_stops_and_waits_for_each_plateau():
    p = Plateau(patience=6, warmup=0)
    steps = []
    for step in range(1, 100):
        p.observe(step, improved=step <= 10)
        steps.append((step, p.halvings, p.done))
        if p.done:
            break
    # three plateaus of patience // 2 = 3 checks each after the last improvement: halve, halve, stop
    assert [s for s, h, d in steps if d] == [19]
    assert p.factor(19) == 0.25
    never = Plateau(patience=6, warmup=0, stops=False)
    for step in range(1, 200):
        never.observe(step, improved=False)
    assert not never.done and never.halvings == 2


def test_a_falling_training_loss_counts_as_progress():
    p = Plateau(patience=4, warmup=0)
    assert p.fitting(1.0) and p.fitting(0.5) and not p.fitting(0.499) and p.fitting(0.3)


def test_the_smoothed_score_ignores_one_lucky_check():
    p = Plateau()
    scores = [p.smoothed(v) for v in (0.3, 0.9, 0.3, 0.8, 0.8, 0.8)]
    assert max(range(len(scores)), key=lambda i: (scores[i], i)) == 5  # not the lone 0.9 at check 2


def test_convergence_flags_a_run_still_improving():
    rising = [{"step": 10 * i, "val_accuracy": 0.1 * i} for i in range(1, 9)]
    flat = [{"step": 10 * i, "val_accuracy": min(0.5, 0.1 * i)} for i in range(1, 21)]
    c = convergence(rising, "accuracy", True, best_step=80, steps=80, stopped="budget")
    assert not c["converged"] and c["improving"] and c["suggested_budget"] == "160 steps"
    c = convergence(flat, "accuracy", True, best_step=50, steps=200, stopped="budget")
    assert c["converged"] and not c["improving"] and c["suggested_budget"] is None
    # lower-is-better metrics: a falling error is improvement
    falling = [{"val_mae": 1.0 / i} for i in range(1, 9)]
    assert not convergence(falling, "mae", False, 8, 8, "budget")["converged"]


def test_an_undertrained_run_says_it_had_not_converged_and_a_policy_run_that_it_had():
    ds = bb.load("breast_cancer")
    torch.manual_seed(0)
    short = fit(bb.create_model("mlp", ds.spec), ds, TrainConfig(budget="6 steps", eval_every=1, quiet=True))
    assert short.convergence["steps"] == 6 and not short.convergence["converged"]
    torch.manual_seed(0)
    run = fit(bb.create_model("logistic", ds.spec), ds, TrainConfig(quiet=True, threads=1))
    assert run.stopped == "early" and run.convergence["converged"] and run.metrics["accuracy"] > 0.9
    # three plateaus of patience // 2 checks each came before the stop: it never stops on a first flat stretch
    assert len(run.history) >= 3 * (policy.PATIENCE // 2)
    assert run.config.budget.steps > run.cost["steps"]  # the plateau, not the cap, ended it


@pytest.mark.parametrize("model", ["cnn"])
def test_a_built_in_set_and_its_file_train_alike(model):
    """The built-in gunpoint and aeon's GunPoint_TRAIN.ts by path: the same policy, the same numbers."""
    pytest.importorskip("aeon")
    from blobbotronic.data.series import package_file

    path = package_file("aeon", "datasets", "data", "GunPoint", "GunPoint_TRAIN.ts", extra="series")
    runs = []
    for source in ("gunpoint", str(path)):
        ds = bb.load(source)
        torch.manual_seed(0)
        runs.append(fit(bb.create_model(model, ds.spec), ds, TrainConfig(quiet=True, threads=1)))
    a, b = runs
    assert a.config.budget == b.config.budget and a.config.batch_size == b.config.batch_size
    assert a.metrics["accuracy"] == pytest.approx(b.metrics["accuracy"], abs=0.02)
    assert a.metrics["accuracy"] >= 0.9


def test_text_models_bigram_tables_scale_with_the_training_data():
    import random

    from blobbotronic.data.text import text_dataset
    from blobbotronic.models.base import BIGRAM_BUCKETS
    from blobbotronic.train.metrics import count_params

    rng = random.Random(0)
    words = "the a good bad movie film great awful plot actor scene music long short boring fun".split()
    texts = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(200)]
    ds = text_dataset("s200", texts, ["pos" if "good" in t else "neg" for t in texts], tokenizer="word")
    small = bb.create_model("lstm", ds.spec)
    assert small.inputs.embed.buckets == 2 ** (4 * ds.spec.extra["train_pairs"] - 1).bit_length()
    assert count_params(small) < 1_000_000  # was 8.4 million with a 131,072-row table for 200 sentences
    ds.spec.extra["train_pairs"] = 10**6  # a large corpus keeps the full table
    assert bb.create_model("lstm", ds.spec).inputs.embed.buckets == BIGRAM_BUCKETS


def test_learning_curve_captions_name_the_unconverged_arms():
    from blobbotronic.report.render import curve_note

    rows = [{"model": "lstm", "convergence": {"converged": False}}, {"model": "cnn", "convergence": {"converged": True}}]
    assert "lstm" in curve_note(rows) and "cnn" not in curve_note(rows)
    assert curve_note(rows[1:]).startswith("Every run had converged")
    assert "not recorded" in curve_note([{"model": "cnn"}])


def test_train_json_carries_the_runs_convergence(capsys):
    import json

    from blobbotronic.cli import main

    assert main(["train", "--data", "xor", "--model", "mlp", "--budget", "5 steps", "--threads", "1", "--json"]) == 0
    c = json.loads(capsys.readouterr().out)["convergence"]
    assert c["steps"] == 5 and c["converged"] is False and c["suggested_budget"]
