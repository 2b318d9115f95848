"""The comparison grid and its store: resume, SIGKILL and rerun, two writers, tuning, the CLI and escaping."""

from __future__ import annotations

import json
import multiprocessing as mp
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blobbotronic.compare.commands import model_params
from blobbotronic.compare.runner import compare
from blobbotronic.compare.store import RunKey, Store, params_hash
from blobbotronic.errors import BlobError
from blobbotronic.report import render

from .test_stats import row

GRID = {"datasets": "digits", "models": "logistic,mlp,cnn", "seeds": 3, "budget": "40 steps"}


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "blobbotronic", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def table(rows: list[dict]) -> dict:
    """What must not change between runs of the same grid: every metric of every (data, model, seed)."""
    return {(r["dataset"], r["model"], r["seed"], r["params_hash"]): r["metrics"] for r in rows}


def count_rows(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---- the store -----------------------------------------------------------------------------------


def test_store_keeps_one_row_per_key_and_round_trips(tmp_path):
    with Store(tmp_path / "s.db") as s:
        r = {**row("mlp", 0, 0.9), "metrics": {"accuracy": 0.9, "loss": float("nan")}}
        assert s.put(r) is True
        assert s.put({**r, "metrics": {"accuracy": 0.1}}) is False  # same key: the first result stays
        (back,) = s.rows()
        assert back["metrics"] == {"accuracy": 0.9, "loss": None}  # NaN is not JSON: stored as null
        assert back["history"] == r["history"] and back["confusion"] == [[5, 1], [2, 4]] and back["higher"] is True
        assert s.done() == {RunKey("d", "mlp", "h1", 0, "0.1.0")}
        assert s.check() == []
    assert params_hash({"a": 1}, {"lr": 0.1, "seed": 0, "quiet": True}) == params_hash({"a": 1}, {"lr": 0.1, "seed": 9})
    assert params_hash({"a": 1}, {"lr": 0.1}) != params_hash({"a": 2}, {"lr": 0.1})


def test_store_check_finds_damage(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as s:
        s.put(row("mlp", 0, 0.9))
        s.db.execute("UPDATE runs SET metrics = '{not json' WHERE model = 'mlp'")
        assert any("not valid JSON" in p for p in s.check())
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BlobError, match="not a blobbotronic results store"):
        Store(tmp_path / "junk.db")


def _writer(path: str, start: int, n: int) -> None:
    with Store(path) as s:
        for i in range(start, start + n):
            s.put(row("m", i, i / 1000))


def test_two_processes_write_one_store(tmp_path):
    path = str(tmp_path / "shared.db")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, start, 150)) for start in (0, 100)]  # seeds 100-149 overlap
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with Store(path) as s:
        assert s.count() == 250 and s.check() == []
        assert sorted(r["seed"] for r in s.rows()) == list(range(250))


# ---- the grid --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """GRID run once, in this process, from an empty store: (store path, result, events heard)."""
    store = tmp_path_factory.mktemp("grid") / "r.db"
    events = []
    return store, compare(**GRID, store=store, workers=1, on_event=lambda kind, **i: events.append(kind)), events


def test_rerun_skips_finished_rows_and_gives_the_same_summary(uninterrupted):
    store, first, events = uninterrupted
    assert first.ran == 9 and first.reused == 0 and events.count("row") == 9
    again = compare(**GRID, store=store, workers=1)
    assert again.ran == 0 and again.reused == 9
    assert again.summary == first.summary and table(again.rows) == table(first.rows)
    s = {e["model"]: e for e in first.summary}
    assert set(s) == {"logistic", "mlp", "cnn"} and all(e["n"] == 3 and e["ci_low"] <= e["mean"] for e in s.values())
    r = first.rows[0]
    assert r["cost"]["latency_ms"] > 0 and r["cost"]["throughput"] > 0 and r["cost"]["flops_per_sample"] > 0
    assert r["cost"]["peak_rss_mb"] > 0 and r["cost"]["steps_per_second"] > 0 and r["config"]["threads"] == 1
    assert len(r["confusion"]) == 10 and sum(map(sum, r["confusion"])) == 269  # every test digit counted once
    assert r["history"] and r["config"]["budget"] == {"steps": 40}
    # a different setting is a different row, not a reuse
    wider = compare("digits", "mlp", seeds=1, budget="40 steps", params={"mlp": {"hidden": 8}}, store=store, workers=1)
    assert wider.ran == 1 and wider.rows[0]["params"]["hidden"] == 8


def test_planned_tasks_are_the_grids_runs_and_train_once_across_grids(tmp_path, uninterrupted):
    """plan_only trains and stores nothing, and its tasks carry the keys the grid stores; train_pending runs two
    grids' tasks in one go, training a run both ask for once (the claims suite relies on both)."""
    from blobbotronic.compare.runner import make_backend, train_pending

    store, first, _ = uninterrupted
    planned = compare(**GRID, store=tmp_path / "plan.db", plan_only=True)
    with Store(tmp_path / "plan.db") as s:
        assert s.count() == 0
    stored = {(r["dataset"], r["model"], r["seed"], r["params_hash"]) for r in first.rows}
    assert {(t.dataset, t.model, t.seed, t.key.params_hash) for t in planned} == stored
    other = compare("digits", "mlp", seeds=[0, 5], budget="40 steps", store=tmp_path / "two.db", plan_only=True)
    heard = []
    with Store(tmp_path / "two.db") as db:
        ran, reused = train_pending(planned + other, db, make_backend("local", 1), emit=lambda k, **i: heard.append(k))
        assert (ran, reused) == (10, 0) and db.count() == 10  # mlp seed 0 is in both grids: trained once
        assert heard.count("row") == 10
        assert train_pending(other, db, make_backend("local", 1)) == (0, 2)


def test_incompatible_pairs_are_skipped_and_bad_grids_refused(tmp_path):
    res = compare("xor", "mlp,cnn", seeds=1, budget="20 steps", store=tmp_path / "x.db", workers=1)
    assert [r["model"] for r in res.rows] == ["mlp"] and "cnn on xor" in res.skipped[0]
    with pytest.raises(BlobError, match="No model in the grid"):
        compare("xor", "cnn", seeds=1, store=tmp_path / "x.db")
    with pytest.raises(BlobError, match="no parameter 'hiden'"):
        compare("xor", "mlp", seeds=1, params={"mlp": {"hiden": 3}}, store=tmp_path / "x.db")


def test_tuning_uses_validation_only_and_is_reused(tmp_path):
    events = []
    kw = dict(seeds=2, budget="30 steps", tune=3, store=tmp_path / "t.db", workers=1)
    res = compare("xor", "mlp", on_event=lambda kind, **info: events.append((kind, info)), **kw)
    tuned = [i for k, i in events if k == "tuned"]
    assert len(tuned) == 1 and set(tuned[0]["chosen"]) == {"lr", "hidden"} and tuned[0]["metric"] == "val accuracy"
    chosen = tuned[0]["chosen"]
    assert all(r["tuned"]["chosen"] == chosen and r["params"]["hidden"] == chosen["hidden"] for r in res.rows)
    assert all(r["config"]["lr"] == pytest.approx(chosen["lr"]) for r in res.rows)
    again = compare("xor", "mlp", **kw)  # the default on_event too
    assert again.ran == 0 and again.reused == 2 and again.rows[0]["tuned"]["chosen"] == chosen


def test_param_flags_name_a_model_or_every_model_that_has_the_parameter():
    assert model_params(["cnn.width=16", "hidden=8"], ["cnn", "mlp", "gru"]) == {
        "cnn": {"width": "16"}, "mlp": {"hidden": "8"}, "gru": {"hidden": "8"}}
    with pytest.raises(BlobError, match="not among the models"):
        model_params(["lstm.hidden=4"], ["mlp"])
    with pytest.raises(BlobError, match="has a parameter 'widht'"):
        model_params(["widht=4"], ["mlp"])


def test_sigkill_then_rerun_completes_with_the_same_table(tmp_path, uninterrupted):
    """Kill `blobbotronic compare` (two worker processes) after its first rows, rerun it: no duplicates, nothing
    lost but the runs in flight, orphaned workers gone, and the numbers of an uninterrupted in-process run."""
    store = tmp_path / "k.db"
    args = ["compare", "--data", "digits", "--models", "logistic,mlp,cnn", "--seeds", "3", "--budget", "40 steps",
            "--store", str(store), "--out", str(tmp_path / "report"), "--workers", "2"]
    p = cli(*args, "--quiet")
    deadline, workers = time.time() + 300, []
    while count_rows(store) == 0:
        assert p.poll() is None, f"compare ended before it could be killed: {p.communicate()}"
        assert time.time() < deadline, "no row after 300 s"
        workers = children(p.pid) or workers
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed_at = count_rows(store)
    assert 1 <= killed_at < 9, killed_at
    assert workers, "compare --workers 2 started no worker processes"
    time.sleep(3)  # workers notice their parent is gone within about a second
    assert not [w for w in workers if alive(w)], "worker processes outlived a SIGKILLed compare"

    p = cli(*args, "--json")
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    obj = json.loads(out)  # exactly one JSON object
    assert set(obj) >= {"runs", "summary", "report"} and Path(obj["report"]).is_file()
    assert obj["reused"] >= killed_at and obj["ran"] + obj["reused"] == 9 and len(obj["runs"]) == 9
    assert {"dataset", "model", "seed", "metrics", "cost"} <= set(obj["runs"][0])
    assert {"dataset", "model", "metric", "mean", "ci_low", "ci_high", "n"} <= set(obj["summary"][0])
    with Store(store) as s:
        assert s.check() == [] and s.count() == 9
        resumed = s.rows()
    reference = uninterrupted[1]  # the same grid run without interruption, in this process
    assert table(resumed) == table(reference.rows)
    assert obj["summary"] == json.loads(json.dumps(reference.summary))


@pytest.mark.slow
def test_ctrl_c_stops_workers_at_once(tmp_path):
    """Ctrl-C does not wait for the runs in flight (here 30 s each): exit 130 with a note, no worker left."""
    p = cli("compare", "--data", "mnist1d", "--models", "gru,lstm", "--seeds", "1", "--budget", "30s", "--workers", "2",
            "--store", str(tmp_path / "c.db"), "--out", str(tmp_path / "rep"), "--quiet")
    deadline, workers = time.time() + 300, []
    while len(workers) < 2:
        assert p.poll() is None and time.time() < deadline, p.communicate()
        workers = children(p.pid)
        time.sleep(0.05)
    time.sleep(3.0)  # the runs are under way (recurrent nets on MNIST-1D still improve after 30 s)
    p.send_signal(signal.SIGINT)
    start = time.time()
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "rerun the same command to resume" in err, err
    assert time.time() - start < 15
    time.sleep(1.0)
    assert not [w for w in workers if alive(w)]
    assert count_rows(tmp_path / "c.db") == 0


@pytest.mark.slow
def test_two_compare_commands_share_one_store(tmp_path):
    store = str(tmp_path / "two.db")
    common = ["--data", "xor", "--seeds", "2", "--budget", "30 steps", "--store", store, "--workers", "1", "--quiet"]
    a = cli("compare", "--models", "logistic,mlp", "--out", str(tmp_path / "a"), *common)
    b = cli("compare", "--models", "mlp,perceptron", "--out", str(tmp_path / "b"), *common)
    for p in (a, b):
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    with Store(store) as s:
        assert s.check() == []
        keys = [(r["model"], r["seed"]) for r in s.rows()]
    assert sorted(keys) == sorted((m, sd) for m in ("logistic", "mlp", "perceptron") for sd in (0, 1))


def test_report_command_and_html_escaping(tmp_path):
    evil = "<script>alert(1)</script>"
    rows = [{**row(m, s, 0.6 + 0.1 * i + 0.01 * s, dataset="<b>d&d</b>"), "classes": [evil, "b|c_d"]}
            for i, m in enumerate(["<img src=x onerror=alert(2)>", "mlp"]) for s in range(3)]
    path = render(rows, tmp_path / "rep")
    page = path.read_text()
    assert evil not in page and "<img src=x" not in page and "<b>d&d</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;d&amp;d&lt;/b&gt;" in page
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page  # self-contained
    assert page.count('src="data:image/png;base64,') == 3
    md = (tmp_path / "rep" / "report.md").read_text()
    assert evil not in md and "&lt;script&gt;" in md and "b\\|c\\_d" in md
    assert len(list((tmp_path / "rep").glob("*.png"))) == 3  # curves, cost, confusion beside report.md

    with Store(tmp_path / "s.db") as s:
        for r in rows:
            s.put(r)
    p = cli("report", "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "rep2"), "--json")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    obj = json.loads(out)
    assert Path(obj["report"]).is_file() and len(obj["summary"]) == 2 and obj["summary"][0]["model"] == "mlp"
    p = cli("report", "--store", str(tmp_path / "none.db"))
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2 and "no results store" in err
