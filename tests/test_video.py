"""Tests of video: reading clips (PyAV files, frame folders, .npy), folders of clips in memory and streamed,
the generators' physics, the video models, and predict on a real clip file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blobbotronic.data import Spec, load, read_inputs
from blobbotronic.data.video import ClipFormat, ClipStore, is_video_folder, read_clip
from blobbotronic.data.video_gen import (
    DIRECTIONS,
    GESTURES,
    falling_ball,
    gesture_path,
    make_ball_flight,
    make_moving_digits,
    write_clip,
)
from blobbotronic.errors import BlobError
from blobbotronic.models import create
from blobbotronic.train import fit

pytest.importorskip("av")


def moving_square(frames: int = 12, h: int = 24, w: int = 32, step: int = 2, row: int = 8) -> np.ndarray:
    """(T, H, W) uint8: a bright 6x6 square moving right by ``step`` pixels a frame."""
    a = np.zeros((frames, h, w), np.uint8)
    for t in range(frames):
        a[t, row : row + 6, step * t : step * t + 6] = 255
    return a


def column_of_mass(clip: np.ndarray) -> list[float]:
    """The horizontal centre of brightness of each frame of a (T, C, H, W) clip."""
    cols = clip.sum((1, 2))  # (T, W)
    return list((cols * np.arange(clip.shape[-1])).sum(1) / cols.sum(1))


def clip_folder(root: Path, per_class: int = 7, suffix: str = ".avi") -> Path:
    """Class folders 'right' and 'left' of tiny clips of a square moving that way."""
    for k in range(per_class):
        a = moving_square(row=2 + 3 * k)
        write_clip(root / "right" / f"r{k}{suffix}", a)
        write_clip(root / "left" / f"l{k}{suffix}", a[::-1])
    return root


# --- reading clips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".webm", ".gif", ".mkv"])
def test_every_container_reads_to_the_same_motion(tmp_path: Path, suffix: str) -> None:
    path = write_clip(tmp_path / f"clip{suffix}", moving_square())
    clip = read_clip(path, ClipFormat(frames=6, size=(12, 16), grey=True))
    assert clip.shape == (6, 1, 12, 16) and clip.dtype == np.float32
    assert 0.0 <= clip.min() and clip.max() <= 1.0
    centre = column_of_mass(clip)
    assert all(b > a for a, b in zip(centre, centre[1:], strict=False)), centre  # moving right, frame after frame
    colour = read_clip(path, ClipFormat(frames=3, size=(12, 16), grey=False))
    assert colour.shape == (3, 3, 12, 16)


def test_without_pyav_gifs_still_read_and_videos_name_the_package(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("imageio")
    gif = write_clip(tmp_path / "clip.gif", moving_square())
    mp4 = write_clip(tmp_path / "clip.mp4", moving_square())
    with_av = read_clip(gif, ClipFormat(frames=6, size=(12, 16)))
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    monkeypatch.setitem(sys.modules, "cv2", None)
    without = read_clip(gif, ClipFormat(frames=6, size=(12, 16)))  # imageio reads GIFs through Pillow
    assert without.shape == with_av.shape and np.abs(without - with_av).mean() < 0.05
    with pytest.raises(BlobError, match="clip.mp4.*pip install av"):
        read_clip(mp4, ClipFormat(frames=6, size=(12, 16)))


def test_frames_are_spread_evenly_or_taken_by_stride(tmp_path: Path) -> None:
    a = np.zeros((10, 8, 8), np.uint8)
    for t in range(10):
        a[t] = 20 * t  # frame t has brightness 20 t
    np.save(tmp_path / "ramp.npy", a)
    level = lambda clip: [round(float(f.mean()) * 255 / 20) for f in clip]  # noqa: E731
    assert level(read_clip(tmp_path / "ramp.npy", ClipFormat(4, (8, 8)))) == [0, 3, 6, 9]
    assert level(read_clip(tmp_path / "ramp.npy", ClipFormat(4, (8, 8), stride=2))) == [0, 2, 4, 6]
    # a clip too short for frames x stride repeats its last frame
    assert level(read_clip(tmp_path / "ramp.npy", ClipFormat(4, (8, 8), stride=4))) == [0, 4, 8, 8]


def test_frame_folders_sort_numbers_as_numbers(tmp_path: Path) -> None:
    clip = tmp_path / "clip"
    clip.mkdir()
    for t in range(12):  # frame2.png must come before frame10.png
        Image.fromarray(np.full((8, 8), 20 * t, np.uint8)).save(clip / f"frame{t}.png")
    out = read_clip(clip, ClipFormat(12, (8, 8)))
    assert [round(float(f.mean()) * 255 / 20) for f in out] == list(range(12))


def test_a_truncated_video_names_the_file(tmp_path: Path) -> None:
    whole = write_clip(tmp_path / "whole.avi", moving_square(frames=30)).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BlobError, match="cut.avi.*(truncated|cannot decode)"):
        read_clip(cut, ClipFormat(4, (8, 8)))


# --- folders of clips ------------------------------------------------------------------------------


def test_a_folder_of_clips_loads_as_video(tmp_path: Path) -> None:
    root = clip_folder(tmp_path / "clips")
    assert is_video_folder(root)
    ds = load(root, frames=6, size=16)
    assert ds.spec.modality == "video" and ds.spec.classes == ("left", "right")
    assert ds.spec.input_shape == (6, 1, 16, 16) and not ds.meta["streamed"]
    assert ds.spec.extra == {"frames": 6, "size": [16, 16], "grey": True, "stride": None}
    x = torch.cat([ds.train.x, ds.val.x, ds.test.x])
    y = torch.cat([ds.train.y, ds.val.y, ds.test.y])
    assert len(x) == 14 and (y == 1).sum() == 7
    for clip, label in zip(x.numpy(), y.tolist(), strict=True):  # the labels follow the motion
        centre = column_of_mass(clip)
        assert (centre[-1] > centre[0]) == (label == 1)


def test_image_folders_still_load_as_images(tmp_path: Path) -> None:
    for c in "ab":
        (tmp_path / c).mkdir()
        for i in range(2):
            Image.fromarray(np.full((8, 8), 50 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    assert not is_video_folder(tmp_path)
    assert load(tmp_path).spec.modality == "image"


def test_clip_folders_and_labels_csv(tmp_path: Path) -> None:
    for name, a in (("up", moving_square()), ("down", moving_square()[::-1])):
        for k in range(7):
            folder = tmp_path / name / f"clip{k}"
            folder.mkdir(parents=True)
            for t, frame in enumerate(a):
                Image.fromarray(frame).save(folder / f"{t:03d}.png")
    ds = load(tmp_path, frames=4, size=8)
    assert ds.spec.classes == ("down", "up") and sum(ds.sizes().values()) == 14
    # the same clips listed in a labels.csv instead of class folders
    flat = tmp_path / "flat"
    flat.mkdir()
    rows = []
    for name in ("up", "down"):
        for k in range(7):
            (tmp_path / name / f"clip{k}").rename(flat / f"{name}{k}")
            rows.append(f"{name}{k},{name}")
    (flat / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    assert load(flat, frames=4, size=8).spec.classes == ("down", "up")


def test_bad_clips_stop_the_load_or_are_skipped_and_counted(tmp_path: Path) -> None:
    root = clip_folder(tmp_path / "clips")
    (root / "left" / "broken.mp4").write_bytes(b"\x00" * 300)
    with pytest.raises(BlobError, match="broken.mp4"):
        load(root, frames=4, size=8)
    ds = load(root, frames=4, size=8, skip_bad=True)
    assert ds.meta["skipped"] == 1 and ds.meta["skipped_files"][0].endswith("broken.mp4")
    assert sum(ds.sizes().values()) == 14


def test_streamed_folder_matches_memory_and_stays_bounded(tmp_path: Path) -> None:
    root = clip_folder(tmp_path / "clips", per_class=8)
    memory = load(root, frames=4, size=8, seed=3)
    streamed = load(root, frames=4, size=8, seed=3, stream=True, cache=2)
    assert streamed.meta["streamed"] and isinstance(streamed.train.x, ClipStore)
    pairs = zip((memory.train, memory.val, memory.test), (streamed.train, streamed.val, streamed.test), strict=True)
    for a, b in pairs:
        assert b.x.shape == a.x.shape
        torch.testing.assert_close(b.x[torch.arange(len(b))], a.x)  # same clips, same order, same values
        torch.testing.assert_close(b.x[1:3], a.x[1:3])
        torch.testing.assert_close(b.x[torch.tensor([[0, 1], [1, 0]])], a.x[torch.tensor([[0, 1], [1, 0]])])
    store = streamed.train.x
    assert 0 < store.cached <= 2  # never more decoded clips kept than the cache allows
    run = fit(create("crnn", streamed.spec, width=4, hidden=8), streamed, budget="4 steps", batch_size=4, quiet=True)
    assert run.cost["steps"] == 4 and 0.0 <= run.metrics["accuracy"] <= 1.0
    assert store.cached <= 2 and store.decoded > 24  # every batch was decoded from disk


def test_npz_video_arrays_load_and_train(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "v.npz", x=rng.integers(0, 256, (20, 4, 1, 8, 8)).astype(np.uint8), y=np.arange(20) % 2)
    ds = load(tmp_path / "v.npz")
    assert ds.spec.modality == "video" and ds.spec.input_shape == (4, 1, 8, 8)
    fit(create("frame_cnn", ds.spec), ds, budget="2 steps", quiet=True)


# --- generators ------------------------------------------------------------------------------------


def test_ball_flight_is_gravity_and_up_is_down_reversed() -> None:
    ds = make_ball_flight(pairs=30, frames=12, size=24, seed=1)
    again = make_ball_flight(pairs=30, frames=12, size=24, seed=1)
    torch.testing.assert_close(ds.train.x, again.train.x)  # deterministic by seed
    for split in (ds.train, ds.val, ds.test):  # pairs never straddle splits
        up, down = split.x[0::2], split.x[1::2]
        assert (split.y[0::2] == 0).all() and (split.y[1::2] == 1).all()
        torch.testing.assert_close(up, down.flip(1))
    middle = make_ball_flight(pairs=4, frames=15, size=24, seed=1).train
    torch.testing.assert_close(middle.x[0::2, 7], middle.x[1::2, 7])  # odd length: one middle moment for both
    # the falling ball's height follows y0 + u t + g t^2 / 2, with g between 0.06 and 0.12 px/frame^2
    rng, t, rows = np.random.default_rng(0), np.arange(16), np.arange(32)[None, :, None]
    for _ in range(5):
        clip = falling_ball(rng, 16, 32)[:, 0]
        weight = np.clip(clip - np.median(clip, (1, 2), keepdims=True) - 0.25, 0, None)  # the ball, not the noise
        height = (weight * rows).sum((1, 2)) / weight.sum((1, 2))
        half_g, u, _ = np.polyfit(t, height, 2)
        assert 0.04 < 2 * half_g < 0.15 and u > -0.3 and height[-1] > height[0]  # down the screen, accelerating


def test_one_frame_of_ball_flight_cannot_tell_up_from_down() -> None:
    from sklearn.linear_model import LogisticRegression

    ds = make_ball_flight(pairs=200, frames=16, size=24, seed=2)
    rng = np.random.default_rng(0)

    def frames(split, pick):  # one frame per clip, at a random time, flattened to pixels
        x = split.x.numpy()
        t = rng.integers(0, x.shape[1], len(x))
        return pick(x, t).reshape(len(x), -1), split.y.numpy()

    single = lambda x, t: x[np.arange(len(x)), t]  # noqa: E731
    motion = lambda x, t: x[:, -1] - x[:, 0]  # noqa: E731  (positive control: two frames in order)
    for pick, low, high in ((single, 0.4, 0.6), (motion, 0.9, 1.01)):
        xtr, ytr = frames(ds.train, pick)
        xte, yte = frames(ds.test, pick)
        acc = LogisticRegression(max_iter=300, C=1.0).fit(xtr, ytr).score(xte, yte)
        assert low <= acc <= high, (pick, acc)


def test_moving_digits_move_in_their_direction_and_bounce() -> None:
    x, digits, directions = make_moving_digits(clips=40, frames=12, seed=3)
    assert x.shape == (40, 12, 1, 32, 32) and 0 <= x.min() and x.max() <= 1
    assert set(digits.tolist()) == set(range(10))
    rows, cols = np.arange(32)[:, None], np.arange(32)[None, :]
    for clip, d in zip(x[:, :, 0], directions, strict=True):
        w = clip.sum((1, 2))
        cy, cx = (clip * rows).sum((1, 2)) / w, (clip * cols).sum((1, 2)) / w
        angle = d * np.pi / 4  # 0 = up, clockwise
        moved = (cy[3] - cy[0]) * -np.cos(angle) + (cx[3] - cx[0]) * np.sin(angle)
        assert moved > 1.5, (DIRECTIONS[d], cy[:4], cx[:4])  # the first frames move the named way
    assert np.abs(np.diff(x[:, :, 0].sum((2, 3)), axis=1)).max() < 40  # the digit stays whole in view


@pytest.mark.parametrize("kind", range(len(GESTURES)))
def test_gesture_paths_trace_their_shape(kind: int) -> None:
    rng = np.random.default_rng(kind)
    for _ in range(5):
        cy, cx = gesture_path(kind, rng, 16, 32)
        name = GESTURES[kind]
        dy, dx = cy[-1] - cy[0], cx[-1] - cx[0]
        if name.startswith("swipe"):
            along = {"swipe_left": -dx, "swipe_right": dx, "swipe_up": -dy, "swipe_down": dy}[name]
            assert along > 5
        elif name.startswith("circle"):
            a = np.unwrap(np.arctan2(cy - cy.mean(), cx - cx.mean()))
            turn = a[-1] - a[0]  # rows grow downward, so a positive angle turns clockwise on screen
            assert (turn > 3) if name == "circle_clockwise" else (turn < -3)
        else:
            assert abs(dx) > 5 and np.sum(np.abs(np.diff(np.sign(np.diff(cy))))) >= 2  # turns up and down


# --- models ----------------------------------------------------------------------------------------

SPEC = Spec("v", "video", "classify", (8, 1, 16, 16), 2, classes="ab")


def test_frame_cnn_is_blind_to_order_and_crnn_is_not() -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 8, 1, 16, 16)
    frame_cnn, crnn = create("frame_cnn", SPEC).eval(), create("crnn", SPEC).eval()
    torch.testing.assert_close(frame_cnn(x), frame_cnn(x.flip(1)), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(crnn(x), crnn(x.flip(1)), atol=1e-4)
    middle = create("frame_cnn", SPEC, time="middle").eval()
    y = x.clone()
    y[:, 0] = 0  # only the middle frame matters to it
    torch.testing.assert_close(middle(x), middle(y))


@pytest.mark.parametrize("name,params", [("crnn", {"cell": "gru"}), ("crnn", {"bidirectional": True}),
                                         ("cnn3d", {"readout": "avg"}), ("convlstm", {"hidden": 4})])
def test_model_variants_run(name: str, params: dict) -> None:
    out = create(name, SPEC, **params)(torch.rand(2, 8, 1, 16, 16))
    assert out.shape == (2, 2) and torch.isfinite(out).all()


# --- predict on a real file ------------------------------------------------------------------------


def test_predict_reads_a_clip_file_end_to_end(tmp_path: Path, capsys) -> None:
    from blobbotronic.cli import main

    root = clip_folder(tmp_path / "clips", per_class=7)
    (root / "left" / "broken.webm").write_bytes(b"\x1aE\xdf\xa3" + b"\x00" * 200)  # a WebM header, then nothing
    ckpt = tmp_path / "ckpt"
    train = ["train", "--data", str(root), "--model", "frame_cnn", "--budget", "3 steps", "--save", str(ckpt), "--json",
             "--quiet", "--data-option", "frames=8", "--data-option", "size=24x32"]
    assert main(train) == 2 and "broken.webm" in capsys.readouterr().err  # a clear error, no traceback
    assert main([*train, "--data-option", "skip_bad=yes"]) == 0
    capsys.readouterr()
    clip = write_clip(tmp_path / "new.mp4", moving_square(frames=20, h=48, w=64, step=3))
    assert main(["predict", "--checkpoint", str(ckpt), str(clip), str(root / "left" / "l0.avi"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["input"] for p in out["predictions"]] == [str(clip), str(root / "left" / "l0.avi")]
    assert all(p["label"] in ("left", "right") and abs(sum(p["probabilities"].values()) - 1) < 1e-5
               for p in out["predictions"])
    x, lengths, _ = read_inputs(Spec.from_dict(json.loads((ckpt / "config.json").read_text())["spec"]), [clip])
    assert x.shape == (1, 8, 1, 24, 32) and lengths is None  # read as the training clips were


def test_predict_refuses_files_that_are_not_clips(tmp_path: Path) -> None:
    spec = Spec("v", "video", "classify", (4, 1, 8, 8), 2, classes="ab", extra={"frames": 4, "size": [8, 8]})
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BlobError, match="notes.txt: not a clip"):
        read_inputs(spec, [tmp_path / "notes.txt"])


# --- the claim, measured (slow) --------------------------------------------------------------------


@pytest.mark.slow
def test_ball_flight_needs_time_frame_cnn_at_chance_crnn_near_perfect() -> None:
    from blobbotronic.train import train

    ds = load("ball_flight")
    assert train(ds, "frame_cnn", seed=0, quiet=True).metrics["accuracy"] == pytest.approx(0.5, abs=0.05)
    assert train(ds, "crnn", seed=0, quiet=True).metrics["accuracy"] >= 0.95
