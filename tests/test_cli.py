"""End-to-end command-line tests on small real data: train, save, evaluate, predict, and user errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from blobbotronic.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blobbotronic", *args], capture_output=True, text=True, timeout=600)


def test_train_cnn_on_digits_then_evaluate_and_predict(tmp_path):
    ckpt = tmp_path / "ckpt"
    p = run_cli("train", "--data", "digits", "--model", "cnn", "--budget", "15 epochs", "--save", str(ckpt), "--json")
    assert p.returncode == 0, p.stderr
    rec = json.loads(p.stdout)  # exactly one JSON object on stdout
    assert rec["dataset"] == "digits" and rec["model"] == "cnn" and rec["seed"] == 0
    assert rec["metrics"]["accuracy"] > 0.9
    assert rec["cost"]["params"] > 0 and rec["cost"]["train_seconds"] > 0
    assert (ckpt / "model.safetensors").is_file() and json.loads((ckpt / "config.json").read_text())["model"] == "cnn"

    p = run_cli("evaluate", "--checkpoint", str(ckpt), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["metrics"]["accuracy"] == pytest.approx(rec["metrics"]["accuracy"])

    # predict on real PNG files written from test digits: a trained CNN names most of them
    from sklearn.datasets import load_digits

    d = load_digits()
    files = []
    for i in range(-20, 0):
        f = tmp_path / f"digit{i + 20}_{d.target[i]}.png"
        Image.fromarray((d.images[i] * 255 / 16).astype(np.uint8)).save(f)
        files.append(str(f))
    p = run_cli("predict", "--checkpoint", str(ckpt), *files, "--json")
    assert p.returncode == 0, p.stderr
    preds = json.loads(p.stdout)["predictions"]
    right = sum(pr["label"] == pr["input"].rsplit("_", 1)[1].split(".")[0] for pr in preds)
    assert right >= 16, preds


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "nope", "--model", "cnn"], "neither a built-in data set"),
        (["train", "--data", "digits", "--model", "lstn"], "Did you mean 'lstm'"),
        (["train", "--data", "breast_cancer", "--model", "cnn"], "cannot take table data"),
        (["train", "--data", "xor", "--model", "mlp", "--param", "hiden=3"], "no parameter 'hiden'"),
        (["train", "--data", "xor", "--model", "mlp", "--budget", "lots"], "Cannot read the budget"),
        (["evaluate", "--checkpoint", "/nonexistent"], "not a blobbotronic checkpoint"),
    ],
)
def test_user_errors_are_one_paragraph_without_traceback(args, message, capsys):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_json_listings():
    p = run_cli("models", "--json")
    names = [m["name"] for m in json.loads(p.stdout)["models"]]
    assert {"perceptron", "logistic", "mlp", "cnn", "rnn", "lstm", "gru", "cnn_rnn", "attention"} <= set(names)
    p = run_cli("models", "--params", "lstm", "--json")
    params = {q["name"]: q["default"] for q in json.loads(p.stdout)["params"]}
    assert params["hidden"] == 64 and params["bidirectional"] is False
    p = run_cli("datasets", "--json")
    assert {"and", "or", "xor", "digits", "mnist_5k", "faces", "breast_cancer", "mnist1d", "mnist1d_shuffled"} <= {
        d["name"] for d in json.loads(p.stdout)["datasets"]
    }
