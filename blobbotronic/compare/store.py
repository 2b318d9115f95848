"""The results store: one SQLite row per finished run, keyed so that a rerun skips what is already done.

A row is written in one transaction only once its run has finished, so killing the process at any
moment loses at most the runs in flight. The database is in WAL mode with a busy timeout, so several
processes (two ``compare`` commands, or a grid's workers) can write one store at the same time.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import BlobError

DEFAULT_STORE = Path("blobbotronic-runs.db")
JSON_COLUMNS = ("params", "config", "metrics", "val_metrics", "cost", "history", "confusion", "classes", "tuned",
                "outcomes", "convergence")
ADDED_COLUMNS = ("outcomes", "convergence")  # newer than the first stores: added to an older one when it is opened

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    dataset TEXT NOT NULL,        -- the source as given: a built-in name or a path
    model TEXT NOT NULL,
    params_hash TEXT NOT NULL,    -- hash of the resolved model parameters and training config, seed excluded
    seed INTEGER NOT NULL,
    version TEXT NOT NULL,        -- blobbotronic's version
    spec_name TEXT,
    metric TEXT NOT NULL,         -- the headline metric that ranks models
    higher INTEGER NOT NULL,      -- 1 when a larger headline metric is better
    params TEXT, config TEXT, metrics TEXT, val_metrics TEXT, cost TEXT,
    history TEXT, confusion TEXT, classes TEXT, tuned TEXT,
    stopped TEXT,
    outcomes TEXT,                -- classification: each test example right (1) or wrong (0), in test order
    convergence TEXT,             -- the training loop's convergence check (best step, still improving, ...)
    finished_at TEXT NOT NULL,
    UNIQUE (dataset, model, params_hash, seed, version)
);
CREATE TABLE IF NOT EXISTS tuned (
    dataset TEXT NOT NULL, model TEXT NOT NULL, base_hash TEXT NOT NULL, trials INTEGER NOT NULL,
    version TEXT NOT NULL, chosen TEXT NOT NULL, best_val REAL, finished_at TEXT NOT NULL,
    UNIQUE (dataset, model, base_hash, trials, version)
);
"""


@dataclass(frozen=True, order=True)
class RunKey:
    """What identifies a run: the same key means the same numbers (on CPU), so a rerun may skip it."""

    dataset: str
    model: str
    params_hash: str
    seed: int
    version: str


def params_hash(params: dict[str, Any], config: dict[str, Any], data_options: dict[str, Any] | None = None) -> str:
    """A short, stable hash of resolved model parameters and training config (seed and quiet left out), and of
    the data set's reading options where there are any (none: the hash stores have always held).

    >>> params_hash({"hidden": 8}, {"lr": 0.01, "seed": 1}) == params_hash({"hidden": 8}, {"lr": 0.01, "seed": 2})
    True
    """
    cfg = {k: v for k, v in config.items() if k not in ("seed", "quiet")}
    if data_options:
        cfg["data_options"] = dict(data_options)
    blob = json.dumps({"params": params, "config": cfg}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def key_of(row: dict[str, Any]) -> RunKey:
    return RunKey(row["dataset"], row["model"], row["params_hash"], int(row["seed"]), row["version"])


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _dumps(value: Any) -> str | None:
    """JSON without NaN/Infinity (not JSON): they become null."""
    if value is None:
        return None
    return json.dumps(_finite(value), sort_keys=True)


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


class Store:
    """Runs in a SQLite file. ``put`` one finished run; ``done`` the keys already there; ``rows`` to read.

    >>> import tempfile, os
    >>> with Store(os.path.join(tempfile.mkdtemp(), "runs.db")) as s:
    ...     s.check()
    []
    """

    def __init__(self, path: str | Path = DEFAULT_STORE, timeout: float = 120.0):
        self.path = Path(path)
        if self.path.is_dir():
            raise BlobError(f"{self.path} is a folder; --store wants a SQLite file such as blobbotronic-runs.db.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.executescript(_SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise BlobError(f"{self.path} is not a blobbotronic results store (SQLite said: {e}); "
                            "choose another file with --store.") from None

    def _migrate(self) -> None:
        """Add the columns a store written by an older version lacks (its rows read them as None).

        Two processes may open the same old store at once: the second's ALTER then fails on the duplicate
        column, which is what it wanted anyway. A store that cannot be written stays readable without them."""
        for col in ADDED_COLUMNS:
            if col in self._columns():
                continue
            try:
                self.db.execute(f"ALTER TABLE runs ADD COLUMN {col} TEXT")
            except sqlite3.OperationalError as e:
                if "duplicate column" not in str(e) and "readonly" not in str(e):
                    raise

    def _columns(self) -> set[str]:
        return {r[1] for r in self.db.execute("PRAGMA table_info(runs)").fetchall()}

    # ---- life cycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- writing ------------------------------------------------------------------------------

    def put(self, row: dict[str, Any]) -> bool:
        """Insert one finished run in its own transaction; False when its key was already stored."""
        with self._transaction():
            return self._insert(row)

    def _insert(self, row: dict[str, Any]) -> bool:
        cols = ["dataset", "model", "params_hash", "seed", "version", "spec_name", "metric", "higher", "stopped",
                "finished_at", *JSON_COLUMNS]
        vals = [row.get(c) for c in cols[:10]]
        vals[3], vals[7] = int(vals[3]), int(bool(vals[7]))
        vals[9] = vals[9] or now()
        vals += [_dumps(row.get(c)) for c in JSON_COLUMNS]
        sql = f"INSERT OR IGNORE INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        return self.db.execute(sql, vals).rowcount == 1

    def put_many(self, rows: list[dict[str, Any]]) -> int:
        """Insert several finished runs in one transaction (all or none); returns how many were new."""
        with self._transaction():
            return sum(self._insert(r) for r in rows)

    def put_tuned(self, dataset: str, model: str, base_hash: str, trials: int, version: str,
                  chosen: dict[str, Any], best_val: float | None) -> None:
        with self._transaction():
            self.db.execute("INSERT OR IGNORE INTO tuned VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (dataset, model, base_hash, trials, version, _dumps(chosen), best_val, now()))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction. A disk that fills up (or a store that stops being writable) mid-grid is a
        BlobError naming the store: the rows saved before are kept, and a rerun resumes from them."""
        try:
            self.db.execute("BEGIN IMMEDIATE")  # take the write lock now; waits up to the busy timeout
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            with suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise BlobError(f"{self.path}: a finished run could not be saved ({e}); the runs saved before it are kept. "
                            "Free disk space (or make the store writable) and rerun the same command to resume."
                            ) from None

    # ---- reading ------------------------------------------------------------------------------

    def done(self) -> set[RunKey]:
        cur = self.db.execute("SELECT dataset, model, params_hash, seed, version FROM runs")
        return {RunKey(*r) for r in cur.fetchall()}

    def tuned(self, dataset: str, model: str, base_hash: str, trials: int, version: str) -> dict[str, Any] | None:
        cur = self.db.execute("SELECT chosen, best_val FROM tuned WHERE dataset=? AND model=? AND base_hash=? "
                              "AND trials=? AND version=?", (dataset, model, base_hash, trials, version))
        hit = cur.fetchone()
        return None if hit is None else {"chosen": json.loads(hit[0]), "best_val": hit[1]}

    def rows(self, keys: Iterable[RunKey] | None = None, datasets: Iterable[str] | None = None,
             models: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Stored runs as dicts (JSON columns decoded), ordered by dataset, model, params hash and seed."""
        cur = self.db.execute("SELECT * FROM runs ORDER BY dataset, model, params_hash, version, seed")
        names = [d[0] for d in cur.description]
        want = None if keys is None else set(keys)
        ds, ms = (None if datasets is None else set(datasets)), (None if models is None else set(models))
        out = []
        for values in cur.fetchall():
            row = dict(zip(names, values, strict=True))
            if want is not None and key_of(row) not in want:
                continue
            if (ds is not None and row["dataset"] not in ds) or (ms is not None and row["model"] not in ms):
                continue
            for c in JSON_COLUMNS:
                row[c] = None if row.get(c) is None else json.loads(row[c])
            row["higher"] = bool(row["higher"])
            out.append(row)
        return out

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def check(self) -> list[str]:
        """Problems found (empty when sound): SQLite's integrity check, duplicate keys, unreadable JSON."""
        problems = [r[0] for r in self.db.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
        dup = self.db.execute("SELECT dataset, model, params_hash, seed, version, COUNT(*) FROM runs "
                              "GROUP BY dataset, model, params_hash, seed, version HAVING COUNT(*) > 1").fetchall()
        problems += [f"run {r[:5]} is stored {r[5]} times" for r in dup]
        cols = [c for c in JSON_COLUMNS if c in self._columns()]
        for rid, *values in self.db.execute(f"SELECT id, {', '.join(cols)} FROM runs").fetchall():
            for col, v in zip(cols, values, strict=True):
                try:
                    None if v is None else json.loads(v)
                except ValueError:
                    problems.append(f"run id {rid}: column {col} is not valid JSON")
        return problems
