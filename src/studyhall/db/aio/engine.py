"""The async engine: the sync engine's settings and studyhall options, on asyncio drivers.

MySQL / MariaDB run on asyncmy, PostgreSQL on psycopg 3's async mode, SQLite on aiosqlite.
psycopg rather than asyncpg: one driver for both flavours, so the connect arguments
(libpq's keepalives, `tcp_user_timeout`, `options`), the SQLSTATE-based error
translation and the exact reset on return are the sync engine's, unchanged.

The listeners of the sync engine are installed on the async engine's `sync_engine`: they
run inside SQLAlchemy's greenlet, where the adapted driver connection behaves as a sync
one. The pool is SQLAlchemy's `AsyncAdaptedQueuePool`: StudyhallQueuePool's "held by
this thread" rule means nothing when every task of the loop shares one thread.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util.concurrency import await_only, greenlet_spawn

from studyhall.config import DatabaseSettings
from studyhall.db.aio.completion import make_to_completion
from studyhall.db.backends import asyncmy, engine_options, mysql, pooling, sqlite
from studyhall.db.error_translation import install_error_translation
from studyhall.db.slow_statements import install as install_slow_statement_log
from studyhall.db.tracing import track_engine

ASYNC_DRIVERS = {
    "mysql": "asyncmy",
    "mariadb": "asyncmy",
    "postgresql": "psycopg",
    "sqlite": "aiosqlite",
}

# Connect arguments the async drivers do not take: asyncmy has no write timeout (a
# write that does not complete fails at the read timeout of its reply), and its own
# `sql_mode` argument sends a malformed SET (the mode is set by `init_command` instead).
_NOT_TAKEN = {"asyncmy": ("write_timeout", "sql_mode")}


def async_url(settings: DatabaseSettings) -> URL:
    """The settings' URL with the async driver of its backend."""
    url = settings.url
    return url.set(drivername=f"{url.get_backend_name()}+{ASYNC_DRIVERS[settings.backend]}")


def async_engine_options(settings: DatabaseSettings) -> dict[str, Any]:
    """Keyword arguments for `create_async_engine`: the sync engine's, adapted."""
    options = engine_options(settings)
    if "poolclass" in options:
        options["poolclass"] = AsyncAdaptedQueuePool
    connect_args = dict(options.get("connect_args", {}))
    driver = ASYNC_DRIVERS[settings.backend]
    for name in _NOT_TAKEN.get(driver, ()):
        connect_args.pop(name, None)
    if driver == "asyncmy":
        connect_args["init_command"] = f"SET sql_mode = '{mysql.SQL_MODE}'"
        connect_args = asyncmy.connect_args(connect_args)
    options["connect_args"] = connect_args
    return options


def _connect_whole(dialect: Any) -> None:
    """Make each new connection open completely even when its task is cancelled meanwhile,
    then close it (see `make_to_completion`). Replaces the dialect's `connect`, which
    SQLAlchemy calls after every `do_connect` listener has had its say."""
    connect = dialect.connect

    def connect_whole(*cargs: Any, **cparams: Any) -> Any:
        return await_only(
            make_to_completion(
                lambda: greenlet_spawn(connect, *cargs, **cparams),
                lambda connection: greenlet_spawn(connection.close),
            )
        )

    dialect.connect = connect_whole


def build_async_engine(settings: DatabaseSettings, **overrides: Any) -> AsyncEngine:
    """Create the async engine for `settings`, with the sync engine's listeners."""
    engine = create_async_engine(
        async_url(settings), **{**async_engine_options(settings), **overrides}
    )
    sync_engine = engine.sync_engine
    _connect_whole(sync_engine.dialect)
    if settings.backend == "sqlite":
        sqlite.install(sync_engine)
    pooling.install(sync_engine, settings.ping_bypass_ms)
    install_error_translation(sync_engine, settings)
    install_slow_statement_log(sync_engine, settings)
    track_engine(sync_engine)
    return engine


__all__ = ["ASYNC_DRIVERS", "async_engine_options", "async_url", "build_async_engine"]
