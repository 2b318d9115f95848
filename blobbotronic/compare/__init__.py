"""Compare: run a grid of data sets x models x seeds under one budget, store rows, compute statistics.

``bb.compare(...)`` must call the API function even after this package is imported: importing a subpackage
binds its module to the parent's attribute of the same name (``blobbotronic.compare``), which would replace
the function. So this module is callable, and a call is ``blobbotronic.api.compare``'s.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class CallablePackage(types.ModuleType):
    """The type of this package: its module, callable as ``blobbotronic.api.compare``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from ..api import compare

        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = CallablePackage
