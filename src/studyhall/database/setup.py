"""`DatabaseManager`: the process-wide entry point to the database.

Running this file (`python src/studyhall/database/setup.py`) does a full set-up: create
the database if missing, create the tables, load the sample data.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Callable
from typing import ClassVar

from sqlalchemy import Engine

from studyhall import migrations, sample_data
from studyhall.config import DatabaseSettings, is_production, load_settings
from studyhall.db import default, schema
from studyhall.db.aio import AsyncUnitOfWork
from studyhall.db.engine import Database
from studyhall.db.schema import DDL_LOCK_TIMEOUT
from studyhall.db.transaction import Propagation, UnitOfWork
from studyhall.errors import UnsafeOperationError
from studyhall.log import get_logger
from studyhall.models import Base
from studyhall.sample_data import Progress, SampleDataSummary

log = get_logger(__name__)

# Where Alembic records the revision (its default name; migrations/env.py keeps it).
ALEMBIC_VERSION_TABLE = "alembic_version"


def _ask_on_terminal(prompt: str) -> str | None:
    """Ask `prompt` on the terminal; None when standard input is not a terminal."""
    if not sys.stdin or not sys.stdin.isatty():
        return None
    return input(prompt)


def _refuse_in_production(action: str, allowed: bool) -> None:
    if is_production() and not allowed:
        raise UnsafeOperationError(
            f"Refusing to {action}: STUDYHALL_ENV is production. If that is really meant, "
            "pass allow_production=True; otherwise point DATABASE_URL at another database."
        )


class DatabaseManager:
    """The process's entry point to the database: the seed's API over `studyhall.db`.

    The engine and its pool are `studyhall.db.default`'s (shared with `@with_db_session`);
    this class adds what needs the models: tables, sample data. `initialize()` builds the
    engine once (thread-safe); `cleanup()` disposes of it so that the next `initialize()`
    starts afresh.
    """

    ask: ClassVar[Callable[[str], str | None]] = staticmethod(_ask_on_terminal)

    @classmethod
    def initialize(cls, settings: DatabaseSettings | None = None) -> Database:
        """Set up the database once; later calls return the same `Database`.

        The steps of the seed: `validate_environment()` (unless `settings` are given),
        `ensure_database_exists()` (the SQLite file's folder too), then the engine
        (`create_database_engine()` returns it). A server that cannot be reached yet is
        logged as a warning, not raised: an app may start before its database, and the
        first use then says what is wrong. Thread-safe. Passing settings that differ from
        those it was initialized with is an error: call `cleanup()` first.
        """
        return default.initialize(settings, resolve=cls.validate_environment)

    @classmethod
    def database(cls) -> Database:
        """The process's Database, initializing it on first use."""
        return default.current() or cls.initialize()

    @classmethod
    def is_initialized(cls) -> bool:
        """Whether the engine is built (`initialize()` ran and `cleanup()` did not since)."""
        return default.current() is not None

    @staticmethod
    def validate_environment() -> DatabaseSettings:
        """Return the settings resolved from the environment; raise ConfigurationError."""
        return load_settings()

    @classmethod
    def ensure_database_exists(cls, settings: DatabaseSettings | None = None) -> bool:
        """Create the configured database if it is missing; True when it was created.

        On SQLite: the file's folder and an empty file. `initialize()` calls it.
        """
        current = default.current()
        settings = settings or (current.settings if current else load_settings())
        return default.ensure_exists(settings)

    @classmethod
    def create_database_engine(cls) -> Engine:
        """Return the pooled engine, initializing the manager (as `initialize()`) when needed."""
        return cls.database().engine

    @classmethod
    def get_session(
        cls,
        propagation: Propagation = "required",
        *,
        read_only: bool = False,
        isolation_level: str | None = None,
    ) -> UnitOfWork:
        """Context manager yielding the current unit of work's session.

        Commits on success and rolls back on error when it owns the unit of work.
        """
        return cls.database().unit_of_work(
            propagation, read_only=read_only, isolation_level=isolation_level
        )

    @classmethod
    def get_async_session(
        cls,
        propagation: Propagation = "required",
        *,
        read_only: bool = False,
        isolation_level: str | None = None,
    ) -> AsyncUnitOfWork:
        """Async context manager yielding the current async unit of work's AsyncSession.

        The same options and semantics as `get_session`, keyed to the asyncio task:
        `async with DatabaseManager.get_async_session() as session: ...`.
        """
        return (
            cls.database()
            .async_database()
            .unit_of_work(propagation, read_only=read_only, isolation_level=isolation_level)
        )

    @classmethod
    async def dispose_async(cls) -> None:
        """Close the running event loop's async connections (an ASGI app's shutdown)."""
        database = default.current()
        if database is not None:
            await database.dispose_async()

    @classmethod
    def create_tables(cls, *, lock_timeout: float = DDL_LOCK_TIMEOUT) -> list[str]:
        """Create every missing table; return the names of those created. Idempotent.

        On a database with no studyhall table it also records the newest Alembic revision,
        so a later `studyhall-db migrate` has nothing to do. A database with tables but no
        recorded revision gets the missing tables and no record (`studyhall-db stamp`
        adopts it); one at an older revision gets nothing and MigrationError (migrate it).
        See `studyhall.migrations.create_tables`. Waits at most `lock_timeout` seconds for
        another transaction's lock, then raises ConflictError naming who holds it.
        """
        created = migrations.create_tables(cls.database().engine, lock_timeout=lock_timeout)
        log.info("Created %d table(s)", len(created))
        return created

    @classmethod
    def drop_tables(
        cls,
        force: bool = False,
        *,
        lock_timeout: float = DDL_LOCK_TIMEOUT,
        allow_production: bool = False,
    ) -> list[str]:
        """Drop every studyhall table and Alembic's revision record; return their names.

        Without `force`, the operator must type the database name on a terminal; with no
        terminal the call refuses and drops nothing. With STUDYHALL_ENV=production it
        refuses, `force` or not, unless `allow_production=True`. Waits at most
        `lock_timeout` seconds for another transaction's lock, then raises ConflictError
        naming who holds it; two drops at once both end cleanly.
        """
        database = cls.database()
        name = database.settings.database or ""
        _refuse_in_production(f"drop every table of {name!r}", allow_production)
        if not force:
            answer = cls.ask(f"This drops every table of {name!r}. Type its name to confirm: ")
            if answer is None:
                raise UnsafeOperationError(
                    f"Refusing to drop the tables of {name!r} without confirmation: there is "
                    "no terminal to ask on. Pass force=True (`--yes` on the command line)."
                )
            if answer.strip() != name:
                raise UnsafeOperationError(
                    f"Not dropped: {answer.strip()!r} is not the database name {name!r}."
                )
        # Alembic's record of the revision goes too: left behind, it would make a later
        # upgrade believe the schema is there and create nothing.
        dropped = schema.drop_tables(
            database.engine, Base.metadata, [ALEMBIC_VERSION_TABLE], lock_timeout=lock_timeout
        )
        log.info("Dropped %d table(s) of %s", len(dropped), name)
        return dropped

    @classmethod
    def populate_sample_data(
        cls,
        clear_existing: bool = False,
        scale: int = 1,
        progress: Progress | None = None,
        *,
        allow_production: bool = False,
    ) -> SampleDataSummary:
        """Load the deterministic sample data; see `studyhall.sample_data`.

        `clear_existing=True` deletes every row first: with STUDYHALL_ENV=production it
        refuses unless `allow_production=True`.
        """
        if clear_existing:
            name = cls.database().settings.database or ""
            _refuse_in_production(f"delete every row of {name!r}", allow_production)
        return sample_data.populate(
            cls.database(), clear_existing=clear_existing, scale=scale, progress=progress
        )

    @classmethod
    def cleanup(cls) -> None:
        """Dispose of the pool; the next `initialize()` builds a new engine."""
        default.dispose()


__all__ = ["DatabaseManager"]

if __name__ == "__main__":
    # Running this file is `studyhall-db setup`: the command line (a layer above this
    # module) does it and reports failures in one line. Run by name, not imported.
    sys.argv = [sys.argv[0], "setup", *sys.argv[1:]]
    runpy.run_module("studyhall.cli", run_name="__main__")
