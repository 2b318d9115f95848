"""How a file, folder or built-in data set is read, before any training: the ``inspect`` command's report.

``describe(source, seed, options)`` loads the source exactly as ``train`` would (same loader, options and
seed) and reports what came out: modality and task, the columns with the types they were read as (tables),
channels, steps, frames or tokens, the input shape, the classes with their counts in each split (or the
targets' range), the split sizes and where the split came from (the source's own test set, a loader's rule,
or a random split with its seed), the lengths of variable-length data, anything dropped or filled, and the
``--data-option`` settings this kind of source accepts, with the value each took.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import torch

SPLITS = ("train", "val", "test")

# What each --data-option does, by name; the loaders declare which they take (see ``declared_options``).
OPTION_ABOUT = {
    "label": "the column (or field) to predict",
    "task": "classify or regress (default: from the labels)",
    "text": "the column of free text: the file is read for text classification (text=none keeps it a table)",
    "tokenizer": "how texts are cut into tokens: char, word or cjk",
    "min_freq": "tokens seen fewer times in training are read as unknown",
    "max_len": "tokens kept per text (longer texts are cut)",
    "dedupe": "drop repeated texts, and texts given conflicting labels",
    "modality": "what x holds: table, sequence, image, video or text (default: from its dimensions)",
    "size": "images (frames) are resized to this side, or HxW",
    "grey": "read images as greyscale (true) or RGB (false)",
    "image": "the column of images",
    "skip_bad": "skip unreadable files in the folder, and count them",
    "frames": "frames taken from each clip",
    "stride": "take every N-th frame from the start instead of spreading the frames over the clip",
    "stream": "read decoded clips from disk instead of holding them in memory",
    "cache": "decoded clips kept in memory while streaming",
    "test": "the test file (default: NAME_TEST beside NAME_TRAIN; none ignores it)",
    "val_fraction": "share of the training series held out for validation when there is a test file",
    "target": "the column to forecast",
    "date": "the column that orders the rows in time",
    "window": "past values the model sees",
    "horizon": "future values it forecasts",
    "season": "the season length, for the seasonal-naive baseline",
    "level": "give the model the series' level as a second channel, besides its changes",
    "lower": "lower-case the tokens",
    "token_col": "the column of tokens",
    "tag_col": "the column of tags",
}


def describe(source: str | Path, seed: int = 0, options: dict[str, Any] | None = None,
             skip_bad: bool = False) -> dict[str, Any]:
    """How ``train --data SOURCE`` (with these options and seed) reads the source, as one JSON-able dict."""
    from .data.bad_files import load_data, reads_file_by_file, skipped_info

    options = dict(options or {})
    if skip_bad and reads_file_by_file(source):
        options["skip_bad"] = True
    ds = load_data(source, seed=seed, skip_bad=skip_bad, options=options)
    spec = ds.spec
    return {
        "source": str(source),
        "name": spec.name,
        "builtin": _builtin(source) is not None,
        "modality": spec.modality,
        "task": spec.task,
        "input_shape": list(spec.input_shape),
        "outputs": spec.n_outputs,
        "layout": layout(ds),
        "splits": ds.sizes(),
        "split": split_origin(ds, seed, builtin=_builtin(source) is not None),
        "classes": class_counts(ds),
        "targets": target_ranges(ds),
        "lengths": lengths(ds),
        "options": option_rows(source, ds, options),
        "other_readings": other_readings(source, ds),
        "notes": notes(ds, skipped_info(ds)),
    }


# ---- what the inputs are ------------------------------------------------------------------------------


def layout(ds) -> dict[str, Any]:
    """Columns and their types (tables), or channels, steps, frames, pixels or tokens."""
    spec, extra = ds.spec, ds.spec.extra
    shape = spec.input_shape
    if spec.modality == "table":
        return {"features": shape[0], "columns": table_columns(ds)}
    if spec.modality == "sequence":
        out: dict[str, Any] = {"steps": shape[0], "channels": shape[1]}
        if extra.get("inputs"):  # forecasting: what each channel is
            out["channel_names"] = list(extra["inputs"])
        return out
    if spec.modality == "image":
        return {"channels": shape[0], "colour": "grey" if shape[0] == 1 else "RGB", "height": shape[1],
                "width": shape[2]}
    if spec.modality == "video":
        return {"frames": shape[0], "channels": shape[1], "colour": "grey" if shape[1] == 1 else "RGB",
                "height": shape[2], "width": shape[3]}
    out = {"tokens": shape[0], "vocabulary": spec.vocab_size, "tokenizer": extra.get("tokenizer")}
    for key in ("text_column", "label_column"):
        if extra.get(key):
            out[key] = extra[key]
    return out


def table_columns(ds) -> list[dict[str, Any]]:
    """Each column of a table as it was read: numeric (median-filled), categorical (one-hot), dropped, label."""
    extra, meta = ds.spec.extra, ds.meta
    missing = meta.get("missing_by_column") or {}
    if "columns" not in extra:  # a built-in table or arrays: numeric features only
        return [{"name": f, "type": "numeric"} for f in extra.get("features", [])]
    rows = []
    for name in extra["columns"]:
        if name in extra.get("categories", {}):
            values = extra["categories"][name]
            row = {"name": name, "type": "categorical", "values": values, "features": len(values)}
        else:
            row = {"name": name, "type": "numeric", "median": extra.get("medians", {}).get(name)}
        if missing.get(name):
            row["missing"] = int(missing[name])
        rows.append(row)
    rows += [{"name": name, "type": "dropped", "why": "no values in the training rows, or too many distinct texts "
              "to be categories"} for name in extra.get("dropped", [])]
    if extra.get("label"):
        kind = f"label ({len(ds.spec.classes)} classes)" if ds.spec.task == "classify" else "label (numeric target)"
        rows.append({"name": extra["label"], "type": kind})
    return rows


# ---- targets and splits ---------------------------------------------------------------------------------


def class_counts(ds) -> list[dict[str, Any]] | None:
    """Examples of each class in each split (classification); None for other tasks."""
    spec = ds.spec
    if spec.task != "classify":
        return None
    counts = {s: torch.bincount(getattr(ds, s).y.long().flatten(), minlength=spec.n_outputs).tolist() for s in SPLITS}
    return [{"class": c, **{s: counts[s][i] for s in SPLITS}} for i, c in enumerate(spec.classes)]


def target_ranges(ds) -> dict[str, dict[str, float]] | None:
    """Mean, smallest and largest target in each split (regression and forecasting)."""
    if ds.spec.task not in ("regress", "forecast"):
        return None
    out = {}
    for s in SPLITS:
        y = getattr(ds, s).y.float()
        out[s] = {"mean": float(y.mean()), "min": float(y.min()), "max": float(y.max())}
    return out


def split_origin(ds, seed: int, builtin: bool = False) -> dict[str, Any]:
    """Where the split came from: the source's own (published) test set, a loader's rule, or a random split."""
    meta, sizes, spec = ds.meta, ds.sizes(), ds.spec
    total = sum(sizes.values())
    shares = "/".join(f"{sizes[s] / total:.0%}" for s in SPLITS)
    counted = f"train {sizes['train']}, validation {sizes['val']}, test {sizes['test']} of {total} ({shares})"
    stratified = ", stratified by class" if spec.task == "classify" else ""
    published = meta.get("published_split") or None
    if meta.get("split"):
        return {"kind": "published" if published else "loader", "about": f"{meta['split']}: {counted}",
                "published": published}
    if published:
        drawn = "by the data set's own loader" if builtin else f"with seed {seed} (--seed){stratified}"
        return {"kind": "published", "published": published, **({} if builtin else {"seed": seed}),
                "about": f"the published split: the source's own test set ({sizes['test']}) is kept, and validation "
                         f"is drawn from its training part {drawn}: {counted}"}
    if builtin:
        return {"kind": "random", "about": f"random, drawn by the data set's own loader{stratified}: {counted}"}
    return {"kind": "random", "seed": seed, "about": f"random with seed {seed} (--seed){stratified}: {counted}"}


def lengths(ds) -> dict[str, Any] | None:
    """Lengths of sequences or texts where they vary: smallest, median, largest (None for fixed-size inputs)."""
    found = [getattr(ds, s).lengths for s in SPLITS if getattr(ds, s).lengths is not None]
    if not found:
        return None if ds.spec.modality != "sequence" else {"variable": False, "steps": ds.spec.input_shape[0]}
    all_lengths = torch.cat(found).numpy()
    unit = "tokens" if ds.spec.modality == "text" else "steps"
    out = {"variable": bool(all_lengths.min() != all_lengths.max()), "unit": unit, "min": int(all_lengths.min()),
           "median": float(np.median(all_lengths)), "max": int(all_lengths.max()),
           "padded_to": ds.spec.input_shape[0]}
    if ds.meta.get("truncated"):
        out["truncated"] = int(ds.meta["truncated"])
    return out


def notes(ds, skipped: dict[str, Any]) -> list[str]:
    """Things done to the data on the way in that a user may not expect."""
    meta, out = ds.meta, []
    if meta.get("text_column_detected"):
        out.append(f"read as text: {meta['text_column_detected']}")
    if meta.get("missing"):
        out.append(f"{meta['missing']} missing value(s) filled (numeric columns with the training median)")
    if meta.get("missing_filled"):
        out.append(f"{meta['missing_filled']} missing value(s) filled by interpolation")
    if meta.get("dropped"):
        out.append(f"columns dropped: {', '.join(map(str, meta['dropped']))}")
    for key in ("duplicates_dropped", "conflicting_dropped", "dropped_windows"):
        if meta.get(key):
            out.append(f"{key.replace('_', ' ')}: {meta[key]}")
    if skipped.get("skipped"):
        out.append(f"{skipped['skipped']} unreadable file(s) skipped: {', '.join(skipped['skipped_files'][:5])}")
    for row in class_counts(ds) or []:
        if row["train"] == 0:
            out.append(f"class {row['class']!r} has no training examples, so no model can learn it; add examples")
    return out


# ---- the options that change the reading ------------------------------------------------------------------


def _builtin(source: str | Path) -> str | None:
    from .data import DATASETS

    name = str(source)
    base = name.partition(":")[0]
    return base if name in DATASETS or base in DATASETS else None


def _keyword_options(fn) -> list[tuple[str, Any]]:
    """(name, default) of a loader's keyword-only parameters (built-ins, .ts, UCR and forecast files)."""
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


def declared_options(source: str | Path, ds) -> list[tuple[str, Any]]:
    """The options the loader that read ``source`` takes, with their defaults, as each loader declares them:
    keyword-only parameters, an options table (text, CoNLL, video, Hugging Face folders) or the defaults it
    passes to ``files._options`` (tables, .npz, image folders)."""
    from .data import DATASETS, text, video
    from .data.forecast import load_forecast_table
    from .data.series import load_ts_file

    builtin = _builtin(source)
    if builtin:
        return _keyword_options(DATASETS.get(builtin))
    spec, path = ds.spec, Path(str(source))
    suffix = "" if path.is_dir() else path.suffix.lower()
    if spec.task == "forecast":
        return _keyword_options(load_forecast_table)
    if spec.task == "tag":
        from .data.tagging import CONLL_OPTIONS

        return list(CONLL_OPTIONS.items())
    if spec.modality == "video":
        return list(video.OPTIONS.items())
    if "audio" in spec.extra:  # a sound folder, read as frames or as a log-mel picture
        from .data.audio_format import OPTIONS as AUDIO_OPTIONS

        return list(AUDIO_OPTIONS.items())
    if suffix == "" and spec.modality != "table":
        from .data.hf_folders import is_hf_folder

        if is_hf_folder(path):
            from .data.ecosystem import HF_OPTIONS

            return list(HF_OPTIONS.items()) + [(k, text.TEXT_OPTIONS[k]) for k in ("tokenizer", "min_freq", "max_len",
                                                                                    "dedupe")]
    if spec.modality == "text":
        return list(text.TEXT_OPTIONS.items())
    if suffix == ".npz":
        return [("modality", None), ("task", None)]
    if spec.modality == "image":
        return [("size", None), ("grey", None), ("skip_bad", False)]
    if spec.modality == "sequence":
        if suffix == ".ts":
            return _keyword_options(load_ts_file)
        try:
            from .data.ucr_text import load_ucr_text
        except ImportError:
            return []
        return _keyword_options(load_ucr_text)
    return [("label", None), ("task", None), ("text", None)]  # a table (CSV, TSV, Parquet)


def _value_read(name: str, ds) -> Any:
    """The value an option took, where the Dataset records it."""
    spec, extra, meta = ds.spec, ds.spec.extra, ds.meta
    size = extra.get("size")
    known = {
        "label": extra.get("label") or extra.get("label_column"),
        "task": spec.task, "modality": spec.modality, "text": extra.get("text_column"),
        "tokenizer": extra.get("tokenizer"), "min_freq": extra.get("min_freq"), "max_len": extra.get("max_len"),
        "size": f"{size[0]}x{size[1]}" if size else None, "grey": extra.get("grey"),
        "frames": extra.get("frames"), "stride": extra.get("stride"), "lower": extra.get("lower"),
        "target": meta.get("target"), "date": meta.get("date"),
        "window": spec.input_shape[0] if spec.task == "forecast" else None,
        "horizon": spec.n_outputs if spec.task == "forecast" else None,
    }
    return known.get(name)


def option_rows(source: str | Path, ds, given: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per option the source's loader takes: its name, the value used (given, else as read, else the
    default) and what it changes."""
    rows = []
    for name, default in declared_options(source, ds):
        if name == "skip_bad" and name not in given:
            default = False
        value = given.get(name, _value_read(name, ds))
        rows.append({"name": name, "value": default if value is None else value, "given": name in given,
                     "default": None if default is inspect.Parameter.empty else default,
                     "about": OPTION_ABOUT.get(name, "an option of this data set")})
    return rows


def other_readings(source: str | Path, ds) -> list[dict[str, str]]:
    """Settings that read the same file as another kind of data set."""
    if _builtin(source) or Path(str(source)).suffix.lower() not in (".csv", ".tsv"):
        return []
    if ds.spec.modality == "table":
        return [{"set": "task=forecast", "about": "one time series to forecast (with target, date, window, horizon, "
                 "season, level)"}, {"set": "text=COLUMN", "about": "text classification on a column of free text"}]
    if ds.spec.modality == "text":
        return [{"set": "text=none", "about": "a table, the text column read as categories or dropped"}]
    return []
