"""Reliability and security: every bad input is a clear CLI error, pickles never run, inputs too large for memory
and unwritable stores are refused before work starts, and SIGKILLing `compare` at random moments loses nothing.

A clear error is: exit code 2, the file named, the expected problem named, and no traceback. The
bad-input corpus (tests/bad_inputs/) runs here through the CLI in this process; one case also runs as a
real `python -m blobbotronic` process. Bad inputs are tallied into the "bad inputs: N tried, N clear
errors" line (tests/conftest.py).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from blobbotronic import guards
from blobbotronic.cli import main
from blobbotronic.compare.runner import compare
from blobbotronic.compare.store import Store
from blobbotronic.data import Spec
from blobbotronic.models import create
from blobbotronic.train import save_checkpoint

BAD = Path(__file__).parent / "bad_inputs"
CASES = json.loads((BAD / "manifest.json").read_text())


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """``blobbotronic ARGV`` in this process: (exit code, stderr). Any exception but SystemExit is a crash."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = e.code
    except BaseException as e:  # noqa: BLE001 - what the user would have seen as a traceback
        pytest.fail(f"blobbotronic {' '.join(map(str, argv))} crashed: {type(e).__name__}: {e}")
    return code, capsys.readouterr().err


def assert_clear(code: int, err: str, path: Path | str, mentions=()) -> None:
    assert code == 2, f"exit code {code}: {err}"
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert Path(path).name in err, err
    for text in mentions:
        assert text in err, f"{text!r} not in: {err}"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """An mlp checkpoint for each Spec that the corpus' predict cases read new inputs for."""
    out = {}
    for c in CASES:
        if c["spec"] and c["spec"]["name"] not in out:
            torch.manual_seed(0)
            out[c["spec"]["name"]] = save_checkpoint(create("mlp", Spec.from_dict(c["spec"]), hidden=4),
                                                     tmp_path_factory.mktemp("ckpt") / c["spec"]["name"])
    return out


def argv_of(case: dict, checkpoints: dict[str, Path]) -> list[str]:
    path = BAD / case["path"]
    if case["via"] == "checkpoint":
        return ["evaluate", "--checkpoint", path]
    if case["via"] == "predict":
        return ["predict", "--checkpoint", checkpoints[case["spec"]["name"]], path]
    options = [a for k, v in case["options"].items() for a in ("--data-option", f"{k}={v}")]
    return ["train", "--data", path, *options, "--model", "mlp", "--budget", "1 steps", "--no-save", "--quiet"]


# ---- the corpus, through the command line -------------------------------------------------------------------


@pytest.mark.bad_input
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_every_bad_input_is_a_clear_cli_error(case, checkpoints, capsys):
    code, err = run_cli(capsys, *argv_of(case, checkpoints))
    assert_clear(code, err, case["path"], case["mentions"])


REAL = ["ts_lone_at.ts"]  # one process: a start-up costs seconds; every case runs in-process above


@pytest.mark.bad_input
@pytest.mark.parametrize("ids", [REAL], ids=["+".join(REAL)])
def test_bad_inputs_in_real_processes(ids, checkpoints, tmp_path):
    """The same errors from `python -m blobbotronic` processes: exit code 2, the file named, no traceback."""
    cases = [next(c for c in CASES if c["id"] == i) for i in ids]
    procs = [subprocess.Popen([sys.executable, "-m", "blobbotronic", *map(str, argv_of(c, checkpoints))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path) for c in cases]
    for c, p in zip(cases, procs, strict=True):
        _, err = p.communicate(timeout=300)
        assert_clear(p.returncode, err, c["path"], c["mentions"])


LONG_LINES = {  # a 10 MB line per text format, each broken in its own way, and what the error must say
    "long.csv": ("", lambda n: "7" * n, "line 1: a value longer than 131,072 characters"),
    "long.tsv": ("", lambda n: "a\t" + "b" * n, "line 1: a value longer than"),
    "long_text.csv": ("text=text", lambda n: 'text,label\n"' + "word " * (n // 5), "is a quote left open"),
    "long.ts": ("", lambda n: "@problemName " + "x" * n, "no @data line"),
    "long.jsonl": ("", lambda n: '{"text": "' + "a" * n, "line 1, column 10: not valid JSON (Unterminated string"),
    "long.conll": ("", lambda n: "token\tB-" + "X" * n, "has 1 sentence(s)"),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("name", LONG_LINES, ids=[f"10MB_line_{n}" for n in LONG_LINES])
def test_a_10_mb_single_line_is_a_clear_error(name, tmp_path, capsys):
    option, make, says = LONG_LINES[name]
    path = tmp_path / name
    path.write_text(make(10 * 2**20), encoding="utf-8")
    assert path.stat().st_size >= 10 * 2**20
    extra = ["--data-option", option] if option else []
    start = time.perf_counter()
    code, err = run_cli(capsys, "train", "--data", path, *extra, "--model", "mlp", "--no-save", "--quiet")
    assert_clear(code, err, path, [says])
    assert time.perf_counter() - start < 30


# ---- memory: refused before loading, with an estimate ------------------------------------------------------


def test_available_memory_from_meminfo_and_the_limit(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)  # no psutil: /proc/meminfo
    monkeypatch.delenv(guards.MEMORY_LIMIT_ENV, raising=False)
    free = guards.available_memory()
    assert free is None or free > 2**20
    monkeypatch.setenv(guards.MEMORY_LIMIT_ENV, "3M")
    assert guards.available_memory() == 3 * 2**20
    assert guards.parse_bytes("1.5 GB") == int(1.5 * 2**30)
    monkeypatch.setenv(guards.MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(guards.BlobError, match="BLOBBOTRONIC_MEMORY_LIMIT='lots'"):
        guards.available_memory()


def _png_folder(root: Path) -> Path:
    from PIL import Image

    for k, c in enumerate("ab"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), 40 * k + i).save(root / c / f"{i}.png")
    return root


def _clip_folder(root: Path) -> Path:
    try:  # the clip writer lives with the generators (it was in data/video.py)
        from blobbotronic.data.video_gen import write_clip
    except ImportError:
        from blobbotronic.data.video import write_clip

    for k, c in enumerate("ab"):
        for i in range(2):
            write_clip(root / c / f"{i}.avi", np.full((4, 16, 16), 60 * k + 10 * i, np.uint8))
    return root


def _npz(p: Path) -> Path:
    np.savez(p, x=np.zeros((30_000, 10), np.float32), y=np.arange(30_000) % 2)
    return p


BIG = {  # an input, the options that read it, the limit it must exceed, and the reader that must not run
    "table.csv": (lambda p: p.write_text("a,label\n" + "1.5,x\n2.5,y\n" * 20_000) and p, [], "1M", "read_bytes"),
    "series.ts": (lambda p: p.write_text("@classLabel true a b\n@data\n" + "1,2,3:a\n" * 40_000) and p, [], "1M",
                  "read_bytes"),
    "texts.jsonl": (lambda p: p.write_text('{"text": "good", "label": "pos"}\n' * 3_000) and p, [], "1M",
                    "read_bytes"),
    "tags.conll": (lambda p: p.write_text("word\tO\n" * 10_000) and p, [], "1M", "read_bytes"),
    "arrays.npz": (_npz, [], "2M", "npz._npz_array"),
    "images": (_png_folder, ["size=1024"], "100M", "images.load_image"),
    "clips": (_clip_folder, ["frames=16", "size=256", "stream=false"], "50M", "video.read_clip"),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("name", BIG, ids=[f"too_big_{n}" for n in BIG])
def test_an_input_too_large_for_memory_is_refused_before_loading(name, tmp_path, monkeypatch, capsys):
    from blobbotronic.data import images, npz, video

    make, options, limit, reader = BIG[name]
    path = make(tmp_path / name)

    def must_not_run(*a, **k):
        raise AssertionError(f"{reader} ran before the memory check")

    if reader == "read_bytes":
        monkeypatch.setattr(Path, "read_bytes", must_not_run)
    else:
        module, attr = reader.split(".")
        monkeypatch.setattr({"npz": npz, "images": images, "video": video}[module], attr, must_not_run)
    monkeypatch.setenv(guards.MEMORY_LIMIT_ENV, limit)
    opts = [a for o in options for a in ("--data-option", o)]
    code, err = run_cli(capsys, "train", "--data", path, *opts, "--model", "mlp", "--no-save", "--quiet")
    assert_clear(code, err, path, ["refused before loading", "would need about", "available"])


# ---- the results store: read-only, full, and SIGKILL ---------------------------------------------------------


@contextmanager
def unwritable(path: Path):
    """Make a file or folder unwritable even for root (chattr +i), else by permissions; skip if neither works."""
    import shutil

    immutable = os.geteuid() == 0 and shutil.which("chattr") and \
        subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
    if not immutable:
        path.chmod(0o500 if path.is_dir() else 0o400)
    try:
        if os.access(path, os.W_OK) and not immutable:
            pytest.skip("cannot make a path read-only here (root without chattr)")
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True) if immutable else path.chmod(0o700)


TINY = ["--data", "xor", "--models", "mlp", "--seeds", "1", "--budget", "3 steps", "--workers", "1", "--quiet"]


@pytest.fixture()
def no_training(monkeypatch):
    """Fail the test if compare gets as far as loading data (which precedes any training)."""
    from blobbotronic.compare import runner

    monkeypatch.setattr(runner, "dataset", lambda source: pytest.fail("data was loaded: work had started"))


@pytest.mark.parametrize("where", ["folder", "file", "report"])
def test_a_read_only_store_or_report_is_refused_before_training(where, tmp_path, capsys, no_training):
    ro = tmp_path / "ro"
    ro.mkdir()
    store, out = ro / "runs.db", tmp_path / "report"
    if where == "file":
        Store(store).close()
        store, target = ro / "runs.db", ro / "runs.db"
    else:
        target = ro
    if where == "report":
        store, out = tmp_path / "runs.db", ro
    with unwritable(target):
        code, err = run_cli(capsys, "compare", *TINY, "--store", store, "--out", out)
    assert_clear(code, err, out if where == "report" else store, ["cannot be written", "nothing has been run"])


def test_a_full_disk_is_refused_before_training(tmp_path, capsys, monkeypatch, no_training):
    """Simulated (a real full disk needs a small file system): 5 MB free is too little for a store or a report."""
    usage = guards.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(guards.shutil, "disk_usage", lambda p: usage._replace(free=5 * 2**20))
    code, err = run_cli(capsys, "compare", *TINY, "--store", tmp_path / "runs.db", "--out", tmp_path / "the_report")
    assert_clear(code, err, "the_report", ["the disk holding the report folder is full", "5.0 MB free"])
    with pytest.raises(guards.BlobError, match=r"runs\.db: the disk holding the results store is full"):
        compare("xor", "mlp", seeds=1, budget="3 steps", store=tmp_path / "runs.db", workers=1)


@contextmanager
def small_disk(folder: Path, size: str = "1m"):
    """A real 1 MB file system (tmpfs) at ``folder`` where this process may mount one (root); else None."""
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                                     str(folder)], capture_output=True).returncode == 0
    try:
        yield folder if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_disk_that_fills_up_is_a_clear_error_and_keeps_the_saved_runs(tmp_path, capsys, no_training):
    """On a real, tiny file system: compare refuses it before training; a store whose disk fills up between two
    runs raises a BlobError on the second, keeps the first, and takes rows again once space is freed."""
    from .test_stats import row

    with small_disk(tmp_path / "disk") as disk:
        if disk is None:  # no mount here: the same path with the database call failing as SQLite does when full
            disk = tmp_path / "disk"
        else:
            code, err = run_cli(capsys, "compare", *TINY, "--store", disk / "runs.db", "--out", tmp_path / "rep")
            assert_clear(code, err, "runs.db", ["the disk holding the results store is full"])
        with Store(disk / "runs.db") as s:
            s.put(row("m", 0, 0.5))
            filler = _fill(disk) if disk.is_mount() else _failing(s)
            with pytest.raises(guards.BlobError, match=r"runs\.db: a finished run could not be saved \(database or "
                               r"disk is full\); the runs saved before it are kept"):
                s.put(row("m", 1, 0.6))
            filler()
            assert s.put(row("m", 2, 0.7)) and s.check() == [] and [r["seed"] for r in s.rows()] == [0, 2]


def _fill(disk: Path):
    with open(disk / "filler", "wb") as f:
        with pytest.raises(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    return (disk / "filler").unlink


def _failing(store: Store):
    """Make ``store``'s connection fail every INSERT as a full disk does; the returned function undoes it."""
    real = store.db

    class Full:
        def __getattr__(self, name):
            return getattr(real, name)

        def execute(self, sql, *args):
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

    store.db = Full()
    return lambda: setattr(store, "db", real)


GRID = ["--data", "xor,and", "--models", "mlp,logistic", "--seeds", "3", "--budget", "8 steps"]


def _compare_in_child(argv: list[str], log: str) -> None:
    """A forked `blobbotronic compare` (the process the kill test SIGKILLs), its output to ``log``."""
    sys.stdout = sys.stderr = open(log, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    sys.exit(main(argv))


def _stored(store: Path) -> list[dict]:
    if not store.exists():
        return []
    with Store(store) as s:
        assert s.check() == [], s.check()
        return s.rows()


def _count(store: Path) -> int:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path):
    """SIGKILL `compare` at least 10 times (at random times, or just after a random commit): after every kill
    the store is sound, keeps every row it had, holds each run once with the numbers of an uninterrupted run;
    then the same command completes. Each child is forked from this process after the reference run, so it
    starts in milliseconds with everything imported, and runs exactly what `blobbotronic compare` runs."""
    t0 = time.perf_counter()
    ref = {(r["dataset"], r["model"], r["seed"]): r["metrics"] for r in
           compare("xor,and", "mlp,logistic", seeds=3, budget="8 steps", store=tmp_path / "ref.db", workers=1).rows}
    import matplotlib.pyplot  # noqa: F401  (imported once here, not in every child)

    from blobbotronic.cli import build_parser

    build_parser()  # imports every command module
    ctx = mp.get_context("fork")  # children start with everything the reference run imported: no start-up cost
    store, log, rng = tmp_path / "k.db", tmp_path / "child.log", random.Random(20260101)
    argv = ["compare", *GRID, "--store", str(store), "--out", str(tmp_path / "rep"), "--workers", "1", "--quiet"]
    kills, mid_grid, seen, history = 0, 0, 0, []
    while kills < 10:
        p = ctx.Process(target=_compare_in_child, args=(argv, str(log)))
        p.start()
        if kills % 2 and seen < len(ref):  # just after the next commit, give or take a few milliseconds
            deadline = time.time() + 120
            while _count(store) == seen and p.is_alive() and time.time() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.02))
        else:
            p.join(rng.uniform(0.0, 1.0))
        if p.is_alive():
            p.kill()
            kills += 1
        p.join()
        assert p.exitcode in (0, -9), (p.exitcode, log.read_text()[-3000:])
        rows = _stored(store)
        keys = [(r["dataset"], r["model"], r["seed"]) for r in rows]
        assert len(keys) == len(set(keys)) and len(keys) >= seen, (keys, seen)  # none duplicated, none lost
        assert all(ref[(r["dataset"], r["model"], r["seed"])] == r["metrics"] for r in rows)
        mid_grid += 0 < len(keys) < len(ref)
        seen = len(keys)
        history.append((seen, round(time.perf_counter() - t0, 1)))
    t1 = time.perf_counter()
    p = ctx.Process(target=_compare_in_child, args=(argv, str(log)))
    p.start()
    p.join(300)
    assert p.exitcode == 0, log.read_text()[-3000:]
    rows = _stored(store)
    assert {(r["dataset"], r["model"], r["seed"]): r["metrics"] for r in rows} == ref
    assert (tmp_path / "rep" / "report.html").is_file() and "Traceback" not in log.read_text()
    assert mid_grid >= 1, f"no kill landed between the grid's first and last row (rows after each kill: {history})"
    print(f"{kills} SIGKILLs; (rows stored, seconds) after each: {history}; the last run took "
          f"{time.perf_counter() - t1:.1f} s")
