"""Language-model pretraining of text models (train/pretrain.py): what it trains, on what, and its refusals."""

from __future__ import annotations

import math

import pytest
import torch

import blobbotronic as bb
from blobbotronic.data.text import corpus_ids, peoples_daily_text, text_dataset
from blobbotronic.errors import BlobError
from blobbotronic.train import TrainConfig, fit, seed_everything
from blobbotronic.train.batched import why_sequential
from blobbotronic.train.pretrain import corpus_windows, forward_direction, pretrain_language_model


def cycles(n: int = 90):
    """Texts that walk a fixed cycle of letters from a random start: each next character is certain once one is
    seen, so a language model can reach a perplexity near 1; the label (the starting letter's half) is learnable."""
    g = torch.Generator().manual_seed(0)
    letters = "abcdefghij"
    texts, labels = [], []
    for _ in range(n):
        start = int(torch.randint(0, 10, (1,), generator=g))
        length = int(torch.randint(8, 20, (1,), generator=g))
        texts.append("".join(letters[(start + k) % 10] for k in range(length)))
        labels.append("low" if start < 5 else "high")
    return text_dataset("cycles", texts, labels, tokenizer="char")


@pytest.mark.parametrize("model", ["lstm", "glyph_cnn_lstm", "cnn"])
def test_the_language_model_learns_the_next_token(model):
    """Perplexity far below the vocabulary's size (12 tokens: uniform guessing scores about 12)."""
    ds = cycles()
    seed_everything(0)
    m = bb.create_model(model, ds.spec, embed_dropout=0.0, bigrams=0)
    out = pretrain_language_model(m, ds, 150, seed=0)
    assert out["pretrain_perplexity"] < 2.0, out
    assert out["pretrain_seconds"] > 0


def test_it_trains_the_inputs_and_the_lstms_forward_direction_only():
    ds = cycles()
    seed_everything(0)
    m = bb.create_model("lstm", ds.spec, bidirectional=True, bigrams=0)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    pretrain_language_model(m, ds, 20, seed=0)
    after = m.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert "inputs.embed.embed.weight" in changed
    assert {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"} <= changed
    assert not any(k.endswith("_reverse") for k in changed)  # the backward direction only learns in fine-tuning
    assert not any(k.startswith("head.") for k in changed)
    assert all(p.grad is None for p in m.parameters())  # nothing left over for fit's optimiser
    assert not m.inputs.embed.embed.sparse  # the embedding is dense again for fine-tuning


def test_forward_direction_shares_the_parameters():
    lstm = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    one = forward_direction(lstm)
    assert one.weight_hh_l0 is lstm.weight_hh_l0 and not one.bidirectional
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(one(x)[0], lstm(x)[0][..., :4])
    assert forward_direction(torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)) is None


def test_windows_are_the_training_texts_and_the_corpus_never_validation_or_test():
    ds = cycles()
    corpus = torch.arange(2, 12).repeat(30)  # 300 ids
    x, lengths = corpus_windows(ds, corpus)
    n = len(ds.train)
    w = min(100, ds.train.x.shape[1])
    assert torch.equal(x[:n], ds.train.x[:, :w]) and torch.equal(lengths[:n], ds.train.lengths.clamp(1, w))
    k = 300 // w  # the corpus in pieces as long as the texts' padded length
    assert len(x) == n + k and torch.equal(x[n:], corpus[: k * w].view(k, w)) and bool((lengths[n:] == w).all())
    assert torch.equal(corpus_windows(ds, None)[0], x[:n])


def test_peoples_daily_is_plain_text_encoded_with_the_data_sets_vocabulary():
    text = peoples_daily_text()
    assert len(text) > 1_500_000 and "/b" not in text and "新年讲话" in text
    # four texts (every split needs one since splits refuse to leave a part empty), each holding 新
    spec = text_dataset("tiny", ["新年好", "新讲话", "新年讲话", "新话了"], ["a", "b", "a", "b"], tokenizer="cjk").spec
    ids = corpus_ids("peoples_daily", spec)
    vocab = spec.extra["vocab"]
    assert ids.dtype == torch.int64 and len(ids) > 1_500_000
    assert set(ids.unique().tolist()) <= set(range(len(vocab)))
    assert (ids == vocab.index("新")).sum() > 100  # known characters keep their ids; the rest read as <unk>
    with pytest.raises(BlobError, match="not a known unlabelled corpus"):
        corpus_ids("wikipedia", spec)


def test_fit_pretrains_reproducibly_and_reports_the_cost():
    ds = cycles()
    runs = []
    for _ in range(2):
        seed_everything(0)
        m = bb.create_model("lstm", ds.spec)
        runs.append(fit(m, ds, TrainConfig(budget="4 steps", batch_size=20, pretrain=30, quiet=True, threads=1)))
    a, b = (r.model.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert runs[0].cost["pretrain_seconds"] > 0 and math.isfinite(runs[0].cost["pretrain_perplexity"])
    assert runs[0].config.pretrain == 30
    seed_everything(0)
    plain = fit(bb.create_model("lstm", ds.spec), ds, TrainConfig(budget="4 steps", batch_size=20, quiet=True,
                                                                   threads=1))
    assert "pretrain_seconds" not in plain.cost
    assert not all(torch.equal(a[k], plain.model.state_dict()[k]) for k in a)


def test_refusals_and_defaults():
    ds = cycles()
    with pytest.raises(BlobError, match="has none"):
        fit(bb.create_model("mlp", bb.load("xor").spec), bb.load("xor"), TrainConfig(budget="2 steps", pretrain=10,
                                                                                        quiet=True))
    with pytest.raises(BlobError, match="not a number of steps"):
        fit(bb.create_model("lstm", ds.spec), ds, TrainConfig(budget="2 steps", pretrain=-5, quiet=True))
    # a preset's pretraining holds wherever its model trains (compare builds models with create())
    m = bb.create_model("lstm", ds.spec)
    assert TrainConfig().resolved(m, ds).pretrain == 0
    m.train_defaults = {**m.train_defaults, "pretrain": 40}
    assert TrainConfig().resolved(m, ds).pretrain == 40 and TrainConfig(pretrain=0).resolved(m, ds).pretrain == 0
    assert why_sequential(bb.create_model("mlp", bb.load("xor").spec), TrainConfig(pretrain=5), 3) is not None


def test_the_chinese_sentiment_presets_carry_their_training_recipe_wherever_they_train():
    """compare builds models with create(): a preset's pretraining and adversarial strength must reach fit there."""
    ds = cycles()
    for name, steps in (("chinese_sentiment_lstm", 2500), ("chinese_sentiment_cnn", 2500)):
        m = bb.create_model(name, ds.spec)
        cfg = TrainConfig().resolved(m, ds)
        assert (cfg.pretrain, cfg.adversarial) == (steps, 0.02)
        assert TrainConfig(pretrain=0, adversarial=0).resolved(m, ds).pretrain == 0
    assert bb.create_model("chinese_sentiment_lstm", ds.spec).rnn.bidirectional
