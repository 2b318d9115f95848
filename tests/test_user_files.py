"""A user's own files through the command line, as a user runs it: tiny data sets get a result or one clear
paragraph, every broken file of tests/bad_inputs gives an error rather than a traceback, predict refuses inputs of
the wrong shape (and resamples only when asked), and ``inspect`` shows how a file is read before training."""

from __future__ import annotations

import contextlib
import io
import json
import math
import traceback
from pathlib import Path

import numpy as np
import pytest

from blobbotronic.cli import main
from blobbotronic.data.spec import TooFewToSplit, split_indices

BAD = Path(__file__).parent / "bad_inputs"
NOT_INPUTS = {"README.md", "manifest.json", "make_bad_inputs.py", "__pycache__"}
FRACTIONS = (0.7, 0.15, 0.15)


def cli(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``blobbotronic ARGV`` run in this process; an exception escaping ``main``
    (what a user would see as a traceback) fails the test with that traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse: a usage error
            code = e.code if isinstance(e.code, int) else 2
        except Exception:
            pytest.fail(f"blobbotronic {' '.join(argv)} raised:\n{traceback.format_exc()}")
    return code, out.getvalue(), err.getvalue()


def assert_clear(code: int, out: str, err: str, argv: str) -> None:
    """Exit 0, or exit 2 with one paragraph starting 'error:'; never a traceback."""
    assert code in (0, 2), f"{argv}: exit {code}\n{err}"
    assert "Traceback" not in out + err, f"{argv}:\n{err}"
    if code == 2:
        assert err.startswith("error: ") and err.strip().count("\n") == 0, f"{argv}: not one paragraph:\n{err}"


# ---- tiny data: splits never empty ------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 11))
@pytest.mark.parametrize("n_classes", [None, 2, 3])
def test_split_gives_every_part_an_example_or_says_how_many_are_needed(n: int, n_classes: int | None) -> None:
    labels = None if n_classes is None else np.arange(n) % n_classes
    if n < 3:
        with pytest.raises(TooFewToSplit, match="at least 3 are needed, one for each"):
            split_indices(n, FRACTIONS, 0, labels)
        return
    parts = split_indices(n, FRACTIONS, 0, labels)
    assert all(len(p) >= 1 for p in parts), [len(p) for p in parts]
    assert sorted(np.concatenate(parts).tolist()) == list(range(n))  # each item once
    if labels is not None and n >= len(set(labels.tolist())) + 2:  # enough for one of each class in training
        assert set(labels[parts[0]].tolist()) == set(labels.tolist())


def test_split_of_larger_sets_is_unchanged() -> None:
    """Only splits that would leave a part empty move an item: a data set's published numbers keep their split."""
    labels = np.arange(200) % 3
    parts = split_indices(200, FRACTIONS, 5, labels)
    assert [len(p) for p in parts] == [140, 30, 30]
    assert parts[2][:5].tolist() == [189, 192, 133, 187, 135]  # the rng's draws as before the fix


def tiny_csv(path: Path, rows: int, classes: str = "xy") -> Path:
    rng = np.random.default_rng(rows)
    body = "".join(f"{rng.normal():.3f},{rng.normal():.3f},{classes[i % len(classes)]}\n" for i in range(rows))
    path.write_text("a,b,label\n" + body)
    return path


@pytest.mark.parametrize("rows", [1, 2, 3, 6, 10])
def test_tiny_csv_trains_or_says_how_many_rows_are_needed(tmp_path: Path, rows: int) -> None:
    """3 and 6 rows crashed in evaluation (an empty test split gave a 1-D output to argmax)."""
    f = tiny_csv(tmp_path / f"rows{rows}.csv", rows)
    argv = ("train", "--data", str(f), "--model", "mlp", "--budget", "5 steps", "--no-save", "--json")
    code, out, err = cli(*argv)
    assert_clear(code, out, err, " ".join(argv))
    if rows < 3:
        assert code == 2 and str(f) in err and ("at least 3 are needed" in err or "two classes" in err), err
        return
    assert code == 0, err
    rec = json.loads(out)
    assert all(math.isfinite(v) for v in [*rec["metrics"].values(), *rec["val_metrics"].values()]), rec


def test_tiny_regression_and_sequence_files_train(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = tmp_path / "r3.csv"
    table.write_text("a,b,target\n" + "".join(f"{rng.normal():.3f},{rng.normal():.3f},{rng.normal():.3f}\n"
                                               for _ in range(3)))
    arrays = tmp_path / "s4.npz"
    np.savez(arrays, x=rng.normal(size=(4, 20, 1)).astype(np.float32), y=np.arange(4) % 2)
    for argv in (("--data", str(table), "--data-option", "task=regress", "--model", "mlp"),
                 ("--data", str(arrays), "--model", "cnn")):
        code, out, err = cli("train", *argv, "--budget", "5 steps", "--no-save", "--json")
        assert code == 0, err
        assert all(math.isfinite(v) for v in json.loads(out)["metrics"].values())


# ---- every broken file of tests/bad_inputs, through the commands a user types -------------------------------


def bad_inputs() -> list[str]:
    """The corpus as it stands when the tests are collected (another change may add files to it)."""
    return sorted(p.name for p in BAD.iterdir() if p.name not in NOT_INPUTS)


def manifest() -> dict[str, dict]:
    return {c["path"]: c for c in json.loads((BAD / "manifest.json").read_text())}


def data_options(name: str) -> list[str]:
    """``--data-option KEY=VALUE`` for each loader option the manifest lists for the file."""
    case = manifest().get(name) or {}
    return [arg for k, v in (case.get("options") or {}).items() for arg in ("--data-option", f"{k}={v}")]


@pytest.mark.parametrize("name", bad_inputs())
def test_train_on_a_bad_file_gives_one_paragraph(name: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a run that trains writes its checkpoint under ./blobbotronic-out
    argv = ["train", "--data", str(BAD / name), "--model", "mlp", "--budget", "5 steps", *data_options(name)]
    assert_clear(*cli(*argv), " ".join(argv))


@pytest.mark.parametrize("name", bad_inputs())
def test_inspect_on_a_bad_file_gives_one_paragraph(name: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["inspect", str(BAD / name), *data_options(name)]
    assert_clear(*cli(*argv), " ".join(argv))


@pytest.mark.parametrize("name", bad_inputs())
def test_compare_on_a_bad_file_gives_one_paragraph(name: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["compare", "--data", str(BAD / name), "--models", "mlp", "--seeds", "1", "--budget", "5 steps",
            "--store", str(tmp_path / "runs.db"), "--out", str(tmp_path / "report")]
    assert_clear(*cli(*argv), " ".join(argv))


def write_good_files(root: Path) -> dict[str, tuple[Path, list[str]]]:
    """A small readable data set of each kind the corpus breaks, with the options to read it as the manifest's
    predict cases expect (pets: a table; shapes: 8x8 grey images; waves: 10 steps of 2 channels; clips: 4 frames
    of 8x8; texts: JSON lines)."""
    from PIL import Image

    from blobbotronic.data.video_gen import write_clip

    rng = np.random.default_rng(0)
    pets = root / "pets.csv"
    pets.write_text("age,colour,species\n" + "".join(f"{20 + i},{['red', 'green', 'blue'][i % 3]},{'cd'[i % 2]}\n"
                                                      for i in range(20)))
    for i in range(12):
        (root / "shapes" / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(root / "shapes" / "ab"[i % 2] / f"{i}.png")
    np.savez(root / "waves.npz", x=rng.normal(size=(20, 10, 2)).astype(np.float32), y=np.arange(20) % 2)
    for i in range(14):
        write_clip(root / "clips" / "ab"[i % 2] / f"c{i}.avi", (rng.random((6, 16, 16)) * 255).astype(np.uint8))
    texts = root / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": f"word{i} and more", "label": "pn"[i % 2]}) + "\n" for i in range(20)))
    return {"table": (pets, ["--data-option", "label=species"]), "image": (root / "shapes", []),
            "sequence": (root / "waves.npz", []), "text": (texts, []),
            "video": (root / "clips", ["--data-option", "frames=4", "--data-option", "size=8"])}


@pytest.fixture(scope="module")
def good_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """kind -> (a checkpoint trained 5 steps on a good small file of that kind, that file)."""
    root = tmp_path_factory.mktemp("good")
    out = {}
    for kind, (source, options) in write_good_files(root).items():
        model = "cnn" if kind in ("image", "sequence") else "mlp"
        code, _, err = cli("train", "--data", str(source), "--model", model, "--budget", "5 steps", "--quiet",
                           "--save", str(root / f"ckpt-{kind}"), *options)
        assert code == 0, err
        out[kind] = (root / f"ckpt-{kind}", source)
    return out


@pytest.mark.parametrize("name", bad_inputs())
def test_evaluate_and_predict_with_a_bad_file_give_one_paragraph(name: str, good_checkpoints, tmp_path: Path,
                                                                 monkeypatch) -> None:
    """Each bad file as the data of ``evaluate`` and the input of ``predict``, for a checkpoint of every kind;
    a bad checkpoint (the manifest's 'checkpoint' cases) is given to both with a good file instead."""
    monkeypatch.chdir(tmp_path)
    path = str(BAD / name)
    if (manifest().get(name) or {}).get("via") == "checkpoint":
        runs = [["evaluate", "--checkpoint", path], ["predict", "--checkpoint", path,
                                                     str(good_checkpoints["table"][1])]]
    else:
        runs = [argv for ckpt, _ in good_checkpoints.values() for argv in
                (["evaluate", "--checkpoint", str(ckpt), "--data", path], ["predict", "--checkpoint", str(ckpt), path])]
    for argv in runs:
        assert_clear(*cli(*argv), " ".join(argv))


# ---- predict: the model's sequence length, or --resample ------------------------------------------------


@pytest.fixture(scope="module")
def gunpoint_cnn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNN trained a few steps on built-in gunpoint (series of 150 steps, 1 channel), saved."""
    ckpt = tmp_path_factory.mktemp("gunpoint") / "cnn"
    code, _, err = cli("train", "--data", "gunpoint", "--model", "cnn", "--budget", "5 steps", "--save", str(ckpt),
                       "--quiet")
    assert code == 0, err
    return ckpt


def test_predict_refuses_a_series_of_another_length(gunpoint_cnn: Path, tmp_path: Path) -> None:
    """A length-100 or 1,000 series was answered with probability 1.000; evaluate already refused such shapes."""
    rng = np.random.default_rng(0)
    for n in (100, 1000):
        np.save(tmp_path / f"short{n}.npy", rng.normal(size=n))
        code, out, err = cli("predict", "--checkpoint", str(gunpoint_cnn), str(tmp_path / f"short{n}.npy"))
        assert_clear(code, out, err, f"predict length {n}")
        assert code == 2 and f"short{n}.npy: a series of {n} steps" in err, err
        assert "exactly 150 steps" in err and "(150, 1)" in err and "--resample" in err


def test_predict_resamples_only_when_asked_and_says_so(gunpoint_cnn: Path, tmp_path: Path) -> None:
    series = np.sin(np.linspace(0, 3, 100))
    np.save(tmp_path / "short.npy", series)
    np.save(tmp_path / "stretched.npy", np.interp(np.linspace(0, 99, 150), np.arange(100), series))
    code, out, err = cli("predict", "--checkpoint", str(gunpoint_cnn), str(tmp_path / "short.npy"),
                         str(tmp_path / "stretched.npy"), "--resample", "--json")
    assert code == 0, err
    short, stretched = json.loads(out)["predictions"]
    assert short["resampled"] == {"from": 100, "to": 150} and "resampled" not in stretched
    assert short["probabilities"] == pytest.approx(stretched["probabilities"], abs=1e-5)  # linear interpolation
    code, out, err = cli("predict", "--checkpoint", str(gunpoint_cnn), str(tmp_path / "short.npy"), "--resample")
    assert code == 0 and "resampled from 100 to 150 steps" in out, out + err


def test_predict_reads_one_series_per_row(gunpoint_cnn: Path, tmp_path: Path) -> None:
    """The usual CSV of time series (a row each) was refused with 'expected (length, 1)'; so was such an .npy."""
    rows = np.random.default_rng(1).normal(size=(3, 150))
    np.savetxt(tmp_path / "three.csv", rows, delimiter=",", fmt="%.5f")
    np.save(tmp_path / "three.npy", rows)
    for name in ("three.csv", "three.npy"):
        code, out, err = cli("predict", "--checkpoint", str(gunpoint_cnn), str(tmp_path / name), "--json")
        assert code == 0, err
        preds = json.loads(out)["predictions"]
        assert [p["input"] for p in preds] == [f"{name}:row {i}" for i in (1, 2, 3)]
    csv_probs = [p["probabilities"] for p in json.loads(cli("predict", "--checkpoint", str(gunpoint_cnn),
                                                              str(tmp_path / "three.csv"), "--json")[1])["predictions"]]
    npy_probs = [p["probabilities"] for p in preds]
    assert csv_probs == [pytest.approx(p, abs=1e-4) for p in npy_probs]


def test_variable_length_models_take_shorter_sequences_but_not_longer() -> None:
    import torch

    from blobbotronic.data.inputs import conform
    from blobbotronic.data.spec import Spec
    from blobbotronic.errors import BlobError

    spec = Spec("digits", "sequence", "classify", (6, 2), 2, classes="ab", extra={"variable_length": True})
    x = torch.ones(2, 8, 2)
    same = conform(spec, x, torch.tensor([3, 6]), ["a", "b"])
    assert same[0] is x and same[2] == {}
    with pytest.raises(BlobError, match="b: a series of 8 steps, but the model reads series of at most 6 steps"):
        conform(spec, x, torch.tensor([3, 8]), ["a", "b"])
    out, lengths, resampled = conform(spec, x, torch.tensor([3, 8]), ["a", "b"], resample=True)
    assert out.shape == (2, 6, 2) and lengths.tolist() == [3, 6] and resampled == {"b": 8}


# ---- inspect: how a file is read, before training ---------------------------------------------------------


def inspect_json(*argv: str) -> dict:
    code, out, err = cli("inspect", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def assert_counts_add_up(r: dict) -> None:
    for split in ("train", "val", "test"):
        assert sum(c[split] for c in r["classes"]) == r["splits"][split]


def test_inspect_a_csv_shows_columns_types_classes_split_and_options(tmp_path: Path) -> None:
    rows = "".join(f"{20 + i},{'' if i % 5 == 0 else 1.5 * i},{['red', 'green', 'blue'][i % 3]},{'cd'[i % 2]}\n"
                   for i in range(30))
    f = tmp_path / "pets.csv"
    f.write_text("age,weight,colour,species\n" + rows)
    r = inspect_json(str(f))
    assert (r["modality"], r["task"], r["input_shape"], r["builtin"]) == ("table", "classify", [5], False)
    types = {c["name"]: c["type"] for c in r["layout"]["columns"]}
    assert types == {"age": "numeric", "weight": "numeric", "colour": "categorical", "species": "label (2 classes)"}
    assert next(c for c in r["layout"]["columns"] if c["name"] == "weight")["missing"] == 6
    assert [c["class"] for c in r["classes"]] == ["c", "d"] and sum(r["splits"].values()) == 30
    assert_counts_add_up(r)
    assert r["split"]["kind"] == "random" and r["split"]["seed"] == 0 and "stratified by class" in r["split"]["about"]
    options = {o["name"]: o["value"] for o in r["options"]}
    assert options["label"] == "species" and options["task"] == "classify" and "text" in options
    assert any(o["set"] == "task=forecast" for o in r["other_readings"])
    # an option changes the reading, and says it was given; another seed draws another split
    r = inspect_json(str(f), "--data-option", "label=colour", "--seed", "3")
    assert [c["class"] for c in r["classes"]] == ["blue", "green", "red"] and r["split"]["seed"] == 3
    assert next(o for o in r["options"] if o["name"] == "label")["given"] is True
    code, out, err = cli("inspect", str(f))  # the readable rendering
    assert code == 0, err
    assert "categorical" in out and "one-hot over blue, green, red" in out and "random with seed 0" in out


def test_inspect_builtin_gunpoint_shows_the_published_split() -> None:
    r = inspect_json("gunpoint")
    assert (r["modality"], r["input_shape"], r["layout"]) == ("sequence", [150, 1], {"steps": 150, "channels": 1})
    assert r["split"]["kind"] == "published" and r["splits"]["test"] == 150
    assert r["lengths"] == {"variable": False, "steps": 150}
    assert_counts_add_up(r)


def test_inspect_an_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(12):
        (tmp_path / "imgs" / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((8, 10)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / "ab"[i % 2] / f"{i}.png")
    r = inspect_json(str(tmp_path / "imgs"))
    assert r["modality"] == "image" and r["layout"] == {"channels": 1, "colour": "grey", "height": 8, "width": 10}
    assert_counts_add_up(r)
    assert {o["name"]: o["value"] for o in r["options"]} == {"size": "8x10", "grey": True, "skip_bad": False}
    r = inspect_json(str(tmp_path / "imgs"), "--data-option", "size=4", "--data-option", "grey=false")
    assert r["input_shape"] == [3, 4, 4]


def test_inspect_notes_a_class_left_out_of_training(tmp_path: Path) -> None:
    """Three rows of two classes split 1/1/1: inspect says which class no model could learn."""
    f = tiny_csv(tmp_path / "three.csv", 3)
    r = inspect_json(str(f))
    untrained = [c["class"] for c in r["classes"] if c["train"] == 0]
    assert len(untrained) == 1 and any(f"class {untrained[0]!r} has no training examples" in n for n in r["notes"])
