"""Logging set-up: one `get_logger(name)` with its level taken from `LOG_LEVEL`."""

from __future__ import annotations

import logging
import os

_ROOT = "studyhall"
_configured = False


def _configure_root() -> None:
    global _configured
    if _configured:
        return
    root = logging.getLogger(_ROOT)
    level_name = os.environ.get("LOG_LEVEL", "INFO").upper()
    level = logging.getLevelName(level_name)
    root.setLevel(level if isinstance(level, int) else logging.INFO)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    _configured = True


def get_logger(name: str) -> logging.Logger:
    """Return the logger `name`, placed under the `studyhall` logger."""
    _configure_root()
    if name != _ROOT and not name.startswith(_ROOT + "."):
        name = f"{_ROOT}.{name}"
    return logging.getLogger(name)


__all__ = [
    "get_logger",
]
