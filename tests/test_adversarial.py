"""Adversarial training for text (train/loop.py ``adversarial``): the push, its use in fit(), and its refusals."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import blobbotronic as bb
from blobbotronic.data.text import text_dataset
from blobbotronic.errors import BlobError
from blobbotronic.models.base import token_vectors
from blobbotronic.train import TrainConfig, fit, seed_everything
from blobbotronic.train.batched import why_sequential
from blobbotronic.train.loop import adversarial

WORDS = {"pos": ["great", "loved", "fun", "fine"], "neg": ["awful", "dull", "boring", "bad"]}


def reviews(n: int = 120):
    g = torch.Generator().manual_seed(0)
    texts, labels = [], []
    for i in range(n):
        label = ("pos", "neg")[i % 2]
        words = [WORDS[label][int(j)] for j in torch.randint(0, 4, (3,), generator=g)]
        texts.append(" ".join(words) + f" {i}")
        labels.append(label)
    return text_dataset("tiny_reviews", texts, labels, tokenizer="word")


def test_the_push_has_the_asked_size_per_sample_and_raises_the_loss():
    torch.manual_seed(0)
    vectors = torch.randn(4, 5, 3, requires_grad=True)
    head = nn.Linear(3, 2)
    y = torch.tensor([0, 1, 0, 1])
    loss = nn.functional.cross_entropy(head(vectors.mean(1)), y)
    r = adversarial(loss, vectors, 0.05)
    assert r.shape == vectors.shape and not r.requires_grad
    want = 0.05 * vectors.detach().flatten(1).norm(dim=1)
    torch.testing.assert_close(r.flatten(1).norm(dim=1), want)
    grad = torch.autograd.grad(nn.functional.cross_entropy(head(vectors.mean(1)), y), vectors)[0]
    cos = nn.functional.cosine_similarity(r.flatten(1), grad.flatten(1), dim=1)
    torch.testing.assert_close(cos, torch.ones(4))  # along the gradient: uphill
    with torch.no_grad():
        pushed = nn.functional.cross_entropy(head((vectors + r).mean(1)), y)
        down = nn.functional.cross_entropy(head((vectors - r).mean(1)), y)
    assert pushed > loss.detach() > down


@pytest.mark.parametrize("model", ["cnn", "lstm"])
def test_fit_trains_on_the_pushed_batch_too(model):
    """With a strength, each step's gradient includes the perturbed pass: the weights part from a plain run."""
    ds = reviews()
    weights = []
    for eps in (0.0, 0.05):
        seed_everything(0)
        m = bb.create_model(model, ds.spec, embed_dropout=0.0, bigrams=0)
        assert token_vectors(m) is not None
        run = fit(m, ds, TrainConfig(budget="6 steps", batch_size=20, patience=None, quiet=True, adversarial=eps,
                                     eval_every=6, threads=1))
        assert run.config.adversarial == eps
        weights.append(torch.cat([p.detach().flatten() for p in m.parameters()]))
    assert not torch.allclose(weights[0], weights[1])


def test_a_model_without_token_vectors_is_refused_clearly():
    ds = bb.load("xor")
    with pytest.raises(BlobError, match="adversarial=0.02.*text model"):
        fit(bb.create_model("mlp", ds.spec), ds, TrainConfig(budget="2 steps", quiet=True, adversarial=0.02))
    with pytest.raises(BlobError, match="not a valid strength"):
        fit(bb.create_model("cnn", reviews().spec, bigrams=0), reviews(), TrainConfig(budget="2 steps", quiet=True,
                                                                            adversarial=-1.0))


def test_stacked_seeds_leave_adversarial_training_to_fit():
    ds = reviews()
    m = bb.create_model("cnn", ds.spec, embed_dropout=0.0, bigrams=0)
    cfg = TrainConfig(budget="4 steps", quiet=True, adversarial=0.02).resolved(m, ds)
    assert "adversarial" in why_sequential(m, cfg, 3)
    assert why_sequential(m, TrainConfig(budget="4 steps", quiet=True, adversarial=0.0).resolved(m, ds), 3) is None


def test_it_is_off_unless_asked_for():
    ds = reviews()
    for name in ("cnn", "lstm"):
        m = bb.create_model(name, ds.spec, bigrams=0)
        assert TrainConfig().resolved(m, ds).adversarial == 0.0
        assert TrainConfig(adversarial=0.02).resolved(m, ds).adversarial == 0.02
