"""Tests of the file loaders (CSV, .npz, image folders), of reading new inputs for predict, and of bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blobbotronic.data import Spec, load, read_inputs
from blobbotronic.errors import BlobError

BAD = Path(__file__).parent / "bad_inputs"
BAD_CASES = json.loads((BAD / "manifest.json").read_text())

PETS = """age,colour,weight,species
3,red,4.0,cat
5,blue,30,dog
,red,3.5,cat
7,green,,dog
2,red,4.2,cat
9,blue,25,dog
4,NA,3.9,cat
6,green,28,dog
1,red,3.1,cat
8,blue,35,dog
3,red,4.4,cat
5,green,27,dog
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def all_rows(ds) -> torch.Tensor:
    return torch.cat([ds.train.x, ds.val.x, ds.test.x])


def sorted_rows(x: torch.Tensor) -> np.ndarray:
    a = x.numpy().round(5)
    return a[np.lexsort(a.T[::-1])]


# --- CSV -------------------------------------------------------------------------------------------


def test_csv_with_numbers_categories_and_gaps(tmp_path: Path) -> None:
    ds = load(write(tmp_path / "pets.csv", PETS), seed=1)
    spec = ds.spec
    assert (spec.modality, spec.task, spec.classes) == ("table", "classify", ("cat", "dog"))
    assert spec.extra["label"] == "species"
    assert spec.extra["categories"]["colour"] == sorted(spec.extra["categories"]["colour"])
    n_features = 2 + len(spec.extra["categories"]["colour"])
    assert spec.input_shape == (n_features,) and len(spec.extra["features"]) == n_features
    assert set(spec.extra["medians"]) == {"age", "weight"}
    assert len(spec.extra["scaler"]["mean"]) == n_features
    assert ds.meta["missing"] == 3
    assert ds.meta["missing_by_column"] == {"age": 1, "colour": 1, "weight": 1}
    assert sum(ds.sizes().values()) == 12
    assert torch.isfinite(all_rows(ds)).all()
    train_age = ds.train.x[:, spec.extra["features"].index("age")]
    assert abs(float(train_age.mean())) < 1e-5  # standardized with training statistics


def test_predict_rows_are_encoded_as_in_training(tmp_path: Path) -> None:
    ds = load(write(tmp_path / "pets.csv", PETS))
    # the same rows, columns reordered and without the label: every row must encode identically
    lines = [line.split(",") for line in PETS.strip().splitlines()]
    reordered = "\n".join(f"{w},{c},{a}" for a, c, w, _ in lines) + "\n"
    x, lengths, names = read_inputs(ds.spec, [write(tmp_path / "new.csv", reordered)])
    assert lengths is None and names[0] == "new.csv:row 1" and len(names) == 12
    assert x.shape == (12, *ds.spec.input_shape)
    np.testing.assert_allclose(sorted_rows(x), sorted_rows(all_rows(ds)), atol=1e-5)


def test_unknown_category_encodes_as_zeros(tmp_path: Path) -> None:
    ds = load(write(tmp_path / "pets.csv", PETS))
    x, _, _ = read_inputs(ds.spec, [write(tmp_path / "new.csv", "age,colour,weight\n4,purple,5\n")])
    one_hot = [i for i, f in enumerate(ds.spec.extra["features"]) if f.startswith("colour=")]
    assert x[0, one_hot].abs().sum() == 0


def test_mixed_column_is_categorical_and_label_options(tmp_path: Path) -> None:
    text = "code,size,score\n" + "".join(f"{c},{i},{i * 1.5 + 0.25}\n" for i, c in enumerate(["1", "2", "x"] * 4))
    ds = load(write(tmp_path / "mixed.tsv", text.replace(",", "\t")), label="score")
    assert ds.spec.task == "regress" and ds.spec.n_outputs == 1  # fractional labels
    assert ds.spec.extra["categories"]["code"] == ["1", "2", "x"]
    ds = load(write(tmp_path / "mixed.csv", text), label="size", task="classify")
    assert ds.spec.classes == tuple(str(i) for i in range(12))


def test_integer_labels_guess_classify_and_sort_numerically(tmp_path: Path) -> None:
    rows = "".join(f"{i},{[2, 10, 1][i % 3]}\n" for i in range(12))
    ds = load(write(tmp_path / "t.csv", "a,target\n" + rows))
    assert ds.spec.task == "classify" and ds.spec.classes == ("1", "2", "10")


# --- .npz ------------------------------------------------------------------------------------------


def test_npz_round_trips_each_modality(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    for shape, modality in [((40, 3), "table"), ((40, 6, 2), "sequence"), ((40, 1, 5, 5), "image")]:
        path = tmp_path / f"{modality}.npz"
        np.savez(path, x=rng.random(shape).astype(np.float32), y=y)
        ds = load(path)
        assert (ds.spec.modality, ds.spec.task, ds.spec.input_shape) == (modality, "classify", shape[1:])
        assert ds.spec.classes == ("0", "1") and sum(ds.sizes().values()) == 40


def test_npz_published_test_split_lengths_and_regression(tmp_path: Path) -> None:
    path = tmp_path / "seq.npz"
    x, lengths = np.zeros((20, 7), dtype=np.float32), np.arange(20) % 7 + 1
    np.savez(path, x=x, y=np.linspace(0, 1, 20), x_test=x[:5], y_test=np.ones(5), lengths=lengths)
    ds = load(path, modality="sequence")
    assert ds.spec.input_shape == (7, 1) and ds.spec.task == "regress"
    assert len(ds.test) == 5 and ds.train.lengths is not None


def test_npz_uint8_images_scaled_to_unit_range(tmp_path: Path) -> None:
    path = tmp_path / "img.npz"
    np.savez(path, x=np.full((10, 4, 4), 255, dtype=np.uint8), y=np.array(["a", "b"] * 5))
    ds = load(path, modality="image")
    assert ds.spec.input_shape == (1, 4, 4) and ds.spec.classes == ("a", "b")
    assert float(ds.train.x.max()) == 1.0


# --- image folders ---------------------------------------------------------------------------------


def image_folder(root: Path, size: tuple[int, int] = (10, 12), mode: str = "L") -> Path:
    for k, name in enumerate(["circle", "square"]):
        (root / name).mkdir(parents=True)
        for i in range(6):
            value = 40 * k + 10 * i
            colour = value if mode == "L" else (value, value, value)
            Image.new(mode, size, colour).save(root / name / f"{i}.png")
    return root


def test_image_folder_of_pngs(tmp_path: Path) -> None:
    ds = load(image_folder(tmp_path / "shapes"))
    spec = ds.spec
    assert spec.input_shape == (1, 12, 10) and spec.classes == ("circle", "square")
    assert spec.extra == {"size": [12, 10], "grey": True, "classes": ["circle", "square"]}
    x = all_rows(ds)
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    # predict reads a file exactly as training did
    new, _, names = read_inputs(spec, [tmp_path / "shapes" / "square" / "3.png"])
    assert new.shape == (1, 1, 12, 10) and names == [str(tmp_path / "shapes" / "square" / "3.png")]
    assert torch.allclose(new[0], torch.full((1, 12, 10), 70 / 255))


def test_image_size_is_capped_and_colour_kept(tmp_path: Path) -> None:
    ds = load(image_folder(tmp_path / "big", size=(200, 100), mode="RGB"))
    assert ds.spec.input_shape == (3, 32, 64)
    assert load(tmp_path / "big", size=16, grey=True).spec.input_shape == (1, 16, 16)


def test_skip_bad_counts_unreadable_images(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "shapes")
    (root / "circle" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(BlobError, match="bad.png"):
        load(root)
    ds = load(root, skip_bad=True)
    assert ds.meta["skipped"] == 1 and sum(ds.sizes().values()) == 12


# --- predict inputs without loader records -----------------------------------------------------------


def test_builtin_style_image_spec_uses_input_shape(tmp_path: Path) -> None:
    Image.new("RGB", (32, 32), (255, 255, 255)).save(tmp_path / "seven.png")
    spec = Spec("digits", "image", "classify", (1, 8, 8), 10, classes=[str(i) for i in range(10)])
    x, lengths, _ = read_inputs(spec, [tmp_path / "seven.png"])
    assert x.shape == (1, 1, 8, 8) and lengths is None and torch.allclose(x, torch.ones_like(x))


def test_sequences_from_npy_npz_and_csv(tmp_path: Path) -> None:
    spec = Spec("waves", "sequence", "classify", (4, 2), 2, classes=("a", "b"))
    np.save(tmp_path / "a.npy", np.ones((4, 2)))
    np.savez(tmp_path / "b.npz", x=np.ones((3, 2)))
    write(tmp_path / "c.csv", "u,v\n1,2\n3,4\n5,6\n7,8\n9,10\n")
    x, lengths, names = read_inputs(spec, [tmp_path / "a.npy", tmp_path / "b.npz", tmp_path / "c.csv"])
    assert x.shape == (3, 5, 2) and lengths.tolist() == [4, 3, 5] and names == ["a.npy", "b.npz", "c.csv"]
    assert x[2, 4].tolist() == [9.0, 10.0] and x[1, 3].tolist() == [0.0, 0.0]


def test_unsupported_modality_says_what_predict_reads(tmp_path: Path, monkeypatch) -> None:
    from blobbotronic.data import inputs

    monkeypatch.setattr(inputs, "READERS", {k: v for k, v in inputs.READERS.items() if k != "text"})
    spec = Spec("words", "text", "classify", (5,), 2, classes=("a", "b"), vocab_size=9)
    with pytest.raises(BlobError, match="image, sequence, table.*cannot read new inputs"):
        inputs.read(spec, [write(tmp_path / "x.csv", "a\n1\n")])


# --- bad inputs ------------------------------------------------------------------------------------


@pytest.mark.bad_input  # counted in the "bad inputs: N tried, N clear errors" line (tests/conftest.py)
@pytest.mark.parametrize("case", BAD_CASES, ids=[c["id"] for c in BAD_CASES])
def test_bad_input_raises_blob_error_naming_the_file(case: dict) -> None:
    path = BAD / case["path"]
    with pytest.raises(BlobError) as caught:
        if case["via"] == "load":
            load(path, **case["options"])
        elif case["via"] == "checkpoint":
            from blobbotronic.train import load_checkpoint

            load_checkpoint(path)
        else:
            read_inputs(Spec.from_dict(case["spec"]), [path])
    message = str(caught.value)
    assert path.name in message
    assert "\n" not in message
    for text in case["mentions"]:
        assert text in message, f"{text!r} not in: {message}"


def test_manifest_covers_every_bad_file() -> None:
    listed = {c["path"].split("/")[0] for c in BAD_CASES}
    present = {p.name for p in BAD.iterdir()} - {"README.md", "manifest.json", "make_bad_inputs.py", "__pycache__"}
    assert present == listed
    assert len(BAD_CASES) >= 20
    assert sum(f.stat().st_size for f in BAD.rglob("*") if f.is_file()) < 1_000_000
