"""On a CUDA GPU: every model family trains with bf16 autocast and data on the device, with finite results.

Run on a machine with a GPU: ``pytest -m gpu tests/test_gpu.py`` (``make test`` leaves these out). Each
model trains a few steps on small data of every modality it accepts (random inputs for classification;
the built-in tagging and translation sets; a synthetic series for forecasting); seeds stacked as one
computation must match one by one on the GPU too; the memory curve runs through cuDNN's LSTM.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from blobbotronic.data import Dataset, load
from blobbotronic.data.spec import make_dataset
from blobbotronic.models import MODELS, create
from blobbotronic.train import TrainConfig, fit, seed_everything

from .conftest import SPECS, random_batch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a GPU machine)")]

DEVICE = "cuda"
CUDA = dict(device=DEVICE, amp=True, budget="4 steps", batch_size=16, quiet=True, patience=None)


def small(ds: Dataset, n: int = 96) -> Dataset:
    return Dataset(ds.spec, ds.train.subset(np.arange(min(n, len(ds.train)))),
                   ds.val.subset(np.arange(min(n // 2, len(ds.val)))),
                   ds.test.subset(np.arange(min(n // 2, len(ds.test)))), ds.meta)


def random_dataset(modality: str) -> Dataset:
    spec = SPECS[modality]
    x, y, lengths = random_batch(spec, n=96, seed=1)
    if modality in ("image", "video"):
        x = x.sigmoid()  # [0, 1] like real pictures
    return make_dataset(spec, x.numpy(), y.numpy(), lengths=None if lengths is None else lengths.numpy())


def data_for(task: str, modality: str) -> Dataset:
    if task == "tag":
        return small(load("tweet_entities"))
    if task == "translate":
        return small(load("date_translation"))
    if task == "forecast":
        from blobbotronic.data.forecast import forecast_dataset

        t = np.arange(400)
        return forecast_dataset("wave", np.sin(t / 6) + 0.01 * t, window=24, season=12)
    return random_dataset(modality)


def cases() -> list[tuple[str, str, str]]:
    out = []
    for name in MODELS.names():
        tasks = MODELS.tags(name).get("tasks") or ("classify",)
        task = next(t for t in ("classify", "tag", "translate", "forecast") if t in tasks)
        modalities = MODELS.tags(name)["accepts"] if task == "classify" else MODELS.tags(name)["accepts"][:1]
        out += [(name, task, m) for m in modalities]
    return out


@pytest.mark.parametrize("name, task, modality", cases())
def test_every_model_trains_on_cuda_in_bf16(name, task, modality):
    from blobbotronic.errors import BlobError

    ds = data_for(task, modality)
    seed_everything(0)
    try:
        model = create(name, ds.spec)
    except BlobError as e:  # glyph models draw characters with a CJK font, a system package
        if "font" not in str(e):
            raise
        pytest.skip(f"{name}: no CJK font on this machine ({str(e)[:80]}...)")
    run = fit(model, ds, TrainConfig(**CUDA))
    assert run.cost["device"].startswith(DEVICE)
    assert all(p.device.type == DEVICE for p in model.parameters())
    assert all(math.isfinite(v) for v in run.metrics.values()), run.metrics
    assert all(math.isfinite(h["train_loss"]) for h in run.history), run.history
    x = ds.test.x[:4].to(DEVICE)
    lengths = None if ds.test.lengths is None else ds.test.lengths[:4].to(DEVICE)
    with torch.no_grad(), torch.autocast(DEVICE, dtype=torch.bfloat16):
        out = model.eval()(x, lengths)
    assert out.device.type == DEVICE and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("model, params", [("mlp", {}), ("cnn", {}), ("gru", {"hidden": 16})])
def test_stacked_seeds_match_one_by_one_on_cuda(model, params):
    """On the GPU, stacked and single models run different kernels (batched GEMMs, grouped convolutions),
    so their rounding differs from the first step, and Adam can turn rounding noise in near-zero
    gradients into steps of about the learning rate: the first step must agree closely, a few steps
    later only within a looser bound."""
    from blobbotronic.train.batched import fit_many

    ds = small(load("digits"), 400)
    cfg = TrainConfig(device=DEVICE, amp=False, budget="3 steps", batch_size=32, eval_every=1)
    stacked = fit_many(model, ds, [0, 1, 2], params=params, config=cfg)
    sequential = fit_many(model, ds, [0, 1, 2], params=params, config=cfg, batched=False)
    for a, b in zip(stacked, sequential, strict=True):
        assert a.cost["batched"] == 3 and a.cost["device"].startswith(DEVICE)
        assert a.history[0]["train_loss"] == pytest.approx(b.history[0]["train_loss"], abs=1e-4)  # one step
        assert a.metrics["loss"] == pytest.approx(b.metrics["loss"], abs=5e-3)
    assert all(math.isfinite(r.metrics["loss"]) for r in stacked)


def test_memory_curve_through_cudnn_lstm():
    """cuDNN's RNN refuses a backward pass in evaluation mode; the attribution path must still work."""
    try:
        from blobbotronic.explain.memory import memory_curve
    except ImportError:
        pytest.skip("no explain module")
    ds = load("adding:lag=20")
    seed_everything(0)
    model = create("lstm", ds.spec, hidden=16)
    fit(model, small(ds, 256), TrainConfig(**{**CUDA, "budget": "20 steps"}))
    curve = memory_curve(model, ds.test, n=32, steps=8)
    assert np.isfinite(curve.shares).all() and curve.shares.sum() == pytest.approx(1.0, abs=1e-4)
