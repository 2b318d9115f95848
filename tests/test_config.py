"""Experiment files for ``compare --config``: YAML and TOML alike, every mistake named by file, line and key path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blobbotronic import BlobError
from blobbotronic.cli import main
from blobbotronic.config import read

pytest.importorskip("yaml", reason="pip install pyyaml")

YAML = """\
name: gates
data: [xor, and]
models:
  mlp: {hidden: 8}
  logistic:
params:
  mlp: {depth: 1}
seeds: 2
budget: 20 steps
train: {lr: 0.05, patience: 5}
"""

TOML = """\
name = "gates"
data = ["xor", "and"]
seeds = 2
budget = "20 steps"

[models.mlp]
hidden = 8

[models.logistic]

[params.mlp]
depth = 1

[train]
lr = 0.05
patience = 5
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_and_toml_say_the_same_thing(tmp_path):
    a = read(_write(tmp_path, "e.yaml", YAML)).values
    b = read(_write(tmp_path, "e.toml", TOML)).values
    assert a == b
    assert a["models"] == ["mlp", "logistic"] and a["params"] == {"mlp": {"hidden": 8, "depth": 1}, "logistic": {}}
    assert a["seeds"] == [0, 1] and a["budget"] == "20 steps"


@pytest.mark.parametrize("text,message", [
    ("data: [xor]\nmodles: [mlp]\n",
     r"e.yaml, line 2, key modles: unknown key. Did you mean 'models'\? Valid keys: name, data"),
    ("data: [xor]\nmodels: [mlp]\ntrain:\n  lrate: 0.1\n",
     r"line 4, key train.lrate: unknown training setting. Valid: batch_size, lr"),
    ("data: [xor]\nmodels:\n  mlp: {hiden: 3}\n",
     r"line 3, key models.mlp: Model 'mlp' has no parameter 'hiden'. Valid parameters: hidden=100"),
    ("data: [xor]\nmodels: [mlp]\nparams:\n  cnn: {width: 3}\n",
     r"line 4, key params.cnn: 'cnn' is not among the models \(mlp\)"),
    ("data: [xor]\nmodels: [mlpp]\n", r"key models.mlpp: Unknown model 'mlpp'. Did you mean 'mlp'\?"),
    ("data: [xor]\nmodels: [mlp]\nseeds: three\n", r"line 3, key seeds: must be a positive number of seeds"),
    ("data: [xor]\nmodels: [mlp]\nbudget: forever\n", r"key budget: Cannot read the budget 'forever'"),
    ("data: 3\n", r"key data: must be a list of names"),
    ("- xor\n", r"the config must be a mapping of keys"),
    ("data: [xor\n", r"e.yaml, line 2, column 1: not valid YAML"),
])
def test_every_mistake_names_file_line_and_key(tmp_path, text, message):
    with pytest.raises(BlobError, match=message):
        read(_write(tmp_path, "e.yaml", text))


def test_toml_mistakes_name_the_key_path(tmp_path):
    with pytest.raises(BlobError, match=r"e.toml, key train.momentum: unknown training setting"):
        read(_write(tmp_path, "e.toml", 'data = ["xor"]\nmodels = ["mlp"]\n[train]\nmomentum = 0.9\n'))
    with pytest.raises(BlobError, match=r"e.toml: not valid TOML"):
        read(_write(tmp_path, "e.toml", "data = [\n"))
    with pytest.raises(BlobError, match=r"e.json: config files are YAML \(.yaml, .yml\) or TOML"):
        read(_write(tmp_path, "e.json", "{}"))


def test_compare_runs_a_config_saves_it_resolved_and_reruns_from_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "e.yaml", YAML + "workers: 1\nstore: runs.db\nout: report\n")
    assert main(["compare", "--config", "e.yaml", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["ran"] == 8 and first["config"] == str(Path("report") / "resolved-config.yaml")
    pairs = {(d, m) for d in ("xor", "and") for m in ("mlp", "logistic")}
    assert {(r["dataset"], r["model"]) for r in first["runs"]} == pairs
    assert all(r["params"].get("hidden") == 8 for r in first["runs"] if r["model"] == "mlp")
    resolved = read(tmp_path / "report" / "resolved-config.yaml")  # a valid config file itself
    assert resolved.values["params"]["mlp"] == {"hidden": 8, "depth": 1, "activation": "relu", "dropout": 0.0}
    assert resolved.values["train"] == {"lr": 0.05, "patience": 5}
    # the resolved file describes exactly the same runs: all of them come from the store
    assert main(["compare", "--config", "report/resolved-config.yaml", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["ran"] == 0 and again["reused"] == 8
    # a flag given on the command line wins over the file
    assert main(["compare", "--config", "e.yaml", "--seeds", "1", "--models", "logistic", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["runs"]) == 2


def test_compare_without_data_or_config_is_a_blob_error(capsys):
    assert main(["compare", "--models", "mlp"]) == 2
    assert "--config" in capsys.readouterr().err


def test_data_options_and_every_training_flag_survive_into_the_resolved_file(tmp_path, monkeypatch, capsys):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    rows = ["a,b,kind"] + [f"{x:.3f},{y:.3f},{'big' if x + y > 0 else 'small'}"
                           for x, y in rng.normal(size=(120, 2))]
    (tmp_path / "points.csv").write_text("\n".join(rows) + "\n")
    _write(tmp_path, "e.yaml", "data: [points.csv]\nmodels: [logistic]\nseeds: 1\nbudget: 20 steps\n"
           "data_options: {label: kind}\ntrain: {threads: 1}\nworkers: 1\nstore: runs.db\nout: report\n")
    assert main(["compare", "--config", "e.yaml", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ran"] == 1
    resolved = read(tmp_path / "report" / "resolved-config.yaml")
    assert resolved.values["data_options"] == {"label": "kind"} and resolved.values["train"] == {"threads": 1}
    assert main(["compare", "--config", "report/resolved-config.yaml", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reused"] == 1
