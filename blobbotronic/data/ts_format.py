"""The UCR/UEA .ts file format: a reader with line-numbered errors, and a writer whose files it reads back exactly.

A ``.ts`` file is a header of ``@tag value`` lines, then ``@data`` and one series a line: the dimensions
separated by ``:``, values by ``,``, the class label (or regression target) last; ``?`` marks a missing
value. With ``@timeStamps true`` each value is written ``(timestamp,value)``; the values are kept in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BlobError, where
from .reading import read_text

TAGS = ("problemname", "timestamps", "missing", "univariate", "dimensions", "equallength", "serieslength",
        "classlabel", "targetlabel", "data")
_TUPLE = re.compile(r"\(([^(),]*),([^(),]*)\)")


@dataclass
class TsData:
    """What a .ts file holds: one (length, channels) array per series (NaN where a value is missing)."""

    path: Path
    series: list[np.ndarray]
    labels: list[str]  # one per series: a class name, or a regression target as text; "" when unlabelled
    classes: tuple[str, ...]  # as declared by @classLabel, in the file's order
    regression: bool  # @targetLabel true: the label is a number to predict
    lines: list[int]  # the line each series was read from, for later messages
    header: dict[str, str] = field(default_factory=dict)


# ---- reading ------------------------------------------------------------------------------------


def read_series_text(path: Path, valid: str) -> str:
    """A series file's text (a BOM dropped), refused in one paragraph when too large, unreadable or not UTF-8;
    ``valid`` says what the file should be."""
    return read_text(path, "ts", valid, brief=True)


def read_ts(path: str | Path) -> TsData:
    """Parse a .ts file; any departure from the format is a BlobError naming the file and the line."""
    path = Path(path)
    text = read_series_text(path, "a .ts file is UTF-8 text")
    header: dict[str, str] = {}
    fmt: dict[str, Any] | None = None
    data = TsData(path, [], [], (), False, [])
    for number, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s[0] in "#%":
            continue
        if fmt is None:
            fmt = _header_line(path, number, s, header)
            if fmt is not None:
                data.classes, data.regression, data.header = fmt["classes"], fmt["regression"], header
            continue
        values, label = _data_line(path, number, s, fmt)
        data.series.append(values)
        data.labels.append(label)
        data.lines.append(number)
    if fmt is None:
        raise BlobError(f"{path}: no @data line; a .ts file needs a header (e.g. @problemName, @classLabel) "
                        "ending with @data, then one series a line.")
    if not data.series:
        raise BlobError(f"{path}: no series after @data; expected one series a line.")
    return data


def _bool(path: Path, number: int, tag: str, value: str) -> bool:
    word = value.split()[0].lower() if value.split() else ""
    if word not in ("true", "false"):
        raise BlobError(f"{where(path, number)}: @{tag} must be true or false, not {value!r}.")
    return word == "true"


def _int(path: Path, number: int, tag: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:  # not '²', which isdigit() but int() refuses
        raise BlobError(f"{where(path, number)}: @{tag} must be a positive whole number, not {value!r}.")
    return int(value)


def _header_line(path: Path, number: int, s: str, header: dict[str, str]) -> dict[str, Any] | None:
    """Record one header line; at @data, check the header and return the format it declares."""
    if not s.startswith("@"):
        raise BlobError(f"{where(path, number)}: expected a header tag such as @problemName, or @data, before the "
                        f"series; found {s[:40]!r}.")
    tag, value = (s[1:].split(None, 1) + ["", ""])[:2]  # a lone '@' is an unknown (empty) tag
    tag, value = tag.lower(), value.strip()
    if tag not in TAGS:
        raise BlobError(f"{where(path, number)}: unknown header tag @{tag}; valid tags: "
                        "@problemName, @timeStamps, @missing, @univariate, @dimensions, @equalLength, @seriesLength, "
                        "@classLabel, @targetLabel, @data.")
    if tag != "data":
        header[tag] = value
        header[f"{tag}:line"] = str(number)
        return None
    at = lambda t: int(header.get(f"{t}:line", number))  # noqa: E731
    fmt: dict[str, Any] = {"classes": (), "labelled": False, "regression": False, "dims": None, "length": None}
    fmt["timestamps"] = "timestamps" in header and _bool(path, at("timestamps"), "timeStamps", header["timestamps"])
    if "classlabel" in header:
        words = header["classlabel"].split()
        if _bool(path, at("classlabel"), "classLabel", header["classlabel"]):
            if len(words) < 2:
                raise BlobError(f"{where(path, at('classlabel'))}: @classLabel true must list the class labels, "
                                "e.g. '@classLabel true 1 2 3'.")
            if len(set(words[1:])) != len(words) - 1:
                raise BlobError(f"{where(path, at('classlabel'))}: @classLabel lists a label twice.")
            fmt["classes"], fmt["labelled"] = tuple(words[1:]), True
    if "targetlabel" in header and _bool(path, at("targetlabel"), "targetLabel", header["targetlabel"]):
        if fmt["labelled"]:
            raise BlobError(f"{where(path, at('targetlabel'))}: a file has either @classLabel true or "
                            "@targetLabel true, not both.")
        fmt["labelled"] = fmt["regression"] = True
    univariate = "univariate" in header and _bool(path, at("univariate"), "univariate", header["univariate"])
    if "dimensions" in header:
        fmt["dims"] = _int(path, at("dimensions"), "dimensions", header["dimensions"])
        if univariate and fmt["dims"] != 1:
            raise BlobError(f"{where(path, at('dimensions'))}: @dimensions {fmt['dims']} contradicts @univariate true.")
    elif univariate:
        fmt["dims"] = 1
    equal = "equallength" in header and _bool(path, at("equallength"), "equalLength", header["equallength"])
    if "serieslength" in header:
        fmt["length"] = _int(path, at("serieslength"), "seriesLength", header["serieslength"])
    fmt["equal"] = equal
    return fmt


def _split_dimensions(s: str, timestamps: bool) -> list[str]:
    """Split a data line on ':' (outside the (time,value) brackets of timestamped files)."""
    if not timestamps:
        return s.split(":")
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        depth += ch == "("
        depth -= ch == ")"
        if ch == ":" and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    return parts + [s[start:]]


def _numbers(path: Path, number: int, dim: int, tokens: list[str]) -> np.ndarray:
    """Floats from text tokens; '?' (or NaN) is a missing value, anything else must be a finite number."""
    try:
        a = np.array([t.strip() for t in tokens], dtype=np.float64) if "?" not in tokens else None
    except ValueError:
        a = None
    if a is None:
        a = np.empty(len(tokens))
        for i, t in enumerate(tokens):
            t = t.strip()
            try:
                a[i] = np.nan if t == "?" else float(t)
            except ValueError:
                what = "an empty value" if not t else f"{t[:20]!r}"
                raise BlobError(f"{where(path, number)}: dimension {dim}, value {i + 1} is {what}, not a number "
                                "(write '?' for a missing value).") from None
    if np.isinf(a).any():
        i = int(np.flatnonzero(np.isinf(a))[0])
        raise BlobError(f"{where(path, number)}: dimension {dim}, value {i + 1} is infinite; values must be finite "
                        "numbers (or '?' when missing).")
    return a


def _data_line(path: Path, number: int, s: str, fmt: dict[str, Any]) -> tuple[np.ndarray, str]:
    fields = _split_dimensions(s, fmt["timestamps"])
    label = ""
    if fmt["labelled"]:
        if len(fields) < 2:
            raise BlobError(f"{where(path, number)}: expected the series' values, then ':' and its "
                            f"{'target value' if fmt['regression'] else 'class label'}; found no ':'.")
        *fields, label = fields
        label = label.strip()
        if fmt["regression"]:
            try:
                if not np.isfinite(float(label)):
                    raise ValueError
            except ValueError:
                raise BlobError(f"{where(path, number)}: the target value {label[:20]!r} is not a finite number "
                                "(@targetLabel true).") from None
        elif label not in fmt["classes"]:
            raise BlobError(f"{where(path, number)}: class label {label[:20]!r} is not one declared by @classLabel "
                            f"({', '.join(fmt['classes'])}).")
    if fmt["dims"] is None:
        fmt["dims"] = len(fields)  # undeclared: every line must match the first
    if len(fields) != fmt["dims"]:
        raise BlobError(f"{where(path, number)}: found {len(fields)} dimensions separated by ':', expected "
                        f"{fmt['dims']}" + (" and a label last" if fmt["labelled"] else "") + ".")
    columns = []
    for d, text in enumerate(fields, 1):
        if fmt["timestamps"]:
            pairs = _TUPLE.findall(text)
            if not pairs or _TUPLE.sub("", text).replace(",", "").strip():
                raise BlobError(f"{where(path, number)}: dimension {d} is not a list of (timestamp,value) pairs "
                                "(@timeStamps true).")
            tokens = [v for _, v in pairs]
        else:
            tokens = text.split(",")
        columns.append(_numbers(path, number, d, tokens))
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise BlobError(f"{where(path, number)}: the dimensions have different lengths "
                        f"({', '.join(str(len(c)) for c in columns)}); each dimension of a series needs as many "
                        "values.")
    n = lengths.pop()
    if fmt["length"] is not None and fmt["equal"] and n != fmt["length"]:
        raise BlobError(f"{where(path, number)}: found {n} values, expected {fmt['length']} (@seriesLength).")
    if fmt["equal"]:
        fmt["length"] = fmt["length"] or n
    return np.stack(columns, 1), label  # (L, C)


# ---- writing ------------------------------------------------------------------------------------


def write_ts(path: str | Path, series: list[np.ndarray], labels: list[str] | None = None, *,
             problem: str = "data", classes: list[str] | None = None) -> Path:
    """Write (length, channels) arrays as a .ts file, NaN as '?'; read_ts reads back the same values."""
    series = [np.asarray(s, dtype=np.float64).reshape(len(s), -1) for s in series]
    if labels is not None:
        classes = list(classes or dict.fromkeys(labels))
        bad = [c for c in classes if not c or re.search(r"[\s:,]", c)]
        if bad:
            raise BlobError(f"Class label {bad[0]!r} cannot be written to a .ts file (no spaces, ':' or ',').")
    dims = {s.shape[1] for s in series}
    if len(dims) != 1 or any(np.isinf(s).any() for s in series):
        raise BlobError("write_ts needs series with the same number of channels and no infinite values.")
    lengths = {len(s) for s in series}
    head = [f"@problemName {problem}", "@timeStamps false",
            f"@missing {str(any(np.isnan(s).any() for s in series)).lower()}",
            f"@univariate {str(dims == {1}).lower()}", f"@dimensions {dims.pop()}",
            f"@equalLength {str(len(lengths) == 1).lower()}"]
    if len(lengths) == 1:
        head.append(f"@seriesLength {lengths.pop()}")
    head.append("@classLabel " + (f"true {' '.join(classes)}" if labels is not None else "false"))
    rows = []
    for i, s in enumerate(series):
        dims_text = [",".join("?" if v != v else repr(v) for v in col) for col in s.T.tolist()]
        rows.append(":".join(dims_text + ([str(labels[i])] if labels is not None else [])))
    path = Path(path)
    path.write_text("\n".join(head + ["@data"] + rows) + "\n", encoding="utf-8")
    return path
