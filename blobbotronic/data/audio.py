"""Sound as data: folders of sound files read into features a CNN or an RNN takes, and new files for predict.

A folder of sound files is laid out one subfolder per class (``words/yes/a.wav``, ``words/no/b.flac``: .wav,
.flac, .ogg, .mp3 and the other formats of audio_read.AUDIO_SUFFIXES, searched recursively), or as ``train/``
and ``test/`` (and ``val/``) folders of such class folders, whose split is kept. Every clip is decoded by FFmpeg,
resampled to ``rate`` Hz, mixed down to mono (``mono=false`` keeps the channels, which must then agree), cut to
its first ``seconds`` or padded with silence to them (default: the longest clip), and turned into log-mel
decibels (audio_features.py); features are cached, so a folder is decoded once per set of options.

Two views of the same features, chosen by the ``view`` option, because a model takes one modality:

- ``view=frames`` (the default): a sequence (frames, features), one 10 ms frame a step: MFCCs (``features``
  defaults to mfcc; ``logmel`` gives the mel bands), standardised with the training split's statistics. The
  recurrent models (rnn, lstm, gru, mingru, ...), the 1-D CNNs (cnn, tcn, fcn, ...) and the CRNN ``cnn_rnn``
  read it in time order; clips shorter than ``seconds`` carry their length, so a recurrent model stops there.
- ``view=image``: the log-mel spectrogram as a 1-channel picture (mel bands, frames) in [0, 1] (0 = 80 dB
  below the clip's loudest bin): frequency up the rows, time along the columns, as spectrograms are drawn. A
  2-D CNN reads it as an image, and ``cnn_rnn`` convolves it in 2-D, then reads its columns, time, in order.

The Spec records how the features were made (``extra["audio"]``), so that predict reads a new sound file
exactly as the training clips were read.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import guards
from ..errors import BlobError
from .audio_format import OPTIONS, AudioFormat, audio_options, fit_pad
from .audio_read import AUDIO_SUFFIXES, Header, decode, peek
from .cache import cache_dir, cached_arrays
from .spec import Dataset, Spec, Split, make_dataset

CHUNK = 256  # clips decoded before their features are computed together
FRACTIONS = (0.7, 0.15, 0.15)
FEATURES_VERSION = 1  # part of the cache key: bump when the features change


# --- finding the files -----------------------------------------------------------------------------


def sound_files(folder: Path, recursive: bool = True) -> list[Path]:
    """The sound files under a folder (hidden entries ignored), in name order."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(f for f in found if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file()
                  and not any(p.startswith(".") for p in f.relative_to(folder).parts))


def _class_dirs(path: Path) -> list[Path]:
    return sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))


def is_audio_folder(path: Path, options: dict[str, Any] | None = None) -> bool:
    """Whether a folder (or its train/ split) holds class subfolders with sound files in them, or sound options
    (view, features, rate, ...) were given for it."""
    from .files import split_folders

    path = Path(path)
    if not path.is_dir():
        return False
    if set(options or {}) & (set(OPTIONS) - {"skip_bad"}):
        return True
    splits = split_folders(path)
    root = splits["train"] if splits else path
    for d in _class_dirs(root):
        if any(f.suffix.lower() in AUDIO_SUFFIXES for f in d.rglob("*")):
            return True
    return False


def _labelled_files(path: Path) -> tuple[list[tuple[Path, str, int]], list[str]]:
    """(file, class, origin) for every sound file, origin 0 train, 1 val, 2 test (0 throughout without splits),
    and the class names."""
    from .files import check_split_classes, split_folders

    splits = split_folders(path) or {"train": path}
    found, classes = [], {}
    for k, split in enumerate(("train", "val", "test")):
        if split not in splits:
            continue
        per_class = {d.name: sound_files(d) for d in _class_dirs(splits[split])}
        per_class = {c: fs for c, fs in per_class.items() if fs}
        if not per_class:
            where = splits[split] if len(splits) > 1 else path
            raise BlobError(f"{where}: no sound files ({', '.join(AUDIO_SUFFIXES)}) in any class subfolder; a folder "
                            f"of sound files holds one subfolder per class, e.g. {path / 'yes' / '1.wav'} and "
                            f"{path / 'no' / '2.wav'}.")
        classes[split] = sorted(per_class)
        found += [(f, c, k) for c, fs in per_class.items() for f in fs]
    names = check_split_classes(path, classes) if len(splits) > 1 else classes["train"]
    if len(names) < 2:
        raise BlobError(f"{path}: only the class {names[0]!r} has sound files; a classifier needs at least two class "
                        "subfolders with sound files.")
    return found, names


# --- decoding a folder once, cached -----------------------------------------------------------------


def _stat_key(files: list[Path]) -> str:
    rows = []
    for f in files:
        st = f.stat()
        rows.append(f"{f}|{st.st_size}|{st.st_mtime_ns}")
    return "\n".join(rows)


def _resolve(path: Path, opts: dict[str, Any], headers: dict[Path, Header]) -> AudioFormat:
    """The clip format: ``seconds`` "auto" becomes the longest clip; kept channels must agree."""
    lengths = [h.seconds for h in headers.values() if h.seconds]
    seconds = opts["seconds"] if opts["seconds"] != "auto" else max(lengths, default=1.0)
    channels = 1
    if not opts["mono"]:
        counts = {h.channels for h in headers.values()}
        if len(counts) > 1:
            first = {c: f for f, h in headers.items() for c in [h.channels]}
            shown = "; ".join(f"{f} has {c}" for c, f in sorted(first.items()))
            raise BlobError(f"{path}: mono=false keeps each clip's channels, but the clips differ ({shown}); mix "
                            "them down with mono=true (the default) or convert them to one channel count.")
        channels = counts.pop()
    keys = ("view", "features", "rate", "mono", "n_mels", "n_mfcc", "deltas", "window_ms", "hop_ms")
    return AudioFormat(samples=max(1, round(seconds * opts["rate"])), channels=channels, **{k: opts[k] for k in keys})


def _build(path: Path, files: list[Path], opts: dict[str, Any]) -> dict[str, np.ndarray]:
    """Decode every file once: features (N, *shape), real frames, kept and skipped indices, the format."""
    headers, skipped = {}, []
    for i, f in enumerate(files):
        try:
            headers[f] = peek(f)
        except BlobError:
            if not opts["skip_bad"]:
                raise
            skipped.append(i)
    if not headers:
        raise BlobError(f"{path}: none of the {len(files)} sound files could be read.")
    fmt = _resolve(path, opts, headers)
    hint = "Cut the clips shorter (seconds=N keeps the first N seconds of each) or use fewer clips."
    longest = max((h.seconds or 0) for h in headers.values())
    guards.check_decoded_memory(1, (fmt.channels, fmt.samples), path, f"one clip of {fmt.samples / fmt.rate:,.1f} s "
                                f"(the longest is {longest:,.1f} s) at {fmt.rate} Hz", hint)
    guards.check_decoded_memory(len(headers), fmt.shape, path, "sound clips' features", hint)
    x = np.zeros((len(headers), *fmt.shape), np.float32)
    real, kept, waves = [], [], []
    for i, f in enumerate(files):
        if f not in headers:
            continue
        try:
            wave = decode(f, fmt.rate, fmt.mono, fmt.samples, headers[f])
        except BlobError:
            if not opts["skip_bad"]:
                raise
            skipped.append(i)
            continue
        _check_channels(f, wave, fmt)
        waves.append(fit_pad(wave, fmt.samples))
        real.append(fmt.frames_of(wave.shape[1]))
        kept.append(i)
        if len(waves) == CHUNK:
            x[len(kept) - CHUNK: len(kept)] = fmt.features_of(torch.from_numpy(np.stack(waves))).numpy()
            waves = []
    if waves:
        x[len(kept) - len(waves): len(kept)] = fmt.features_of(torch.from_numpy(np.stack(waves))).numpy()
    return {"x": x[: len(kept)], "frames": np.array(real, np.int64), "kept": np.array(kept, np.int64),
            "skipped": np.array(sorted(skipped), np.int64), "format": np.array(str(asdict(fmt)))}


def _check_channels(f: Path, wave: np.ndarray, fmt: AudioFormat) -> None:
    if wave.shape[0] != fmt.channels:
        raise BlobError(f"{f}: has {wave.shape[0]} channel(s), the other clips {fmt.channels}; read the folder with "
                        "mono=true (the default) to mix every clip down to one channel.")


# --- the data set ----------------------------------------------------------------------------------


def load_audio_folder(path: Path, seed: int = 0, *, name: str | None = None, meta: dict[str, Any] | None = None,
                      **options: Any) -> Dataset:
    """A folder of sound files (see the module text) as a classification Dataset. Options (``--data-option``):
    view (frames | image), features (auto | mfcc | logmel), rate (16000 Hz), seconds (auto: the longest clip),
    mono (true), n_mels (40), n_mfcc (13), deltas (false), window_ms (25), hop_ms (10), skip_bad (false)."""
    import ast

    path = Path(path)
    opts = audio_options(path, options)
    found, classes = _labelled_files(path)
    files = [f for f, _, _ in found]
    key = f"v{FEATURES_VERSION}|{sorted(opts.items())}|{_stat_key(files)}"
    arrays = cached_arrays("audio", key, lambda: _build(path, files, opts))
    fmt = AudioFormat(**ast.literal_eval(str(arrays["format"])))
    kept, frames = arrays["kept"], arrays["frames"]
    y = np.array([classes.index(found[i][1]) for i in kept], np.int64)
    origin = np.array([found[i][2] for i in kept], np.int64)
    present = sorted(set(y.tolist()))
    if len(present) < 2:
        raise BlobError(f"{path}: after skipping unreadable sound files fewer than two classes are left.")
    skipped = [files[i] for i in arrays["skipped"]]
    info = {"source": str(path), "clips": int(len(kept)), "skipped": len(skipped),
            "skipped_files": [str(f) for f in skipped[:20]], **(meta or {})}
    extra = {"audio": asdict(fmt), "classes": list(classes), "about": (meta or {}).get("about", "")}
    spec = Spec(name or path.name, fmt.modality, "classify", fmt.shape, len(classes), classes, extra=extra)
    x = torch.from_numpy(arrays["x"])  # shared with the cache's copy in memory: only ever indexed into new tensors
    lengths = frames if fmt.view == "frames" and (frames < fmt.frames).any() else None
    if origin.max() == 0:  # no published split: 70/15/15, stratified by class
        ds = make_dataset(spec, x, y, seed=seed, lengths=lengths, meta=info, fractions=FRACTIONS)
    else:
        ds = _published(spec, x, y, origin, lengths, info, path, classes)
    return standardize_frames(ds) if fmt.view == "frames" else ds


def _published(spec: Spec, x: torch.Tensor, y: np.ndarray, origin: np.ndarray, lengths: np.ndarray | None,
               info: dict[str, Any], path: Path, classes: list[str]) -> Dataset:
    from .files import split_parts

    lost = [c for i, c in enumerate(classes) if not (y[origin == 0] == i).any()]
    if lost:
        raise BlobError(f"{path}: after skipping unreadable sound files, train/ has none of class(es) "
                        f"{', '.join(lost)}.")
    if lengths is not None:
        spec.extra["variable_length"] = True
    parts, info["split"] = split_parts(origin, y)
    info["published_split"] = {s: int((origin == k).sum()) for k, s in enumerate(("train", "val", "test"))}
    full = Split(x, torch.from_numpy(y), None if lengths is None else torch.from_numpy(lengths))
    return Dataset(spec, *(full.subset(p) for p in parts), meta=info)


def _mask(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    if lengths is None:
        return torch.ones(x.shape[:2], dtype=torch.bool)
    return torch.arange(x.shape[1])[None] < lengths[:, None]


def standardize_frames(ds: Dataset) -> Dataset:
    """Frames scaled to zero mean and unit variance per feature, from the training split's real frames; padding
    frames are 0. The scaler is recorded in ``spec.extra`` for predict."""
    real = ds.train.x[_mask(ds.train.x, ds.train.lengths)]  # (frames, F)
    mean, std = real.mean(0), real.std(0).clamp_min(1e-6)
    ds.spec.extra["scaler"] = {"mean": mean.tolist(), "std": std.tolist()}

    def apply(s: Split) -> Split:
        return Split((s.x - mean) / std * _mask(s.x, s.lengths)[..., None], s.y, s.lengths)

    return Dataset(ds.spec, apply(ds.train), apply(ds.val), apply(ds.test), ds.meta, ds.extra_tests)


# --- new sound files for predict -------------------------------------------------------------------


def reads_inputs(spec: Spec) -> bool:
    """Whether a model's inputs are sound features (predict then reads sound files through here)."""
    return isinstance(spec.extra.get("audio"), dict)


def read_audio_inputs(spec: Spec, paths: list[str | Path]) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """Sound files (a folder stands for the sound files in it) read exactly as the training clips were."""
    fmt = AudioFormat.of(spec)
    if not paths:
        raise BlobError("Predict needs at least one input file.")
    files = []
    for p in map(Path, paths):
        if not p.exists():
            raise BlobError(f"Input file not found: {p}.")
        if p.is_dir():
            files += sound_files(p, recursive=False) or [p]
        elif p.suffix.lower() not in AUDIO_SUFFIXES:
            raise BlobError(f"{p}: not a sound file; the model was trained on sound (data set {spec.name!r}) and reads "
                            f"{', '.join(AUDIO_SUFFIXES)} files.")
        else:
            files.append(p)
    if any(f.is_dir() for f in files):
        raise BlobError(f"{next(f for f in files if f.is_dir())}: holds no sound files ({', '.join(AUDIO_SUFFIXES)}).")
    waves = [decode(f, fmt.rate, fmt.mono, fmt.samples) for f in files]
    for f, w in zip(files, waves, strict=True):
        _check_channels(f, w, fmt)
    x = fmt.features_of(torch.from_numpy(np.stack([fit_pad(w, fmt.samples) for w in waves])))
    lengths = None
    if fmt.view == "frames":
        real = torch.tensor([fmt.frames_of(w.shape[1]) for w in waves])
        lengths = real if spec.extra.get("variable_length") and (real < fmt.frames).any() else None
        sc = spec.extra.get("scaler") or {"mean": [0.0], "std": [1.0]}
        x = (x - torch.tensor(sc["mean"])) / torch.tensor(sc["std"]) * _mask(x, lengths)[..., None]
    return x.float(), lengths, [str(f) for f in files]


def cache_folder(name: str) -> Path:
    """A folder for generated sound files (under the blobbotronic cache; see cache.py)."""
    return cache_dir("audio") / name
