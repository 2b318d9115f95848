"""Checks made before work starts: will an input fit in memory, and can a results store be written?

Loaders call ``check_memory`` (or ``check_file_memory``) at their entry points with an estimate of the
memory reading an input will take, so that a file too large for this machine is refused with the estimate
in the message instead of swapping the machine to a halt or being killed half-way. ``check_writable``
tells a read-only or full results store apart before any training is spent on rows that could not be
saved. ``BLOBBOTRONIC_MEMORY_LIMIT`` (e.g. ``2G``) caps the memory the checks treat as available.
"""

from __future__ import annotations

import ast
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from .errors import BlobError

MEMORY_LIMIT_ENV = "BLOBBOTRONIC_MEMORY_LIMIT"
USABLE_SHARE = 0.8  # an input may use at most this share of the memory available when it is read
# Peak memory while reading a file, as a multiple of its size on disk (peak RSS over file size, measured with
# tests-sized files of 5-13 MB: CSV table 22x, .ts 6.4x, JSONL text 27x, CoNLL 26x), rounded up.
FILE_FACTORS = {"table": 25, "ts": 8, "text": 30, "tagging": 30}
# Peak memory over the bytes of the arrays loaded: .npz arrays (40 MB declared: 3.7x), decoded float32 images
# (70 MB of 64x64 RGB: 3.9x); the same factor is used for decoded video clips.
ARRAY_FACTOR = 4
MIN_FREE_DISK = 32 * 2**20  # a results store needs at least this much free disk to take rows
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30, "t": 2**40,
          "tb": 2**40}


def human(n: float) -> str:
    """Bytes for people: ``human(3 * 2**30)`` is '3.0 GB'."""
    if n < 1024:
        return f"{n:,.0f} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024:
            return f"{n:,.1f} {unit}"
    return f"{n / 1024:,.1f} TB"


def parse_bytes(text: str) -> int:
    """``'2G'``, ``'512 MB'`` or ``'1000000'`` as a number of bytes.

    >>> parse_bytes("1.5k"), parse_bytes("2 GB")
    (1536, 2147483648)
    """
    s = str(text).strip().lower().replace(" ", "")
    number = s.rstrip("kmgtb")
    try:
        value, unit = float(number), _UNITS[s[len(number):]]
    except (ValueError, KeyError):
        raise BlobError(f"{MEMORY_LIMIT_ENV}={text!r} is not an amount of memory; write e.g. 2G or 512M.") from None
    return int(value * unit)


def available_memory() -> int | None:
    """Bytes of memory available to this process now (psutil, else /proc/meminfo, capped by the cgroup limit and
    by BLOBBOTRONIC_MEMORY_LIMIT); None when it cannot be told."""
    found: list[int] = []
    try:
        import psutil

        found.append(int(psutil.virtual_memory().available))
    except ImportError:
        found += _meminfo_available()
    found += _cgroup_room()
    if os.environ.get(MEMORY_LIMIT_ENV):
        found.append(parse_bytes(os.environ[MEMORY_LIMIT_ENV]))
    return min(found) if found else None


def _meminfo_available() -> list[int]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return [int(line.split()[1]) * 1024]
    except (OSError, ValueError, IndexError):
        pass
    return []


def _cgroup_room() -> list[int]:
    """Room left under a container's memory limit (cgroup v2 or v1), when there is a limit."""
    v1 = "/sys/fs/cgroup/memory/memory."
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         (v1 + "limit_in_bytes", v1 + "usage_in_bytes")):
        try:
            cap, used = Path(limit).read_text().strip(), Path(usage).read_text().strip()
        except OSError:
            continue
        if cap.isdigit() and used.isdigit() and int(cap) < 2**60:
            return [max(0, int(cap) - int(used))]
    return []


def check_memory(estimate: float, what: str, path: Any, hint: str = "") -> None:
    """Refuse (BlobError) when ``estimate`` bytes for ``what`` exceed the usable share of available memory."""
    room = available_memory()
    if room is None or estimate <= USABLE_SHARE * room:
        return
    raise BlobError(
        f"{path}: refused before loading: {what} would need about {human(estimate)} of memory, but only "
        f"{human(room)} is available (at most {USABLE_SHARE:.0%} of it may be used). "
        + (hint or "Use a smaller file or a machine with more memory.")
    )


def check_file_memory(path: Path, kind: str) -> None:
    """The estimate for reading a text file of ``kind`` (a key of FILE_FACTORS): its size times the factor."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        return  # the reader says why the file cannot be read
    factor = FILE_FACTORS[kind]
    check_memory(size * factor, f"reading this {human(size)} file (about {factor}x its size while parsing)", path,
                  "Split it into smaller files, or sample its rows, or use a machine with more memory.")


def check_decoded_memory(n: int, shape: tuple[int, ...], path: Any, what: str, hint: str = "") -> None:
    """The estimate for ``n`` decoded float32 samples of ``shape`` (images, clips) held in memory at once."""
    size = 4 * n
    for s in shape:
        size *= int(s)
    check_memory(ARRAY_FACTOR * size, f"{n:,} decoded {what} of shape {tuple(shape)}", path, hint)


def check_npz_memory(archive: Any, path: Any) -> None:
    """The estimate for loading every array of an open .npz archive, from the shapes its headers declare."""
    declared = npz_declared_bytes(archive)
    check_memory(ARRAY_FACTOR * declared, f"its arrays (declared {human(declared)}, about {ARRAY_FACTOR}x that while "
                 "loading)", path, "Use a smaller file, or a machine with more memory.")


def check_npy_memory(f: BinaryIO, path: Any) -> None:
    """The estimate for loading the .npy array an open file starts with (no-op for other files); rewinds."""
    start = f.tell()
    try:
        shape, dtype = npy_header(f)
    except (ValueError, struct.error):
        return  # not a .npy array: numpy says what it is
    finally:
        f.seek(start)
    n = dtype.itemsize
    for s in shape:
        n *= s
    check_memory(ARRAY_FACTOR * n, f"an array of shape {shape} ({human(n)})", path,
                 "Use a smaller file, or a machine with more memory.")


# ---- array headers, read without reading the arrays ------------------------------------------------


def npy_header(f: BinaryIO) -> tuple[tuple[int, ...], Any]:
    """(shape, dtype) from a .npy stream's header, leaving the data unread; ValueError when it is no .npy."""
    import numpy as np

    magic = f.read(8)
    if len(magic) < 8 or not magic.startswith(b"\x93NUMPY"):
        raise ValueError("not a .npy array")
    size = struct.unpack("<H" if magic[6] == 1 else "<I", f.read(2 if magic[6] == 1 else 4))[0]
    header = f.read(size)
    try:
        d = ast.literal_eval(header.decode("latin-1"))
        shape, dtype = tuple(int(s) for s in d["shape"]), np.dtype(d["descr"])
    except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError):
        raise ValueError("unreadable .npy header") from None
    if any(s < 0 for s in shape):
        raise ValueError("negative dimension in the .npy header")
    return shape, dtype


def npz_declared_bytes(archive: Any) -> int:
    """The bytes that the arrays of an open ``numpy.load`` .npz archive declare in their headers (0 if unknown)."""
    total = 0
    for name in getattr(archive, "files", []):
        member = name if name in archive.zip.namelist() else f"{name}.npy"
        try:
            with archive.zip.open(member) as f:
                shape, dtype = npy_header(f)
        except (ValueError, KeyError, OSError, struct.error, EOFError, zipfile.BadZipFile, RuntimeError):
            continue  # numpy says what is wrong with the member when it is read
        n = 1
        for s in shape:
            n *= s
        total += n * max(1, dtype.itemsize)
    return total


# ---- where results are written --------------------------------------------------------------------


def check_writable(path: str | Path, what: str = "results store", flag: str = "--store", folder: bool = False) -> None:
    """Refuse a store (a file to be created or appended to; with ``folder``, a folder to write files into) in a
    place that cannot be written or whose disk is full, before any work is done for it."""
    path = Path(path).expanduser()
    folder, is_folder = (path if folder else path.parent), folder
    advice = f"Choose a writable location with {flag}"
    if path.exists() and path.is_dir() != is_folder:
        raise BlobError(f"{path}: the {what} must be a {'folder' if is_folder else 'file'}, and this is not one. "
                        f"{advice}.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".blobbotronic-write-test-")
        try:
            os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
            os.unlink(probe)
        if path.is_file():
            with open(path, "r+b"):
                pass
    except OSError as e:
        where = e.filename if isinstance(e.filename, str) and not Path(e.filename).name.startswith(".blob") else folder
        raise BlobError(f"{path}: the {what} cannot be written ({e.strerror or e}: {where}); nothing has been "
                        f"run. {advice}.") from None
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_DISK:
        raise BlobError(f"{path}: the disk holding the {what} is full ({human(free)} free, at least "
                        f"{human(MIN_FREE_DISK)} needed); nothing has been run. Free disk space, or choose a location "
                        f"on another disk with {flag}.")
