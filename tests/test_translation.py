"""Tests of the translate task: the date generator, the data set, the seq2seq models and their metrics."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import torch

from blobbotronic.data import Spec, load
from blobbotronic.data.translation import EOS, date_pairs, decode_target, translation_dataset, writers
from blobbotronic.models import MODELS, create
from blobbotronic.train.task_translate import Translate

SEQ2SEQ = MODELS.names(tasks="translate")


def month_names() -> dict[str, int]:
    """Month names and abbreviations of every language the generator writes, to month numbers."""
    names = {}
    try:
        from babel.dates import get_month_names

        from blobbotronic.data.translation import BABEL_LOCALES

        for loc in BABEL_LOCALES:
            for width in ("wide", "abbreviated"):
                for context in ("format", "stand-alone"):
                    for k, v in get_month_names(width, context, loc).items():
                        names[v.lower().rstrip(".")] = k
    except ImportError:
        from blobbotronic.data.translation import BUILTIN_MONTHS

        for months in BUILTIN_MONTHS.values():
            names.update({m.lower(): i + 1 for i, m in enumerate(months)})
    for i, m in enumerate(dt.date(2000, k, 1).strftime("%B") for k in range(1, 13)):
        names[m.lower()] = names[m.lower()[:3]] = i + 1
    return names


def read_back(source: str, order: str, months: dict[str, int]) -> dt.date:
    """Parse a generated date with no help from the generator: numbers and month names, in the writer's order."""
    words = re.findall(r"[^\W\d_]+\.?|\d+", source.lower())
    numbers = [int(re.sub(r"\D", "", w)) for w in words if w[0].isdigit()]
    month = next((months[w.rstrip(".")] for w in words if w.rstrip(".") in months), None)
    if month is None:  # all numbers
        d, m, y = {"dmy": numbers, "ymd": numbers[::-1], "mdy": [numbers[1], numbers[0], numbers[2]]}[order]
    else:  # with a month name, the day always comes before the year
        d, y = numbers[0], numbers[1]
        m = month
    if y < 100:
        y += 2000 if y < 50 else 1900
    return dt.datetime.strptime(f"{y:04d}-{m:02d}-{d:02d}", "%Y-%m-%d").date()


def test_every_writer_reads_back_to_its_date():
    months = month_names()
    dates = [
        dt.date(2026, 11, 24),
        dt.date(1950, 1, 1),
        dt.date(2049, 12, 31),
        dt.date(2001, 2, 3),
        dt.date(1999, 5, 31),
        dt.date(2012, 8, 12),
    ]
    for w in writers():
        for d in dates:
            source = w.write(d)
            assert read_back(source, w.order, months) == d, (w.name, source)


def test_generator_is_seeded_and_unambiguous():
    a, b = date_pairs(500, seed=3), date_pairs(500, seed=3)
    assert a == b and a != date_pairs(500, seed=4)
    sources = [s for s, _, _ in a]
    assert len(set(sources)) == 500  # distinct sources, hence splits disjoint by source string
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) for _, t, _ in a)
    assert len({w for _, _, w in a}) > 20  # many formats in use
    assert any(s == "24 Nov 2026" for s in (w.write(dt.date(2026, 11, 24)) for w in writers()))


def test_translation_dataset_layout():
    pairs = [(s, t) for s, t, _ in date_pairs(60, seed=0)]
    ds = translation_dataset("dates", pairs)
    spec = ds.spec
    assert (spec.modality, spec.task, spec.extra["target_len"]) == ("text", "translate", 11)
    assert ds.train.y.dtype == torch.long and (ds.train.y[:, 10] == EOS).all()
    assert decode_target(ds.train.y[0].tolist(), spec.extra["target_vocab"]) in {t for _, t in pairs}
    splits = [{tuple(r) for r in s.x.tolist()} for s in (ds.train, ds.val, ds.test)]
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])


def test_date_translation_builtin():
    ds = load("date_translation")
    assert sum(map(len, (ds.train, ds.val, ds.test))) == ds.meta["pairs"] == 12_000


def test_metrics_exact_match_and_char_accuracy():
    spec = Spec("d", "text", "translate", (5,), 6, vocab_size=8, extra={"target_len": 3})
    y = torch.tensor([[4, 5, EOS], [4, EOS, 0]])
    logits = torch.nn.functional.one_hot(torch.tensor([[4, 5, EOS], [5, EOS, 4]]), 6).float()
    m = Translate(spec).metrics(logits, y)
    assert m["exact_match"] == 0.5  # row 2 is wrong in its first character; what follows </s> is ignored
    assert m["char_accuracy"] == pytest.approx(4 / 5)


SPEC = Spec("d", "text", "translate", (7,), 8, vocab_size=10, extra={"target_len": 4})


def test_seq2seq_models_registered():
    assert {"seq2seq_gru", "seq2seq_cnn", "seq2seq_attention"} <= set(SEQ2SEQ)


@pytest.mark.parametrize("name", SEQ2SEQ)
def test_seq2seq_shapes_and_teacher_forcing(name):
    torch.manual_seed(0)
    model = create(name, SPEC)
    x = torch.randint(1, 10, (5, 7))
    lengths = torch.tensor([7, 3, 5, 1, 6])
    x = x.masked_fill(torch.arange(7)[None] >= lengths[:, None], 0)
    y = torch.randint(4, 8, (5, 4))
    y[:, 3] = EOS
    assert model.teacher_forced(x, lengths, y).shape == (5, 4, 8)
    model.eval()
    out = model(x, lengths)
    assert out.shape == (5, 4, 8) and torch.isfinite(out).all()
    assert model.generate(x, lengths).shape == (5, 4)
    # greedy decoding equals teacher forcing when fed its own output (the decoder is causal)
    fed = model.teacher_forced(x, lengths, out.argmax(-1))
    torch.testing.assert_close(fed, out, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", SEQ2SEQ)
def test_seq2seq_overfits_a_tiny_set(name):
    """Reversing 4 digits: each model must learn 16 pairs perfectly with teacher forcing."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    digits = torch.randint(0, 4, (16, 4), generator=g)
    x = digits + 2  # source ids 2..5
    y = torch.cat([digits.flip(1) + 4, torch.full((16, 1), EOS)], 1)  # target ids 4..7 then </s>
    spec = Spec("rev", "text", "translate", (4,), 8, vocab_size=6, extra={"target_len": 5})
    model = create(name, spec)
    task = Translate(spec)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    lengths = torch.full((16,), 4)
    for _ in range(300):
        loss = task.loss(task.forward(model, x, y, lengths), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert task.metrics(model(x, lengths), y)["exact_match"] == 1.0
