"""predict on text files for tag (entity extraction) and translate (seq2seq) checkpoints: the CLI reads one
input per line, encodes it as the training text was, and prints tokens with tags and entities, or the
greedy translation; the same model run on the data set's own tensors must give the same answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from blobbotronic.cli import main
from blobbotronic.data import load
from blobbotronic.train import load_checkpoint
from blobbotronic.train.task_tag import bio_spans

PEOPLE = ["John", "Mary", "Ann", "Peter", "Lisa"]
PLACES = ["Paris", "Berlin", "Rome", "Oslo"]


def conll(path: Path) -> Path:
    """Twenty small sentences 'NAME [Smith] lives in PLACE .' tagged with persons and places."""
    lines = []
    for i in range(20):
        name, place = PEOPLE[i % len(PEOPLE)], PLACES[i % len(PLACES)]
        tokens = [(name, "B-PER")] + ([("Smith", "I-PER")] if i % 2 else []) + [
            ("lives", "O"), ("in", "O"), (place, "B-LOC"), (".", "O")]
        lines += [f"{t}\t{g}" for t, g in tokens] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_tags_tokens_and_finds_entities(tmp_path: Path, capsys) -> None:
    data = conll(tmp_path / "people.conll")
    ckpt = tmp_path / "tagger"
    code, _, err = run(capsys, "train", "--data", str(data), "--model", "bilstm_tagger", "--budget", "30 steps",
                       "--quiet", "--save", str(ckpt), "--data-option", "lower=true", "--param", "hidden=16")
    assert code == 0, err
    lines = tmp_path / "new.txt"
    lines.write_text("Mary Smith lives in Rome .\n\nPETER lives in Oslo\n", encoding="utf-8")  # a blank line
    code, out, err = run(capsys, "predict", "--checkpoint", str(ckpt), str(lines), "--json")
    assert code == 0, err
    res = json.loads(out)
    preds = res["predictions"]
    assert [p["input"] for p in preds] == ["new.txt:line 1", "new.txt:line 3"] and res["skipped"] == []
    assert [p["tokens"] for p in preds] == [["Mary", "Smith", "lives", "in", "Rome", "."],
                                            ["PETER", "lives", "in", "Oslo"]]
    model, cfg = load_checkpoint(ckpt)
    tag_set = set(cfg["spec"]["classes"])
    assert tag_set == {"O", "B-PER", "I-PER", "B-LOC"}
    for p in preds:
        assert len(p["tags"]) == len(p["tokens"]) and set(p["tags"]) <= tag_set and p["untagged"] == 0
        spans = sorted(bio_spans(p["tags"]), key=lambda s: (s[1], s[2]))
        assert [(e["type"], e["start"], e["end"], e["text"]) for e in p["entities"]] == [
            (k, a, b, " ".join(p["tokens"][a:b])) for k, a, b in spans]
    # encoded as in training (lower-cased here): the same tags as the model gives the data set's tensors
    ds = load(data, lower="true")
    vocab = list(ds.spec.extra["vocab"])
    with torch.no_grad():
        for i in range(len(ds.test)):
            x, n = ds.test.x[i : i + 1], int(ds.test.lengths[i])
            want = [ds.spec.classes[k] for k in model(x, ds.test.lengths[i : i + 1]).argmax(-1)[0, :n].tolist()]
            words = [vocab[k] for k in x[0, :n].tolist()]
            (tmp_path / "one.txt").write_text(" ".join(words).upper(), encoding="utf-8")
            code, out, err = run(capsys, "predict", "--checkpoint", str(ckpt), str(tmp_path / "one.txt"), "--json")
            assert code == 0, err
            assert json.loads(out)["predictions"][0]["tags"] == want
    # the readable table shows the tagged tokens
    code, out, err = run(capsys, "predict", "--checkpoint", str(ckpt), str(lines))
    assert code == 0 and "Mary" in out and "Oslo" in out


def test_predict_translates_each_line_greedily(tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "dates"
    code, _, err = run(capsys, "train", "--data", "date_translation", "--model", "seq2seq_gru", "--budget", "10 steps",
                       "--quiet", "--save", str(ckpt), "--param", "hidden=16")
    assert code == 0, err
    model, cfg = load_checkpoint(ckpt)
    ds = load("date_translation")
    vocab, target_vocab = list(ds.spec.extra["vocab"]), list(ds.spec.extra["target_vocab"])
    assert cfg["spec"]["extra"]["target_vocab"] == target_vocab  # the checkpoint holds what predict needs
    sources = ["".join(vocab[k] for k in ds.test.x[i, : int(ds.test.lengths[i])].tolist()) for i in range(2)]
    (tmp_path / "dates.txt").write_text("\n".join(sources) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "predict", "--checkpoint", str(ckpt), str(tmp_path / "dates.txt"), "--json")
    assert code == 0, err
    preds = json.loads(out)["predictions"]
    assert [(p["input"], p["text"]) for p in preds] == [("dates.txt:line 1", sources[0]),
                                                        ("dates.txt:line 2", sources[1])]
    alphabet = set(target_vocab[4:])  # the target characters, specials dropped
    from blobbotronic.data.translation import decode_target

    with torch.no_grad():
        ids = model(ds.test.x[:2], ds.test.lengths[:2]).argmax(-1).tolist()
    for p, row in zip(preds, ids, strict=True):
        assert isinstance(p["output"], str) and set(p["output"]) <= alphabet and not p["truncated"]
        assert p["output"] == decode_target(row, target_vocab)  # encoded exactly as the test split was
    code, out, err = run(capsys, "predict", "--checkpoint", str(ckpt), str(tmp_path / "dates.txt"))
    assert code == 0 and sources[0][:8] in out


@pytest.mark.parametrize("content, message",
                         [(b"\xff\xfe\x00bad", "not valid UTF-8"), (b"\n \n", "no text to predict")])
def test_predict_text_errors_are_clear(tmp_path: Path, capsys, content: bytes, message: str) -> None:
    data = conll(tmp_path / "people.conll")
    ckpt = tmp_path / "tagger"
    assert run(capsys, "train", "--data", str(data), "--model", "cnn_tagger", "--budget", "2 steps", "--quiet",
               "--save", str(ckpt))[0] == 0
    (tmp_path / "bad.txt").write_bytes(content)
    code, _, err = run(capsys, "predict", "--checkpoint", str(ckpt), str(tmp_path / "bad.txt"))
    assert code == 2 and "bad.txt" in err and message in err and "Traceback" not in err
