"""compare's typed surface: CompareConfig -> plan_compare -> Plan -> run_compare -> CompareResult; incompatible
pairs told by their type (IncompatiblePair); every training setting and data option of the command line reaching
the stored runs; and compare/'s modules importing one another without a cycle."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import blobbotronic as bb
from blobbotronic.cli import main
from blobbotronic.compare import runner
from blobbotronic.compare.runner import CompareConfig, CompareResult, Plan, compare, plan_compare, run_compare
from blobbotronic.compare.store import Store
from blobbotronic.errors import BlobError, IncompatiblePair

TINY = {"budget": "4 steps", "workers": 1}


def cli_json(capsys, *argv: str) -> dict:
    """``blobbotronic compare ARGV --json`` in this process: its one JSON object."""
    capsys.readouterr()
    code = main(["compare", *map(str, argv), "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def stored(path: Path) -> list[dict]:
    with Store(path) as s:
        return s.rows()


def test_config_normalises_its_fields_and_validates_itself():
    c = CompareConfig("xor, and", "mlp,logistic", 2, budget="5 steps")
    assert c.datasets == ("xor", "and") and c.models == ("mlp", "logistic") and c.seeds == (0, 1)
    assert CompareConfig(["xor"], seeds=[3, 5]).seeds == (3, 5) and CompareConfig("xor").models == ()
    kw = CompareConfig.of("xor", "mlp", 1, tune=2, lr=0.5, patience=3, train={"batch_size": 4})
    assert kw.tune == 2 and dict(kw.train) == {"batch_size": 4, "lr": 0.5, "patience": 3}  # not a field: a setting
    bad_ones = [({"datasets": ""}, "at least one data set"), ({"datasets": "xor", "seeds": 0}, "one seed"),
                ({"datasets": "xor", "tune": -1}, "0 or more"), ({"datasets": "xor", "budget": "soon"}, "'soon'")]
    for bad, match in bad_ones:
        with pytest.raises(BlobError, match=match):
            CompareConfig(**bad)


def test_plan_then_run_gives_typed_results_and_the_one_call_forms_numbers(tmp_path):
    plan = plan_compare(CompareConfig("xor", "mlp,cnn,logistic", 2, store=tmp_path / "p.db", **TINY))
    assert isinstance(plan, Plan) and not (tmp_path / "p.db").exists()  # planning stores nothing
    assert [(p.dataset, p.model) for p in plan.pairs] == [("xor", "mlp"), ("xor", "logistic")]
    assert len(plan.skipped) == 1 and plan.skipped[0].startswith("cnn on xor: ") and "cannot take" in plan.skipped[0]
    tasks = plan.tasks()
    assert [(t.seed, t.model) for t in tasks] == [(0, "mlp"), (0, "logistic"), (1, "mlp"), (1, "logistic")]
    result = run_compare(plan)
    assert isinstance(result, CompareResult) and (result.ran, result.reused) == (4, 0)
    assert {(r["model"], r["seed"], r["params_hash"]) for r in result.rows} == \
        {(t.model, t.seed, t.key.params_hash) for t in tasks}
    old = compare("xor", "mlp,cnn,logistic", seeds=2, store=tmp_path / "old.db", **TINY)
    # bb.compare is the API function even now that the blobbotronic.compare package is imported (it is callable)
    again = bb.compare(CompareConfig("xor", "mlp,cnn,logistic", 2, store=tmp_path / "old.db", **TINY))
    assert old.skipped == result.skipped and (again.ran, again.reused) == (0, 4)
    assert [(r["model"], r["seed"], r["metrics"]) for r in old.rows] == \
        [(r["model"], r["seed"], r["metrics"]) for r in result.rows] == \
        [(r["model"], r["seed"], r["metrics"]) for r in again.rows]
    planned = compare("xor", "mlp,cnn,logistic", seeds=2, store=tmp_path / "old.db", plan_only=True, **TINY)
    assert [t.key for t in planned] == [t.key for t in tasks]


def test_pairs_are_skipped_by_the_error_type_not_its_words(tmp_path, monkeypatch):
    from blobbotronic import models
    from blobbotronic.data import load

    with pytest.raises(IncompatiblePair, match="cannot take table data"):
        models.create("cnn", load("xor").spec)
    with pytest.raises(IncompatiblePair, match="cannot do the 'regress' task"):
        models.create("naive", load("adding:n=64").spec)  # reads sequences, but only forecasts
    real = models.create

    def create(name, spec, **params):
        if name == "logistic":  # an ordinary error that happens to use the words the grid used to look for
            raise BlobError("this model cannot take a day off")
        if name == "perceptron":  # the type, whatever the words
            raise IncompatiblePair("no")
        return real(name, spec, **params)

    monkeypatch.setattr(models, "create", create)
    config = CompareConfig("xor", "mlp,perceptron", 1, store=tmp_path / "x.db", **TINY)
    assert plan_compare(config).skipped == ("perceptron on xor: no",)
    with pytest.raises(BlobError, match="a day off"):
        plan_compare(CompareConfig("xor", "mlp,logistic", 1, store=tmp_path / "x.db", **TINY))


def test_default_models_stay_listed_when_tuned(tmp_path):
    """The tuning step once reused the name of the default models' list: the result's `chosen` became a dict."""
    res = compare("xor", None, seeds=1, tune=1, store=tmp_path / "t.db", **TINY)
    assert [m for m, _ in res.chosen] == ["mlp", "logistic"] and all(isinstance(why, str) for _, why in res.chosen)
    assert {r["model"] for r in res.rows} == {"mlp", "logistic"} and all(r["tuned"] for r in res.rows)


def test_compare_takes_every_training_setting_train_does(tmp_path, capsys):
    store = tmp_path / "s.db"
    obj = cli_json(capsys, "--data", "xor", "--models", "mlp", "--seeds", "1", "--budget", "4 steps", "--workers", "1",
                   "--store", store, "--out", tmp_path / "rep", "--lr", "0.5", "--patience", "3", "--threads", "2",
                   "--batch-size", "2", "--average", "0.9", "--no-channels-last")
    (r,) = stored(store)
    assert obj["ran"] == 1 and r["config"]["lr"] == 0.5 and r["config"]["patience"] == 3
    assert r["config"]["threads"] == 2 and r["config"]["batch_size"] == 2 and r["config"]["average"] == 0.9
    assert r["config"]["channels_last"] is False
    # without the flags the same grid is another run, with the family's settings
    cli_json(capsys, "--data", "xor", "--models", "mlp", "--seeds", "1", "--budget", "4 steps", "--workers", "1",
             "--store", store, "--out", tmp_path / "rep")
    assert sorted(r["config"]["lr"] for r in stored(store))[-1] == 0.5 and len(stored(store)) == 2


def test_data_options_reach_the_runs_and_make_them_other_runs(tmp_path, capsys):
    table = tmp_path / "t.csv"
    lines = ["x,y,a,b"] + [f"{i % 7},{i % 5},{'p' if i % 2 else 'q'},{'r' if i % 3 else 's'}" for i in range(60)]
    table.write_text("\n".join(lines) + "\n")
    store = tmp_path / "s.db"
    common = ["--data", table, "--models", "logistic", "--seeds", "1", "--budget", "4 steps", "--workers", "1",
              "--store", store, "--out", tmp_path / "rep"]
    cli_json(capsys, *common, "--data-option", "label=a")
    obj = cli_json(capsys, *common, "--data-option", "label=b")
    assert obj["ran"] == 1 and obj["reused"] == 0  # read another way: not the stored run
    by_label = {r["config"]["data_options"]["label"]: r for r in stored(store)}
    assert set(by_label) == {"a", "b"} and by_label["a"]["params_hash"] != by_label["b"]["params_hash"]
    assert set(by_label["a"]["classes"]) == {"p", "q"} and set(by_label["b"]["classes"]) == {"r", "s"}


def test_compare_modules_import_one_another_without_a_cycle():
    folder = Path(runner.__file__).parent
    edges = {}
    for path in folder.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module} if node.module else {a.name for a in node.names}
        edges[path.stem] = {d for d in deps if (folder / f"{d}.py").exists()}

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(d == goal or (d not in seen and reaches(d, goal, seen | {d})) for d in edges.get(start, ()))

    cycles = sorted(m for m in edges if reaches(m, m, set()))
    assert {"backends", "groups", "tasks"} <= edges["runner"] and not cycles, cycles
