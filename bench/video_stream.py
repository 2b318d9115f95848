"""Streaming a large folder of clips through training with bounded memory: peak RSS against the folder's size.

Writes (in a temporary folder, removed at the end) two classes of clips, a ball moving up or down over a
textured, panning background, until they total at least ``--gigabytes`` on disk. Most clips are
uncompressed AVI (rawvideo: quick to write, and as large on disk as their frames); every fifth is an MP4
(MPEG-4 part 2 at a high bitrate) so that a real codec is exercised too. Then ``load(folder, stream=True)``
decodes every clip once to check it, and a CRNN trains for ``--epochs`` passes over the training clips,
each batch decoded from disk on demand through a ClipStore that keeps at most ``--cache`` decoded clips.
Prints the folder's size, clip count, times, decoding throughput and the process's peak resident memory.

    python bench/video_stream.py                    # 2 GB, 320x240 colour clips of 32 frames
    python bench/video_stream.py --gigabytes 0.2 --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from blobbotronic.data import load
from blobbotronic.data.video_gen import write_clip
from blobbotronic.models import create
from blobbotronic.train import fit, seed_everything
from blobbotronic.train.metrics import peak_rss_mb


def ball_clip(rng: np.random.Generator, up: bool, frames: int, h: int, w: int) -> np.ndarray:
    """(T, H, W, 3) uint8: a ball crossing the frame vertically over a panning noise texture."""
    texture = rng.integers(0, 90, (h, w + frames * 2, 3), dtype=np.uint8)
    out = np.empty((frames, h, w, 3), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    x0, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.05, 0.1) * h
    for t in range(frames):
        out[t] = texture[:, 2 * t : 2 * t + w]  # the camera pans two pixels a frame
        y = h * (0.85 - 0.7 * t / (frames - 1))
        y = y if up else h - y
        out[t][(yy - y) ** 2 + (xx - x0) ** 2 < r * r] = (230, 200, 40)
    return out


def write_folder(root: Path, gigabytes: float, frames: int, h: int, w: int) -> tuple[int, int]:
    """Clips in root/up and root/down until their files total ``gigabytes``; returns (clips, bytes)."""
    rng = np.random.default_rng(0)
    total, n = 0, 0
    while total < gigabytes * 1e9:
        up = n % 2 == 0
        mp4 = n % 5 == 4
        path = root / ("up" if up else "down") / f"clip{n:04d}{'.mp4' if mp4 else '.avi'}"
        clip = ball_clip(rng, up, frames, h, w)
        if mp4:
            write_clip(path, clip, codec="mpeg4", options={"b": "20000000"})
        else:
            write_clip(path, clip, codec="rawvideo")
        total += path.stat().st_size
        n += 1
    return n, total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gigabytes", type=float, default=2.0, help="size of the folder of clips (default 2)")
    p.add_argument("--frames", type=int, default=32, help="frames per clip on disk")
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--size", type=int, default=64, help="frames are read at size x size")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--cache", type=int, default=32, help="decoded clips kept in memory while streaming")
    p.add_argument("--tmp", help="where to write the clips (default: the system's temporary folder)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    root = Path(tempfile.mkdtemp(prefix="blobbotronic-video-bench-", dir=args.tmp))
    try:
        t = time.perf_counter()
        clips, size = write_folder(root, args.gigabytes, args.frames, args.height, args.width)
        write_s = time.perf_counter() - t
        peak_writing = peak_rss_mb()

        t = time.perf_counter()
        ds = load(root, frames=16, size=args.size, grey=False, stream=True, cache=args.cache)
        load_s = time.perf_counter() - t
        peak_loading = peak_rss_mb()

        seed_everything(0)
        model = create("crnn", ds.spec)
        # one validation check, at the end: the point is the training stream, not 30 passes over validation
        run = fit(model, ds, budget=f"{args.epochs} epochs", batch_size=args.batch_size, patience=None,
                  eval_every=10**9, quiet=True)
        decoded = ds.train.x.decoded  # the splits share one decoded-clip cache and its count
        result = {
            "folder_gb": size / 1e9, "clips": clips, "clip_shape_on_disk": [args.frames, args.height, args.width, 3],
            "read_as": list(ds.spec.input_shape), "streamed": ds.meta["streamed"], "write_seconds": write_s,
            "load_seconds": load_s, "load_mb_per_second": size / 1e6 / load_s,
            "train_seconds": run.cost["train_seconds"], "train_steps": run.cost["steps"],
            "clips_decoded_after_load": decoded, "test_accuracy": run.metrics["accuracy"],
            "peak_rss_mb_writing": peak_writing, "peak_rss_mb_loading": peak_loading,
            "peak_rss_mb_training": run.cost["peak_rss_mb"],
            "peak_rss_mb": max(peak_writing, peak_loading, run.cost["peak_rss_mb"]),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["cleaned_up"] = not root.exists()
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>28}  {v:,.2f}" if isinstance(v, float) else f"{k:>28}  {v}")


if __name__ == "__main__":
    main()
