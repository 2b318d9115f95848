"""Training loop, budgets, checkpoints and the published orderings the foundation must reproduce."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

import blobbotronic as bb
from blobbotronic.errors import BlobError
from blobbotronic.train import Budget, Callback, TrainConfig, fit, load_checkpoint, save_checkpoint


def test_budget_parsing_and_steps():
    assert Budget.parse("6000 steps").steps == 6000
    assert Budget.parse("2.5 epochs").steps_for(1000, 100) == 25
    assert Budget.parse("90s").seconds == 90 and Budget.parse("90s").steps_for(10, 1) is None
    for bad in ("lots", "-3 steps", "0 epochs", "5 parsecs"):
        with pytest.raises(BlobError):
            Budget.parse(bad)


def test_same_seed_same_numbers_other_seed_other_numbers():
    ds = bb.load("breast_cancer")
    a = bb.train(ds, "mlp", seed=3, quiet=True, budget="40 steps")
    b = bb.train(ds, "mlp", seed=3, quiet=True, budget="40 steps")
    c = bb.train(ds, "mlp", seed=4, quiet=True, budget="40 steps")
    assert a.metrics == b.metrics and a.history == [
        {**h, "seconds": a.history[i]["seconds"]} for i, h in enumerate(b.history)
    ]
    assert a.metrics["loss"] != c.metrics["loss"]


def test_xor_perceptron_cannot_mlp_can():
    for rule in ("perceptron", "gradient"):
        run = bb.train("xor", "perceptron", params={"rule": rule}, quiet=True)
        assert run.metrics["accuracy"] <= 0.75
    assert bb.train("and", "perceptron", quiet=True).metrics["accuracy"] == 1.0
    assert bb.train("or", "perceptron", params={"rule": "gradient"}, quiet=True).metrics["accuracy"] == 1.0
    assert bb.train("xor", "mlp", quiet=True).metrics["accuracy"] == 1.0


def test_budget_is_respected_and_callbacks_see_every_step():
    seen = []

    class Count(Callback):
        def on_step(self, state):
            seen.append(state.step)

    ds = bb.load("digits")
    torch.manual_seed(0)
    run = fit(bb.create_model("logistic", ds.spec), ds, TrainConfig(budget="37 steps", patience=None, quiet=True),
              callbacks=[Count()])
    assert run.cost["steps"] == 37 and seen == list(range(1, 38)) and run.stopped == "budget"


def test_training_flushes_subnormal_floats_and_gives_the_mode_back():
    """A recurrent network's gradient shrinks into subnormal floats, whose arithmetic is slow (docs/speed.md):
    training flushes them to zero, and puts back the caller's mode after (process-wide processor state that other
    code relies on: hypothesis refuses to draw floats under it)."""
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats")
    seen = []

    class Watch(Callback):
        def on_step(self, state):
            seen.append(torch.tensor([1e-39]).mul(1.0).item())

    bb.train("xor", "mlp", budget="2 steps", quiet=True, device="cpu", callbacks=[Watch()])
    assert seen == [0.0, 0.0]  # flushed while training
    assert torch.tensor([1e-39]).mul(1.0).item() > 0  # and not after


def test_early_stopping_restores_the_best_validation_weights():
    ds = bb.load("breast_cancer")
    run = bb.train(ds, "mlp", quiet=True, budget="3000 steps", patience=2, eval_every=10, lr=0.05)
    assert run.stopped == "early" and run.cost["steps"] < 3000
    best = max(h["val_accuracy"] for h in run.history)
    assert run.val_metrics["accuracy"] == pytest.approx(best)


def test_weight_averaging_judges_and_keeps_the_average_without_changing_the_training():
    from blobbotronic.train.optim import WeightAverage

    class Shadow(Callback):  # an independent average of the same live weights
        def on_start(self, state, model):
            self.avg = WeightAverage(model, 0.95)

        def on_step(self, state):
            self.avg.update()

    ds = bb.load("breast_cancer")
    kw = dict(seed=1, quiet=True, budget="60 steps", patience=None, eval_every=60, lr=0.05, threads=1)
    plain = bb.train(ds, "mlp", **kw)
    shadow = Shadow()
    avg = bb.train(ds, "mlp", average=0.95, callbacks=[shadow], **kw)
    # the steps are the same (training continues from the live weights) ...
    assert [h["train_loss"] for h in avg.history] == [h["train_loss"] for h in plain.history]
    # ... but the one check, the kept weights and the test are the average's
    assert avg.config.average == 0.95 and avg.metrics["loss"] != plain.metrics["loss"]
    kept = [v for v in avg.model.state_dict().values() if v.is_floating_point()]
    for got, want in zip(kept, shadow.avg.avg, strict=True):
        torch.testing.assert_close(got, want)
    live = [v for v in plain.model.state_dict().values() if v.is_floating_point()]  # the same trajectory's end
    assert not torch.allclose(kept[0], live[0])
    for bad in (1.0, -0.5, float("nan")):
        with pytest.raises(BlobError, match="not a valid decay"):
            bb.train(ds, "mlp", average=bad, **kw)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    ds = bb.load("digits")
    run = bb.train(ds, "cnn", quiet=True, budget="30 steps")
    save_checkpoint(run.model, tmp_path / "c", dataset="digits")
    model, cfg = load_checkpoint(tmp_path / "c")
    x = ds.test.x[:5]
    torch.testing.assert_close(model(x), run.model.eval()(x))
    assert cfg["model"] == "cnn" and cfg["dataset"] == "digits"

    # weights of another model under this config: refused with a clear message
    other = bb.train(ds, "mlp", quiet=True, budget="5 steps")
    save_checkpoint(other.model, tmp_path / "o")
    (tmp_path / "c" / "model.safetensors").write_bytes((tmp_path / "o" / "model.safetensors").read_bytes())
    with pytest.raises(BlobError, match="do not fit model 'cnn'"):
        load_checkpoint(tmp_path / "c")

    # a pickle planted as the weights is never unpickled
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle executed')",))

    (tmp_path / "c" / "model.safetensors").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(BlobError, match="not a readable safetensors"):
        load_checkpoint(tmp_path / "c")


def test_mnist1d_is_the_published_split():
    ds = bb.load("mnist1d")
    assert len(ds.train) + len(ds.val) == 4000 and len(ds.test) == 1000 and ds.spec.input_shape == (40, 1)
    shuffled = bb.load("mnist1d_shuffled")
    # the same values at permuted positions, the same labels
    assert torch.equal(shuffled.test.y, ds.test.y)
    assert torch.equal(shuffled.test.x.sort(1).values, ds.test.x.sort(1).values)
    assert not torch.equal(shuffled.test.x, ds.test.x)


@pytest.mark.slow
def test_mnist1d_published_ordering_cnn_over_mlp():
    ds = bb.load("mnist1d")
    assert bb.train(ds, "cnn", quiet=True).metrics["accuracy"] >= 0.90
    assert bb.train(ds, "mlp", quiet=True).metrics["accuracy"] < 0.75


def test_channels_last_trains_to_the_same_numbers():
    """channels-last changes the memory layout of a 2-D CNN, not what it computes."""
    ds = bb.load("digits")
    runs = []
    for cl in (False, True):
        torch.manual_seed(0)
        model = bb.create_model("cnn", ds.spec)
        run = fit(model, ds, TrainConfig(budget="15 steps", patience=None, quiet=True, channels_last=cl))
        runs.append(run)
        conv = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]  # 32 -> 32 channels
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) == cl
    assert runs[0].history[-1]["train_loss"] == pytest.approx(runs[1].history[-1]["train_loss"], rel=1e-4)
    assert runs[0].metrics["accuracy"] == pytest.approx(runs[1].metrics["accuracy"], abs=0.01)


@pytest.mark.slow
def test_compile_switch_reports_compile_time_apart():
    ds = bb.load("xor")
    plain = fit(bb.create_model("mlp", ds.spec), ds, TrainConfig(budget="40 steps", patience=None, quiet=True))
    comp = fit(bb.create_model("mlp", ds.spec), ds, TrainConfig(budget="40 steps", patience=None, quiet=True,
                                                                compile=True))
    assert comp.cost["compile_seconds"] > 0 and "compile_seconds" not in plain.cost
    assert comp.cost["train_seconds"] < comp.cost["compile_seconds"] + plain.cost["train_seconds"] * 50
    assert comp.history[-1]["train_loss"] == pytest.approx(plain.history[-1]["train_loss"], rel=1e-3)


def test_flops_count_the_fused_lstm_and_attention_kernels():
    """torch's counter misses the fused CPU LSTM and the fused attention inference path: both are counted."""
    from torch import nn

    from blobbotronic.data.spec import Split
    from blobbotronic.train.metrics import flops_per_sample

    class Wrap(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, lengths=None):
            out = self.inner(x)
            return out[0] if isinstance(out, tuple) else out

    split = Split(torch.randn(2, 10, 8), torch.zeros(2, dtype=torch.long))
    lstm = nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
    # by hand: 10 steps x 2 directions x 2 x 4 gates x 16 x (input + 16), layer 1 reads 8, layer 2 reads 32
    assert flops_per_sample(Wrap(lstm), split) == 10 * 2 * 2 * 4 * 16 * (8 + 16) + 10 * 2 * 2 * 4 * 16 * (32 + 16)
    gru = nn.GRU(8, 16, batch_first=True)  # counted by torch itself: not counted twice
    assert flops_per_sample(Wrap(gru), split) == 10 * 2 * 3 * 16 * (8 + 16)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    # at least the two feed-forward products (10 positions x 2 x 8 x 16, twice) and the four projections
    assert flops_per_sample(Wrap(layer), split) >= 10 * 2 * 8 * 16 * 2 + 4 * 10 * 2 * 8 * 8


def test_validation_checks_never_cost_more_than_training():
    from blobbotronic.train.loop import checks_every

    assert checks_every(3000, 500, 100) == 100  # a long run: about 30 checks
    assert checks_every(122, 2600, 128) == 41  # one epoch, large validation split: 3 checks, not 30
    assert checks_every(None, 100, 100) == 100  # a time budget: as if 3000 steps
    assert checks_every(10, 5, 100) == 1


def test_a_lone_run_takes_every_core_unless_told(monkeypatch):
    from blobbotronic.train.loop import default_threads

    monkeypatch.setenv("BLOBBOTRONIC_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("BLOBBOTRONIC_THREADS")
    from blobbotronic.train import loop

    monkeypatch.setattr(loop, "busy_cores", lambda: 0)  # an idle machine: the shared one's load must not decide
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(12)), raising=False)
    assert default_threads() == 8  # capped
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5}, raising=False)
    assert default_threads() == 1
