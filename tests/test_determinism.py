"""Determinism on CPU: every registered model, trained twice with one seed, gives identical metrics and weights.

Each model trains for a few steps on a tiny data set of a modality it accepts and a task it does; a
different seed must give different weights (models with something to learn) so the test can fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blobbotronic.data import Spec, make_dataset
from blobbotronic.data.spec import Dataset, Split
from blobbotronic.models import MODELS
from blobbotronic.train import train

STEPS = "6 steps"


def _classify(spec: Spec, x: np.ndarray, lengths: np.ndarray | None = None) -> Dataset:
    y = np.arange(len(x)) % spec.n_outputs
    return make_dataset(spec, x, y, seed=0, lengths=lengths)


def table() -> Dataset:
    return _classify(Spec("t", "table", "classify", (5,), 3, classes="abc"), np.random.default_rng(0).random((60, 5)))


def sequence() -> Dataset:
    spec = Spec("s", "sequence", "classify", (16, 2), 3, classes="abc")
    return _classify(spec, np.random.default_rng(1).standard_normal((60, 16, 2)))


def image() -> Dataset:
    return _classify(Spec("i", "image", "classify", (1, 12, 12), 3, classes="abc"),
                     np.random.default_rng(2).random((60, 1, 12, 12)))


def video() -> Dataset:
    return _classify(Spec("v", "video", "classify", (4, 1, 8, 8), 3, classes="abc"),
                     np.random.default_rng(3).random((60, 4, 1, 8, 8)))


def text() -> Dataset:
    vocab = ["<pad>", "<unk>", *"山水河海湖木林森火日月明"]
    spec = Spec("x", "text", "classify", (10,), 3, classes="abc", vocab_size=len(vocab),
                extra={"tokenizer": "cjk", "vocab": vocab, "max_len": 10})
    rng = np.random.default_rng(4)
    lengths = rng.integers(3, 11, 60)
    x = rng.integers(2, len(vocab), (60, 10)) * (np.arange(10)[None] < lengths[:, None])
    return _classify(spec, x, lengths)


def tagging() -> Dataset:
    from blobbotronic.data.tagging import tag_dataset

    rng = np.random.default_rng(5)
    words, tags = ["ann", "bob", "lives", "in", "paris", "rome", "today"], ["B-PER", "B-PER", "O", "O", "B-LOC",
                                                                          "B-LOC", "O"]
    sentences = []
    for _ in range(40):
        idx = rng.integers(0, len(words), rng.integers(2, 7))
        sentences.append(([words[i] for i in idx], [tags[i] for i in idx]))
    return tag_dataset("tags", sentences, seed=0)


def translation() -> Dataset:
    g = torch.Generator().manual_seed(6)
    digits = torch.randint(0, 4, (40, 4), generator=g)
    y = torch.cat([digits.flip(1) + 4, torch.full((40, 1), 2)], 1)  # reversed digits, then </s> (id 2)
    spec = Spec("rev", "text", "translate", (4,), 8, vocab_size=6, extra={"target_len": 5})
    full = Split(digits + 2, y, torch.full((40,), 4))
    return Dataset(spec, full.subset(np.arange(30)), full.subset(np.arange(30, 35)), full.subset(np.arange(35, 40)))


def forecast() -> Dataset:
    from blobbotronic.data.forecast import forecast_dataset

    t = np.arange(160, dtype=np.float64)
    return forecast_dataset("wave", 10 + np.sin(t / 5) + 0.01 * t, window=12)


# (modality, task) -> a tiny data set; a model trains on the first that it accepts
DATA = {("table", "classify"): table, ("sequence", "classify"): sequence, ("text", "classify"): text,
        ("image", "classify"): image, ("video", "classify"): video, ("text", "tag"): tagging,
        ("text", "translate"): translation, ("sequence", "forecast"): forecast}
_CACHE: dict[tuple[str, str], Dataset] = {}


def data_for(name: str) -> Dataset:
    tags = MODELS.tags(name)
    accepts, tasks = tags["accepts"], tags.get("tasks", ("classify", "regress", "forecast"))
    key = next((m, t) for m, t in DATA if m in accepts and t in tasks)
    if key not in _CACHE:
        _CACHE[key] = DATA[key]()
    return _CACHE[key]


PARAMS = {"seasonal_naive": {"season": 10}}  # the tiny series has no calendar to take a season from


def run(ds: Dataset, name: str, seed: int):
    return train(ds, name, seed=seed, params=PARAMS.get(name), budget=STEPS, eval_every=3, device="cpu", threads=1,
                 quiet=True)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_same_seed_same_numbers(name):
    ds = data_for(name)
    a, b = run(ds, name, seed=3), run(ds, name, seed=3)
    assert a.metrics == b.metrics and a.val_metrics == b.val_metrics, (a.metrics, b.metrics)
    assert _same_history(a.history, b.history)
    wa, wb = weights(a.model), weights(b.model)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), [k for k in wa if not torch.equal(wa[k], wb[k])]
    if any(p.requires_grad for p in a.model.parameters()):
        wc = weights(run(ds, name, seed=4).model)
        assert any(not torch.equal(wa[k], wc[k]) for k in wa), "another seed gave the very same weights"


def _same_history(a: list[dict], b: list[dict]) -> bool:
    """Histories equal apart from wall-clock entries."""
    clock = ("seconds", "time", "elapsed", "train_seconds")
    strip = lambda h: {k: v for k, v in h.items() if not any(c in k for c in clock)}  # noqa: E731
    return [strip(h) for h in a] == [strip(h) for h in b]
