"""CJK glyph rendering: find a font, render each character as a small grey bitmap, cache them on disk.

``glyph_table(tokens, size)`` returns one (size, size) bitmap in [0, 1] per vocabulary token, white
strokes on black, drawn with a CJK font found by fontconfig (``fc-list :lang=zh``) or at a known path
(Debian's ``fonts-wqy-microhei``). Bitmaps are cached per font file and size under
``~/.cache/blobbotronic/glyphs`` so a vocabulary is drawn once. Tokens longer than one character (a
run of Latin letters) are shrunk into the same square; ``<pad>`` and ``<unk>`` are blank.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import BlobError
from .cache import cache_dir

FONT_ENV = "BLOBBOTRONIC_CJK_FONT"  # a font file to use instead of searching
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
    "No font that can draw Chinese characters was found (searched fontconfig 'fc-list :lang=zh' and "
    f"{', '.join(KNOWN_FONTS[:2])}). Install one with: sudo apt-get install fonts-wqy-microhei "
    f"(or set {FONT_ENV} to a .ttf/.ttc/.otf file with CJK characters)."
)


def find_cjk_font() -> Path:
    """The font file to draw CJK characters with: $BLOBBOTRONIC_CJK_FONT, else a fontconfig match for
    Chinese, else a known path; BlobError naming the Debian package when there is none."""
    given = os.environ.get(FONT_ENV)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise BlobError(f"{FONT_ENV}={given!r} is not a font file. {NO_FONT}")
        return path
    candidates = [*_fontconfig_fonts(), *(Path(p) for p in KNOWN_FONTS)]
    for path in candidates:
        if path.is_file() and _draws(path, PROBE):
            return path
    raise BlobError(NO_FONT)


def _fontconfig_fonts() -> list[Path]:
    """Font files fontconfig lists as covering Chinese (fc-match alone always answers, even with no CJK font)."""
    if shutil.which("fc-list") is None:
        return []
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = sorted({line.split(":")[0].strip() for line in out.splitlines() if line.strip()})
    return [Path(f) for f in sorted(files, key=lambda f: ("microhei" not in f.lower(), f))]


def _draws(path: Path, char: str) -> bool:
    """Whether the font draws ``char`` differently from a character it surely lacks (its 'missing' box)."""
    from PIL import ImageFont

    try:
        font = ImageFont.truetype(str(path), 24)
    except OSError:
        return False
    have = font.getmask(char)
    missing = font.getmask("\U0010fffd")
    return have.getbbox() is not None and bytes(have) != bytes(missing)


def render(token: str, font_path: Path, size: int) -> np.ndarray:
    """One token drawn in a (size, size) square: uint8, 255 = ink. A single character keeps its place in
    the em box (a comma stays small and low); a longer token is shrunk to fit the width."""
    from PIL import Image, ImageDraw, ImageFont

    if token in SPECIAL or not token.strip():
        return np.zeros((size, size), dtype=np.uint8)
    font = ImageFont.truetype(str(font_path), size)
    width = font.getlength(token)
    if width > size:
        font = ImageFont.truetype(str(font_path), max(4, int(size * size / width)))
    out = Image.new("L", (size, size), 0)
    ImageDraw.Draw(out).text((size / 2, size / 2), token, fill=255, font=font, anchor="mm")
    return np.asarray(out, dtype=np.uint8)


def _cache_file(font_path: Path, size: int) -> Path:
    stat = font_path.stat()
    key = hashlib.sha1(f"{font_path.resolve()}|{stat.st_size}|{int(stat.st_mtime)}|{size}".encode()).hexdigest()[:16]
    return cache_dir("glyphs") / f"{font_path.stem}-{size}px-{key}.npz"


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


def glyph_table(tokens: Sequence[str], size: int = 24, font: Path | None = None) -> np.ndarray:
    """Bitmaps (len(tokens), size, size) float32 in [0, 1], one per token, drawn once and cached."""
    font = font or find_cjk_font()
    path = _cache_file(font, size)
    cached = _read_cache(path)
    todo = [t for t in dict.fromkeys(tokens) if t not in cached]
    if todo:
        cached.update({t: render(t, font, size) for t in todo})
        _write_cache(path, cached)
    return np.stack([cached[t] for t in tokens]).astype(np.float32) / 255.0 if tokens else np.zeros((0, size, size))
