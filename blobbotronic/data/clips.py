"""Reading one clip (a video file, a folder of frames or a .npy array) as float32 (T, C, H, W) in [0, 1].

A clip becomes ``frames`` frames: spread evenly over the clip, or every ``stride``-th frame from the start (the
last one repeats when the clip is short). Video files decode through PyAV (FFmpeg), else OpenCV, else imageio;
frames of a folder (sorted by name, numbers compared as numbers) through the image loader. Folders of clips are
video.py's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BlobError
from .images import load_image
from .options import flag, size_option
from .reading import ARRAY_FILE_ERRORS, open_binary
from .spec import Spec

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".gif", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
TRUNCATED = 0.9  # fewer decoded frames than this share of the header's count: the file is cut short
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

    def whole(name: str, value: Any, low: int) -> int:
        try:
            v = int(value)
            if v != float(value) or v < low:
                raise ValueError
        except (TypeError, ValueError):
            raise BlobError(f"{where}: option {name}={value!r} must be a whole number of at least {low}.") from None
        return v

    return ClipFormat(whole("frames", frames, 1), size_option(where, size), bool(flag(where, "grey", grey)),
                      None if stride in (None, "", "none") else whole("stride", stride, 1))


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
    files = sorted((f for f in path.iterdir() if f.suffix.lower() in FRAME_SUFFIXES and not f.name.startswith(".")),
                   key=natural_key)
    wanted = set(_wanted(len(files), fmt) or [])
    for i, f in enumerate(files):
        yield load_image(f, fmt.size, fmt.grey) if i in wanted else np.zeros(0)  # the others are never kept


def _array_frames(path: Path, fmt: ClipFormat) -> Iterator[np.ndarray]:
    """The frames of a .npy clip: (T, H, W), (T, C, H, W) or (T, H, W, C); 0..255 integers or 0..1 floats."""
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
