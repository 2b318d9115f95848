"""Every parameter of every registered model says what it does; listings keep names whole at 80 columns."""

import json

import pytest

from blobbotronic.cli import main
from blobbotronic.models import MODELS, params_schema
from blobbotronic.models.param_help import describe


@pytest.mark.parametrize("name", list(MODELS))
def test_every_parameter_says_what_it_does(name):
    missing = [p for p in params_schema(name) if not describe(MODELS.get(name), p)]
    assert missing == [], f"{name}: add these to models/param_help.py GLOSSARY or the class's param_help"


def test_a_class_may_say_what_its_own_parameter_means():
    assert "ridge" in describe(MODELS.get("minirocket"), "readout")
    assert "ridge" not in describe(MODELS.get("cnn"), "readout")


def test_models_params_prints_each_parameters_help(capsys):
    assert main(["models", "--params", "lstm", "--json"]) == 0
    params = {p["name"]: p for p in json.loads(capsys.readouterr().out)["params"]}
    assert "256" in params["frame"]["help"] and params["hidden"]["help"]


@pytest.mark.parametrize("command", ["models", "datasets"])
def test_listings_keep_every_name_whole_at_80_columns(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main([command, "--json"]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)[command]]
    assert main([command]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    shown = {line.split("│")[1].strip() for line in lines if line.count("│") > 2}
    assert set(names) <= shown


def test_weight_decay_is_a_flag_of_every_command_that_trains():
    from blobbotronic.cli import build_parser, train_config

    args = build_parser().parse_args(["train", "--data", "xor", "--model", "mlp", "--weight-decay", "0.5"])
    assert train_config(args).weight_decay == 0.5
    compare = build_parser().parse_args(["compare", "--data", "xor", "--models", "mlp", "--weight-decay", "0.5"])
    assert compare.weight_decay == 0.5
