"""One generic registry: models, datasets, explainers and claims register by name with tags."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import BlobError


@dataclass(frozen=True)
class Entry:
    """A registered object with its name and free-form tags (``accepts=("image", ...)``)."""

    name: str
    obj: Any
    tags: dict[str, Any] = field(default_factory=dict)


class Registry:
    """Name -> object, with tags for filtering and helpful errors for unknown names.

    >>> r = Registry("colour")
    >>> @r.register("red", warm=True)
    ... def red(): return "#f00"
    >>> r.get("red")()
    '#f00'
    >>> r.names(warm=True)
    ['red']
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, **tags: Any) -> Callable[[Any], Any]:
        def decorate(obj: Any) -> Any:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, obj, tags)
            return obj

        return decorate

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise BlobError(self.unknown_message(name)) from None

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def tags(self, name: str) -> dict[str, Any]:
        return self.entry(name).tags

    def names(self, **where: Any) -> list[str]:
        """Registered names, optionally only those whose tag equals (or, for tuples, contains) a value."""
        out = []
        for name, e in self._entries.items():
            ok = True
            for key, want in where.items():
                have = e.tags.get(key)
                ok &= (want in have) if isinstance(have, (tuple, list, set, frozenset)) else have == want
            if ok:
                out.append(name)
        return out

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), list(self._entries), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"Unknown {self.kind} {name!r}.{hint} Valid {self.kind}s: {', '.join(sorted(self._entries))}."

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
