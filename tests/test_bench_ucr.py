"""bench/ucr.py: it finds aeon's UCR/UEA sets, and on one small set its JSON object is whole and consistent."""

from __future__ import annotations

import importlib.util
import io
import json
import math
from pathlib import Path
from statistics import fmean

import numpy as np
import pytest

pytest.importorskip("aeon")

ROOT = Path(__file__).resolve().parent.parent
EIGHT = {"ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand", "JapaneseVowels", "OSULeaf",
         "PickupGestureWiimoteZ", "ACSF1"}
SET_KEYS = {"name", "best_model", "best_accuracy", "minirocket_accuracy", "minirocket_seconds", "wall_seconds",
            "all_converged"}


@pytest.fixture(scope="module")
def ucr():
    spec = importlib.util.spec_from_file_location("bench_ucr", ROOT / "bench" / "ucr.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_discovery_finds_the_archive_sets_and_no_regression_ones(ucr):
    found = {e["name"]: e for e in ucr.discover()}
    assert EIGHT <= {n for n, e in found.items() if e["archive"]}
    assert not {"Covid3Month", "CardanoSentiment"} & set(found)  # @targetLabel: regression, never run
    assert found["UnitTest"]["archive"] is False  # aeon's test fixture: classification, but not an archive set
    assert {n for n, e in found.items() if e["variable_length"]} >= {"JapaneseVowels", "PickupGestureWiimoteZ"}
    for e in found.values():
        assert e["train"].endswith(f"{e['name']}_TRAIN.ts") and Path(e["test"]).is_file()
    chosen, left_out = ucr.choose(list(found.values()), None)
    assert {e["name"] for e in chosen} == {n for n, e in found.items() if e["archive"]}
    assert "UnitTest" in {s["name"] for s in left_out}
    assert [e["name"] for e in ucr.choose(list(found.values()), "gunpoint,UnitTest")[0]] == ["GunPoint", "UnitTest"]


def test_padding_holds_the_last_value_and_fills_gaps(ucr):
    x = ucr.pad_last([np.array([[1.0, 2.0]]), np.array([[1.0, np.nan, 3.0, 4.0]])], 5)
    assert x.shape == (2, 1, 5)
    assert x[0, 0].tolist() == [1, 2, 2, 2, 2] and x[1, 0].tolist() == [1, 2, 3, 4, 4]


def test_convergence_unknown_is_not_converged(ucr):
    assert ucr.converged_of([{"convergence": None}, {}]) is None
    assert ucr.converged_of([{"convergence": {"converged": True}}] * 2) is True
    assert ucr.converged_of([{"convergence": {"converged": True}}, {"convergence": None},
                             {"convergence": {"converged": False}}]) is False


def test_one_small_set_gives_a_consistent_object_and_resumes(ucr, tmp_path, capsys):
    store, out = tmp_path / "runs.db", tmp_path / "ucr.json"
    obj = ucr.bench("ItalyPowerDemand", "cnn", 1, "20 steps", store=store, workers=1, out=out, progress=False)
    assert json.loads(out.read_text()) == json.loads(json.dumps(obj))
    assert {"sets", "mean_best", "mean_minirocket", "wall_seconds"} <= set(obj)
    (s,) = obj["sets"]
    assert SET_KEYS <= set(s) and s["name"] == "ItalyPowerDemand" and s["ran"] == 1
    assert Path(s["source"]).name == "ItalyPowerDemand_TRAIN.ts"  # by path, not by built-in name
    (m,) = s["models"]
    assert m["model"] == s["best_model"] == "cnn" and m["steps"] == 20 and m["n"] == 1
    assert s["best_accuracy"] == max(d["accuracy"] for d in s["models"])
    assert 0.5 < s["best_accuracy"] <= 1
    assert s["minirocket_accuracy"] > 0.9  # a strong baseline: about 0.96 on ItalyPowerDemand
    assert s["minirocket_seconds"] > 0 and s["wall_seconds"] <= obj["wall_seconds"]
    assert s["all_converged"] is (m["converged"] is True)  # unknown (no record) counts as not converged
    assert math.isclose(obj["mean_best"], fmean(x["best_accuracy"] for x in obj["sets"]))
    assert math.isclose(obj["mean_minirocket"], fmean(x["minirocket_accuracy"] for x in obj["sets"]))

    from rich.console import Console

    con = Console(file=io.StringIO(), width=160)
    con.print(ucr.set_table(s))
    con.print(ucr.mean_table(obj))
    assert "MiniRocket" in con.file.getvalue() and "ItalyPowerDemand" in con.file.getvalue()

    capsys.readouterr()
    assert ucr.main(["--sets", "ItalyPowerDemand", "--models", "cnn", "--seeds", "1", "--budget", "20 steps",
                     "--workers", "1", "--store", str(store), "--out", str(out), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)  # stdout is one JSON object
    assert again == json.loads(out.read_text())
    (s2,) = again["sets"]
    assert (s2["ran"], s2["reused"]) == (0, 1) and s2["best_accuracy"] == s["best_accuracy"]
