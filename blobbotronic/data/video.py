"""Video data: clips (files, frame folders, arrays) read as (T, C, H, W) in [0, 1]; folders of clips as Datasets,
in memory or streamed; new clips for predict. The generated built-ins live in video_gen.py.

A folder of clips is laid out one subfolder per class (``clips/wave/a.mp4``, ``clips/wave/b/0001.png``...) or
holds a ``labels.csv`` with columns ``path,label`` (paths relative to the folder). A clip is a video file
(mp4, avi, webm, gif, mov, mkv), a folder of frames (sorted by name, numbers compared as numbers) or a .npy
array (T, H, W), (T, C, H, W) or (T, H, W, C). Every clip becomes ``frames`` frames: spread evenly over the
clip, or every ``stride``-th frame from the start (the last one repeats when the clip is short).
"""

from __future__ import annotations

import csv
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import guards
from ..errors import BlobError
from . import video_gen  # noqa: F401  (the generated built-ins register)
from .spec import Dataset, Spec, Split, make_dataset, split_indices

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".gif", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
LABELS_CSV = "labels.csv"
STREAM_BYTES = 512 * 2**20  # decoded clips above this stream from disk instead of sitting in memory
FRACTIONS = (0.7, 0.15, 0.15)  # train / validation / test, stratified by class
TRUNCATED = 0.9  # fewer decoded frames than this share of the header's count: the file is cut short
OPTIONS = {"frames": 16, "size": 64, "grey": True, "stride": None, "skip_bad": False, "stream": None, "cache": 64}
BAD_CLIP_HINT = "Replace or delete it (a folder loads with skip_bad=True to skip unreadable clips)."


@dataclass(frozen=True)
class ClipFormat:
    """How every clip is read: ``frames`` frames of ``size`` (H, W), grey or RGB, spread evenly or every
    ``stride``-th."""

    frames: int = 16
    size: tuple[int, int] = (64, 64)
    grey: bool = True
    stride: int | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.frames, 1 if self.grey else 3, *self.size)

    def extra(self) -> dict[str, Any]:
        return {"frames": self.frames, "size": list(self.size), "grey": self.grey, "stride": self.stride}

    @classmethod
    def of(cls, spec: Spec) -> ClipFormat:
        """The format a video Spec was trained on (recorded in ``extra``, else read off its input shape)."""
        t, c, h, w = spec.input_shape
        e = spec.extra
        return cls(int(e.get("frames", t)), tuple(e.get("size", (h, w))), bool(e.get("grey", c == 1)), e.get("stride"))


def clip_format(where: Path, frames: Any = 16, size: Any = 64, grey: Any = True, stride: Any = None) -> ClipFormat:
    """Check loader options and build a ClipFormat; a bad value is a BlobError saying what is valid."""
    from .files import _flag, _size_option

    def whole(name: str, value: Any, low: int) -> int:
        try:
            v = int(value)
            if v != float(value) or v < low:
                raise ValueError
        except (TypeError, ValueError):
            raise BlobError(f"{where}: option {name}={value!r} must be a whole number of at least {low}.") from None
        return v

    return ClipFormat(whole("frames", frames, 1), _size_option(where, size), bool(_flag(where, "grey", grey)),
                      None if stride in (None, "", "none") else whole("stride", stride, 1))


# --- reading one clip ------------------------------------------------------------------------------


def read_clip(path: Path, fmt: ClipFormat) -> np.ndarray:
    """One clip as float32 (T, C, H, W) in [0, 1]; an unreadable or truncated clip is a BlobError naming it."""
    if path.is_dir():
        return _sample(_frame_folder(path, fmt), fmt, path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _sample(_array_frames(path, fmt), fmt, path)
    if suffix not in VIDEO_SUFFIXES:
        raise BlobError(f"{path}: not a clip; clips are video files ({', '.join(VIDEO_SUFFIXES)}), frame folders "
                        "or .npy arrays.")
    if suffix == ".gif" and _gif_truncated(path):
        raise BlobError(f"{path}: this GIF is truncated (it lacks the end-of-file marker). {BAD_CLIP_HINT}")
    return _sample(_video_frames(path, fmt), fmt, path)


def natural_key(path: Path) -> list[Any]:
    """Sort key comparing the digits in names as numbers: frame2 before frame10."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", path.name)]


def _wanted(n: int | None, fmt: ClipFormat) -> list[int] | None:
    """Indices of the frames to keep from ``n`` (None: not known yet)."""
    if fmt.stride:
        return [k * fmt.stride for k in range(fmt.frames)]
    if n is None:
        return None
    return np.linspace(0, n - 1, fmt.frames).round().astype(int).tolist()


def _sample(frames: Iterator[np.ndarray], fmt: ClipFormat, path: Path) -> np.ndarray:
    """Keep the wanted frames (each (C, H, W) uint8 or float) of a clip: (T, C, H, W) float32 in [0, 1]."""
    kept: list[np.ndarray] = []
    stop = (fmt.frames - 1) * fmt.stride if fmt.stride else None
    for i, frame in enumerate(frames):
        if stop is None or i % fmt.stride == 0:
            kept.append(frame)
        if stop is not None and i >= stop:
            break
    if not kept:
        raise BlobError(f"{path}: no frame could be decoded; the clip is empty or damaged. {BAD_CLIP_HINT}")
    pick = _wanted(len(kept), fmt) if not fmt.stride else range(fmt.frames)
    clip = np.stack([kept[min(i, len(kept) - 1)] for i in pick])  # a short clip repeats its last frame
    return (clip.astype(np.float32) / 255.0) if clip.dtype == np.uint8 else clip.astype(np.float32)


def _video_frames(path: Path, fmt: ClipFormat) -> Iterator[np.ndarray]:
    """Decoded, resized frames (C, H, W) uint8 of a video file: PyAV, else OpenCV, else imageio."""
    try:
        import av
    except ImportError:
        yield from _fallback_frames(path, fmt)
        return
    h, w = fmt.size
    pix = "gray" if fmt.grey else "rgb24"
    n = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                what = "has audio but no video stream" if container.streams else \
                    "holds no readable stream: it is truncated (an .mp4 keeps its index at the end) or damaged"
                raise BlobError(f"{path}: {what}. {BAD_CLIP_HINT}")
            stream = container.streams.video[0]
            declared = stream.frames
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                a = frame.to_ndarray(width=w, height=h, format=pix)  # scaled by FFmpeg's swscale
                n += 1
                yield a[None] if fmt.grey else a.transpose(2, 0, 1)
    except (av.FFmpegError, OSError, ValueError) as e:  # av.FFmpegError subclasses these on some versions
        raise BlobError(f"{path}: cannot decode this video ({_reason(e)}); it is damaged, truncated or in a format "
                        f"FFmpeg cannot read. {BAD_CLIP_HINT}") from None
    if declared and n < TRUNCATED * declared and not fmt.stride:
        raise BlobError(f"{path}: truncated: its header promises {declared} frames but only {n} could be decoded. "
                        f"{BAD_CLIP_HINT}")


def _fallback_frames(path: Path, fmt: ClipFormat) -> Iterator[np.ndarray]:
    """Without PyAV: OpenCV's VideoCapture, else imageio (which reads GIFs through Pillow)."""
    from PIL import Image

    def resized(rgb: np.ndarray) -> np.ndarray:
        im = Image.fromarray(np.ascontiguousarray(rgb[..., :3])).convert("L" if fmt.grey else "RGB")
        a = np.asarray(im.resize(fmt.size[::-1], Image.BILINEAR))
        return a[None] if fmt.grey else a.transpose(2, 0, 1)

    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is not None:
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise BlobError(f"{path}: OpenCV cannot open this video. {BAD_CLIP_HINT}")
        ok, frame = cap.read()
        while ok:
            yield resized(frame[..., ::-1])  # OpenCV decodes to BGR
            ok, frame = cap.read()
        cap.release()
        return
    try:
        import imageio.v3 as iio
    except ImportError:
        raise BlobError(f"{path}: reading video needs PyAV: pip install av (or blobbotronic[video]); OpenCV "
                        "(opencv-python-headless) or imageio also work.") from None
    try:
        for frame in iio.imiter(path):
            yield resized(frame if frame.ndim == 3 else np.stack([frame] * 3, -1))
    except Exception as e:  # imageio raises whatever its plugin raises
        raise BlobError(f"{path}: cannot decode this video with imageio ({_reason(e)}); PyAV reads every common "
                        "format: pip install av (or blobbotronic[video]).") from None


def _gif_truncated(path: Path) -> bool:
    """A whole GIF ends with the trailer byte 0x3B; decoders silently stop early on a cut one."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell() == 0:
            return True
        f.seek(-1, 2)
        return f.read(1) != b";"


def _frame_folder(path: Path, fmt: ClipFormat) -> Iterator[np.ndarray]:
    """The frames of a clip folder, in name order, decoded only when wanted (through the image loader)."""
    from .files import load_image

    files = sorted((f for f in path.iterdir() if f.suffix.lower() in FRAME_SUFFIXES and not f.name.startswith(".")),
                   key=natural_key)
    wanted = set(_wanted(len(files), fmt) or [])
    for i, f in enumerate(files):
        yield load_image(f, fmt.size, fmt.grey) if i in wanted else np.zeros(0)  # the others are never kept


def _array_frames(path: Path, fmt: ClipFormat) -> Iterator[np.ndarray]:
    """The frames of a .npy clip: (T, H, W), (T, C, H, W) or (T, H, W, C); 0..255 integers or 0..1 floats."""
    from .files import ARRAY_FILE_ERRORS, open_binary

    try:
        with open_binary(path) as f:
            a = np.load(f, allow_pickle=False)
    except ARRAY_FILE_ERRORS as e:
        raise BlobError(f"{path}: not a readable .npy array ({_reason(e)}); object arrays are refused.") from None
    if a.ndim == 4 and a.shape[-1] in (1, 3) and a.shape[1] not in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1] not in (1, 3) or a.dtype.kind not in "buif" or not np.isfinite(a).all():
        raise BlobError(f"{path}: holds {a.dtype} {a.shape}; a clip array is (T, H, W), (T, C, H, W) or (T, H, W, C) "
                        "with C = 1 or 3, finite numbers.")
    scale = 255.0 if a.dtype.kind in "bui" else 1.0
    if a.min() < 0 or a.max() > scale:
        raise BlobError(f"{path}: values must be 0..255 (whole numbers) or 0..1 (floats).")
    t = torch.from_numpy(a.astype(np.float32) / scale)
    if (t.shape[1] == 1) != fmt.grey:
        t = t.mean(1, keepdim=True) if fmt.grey else t.expand(-1, 3, -1, -1)
    t = torch.nn.functional.interpolate(t, size=fmt.size, mode="bilinear", antialias=True, align_corners=False)
    yield from t.clamp(0, 1).numpy()


def _reason(e: BaseException) -> str:
    """FFmpeg's message without its errno and file name: 'Invalid data found when processing input'."""
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(e).strip().split("\n")[0]).split(": '")[0].strip()
    return text or type(e).__name__


# --- folders of clips ------------------------------------------------------------------------------


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
    from .files import check_split_classes

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
    ``splits`` (from files.split_folders) are train/, test/ and maybe val/ folders of clips: that split is kept,
    validation carved from train/ (20%, stratified, seed 0) when there is no val/."""
    from .files import _flag, _options, split_parts

    opts = _options(path, options, OPTIONS)
    fmt = clip_format(path, opts["frames"], opts["size"], opts["grey"], opts["stride"])
    skip_bad = bool(_flag(path, "skip_bad", opts["skip_bad"]))
    found, origin = _split_clips(path, splits) if splits else (_clips(path), [])
    names = sorted({label for _, label in found})
    if len(names) < 2:
        raise BlobError(f"{path}: found {len(found)} clips in {len(names)} class(es); a classifier needs clips of at "
                        "least two classes: one subfolder per class (e.g. wave/a.mp4, clap/b.mp4) or a labels.csv.")
    clip_bytes = 4 * int(np.prod(fmt.shape))
    stream = _flag(path, "stream", opts["stream"])
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


def read_video_inputs(spec: Spec, paths: list[Path]) -> tuple[torch.Tensor, None, list[str]]:
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
