"""Errors raised by the model helpers, under the studyhall root `StudyhallError`."""

from __future__ import annotations

from studyhall.errors import StudyhallError


class ModelError(StudyhallError):
    """Root of the errors raised by the model helpers."""


class InvalidFilterError(ModelError, ValueError):
    """Raised by `get_by`, `count`, `exists` and `get` for a field that is not a public
    column, or a value that is not plain data of the column's type (an SQL expression, a
    number for a string column, a string for an integer key, ...).

    Raised before any SQL is built, so a filter can never probe a hidden column nor match
    rows through the database's implicit casts.
    """


class InvalidCursorError(InvalidFilterError):
    """Raised by `keyset_page` for a cursor it did not make: malformed, altered, signed with
    another key, or made for another model or order. A client's error (HTTP 400 in the app):
    start again from the first page.
    """


__all__ = [
    "InvalidCursorError",
    "InvalidFilterError",
    "ModelError",
]
