"""The handlers studyhall ships; `studyhall-db worker` and the in-process worker load them.

A module that adds a kind registers its handler on import (`@handler("kind")`) and is
listed in `MODULES`, which `load_builtin_handlers()` imports.
"""

from __future__ import annotations

import importlib

from studyhall.jobs.registry import RunningJob, handler

# Modules whose import registers handlers (e.g. the Teacher's replies, evaluations).
MODULES: tuple[str, ...] = (
    "studyhall.jobs.teacher",
    "studyhall.jobs.evaluator",
    "studyhall.jobs.sessions",
)


@handler("noop")
def noop(job: RunningJob) -> None:
    """Does nothing: for checking that workers run, and for measuring the queue itself."""


def load_builtin_handlers() -> None:
    """Import every module of `MODULES`, registering their handlers."""
    for module in MODULES:
        importlib.import_module(module)


__all__ = ["MODULES", "load_builtin_handlers", "noop"]
