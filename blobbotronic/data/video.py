"""Folders of clips as classification Datasets, in memory or streamed from disk (ClipStore); new clips for predict.
Reading one clip is clips.py's; the generated built-ins live in video_gen.py.

A folder of clips is laid out one subfolder per class (``clips/wave/a.mp4``, ``clips/wave/b/0001.png``...), as
train/, test/ (and val/) folders of such class folders, or holds a ``labels.csv`` with columns ``path,label``
(paths relative to the folder). A clip is a video file (mp4, avi, webm, gif, mov, mkv), a folder of frames or a
.npy array (T, H, W), (T, C, H, W) or (T, H, W, C).
"""

from __future__ import annotations

import csv
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import guards
from ..errors import BlobError
from .clips import BAD_CLIP_HINT, FRAME_SUFFIXES, VIDEO_SUFFIXES, ClipFormat, clip_format, natural_key, read_clip
from .files import check_split_classes, split_folders, split_parts
from .inputs import Batch
from .options import check_options, flag
from .spec import Dataset, Spec, Split, make_dataset, split_indices

__all__ = ["BAD_CLIP_HINT", "FRAME_SUFFIXES", "OPTIONS", "VIDEO_SUFFIXES", "ClipFormat", "ClipStore", "clip_format",
           "holds_clips", "is_video_folder", "load_video_folder", "natural_key", "read_clip", "read_video_inputs"]

LABELS_CSV = "labels.csv"
STREAM_BYTES = 512 * 2**20  # decoded clips above this stream from disk instead of sitting in memory
FRACTIONS = (0.7, 0.15, 0.15)  # train / validation / test, stratified by class
OPTIONS = {"frames": 16, "size": 64, "grey": True, "stride": None, "skip_bad": False, "stream": None, "cache": 64}


def _is_clip(p: Path) -> bool:
    if p.name.startswith("."):
        return False
    if p.is_dir():
        return any(f.suffix.lower() in FRAME_SUFFIXES for f in p.iterdir())
    return p.suffix.lower() in VIDEO_SUFFIXES + (".npy",)


def _animated(gif: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(gif) as im:
            return getattr(im, "n_frames", 1) > 1
    except (OSError, ValueError):
        return True  # a broken .gif beside clips is reported by the video reader


def is_video_folder(path: Path, options: dict[str, Any] | None = None) -> bool:
    """Whether a folder holds clips rather than images: a labels.csv with path,label columns, class subfolders
    holding video files (GIFs only when animated), .npy clips or folders of frames (so a class folder whose
    subfolders hold images is read as clips, one folder of frames each), or video options such as frames=16."""
    path = Path(path)
    if set(options or {}) & {"frames", "stride", "stream", "cache"}:
        return True
    if (path / LABELS_CSV).is_file():
        return True
    for sub in (d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")):
        for p in sub.iterdir():
            if p.suffix.lower() == ".gif":
                if _animated(p):
                    return True
            elif _is_clip(p):
                return True
    return False



def holds_clips(path: Path, options: dict[str, Any] | None = None) -> bool:
    """Whether ``data.load`` reads a folder as clips: ``is_video_folder`` of the folder, or of its train/ when it
    is laid out as published splits (``files.split_folders``)."""
    splits = split_folders(path)
    return is_video_folder(splits["train"] if splits is not None else path, options)


def _clips(path: Path) -> list[tuple[Path, str]]:
    """(clip, class name) pairs from labels.csv or from class subfolders."""
    labels = path / LABELS_CSV
    if labels.is_file():
        with open(labels, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"path", "label"} <= set(rows[0]):
            raise BlobError(f"{labels}: needs a header with columns 'path' and 'label' and one row per clip.")
        out = []
        for line, row in enumerate(rows, start=2):
            clip = (path / row["path"]).resolve() if row["path"] else None
            if clip is None or not clip.exists():
                raise BlobError(f"{labels}, line {line}: clip {row['path']!r} does not exist (paths are relative to "
                                f"{path}).")
            out.append((clip, row["label"].strip()))
        return out
    subs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    return [(p, d.name) for d in subs for p in sorted(d.iterdir(), key=natural_key) if _is_clip(p)]


def _split_clips(path: Path, splits: dict[str, Path]) -> tuple[list[tuple[Path, str]], list[int]]:
    """The clips of train/, val/ and test/ folders (each laid out as a folder of clips) and where each came from
    (0 train, 1 val, 2 test); the splits must hold the same classes."""
    found: list[tuple[Path, str]] = []
    origin: list[int] = []
    classes = {}
    for k, split in enumerate(("train", "val", "test")):
        if split in splits:
            clips = _clips(splits[split])
            classes[split] = sorted({label for _, label in clips})
            found += clips
            origin += [k] * len(clips)
    check_split_classes(path, classes)
    return found, origin


def load_video_folder(path: Path, seed: int = 0, *, splits: dict[str, Path] | None = None,
                      **options: Any) -> Dataset:
    """A folder of clips as a classification Dataset. Options: ``frames`` (16), ``size`` (64 or "HxW"),
    ``grey`` (true), ``stride`` (none: spread evenly), ``skip_bad`` (false), ``stream`` (none: stream from disk
    when the decoded clips would exceed 512 MB) and ``cache`` (clips kept decoded while streaming, 64).
    A folder laid out as train/, test/ and maybe val/ folders of clips (``splits``, by default
    ``files.split_folders(path)``) keeps that split, validation carved from train/ (20%, stratified, seed 0) when
    there is no val/."""
    opts = check_options(path, options, OPTIONS)
    splits = split_folders(path) if splits is None else splits
    fmt = clip_format(path, opts["frames"], opts["size"], opts["grey"], opts["stride"])
    skip_bad = bool(flag(path, "skip_bad", opts["skip_bad"]))
    found, origin = _split_clips(path, splits) if splits else (_clips(path), [])
    names = sorted({label for _, label in found})
    if len(names) < 2:
        raise BlobError(f"{path}: found {len(found)} clips in {len(names)} class(es); a classifier needs clips of at "
                        "least two classes: one subfolder per class (e.g. wave/a.mp4, clap/b.mp4) or a labels.csv.")
    clip_bytes = 4 * int(np.prod(fmt.shape))
    stream = flag(path, "stream", opts["stream"])
    stream = len(found) * clip_bytes > STREAM_BYTES if stream is None else stream
    if not stream:  # stream=false on a collection too large for memory is refused before any clip is decoded
        guards.check_decoded_memory(len(found), fmt.shape, path, "clips", "Leave stream unset (or stream=true) to "
                                    "read clips from disk as training needs them.")
    # Every clip is decoded once now, so that a bad file stops the load (or is skipped) rather than a long run.
    good, arrays, skipped, kept_origin = [], [], [], []
    for i, (clip, label) in enumerate(found):
        try:
            a = read_clip(clip, fmt)
        except BlobError:
            if not skip_bad:
                raise
            skipped.append(clip)
            continue
        good.append((clip, label))
        kept_origin += origin[i : i + 1]
        if not stream:
            arrays.append(a)
    classes = sorted({label for _, label in good})
    if len(classes) < 2:
        raise BlobError(f"{path}: after skipping {len(skipped)} unreadable clip(s) fewer than two classes are left.")
    y = np.array([classes.index(label) for _, label in good], dtype=np.int64)
    spec = Spec(path.name, "video", "classify", fmt.shape, len(classes), classes, extra=fmt.extra())
    meta = {"source": str(path), "clips": len(good), "skipped": len(skipped),
            "skipped_files": [str(f) for f in skipped[:20]], "streamed": bool(stream)}
    if splits:
        lost = [c for i, c in enumerate(classes) if not (y[np.array(kept_origin) == 0] == i).any()]
        if lost:
            raise BlobError(f"{path}: after skipping unreadable clips, train/ has none of class(es) {', '.join(lost)}.")
        parts, meta["split"] = split_parts(np.array(kept_origin), y)
        meta["published_split"] = {s: int(len(p)) for s, p in zip(("train", "val", "test"), parts, strict=True)}
        if not stream:
            full = Split(torch.from_numpy(np.stack(arrays)), torch.from_numpy(y))
            return Dataset(spec, *(full.subset(p) for p in parts), meta=meta)
    else:
        parts = split_indices(len(good), FRACTIONS, seed, y)
    if not splits and min(len(p) for p in parts) == 0:
        raise BlobError(f"{path}: {len(good)} clips are too few to split into training, validation and test clips "
                        f"({' / '.join(f'{f:.0%}' for f in FRACTIONS)} of each class); give at least 7 clips a class.")
    if not stream:
        return make_dataset(spec, np.stack(arrays), y, seed=seed, meta=meta, fractions=FRACTIONS)
    store = ClipStore([c for c, _ in good], fmt, cache=int(opts["cache"]))
    return Dataset(spec, *[Split(store.subset(p), torch.from_numpy(y[p])) for p in parts], meta=meta)


class _Decoded:
    """The decoded clips a family of ClipStores shares (least recently used first), and a count of decodings."""

    def __init__(self, size: int):
        self.size, self.clips, self.count = max(0, size), OrderedDict(), 0

    def get(self, path: Path, fmt: ClipFormat) -> torch.Tensor:
        if path in self.clips:
            self.clips.move_to_end(path)
            return self.clips[path]
        t = torch.from_numpy(read_clip(path, fmt))
        self.count += 1
        if self.size:
            self.clips[path] = t
            while len(self.clips) > self.size:
                self.clips.popitem(last=False)
        return t


class ClipStore:
    """Clips on disk that index like the (N, T, C, H, W) float tensor they stand for, decoded on demand.

    ``store[idx]`` (an int, slice, list or index tensor of any shape) decodes the clips asked for and
    returns a tensor; at most ``cache`` decoded clips are kept (least recently used go first, shared by
    the stores of one data set's splits), so memory stays bounded however large the collection.
    ``max_batch`` tells evaluation how many clips to ask for at once; ``to(device)`` returns a store
    whose batches land on that device; ``decoded`` counts the clips decoded so far.
    """

    dtype = torch.float32
    ndim = 5

    def __init__(self, clips: list[Path], fmt: ClipFormat, cache: int = 64, device: str | torch.device = "cpu",
                 max_batch: int = 128, _decoded: _Decoded | None = None):
        self.clips, self.fmt = list(clips), fmt
        self.device, self.max_batch = torch.device(device), max_batch
        self._decoded = _decoded or _Decoded(cache)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.clips), *self.fmt.shape))

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def decoded(self) -> int:
        return self._decoded.count

    @property
    def cached(self) -> int:
        return len(self._decoded.clips)

    def __len__(self) -> int:
        return len(self.clips)

    def __repr__(self) -> str:
        return f"ClipStore({len(self)} clips of {self.fmt.shape}, cache {self._decoded.size}, {self.device})"

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, (int, np.integer)):
            return self._decoded.get(self.clips[index], self.fmt).to(self.device)
        if isinstance(index, slice):
            ids = torch.arange(len(self))[index]
        else:
            ids = torch.as_tensor(index).cpu()
            ids = ids.nonzero().flatten() if ids.dtype == torch.bool else ids.long()
        flat = [self._decoded.get(self.clips[int(i)], self.fmt) for i in ids.flatten()]
        out = torch.stack(flat) if flat else torch.empty(0, *self.fmt.shape)
        return out.view(*ids.shape, *self.fmt.shape).to(self.device)

    def subset(self, idx: Any) -> ClipStore:
        """A store of some of these clips, sharing the decoded cache."""
        ids = np.asarray(idx, dtype=np.int64).reshape(-1)
        return ClipStore([self.clips[i] for i in ids], self.fmt, 0, self.device, self.max_batch, self._decoded)

    def to(self, device: Any = None, *args: Any, **kwargs: Any) -> ClipStore:
        device = kwargs.get("device", device)
        if device is None or isinstance(device, torch.dtype) or torch.device(device) == self.device:
            return self
        return ClipStore(self.clips, self.fmt, 0, device, self.max_batch, self._decoded)


# --- new clips for predict -------------------------------------------------------------------------


def read_video_inputs(spec: Spec, paths: list[Path]) -> Batch:
    """Clips for predict (video files, frame folders, .npy arrays), read exactly as the training clips were."""
    fmt = ClipFormat.of(spec)
    if fmt.shape != tuple(spec.input_shape):
        raise BlobError(f"Data set {spec.name!r} records clips of {fmt.shape} but its models read {spec.input_shape}.")
    clips = [p for p in paths if p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES + (".npy",)]
    other = [str(p) for p in paths if p not in clips]
    if other:
        raise BlobError(f"{', '.join(other)}: not a clip; video models read video files ({', '.join(VIDEO_SUFFIXES)}), "
                        "folders of frames or .npy arrays.")
    x = np.stack([read_clip(p, fmt) for p in clips])
    return torch.from_numpy(x), None, [str(p) for p in clips]
