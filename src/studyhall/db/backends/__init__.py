"""What differs between SQLite, MySQL/MariaDB and PostgreSQL, behind one small API.

`build_engine` makes an engine with studyhall's options for the settings' backend
(bounded waits, strict modes, the conditional reset, fork safety, error translation);
`ensure_database` and `drop_database` create and remove the database itself. The details
of each backend are in `sqlite`, `mysql` and `postgresql`; `pooling` has what every
pooled connection gets.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from studyhall.config import DatabaseSettings, validate_identifier
from studyhall.db.backends import mysql, mysqlclient, pooling, postgresql, sqlite
from studyhall.db.backends.pooling import needs_reset
from studyhall.db.backends.sqlite import IMMEDIATE_BEGIN
from studyhall.db.error_translation import install_error_translation
from studyhall.db.pool import StudyhallQueuePool
from studyhall.db.slow_statements import install as install_slow_statement_log
from studyhall.db.tracing import track_engine

# Every wait of a health check's own connection (connect, read, write), in seconds.
PROBE_TIMEOUT = 1.5


def engine_options(settings: DatabaseSettings) -> dict[str, Any]:
    """Keyword arguments for `create_engine` on the settings' backend."""
    options: dict[str, Any] = {
        # `pooling` pings a reused connection only when it has been idle for longer
        # than DB_PING_BYPASS_MS: SQLAlchemy's pre-ping would ping every reuse.
        "pool_pre_ping": False,
        "pool_recycle": 300,
        # Bound values stay out of logs and error messages.
        "hide_parameters": True,
        # The reset is done by `pooling`, only when it is needed.
        "pool_reset_on_return": None,
    }
    pooled = {
        "pool_size": settings.pool_size,
        "poolclass": StudyhallQueuePool,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
    }
    if settings.backend == "sqlite":
        options["connect_args"] = sqlite.connect_args()
        if sqlite.is_file(settings):
            options.update(pooled)
        return options
    options.update(pooled)
    if settings.is_mysql:
        options["connect_args"] = mysql.connect_args(settings)
        if settings.url.get_driver_name() == "mysqldb":
            options["connect_args"] = mysqlclient.connect_args(options["connect_args"], settings)
    elif settings.backend == "postgresql":
        options["connect_args"] = postgresql.connect_args(settings)
    # Secret driver arguments studyhall keeps out of the URL (e.g. libpq's sslpassword).
    options["connect_args"].update(settings.connect_secrets)
    return options


def build_engine(
    settings: DatabaseSettings, url: URL | None = None, *, pooled: bool = True, **overrides: Any
) -> Engine:
    """Create the engine for `settings` (or another database on its server, `url`)."""
    options = {**engine_options(settings), **overrides}
    if not pooled:
        for name in ("pool_size", "max_overflow", "pool_timeout"):
            options.pop(name, None)
        options["poolclass"] = NullPool
    engine = create_engine(url or settings.url, **options)
    if settings.backend == "sqlite":
        sqlite.install(engine)
    elif settings.is_mysql:
        mysql.install(engine)
        mysqlclient.install(engine)
    pooling.install(engine, settings.ping_bypass_ms)
    install_error_translation(engine, settings)
    install_slow_statement_log(engine, settings)
    track_engine(engine)  # statement spans while tracing is on
    return engine


def build_probe_engine(settings: DatabaseSettings, timeout: float = PROBE_TIMEOUT) -> Engine:
    """A pool-less engine whose every wait is about `timeout` seconds: for health checks.

    It never waits for the pool, nor on a pooled connection stuck on a hung server.
    """
    probe = dataclasses.replace(
        settings,
        connect_timeout=max(2, math.ceil(timeout)),  # libpq takes whole seconds, at least 2
        read_timeout=timeout,
        write_timeout=timeout,
        statement_timeout=timeout,
    )
    return build_engine(probe, pooled=False, pool_pre_ping=False)


def server_url(settings: DatabaseSettings) -> URL:
    """The URL of the server's maintenance database, for creating ours."""
    url = settings.url
    maintenance = postgresql.MAINTENANCE_DATABASE if settings.backend == "postgresql" else None
    # URL.set(database=None) would keep the old name: build the URL anew.
    return URL.create(
        url.drivername, url.username, url.password, url.host, url.port, maintenance, url.query
    )


def ensure_database(settings: DatabaseSettings) -> bool:
    """Create the configured database when it is missing; return True if it was created.

    Safe when several processes race: the loser of a race sees the database exists.
    """
    if settings.backend == "sqlite":
        return sqlite.create_file(settings)
    name = validate_identifier(settings.database or "")
    backend = mysql if settings.is_mysql else postgresql
    engine = build_engine(settings, server_url(settings), pooled=False)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if _database_exists(conn, backend.DATABASE_EXISTS, name):
                return False
            try:
                conn.exec_driver_sql(backend.create_database_sql(name))
            except DBAPIError:
                # Another process created it between our check and our CREATE.
                if _database_exists(conn, backend.DATABASE_EXISTS, name):
                    return False
                raise
            return True
    finally:
        engine.dispose()


def _database_exists(conn: Connection, query: str, name: str) -> bool:
    return conn.execute(text(query), {"name": name}).first() is not None


def drop_database(settings: DatabaseSettings) -> None:
    """Drop the configured database (server backends) or delete the SQLite file."""
    if settings.backend == "sqlite":
        sqlite.delete_file(settings)
        return
    name = validate_identifier(settings.database or "")
    backend = mysql if settings.is_mysql else postgresql
    engine = build_engine(settings, server_url(settings), pooled=False)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(backend.drop_database_sql(name))
    finally:
        engine.dispose()


def refresh_statistics(engine: Engine, table_names: list[str]) -> None:
    """Have the server's planner count the rows of `table_names` now (after a bulk load).

    Until its statistics catch up (InnoDB recalculates in the background, PostgreSQL's
    autovacuum a minute or so later) the planner takes freshly loaded tables for empty and
    may join them in the worst order. MySQL / MariaDB: ANALYZE TABLE; PostgreSQL: ANALYZE.
    SQLite is left alone: its planner prefers an index for an equality without
    statistics, and a sqlite_stat1 table would change every plan of the embedded default.
    Runs outside any transaction (ANALYZE TABLE commits implicitly).
    """
    if engine.dialect.name == "sqlite" or not table_names:
        return
    quote = engine.dialect.identifier_preparer.quote
    names = ", ".join(quote(validate_identifier(name)) for name in table_names)
    command = "ANALYZE TABLE" if engine.dialect.name in ("mysql", "mariadb") else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        result = conn.exec_driver_sql(f"{command} {names}")
        if result.returns_rows:
            result.fetchall()  # ANALYZE TABLE answers with a status row per table


def server_version(connection: Connection) -> str:
    """A one-line description of the server, e.g. `mariadb 10.11.19`."""
    info = connection.dialect.server_version_info or ()
    return f"{connection.dialect.name} {'.'.join(str(part) for part in info)}".strip()


__all__ = [
    "IMMEDIATE_BEGIN",
    "PROBE_TIMEOUT",
    "build_engine",
    "build_probe_engine",
    "drop_database",
    "engine_options",
    "ensure_database",
    "needs_reset",
    "refresh_statistics",
    "server_url",
    "server_version",
]
