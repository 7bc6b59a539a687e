"""PostgreSQL through psycopg 3: bounded waits on a dead peer, statement timeout, creation."""

from __future__ import annotations

from typing import Any

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


__all__ = [
    "DATABASE_EXISTS",
    "MAINTENANCE_DATABASE",
    "connect_args",
    "create_database_sql",
    "drop_database_sql",
    "timeouts",
]
