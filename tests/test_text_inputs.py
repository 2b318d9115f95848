"""Tests of the text input layer (hashed bigram embeddings, embedding dropout) and the time readouts of text models."""

from __future__ import annotations

import pytest
import torch

from blobbotronic.data import Spec
from blobbotronic.models import create
from blobbotronic.models.base import TextEmbedding, bigram_ids, pool_time

from .conftest import SPECS, random_batch

TEXT = SPECS["text"]


def test_bigram_ids_pair_each_token_with_the_one_before():
    x = torch.tensor([[3, 4, 3, 4, 0, 0], [4, 3, 0, 0, 0, 0]])
    ids = bigram_ids(x, 1000)
    assert (ids[x == 0] == 0).all()  # padding has no bigram
    assert ((ids[x != 0] >= 1) & (ids[x != 0] <= 1000)).all()
    assert ids[0, 1] == ids[0, 3]  # (3, 4) twice: one bucket
    assert ids[0, 1] != ids[0, 2] and ids[0, 1] != ids[1, 1]  # (4, 3) and (3, 4) differ
    assert ids[0, 0] != ids[1, 0]  # the opening token pairs with a start marker: (start, 3) vs (start, 4)


def test_pool_time_ignores_padding():
    h = torch.tensor([[[1.0], [3.0], [-50.0]], [[-2.0], [100.0], [7.0]]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert pool_time(h, mask, "max").flatten().tolist() == [3.0, -2.0]
    assert pool_time(h, mask, "mean").flatten().tolist() == [2.0, -2.0]


@pytest.mark.parametrize("name,params", [("lstm", {"readout": "max"}), ("lstm", {"readout": "mean"}),
                                         ("rnn", {"readout": "max", "bidirectional": True})])
def test_time_readouts_do_not_see_padding(name, params):
    torch.manual_seed(0)
    model = create(name, TEXT, bigrams=64, **params).eval()
    x, _, lengths = random_batch(TEXT)
    longer = torch.cat([x, torch.zeros(len(x), 5, dtype=x.dtype)], 1)
    torch.testing.assert_close(model(x, lengths), model(longer, lengths))


@pytest.mark.parametrize("name", ["lstm", "rnn", "cnn", "attention"])
def test_bigrams_reach_the_output(name):
    torch.manual_seed(0)
    model = create(name, TEXT, bigrams=64).eval()
    x, _, lengths = random_batch(TEXT)
    table = model.inputs.embed.bigram.weight
    assert table.shape == (65, model.inputs.channels)
    assert (table == 0).all()  # untrained pairs add nothing: the model starts as the character model
    before = model(x, lengths)
    with torch.no_grad():
        table.normal_()
    assert not torch.allclose(before, model(x, lengths))


def test_text_defaults_and_other_modalities_untouched():
    from blobbotronic.models.base import BIGRAM_BUCKETS, TEXT_TRAIN_DEFAULTS

    for name in ("lstm", "cnn"):
        model = create(name, TEXT)
        assert model.inputs.embed.bigram.num_embeddings == BIGRAM_BUCKETS + 1
        assert model.inputs.embed.drop.p == 0.5
        assert model.train_defaults["weight_decay"] == TEXT_TRAIN_DEFAULTS["weight_decay"]
        assert create(name, TEXT, bigrams=0).inputs.embed.bigram is None
    assert create("lstm", TEXT).readout == "mean" and create("cnn", TEXT).readout == "max"
    series = create("lstm", SPECS["sequence"])
    assert series.readout == "last" and not hasattr(series.inputs, "embed")  # text options touch only text
    assert "weight_decay" not in series.train_defaults
    assert series.train_defaults["schedule"] == "constant"  # recurrent nets leave their plateau at a constant rate
    assert create("lstm", TEXT).train_defaults["schedule"] == "cosine"  # text keeps the schedule it was tuned under
    assert create("cnn", SPECS["sequence"]).readout == "avg"
    assert "weight_decay" not in create("cnn", SPECS["image"]).train_defaults


@pytest.mark.parametrize("cell", [torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN])
def test_one_way_recurrence_over_padding_equals_packed(cell):
    """run_rnn runs a one-way PyTorch RNN over the padded batch (faster than packing); the real steps' outputs and
    the final states must be the packed ones, and padding's outputs zero as packing leaves them."""
    from blobbotronic.models.rnn import run_rnn

    torch.manual_seed(0)
    rnn = cell(3, 5, 2, batch_first=True)
    x, lengths = torch.randn(4, 7, 3), torch.tensor([7, 3, 5, 1])
    out, final = run_rnn(rnn, x, lengths)
    packed, h = rnn(torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    ref, _ = torch.nn.utils.rnn.pad_packed_sequence(packed, batch_first=True, total_length=7)
    h = h[0] if isinstance(h, tuple) else h
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(final, h[-1])


def order_task(n: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Texts 'a b' (class 0) and 'b a' (class 1) at random places among one filler character: every text has
    the same characters, only their order tells the classes apart."""
    g = torch.Generator().manual_seed(0)
    x = torch.full((n, 10), 5)
    y = torch.arange(n) % 2
    pos = torch.randint(0, 9, (n,), generator=g)
    rows = torch.arange(n)
    x[rows, pos] = torch.where(y == 0, 2, 3)
    x[rows, pos + 1] = torch.where(y == 0, 3, 2)
    return x, y, torch.full((n,), 10)


@pytest.mark.parametrize("bigrams,solves", [(0, False), (256, True)])
def test_bigrams_let_a_bag_of_characters_model_see_order(bigrams, solves):
    """A CNN with 1-wide filters and max pooling sees each character alone, so 'a b' and 'b a' look the same
    to it; the bigram embedding gives each position its pair, which tells them apart."""
    torch.manual_seed(0)
    model = create("cnn", TEXT, kernel=1, depth=1, pool=False, readout="max", bigrams=bigrams)
    x, y, lengths = order_task()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(x, lengths), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = (model(x, lengths).argmax(1) == y).float().mean().item()
    assert (accuracy == 1.0) if solves else (accuracy <= 0.6), accuracy


def test_embedding_dropout_only_in_training():
    emb = TextEmbedding(20, 8, bigrams=16, dropout=0.5)
    x = torch.randint(1, 20, (4, 6))
    emb.eval()
    torch.testing.assert_close(emb(x), emb(x))
    emb.train()
    assert (emb(x) == 0).float().mean() > 0.2


def test_token_dropout_drops_whole_tokens_and_keeps_the_mean():
    from blobbotronic.models.base import TokenDropout

    torch.manual_seed(0)
    drop = TokenDropout(0.25)
    e = torch.randn(64, 50, 8).abs() + 0.1  # no zero anywhere: a zero in the output is a dropped token
    out = drop(e)
    zeroed = (out == 0).all(-1)
    assert ((out == 0).any(-1) == zeroed).all()  # a token is dropped whole or not at all
    assert 0.2 < zeroed.float().mean() < 0.3
    torch.testing.assert_close(out[~zeroed], e[~zeroed] / 0.75)  # the kept ones scaled, so the expectation stays
    drop.eval()
    assert drop(e) is e
    with pytest.raises(ValueError, match="token_dropout"):
        TokenDropout(1.0)


@pytest.mark.parametrize("name", ["lstm", "cnn", "attention", "glyph_cnn_lstm"])
def test_token_dropout_reaches_each_text_model(name, tmp_path, monkeypatch):
    if name == "glyph_cnn_lstm":
        from blobbotronic.data import glyphs

        try:
            glyphs.find_cjk_font()
        except Exception:
            pytest.skip("no CJK font")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    torch.manual_seed(0)
    model = create(name, TEXT, token_dropout=0.5, embed_dropout=0.0, bigrams=0)
    x, _, lengths = random_batch(TEXT)
    seen = []
    from blobbotronic.models.base import token_vectors

    token_vectors(model).register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    model.eval()
    model(x, lengths)
    assert not ((seen[-1] == 0).all(-1) & (x != 0)).any()  # evaluation: every real token is there
    model.train()
    model(x, lengths)
    dropped = (seen[-1] == 0).all(-1) & (x != 0)
    assert 0.3 < dropped.sum() / (x != 0).sum() < 0.7


def test_glyph_model_with_a_character_embedding_beside_the_glyphs(tmp_path, monkeypatch):
    from blobbotronic.data import glyphs

    try:
        glyphs.find_cjk_font()
    except Exception:
        pytest.skip("no CJK font")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = Spec("g", "text", "classify", (6,), 2, classes="ab", vocab_size=6,
                extra={"vocab": ["<pad>", "<unk>", "好", "坏", "很", "不"]})
    torch.manual_seed(0)
    plain = create("glyph_cnn_lstm", spec, size=16, embed_dim=0)
    assert plain.embed is None and plain.lstm.input_size == 64  # glyph features alone
    model = create("glyph_cnn_lstm", spec, size=16, embed_dim=8, bigrams=32)
    assert model.lstm.input_size == 64 + 8
    x = torch.tensor([[4, 2, 0, 0, 0, 0], [5, 2, 0, 0, 0, 0]])
    lengths = torch.tensor([2, 2])
    out = model(x, lengths)
    out.sum().backward()
    assert model.embed.embed.weight.grad.abs().sum() > 0 and model.embed.bigram.weight.grad.abs().sum() > 0


def test_attributions_take_in_the_pair_embeddings():
    """Integrated gradients scale a text model's whole input vectors (token plus pair embedding), so they add up
    to the output's change from all-zero inputs; scaling only the token embedding would leave the pairs' share out."""
    from blobbotronic.explain.attribution import integrated_gradients

    torch.manual_seed(0)
    model = create("lstm", TEXT, bigrams=64).eval()
    with torch.no_grad():
        model.inputs.embed.bigram.weight.normal_()
    x, _, lengths = random_batch(TEXT, n=4)
    target = model(x, lengths).argmax(1)
    ig = integrated_gradients(model, x, lengths, target=target, steps=64)
    assert ig.shape == (4, 10, model.inputs.channels)
    picked = lambda out: out.gather(1, target[:, None]).squeeze(1)  # noqa: E731
    with torch.no_grad():
        full = picked(model(x, lengths))
        handle = model.inputs.embed.vectors.register_forward_hook(lambda m, i, o: torch.zeros_like(o))
        empty = picked(model(x, lengths))
        handle.remove()
    torch.testing.assert_close(ig.flatten(1).sum(1), full - empty, atol=2e-3, rtol=0)
