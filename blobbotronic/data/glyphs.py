"""CJK glyph rendering: find a font, render each character as a small grey bitmap, cache them on disk.

``glyph_table(tokens, size)`` returns one (size, size) bitmap in [0, 1] per vocabulary token, white
strokes on black. The font is, in this order: the file named by ``$BLOBBOTRONIC_CJK_FONT``; Noto Sans
CJK SC from the ``noto-cjk-sans-otc`` package (a pinned dependency of the ``text`` extra, so of ``make
demo``: SIL Open Font License 1.1, docs/fonts.md); else a CJK font that fontconfig lists
(``fc-list :lang=zh``) or that lies at a known path (Debian's ``fonts-wqy-microhei``). The package comes
before the system's fonts so that every machine where the project is installed draws the same glyphs
(and trains on the same pixels); the system's fonts serve an install without it.
``find_cjk_font().describe()`` says which font drew them. Bitmaps are cached per font face and size
under ``~/.cache/blobbotronic/glyphs`` so a vocabulary is drawn once. Tokens longer than one character
(a run of Latin letters) are shrunk into the same square; ``<pad>`` and ``<unk>`` are blank.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BlobError
from .cache import cache_dir

FONT_ENV = "BLOBBOTRONIC_CJK_FONT"  # a font file to use instead of searching
FONT_PACKAGE = "noto-cjk-sans-otc"  # on PyPI; its module holds the font file
FONT_MODULE, FONT_FILE, FONT_FACE = "noto_cjk_sans_otc", "NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"
KNOWN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
PROBE = "中"  # a font that draws this character is taken to cover Chinese
SPECIAL = ("<pad>", "<unk>")
NO_FONT = (
    "No font that can draw Chinese characters was found, and the glyph models (glyph_cnn_lstm) draw every "
    f"character with one. Searched: the {FONT_PACKAGE} package (not installed), fontconfig's 'fc-list :lang=zh' "
    f"and {', '.join(KNOWN_FONTS[:2])}. To fix it without root, install the font package the project pins: "
    f"pip install {FONT_PACKAGE}==0.0.1 (`make install` or `make demo` does it); or, as root, apt-get install "
    f"fonts-wqy-microhei; or set {FONT_ENV} to a .ttf/.ttc/.otf file with CJK characters."
)


@dataclass(frozen=True)
class CJKFont:
    """One face of a font file (``index``: its place in a .ttc collection) and where it was found."""

    path: Path
    index: int = 0
    origin: str = "given"  # "$BLOBBOTRONIC_CJK_FONT", "package noto-cjk-sans-otc 0.0.1", "fontconfig", "known path"

    def face(self, size: int) -> Any:
        from PIL import ImageFont

        return ImageFont.truetype(str(self.path), size, index=self.index)

    def describe(self) -> dict[str, Any]:
        """What drew the glyphs, for a report or a run's record: the face's name, file, origin and checksum."""
        family, style = self.face(16).getname()
        return {"font": f"{family} {style}", "file": self.path.name, "face_index": self.index,
                "origin": self.origin, "sha256": _sha256(str(self.path.resolve()))[:16]}


@functools.lru_cache(maxsize=8)
def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_cjk_font() -> CJKFont:
    """The font to draw CJK characters with: $BLOBBOTRONIC_CJK_FONT, else the packaged Noto Sans CJK SC, else a
    fontconfig match for Chinese, else a known path; BlobError (NO_FONT: what to install) when there is none."""
    given = os.environ.get(FONT_ENV)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise BlobError(f"{FONT_ENV}={given!r} is not a font file. Point it at a .ttf/.ttc/.otf file with CJK "
                            f"characters, or unset it to draw with the font that {FONT_PACKAGE} installs (`make "
                            "install`) or a system font.")
        return CJKFont(path, 0, f"${FONT_ENV}")
    packaged = package_font()
    candidates = ([packaged] if packaged else []) + _fontconfig_fonts() + \
        [CJKFont(Path(p), 0, "known path") for p in KNOWN_FONTS]
    for font in candidates:
        if font.path.is_file() and _draws(font.path, PROBE, font.index):
            return font
    raise BlobError(NO_FONT)


def package_font() -> CJKFont | None:
    """Noto Sans CJK SC from the noto-cjk-sans-otc package, when it is installed (found without importing it)."""
    try:
        spec = importlib.util.find_spec(FONT_MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / FONT_FILE
    if not path.is_file():
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        origin = f"package {FONT_PACKAGE} {version(FONT_PACKAGE)}"
    except PackageNotFoundError:
        origin = f"package {FONT_PACKAGE}"
    return CJKFont(path, _face_index(path, FONT_FACE), origin)


def _face_index(path: Path, family: str) -> int:
    """The index of ``family`` in a font collection (the collection's order differs between releases), else 0."""
    from PIL import ImageFont

    for i in range(32):
        try:
            if ImageFont.truetype(str(path), 16, index=i).getname()[0] == family:
                return i
        except OSError:
            break
    return 0


def _fontconfig_fonts() -> list[CJKFont]:
    """Faces fontconfig lists as covering Chinese (fc-match alone always answers, even with no CJK font)."""
    if shutil.which("fc-list") is None:
        return []
    try:
        out = subprocess.run(["fc-list", "--format", "%{file}|%{index}|%{family[0]}\n", ":lang=zh"],
                             capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    faces = set()
    for line in out.splitlines():
        file, _, rest = line.partition("|")
        index, _, family = rest.partition("|")
        if file.strip():
            faces.add((file.strip(), int(index) if index.strip().isdigit() else 0, family.lower()))
    # Micro Hei first (what `make test` installs), then Simplified Chinese faces, proportional before monospaced
    ranked = sorted(faces, key=lambda f: ("microhei" not in f[0].lower(), " sc" not in f[2], "mono" in f[2], f))
    return [CJKFont(Path(file), index, "fontconfig") for file, index, _ in ranked]


def _draws(path: Path, char: str, index: int = 0) -> bool:
    """Whether the font draws ``char`` differently from a character it surely lacks (its 'missing' box)."""
    from PIL import ImageFont

    try:
        font = ImageFont.truetype(str(path), 24, index=index)
    except OSError:
        return False
    have = font.getmask(char)
    missing = font.getmask("\U0010fffd")
    return have.getbbox() is not None and bytes(have) != bytes(missing)


def _as_font(font: CJKFont | Path | str) -> CJKFont:
    return font if isinstance(font, CJKFont) else CJKFont(Path(font))


def render(token: str, font: CJKFont | Path, size: int) -> np.ndarray:
    """One token drawn in a (size, size) square: uint8, 255 = ink. A single character keeps its place in
    the em box (a comma stays small and low); a longer token is shrunk to fit the width."""
    from PIL import Image, ImageDraw

    if token in SPECIAL or not token.strip():
        return np.zeros((size, size), dtype=np.uint8)
    font = _as_font(font)
    face = font.face(size)
    width = face.getlength(token)
    if width > size:
        face = font.face(max(4, int(size * size / width)))
    out = Image.new("L", (size, size), 0)
    ImageDraw.Draw(out).text((size / 2, size / 2), token, fill=255, font=face, anchor="mm")
    return np.asarray(out, dtype=np.uint8)


def _cache_file(font: CJKFont, size: int) -> Path:
    stat = font.path.stat()
    key = hashlib.sha1(f"{font.path.resolve()}|{font.index}|{stat.st_size}|{int(stat.st_mtime)}|{size}".encode())
    return cache_dir("glyphs") / f"{font.path.stem}-{font.index}-{size}px-{key.hexdigest()[:16]}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return dict(zip(z["tokens"].tolist(), z["bitmaps"], strict=True))
    except (OSError, ValueError, KeyError, EOFError):
        return {}  # absent or damaged: draw again


def _write_cache(path: Path, table: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, tokens=np.array(list(table), dtype=str), bitmaps=np.stack(list(table.values())))
        tmp.replace(path)
    except OSError:
        pass  # a read-only home only costs drawing again next time


def glyph_table(tokens: Sequence[str], size: int = 24, font: CJKFont | Path | None = None) -> np.ndarray:
    """Bitmaps (len(tokens), size, size) float32 in [0, 1], one per token, drawn once and cached."""
    font = _as_font(font) if font is not None else find_cjk_font()
    path = _cache_file(font, size)
    cached = _read_cache(path)
    todo = [t for t in dict.fromkeys(tokens) if t not in cached]
    if todo:
        cached.update({t: render(t, font, size) for t in todo})
        _write_cache(path, cached)
    return np.stack([cached[t] for t in tokens]).astype(np.float32) / 255.0 if tokens else np.zeros((0, size, size))
