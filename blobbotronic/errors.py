"""The one exception users see: a problem they can fix, said in one paragraph."""

from __future__ import annotations


class BlobError(Exception):
    """A user-facing error: what was wrong, where (file, line, column) and what would be valid.

    The command line prints the message and exits non-zero without a traceback; the Python API
    lets it propagate like any exception.
    """

    exit_code = 2


class IncompatiblePair(BlobError):
    """A model that cannot read a data set's inputs or do its task (``models.create`` raises it).

    A comparison grid skips such a (data set, model) pair and says why; anywhere else it is an ordinary
    BlobError. Tell it by its type, never by its message.
    """


def where(path: object = None, line: int | None = None, column: int | str | None = None) -> str:
    """Format a location such as ``data.csv, line 4, column 'age'`` for error messages."""
    parts = []
    if path is not None:
        parts.append(str(path))
    if line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column {column!r}" if isinstance(column, str) else f"column {column}")
    return ", ".join(parts)
