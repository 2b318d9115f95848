"""docs/architecture-data.md, held to its word: a file format added as one loader and one registration line loads
through blobbotronic.load, a sniff claims only its files, a reader that claims a Spec reads predict's inputs, the
catalogues name functions that exist, and the layers of blobbotronic/data hold (read from the source). The rules
for the whole package (no import cycle, no private imports across modules, short files and functions) are
tests/test_house.py's."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import blobbotronic as bb
from blobbotronic.data import formats, inputs, read_inputs
from blobbotronic.data.options import check_options
from blobbotronic.data.reading import read_text
from blobbotronic.data.spec import Dataset, Spec, make_dataset
from blobbotronic.errors import BlobError, where
from blobbotronic.registry import Registry

DATA = Path(bb.__file__).parent / "data"
CORE = {"spec", "options", "reading", "files", "formats", "inputs", "transforms", "cache"}
AROUND = {"__init__", "bad_files"}  # the package's face and --skip-bad: they may import anything


@pytest.fixture
def registries(monkeypatch):
    """Copies of FILE_FORMATS and READERS in their place, so that what a test registers is gone after it."""
    fresh = Registry(formats.FILE_FORMATS.kind)
    for name in formats.FILE_FORMATS:
        fresh.register(name, **formats.FILE_FORMATS.tags(name))(formats.FILE_FORMATS.get(name))
    monkeypatch.setattr(formats, "FILE_FORMATS", fresh)
    readers = inputs.Readers(inputs.READERS.kind)
    for name in inputs.READERS:
        readers.register(name, **inputs.READERS.tags(name))(inputs.READERS.get(name))
    monkeypatch.setattr(inputs, "READERS", readers)


# --- the worked example of docs/architecture-data.md ------------------------------------------------------------


def load_xyz(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """Points in .xyz files: 'label x y z' a line (the module of the worked example)."""
    check_options(path, options, {})
    labels, points = [], []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if line.strip():
            label, *xyz = line.split()
            if len(xyz) != 3:
                raise BlobError(f"{where(path, n)}: expected 'label x y z'.")
            labels.append(label)
            points.append([float(v) for v in xyz])
    classes = sorted(set(labels))
    spec = Spec(path.stem, "table", "classify", (3,), len(classes), classes)
    y = np.array([classes.index(c) for c in labels])
    return make_dataset(spec, np.array(points, dtype=np.float32), y, seed=seed, meta={"source": str(path)})


def cloud(path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(0)
    rows = [f"{'near' if i % 2 else 'far'} {rng.normal():.3f} {rng.normal():.3f} {(i % 2) * 5 + rng.normal():.3f}"
            for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_format_is_one_loader_and_one_registration_line(tmp_path, registries):
    path = cloud(tmp_path / "cloud.xyz")
    with pytest.raises(BlobError, match=r"files of type '\.xyz' cannot be read"):
        bb.load(path)
    formats.register_format("points", load_xyz, suffixes=(".xyz",))  # the one line
    ds = bb.load(path, seed=1)
    assert (ds.spec.name, ds.spec.modality, ds.spec.classes, ds.spec.input_shape) == ("cloud", "table",
                                                                                      ("far", "near"), (3,))
    assert sum(ds.sizes().values()) == 40 and ds.meta["source"] == str(path)
    assert ".xyz" in formats.readable_kinds()
    with pytest.raises(BlobError, match="unknown option.*colour"):
        bb.load(path, colour="red")
    (tmp_path / "bad.xyz").write_bytes(b"far 1 2 3\nnear 1 2\n")
    with pytest.raises(BlobError, match=r"bad\.xyz, line 2: expected"):
        bb.load(tmp_path / "bad.xyz")
    (tmp_path / "latin1.xyz").write_bytes("far 1 2 3\ncaf\u00e9 1 2 3\n".encode("latin-1"))
    with pytest.raises(BlobError, match=r"latin1\.xyz, line 2: byte 0xe9"):  # the core's decoder, for every format
        bb.load(tmp_path / "latin1.xyz")


def test_a_sniff_claims_only_its_files_of_a_shared_suffix(tmp_path, registries):
    def is_points(path: Path, options: dict[str, Any]) -> bool:
        return path.read_text(encoding="utf-8").startswith("#points")

    def load_points(path: Path, seed: int = 0, **options: Any) -> Dataset:
        body = tmp_path / "body.xyz"
        body.write_text(path.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
        return load_xyz(body, seed)

    formats.register_format("marked points", load_points, suffixes=(".csv",), sniff=is_points)
    marked = tmp_path / "marked.csv"
    marked.write_text("#points\n" + cloud(tmp_path / "c.xyz").read_text(encoding="utf-8"), encoding="utf-8")
    table = tmp_path / "table.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(30)), encoding="utf-8")
    assert formats.format_of(marked, {}) == "marked points" and bb.load(marked).spec.classes == ("far", "near")
    assert formats.format_of(table, {}) == "table" and bb.load(table).spec.extra["label"] == "label"
    assert formats.format_of(table, {"task": "forecast"}) == "forecast table"  # a task's format still goes first


def test_a_reader_that_claims_a_spec_reads_predict_inputs(tmp_path, registries):
    def read_points(spec: Spec, paths: list[Path]):
        ds = load_xyz(paths[0])
        return ds.train.x, None, ["point"] * len(ds.train)

    inputs.register_reader("points", read_points, claims=lambda spec: bool(spec.extra.get("points")))
    path = cloud(tmp_path / "new.xyz")
    claimed = Spec("cloud", "table", "classify", (3,), 2, ("far", "near"), extra={"points": True})
    x, lengths, names = read_inputs(claimed, [path])
    assert x.shape[1] == 3 and lengths is None and names[0] == "point"
    plain = Spec("cloud", "table", "classify", (3,), 2, ("far", "near"))
    with pytest.raises(BlobError, match="table inputs are read from .csv or .tsv"):  # the table modality's reader
        read_inputs(plain, [path])


def test_the_catalogues_name_functions_that_exist():
    for name in formats.FILE_FORMATS:
        tags = formats.FILE_FORMATS.tags(name)
        assert callable(formats.resolve(formats.FILE_FORMATS.get(name))), name
        assert tags["sniff"] is None or callable(formats.resolve(tags["sniff"])), name
        assert tags["suffixes"] and all(s == "" or s.startswith(".") for s in tags["suffixes"]), name
    for name in inputs.READERS:
        assert callable(formats.resolve(inputs.READERS.get(name))), name
        claims = inputs.READERS.tags(name)["claims"]
        assert claims is not None or name in ("table", "image", "sequence", "text", "video"), name
        assert claims is None or callable(formats.resolve(claims)), name


# --- the import layers, read from the source ---------------------------------------------------------------------


def imports_of(path: Path) -> list[tuple[str, str]]:
    """(module of data/ imported, name imported from it) for each relative import in a module of data/."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                out.append((node.module.split(".")[0], alias.name) if node.module else (alias.name, ""))
    return out


def data_graph() -> dict[str, list[tuple[str, str]]]:
    modules = {p.stem for p in DATA.glob("*.py")}
    return {p.stem: [(m, n) for m, n in imports_of(p) if m in modules] for p in DATA.glob("*.py")}


def test_core_modules_import_only_core_modules():
    graph = data_graph()
    assert CORE <= set(graph)
    wrong = {m: sorted({d for d, _ in graph[m]} - CORE) for m in CORE}
    assert not any(wrong.values()), wrong


def test_only_the_package_imports_the_built_in_set_modules():
    graph = data_graph()
    builtin_sets = {"builtin"} | {m for m, deps in graph.items() if any(d == "builtin" for d, _ in deps)} - AROUND
    wrong = [(m, d) for m, deps in graph.items() for d, _ in deps
             if d in builtin_sets and m not in AROUND | builtin_sets]
    assert not wrong, wrong
