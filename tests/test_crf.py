"""The linear-chain CRF (models/crf.py) against brute force over every tagging of tiny sentences, its BIO rules,
its place in the tag task's loss, and the CNN-BiLSTM-CRF tagger built on it (models/crf_tagger.py)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from blobbotronic.data import Spec
from blobbotronic.data.tagging import IGNORE
from blobbotronic.models import create
from blobbotronic.models.crf import CRF, CRFEmissions, bio_rules
from blobbotronic.train.task_tag import Tag, bio_spans

TAGS = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")


def follows(a: str, b: str) -> bool:
    """The rule written out by hand: tag b may follow tag a unless b is I-X and a is neither B-X nor I-X."""
    return not b.startswith("I-") or a[2:] == b[2:]


def valid_bio(tags) -> bool:
    return bool(tags) and not tags[0].startswith("I-") and all(map(follows, tags, tags[1:]))


def random_crf(constrain: bool, seed: int = 0) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(TAGS, constrain=constrain).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def brute_force(crf: CRF, e: torch.Tensor, n: int) -> tuple[float, tuple[int, ...], dict]:
    """log Z, the best tagging and every tagging's score of the first ``n`` tokens of emissions e (L, T), written
    from the definition: start + emissions + transitions + end, forbidden tagging skipped."""
    constrained = not bool(crf.may_start.all())
    scores = {}
    for y in itertools.product(range(len(TAGS)), repeat=n):
        if constrained and not valid_bio([TAGS[i] for i in y]):
            continue
        s = crf.start[y[0]].item() + crf.end[y[-1]].item() + sum(e[t, y[t]].item() for t in range(n))
        s += sum(crf.transitions[y[t - 1], y[t]].item() for t in range(1, n))
        scores[y] = s
    log_z = math.log(sum(math.exp(s) for s in scores.values()))
    return log_z, max(scores, key=scores.get), scores


@pytest.mark.parametrize("constrain", [False, True])
def test_log_partition_viterbi_and_nll_equal_brute_force(constrain):
    crf = random_crf(constrain)
    L, lengths = 4, torch.tensor([4, 2, 1, 3])  # masked rows: padding must not count
    mask = torch.arange(L)[None] < lengths[:, None]
    e = torch.randn(4, L, len(TAGS), dtype=torch.double, generator=torch.Generator().manual_seed(1))
    e = e + torch.where(mask[..., None], 0.0, 50.0)  # large scores at padding, which must change nothing
    log_z = crf.log_partition(e, mask)
    tags, steps = crf.decode_scores(e, mask)
    for b, n in enumerate(lengths.tolist()):
        want_z, want_best, scores = brute_force(crf, e[b], n)
        assert log_z[b].item() == pytest.approx(want_z, abs=1e-9)
        assert tuple(tags[b, :n].tolist()) == want_best and (tags[b, n:] == 0).all()
        best_logp = scores[want_best] - want_z  # each real step's maximum is the decoded tagging's log p
        torch.testing.assert_close(steps[b, :n].max(-1).values, torch.full((n,), best_logp, dtype=torch.double))
        gold = torch.tensor([*want_best[::-1], *[0] * (L - n)])[None]  # any allowed tagging: here, the best reversed
        gold_tags = [TAGS[i] for i in gold[0, :n].tolist()]
        if constrain and not valid_bio(gold_tags):
            continue
        nll = crf.nll(e[b : b + 1], gold, mask[b : b + 1])
        assert nll.item() == pytest.approx(want_z - scores[tuple(gold[0, :n].tolist())], abs=1e-9)


def test_step_scores_are_log_probabilities_of_best_taggings():
    """At token t, tag k: log p of the best tagging that keeps the decoded prefix and puts k at t (brute force)."""
    crf = random_crf(True, seed=3)
    e = torch.randn(1, 3, len(TAGS), dtype=torch.double, generator=torch.Generator().manual_seed(4))
    mask = torch.ones(1, 3, dtype=torch.bool)
    tags, steps = crf.decode_scores(e, mask)
    log_z, _, scores = brute_force(crf, e[0], 3)
    prefix = tags[0].tolist()
    for t in range(3):
        for k in range(len(TAGS)):
            fits = [s for y, s in scores.items() if list(y[:t]) == prefix[:t] and y[t] == k]
            want = max(fits) - log_z if fits else None
            if want is None:
                assert steps[0, t, k].item() < -1e3  # impossible here: the floor
            else:
                assert steps[0, t, k].item() == pytest.approx(want, abs=1e-9)


def test_constrained_decoding_never_emits_an_invalid_bio_sequence():
    """Emissions that shout I- tags everywhere: the constrained CRF still decodes valid BIO, the free one does not."""
    g = torch.Generator().manual_seed(0)
    e = torch.randn(64, 7, len(TAGS), generator=g)
    e[..., [2, 4]] += 6.0  # I-LOC, I-PER
    lengths = torch.randint(1, 8, (64,), generator=g)
    mask = torch.arange(7)[None] < lengths[:, None]
    constrained, free = CRF(TAGS), CRF(TAGS, constrain=False)
    for crf, all_valid in ((constrained, True), (free, False)):
        tags = crf.decode(e, mask)
        valid = [valid_bio([TAGS[i] for i in row[:n]]) for row, n in zip(tags.tolist(), lengths.tolist(), strict=True)]
        assert all(valid) is all_valid


def test_bio_rules_and_repair():
    allowed, may_start, begin = bio_rules(TAGS)
    for i, a in enumerate(TAGS):
        assert may_start[i] == (not a.startswith("I-"))
        for j, b in enumerate(TAGS):
            assert allowed[i, j] == follows(a, b)
    assert begin.tolist() == [0, 1, 1, 3, 3]
    # IOB1-like tag sets (I-X without B-X) and names that are not BIO tags stay free
    assert bio_rules(["O", "I-PER"])[0].all() and bio_rules(["x", "I-y", "B-y2"])[0].all()
    crf = CRF(TAGS)
    y = torch.tensor([[2, 2, 0, 4, 1, 4, IGNORE]])  # I-LOC first, I-PER after O, I-PER after B-LOC
    mask = y != IGNORE
    fixed = crf.repair(y, mask)
    assert fixed.tolist() == [[1, 2, 0, 3, 1, 3, 0]]
    names = lambda row: [TAGS[i] for i in row[:6]]  # noqa: E731
    assert bio_spans(names(fixed[0].tolist())) == bio_spans(names(y[0].tolist()))  # the entities conlleval reads
    e = torch.randn(1, 7, len(TAGS))
    assert torch.isfinite(crf.nll(e, y.clamp_min(0), mask)).all()  # gold that breaks the rules still trains


def test_tag_task_trains_a_crf_output_by_its_nll():
    crf = random_crf(True).float()
    e = torch.randn(2, 4, len(TAGS), requires_grad=True)
    y = torch.tensor([[1, 2, 0, IGNORE], [3, IGNORE, IGNORE, IGNORE]])
    lengths = torch.tensor([3, 1])
    spec = Spec("tags", "text", "tag", (4,), len(TAGS), TAGS, vocab_size=20)
    out = CRFEmissions.wrap(e, crf)
    loss = Tag(spec).loss(out, y, lengths)
    mask = y != IGNORE
    want = crf.nll(e, y.clamp_min(0), mask).sum() / mask.sum()
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    assert loss.item() != pytest.approx(Tag(spec).loss(e, y, lengths).item(), rel=1e-3)  # not cross-entropy
    loss.backward()
    assert crf.transitions.grad.abs().sum() > 0 and e.grad.abs().sum() > 0
    assert type(out * 2) is torch.Tensor  # operations give plain tensors


# --- the CNN-BiLSTM-CRF tagger --------------------------------------------------------------------------------

WORDS = ["<pad>", "<unk>", "Paris", "paris", "in", "lives", "John", "Smith", ".", "New", "York"]
WSPEC = Spec("words", "text", "tag", (6,), len(TAGS), TAGS, vocab_size=len(WORDS),
             extra={"vocab": WORDS, "max_len": 6, "tokenizer": "given", "lower": False})


def test_character_table_keeps_case_and_marks_unknown_words():
    model = create("cnn_bilstm_crf_tagger", WSPEC)
    table = model.chars.table
    assert table.shape[0] == len(WORDS)
    assert (table[0] == 0).all()  # padding has no characters
    assert table[2, 0] != table[3, 0] and (table[2, 1:5] == table[3, 1:5]).all()  # P/p differ, "aris" the same
    assert (table[1] > 0).sum() == 1  # <unk> is one marker character, not the letters of "<unk>"
    assert table.shape[1] == max(len(w) for w in WORDS[2:])


def test_crf_tagger_rejects_a_word_dropout_that_is_not_a_share():
    from blobbotronic.errors import BlobError

    with pytest.raises(BlobError, match="parameter 'unk' is the share of words .* not 1.5"):
        create("cnn_bilstm_crf_tagger", WSPEC, unk=1.5)


def test_crf_tagger_decodes_valid_bio_and_switches_the_crf_off():
    torch.manual_seed(0)
    x = torch.tensor([[6, 7, 5, 4, 2, 8], [9, 10, 0, 0, 0, 0]])
    lengths = torch.tensor([6, 2])
    with_crf, without = create("cnn_bilstm_crf_tagger", WSPEC), create("cnn_bilstm_crf_tagger", WSPEC, crf=False)
    with torch.no_grad():
        with_crf.crf.transitions[0, 2] = 50.0  # O -> I-LOC as likely as can be: forbidden all the same
        with_crf.crf.start[2] = 50.0
    with_crf.eval(), without.eval()
    for row, n in zip(with_crf(x, lengths).argmax(-1).tolist(), lengths.tolist(), strict=True):
        assert valid_bio([TAGS[i] for i in row[:n]])
    assert without.crf is None and not isinstance(without.train()(x, lengths), CRFEmissions)
    assert isinstance(with_crf.train()(x, lengths), CRFEmissions)



def test_crf_tagger_trains_saves_predicts_and_exports(tmp_path, capsys):
    """Through the CLI as a user would: it trains (its loss the CRF's), its checkpoint reloads with the same
    character table, predict writes valid BIO, and the decoding model exports with Viterbi inside."""
    import json

    from blobbotronic.cli import main
    from blobbotronic.export import export
    from blobbotronic.train import load_checkpoint

    lines = []
    for i in range(24):
        name, place = ["John", "Mary", "Ann"][i % 3], ["Paris", "Rome", "Oslo", "New York"][i % 4]
        tokens = [(name, "B-PER"), ("lives", "O"), ("in", "O")]
        tokens += [(w, "B-LOC" if j == 0 else "I-LOC") for j, w in enumerate(place.split())] + [(".", "O")]
        lines += [f"{t}\t{g}" for t, g in tokens] + [""]
    data = tmp_path / "people.conll"
    data.write_text("\n".join(lines), encoding="utf-8")
    ckpt = tmp_path / "crf"
    assert main(["train", "--data", str(data), "--model", "cnn_bilstm_crf_tagger", "--budget", "60 steps", "--quiet",
                 "--save", str(ckpt), "--param", "hidden=16", "--param", "embed_dim=16", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"]["entity_f1"] > 0.5, result["metrics"]
    new = tmp_path / "new.txt"
    new.write_text("Mary lives in New York .\nin in Rome Rome\n", encoding="utf-8")
    assert main(["predict", "--checkpoint", str(ckpt), str(new), "--json"]) == 0
    for p in json.loads(capsys.readouterr().out)["predictions"]:
        assert len(p["tags"]) == len(p["tokens"]) and valid_bio(p["tags"])
    model, _ = load_checkpoint(ckpt)
    assert model.crf is not None and (model.chars.table[2:] > 0).any()
    rec = export(model.eval(), model.spec, tmp_path / "crf.torchscript.pt", "torchscript")
    assert rec["max_abs_diff"] <= rec["tolerance"]


# --- the applications claim reads the tagger with and without its CRF -------------------------------------------


def test_applications_claim_reports_the_crf_beside_its_verdict():
    from blobbotronic.claims import applications as app
    from blobbotronic.claims.base import Evidence

    def rows(metric, values):
        return [{"seed": s, "metric": metric, "metrics": {metric: v}, "cost": {}} for s, v in enumerate(values)]

    def evidence(entity_f1, no_crf_f1):
        headline = {"tweet_entities": "entity_f1", "date_translation": "exact_match"}
        cells = {(name, ds): rows(metric or headline[ds], [level + 0.05] * 2)
                 for name, ds, model, metric, level in app.APPS}
        cells[(app.ENTITIES, "tweet_entities")] = rows("entity_f1", entity_f1)
        cells[(app.NO_CRF, "tweet_entities")] = rows("entity_f1", no_crf_f1)
        return Evidence(cells)

    v = app.decide(evidence([0.40, 0.42], [0.30, 0.31]))
    assert v.verdict == "supported" and v.numbers["reached"] == len(app.APPS)
    assert v.numbers["tweet_entities_crf_gain"] == pytest.approx(0.105)
    assert "without" in v.key and "does not count" in v.rule
    low = app.decide(evidence([0.20, 0.22], [0.45, 0.46]))  # the arm without the CRF never rescues the verdict
    assert low.verdict == "mixed" and low.numbers["reached"] == len(app.APPS) - 1
    assert low.numbers["tweet_entities_crf_gain"] < 0


def test_speech_application_reads_sound_files_and_says_when_it_cannot(monkeypatch):
    from blobbotronic.claims import applications as app
    from blobbotronic.data import audio_words

    monkeypatch.setattr(audio_words.shutil, "which", lambda exe: "/usr/bin/espeak-ng")
    name, data = app.speech()
    assert data == "spoken_words" and "sound files" in name and data in app.QUICK_BUDGET
    monkeypatch.setattr(audio_words.shutil, "which", lambda exe: None)
    name, data = app.speech()
    assert data == "spoken_digits" and "espeak-ng absent" in name


def test_log_partition_stays_exact_and_finite_for_confident_scores():
    """The forward algorithm runs as matrix products of exponentials: it must neither overflow nor lose the
    small terms when emissions and transitions span hundreds of nats (a very confident model)."""
    crf = random_crf(True)
    with torch.no_grad():
        crf.transitions.mul_(40)
    e = torch.randn(3, 6, len(TAGS), dtype=torch.double, generator=torch.Generator().manual_seed(2)) * 150
    e.requires_grad_()
    mask = torch.ones(3, 6, dtype=torch.bool)
    trans, start, end = crf.scores()
    alpha = start + e[:, 0]
    for t in range(1, 6):  # the textbook recursion, one logsumexp per step
        alpha = torch.logsumexp(alpha[:, :, None] + trans, dim=1) + e[:, t]
    want = torch.logsumexp(alpha + end, -1)
    got = crf.log_partition(e, mask)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-9)
    grad = torch.autograd.grad(got.sum(), e)[0]
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(grad, torch.autograd.grad(want.sum(), e)[0], rtol=0, atol=1e-9)
