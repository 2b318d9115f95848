"""Run the claims suite: every claim (or a subset) through one store, then one report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..errors import BlobError
from .base import CLAIMS, Mode, run_claim

DEFAULT_OUT = Path("blobbotronic-out") / "claims"


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


def train_all(ids: list[str], mode: Mode, store: Path, workers: int | None, device: str,
              progress: Callable[[str, str, int, int], None] | None = None) -> None:
    """Train every selected claim's missing runs in one pool of workers, longest groups first.

    Claim by claim, each arm's few seeds left a worker idle and paid for a pool of its own; one pool over the
    whole suite keeps every core busy. Each run is stored as it finishes, so an interrupted suite resumes, and
    the claims then find all their runs in the store. A claim that cannot even be planned (a missing optional
    package, say) is left to its own turn below, which reports the error.
    """
    from ..compare.runner import make_backend, train_pending
    from ..compare.store import Store
    from ..train.loop import pick_device
    from .base import plan_claim

    tasks = []
    for cid in ids:
        try:
            tasks += plan_claim(CLAIMS.get(cid), mode, store, device)
        except Exception:  # reported when the claim itself runs
            continue
    if not tasks:
        return
    cuda = str(pick_device(device)).startswith("cuda")
    engine = make_backend("local", 1 if cuda and not workers else workers)

    def emit(kind: str, **info: Any) -> None:
        if progress and kind in ("plan", "row"):
            progress("train", "", info.get("done", info.get("reused", 0)), info["total"])

    with Store(store) as db:
        train_pending(tasks, db, engine, True, emit)


def run(only: str | list[str] | None = None, mode: Mode = "quick", store: str | Path | None = None,
        out: str | Path = DEFAULT_OUT, workers: int | None = None, device: str = "auto",
        progress: Callable[[str, str, int, int], None] | None = None, debug: bool = False) -> dict[str, Any]:
    """Run the claims and write the report; returns ``{"claims": [...], "report": path, "markdown": path}``.

    A claim whose experiment cannot run here (a missing optional package, say) is reported with its
    error and the verdict "error"; the others still run.
    """
    from .. import __version__
    from ..compare.store import DEFAULT_STORE
    from .report import render

    ids = select(only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = Path(store or DEFAULT_STORE)
    start = time.perf_counter()
    train_all(ids, mode, store, workers, device, progress)
    results, figures = [], {}
    for i, cid in enumerate(ids):
        claim = CLAIMS.get(cid)
        if progress:
            progress("start", cid, i, len(ids))
        t0 = time.perf_counter()
        try:
            res = run_claim(claim, mode, store, out, workers=workers, device=device)
            record = res.to_json()
            figures[cid] = res.figures
        except Exception as e:  # one broken claim must not cost the others their results
            if not isinstance(e, BlobError) and debug:
                raise
            text = str(e) if isinstance(e, BlobError) else f"{type(e).__name__}: {e} (a bug: please report it)"
            record = {"id": cid, "claim": claim.claim, "verdict": "error", "key": "not run: " + text.split(". ")[0],
                      "rule": "", "evidence": None, "error": text}
        record["experiment"] = claim.experiment
        record["seconds"] = time.perf_counter() - t0
        results.append(record)
        if progress:
            progress("done", cid, i + 1, len(ids))
    meta = {"mode": mode, "seconds": time.perf_counter() - start, "version": __version__, "store": str(store)}
    html_path, md_path = render(results, figures, out, meta)
    return {"claims": results, "report": str(html_path), "markdown": str(md_path), "meta": meta}
