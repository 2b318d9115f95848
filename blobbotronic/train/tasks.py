"""Tasks: each one's loss, metrics and headline metric, registered by the Spec's task name.

A new task (forecast, tag, translate) is one registered class in a module of its own that imports
train/task_base.py, plus its name in the import below; the loop never branches on it.
"""

from __future__ import annotations

from ..data.spec import Spec
from .task_base import TASK_KINDS, Classify, Regress, Task, confusion  # noqa: F401  (re-exported)


def task_for(spec: Spec) -> Task:
    return TASK_KINDS.get(spec.task)(spec)


from . import task_forecast, task_tag, task_translate  # noqa: E402,F401  (more tasks register on import)
