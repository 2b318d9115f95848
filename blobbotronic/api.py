"""The Python API in one place: everything the command line does, a notebook can do in one call."""

from __future__ import annotations

from typing import Any

from .data import DATASETS, Dataset, Spec, load
from .models import MODELS, Model, create, params_schema
from .train import Budget, Run, TrainConfig, fit, load_checkpoint, save_checkpoint, train


def create_model(name: str, spec: Spec, **params: Any) -> Model:
    """Build model ``name`` adapted to a data set's Spec (``load(...).spec``)."""
    return create(name, spec, **params)


def list_models(modality: str | None = None) -> list[str]:
    """Registered model names, or those that accept ``modality``."""
    return MODELS.names(accepts=modality) if modality else list(MODELS)


def list_datasets() -> list[str]:
    return list(DATASETS)


__all__ = ["Budget", "Dataset", "Model", "Run", "Spec", "TrainConfig", "create_model", "fit", "list_datasets",
           "list_models", "load", "load_checkpoint", "params_schema", "save_checkpoint", "train"]
