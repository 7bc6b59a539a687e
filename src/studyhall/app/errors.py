"""Error pages: every failure becomes a short page (or JSON for /healthz), never a traceback."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    ServiceUnavailable,
)

from studyhall.errors import DatabaseUnavailableError, PoolExhaustedError
from studyhall.log import get_logger
from studyhall.models import InvalidCursorError

log = get_logger(__name__)

# "Try again later" (503) only where waiting helps: the database cannot be reached, or
# every pooled connection stayed busy for the pool timeout (a load peak). A conflict, a
# rejected statement or refused access is a fault to fix, so a logged 500; so is
# PoolExhaustedError, which says the pool is too small for the threads that nest units
# of work (it is raised at once, not after a wait, and more load would not cure it).
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    DatabaseUnavailableError,
    sa_exc.TimeoutError,
)
NOT_OUTAGES: tuple[type[Exception], ...] = (PoolExhaustedError,)
RETRY_AFTER_SECONDS = 30

TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
MESSAGES = {
    403: "Your account cannot open this page.",
    404: "There is nothing here. Check the address, or go back to your home page.",
    500: "The page could not be shown because of an error on our side. It has been logged; "
    "please try again later.",
    503: "The database cannot be reached right now. Please try again in a minute.",
}


def render_error(error: HTTPException) -> tuple[str, int, dict[str, str]]:
    """The error page of `error`, with its status code."""
    code = error.code or 500
    headers: dict[str, str] = {}
    if code == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # werkzeug's default descriptions are generic; ours say what to do.
    default = type(error).description
    message = MESSAGES.get(code) if error.description == default else error.description
    page = render_template(
        "error.html",
        code=code,
        title=TITLES.get(code, error.name),
        message=message or error.description,
    )
    return page, code, headers


def handle_outage(error: Exception) -> Any:
    log.error("Database unavailable during %s %s: %s", request.method, request.path, error)
    return render_error(ServiceUnavailable())


def handle_bad_cursor(error: Exception) -> Any:
    # A page link edited by hand, or one signed by another key (a rotated SECRET_KEY).
    log.info("Refused a page cursor during %s %s: %s", request.method, request.path, error)
    return render_error(BadRequest())


def handle_unexpected(error: Exception) -> Any:
    if isinstance(error, HTTPException):
        return render_error(error)
    log.exception("Unhandled error during %s %s", request.method, request.path)
    return render_error(InternalServerError())


def init_errors(app: Flask) -> None:
    """Register the handlers: outages are 503, anything unexpected a logged 500."""
    for outage in OUTAGE_ERRORS:
        app.register_error_handler(outage, handle_outage)
    # Registered explicitly so that no subclass relation (PoolExhaustedError may also be a
    # pool TimeoutError) turns it into an outage.
    for fault in NOT_OUTAGES:
        app.register_error_handler(fault, handle_unexpected)
    app.register_error_handler(InvalidCursorError, handle_bad_cursor)
    app.register_error_handler(Exception, handle_unexpected)


__all__ = [
    "MESSAGES",
    "NOT_OUTAGES",
    "OUTAGE_ERRORS",
    "RETRY_AFTER_SECONDS",
    "TITLES",
    "handle_bad_cursor",
    "handle_outage",
    "handle_unexpected",
    "init_errors",
    "render_error",
]
