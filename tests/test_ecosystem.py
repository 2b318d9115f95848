"""Inputs from the ecosystem: arrays, DataFrames, Parquet and Hugging Face folders, encoded as the file loaders do."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import blobbotronic as bb
from blobbotronic import BlobError
from blobbotronic.data import load, read_inputs

pa = pytest.importorskip("pyarrow", reason="pip install 'blobbotronic[ecosystem]'")


def _people(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    age = rng.integers(18, 80, n).astype(float)
    age[3] = np.nan  # a missing number is imputed with the training median
    return pd.DataFrame({
        "age": age,
        "city": rng.choice(["Oslo", "Lima", "Pune"], n),  # a category, one-hot encoded
        "income": rng.normal(50, 10, n).round(3),
        "label": np.where(rng.random(n) > 0.5, "yes", "no"),
    })


# --- arrays ---------------------------------------------------------------------------------------


def test_from_arrays_reads_dimensions_as_modalities():
    rng = np.random.default_rng(0)
    table = bb.from_arrays(rng.normal(5, 3, size=(60, 4)), np.array(["a", "b", "c"] * 20))
    assert table.spec.modality == "table" and table.spec.classes == ("a", "b", "c")
    assert abs(float(table.train.x.mean())) < 0.2  # standardised with training statistics
    seq = bb.from_arrays(rng.normal(size=(30, 12, 2)), rng.normal(size=30))
    assert seq.spec.modality == "sequence" and seq.spec.task == "regress" and seq.spec.input_shape == (12, 2)
    img = bb.from_arrays(rng.integers(0, 256, size=(30, 8, 8)).astype(np.uint8), np.arange(30) % 2, modality="image")
    assert img.spec.modality == "image" and img.spec.input_shape == (1, 8, 8) and float(img.train.x.max()) <= 1.0


def test_from_arrays_keeps_a_given_test_split_and_accepts_tensors():
    x, y = torch.randn(50, 3), torch.arange(50) % 2
    ds = bb.from_arrays(x, y, x_test=x[:7], y_test=y[:7])
    sizes = ds.sizes()
    assert sizes["train"] + sizes["val"] == 50 and sizes["test"] == 7 and ds.meta["published_split"]
    assert torch.equal(ds.test.y, y[:7])


def test_from_arrays_refuses_nan_with_where_it_is():
    x = np.ones((10, 2))
    x[4, 1] = np.nan
    with pytest.raises(BlobError, match=r"'x' has 1 NaN.*index \(4, 1\)"):
        bb.from_arrays(x, np.arange(10) % 2)


# --- DataFrames and Parquet -----------------------------------------------------------------------


def test_a_frame_is_encoded_exactly_as_the_same_csv(tmp_path):
    df = _people()
    df.to_csv(tmp_path / "people.csv", index=False)
    from_csv = load(tmp_path / "people.csv")
    from_df = bb.from_frame(df, label="label", name="people")
    assert from_df.spec.extra["features"] == from_csv.spec.extra["features"]  # age, city=Lima, ..., income
    assert from_df.spec.extra["medians"] == from_csv.spec.extra["medians"]
    assert torch.equal(from_df.train.x, from_csv.train.x) and torch.equal(from_df.test.y, from_csv.test.y)
    # and a model trained on the frame reads new CSV rows for predict the same way
    x, _, names = read_inputs(from_df.spec, [tmp_path / "people.csv"])
    assert x.shape == (40, from_df.spec.input_shape[0]) and names[0].endswith("row 1")


def test_parquet_table_matches_the_csv_and_trains(tmp_path):
    df = _people()
    df.to_parquet(tmp_path / "people.parquet")
    df.to_csv(tmp_path / "people.csv", index=False)
    ds = load(tmp_path / "people.parquet")
    assert torch.equal(ds.train.x, load(tmp_path / "people.csv").train.x)
    run = bb.train(ds, "logistic", budget="3 steps", quiet=True)
    assert set(run.metrics) >= {"accuracy"}


def test_parquet_text_becomes_a_text_data_set(tmp_path):
    reviews = ["a fine film", "dull and slow", "loved it", "awful acting", "great fun", "boring plot"] * 3
    df = pd.DataFrame({"review": [f"{r} {i}" for i, r in enumerate(reviews)], "sentiment": ["pos", "neg"] * 9})
    df.to_parquet(tmp_path / "reviews.parquet")
    ds = load(tmp_path / "reviews.parquet", tokenizer="word")
    assert ds.spec.modality == "text" and ds.spec.classes == ("neg", "pos")
    assert ds.spec.extra["text_column"] == "review" and "fine" in ds.spec.extra["vocab"] + ["fine"]


def test_parquet_errors_name_the_file_and_the_valid_options(tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(BlobError, match="broken.parquet: not a readable Parquet file"):
        load(bad)
    _people().to_parquet(tmp_path / "p.parquet")
    with pytest.raises(BlobError, match="unknown option.*colour.*valid options: label, task"):
        load(tmp_path / "p.parquet", colour="red")
    with pytest.raises(BlobError, match="no label column 'target'"):
        load(tmp_path / "p.parquet", label="target")


def test_a_frame_error_names_the_row_and_column():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.5, float("inf"), 2.0]})
    with pytest.raises(BlobError, match=r"frame, row 2, column 'y'"):
        bb.from_frame(df, label="y", task="regress")


# --- Hugging Face folders -------------------------------------------------------------------------


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((10, 12), value, dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory):
    datasets = pytest.importorskip("datasets", reason="writing the folders needs Hugging Face datasets")
    root = tmp_path_factory.mktemp("hf")
    image_features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=["dark", "light"])})
    rows = lambda n: {"img": [{"bytes": _png(20 if i % 2 == 0 else 230), "path": None} for i in range(n)],  # noqa: E731
                      "label": [i % 2 for i in range(n)]}
    datasets.DatasetDict({
        "train": datasets.Dataset.from_dict(rows(30), features=image_features),
        "test": datasets.Dataset.from_dict(rows(8), features=image_features),
    }).save_to_disk(str(root / "images"))
    text_features = datasets.Features({"text": datasets.Value("string"),
                                       "label": datasets.ClassLabel(names=["neg", "pos"])})
    texts = [f"{w} {i}" for i, w in enumerate(["good", "bad"] * 12)]
    datasets.Dataset.from_dict({"text": texts, "label": [0, 1] * 12}, features=text_features).save_to_disk(
        str(root / "texts"))
    datasets.Dataset.from_pandas(_people(), preserve_index=False).save_to_disk(str(root / "table"))
    return root


def test_hf_image_folder_keeps_class_names_and_the_test_split(hf_folders):
    ds = load(hf_folders / "images")
    assert ds.spec.modality == "image" and ds.spec.classes == ("dark", "light")
    assert ds.spec.input_shape == (1, 10, 12) and ds.sizes()["test"] == 8
    assert ds.meta["hf_splits"] == {"train": 30, "test": 8}
    dark = ds.train.x[ds.train.y == 0]
    assert float(dark.max()) < 0.2 < float(ds.train.x[ds.train.y == 1].min())  # labels match their pixels


def test_hf_image_model_predicts_on_png_files(hf_folders, tmp_path):
    ds = load(hf_folders / "images")
    run = bb.train(ds, "mlp", budget="30 steps", lr=3e-2, quiet=True)
    (tmp_path / "new.png").write_bytes(_png(240))
    x, _, _ = read_inputs(ds.spec, [tmp_path / "new.png"])
    assert ds.spec.classes[int(run.model(x).argmax())] == "light"


def test_hf_text_and_table_folders(hf_folders):
    text = load(hf_folders / "texts")
    assert text.spec.modality == "text" and text.spec.classes == ("neg", "pos")
    table = load(hf_folders / "table", label="label")
    assert table.spec.modality == "table" and table.spec.classes == ("no", "yes")
    assert "city=Oslo" in table.spec.extra["features"]


def test_hf_folder_errors(hf_folders, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(hf_folders / "texts", broken)
    arrow = next(broken.glob("*.arrow"))
    arrow.write_bytes(b"not arrow at all")
    with pytest.raises(BlobError, match=r"not a readable Arrow file"):
        load(broken)
    with pytest.raises(BlobError, match="unknown option.*shade"):
        load(hf_folders / "images", shade=1)
    state = json.loads((broken / "state.json").read_text())
    state["_data_files"] = []
    (broken / "state.json").write_text(json.dumps(state))
    with pytest.raises(BlobError, match="lists no Arrow files"):
        load(broken)
