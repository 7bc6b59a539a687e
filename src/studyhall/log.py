"""Logging as a library does it: `get_logger(name)` under the `studyhall` logger.

The package itself adds only a `NullHandler`: where its lines go is the application's
choice. The edges that are applications, the command line and the web app, call
`configure_output()`, which shows studyhall's lines on stderr at `LOG_LEVEL` unless the
process has configured logging already (then nothing is added, so no line is printed
twice).
"""

from __future__ import annotations

import logging

ROOT = "studyhall"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

logging.getLogger(ROOT).addHandler(logging.NullHandler())


class _OutputHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_output` adds; marked so that it is added once."""


def get_logger(name: str) -> logging.Logger:
    """Return the logger `name`, placed under the `studyhall` logger."""
    if name != ROOT and not name.startswith(ROOT + "."):
        name = f"{ROOT}.{name}"
    return logging.getLogger(name)


def configure_output(level: int) -> None:
    """Show studyhall's lines at `level` and above on stderr, unless logging is set up.

    For applications (the command line, the web app), never for library code. When the
    root logger has a handler (the process configured logging: `basicConfig`, a
    framework, pytest), studyhall's lines already reach it and nothing is added.
    """
    logger = logging.getLogger(ROOT)
    logger.setLevel(level)
    if logging.getLogger().handlers:
        return
    if any(isinstance(handler, _OutputHandler) for handler in logger.handlers):
        return
    handler = _OutputHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)


__all__ = ["FORMAT", "ROOT", "configure_output", "get_logger"]
