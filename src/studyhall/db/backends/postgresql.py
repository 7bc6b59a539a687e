"""PostgreSQL through psycopg 3: bounded waits on a dead peer, statement timeout, creation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

from studyhall.config import DatabaseSettings

MAINTENANCE_DATABASE = "postgres"
DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = :name"


def connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    return {"connect_timeout": settings.connect_timeout, **timeouts(settings)}


def timeouts(settings: DatabaseSettings) -> dict[str, Any]:
    """libpq parameters bounding the waits on a dead peer, and the optional statement timeout.

    libpq has no read timeout: TCP keepalives notice a peer that stopped answering while
    we wait for a reply (probes after half the read timeout of silence, three of them
    within the other half), and `tcp_user_timeout` drops a connection whose sent data
    stays unacknowledged for the write timeout. Neither fires while the server's host is
    up (its kernel answers for a stalled server process); `statement_timeout` (server
    side) bounds a slow statement.
    """
    idle = max(1, int(settings.read_timeout // 2))
    interval = max(1, int((settings.read_timeout - idle) // 3))
    args: dict[str, Any] = {
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": 3,
        "tcp_user_timeout": int(settings.write_timeout * 1000),
    }
    if settings.statement_timeout:
        option = f"-c statement_timeout={int(settings.statement_timeout * 1000)}"
        given = settings.url.query.get("options")  # the URL's own options are kept
        given = " ".join(given) if isinstance(given, tuple) else given
        args["options"] = f"{given} {option}" if given else option
    return args


def create_database_sql(name: str) -> str:
    return f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"


def drop_database_sql(name: str) -> str:
    return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'


def copy_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert `rows` (values in the order of `columns`) with one `COPY ... FROM STDIN`.

    psycopg streams the rows in COPY's text format, which the server parses by each
    column's type: about twice the rows per second of an executemany. It runs on the
    connection's driver connection, in its transaction; a driver error comes out as
    Core's would (the engine's `handle_error` listeners see it, and a lost connection is
    invalidated). The statement events (`before_cursor_execute`) do not see a COPY.
    """
    quote = conn.dialect.identifier_preparer
    names = ", ".join(quote.quote(column) for column in columns)
    statement = f"COPY {quote.format_table(table)} ({names}) FROM STDIN"
    driver: Any = conn.connection.driver_connection
    cursor = driver.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as exc:
        # Core's own path for a driver error (the one its execute takes): translation by
        # the listeners, invalidation on a disconnect, the SQLAlchemy class raised.
        conn._handle_dbapi_exception(exc, statement, None, cursor, None)
    finally:
        cursor.close()


__all__ = [
    "DATABASE_EXISTS",
    "MAINTENANCE_DATABASE",
    "connect_args",
    "copy_rows",
    "create_database_sql",
    "drop_database_sql",
    "timeouts",
]
