"""The Python API in one place: everything the command line does, a notebook can do in one call."""

from __future__ import annotations

from typing import Any

from .data import DATASETS, Dataset, Spec, load
from .models import MODELS, Model, create, params_schema
from .train import Budget, Checkpoint, Run, TrainConfig, fit, load_checkpoint, save_checkpoint, train


def create_model(name: str, spec: Spec, **params: Any) -> Model:
    """Build model ``name`` adapted to a data set's Spec (``load(...).spec``)."""
    return create(name, spec, **params)


def list_models(modality: str | None = None) -> list[str]:
    """Registered model names, or those that accept ``modality``."""
    return MODELS.names(accepts=modality) if modality else list(MODELS)


def list_datasets() -> list[str]:
    return list(DATASETS)


def compare(datasets: Any, models: Any = None, seeds: int = 3, **options: Any) -> Any:
    """Every model on every data set for every seed under one budget, stored and summarised; ``.report(dir)``
    writes the HTML report. ``datasets`` may be a whole ``CompareConfig`` (then only ``on_event`` may follow);
    otherwise the keywords are its fields, and any other keyword a training setting (see
    ``blobbotronic.compare.runner``: ``plan_compare`` and ``run_compare`` are the two steps apart)."""
    from .compare.runner import CompareConfig, check_store, plan_compare, run_compare
    from .compare.runner import compare as run

    if isinstance(datasets, CompareConfig):
        check_store(datasets.store)  # before any data set is loaded
        return run_compare(plan_compare(datasets), **options)
    return run(datasets, models, seeds=seeds, **options)


def explain(model: Model, x: Any, lengths: Any = None, *, out: str = "blobbotronic-out/explain", **options: Any) -> Any:
    """Every explainer that applies to ``model`` (filters, feature maps, Grad-CAM, saliency, memory curve)
    on inputs ``x``, with figures written under ``out`` (see ``blobbotronic.explain.explain_model``)."""
    from .explain import explain_model

    return explain_model(model, x, lengths, out=out, **options)


def claims(only: Any = None, mode: str = "quick", **options: Any) -> dict:
    """Run the primer's claims and write their report (see ``blobbotronic.claims.suite.run``)."""
    from .claims.suite import run

    return run(only, mode, **options)


__all__ = ["Budget", "Checkpoint", "Dataset", "Model", "Run", "Spec", "TrainConfig", "claims", "compare",
           "create_model", "explain", "fit", "list_datasets", "list_models", "load", "load_checkpoint", "params_schema",
           "save_checkpoint", "train"]
