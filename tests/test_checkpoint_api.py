"""Checkpoints from the Python API: ``load_checkpoint`` returns a documented ``Checkpoint`` (which still unpacks as
``model, config``), and a checkpoint written by ``save_checkpoint`` works with the command line's evaluate,
predict, explain and export, with or without the data set recorded."""

from __future__ import annotations

import json

import pytest

import blobbotronic as bb
from blobbotronic.cli import main
from blobbotronic.errors import BlobError


@pytest.fixture(scope="module")
def xor_run():
    return bb.train(bb.load("xor"), "mlp", seed=0, quiet=True, budget="200 steps")


def test_load_checkpoint_returns_a_checkpoint_that_unpacks_as_before(xor_run, tmp_path):
    path = bb.save_checkpoint(xor_run.model, tmp_path / "ck", data="xor", data_options={"n": 40}, seed=3)
    ckpt = bb.load_checkpoint(path)
    assert isinstance(ckpt, bb.Checkpoint) and isinstance(ckpt, tuple) and len(ckpt) == 2
    model, config = ckpt  # the tuple every caller unpacked still unpacks
    assert model is ckpt.model and config is ckpt.config and not model.training
    assert ckpt.model_name == "mlp" and ckpt.params == xor_run.model.params
    assert ckpt.spec == xor_run.model.spec and ckpt.spec.classes == ("0", "1")
    assert ckpt.data == "xor" and ckpt.data_options == {"n": 40} and ckpt.seed == 3
    assert json.loads((path / "config.json").read_text())["dataset"] == "xor"  # where train --save writes it
    ckpt.params["hidden"] = -1  # the properties hand out copies: the configuration stays as saved
    assert ckpt.config["params"]["hidden"] == xor_run.model.params["hidden"]
    assert bb.Checkpoint.__doc__ and all(getattr(bb.Checkpoint, p).__doc__
                                         for p in ("spec", "model_name", "params", "data", "data_options"))


def test_a_checkpoint_saved_without_data_says_so(xor_run, tmp_path):
    ckpt = bb.load_checkpoint(bb.save_checkpoint(xor_run.model, tmp_path / "ck"))
    assert ckpt.data is None and ckpt.data_options == {} and ckpt.seed is None
    with pytest.raises(BlobError, match="name or path"):
        bb.save_checkpoint(xor_run.model, tmp_path / "ck2", data=bb.load("xor"))


def test_save_checkpoint_without_data_works_with_every_checkpoint_command(xor_run, tmp_path, capsys):
    ckpt = str(bb.save_checkpoint(xor_run.model, tmp_path / "ck"))
    capsys.readouterr()

    # evaluate: no data set recorded and none given -> one paragraph naming --data, never a set called 'None'
    assert main(["evaluate", "--checkpoint", ckpt]) == 2
    err = capsys.readouterr().err
    assert "records no data set" in err and "--data NAME" in err and "'None'" not in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert main(["evaluate", "--checkpoint", ckpt, "--data", "xor", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["dataset"] == "xor" and 0.0 <= rec["metrics"]["accuracy"] <= 1.0

    # predict reads the model's inputs from files: no data set needed
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n0,1\n1,1\n")
    assert main(["predict", "--checkpoint", ckpt, str(rows), "--json"]) == 0
    preds = json.loads(capsys.readouterr().out)["predictions"]
    assert len(preds) == 2 and all(p["label"] in ("0", "1") for p in preds)

    # explain: test:N needs a data set (said in one paragraph, or given by --data); a file input does not
    assert main(["explain", "--checkpoint", ckpt, "--out", str(tmp_path / "ex0")]) == 2
    err = capsys.readouterr().err
    assert "records no data set" in err and "--data NAME" in err and "'None'" not in err
    assert main(["explain", "--checkpoint", ckpt, "--data", "xor", "--input", "test:1", "--out",
                 str(tmp_path / "ex1"), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["prediction"]["predicted"] in ("0", "1") and obj["prediction"]["true"] in ("0", "1")
    assert main(["explain", "--checkpoint", ckpt, "--input", str(rows), "--out", str(tmp_path / "ex2"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prediction"]["predicted"] in ("0", "1")
    assert main(["explain", "--checkpoint", ckpt, "--data", "no_such_set", "--out", str(tmp_path / "ex3")]) == 2
    assert "'no_such_set' is neither" in capsys.readouterr().err  # a --data given is read, not skipped

    # export needs no data set either
    out = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", ckpt, "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(out) and out.stat().st_size > 0


def test_save_checkpoint_with_data_needs_no_data_flag(xor_run, tmp_path, capsys):
    ckpt = str(bb.save_checkpoint(xor_run.model, tmp_path / "ck", data="xor", seed=0))
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", ckpt, "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["dataset"] == "xor" and rec["metrics"]["accuracy"] == pytest.approx(xor_run.metrics["accuracy"])
    assert main(["explain", "--checkpoint", ckpt, "--input", "test:0", "--out", str(tmp_path / "ex"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["input"] == "test:0"
