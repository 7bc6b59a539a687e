"""Refuse a NUL character in any form field or query argument, with a 400 page.

No field of ours has a use for one, and PostgreSQL refuses NUL in text outright: such a
value would otherwise reach the database and fail there, a 500 page for bad input.
"""

from __future__ import annotations

from itertools import chain

from flask import Flask, abort, request


def refuse_nul_characters() -> None:
    """Abort with 400 when a query argument or form field holds a NUL character."""
    fields = chain(request.args.items(multi=True), request.form.items(multi=True))
    if any("\x00" in value for _, value in fields):
        abort(
            400,
            description="The form or address holds a NUL character, which no field accepts. "
            "Remove it and try again.",
        )


def init_inputs(app: Flask) -> None:
    app.before_request(refuse_nul_characters)


__all__ = [
    "init_inputs",
    "refuse_nul_characters",
]
