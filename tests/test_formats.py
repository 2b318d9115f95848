"""The formats users hold (issue 25): UCR .tsv/.txt series, image and clip folders laid out as train/ and test/,
tab-separated CoNLL with Unicode spaces in tokens, and CSVs with a free-text column; each read right, or refused
by the bad-input corpus (tests/bad_inputs/: the ucr_*, split_*, conll_tab_* and text_detected_* cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blobbotronic.cli import main
from blobbotronic.data import load
from blobbotronic.data.series import package_file, read_ts
from blobbotronic.errors import BlobError


def aeon_ts(name: str, part: str) -> Path:
    return package_file("aeon", "datasets", "data", name, f"{name}_{part}.ts", extra="series")


def write_ucr(ts: Path, out: Path, suffix: str) -> Path:
    """A .ts file's series as a UCR text file: .tsv as the 2018 archive writes it (shorter series padded with NaN),
    .txt as the classic files did (spaces, the label as 1.0000000e+00). Values keep every digit (repr)."""
    data = read_ts(ts)
    width = max(len(s) for s in data.series)
    lines = []
    for series, label in zip(data.series, data.labels, strict=True):
        values = [repr(float(v)) for v in series[:, 0]] + ["NaN"] * (width - len(series))
        lines.append("\t".join([label, *values]) if suffix == ".tsv" else "  ".join([f"{float(label):.7e}", *values]))
    path = out / (ts.stem + suffix)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_same_data(a, b) -> None:
    assert (a.spec.modality, a.spec.task, a.spec.classes, a.spec.input_shape) == (
        b.spec.modality, b.spec.task, b.spec.classes, b.spec.input_shape)
    for split in ("train", "val", "test"):
        x, y = getattr(a, split), getattr(b, split)
        assert torch.equal(x.x, y.x) and torch.equal(x.y, y.y), split
        assert (x.lengths is None) == (y.lengths is None), split
        assert x.lengths is None or torch.equal(x.lengths, y.lengths), split


# --- UCR text files --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tsv", ".txt"])
def test_ucr_text_pair_equals_its_ts_files(suffix: str, tmp_path: Path) -> None:
    """GunPoint written as NAME_TRAIN/NAME_TEST text files loads to the very tensors its .ts files give (the
    published 50/150 split, the same validation carve-out): equal data, so equal accuracy for any model."""
    train = write_ucr(aeon_ts("GunPoint", "TRAIN"), tmp_path, suffix)
    write_ucr(aeon_ts("GunPoint", "TEST"), tmp_path, suffix)
    ds = load(train)
    assert_same_data(ds, load(aeon_ts("GunPoint", "TRAIN")))
    assert ds.spec.name == "GunPoint" and ds.sizes() == {"train": 40, "val": 10, "test": 150}
    assert ds.meta["published_split"] == "50/150" and ds.meta["test_file"].endswith(f"GunPoint_TEST{suffix}")


def test_variable_length_ucr_tsv_keeps_its_lengths(tmp_path: Path) -> None:
    """PickupGestureWiimoteZ (29-361 steps) padded with NaN as the archive does: the series stay variable length,
    lengths recorded, equal to the .ts reading."""
    train = write_ucr(aeon_ts("PickupGestureWiimoteZ", "TRAIN"), tmp_path, ".tsv")
    write_ucr(aeon_ts("PickupGestureWiimoteZ", "TEST"), tmp_path, ".tsv")
    ds = load(train)
    assert_same_data(ds, load(aeon_ts("PickupGestureWiimoteZ", "TRAIN")))
    assert ds.meta["variable_length"] and ds.meta["lengths"] == {"min": 29, "max": 361}
    assert ds.train.lengths is not None and int(ds.test.lengths.min()) < 361


def test_ucr_nan_inside_a_series_is_missing_and_at_its_end_padding(tmp_path: Path) -> None:
    rows = ["1\t1\tNaN\t3\t4", "2\t5\t6\tNaN\tNaN", "1\t1\t2\t3\t4", "2\t6\t5\t4\tNaN"] * 5
    path = tmp_path / "toy_TRAIN.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ds = load(path, test="none")
    assert ds.meta["missing_filled"] == 5 and ds.meta["lengths"] == {"min": 2, "max": 4}
    lengths = torch.cat([ds.train.lengths, ds.val.lengths, ds.test.lengths]).tolist()
    assert sorted(set(lengths)) == [2, 3, 4] and sum(ds.sizes().values()) == 20


def test_tsv_tables_and_txt_prose_are_not_read_as_ucr(tmp_path: Path) -> None:
    """A _TRAIN.tsv with a header is a table; a numeric first line without the name is a table too (as before)."""
    table = tmp_path / "sales_TRAIN.tsv"
    table.write_text("a\tb\tlabel\n" + "".join(f"{i}\t{i % 3}\t{i % 2}\n" for i in range(20)), encoding="utf-8")
    assert load(table).spec.modality == "table"
    prose = tmp_path / "notes.txt"
    prose.write_text("Dear diary,\n3 apples today.\n", encoding="utf-8")
    with pytest.raises(BlobError, match=r"notes\.txt: a \.txt file is read as a UCR time-series file"):
        load(prose)


# --- image and clip folders laid out as train/ and test/ -------------------------------------------------------


def write_digits(root: Path, per_split: dict[str, int]) -> dict[str, list[int]]:
    """Built-in digits as 8x8 PNGs under root/SPLIT/CLASS/; the labels written per split."""
    ds = load("digits")
    source = {"train": ds.train, "val": ds.val, "test": ds.test}
    written = {}
    for split, n in per_split.items():
        part = source[split]
        for i in range(n):
            folder = root / split / ds.spec.classes[int(part.y[i])]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((part.x[i, 0].numpy() * 255).round().astype(np.uint8)).save(folder / f"{i}.png")
        written[split] = part.y[:n].tolist()
    return written


def test_image_folder_with_train_and_test_keeps_the_split(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "digits_png"
    written = write_digits(root, {"train": 200, "test": 100})
    ds = load(root)
    assert (ds.spec.modality, ds.spec.input_shape, ds.spec.n_outputs) == ("image", (1, 8, 8), 10)
    sizes = ds.sizes()
    assert sizes["train"] + sizes["val"] == 200 and abs(sizes["val"] - 40) <= 2 and sizes["test"] == 100
    assert "train/ and test/ as given" in ds.meta["split"] and "20% of train/" in ds.meta["split"]
    assert ds.meta["published_split"] == {"train": 200, "test": 100}
    assert sorted(ds.test.y.tolist()) == sorted(written["test"])  # the test folder is the test split
    assert np.bincount(ds.val.y.numpy(), minlength=10).min() >= 2  # stratified: every class in validation
    assert load(root, seed=3).val.x.equal(ds.val.x)  # validation is fixed (seed 0), whatever the run's seed
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", str(root), "--model", "cnn", "--budget", "30 steps", "--no-save", "--quiet"]) == 0


def test_a_val_folder_is_the_validation_split(tmp_path: Path) -> None:
    root = tmp_path / "three"
    write_digits(root, {"train": 60, "val": 30, "test": 40})
    ds = load(root)
    assert ds.sizes() == {"train": 60, "val": 30, "test": 40} and "val/" in ds.meta["split"]


def test_class_folders_called_train_and_test_holding_images_are_classes(tmp_path: Path) -> None:
    """train/ and test/ with images directly in them are two classes (not a split, and never video)."""
    for k, cls in enumerate(("train", "test")):
        (tmp_path / "vehicles" / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((8, 8), 40 * k + i, np.uint8)).save(tmp_path / "vehicles" / cls / f"{i}.png")
    ds = load(tmp_path / "vehicles")
    assert ds.spec.modality == "image" and ds.spec.classes == ("test", "train") and "split" not in ds.meta


def test_clip_folders_with_train_and_test_keep_the_split(tmp_path: Path) -> None:
    root = tmp_path / "clips"
    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("test", 3)):
        for cls in ("wave", "clap"):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                np.save(root / split / cls / f"{i}.npy", rng.random((4, 8, 8), dtype=np.float32))
    ds = load(root, frames=4, size=8)
    assert ds.spec.modality == "video" and ds.sizes() == {"train": 8, "val": 2, "test": 6}
    assert ds.meta["published_split"] == {"train": 8, "val": 2, "test": 6} and "train/ and test/" in ds.meta["split"]


# --- CoNLL ------------------------------------------------------------------------------------------------------


def test_conll_tab_lines_keep_ideographic_spaces_and_train_a_tagger(tmp_path: Path, monkeypatch) -> None:
    names = ["東京\u3000タワー", "大阪\u3000城", "富士\u3000山"]
    lines = []
    for i in range(12):
        lines += [f"{names[i % 3]}\tB-LOC", "に\tO", "\u3000\tO", "行く\tO", ""]
    path = tmp_path / "ja.conll"
    path.write_text("\n".join(lines), encoding="utf-8")
    ds = load(path)
    vocab = ds.spec.extra["vocab"]
    assert {"東京\u3000タワー", "\u3000"} <= set(vocab) and ds.spec.classes == ("O", "B-LOC")
    assert ds.spec.input_shape == (4,)  # four tokens a sentence: the U+3000 inside a name split nothing
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--data", str(path), "--model", "bilstm_tagger", "--budget", "5 steps", "--no-save", "--quiet"]
    assert main(argv) == 0


def test_conll_2003_four_columns_take_the_last_as_tag(tmp_path: Path) -> None:
    sentence = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
    path = tmp_path / "eng.conll"
    path.write_text(sentence * 4, encoding="utf-8")
    ds = load(path)
    assert ds.spec.classes == ("O", "B-MISC", "B-ORG") and ds.spec.extra["vocab"][2:] == ["EU", "rejects", "German"]


# --- CSV with a free-text column --------------------------------------------------------------------------------


def sentences(n: int = 100) -> str:
    rng = np.random.default_rng(0)
    good, bad = ["great", "lovely", "moving"], ["dull", "awful", "boring"]
    rows = ["text,label"]
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        what, how = rng.choice(["film", "plot", "cast", "score"]), rng.choice(good if label == "pos" else bad)
        rows.append(f"the {what} was {how} number {i},{label}")
    return "\n".join(rows) + "\n"


def test_text_label_csv_is_text_classification_without_options(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text(sentences(), encoding="utf-8")
    ds = load(path)
    assert (ds.spec.modality, ds.spec.task, ds.spec.classes) == ("text", "classify", ("neg", "pos"))
    assert sum(ds.sizes().values()) == 100 and "column 'text' holds free text" in ds.meta["text_column_detected"]
    assert load(path, text="none").spec.modality == "table"  # the way back to a table
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", str(path), "--model", "lstm", "--budget", "20 steps", "--no-save", "--quiet"]) == 0


def test_tables_with_string_columns_stay_tables(tmp_path: Path) -> None:
    """A small categorical column, and names in a many-column table (Titanic's 'Name'), are not free text."""
    colours = tmp_path / "colours.csv"
    colours.write_text("x,colour,label\n" + "".join(f"{i},{['red', 'blue', 'dark green'][i % 3]},{i % 2}\n"
                                                   for i in range(40)), encoding="utf-8")
    ds = load(colours)
    assert ds.spec.modality == "table" and "colour=dark green" in ds.spec.extra["features"]
    people = tmp_path / "titanic.csv"
    rows = "".join(f'"Smith, Mr. John {i}",{20 + i},{i * 1.5},{i % 2}\n' for i in range(30))
    people.write_text("Name,Age,Fare,Survived\n" + rows, encoding="utf-8")
    ds = load(people)
    assert ds.spec.modality == "table" and ds.spec.extra["label"] == "Survived" and "Name" in ds.spec.extra["columns"]
