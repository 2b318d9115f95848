"""Generator of the bad input files in this folder, their manifest.json and README.md.

Run from anywhere: ``python tests/bad_inputs/make_bad_inputs.py``. The output is deterministic; the
generated files are committed so that the tests need no generation step. Each case says how the file
is read (``load`` with loader options, ``predict`` with a Spec, or ``checkpoint``: load_checkpoint),
what is wrong with it, and the text the BlobError must mention besides the file's name.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
KEEP = {"make_bad_inputs.py", "README.md", "manifest.json"}
CASES: list[dict] = []

TABLE_SPEC = {
    "name": "pets",
    "modality": "table",
    "task": "classify",
    "input_shape": [4],
    "n_outputs": 2,
    "classes": ["cat", "dog"],
    "extra": {
        "columns": ["age", "colour"],
        "features": ["age", "colour=blue", "colour=green", "colour=red"],
        "medians": {"age": 33.0},
        "categories": {"colour": ["blue", "green", "red"]},
        "scaler": {"mean": [35.0, 0.0, 0.0, 0.0], "std": [12.0, 1.0, 1.0, 1.0]},
        "label": "species",
    },
}
IMAGE_SPEC = {
    "name": "shapes",
    "modality": "image",
    "task": "classify",
    "input_shape": [1, 8, 8],
    "n_outputs": 2,
    "classes": ["a", "b"],
    "extra": {"size": [8, 8], "grey": True, "classes": ["a", "b"]},
}
SEQUENCE_SPEC = {
    "name": "waves",
    "modality": "sequence",
    "task": "classify",
    "input_shape": [10, 2],
    "n_outputs": 2,
    "classes": ["a", "b"],
    "extra": {},
}
GOOD_CSV = "size,colour,label\n1,red,a\n2,blue,b\n3,red,a\n4,blue,b\n"


def case(
    path: str, problem: str, mentions: tuple[str, ...] = (), options: dict | None = None, spec: dict | None = None,
    via: str | None = None,
) -> Callable[[Callable[[Path], None]], None]:
    """Describe a bad input; call the result with a writer, which gets the file's path (under this folder)."""

    def decorate(write: Callable[[Path], None]) -> None:
        target = HERE / path
        target.parent.mkdir(parents=True, exist_ok=True)
        write(target)
        CASES.append(
            {
                "id": path.replace("/", "-"),
                "path": path,
                "via": via or ("predict" if spec else "load"),
                "options": options or {},
                "spec": spec,
                "problem": problem,
                "mentions": list(mentions),
            }
        )

    return decorate


def text(content: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda p: p.write_bytes(content.encode(encoding))


def png(seed: int, size: int = 8, mode: str = "L") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size, size) if mode == "L" else (size, size, 3)
    buf = io.BytesIO()
    Image.fromarray((rng.random(shape) * 255).astype(np.uint8), mode).save(buf, "PNG")
    return buf.getvalue()


def jpeg(seed: int, size: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png() -> bytes:
    """A 68-byte PNG whose header declares 100,000 x 100,000 pixels."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0"))
        + png_chunk(b"IEND", b"")
    )


def corrupt_png() -> bytes:
    """A PNG whose compressed pixel data is overwritten (the header still reads fine)."""
    data = bytearray(png(99, size=16))
    start = data.find(b"IDAT") + 8
    data[start : start + 12] = b"\xff" * 12
    return bytes(data)


def npz(**arrays: np.ndarray) -> Callable[[Path], None]:
    def write(p: Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        p.write_bytes(buf.getvalue())

    return write


def cut_short(write: Callable[[Path], None], keep: int) -> Callable[[Path], None]:
    """A writer that writes a file and then keeps only its first ``keep`` bytes."""

    def write_cut(p: Path) -> None:
        write(p)
        p.write_bytes(p.read_bytes()[:keep])

    return write_cut


def npy(array: np.ndarray) -> bytes:
    """An array in .npy format (np.save to a path would append '.npy' to a name ending in '.npz')."""
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def image_folder(files: dict[str, bytes]) -> Callable[[Path], None]:
    def write(p: Path) -> None:
        for name, data in files.items():
            (p / name).parent.mkdir(parents=True, exist_ok=True)
            (p / name).write_bytes(data)

    return write


def good_images() -> dict[str, bytes]:
    return {f"{c}/{i}.png": png(10 * k + i) for k, c in enumerate("ab") for i in range(2)}


def define_cases() -> None:
    # --- CSV tables -------------------------------------------------------------------------------
    case("ragged.csv", "line 3 has 4 fields, the header 3", ("line 3", "expected 3", "found 4"))(
        text("a,b,label\n1,2,x\n3,4,5,y\n5,6,x\n")
    )
    case("ragged.tsv", "tab-separated; line 4 has 2 fields, the header 3", ("line 4", "found 2"))(
        text("a\tb\tlabel\n1\t2\tx\n3\t4\ty\n5\tx\n")
    )
    case("bad_quotes.csv", "text after a closing quote", ("line 3", "quote"))(text('a,b,label\n1,2,x\n3,"4"5,y\n'))
    case("unclosed_quote.csv", "a quote that never closes", ("quote",))(text('a,b,label\n1,"2,x\n3,4,y\n'))
    case("empty.csv", "zero bytes", ("empty",))(text(""))
    case("blank_lines.csv", "only blank lines", ("empty",))(text("\n  \n\n"))
    case("header_only.csv", "a header but no data rows", ("no data rows",))(text("a,b,label\n"))
    case(
        "missing_label_column.csv",
        "label='outcome' is not a column",
        ("outcome", "Columns present: a, b, label"),
        options={"label": "outcome"},
    )(text("a,b,label\n1,2,x\n3,4,y\n"))
    case("single_class.csv", "every label is 'yes'", ("single class", "yes"))(
        text("a,b,label\n1,2,yes\n3,4,yes\n5,6,yes\n")
    )
    case("latin1.csv", "Latin-1 bytes (é as 0xe9), not UTF-8", ("UTF-8", "line 3", "0xe9"))(
        text("name,score,label\nAnn,1,a\nJosé,2,b\n", "latin-1")
    )
    case("utf16.csv", "UTF-16 encoded", ("UTF-16",))(text("a,b,label\n1,2,x\n3,4,y\n", "utf-16"))
    case("garbage.csv", "random binary bytes named .csv", ("not a text file",))(
        lambda p: p.write_bytes(b"\x00" + np.random.default_rng(7).integers(0, 256, 300, dtype=np.uint8).tobytes())
    )
    case("inf_values.csv", "an infinite value in a numeric column", ("line 3", "column 'b'", "infinite"))(
        text("a,b,label\n1,2,x\n3,inf,y\n5,6,x\n")
    )
    case("inf_label.csv", "an infinite regression target", ("line 2", "infinite"), options={"task": "regress"})(
        text("a,target\n1,-inf\n2,3.5\n3,4.25\n")
    )
    case("missing_label_value.csv", "line 3 has an empty label", ("line 3", "label is missing"))(
        text("a,b,label\n1,2,x\n3,4,\n5,6,y\n")
    )
    case("duplicate_columns.csv", "the header names 'a' twice", ("'a'", "more than once"))(
        text("a,a,label\n1,2,x\n3,4,y\n")
    )
    case("label_only.csv", "no feature columns, only a label", ("no feature columns",))(text("label\nx\ny\nx\n"))
    case("semicolons.csv", "separated by semicolons, read as one column", ("semicolons",))(
        text("a;b;label\n1;2;x\n3;4;y\n")
    )
    case(
        "text_label_regress.csv",
        "task='regress' with text labels",
        ("line 2", "not a number"),
        options={"task": "regress"},
    )(text("a,b,label\n1,2,x\n3,4,y\n"))
    case(
        "bad_task_option.csv",
        "task='cluster' is not a task",
        ("cluster", "classify, regress"),
        options={"task": "cluster"},
    )(text(GOOD_CSV))
    case(
        "unknown_option.csv",
        "an option the CSV loader does not take",
        ("colour", "valid options"),
        options={"colour": "red"},
    )(text(GOOD_CSV))

    # --- .npz arrays ------------------------------------------------------------------------------
    x = np.arange(24, dtype=np.float32).reshape(8, 3)
    y = np.array([0, 1] * 4)
    nan_x = x.copy()
    nan_x[2, 1] = np.nan
    case("nan.npz", "a NaN in x at (2, 1)", ("'x'", "NaN", "(2, 1)"))(npz(x=nan_x, y=y))
    case("object_array.npz", "x is an object array (only readable by unpickling)", ("object array", "pickle"))(
        npz(x=np.array([[1, 2], [3]], dtype=object), y=np.array([0, 1]))
    )
    case("mismatched_xy.npz", "8 inputs but 6 targets", ("8 samples", "6"))(npz(x=x, y=y[:6]))
    case("missing_keys.npz", "arrays named data and labels, not x and y", ("'x'", "'data'"))(npz(data=x, labels=y))
    case("not_an_archive.npz", "a text file named .npz", ("not an .npz archive",))(text("x,y\n1,2\n"))
    case("single_array.npz", "a lone .npy array named .npz", ("single array",))(lambda p: p.write_bytes(npy(x)))
    case("truncated.npz", "an archive cut short", ("not a readable .npz",))(cut_short(npz(x=x, y=y), keep=300))
    case("one_dim_x.npz", "x has one dimension", ("shape (8,)",))(npz(x=np.arange(8.0), y=y))
    case("text_x.npz", "x holds strings", ("'x'", "numbers"))(npz(x=np.array([["a", "b"]] * 8), y=y))
    case("single_class.npz", "every y is 3", ("single class", "'3'"))(npz(x=x, y=np.full(8, 3)))
    case(
        "wrong_modality.npz", "modality='image' for a 2-D x", ("image", "4 dimensions"), options={"modality": "image"}
    )(npz(x=x, y=y))
    case("test_shape.npz", "x_test has 2 features, x has 3", ("x_test",))(
        npz(x=x, y=y, x_test=np.zeros((2, 2)), y_test=np.array([0, 1]))
    )
    case("empty_x.npz", "x has no samples", ("empty",))(npz(x=np.zeros((0, 3)), y=np.zeros(0, dtype=int)))
    case("half_test.npz", "x_test without y_test", ("y_test",))(npz(x=x, y=y, x_test=x))

    # --- folders of images ------------------------------------------------------------------------
    case("corrupt_png", "b/broken.png has damaged pixel data", ("broken.png",))(
        image_folder({**good_images(), "b/broken.png": corrupt_png()})
    )
    case("truncated_jpeg", "b/cut.jpg is cut short", ("cut.jpg", "truncated"))(
        image_folder({"a/1.jpg": jpeg(1), "a/2.jpg": jpeg(2), "b/1.jpg": jpeg(3), "b/cut.jpg": jpeg(4)[:-400]})
    )
    case("bomb_png", "b/bomb.png declares 100,000 x 100,000 pixels", ("bomb.png", "decompression bomb"))(
        image_folder({**good_images(), "b/bomb.png": bomb_png()})
    )
    case("tiff_as_png", "b/fake.png is really a TIFF", ("fake.png",))(
        image_folder({**good_images(), "b/fake.png": tiff()})
    )
    case("single_class_folder", "only one class subfolder", ("only the class 'cats'",))(
        image_folder({"cats/1.png": png(1), "cats/2.png": png(2)})
    )
    case("no_class_folders", "images directly in the folder, no class subfolders", ("subfolder",))(
        image_folder({"1.png": png(1), "2.png": png(2)})
    )
    case("no_images", "class subfolders hold no images", ("no subfolder holds images",))(
        image_folder({"a/notes.txt": b"not an image\n", "b/notes.txt": b"not an image\n"})
    )
    case("bad_size_option", "size='huge' is not a size", ("size='huge'",), options={"size": "huge"})(
        image_folder(good_images())
    )
    case("bad_grey_option", "grey='maybe' is not yes/no", ("grey='maybe'",), options={"grey": "maybe"})(
        image_folder(good_images())
    )

    # --- new inputs for predict -------------------------------------------------------------------
    case("predict_missing_column.csv", "no 'colour' column", ("'colour'",), spec=TABLE_SPEC)(text("age,weight\n31,4\n"))
    case("predict_not_a_number.csv", "age 'old' is text in a numeric column", ("line 3", "'old'"), spec=TABLE_SPEC)(
        text("age,colour\n31,red\nold,blue\n")
    )
    case("predict_no_header.csv", "the header row is missing", ("missing feature column",), spec=TABLE_SPEC)(
        text("31,red\n40,blue\n")
    )
    case("predict_bomb.png", "declares 100,000 x 100,000 pixels", ("decompression bomb",), spec=IMAGE_SPEC)(
        lambda p: p.write_bytes(bomb_png())
    )
    case("predict_truncated.jpg", "a JPEG cut short", ("truncated",), spec=IMAGE_SPEC)(
        lambda p: p.write_bytes(jpeg(5)[:-400])
    )
    case("predict_pickle.npy", "an object array (only readable by unpickling)", ("pickle",), spec=SEQUENCE_SPEC)(
        lambda p: np.save(p, np.array([[1, 2], [3]], dtype=object), allow_pickle=True)
    )
    case("predict_wrong_channels.npy", "3 channels where the model reads 2", ("(10, 3)",), spec=SEQUENCE_SPEC)(
        lambda p: np.save(p, np.zeros((10, 3), dtype=np.float32))
    )
    case("predict_nan_sequence.csv", "a NaN in a sequence", ("NaN",), spec=SEQUENCE_SPEC)(text("1,2\n3,nan\n5,6\n"))

    # --- UCR/UEA .ts files and forecasting CSVs (data/series.py, data/forecast.py) ---------------------
    head = "@problemName toy\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n"
    head += "@seriesLength 4\n@classLabel true a b\n@data\n"  # 8 lines: the data start on line 9
    case("ts_no_data.ts", "the header never reaches @data", ("no @data",))(text(head.replace("@data\n", "")))
    case("ts_empty_data.ts", "@data and then nothing", ("no series after @data",))(text(head))
    case("ts_wrong_dimensions.ts", "line 6 has 3 dimensions, @dimensions 2", ("line 6", "found 3", "expected 2"))(
        text("@problemName toy\n@dimensions 2\n@classLabel true a b\n@data\n1,2,3:4,5,6:a\n1,2,3:4,5,6:7,8,9:b\n")
    )
    case("ts_unknown_label.ts", "label 'c' is not in @classLabel", ("line 10", "'c'", "@classLabel (a, b)"))(
        text(head + "1,2,3,4:a\n5,6,7,8:c\n")
    )
    case("ts_not_a_number.ts", "the value 'six'", ("line 10", "value 2", "'six'", "not a number"))(
        text(head + "1,2,3,4:a\n5,six,7,8:b\n")
    )
    case("ts_wrong_length.ts", "3 values where @seriesLength is 4", ("line 10", "found 3 values, expected 4"))(
        text(head + "1,2,3,4:a\n5,6,7:b\n")
    )
    case("ts_missing_dimension.ts", "dimension 2 of line 8 is all '?'", ("line 8", "dimension 2", "missing entirely"))(
        text("@problemName toy\n@missing true\n@dimensions 2\n@equalLength true\n@classLabel true a b\n@data\n"
             "1,2,3:4,?,6:a\n1,2,3:?,?,?:b\n")
    )
    case("ts_unknown_tag.ts", "a header tag @frequency", ("line 2", "@frequency"))(
        text("@problemName toy\n@frequency daily\n@classLabel true a b\n@data\n1,2:a\n3,4:b\n")
    )
    case("ts_missing_label.ts", "line 10 has no ':' and label", ("line 10", "class label", "no ':'"))(
        text(head + "1,2,3,4:a\n5,6,7,8\n")
    )
    case("ts_bad_boolean.ts", "@univariate maybe", ("line 2", "@univariate", "true or false"))(
        text("@problemName toy\n@univariate maybe\n@classLabel true a b\n@data\n1,2:a\n3,4:b\n")
    )
    case("ts_single_class.ts", "every series is class 'a'", ("'a'", "at least two classes"))(
        text(head + "1,2,3,4:a\n5,6,7,8:a\n")
    )
    case("ts_infinite.ts", "an infinite value", ("line 10", "value 3", "infinite"))(
        text(head + "1,2,3,4:a\n5,6,inf,8:b\n")
    )
    case("ts_latin1.ts", "a Latin-1 comment (é as 0xe9)", ("line 1", "0xe9", "UTF-8"))(
        text("# José's recordings\n" + head + "1,2,3,4:a\n5,6,7,8:b\n", "latin-1")
    )
    case("ts_unequal_dimensions.ts", "line 7: dimensions of 2 and 3 values", ("line 7", "different lengths (2, 3)"))(
        text("@problemName toy\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n"
             "1,2,3:4,5,6:a\n1,2:3,4,5:b\n")
    )
    case("ts_values_before_data.ts", "a series before @data", ("line 3", "expected a header tag"))(
        text("@problemName toy\n@classLabel true a b\n1,2,3:a\n@data\n1,2,3:b\n")
    )
    case("ts_classlabel_without_labels.ts", "@classLabel true, no labels", ("line 2", "must list the class labels"))(
        text("@problemName toy\n@classLabel true\n@data\n1,2:a\n")
    )
    case("ts_univariate_dimensions.ts", "@univariate true with @dimensions 3", ("line 3", "contradicts"))(
        text("@problemName toy\n@univariate true\n@dimensions 3\n@classLabel true a b\n@data\n1,2:a\n")
    )
    case("ts_unlabelled.ts", "@classLabel false: nothing to learn", ("no labels", "@classLabel false"))(
        text("@problemName toy\n@classLabel false\n@data\n1,2,3\n4,5,6\n")
    )
    prices = "date,close\n" + "".join(f"2024-01-{d:02d},{100 + d % 7}\n" for d in range(1, 21))
    forecast = {"task": "forecast"}
    case("ts_forecast_too_short.csv", "20 days for a 30-day window", ("too few", "window=30"), options=forecast)(
        text(prices)
    )
    case("ts_forecast_bad_date.csv", "the date 'someday'", ("line 4", "column 'date'", "not a date"), options=forecast)(
        text(prices.replace("2024-01-03", "someday"))
    )
    case("ts_forecast_duplicate_date.csv", "2024-01-02 twice", ("line 4", "appears twice"), options=forecast)(
        text(prices.replace("2024-01-03", "2024-01-02"))
    )
    case("ts_forecast_not_a_number.csv", "a close of 'n/a!'", ("line 3", "column 'close'", "not a number"),
         options=forecast)(text(prices.replace("2024-01-02,102", "2024-01-02,n/a!")))
    two = "date,close,volume\n" + "".join(f"2024-01-{d:02d},{d},{d * 9}\n" for d in range(1, 21))
    case("ts_forecast_which_target.csv", "two numeric columns, no target option", ("target=COLUMN", "close, volume"),
         options=forecast)(text(two))
    case("ts_forecast_bad_window.csv", "window='ten'", ("window='ten'",), options={**forecast, "window": "ten"})(
        text(prices)
    )
    case("ts_forecast_missing_target.csv", "target='price' is not a column", ("target='price'", "columns: date, close"),
         options={**forecast, "target": "price"})(text(prices))
    case("ts_forecast_flat.csv", "the price never changes", ("does not change",), options={**forecast, "window": 3})(
        text("date,close\n" + "".join(f"2024-01-{d:02d},5\n" for d in range(1, 31)))
    )

    # --- text classification and entity-tagging files (data/text.py, data/tagging.py) ---------------
    reviews = "".join(f"great film {i},pos\nawful plot {i},neg\n" for i in range(3))
    case("text_gbk.csv", "GBK-encoded Chinese on line 4", ("line 4", "byte offset 36", "UTF-8"),
         options={"text": "text"})(
        lambda p: p.write_bytes(b"text,label\ngreat film,pos\nawful,neg\n" + "\u5dee\u8bc4".encode("gbk") + b",neg\n")
    )
    case("text_no_text_column.csv", "text='body' is not a column", ("'body'", "text, label"), options={"text": "body"})(
        text("text,label\n" + reviews)
    )
    case("text_empty_text.csv", "line 4 has no text", ("line 4", "the text is empty"), options={"text": "text"})(
        text("text,label\ngreat,pos\nawful,neg\n,neg\n")
    )
    case("text_bad_json.jsonl", "line 2 is cut off", ("line 2", "not valid JSON"))(
        text('{"text": "great", "label": "pos"}\n{"text": "awful", "label": \n')
    )
    case("text_missing_label.jsonl", "line 3 has no label field", ("line 3", "no field 'label'"))(
        text('{"text": "great", "label": "pos"}\n{"text": "awful", "label": "neg"}\n{"text": "dull"}\n')
    )
    case("text_not_objects.jsonl", "line 1 is a JSON list", ("line 1", "not an object"))(text('["great", "pos"]\n'))
    case("text_bad_tokenizer.csv", "tokenizer='bpe'", ("tokenizer='bpe'", "char, word, cjk"),
         options={"text": "text", "tokenizer": "bpe"})(text("text,label\n" + reviews))
    case("conll_no_tag.conll", "line 3 has a token but no tag", ("line 3", "token and a tag"))(
        text("John\tB-PER\nlives\tO\nhere\n")
    )
    case("conll_bad_tag.conll", "line 2 tag 'PERSON' is not BIO", ("line 2", "'PERSON'", "not a BIO tag"))(
        text("Mary\tB-PER\nSmith\tPERSON\n")
    )
    case("conll_latin1.bio", "Latin-1 text on line 2", ("line 2", "byte offset 13", "UTF-8"))(
        text("Paris\tB-LOC\nZ\u00fcrich\tB-LOC\n", encoding="latin-1")
    )
    case("conll_only_o.conll", "no entities at all", ("every token is tagged O",))(text("a\tO\n\nb\tO\n\nc\tO\n"))
    video_cases()
    audio_cases()
    reliability_cases()


# --- video clips and folders of clips (data/video.py) ---------------------------------------------
VIDEO_SPEC = {"name": "clips", "modality": "video", "task": "classify", "input_shape": [4, 1, 8, 8], "n_outputs": 2,
              "classes": ["a", "b"], "extra": {"frames": 4, "size": [8, 8], "grey": True, "stride": None}}


def clip_bytes(seed: int, suffix: str) -> bytes:
    """A tiny clip (6 frames of 16x16, a square moving right) written with PyAV, as bytes."""
    import tempfile

    from blobbotronic.data.video_gen import write_clip

    frames = np.zeros((6, 16, 16), np.uint8)
    for t in range(6):
        frames[t, 4 + seed % 4 : 10 + seed % 4, 2 * t : 2 * t + 4] = 255
    with tempfile.TemporaryDirectory() as tmp:
        return write_clip(Path(tmp) / f"clip{suffix}", frames).read_bytes()


def video_cases() -> None:
    ok = {f"{c}/clip{i}.avi": clip_bytes(i, ".avi") for c, i in (("a", 0), ("a", 1), ("b", 2), ("b", 3))}
    whole = clip_bytes(4, ".avi")
    case("video_truncated_clips", "a/cut.avi is cut to 40% of its bytes", ("cut.avi", "truncated"))(
        image_folder({**ok, "a/cut.avi": whole[: len(whole) * 2 // 5]})
    )
    case("video_one_class", "clips of one class only", ("two classes",))(
        image_folder({k: v for k, v in ok.items() if k.startswith("a/")})
    )
    case("video_bad_frames_option", "frames='many' is not a number", ("frames='many'", "whole number"),
         options={"frames": "many"})(image_folder(ok))
    case("video_labels_missing_clip", "labels.csv line 3 names a clip that is not there", ("line 3", "does not exist"))(
        image_folder({"x.avi": ok["a/clip0.avi"], "y.avi": ok["b/clip2.avi"],
                     "labels.csv": b"path,label\nx.avi,a\nnope.avi,b\ny.avi,b\n"})
    )
    case("video_garbage.mp4", "random bytes named .mp4", ("cannot decode",), spec=VIDEO_SPEC)(
        lambda p: p.write_bytes(np.random.default_rng(5).bytes(600))
    )
    gif = clip_bytes(6, ".gif")
    case("video_truncated.gif", "an animated GIF cut short", ("truncated",), spec=VIDEO_SPEC)(
        lambda p: p.write_bytes(gif[: len(gif) // 2])
    )
    case("video_flat.npy", "a 2-D array where a clip (T, H, W) belongs", ("(T, H, W)",), spec=VIDEO_SPEC)(
        lambda p: p.write_bytes(npy(np.zeros((4, 8), np.float32)))
    )


# --- sound files and folders of them (data/audio.py) -----------------------------------------------
AUDIO_SPEC = {"name": "chirps", "modality": "sequence", "task": "classify", "input_shape": [21, 13], "n_outputs": 2,
              "classes": ["a", "b"], "extra": {
                  "audio": {"view": "frames", "features": "mfcc", "rate": 8000, "samples": 1600, "channels": 1,
                            "mono": True, "n_mels": 20, "n_mfcc": 13, "deltas": False, "window_ms": 25.0,
                            "hop_ms": 10.0},
                  "scaler": {"mean": [0.0] * 13, "std": [1.0] * 13}}}


def wav_bytes(samples: np.ndarray, rate: int = 8000, bits: int = 16, tag: int = 1) -> bytes:
    """A RIFF WAV file written by hand (so that its header can say anything): mono samples in [-1, 1]."""
    data = (samples * 32767).astype("<i2").tobytes() if bits == 16 else bytes(len(samples) * ((bits + 7) // 8))
    block = (bits + 7) // 8
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chirp_wav(seed: int, seconds: float = 0.2) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return wav_bytes(0.5 * np.sin(2 * np.pi * (300 + 200 * seed) * t * (1 + t)))


def audio_cases() -> None:
    ok = {f"{c}/{c}{i}.wav": chirp_wav(k * 2 + i) for k, c in enumerate("ab") for i in range(2)}
    whole = chirp_wav(5, seconds=0.5)
    case("audio_truncated", "a/cut.wav is cut to 40% of its bytes", ("cut.wav", "truncated", "promises 0.50 s"))(
        image_folder({**ok, "a/cut.wav": whole[: len(whole) * 2 // 5]})
    )
    case("audio_empty_file", "a/empty.wav has zero bytes", ("empty.wav", "empty (0 bytes)"))(
        image_folder({**ok, "a/empty.wav": b""})
    )
    case("audio_text_as_wav", "a/notes.wav is a text file renamed .wav", ("notes.wav", "this is text", "RIFF"))(
        image_folder({**ok, "a/notes.wav": b"Meeting notes: call back on Monday.\n"})
    )
    case("audio_silent", "b/quiet.wav holds only zeros", ("quiet.wav", "silent", "digital silence"))(
        image_folder({**ok, "b/quiet.wav": wav_bytes(np.zeros(1600))})
    )
    case("audio_12bit", "b/odd.wav declares 12-bit integer samples", ("odd.wav", "wrong sample format", "12-bit"))(
        image_folder({**ok, "b/odd.wav": wav_bytes(np.zeros(800), bits=12)})
    )
    case("audio_unknown_codec", "b/codec.wav declares format tag 0x1234", ("codec.wav", "wrong sample format",
                                                                           "0x1234"))(
        image_folder({**ok, "b/codec.wav": wav_bytes(np.zeros(800), tag=0x1234)})
    )
    case("audio_no_sound_files", "class folders hold only text notes, read with a sound option",
         ("no sound files", ".wav"), options={"view": "frames"})(
        image_folder({"a/1.txt": b"a\n", "b/2.txt": b"b\n"})
    )
    case("audio_too_long", "clips cut to 1,000,000 s each would not fit in memory",
         ("refused before loading", "would need about"), options={"seconds": "1000000"})(image_folder(ok))
    case("audio_garbage.wav", "random bytes named .wav", ("not a WAV file",), spec=AUDIO_SPEC)(
        lambda p: p.write_bytes(np.random.default_rng(9).bytes(300))
    )
    case("audio_truncated.wav", "a .wav cut to 40% of its bytes", ("truncated",), spec=AUDIO_SPEC)(
        lambda p: p.write_bytes(whole[: len(whole) * 2 // 5])
    )
    case("audio_empty.wav", "a .wav of zero bytes", ("empty (0 bytes)",), spec=AUDIO_SPEC)(lambda p: p.write_bytes(b""))
    case("audio_text.wav", "a text file renamed .wav", ("this is text",), spec=AUDIO_SPEC)(
        lambda p: p.write_bytes(b"not sound at all\n")
    )


# --- more garbage per loader, pickles, huge declared sizes, checkpoints (tests/test_reliability.py) --------


def garbage(seed: int, n: int = 300) -> Callable[[Path], None]:
    """Random bytes that are not UTF-8 (a 0xff byte first)."""
    return lambda p: p.write_bytes(b"\xff" + np.random.default_rng(seed).bytes(n))


def npy_header_only(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A .npy header declaring ``shape`` followed by a few bytes: what a cut (or lying) file looks like."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + b"\0" * 64


def huge_npz(p: Path) -> None:
    with zipfile.ZipFile(p, "w") as z:  # fixed member dates: the same bytes on every run
        z.writestr(zipfile.ZipInfo("x.npy", (2020, 1, 1, 0, 0, 0)), npy_header_only((1_000_000, 1_000_000)))
        z.writestr(zipfile.ZipInfo("y.npy", (2020, 1, 1, 0, 0, 0)), npy_header_only((1_000_000,), "<i8"))


def reliability_cases() -> None:
    case("nan_label.csv", "line 3's label is 'nan'", ("line 3", "label is missing"))(
        text("a,b,label\n1,2,x\n3,4,nan\n5,6,y\n")
    )
    case("huge_header.npz", "x declares 1,000,000 x 1,000,000 float64 (7.3 TB)", ("refused before loading", "TB"))(
        huge_npz
    )
    case("pickled_object.npz", "x is a pickled object array", ("object array", "pickle"))(
        npz(x=np.array([{"a": 1}, None] * 4, dtype=object), y=y_pairs())
    )
    case("predict_huge_header.npy", "declares 1,000,000 x 1,000,000 float64", ("refused before loading", "7.3 TB"),
         spec=SEQUENCE_SPEC)(lambda p: p.write_bytes(npy_header_only((1_000_000, 1_000_000))))
    case("ts_garbage.ts", "random binary bytes named .ts", ("line 1", "not UTF-8"))(garbage(11))
    case("ts_utf16.ts", "UTF-16 encoded", ("line 1", "not UTF-8"))(
        text("@problemName toy\n@classLabel true a b\n@data\n1,2:a\n3,4:b\n", "utf-16")
    )
    case("ts_lone_at.ts", "a line holding only '@'", ("line 2", "unknown header tag"))(
        text("@problemName toy\n@\n@classLabel true a b\n@data\n1,2:a\n3,4:b\n")
    )
    case("ts_superscript_dimensions.ts", "@dimensions '²' (a digit to str.isdigit, not to int)",
         ("line 2", "@dimensions", "positive whole number"))(
        text("@problemName toy\n@dimensions \u00b2\n@classLabel true a b\n@data\n1,2:a\n3,4:b\n")
    )
    case("ts_bad_target.ts", "@targetLabel true with the target 'abc'", ("line 4", "'abc'", "not a finite number"))(
        text("@problemName toy\n@targetLabel true\n@data\n1,2,3:abc\n4,5,6:1.5\n")
    )
    case("text_garbage.jsonl", "random binary bytes named .jsonl", ("line 1", "not valid UTF-8"))(garbage(12))
    case("text_utf16.jsonl", "UTF-16 encoded", ("not valid UTF-8",))(
        text('{"text": "great", "label": "pos"}\n', "utf-16")
    )
    case("text_deep_nesting.jsonl", "line 2 nests 5,000 lists (too deep for the JSON reader)",
         ("line 2", "not valid JSON"))(
        text('{"text": "great", "label": "pos"}\n' + "[" * 5000 + "\n")
    )
    case("text_huge_number.jsonl", "a 5,000-digit label (over Python's int limit)", ("line 2", "not valid JSON"))(
        text('{"text": "great", "label": 1}\n{"text": "awful", "label": ' + "9" * 5000 + "}\n")
    )
    case("conll_garbage.conll", "random binary bytes named .conll", ("line 1", "not valid UTF-8"))(garbage(13))
    case("conll_missing_tag_column.conll", "tag_col=2 but lines have 2 columns", ("line 1", "column is missing"),
         options={"tag_col": 2})(text("John\tB-PER\nlives\tO\n\nMary\tB-PER\n"))
    case("conll_two_sentences.conll", "2 sentences, too few to split", ("2 sentence(s)", "at least 3"))(
        text("John\tB-PER\nlives\tO\n\nMary\tB-PER\n")
    )
    case("empty_png", "b/empty.png has zero bytes", ("empty.png", "cannot read this image"))(
        image_folder({**good_images(), "b/empty.png": b""})
    )
    mp4 = clip_bytes(7, ".mp4")
    case("video_truncated.mp4", "an .mp4 cut to 40% of its bytes (its index is at the end)", ("truncated",),
         spec=VIDEO_SPEC)(lambda p: p.write_bytes(mp4[: len(mp4) * 2 // 5]))
    checkpoint_cases()
    format_cases()


# --- UCR text files, split folders, tab-separated CoNLL, detected text tables (tests/test_formats.py) ---------


def ucr_rows(sep: str, rows: list[list[str]]) -> Callable[[Path], None]:
    return text("".join(sep.join(r) + "\n" for r in rows))


UCR_ROWS = [["1", "0.5", "0.25", "-1.0", "2.0"], ["2", "1.5", "1.0", "0.5", "0.0"], ["1", "0.1", "0.2", "0.3", "0.4"],
            ["2", "3.0", "2.0", "1.0", "0.5"]]


def format_cases() -> None:
    def change(row: int, col: int, value: str) -> list[list[str]]:
        rows = [list(r) for r in UCR_ROWS]
        rows[row][col] = value
        return rows

    case("ucr_not_a_number_TRAIN.tsv", "a UCR .tsv: line 3, column 5 holds 'abc'",
         ("line 3", "column 5", "'abc' is not a number", "NaN"))(ucr_rows("\t", change(2, 4, "abc")))
    case("ucr_infinite_TRAIN.tsv", "a UCR .tsv: line 2, column 3 is 'inf'", ("line 2", "column 3", "infinite"))(
        ucr_rows("\t", change(1, 2, "inf"))
    )
    case("ucr_bad_label_TRAIN.tsv", "a UCR .tsv: line 2's class label is 1.5", ("line 2", "column 1", "whole number"))(
        ucr_rows("\t", change(1, 0, "1.5"))
    )
    case("ucr_empty_series_TRAIN.tsv", "a UCR .tsv: line 3 is a label and NaN only", ("line 3", "no values"))(
        ucr_rows("\t", [UCR_ROWS[0], UCR_ROWS[1], ["1", "NaN", "NaN", "NaN", "NaN"], UCR_ROWS[3]])
    )
    case("ucr_ragged_TRAIN.txt", "a classic UCR .txt: line 4 has 3 fields, the others 5",
         ("line 4", "3 fields", "line 1 has 5", "padded with NaN"))(
        ucr_rows("  ", [*UCR_ROWS[:3], UCR_ROWS[3][:3]])
    )
    case("ucr_single_class.txt", "a classic UCR .txt whose series are all class 1", ("class label '1'", "two classes"))(
        ucr_rows(" ", [["1", *r[1:]] for r in UCR_ROWS])
    )
    case("ucr_prose.txt", "a .txt of prose, not a UCR file", ("first line is not one", ".csv", ".jsonl"))(
        text("Call me Ishmael. Some years ago, never mind how long precisely,\nI thought I would sail about.\n")
    )
    images = {f"{s}/{c}/{i}.png": png(20 + 10 * k + i) for s in ("train", "test") for k, c in enumerate("ab")
              for i in range(2)}
    case("split_classes_differ", "train/ has classes a and b, test/ has a and c",
         ("test/ has 'c' that train/ lacks", "train/ has 'b' that test/ lacks"))(
        image_folder({k.replace("test/b/", "test/c/"): v for k, v in images.items()})
    )
    case("split_no_test", "train/ and val/ folders of classes, no test/", ("no test/ folder", "train/ and test/"))(
        image_folder({k.replace("test/", "val/"): v for k, v in images.items()})
    )
    clips = {f"{s}/{c}/clip{i}.avi": clip_bytes(i, ".avi") for s in ("train", "test") for c, i in (("a", 0), ("b", 1))}
    case("split_clips_differ", "train/ and test/ of clips; test/ lacks class b", ("train/ has 'b' that test/ lacks",))(
        image_folder({k: v for k, v in clips.items() if k != "test/b/clip1.avi"})
    )
    case("conll_tab_one_column.conll", "line 2 holds a tab but one column ('に' and no tag)",
         ("line 2", "found only 'に'", "last column"))(text("東京\u3000タワー\tB-LOC\nに\t\n行く\tO\n"))
    pairs = zip(["film", "plot", "cast"] * 4, ["good", "dull"] * 6, strict=True)
    sentences = [f"the {w} was {v} {i}" for i, (w, v) in enumerate(pairs)]
    rows = [f"{t},{'pos' if i % 2 == 0 else 'neg'}" for i, t in enumerate(sentences)]
    rows[3] = ",neg"
    case("text_detected_empty_text.csv", "a text,label CSV read as text (detected); line 5 has no text",
         ("line 5", "the text is empty"))(text("text,label\n" + "\n".join(rows) + "\n"))


def y_pairs() -> np.ndarray:
    return np.array([0, 1] * 4)


def checkpoint_cases() -> None:
    """Checkpoint folders (model.safetensors + config.json) that must be refused, and a pickled .pt file."""
    import pickle

    import torch

    from blobbotronic.data.spec import Spec
    from blobbotronic.models import create
    from blobbotronic.train.checkpoint import save

    spec = Spec.from_dict(TABLE_SPEC)

    def saved(model: str, **params) -> Callable[[Path], None]:
        def write(p: Path) -> None:
            torch.manual_seed(0)
            save(create(model, spec, **params), p, dataset="pets.csv")
            (p / "config.json").write_text((p / "config.json").read_text().replace(str(HERE), "."))

        return write

    def other_weights(p: Path) -> None:
        saved("mlp", hidden=4)(p)
        saved("logistic")(HERE / ".tmp")
        (p / "model.safetensors").write_bytes((HERE / ".tmp" / "model.safetensors").read_bytes())
        shutil.rmtree(HERE / ".tmp")

    def then(write: Callable[[Path], None], change: Callable[[Path], None]) -> Callable[[Path], None]:
        return lambda p: (write(p), change(p))

    case("ckpt_other_model", "an mlp's config with a logistic model's weights", ("do not fit model 'mlp'",),
         via="checkpoint")(other_weights)
    case("ckpt_pickled_weights", "model.safetensors holds a pickle", ("not a readable safetensors",),
         via="checkpoint")(then(saved("mlp", hidden=4),
                                lambda p: (p / "model.safetensors").write_bytes(pickle.dumps({"w": [1.0, 2.0]}))))
    case("ckpt_truncated_weights", "model.safetensors cut to 100 bytes", ("not a readable safetensors",),
         via="checkpoint")(then(saved("mlp", hidden=4), lambda p: (p / "model.safetensors").write_bytes(
             (p / "model.safetensors").read_bytes()[:100])))
    case("ckpt_bad_config", "config.json is not JSON", ("unreadable checkpoint configuration",), via="checkpoint")(
        then(saved("mlp", hidden=4), lambda p: (p / "config.json").write_text("{'model': mlp,"))
    )
    case("ckpt_unknown_model", "config.json names a model 'resnet9000'", ("config.json", "resnet9000"),
         via="checkpoint")(then(saved("mlp", hidden=4), lambda p: (p / "config.json").write_text(
             (p / "config.json").read_text().replace('"mlp"', '"resnet9000"'))))
    case("ckpt_no_weights", "config.json without model.safetensors", ("not a blobbotronic checkpoint",),
         via="checkpoint")(then(saved("mlp", hidden=4), lambda p: (p / "model.safetensors").unlink()))
    case("ckpt_torch_save.pt", "a torch.save'd (pickled) state dict", ("not a blobbotronic checkpoint", "never loaded"),
         via="checkpoint")(lambda p: torch.save({"w": torch.zeros(2)}, p))


def tiff() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(buf, "TIFF")
    return buf.getvalue()


def write_readme() -> None:
    rows = [f"| `{c['path']}` | {c['via']} | {_options_cell(c)} | {c['problem']} |" for c in CASES]
    (HERE / "README.md").write_text(
        "# Bad inputs\n\n"
        "Small broken files, each of which must raise a `BlobError` that names the file (and never another\n"
        "exception). `tests/test_loaders.py` runs every case in `manifest.json`. Regenerate everything with\n"
        "`python tests/bad_inputs/make_bad_inputs.py`; edit that script, not the files.\n\n"
        "*load* means `blobbotronic.data.load(path, **options)`; *predict* means `read_inputs(spec, [path])`\n"
        "with the case's Spec from `manifest.json`.\n\n"
        "| file | read by | loader options | what is wrong |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def _options_cell(c: dict) -> str:
    if c["spec"]:
        return f"spec `{c['spec']['name']}` ({c['spec']['modality']})"
    return ", ".join(f"`{k}={v!r}`" for k, v in c["options"].items()) or "-"


def main() -> None:
    for entry in HERE.iterdir():
        if entry.name not in KEEP and not entry.name.startswith("."):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    define_cases()
    (HERE / "manifest.json").write_text(json.dumps(CASES, indent=1) + "\n")
    write_readme()


if __name__ == "__main__":
    main()
