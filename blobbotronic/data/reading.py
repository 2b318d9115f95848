"""Reading a user's files: their bytes (after the memory check), UTF-8 text through one decoder that names the
file and line of a bad byte, binary files, and the errors numpy raises on damaged arrays."""

from __future__ import annotations

import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from .. import guards
from ..errors import BlobError, where

TEXT_ADVICE = ("Text files must be UTF-8; re-save the file as UTF-8 (e.g. iconv -f GB18030 -t UTF-8 for Chinese saved "
               "as GBK, iconv -f LATIN1 -t UTF-8 for Western European text).")
# What numpy, zipfile and tokenize (reading .npy headers) raise on damaged, encrypted or absurd archives.
ARRAY_FILE_ERRORS = (
    ValueError,
    OSError,
    EOFError,
    zipfile.BadZipFile,
    tokenize.TokenError,
    SyntaxError,
    NotImplementedError,
    RuntimeError,
    zlib.error,
    MemoryError,
)


def read_bytes(path: Path, kind: str | None = "text") -> bytes:
    """A file's bytes, or a BlobError saying why they cannot be read. ``kind`` (a key of guards.FILE_FACTORS)
    first refuses a file too large to parse in memory; None reads without that check."""
    if kind is not None:
        guards.check_file_memory(path, kind)
    try:
        return path.read_bytes()
    except OSError as e:
        raise BlobError(f"{path}: cannot read the file ({e.strerror or e}).") from None


def decode_utf8(path: Path, data: bytes, advice: str = TEXT_ADVICE, *, text_only: str | None = None,
                brief: bool = False) -> str:
    """Bytes as UTF-8 text (a BOM is skipped), or a BlobError naming the file, the line and the bad byte.

    ``advice`` ends the message (how to re-save the file). ``text_only`` (what the file must be, e.g. 'a CSV must
    be plain UTF-8 text with a header row') also refuses UTF-16 and files holding a NUL byte. ``brief`` words it
    '<file>, line N: byte 0xe9 is not UTF-8 text; <advice>.', for readers whose advice says what the file is."""
    if text_only is not None:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise BlobError(f"{path}: the file is UTF-16 encoded; it must be UTF-8 text. Re-save it as UTF-8.")
        nul = data.find(b"\x00")
        if nul >= 0:
            line = data[:nul].count(b"\n") + 1
            raise BlobError(f"{where(path, line)}: this is not a text file (a NUL byte at byte offset {nul}); "
                            f"{text_only}.")
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = bom + e.start
        line = data[:offset].count(b"\n") + 1
        at = f"{where(path, line)}: byte 0x{data[offset]:02x}"
        if brief:
            raise BlobError(f"{at} is not UTF-8 text; {advice}.") from None
        raise BlobError(f"{at} at byte offset {offset} is not valid UTF-8. {advice}") from None


def read_text(path: Path, kind: str | None = "text", advice: str = TEXT_ADVICE, *, text_only: str | None = None,
              brief: bool = False) -> str:
    """A text file read whole: ``decode_utf8`` of ``read_bytes``."""
    return decode_utf8(path, read_bytes(path, kind), advice, text_only=text_only, brief=brief)


def open_binary(path: Path) -> BinaryIO:
    """Open a file for reading bytes, or raise a BlobError saying why it cannot be."""
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as e:
        raise BlobError(f"{path}: cannot read the file ({e.strerror or e}).") from None


def short_reason(e: BaseException) -> str:
    """The first sentence of an exception's message, for a one-paragraph error."""
    return str(e).split(". ")[0].rstrip(".")
