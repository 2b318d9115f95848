"""The memory study in one call: horizons over lags and seeds, memory curves on shared data, trajectories, figures.

``memory_study`` is what ``blobbotronic explain memory`` runs. The memory curves come from models
trained on one data set (``curve_task`` at ``curve_lag``, seed 0, the sweep's budget): the same
settings as that sweep cell, saved as checkpoints under ``out/checkpoints`` so a rerun reuses them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from ..errors import BlobError
from . import figures
from .horizon import (
    DEFAULT_LAGS,
    DEFAULT_MODELS,
    DEFAULT_SEEDS,
    DEFAULT_TASKS,
    TASKS,
    HorizonConfig,
    data_name,
    missing_cells,
    outcomes,
    run_grid,
    stored_rows,
    summarize,
)
from .memory import hidden_trajectories, memory_curve

CURVE_SEQUENCES = 256  # test sequences averaged for each memory curve
CURVE_LAG = 30  # under the default budget the LSTM solves the adding problem here and the vanilla RNN mostly not


def curve_model(task: str, lag: int, model: str, cfg: HorizonConfig, out: Path, seed: int = 0) -> torch.nn.Module:
    """The model behind a memory curve: loaded from ``out/checkpoints`` if trained before, else trained now."""
    from ..data import load
    from ..train import load_checkpoint, save_checkpoint, train

    name = data_name(task, lag, cfg.n)
    folder = out / "checkpoints" / f"{task}-lag{lag}-{model}-seed{seed}"
    if (folder / "config.json").is_file():
        net, saved = load_checkpoint(folder)
        if _same_training(saved.get("horizon_config"), cfg):
            return net
    ds = load(name)
    run = train(ds, model, seed=seed, quiet=True, budget=cfg.budget, **cfg.train_overrides())
    save_checkpoint(run.model, folder, dataset=name, seed=seed, metrics=run.metrics, horizon_config=cfg.to_dict())
    return run.model


def _same_training(saved: dict[str, Any] | None, cfg: HorizonConfig) -> bool:
    """The saved curve model was trained under this budget (the device it ran on does not matter)."""
    mine = {k: v for k, v in cfg.to_dict().items() if k != "device"}
    return saved is not None and {k: v for k, v in saved.items() if k != "device"} == mine


def memory_curves(models: Iterable[str], task: str, lag: int, cfg: HorizonConfig, out: Path,
                  n: int = CURVE_SEQUENCES, progress: Callable[[str], None] | None = None,
                  seed: int = 0) -> dict[str, Any]:
    """Memory curves (integrated gradients and gradient x input) and hidden-state trajectories per model, each
    model trained with ``seed``."""
    from ..data import load
    from ..train import evaluate

    ds = load(data_name(task, lag, cfg.n))
    curves, trajs, metrics, params = {}, {}, {}, {}
    for model in models:
        if progress:
            progress(f"memory curve: {model} on {ds.spec.name}")
        net = curve_model(task, lag, model, cfg, out, seed)
        dev = next(net.parameters()).device
        test = ds.test.to(dev)
        curves[model] = {m: memory_curve(net, test, method=m, n=n)
                         for m in ("integrated_gradients", "gradient_x_input")}
        metrics[model] = evaluate(net, ds.spec, test)
        params[model] = dict(getattr(net, "params", {}))
        if hasattr(net, "run"):
            trajs[model] = hidden_trajectories(net, test.x[:4])
    return {"data": ds.spec.name, "curves": curves, "trajectories": trajs, "metrics": metrics, "params": params}


def findings(result: dict[str, Any]) -> list[str]:
    """What the measurements show, in sentences built only from the numbers."""
    s, out = result["summary"], []
    for task in result["tasks"]:
        parts = []
        for model in result["models"]:
            lag = s["horizons"].get(model, {}).get(task)
            seeds = s["per_seed"].get(model, {}).get(task, {})
            ci = s["intervals"].get(model, {}).get(task)
            if lag is not None:
                parts.append(f"{model} {lag} (seeds {', '.join(str(seeds[k]) for k in sorted(seeds))}"
                             + (f"; 95% bootstrap {ci[0]}-{ci[1]})" if ci else ")"))
        out.append(f"Largest solved lag on {task.replace('_', ' ')}: " + "; ".join(parts) + ".")
        top = max(result["lags"], default=0)
        capped = [m for m in result["models"] if top and s["horizons"].get(m, {}).get(task) == top]
        if capped:
            out.append(f"On {task.replace('_', ' ')} {', '.join(capped)} solved the longest lag tried ({top}): "
                       "that horizon is a lower bound; longer lags (--lags) would find where it ends.")
    gaps: dict[tuple[str, str], list[str]] = {}
    for cell in result.get("missing", []):
        gaps.setdefault((cell["model"], cell["task"]), []).append(f"{cell['lag']} ({cell['runs']}/{result['seeds']})")
    for (model, task), lags in gaps.items():
        out.append(f"Not measured: {model} on {task.replace('_', ' ')} at lag {', '.join(lags)} (seeds run/asked); "
                   "its horizon counts only the lags measured.")
    out += stale_parameters(result["runs"], result["models"])
    curve_models = [{"model": m, "params": p} for m, p in result.get("curve_params", {}).items()]
    out += stale_parameters(curve_models, result["models"], what="memory-curve model was")
    h = s["horizons"]
    for task in result["tasks"]:
        if "rnn" in h and "lstm" in h and task in h["rnn"] and task in h["lstm"]:
            a, b = h["rnn"][task], h["lstm"][task]
            verdict = "smaller than" if a < b else "equal to" if a == b else "larger than"
            out.append(f"On {task.replace('_', ' ')} the vanilla RNN's largest solved lag ({a}) is {verdict} "
                       f"the LSTM's ({b}).")
    shares = result.get("last_quarter_share", {})
    if shares:
        lag = result.get("curve_lag")
        even = max(1, lag // 4) / lag if lag else 0.25
        out.append(f"Share of attribution on the last quarter of positions ({result.get('curve_data')}; "
                   f"a model reading every position alike gives {even:.2f}): "
                   + ", ".join(f"{m} {v:.2f}" for m, v in shares.items())
                   + f". Test scores of these models at lag {lag}: "
                   + ", ".join(f"{m} {_score(v)}" for m, v in result.get("curve_metrics", {}).items()) + ".")
    return out


def stale_parameters(results: list[dict[str, Any]], models: Iterable[str], what: str = "runs were") -> list[str]:
    """Sentences naming the parameters with which stored runs differ from each model's defaults today."""
    from ..models import resolve_params

    out = []
    for model in models:
        now = resolve_params(model, {})
        keys, values = set(), set()
        for r in results:
            if r["model"] == model and r.get("params"):
                changed = {k for k in now if k in r["params"] and r["params"][k] != now[k]}
                keys |= changed
                values |= {f"{k}={r['params'][k]!r}" for k in changed}
        if keys:
            today = ", ".join(f"{k}={now[k]!r}" for k in sorted(keys))
            out.append(f"{model}'s {what} trained with {', '.join(sorted(values))}; its default is now {today}.")
    return out


def _score(metrics: dict[str, float]) -> str:
    if "accuracy" in metrics:
        return f"accuracy {metrics['accuracy']:.3f}"
    return f"MSE {metrics.get('loss', float('nan')):.3f}"


def memory_study(models: Iterable[str] = DEFAULT_MODELS, tasks: Iterable[str] = DEFAULT_TASKS,
                 lags: Iterable[int] = DEFAULT_LAGS, seeds: int = DEFAULT_SEEDS, cfg: HorizonConfig | None = None,
                 out: str | Path = "blobbotronic-out/explain-memory", *, workers: int | None = 1,
                 store: str | Path | None = None, curve_task: str = "adding", curve_lag: int = CURVE_LAG,
                 curves: bool = True, stored_only: bool = False,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the sweep, summarise horizons, draw memory curves and trajectories; returns numbers and figure paths.

    ``stored_only`` summarises the runs already in the store and trains none for the sweep (cells
    that were never run are listed under "missing").
    """
    models, tasks, lags = list(models), list(tasks), list(lags)
    cfg = cfg or HorizonConfig()
    if curve_task not in TASKS:
        raise BlobError(f"Unknown curve task {curve_task!r}; valid: {', '.join(TASKS)}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def event(kind: str, **info: Any) -> None:
        if progress and kind == "row":
            r = info["row"]
            progress(f"[{info['done']}/{info['total']}] {r['model']} on {r['dataset']} seed {r['seed']}: "
                     + ", ".join(f"{k} {v:.3f}" for k, v in r["metrics"].items() if k in ("loss", "accuracy")))
        elif progress and kind == "plan":
            progress(f"{info['total']} runs planned, {info['reused']} already in the store")

    if stored_only:
        rows = stored_rows(tasks, lags, models, seeds, cfg, store)
    else:
        rows = run_grid(tasks, lags, models, seeds, cfg, workers=workers, store=store, on_event=event)
    results = sorted(outcomes(rows), key=lambda r: (r["task"], r["model"], r["lag"], r["seed"]))
    if not results:
        raise BlobError("No runs of this memory sweep are in the store yet: run it without --stored-only first.")
    summary = summarize(results)
    result: dict[str, Any] = {"models": models, "tasks": tasks, "lags": lags, "seeds": seeds, "config": cfg.to_dict(),
                              "summary": summary, "horizons": summary["horizons"], "runs": results,
                              "missing": missing_cells(results, tasks, lags, models, seeds), "figures": []}
    result["figures"].append(str(figures.horizon_figure(summary["rates"], out / "memory-horizon.png",
                                                         summary["criteria"], models)))
    if curves:
        mc = memory_curves(models, curve_task, curve_lag, cfg, out, progress=progress)
        ig = {m: c["integrated_gradients"] for m, c in mc["curves"].items()}
        result.update({
            "curve_data": mc["data"], "curve_task": curve_task, "curve_lag": curve_lag,
            "curve_metrics": mc["metrics"], "curve_params": mc["params"],
            "curves": {m: [float(v) for v in c.shares] for m, c in ig.items()},
            "curves_gradient_x_input": {m: [float(v) for v in c["gradient_x_input"].shares]
                                        for m, c in mc["curves"].items()},
            "last_quarter_share": {m: c.last_quarter for m, c in ig.items()},
            "last_quarter_share_gradient_x_input": {m: c["gradient_x_input"].last_quarter
                                                    for m, c in mc["curves"].items()},
        })
        drawn = {m: {k: v.shares for k, v in c.items()} for m, c in mc["curves"].items()}
        result["figures"].append(str(figures.memory_curves_figure(
            drawn, out / "memory-curves.png", shares=result["last_quarter_share"],
            title=f"Share of attribution per input position, {mc['data']} (last quarter shaded)")))
        if mc["trajectories"]:
            result["figures"].append(str(figures.trajectories_figure(
                mc["trajectories"], out / "hidden-states.png",
                title=f"Hidden-state trajectories of 4 test sequences, {mc['data']}")))
    result["findings"] = findings(result)
    return result
