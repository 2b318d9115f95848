"""Models: every network family behind one registry; ``create(name, spec, **params)`` builds one."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any

from ..data.spec import Spec
from ..errors import BlobError, IncompatiblePair
from ..registry import Registry

MODELS = Registry("model")

from . import mlp, cnn, rnn, hybrid, attention, text, seq2seq, video  # noqa: E402,F401  (families register on import)
from . import baselines  # noqa: E402,F401  (forecasting baselines: naive, seasonal_naive)
from . import tsc  # noqa: E402,F401  (time-series classifiers: fcn, resnet1d, inception_time, lstm_fcn)
from . import minirocket  # noqa: E402,F401  (random filters, never trained, with a closed-form readout)
from . import minrnn, tcn  # noqa: E402,F401  (temporal convolutions: tcn; parallel-scan RNNs: mingru, minlstm)
from . import crf_tagger  # noqa: E402,F401  (the character-CNN, BiLSTM, CRF entity tagger)
from .base import Model  # noqa: E402

__all__ = ["MODELS", "Model", "create", "params_schema", "resolve_params", "Param"]


@dataclass(frozen=True)
class Param:
    """One constructor parameter: the schema comes from the keyword-only signature, never a copy."""

    name: str
    type: Any
    default: Any
    choices: tuple[Any, ...] = ()

    @property
    def type_name(self) -> str:
        return "choice" if self.choices else getattr(self.type, "__name__", str(self.type))


def params_schema(name: str) -> dict[str, Param]:
    cls = MODELS.get(name)
    hints = typing.get_type_hints(cls.__init__)
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        t = hints.get(p.name, type(p.default))
        choices: tuple[Any, ...] = ()
        if typing.get_origin(t) is typing.Literal:
            choices = typing.get_args(t)
            t = type(choices[0])
        out[p.name] = Param(p.name, t, p.default, choices)
    return out


def _coerce(model: str, p: Param, value: Any) -> Any:
    if p.type is bool and isinstance(value, str):
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise BlobError(f"Model {model!r}: parameter {p.name!r} must be true or false, not {value!r}.")
    try:
        v = p.type(value) if not isinstance(value, p.type) or isinstance(value, bool) != (p.type is bool) else value
    except (TypeError, ValueError):
        raise BlobError(
            f"Model {model!r}: parameter {p.name!r} must be a {p.type_name}, not {value!r} "
            f"(default {p.default!r})."
        ) from None
    if p.type is int and isinstance(value, float) and v != value:
        raise BlobError(f"Model {model!r}: parameter {p.name!r} must be a whole number, not {value!r}.")
    if p.choices and v not in p.choices:
        raise BlobError(
            f"Model {model!r}: parameter {p.name!r} must be one of {', '.join(map(repr, p.choices))}, not {value!r}."
        )
    if p.type in (int, float) and v < 0:
        raise BlobError(f"Model {model!r}: parameter {p.name!r} must not be negative, got {value!r}.")
    return v


def resolve_params(name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every parameter of ``name`` with defaults filled in, validated and converted (CLI strings too)."""
    schema = params_schema(name)
    params = dict(params or {})
    unknown = sorted(set(params) - set(schema))
    if unknown:
        valid = ", ".join(f"{p.name}={p.default!r}" for p in schema.values()) or "none"
        raise BlobError(f"Model {name!r} has no parameter {', '.join(map(repr, unknown))}. Valid parameters: {valid}.")
    return {k: (_coerce(name, p, params[k]) if k in params else p.default) for k, p in schema.items()}


def create(name: str, spec: Spec, **params: Any) -> Model:
    """Build model ``name`` (or a preset: models/presets.py) adapted to ``spec``; unknown names or parameters
    raise BlobError, a modality or task the model cannot handle its subclass IncompatiblePair."""
    if name not in MODELS and name in presets.PRESETS:  # a preset: its model, its parameters under the caller's
        model_name, params, preset = presets.resolve(name, params)
        model = create(model_name, spec, **params)
        model.preset = name
        model.train_defaults = {**model.train_defaults, **preset.optimiser()}
        return model
    entry = MODELS.entry(name)
    accepts = entry.tags.get("accepts", ())
    if spec.modality not in accepts:
        others = ", ".join(MODELS.names(accepts=spec.modality)) or "none"
        raise IncompatiblePair(
            f"Model {name!r} cannot take {spec.modality} data (data set {spec.name!r}); it takes "
            f"{', '.join(accepts)}. Models for {spec.modality} data: {others}."
        )
    tasks = entry.tags.get("tasks", ("classify", "regress", "forecast"))
    if spec.task not in tasks:
        raise IncompatiblePair(f"Model {name!r} cannot do the {spec.task!r} task of {spec.name!r}; "
                               f"it does {', '.join(tasks)}.")
    resolved = resolve_params(name, params)
    model = entry.obj(spec, **resolved)
    model.name = name
    model.params = resolved
    return model


from . import presets  # noqa: E402  (named settings of the models above; needs resolve_params)
