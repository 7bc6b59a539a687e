"""`studyhall-db`, the command line (see `commands`)."""

from studyhall.cli.commands import main

__all__ = ["main"]
