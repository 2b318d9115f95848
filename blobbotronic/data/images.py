"""Folders of images: one subfolder of images per class (or train/, test/ and val/ folders of them), decoded with
Pillow, turned upright, converted to grey or RGB and resized; and image files read for predict the same way."""

from __future__ import annotations

import collections
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from .. import guards
from ..errors import BlobError
from .files import check_split_classes, read_each, split_folders, split_parts
from .inputs import Batch
from .options import check_options, flag, size_option
from .spec import Dataset, Spec, Split, make_dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
IMAGE_FORMATS = ["PNG", "JPEG", "BMP", "GIF"]
MAX_SIDE = 64  # default images are shrunk so that neither side exceeds this
MAX_IMAGE_PIXELS = 50_000_000  # larger images are refused as possible decompression bombs
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N"})
BAD_IMAGE_HINT = "Replace or delete it (a folder loads with skip_bad=True to skip unreadable images)."


OPTIONS = {"size": None, "grey": None, "skip_bad": False}


def load_image_folder(path: Path, seed: int = 0, **options: Any) -> Dataset:
    """Load a folder with one subfolder of images per class: options ``size`` (int, "HxW" or (H, W); default
    the most common size shrunk to fit 64x64), ``grey`` (default: all images greyscale) and ``skip_bad``.
    A folder of train/ and test/ (and val/) folders of classes keeps that split (``files.split_folders``)."""
    splits = split_folders(path)
    if splits is not None:
        return _load_split_image_folder(path, splits, **options)
    opts = check_options(path, options, OPTIONS)
    skip_bad = bool(flag(path, "skip_bad", opts["skip_bad"]))
    files = _class_files(path)
    skipped: list[Path] = []
    headers = read_each([f for fs in files.values() for f in fs], peek_image, skip_bad, skipped)
    if not headers:
        raise BlobError(f"{path}: none of the {len(skipped)} images could be read.")
    size = size_option(path, opts["size"]) or default_image_size([s for s, _ in headers.values()])
    grey = flag(path, "grey", opts["grey"])
    grey = all(mode in GREY_MODES for _, mode in headers.values()) if grey is None else grey
    guards.check_decoded_memory(len(headers), (1 if grey else 3, *size), path, "images",
                                "Read them smaller (size=32) or in grey (grey=true), or use fewer images.")
    arrays = read_each(list(headers), lambda f: load_image(f, size, grey), skip_bad, skipped)
    label_of = {f: i for i, fs in enumerate(files.values()) for f in fs}
    y = [label_of[f] for f in arrays]
    classes = _surviving_classes(path, list(files), y)
    spec = Spec(
        path.name,
        "image",
        "classify",
        (1 if grey else 3, *size),
        len(classes),
        classes,
        extra={"size": list(size), "grey": grey, "classes": list(classes)},
    )
    meta = {"source": str(path), "skipped": len(skipped), "skipped_files": [str(f) for f in skipped[:20]]}
    return make_dataset(spec, np.stack(list(arrays.values())), _renumber(y), seed=seed, meta=meta)


def _load_split_image_folder(path: Path, splits: dict[str, Path], **options: Any) -> Dataset:
    """Images laid out as train/, test/ (and val/) folders of class folders, the published split kept."""
    opts = check_options(path, options, OPTIONS)
    skip_bad = bool(flag(path, "skip_bad", opts["skip_bad"]))
    per_split = {s: _class_files(d) for s, d in splits.items()}
    classes = check_split_classes(path, {s: list(f) for s, f in per_split.items()})
    origin_of = {"train": 0, "val": 1, "test": 2}
    found = {f: (origin_of[s], classes.index(c)) for s, fs in per_split.items() for c, cf in fs.items() for f in cf}
    skipped: list[Path] = []
    headers = read_each(list(found), peek_image, skip_bad, skipped)
    trained = [h for f, h in headers.items() if found[f][0] == 0]
    if not trained:
        raise BlobError(f"{path}: none of the images in train/ could be read.")
    size = size_option(path, opts["size"]) or default_image_size([s for s, _ in trained])
    grey = flag(path, "grey", opts["grey"])
    grey = all(mode in GREY_MODES for _, mode in headers.values()) if grey is None else grey
    guards.check_decoded_memory(len(headers), (1 if grey else 3, *size), path, "images",
                                "Read them smaller (size=32) or in grey (grey=true), or use fewer images.")
    arrays = read_each(list(headers), lambda f: load_image(f, size, grey), skip_bad, skipped)
    origin = np.array([found[f][0] for f in arrays])
    y = np.array([found[f][1] for f in arrays], dtype=np.int64)
    lost = [c for i, c in enumerate(classes) if not (y[origin == 0] == i).any()]
    if lost:
        raise BlobError(f"{path}: after skipping unreadable images, train/ has none of class(es) {', '.join(lost)}.")
    parts, how = split_parts(origin, y)
    spec = Spec(path.name, "image", "classify", (1 if grey else 3, *size), len(classes), tuple(classes),
                extra={"size": list(size), "grey": grey, "classes": list(classes)})
    full = Split(torch.from_numpy(np.stack(list(arrays.values()))), torch.from_numpy(y))
    counts = {s: int((origin == k).sum()) for s, k in origin_of.items() if s in splits}
    meta = {"source": str(path), "split": how, "published_split": counts,
            "skipped": len(skipped), "skipped_files": [str(f) for f in skipped[:20]]}
    return Dataset(spec, *(full.subset(p) for p in parts), meta=meta)


def _class_files(path: Path) -> dict[str, list[Path]]:
    """Image files per class subfolder (searched recursively, hidden entries ignored), classes in name order."""
    subfolders = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not subfolders:
        loose = len(image_files(path, recursive=False))
        found = f"found {loose} images directly in it but no subfolders" if loose else "found no subfolders"
        raise BlobError(
            f"{path}: an image folder needs one subfolder per class, e.g. {path / 'cat' / '1.png'} and "
            f"{path / 'dog' / '2.png'}; {found}."
        )
    files = {d.name: image_files(d, recursive=True) for d in subfolders}
    files = {name: fs for name, fs in files.items() if fs}
    if len(files) < 2:
        which = f"only the class {next(iter(files))!r} has images" if files else "no subfolder holds images"
        raise BlobError(
            f"{path}: {which} ({', '.join(IMAGE_SUFFIXES)}); a classifier needs at least two class subfolders "
            "with images."
        )
    return files


def image_files(folder: Path, recursive: bool) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        f
        for f in candidates
        if f.suffix.lower() in IMAGE_SUFFIXES
        and f.is_file()
        and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    )


def _surviving_classes(path: Path, names: list[str], y: list[int]) -> tuple[str, ...]:
    kept = sorted(set(y))
    if len(kept) < 2:
        raise BlobError(f"{path}: after skipping unreadable images fewer than two classes have images left.")
    return tuple(names[i] for i in kept)


def _renumber(y: list[int]) -> np.ndarray:
    """Class indices made contiguous after classes that lost all their images are dropped."""
    kept = sorted(set(y))
    return np.searchsorted(kept, np.array(y)).astype(np.int64)


def default_image_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The most common (width, height), shrunk to fit within MAX_SIDE, returned as (height, width)."""
    (w, h), _ = collections.Counter(sizes).most_common(1)[0]
    f = min(1.0, MAX_SIDE / max(w, h))
    return max(1, round(h * f)), max(1, round(w * f))


@contextmanager
def _image_errors(file: Path) -> Iterator[None]:
    """Turn Pillow's failures on one file into a BlobError naming it; refuse decompression bombs."""
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BlobError(
            f"{file}: refused as a possible decompression bomb: it declares more than {MAX_IMAGE_PIXELS:,} pixels. "
            f"{BAD_IMAGE_HINT}"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise BlobError(
            f"{file}: cannot read this image ({e}); it is corrupt, truncated or not a "
            f"{'/'.join(IMAGE_FORMATS)} file. {BAD_IMAGE_HINT}"
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit


def peek_image(file: Path) -> tuple[tuple[int, int], str]:
    """An image's (width, height) and Pillow mode, from its header only."""
    with _image_errors(file), Image.open(file, formats=IMAGE_FORMATS) as im:
        return im.size, im.mode


def load_image(file: Path, size: tuple[int, int], grey: bool) -> np.ndarray:
    """Decode an image, turn it upright, convert to grey or RGB and resize to (height, width):
    a float32 array (C, H, W) in [0, 1]. Training and predict both read images through here."""
    h, w = size
    mode = "L" if grey else "RGB"
    with _image_errors(file), Image.open(file, formats=IMAGE_FORMATS) as im:
        im.draft(mode, (w, h))  # JPEGs decode at a reduced scale when that is enough
        im = ImageOps.exif_transpose(_eight_bit(im))
        im = im.convert(mode).resize((w, h), Image.Resampling.LANCZOS)
        array = np.asarray(im, dtype=np.float32) / 255.0
    return array[None] if grey else array.transpose(2, 0, 1).copy()


def _eight_bit(im: Image.Image) -> Image.Image:
    """16-bit greyscale as 8-bit (Pillow's own conversion clips instead of scaling)."""
    if im.mode.startswith("I"):
        return Image.fromarray((np.asarray(im, dtype=np.float64) / 257.0).round().clip(0, 255).astype(np.uint8))
    return im


# --- new images for predict ------------------------------------------------------------------------


def read_images(spec: Spec, paths: list[Path]) -> Batch:
    """Image files (a folder stands for the images in it), resized and converted as in training."""
    size, grey = _image_format(spec)
    images = [f for p in paths for f in (image_files(p, recursive=False) if p.is_dir() else [p])]
    if not images:
        raise BlobError(f"No image files ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, paths))}.")
    x = np.stack([load_image(f, size, grey) for f in images])
    return torch.from_numpy(x), None, [str(f) for f in images]


def _image_format(spec: Spec) -> tuple[tuple[int, int], bool]:
    """(height, width) and grey from what the image loader recorded, else from the input shape (C, H, W)."""
    channels, h, w = spec.input_shape
    if channels not in (1, 3):
        raise BlobError(
            f"Data set {spec.name!r} has {channels}-channel images; predict reads image files only for "
            "1-channel (grey) or 3-channel (RGB) models."
        )
    size = spec.extra.get("size") or (h, w)
    grey = spec.extra.get("grey", channels == 1)
    return (int(size[0]), int(size[1])), bool(grey)
