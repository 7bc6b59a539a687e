"""Turning a failed connection attempt into a `DatabaseUnavailableError` that says what to do."""

from __future__ import annotations

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from studyhall.database.config import DatabaseSettings
from studyhall.database.errors import DatabaseUnavailableError

# (fragment of the driver's message, lower case) -> advice
_ADVICE: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("access denied", "password authentication failed", "authentication failed"),
        "The server refused the login: check DB_USER and DB_PASSWORD (or the user and password "
        "in DATABASE_URL).",
    ),
    (
        ("unknown database", "does not exist"),
        "The database does not exist yet: run `studyhall-db init` to create it.",
    ),
    (
        ("timed out", "timeout"),
        "The server did not answer in time: check DB_HOST and DB_PORT, and that the server is "
        "not overloaded (DB_CONNECT_TIMEOUT sets the limit).",
    ),
    (
        (
            "connection refused",
            "can't connect",
            "could not connect",
            "name or service not known",
            "nodename nor servname",
            "no route to host",
        ),
        "Nothing accepts connections there: check that the server is running and that DB_HOST "
        "and DB_PORT are right.",
    ),
)


def unavailable_error(
    settings: DatabaseSettings, original: BaseException
) -> DatabaseUnavailableError:
    """Describe why connecting to the configured server failed, without any password."""
    detail = str(getattr(original, "orig", None) or original).strip().splitlines()
    reason = detail[0] if detail else type(original).__name__
    for secret in settings.secrets:
        reason = reason.replace(secret, "***")
    lowered = reason.lower()
    advice = next(
        (text for needles, text in _ADVICE if any(n in lowered for n in needles)),
        "Check the server and the DB_* settings (`studyhall-db check` shows them).",
    )
    url = settings.url
    where = (
        f"{url.get_backend_name()} server at {url.host}:{url.port}"
        if url.host
        else (f"{url.get_backend_name()} database {url.database}")
    )
    user = f" as {url.username}" if url.username else ""
    return DatabaseUnavailableError(f"Cannot connect to the {where}{user}: {reason}. {advice}")


def install_connect_error_translation(engine: Engine, settings: DatabaseSettings) -> None:
    """Raise DatabaseUnavailableError instead of the driver's error when connecting fails."""

    @event.listens_for(engine, "handle_error")
    def _translate(context: ExceptionContext) -> BaseException | None:
        if context.connection is None and not context.is_pre_ping:
            return unavailable_error(settings, context.original_exception)
        return None
