"""Experiment config files for ``compare --config``: YAML or TOML, checked key by key, saved resolved.

An experiment file describes a comparison grid::

    data: [mnist1d, adding:lag=50]     # built-in names, files or folders (a list or one string)
    models: [cnn, lstm]                # names, or a mapping name -> parameters
    params: {cnn: {width: 16}}         # model parameters (merged over those in models)
    seeds: 3                           # 0..N-1, or a list of seeds
    budget: 2000 steps                 # the same for every model (default: each data set's own)
    train: {lr: 0.003, batch_size: 50} # TrainConfig settings for every run
    skip_bad: false                    # true: leave unreadable files of image/clip folders out (--skip-bad)
    tune: 0                            # Optuna trials per (data set, model)
    backend: local                     # and workers, device, store, out, log, log_dir

An unknown key or a wrong type is a BlobError naming the file, the key path (and, for YAML, the line)
and the valid keys. After the grid has run, the resolved experiment (every model parameter with its
default filled in, the seeds spelled out, each data set's training settings) is written beside the report
as ``resolved-config.yaml``; it is itself a valid config file that reruns the same grid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from .errors import BlobError

# key -> (what it must be, help). Types: "names" a list of strings or one comma-separated string.
KEYS: dict[str, tuple[str, str]] = {
    "name": ("str", "a name for the experiment"),
    "data": ("names", "data sets: built-in names, files or folders"),
    "models": ("models", "model names, or a mapping name -> parameters"),
    "params": ("mapping", "model name -> parameters"),
    "seeds": ("seeds", "how many seeds (0..N-1) or a list of seeds"),
    "budget": ("budget", "'2000 steps', '30 epochs' or '60s'"),
    "train": ("mapping", "training settings for every run (see TRAIN_KEYS)"),
    "data_options": ("mapping", "options for reading every data set (as --data-option KEY=VALUE)"),
    "tune": ("int", "Optuna trials per data set and model"),
    "backend": ("str", "local or ray"),
    "workers": ("int", "parallel runs"),
    "device": ("str", "auto, cpu, cuda or cuda:N"),
    "store": ("str", "results file"),
    "out": ("str", "report folder"),
    "log": ("str", "tensorboard or mlflow"),
    "log_dir": ("str", "where experiment logs go"),
    "skip_bad": ("bool", "leave unreadable files of image or clip folders out, counted in the report"),
    "provenance": ("mapping", "written by blobbotronic into resolved configs; ignored when read"),
}
TRAIN_KEYS = ("batch_size", "lr", "weight_decay", "schedule", "warmup", "clip", "adversarial", "pretrain", "average",
              "eval_every", "patience", "amp", "threads", "compile", "channels_last")
RESOLVED = "resolved-config.yaml"


@dataclasses.dataclass
class Experiment:
    """A checked experiment file: compare()'s arguments, and where they came from."""

    path: Path
    values: dict[str, Any]  # only the keys the file gave, checked and normalised
    text: str

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def model_params(self) -> dict[str, dict[str, Any]]:
        return {m: dict(p) for m, p in self.values.get("params", {}).items() if p}


def read(path: str | Path) -> Experiment:
    """Parse and check a YAML (.yaml, .yml) or TOML (.toml) experiment file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BlobError(f"{path}: cannot read the config file ({e.strerror or e}).") from None
    except UnicodeDecodeError:
        raise BlobError(f"{path}: the config file is not UTF-8 text.") from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        raw, lines = _yaml(path, text)
    elif suffix == ".toml":
        raw, lines = _toml(path, text), {}
    else:
        raise BlobError(f"{path}: config files are YAML (.yaml, .yml) or TOML (.toml), not {suffix or 'no suffix'}.")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BlobError(f"{path}: the config must be a mapping of keys ({', '.join(KEYS)}), not a {_kind(raw)}.")
    return Experiment(path, check(raw, path, lines), text)


def _yaml(path: Path, text: str) -> tuple[Any, dict[tuple, int]]:
    try:
        import yaml
    except ImportError:
        raise BlobError(f"{path}: reading YAML needs the Python package 'pyyaml': pip install pyyaml "
                        "(or write the config as TOML).") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BlobError(f"{path}{at}: not valid YAML ({getattr(e, 'problem', None) or e}).") from None
    lines: dict[tuple, int] = {}

    def walk(n: Any, key: tuple) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                lines[(*key, k.value)] = k.start_mark.line + 1
                walk(v, (*key, k.value))

    walk(node, ())
    return data, lines


def _toml(path: Path, text: str) -> Any:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise BlobError(f"{path}: reading TOML on Python 3.10 needs 'tomli': pip install tomli.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BlobError(f"{path}: not valid TOML ({e}).") from None


# ---- checking ------------------------------------------------------------------------------------


def _kind(v: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "true/false", int: "number", float: "number",
            type(None): "empty value"}.get(type(v), type(v).__name__)


def check(raw: dict[str, Any], path: Path, lines: dict[tuple, int] | None = None) -> dict[str, Any]:
    """Every key known and of the right type; model names and parameters checked against the registry."""
    lines = lines or {}

    def fail(key: tuple, message: str) -> BlobError:
        line = lines.get(key)
        return BlobError(f"{path}{f', line {line}' if line else ''}, key {'.'.join(map(str, key))}: {message}")

    unknown = [k for k in raw if k not in KEYS]
    if unknown:
        import difflib

        close = difflib.get_close_matches(str(unknown[0]), list(KEYS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise fail((unknown[0],), f"unknown key.{hint} Valid keys: {', '.join(KEYS)}.")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = KEYS[key][0]
        out[key] = _check_value(key, kind, value, fail)
    models = out.get("models", {})
    params = {m: dict(p) for m, p in models.items()}
    for model, p in out.get("params", {}).items():
        if models and model not in models:
            raise fail(("params", model), f"{model!r} is not among the models ({', '.join(models)}).")
        params.setdefault(model, {}).update(p)
    for model, p in params.items():
        _check_model(model, p, ("params", model) if model in out.get("params", {}) else ("models", model), fail)
    if "models" in out or "params" in out:
        out["params"] = params
        out["models"] = list(models) or list(params)
    for k in out.get("train", {}):
        if k not in TRAIN_KEYS:
            raise fail(("train", k), f"unknown training setting. Valid: {', '.join(TRAIN_KEYS)}.")
    if "budget" in out:
        from .train.budget import Budget

        try:
            out["budget"] = str(Budget.parse(out["budget"]))
        except BlobError as e:
            raise fail(("budget",), str(e)) from None
    if "log" in out and out["log"] not in ("tensorboard", "mlflow"):
        raise fail(("log",), f"{out['log']!r} is not a log; use tensorboard or mlflow.")
    out.pop("provenance", None)
    return out


def _check_value(key: str, kind: str, value: Any, fail: Any) -> Any:
    where = (key,)
    if kind == "names":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(v, str) and v.strip() for v in items):
            raise fail(where, f"must be a list of names (or one comma-separated string), not {_kind(value)} {value!r}.")
        return [v.strip() for v in items]
    if kind == "models":
        if isinstance(value, (str, list)):
            return {name: {} for name in _check_value(key, "names", value, fail)}
        if isinstance(value, dict):
            for name, p in value.items():
                if p is not None and not isinstance(p, dict):
                    raise fail((key, name), f"must be a mapping of parameters (or empty), not {_kind(p)} {p!r}.")
            return {str(name): dict(p or {}) for name, p in value.items()}
        raise fail(where, f"must be a list of model names or a mapping name -> parameters, not {_kind(value)}.")
    if kind == "mapping":
        if not isinstance(value, dict):
            raise fail(where, f"must be a mapping, not {_kind(value)} {value!r}.")
        if key == "params":
            for name, p in value.items():
                if not isinstance(p, dict):
                    raise fail((key, name), f"must be a mapping of parameters, not {_kind(p)} {p!r}.")
        return value
    if kind == "seeds":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return list(range(value))
        if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) for s in value):
            return value
        raise fail(where, f"must be a positive number of seeds or a list of whole numbers, not {value!r}.")
    if kind == "budget":
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return value
        raise fail(where, f"must be text such as '2000 steps', not {_kind(value)}.")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise fail(where, f"must be true or false, not {value!r}.")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise fail(where, f"must be a whole number of at least 0, not {value!r}.")
    if not isinstance(value, str):
        raise fail(where, f"must be text, not {_kind(value)} {value!r}.")
    return value


def _check_model(model: str, params: dict[str, Any], where: tuple, fail: Any) -> None:
    from .models import MODELS, resolve_params

    if model not in MODELS:
        raise fail(where, MODELS.unknown_message(model))
    try:
        resolve_params(model, params)
    except BlobError as e:
        raise fail(where, str(e)) from None


# ---- saving the resolved experiment --------------------------------------------------------------


def resolved(exp: Experiment, rows: list[dict[str, Any]], used: dict[str, Any]) -> dict[str, Any]:
    """The experiment as it ran: ``used`` (compare's arguments), every model parameter as resolved in the
    runs, and provenance (source file and its hash, versions, per-data-set training settings)."""
    import platform

    import torch

    from . import __version__

    params: dict[str, dict[str, Any]] = {}
    settings: dict[str, dict[str, Any]] = {}
    for r in rows:
        if not r.get("tuned"):
            params.setdefault(r["model"], r.get("params") or {})
        settings.setdefault(r["dataset"], {})[r["model"]] = {k: v for k, v in (r.get("config") or {}).items()
                                                             if k != "seed"}
    out = {"name": exp.get("name"), **used}
    out = {k: v for k, v in out.items() if v is not None and v != {} and k in KEYS}
    out["models"] = {m: params.get(m, exp.model_params.get(m, {})) for m in used.get("models", [])}
    out.pop("params", None)
    out["provenance"] = {
        "config": str(exp.path), "sha256": hashlib.sha256(exp.text.encode()).hexdigest(),
        "blobbotronic": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "training": settings,
    }
    return out


def save_resolved(exp: Experiment, folder: str | Path, rows: list[dict[str, Any]], used: dict[str, Any]) -> Path:
    """Write ``resolved-config.yaml`` into the report folder (JSON text, itself valid YAML, without pyyaml)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = json.loads(json.dumps(resolved(exp, rows, used), default=str))
    try:
        import yaml

        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except ImportError:
        text = json.dumps(data, indent=2)
    head = (f"# The experiment of {exp.path} as it ran; rerun it with: "
            f"blobbotronic compare --config {folder / RESOLVED}\n")
    target = folder / RESOLVED
    target.write_text(head + text, encoding="utf-8")
    return target


# ---- the compare command -------------------------------------------------------------------------

# config key -> the compare flag's attribute; a flag left at its default takes the file's value.
FLAGS = {"data": "data", "models": "models", "seeds": "seeds", "budget": "budget", "tune": "tune",
         "backend": "backend", "workers": "workers", "device": "device", "store": "store", "out": "out",
         "log": "log", "log_dir": "log_dir", "skip_bad": "skip_bad"}


def remember_defaults(parser: Any) -> None:
    """Record a sub-parser's flag defaults, so that ``apply`` can tell flags given on the command line."""
    parser.set_defaults(flag_defaults={a.dest: a.default for a in parser._actions})


def apply(args: Any) -> Experiment | None:
    """Fill compare's flags from ``--config FILE``; flags given on the command line win. Model parameters
    from the file go before ``--param`` ones, training settings to ``args.train_settings``."""
    args.train_settings = {}
    if not getattr(args, "config", None):
        if not args.data:
            raise BlobError("compare needs --data (and optionally --models; without them the default set for the "
                            "data runs), or an experiment file: --config experiment.yaml.")
        return None
    exp = read(args.config)
    defaults = getattr(args, "flag_defaults", {})
    for key, dest in FLAGS.items():
        if key in exp.values and hasattr(args, dest) and getattr(args, dest) == defaults.get(dest):
            value = exp.values[key]
            setattr(args, dest, ",".join(value) if key in ("data", "models") else value)
    if not args.data or not args.models:
        raise BlobError(f"{exp.path}: an experiment needs data and models (keys data and models, or --data/--models).")
    chosen = {m.strip() for m in str(args.models).split(",")}  # --models may have narrowed the file's list
    pairs = [f"{m}.{k}={_flag_text(v)}" for m, p in exp.model_params.items() if m in chosen for k, v in p.items()]
    args.param = pairs + list(args.param or [])
    args.train_settings = dict(exp.get("train", {}))
    if exp.get("data_options") and not getattr(args, "data_option", None):
        args.data_option = [f"{k}={_flag_text(v)}" for k, v in exp.get("data_options").items()]
    return exp


def _flag_text(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def used(args: Any, models: list[str]) -> dict[str, Any]:
    """compare's effective arguments, in config keys, for the resolved file."""
    seeds = list(range(args.seeds)) if isinstance(args.seeds, int) else list(args.seeds)
    data = [d.strip() for d in str(args.data).split(",") if d.strip()]
    options = dict(pair.split("=", 1) for pair in getattr(args, "data_option", None) or [] if "=" in pair)
    out = {"data": data, "models": models, "seeds": seeds, "budget": args.budget, "train": args.train_settings,
           "tune": args.tune, **({"data_options": options} if options else {})}
    return {**out, **{k: getattr(args, v, None) for k, v in FLAGS.items() if k not in out}}


__all__ = ["KEYS", "TRAIN_KEYS", "Experiment", "apply", "check", "read", "remember_defaults", "save_resolved", "used"]
