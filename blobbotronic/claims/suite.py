"""Run the claims suite: every claim (or a subset) through one store, then one report.

Every claim either gets a verdict (supported, refuted or mixed) or is listed as "could not run" with the
reason and the fix; the command exits non-zero when any could not run (claims_commands.py). Each claim's
time is its share of the shared training pool (timing.py) plus its own measurements after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BlobError
from .base import CLAIMS, Mode, run_claim

DEFAULT_OUT = Path("blobbotronic-out") / "claims"
NOT_RUN = "could not run"
BUG_FIX = ("This is a bug in blobbotronic, not in your set-up: rerun with `blobbotronic claims --only {id} --debug` "
           "for the traceback, and report it.")
IMPORT_FIX = ("Install what the claims need: `make demo` (or `pip install -e '.[demo]'` in the project's virtual "
              "environment).")


def select(only: str | list[str] | None) -> list[str]:
    from . import ordered

    ids = ordered()
    if not only:
        return ids
    wanted = [s.strip() for s in (only.split(",") if isinstance(only, str) else only) if s.strip()]
    for w in wanted:
        if w not in CLAIMS:
            CLAIMS.entry(w)  # raises the unknown-name error listing the valid ids
    return [i for i in ids if i in wanted]


def reason_and_fix(claim_id: str, e: BaseException) -> tuple[str, str]:
    """Why a claim could not run, and what fixes it. A BlobError says both (what was wrong, then what to do):
    its first sentence is the reason, the rest the fix; a missing package is installed by `make demo`; anything
    else is a bug to report."""
    if isinstance(e, BlobError):
        text = " ".join(str(e).split())
        head, sep, rest = text.partition(". ")
        return (head + "." if sep else text), (rest or "The message above says what to change.")
    if isinstance(e, ImportError):
        return f"The Python package {e.name or str(e)!r} is not installed.", IMPORT_FIX
    return f"{type(e).__name__}: {e}", BUG_FIX.format(id=claim_id)


def preflight(ids: list[str]) -> dict[str, BaseException]:
    """The claims whose ``requires`` check fails here (a missing font, say), with the error; no run is trained."""
    blocked = {}
    for cid in ids:
        check = CLAIMS.get(cid).requires
        if check is None:
            continue
        try:
            check()
        except Exception as e:  # noqa: BLE001 - any failure means the claim cannot run; reason_and_fix sorts it
            blocked[cid] = e
    return blocked


def train_all(ids: list[str], mode: Mode, store: Path, workers: int | None, device: str,
              progress: Callable[[str, str, int, int], None] | None = None,
              out: Path = DEFAULT_OUT) -> tuple[dict[str, list], Any]:
    """Train every selected claim's missing runs in one pool of workers, the largest first.

    Claim by claim, each arm's few seeds left a worker idle and paid for a pool of its own; one pool over the
    whole suite keeps every core busy, and a run two claims read is trained once. Each run is stored as it
    finishes, so an interrupted suite resumes, and the claims then find all their runs in the store. A claim
    that cannot even be planned (a missing optional package, say) is left to its own turn, which reports it.
    The claims' own measurements (``Claim.measure``) run in the same pool, on a CPU, beside the training.
    Returns each claim's planned runs and the timed engine (``seconds``: each trained run's share; ``measured``).
    """
    from ..compare.runner import make_backend, train_pending
    from ..compare.store import Store
    from ..train.loop import pick_device
    from .base import Context, plan_claim
    from .timing import MeasureUnit, TimedEngine, largest_first

    planned: dict[str, list] = {}
    for cid in ids:
        try:
            planned[cid] = plan_claim(CLAIMS.get(cid), mode, store, device)
        except Exception:  # noqa: BLE001 - reported when the claim itself runs
            continue
    cuda = str(pick_device(device)).startswith("cuda")
    engine = TimedEngine(make_backend("local", 1 if cuda and not workers else workers), largest_first)
    if not cuda:  # a GPU is one device: its measurements stay in this process, after the pool
        seeds = {cid: list(range(CLAIMS.get(cid).seeds[mode])) for cid in planned}
        engine.extra = [MeasureUnit(cid, Context(mode, seeds[cid], Path(out), store)) for cid in planned
                        if CLAIMS.get(cid).measure is not None]
    tasks = [t for ts in planned.values() for t in ts]
    if not tasks and not engine.extra:
        return planned, engine

    def emit(kind: str, **info: Any) -> None:
        if progress and kind in ("plan", "row"):
            progress("train", "", info.get("done", info.get("reused", 0)), info["total"])

    with Store(store) as db:
        train_pending(tasks, db, engine, True, emit)
    return planned, engine


def not_run_record(claim: Any, reason: str, fix: str) -> dict[str, Any]:
    return {"id": claim.id, "claim": claim.claim, "status": NOT_RUN, "verdict": NOT_RUN, "key": reason,
            "reason": reason, "fix": fix, "rule": "", "evidence": None}


def run(only: str | list[str] | None = None, mode: Mode = "quick", store: str | Path | None = None,
        out: str | Path = DEFAULT_OUT, workers: int | None = None, device: str = "auto",
        progress: Callable[[str, str, int, int], None] | None = None, debug: bool = False) -> dict[str, Any]:
    """Run the claims and write the report; returns ``{"claims": [...], "not_run": [...], "report": path, ...}``.

    A claim whose experiment cannot run here (a missing font or optional package, say) is reported as "could
    not run", with the reason and the fix; the others still run and get their verdicts.
    """
    from .. import __version__
    from ..compare.store import DEFAULT_STORE
    from .report import render
    from .timing import claim_costs

    ids = select(only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = Path(store or DEFAULT_STORE)
    start = time.perf_counter()
    blocked = preflight(ids)
    try:
        planned, engine = train_all([i for i in ids if i not in blocked], mode, store, workers, device, progress,
                                    out)
    except Exception:  # noqa: BLE001 - a failed run in the pool: each claim then trains its own and reports it
        if debug:
            raise
        planned, engine = {}, None
    trained_at = time.perf_counter()
    costs = claim_costs(planned, engine.seconds if engine is not None else {})
    measured = engine.measured if engine is not None else {}
    for cid, done in measured.items():  # measurements taken in the pool: the claim's pool work too
        costs[cid].update(measure_worker_seconds=done["wall"], measure_cpu_seconds=done["cpu"])
    results, figures = [], {}
    for i, cid in enumerate(ids):
        claim = CLAIMS.get(cid)
        if progress:
            progress("start", cid, i, len(ids))
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            if cid in blocked:
                raise blocked[cid]
            done = measured.get(cid, {})
            if "failed" in done:
                raise done["failed"]
            res = run_claim(claim, mode, store, out, workers=workers, device=device, measured=done.get("measured"))
            record = res.to_json()
            figures[cid] = res.figures
        except Exception as e:  # noqa: BLE001 - one claim that cannot run must not cost the others their verdicts
            if debug and not isinstance(e, BlobError):
                raise
            record = not_run_record(claim, *reason_and_fix(cid, e))
        record["experiment"] = claim.experiment
        record["seconds"] = seconds_record(costs.get(cid), time.perf_counter() - t0, time.process_time() - c0)
        results.append(record)
        if progress:
            progress("done", cid, i + 1, len(ids))
    meta = {"mode": mode, "seconds": time.perf_counter() - start, "train_pool_seconds": trained_at - start,
            "version": __version__, "store": str(store), **glyph_font()}
    html_path, md_path = render(results, figures, out, meta)
    return {"claims": results, "not_run": [r for r in results if r["status"] == NOT_RUN], "report": str(html_path),
            "markdown": str(md_path), "meta": meta}


def seconds_record(cost: dict[str, Any] | None, own_wall: float, own_cpu: float) -> dict[str, Any]:
    """A claim's time: its share of the pool's training and its measurements in the pool (worker seconds: one
    worker's wall time; and CPU seconds), its own step after the pool (verdict, figures: wall and CPU), and the
    sums."""
    cost = {"runs": 0, "trained": 0, "shared": 0, "train_worker_seconds": 0.0, "train_cpu_seconds": 0.0,
            "measure_worker_seconds": 0.0, "measure_cpu_seconds": 0.0, **(cost or {})}
    return {**cost, "own_seconds": own_wall, "own_cpu_seconds": own_cpu,
            "total": cost["train_worker_seconds"] + cost["measure_worker_seconds"] + own_wall,
            "total_cpu": cost["train_cpu_seconds"] + cost["measure_cpu_seconds"] + own_cpu}


def glyph_font() -> dict[str, Any]:
    """The font the glyph models draw with on this machine (the report names it: glyphs differ between fonts)."""
    from ..data.glyphs import find_cjk_font

    try:
        return {"glyph_font": find_cjk_font().describe()}
    except BlobError:
        return {"glyph_font": None}
