"""Errors raised by the model helpers, under the studyhall root `StudyhallError`."""

from __future__ import annotations

from studyhall.database.errors import StudyhallError


class ModelError(StudyhallError):
    """Root of the errors raised by the model helpers."""


class InvalidFilterError(ModelError, ValueError):
    """Raised by `get_by`, `count` and `exists` for a field that is not a public column.

    Raised before any SQL is built, so a filter can never probe a hidden column.
    """
