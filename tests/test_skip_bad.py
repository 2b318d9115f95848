"""--skip-bad end to end: a folder of clips or images with one broken file stops train, evaluate, compare
and predict with a clear error naming the file; with --skip-bad the file is left out, counted in the JSON
records and named in the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blobbotronic.cli import main

pytest.importorskip("av")

from .test_video import clip_folder, moving_square  # noqa: E402  (PyAV is there: the helpers write clips)

VIDEO = ["--data-option", "frames=4", "--data-option", "size=8"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def broken_clips(tmp_path: Path) -> Path:
    root = clip_folder(tmp_path / "clips")
    (root / "left" / "broken.mp4").write_bytes(b"\x00" * 300)
    return root


def broken_images(tmp_path: Path) -> Path:
    """Two classes of seven 8x8 PNGs, and one PNG cut off after its header."""
    root = tmp_path / "pics"
    for c, level in (("dark", 40), ("light", 210)):
        (root / c).mkdir(parents=True)
        for i in range(7):
            Image.fromarray(np.full((8, 8), level + i, np.uint8)).save(root / c / f"{i}.png")
    whole = (root / "dark" / "0.png").read_bytes()
    (root / "dark" / "corrupt.png").write_bytes(whole[:40])
    return root


def test_a_broken_clip_stops_training_or_is_skipped_counted_and_remembered(tmp_path: Path, capsys) -> None:
    root = broken_clips(tmp_path)
    ckpt = tmp_path / "ckpt"
    train = ["train", "--data", str(root), "--model", "frame_cnn", "--budget", "3 steps", "--quiet",
             "--save", str(ckpt), *VIDEO]
    code, out, err = run(capsys, *train, "--json")
    assert code == 2 and "broken.mp4" in err and "Traceback" not in err
    assert "broken.mp4" in json.loads(out)["error"]  # under --json the error is also one JSON object on stdout
    code, out, err = run(capsys, *train, "--json", "--skip-bad")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["data"] == {"skipped": 1, "skipped_files": [str(Path("left") / "broken.mp4")]}
    # evaluate re-reads the folder as training did (skip_bad is saved with the checkpoint)
    code, out, err = run(capsys, "evaluate", "--checkpoint", str(ckpt), "--json")
    assert code == 0, err
    assert json.loads(out)["data"]["skipped"] == 1
    # the readable rendering says it too
    code, out, err = run(capsys, *train, "--skip-bad", "--no-save")
    assert code == 0, err
    assert "1 unreadable file skipped: left/broken.mp4" in " ".join(out.split())


def test_a_corrupt_png_stops_training_or_is_skipped_and_counted(tmp_path: Path, capsys) -> None:
    root = broken_images(tmp_path)
    train = ["train", "--data", str(root), "--model", "mlp", "--budget", "3 steps", "--quiet", "--no-save", "--json"]
    code, out, err = run(capsys, *train)
    assert code == 2 and "corrupt.png" in err and "Traceback" not in err
    code, out, err = run(capsys, *train, "--skip-bad")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["data"] == {"skipped": 1, "skipped_files": [str(Path("dark") / "corrupt.png")]}
    assert rec["metrics"]["accuracy"] >= 0  # trained on the 14 readable images


def test_compare_skips_and_the_report_names_the_file(tmp_path: Path, capsys) -> None:
    root = broken_images(tmp_path)
    grid = ["compare", "--data", f"{root},xor", "--models", "mlp", "--seeds", "1", "--budget", "3 steps",
            "--workers", "1", "--store", str(tmp_path / "runs.db"), "--out", str(tmp_path / "report"), "--json"]
    code, out, err = run(capsys, *grid)
    assert code == 2 and "corrupt.png" in err and "Traceback" not in err
    code, out, err = run(capsys, *grid, "--skip-bad")  # the built-in xor has no files to skip: no error
    assert code == 0, err
    res = json.loads(out)
    assert res["data"] == {str(root): {"skipped": 1, "skipped_files": [str(Path("dark") / "corrupt.png")]}}
    md = (tmp_path / "report" / "report.md").read_text()
    assert md.count("1 unreadable file skipped: dark/corrupt.png") == 1  # under the folder's section only
    html = (tmp_path / "report" / "report.html").read_text()
    assert "1 unreadable file skipped: dark/corrupt.png" in html
    # the count lives in the stored rows, so a report written later from the store says it too
    code, out, err = run(capsys, "report", "--store", str(tmp_path / "runs.db"), "--out", str(tmp_path / "again"))
    assert code == 0, err
    assert "1 unreadable file skipped: dark/corrupt.png" in " ".join(out.split())
    assert "1 unreadable file skipped" in (tmp_path / "again" / "report.md").read_text()


def test_predict_skips_an_unreadable_input_file(tmp_path: Path, capsys) -> None:
    root = broken_clips(tmp_path)
    ckpt = tmp_path / "ckpt"
    code, _, err = run(capsys, "train", "--data", str(root), "--model", "frame_cnn", "--budget", "3 steps", "--quiet",
                       "--save", str(ckpt), "--skip-bad", *VIDEO)
    assert code == 0, err
    good = str(root / "right" / "r0.avi")
    bad = str(root / "left" / "broken.mp4")
    code, out, err = run(capsys, "predict", "--checkpoint", str(ckpt), good, bad, "--json")
    assert code == 2 and "broken.mp4" in err and "Traceback" not in err
    code, out, err = run(capsys, "predict", "--checkpoint", str(ckpt), good, bad, "--json", "--skip-bad")
    assert code == 0, err
    res = json.loads(out)
    assert [p["input"] for p in res["predictions"]] == [good] and res["skipped"] == [bad]
    code, out, err = run(capsys, "predict", "--checkpoint", str(ckpt), bad, "--skip-bad")
    assert code == 2 and "None of the 1 input file(s) could be read" in err


def test_skip_bad_is_ignored_where_there_are_no_files_to_skip(tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, "train", "--data", "xor", "--model", "mlp", "--budget", "3 steps", "--quiet",
                         "--no-save", "--json", "--skip-bad")
    assert code == 0, err
    assert json.loads(out)["data"] == {"skipped": 0, "skipped_files": []}
    table = tmp_path / "t.csv"
    table.write_text("a,b,label\n1,2,x\n3,4\n5,6,y\n")  # line 3 is short: a single file is fixed in place
    code, out, err = run(capsys, "train", "--data", str(table), "--model", "mlp", "--quiet", "--no-save", "--skip-bad")
    assert code == 2 and "t.csv" in err and "--skip-bad skips only unreadable files inside a folder" in err


def test_an_experiment_file_can_ask_for_skip_bad(tmp_path: Path) -> None:
    from blobbotronic.config import read
    from blobbotronic.errors import BlobError

    (tmp_path / "e.yaml").write_text("data: [xor]\nmodels: [mlp]\nskip_bad: true\n")
    assert read(tmp_path / "e.yaml").values["skip_bad"] is True
    (tmp_path / "e.yaml").write_text("data: [xor]\nmodels: [mlp]\nskip_bad: sometimes\n")
    with pytest.raises(BlobError, match="key skip_bad: must be true or false"):
        read(tmp_path / "e.yaml")


def test_a_truncated_clip_is_skipped_like_a_garbage_one(tmp_path: Path) -> None:
    from blobbotronic.data.bad_files import load_data, skipped_info
    from blobbotronic.data.video_gen import write_clip

    root = clip_folder(tmp_path / "clips")
    whole = write_clip(tmp_path / "whole.avi", moving_square(frames=30)).read_bytes()
    (root / "right" / "cut.avi").write_bytes(whole[: len(whole) // 2])
    ds = load_data(root, skip_bad=True, options={"frames": 4, "size": 8})
    assert skipped_info(ds) == {"skipped": 1, "skipped_files": [str(Path("right") / "cut.avi")]}
    assert sum(ds.sizes().values()) == 14
